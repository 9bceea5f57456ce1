// Package jwkstest is the conformance suite for jwks.Store. Every backend
// runs it from its own tests:
//
//	func TestKeyConformance(t *testing.T) {
//		jwkstest.Run(t, func(t *testing.T) jwks.Store { return newStore(t) })
//	}
//
// A backend is done when the suite passes unchanged.
package jwkstest

import (
	"context"
	"crypto/rand"
	"errors"
	mathrand "math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/jwks"
	"github.com/google/go-cmp/cmp"
)

// t0 is the suite's clock origin; times are UTC with microsecond precision,
// which every backend must round-trip exactly.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// Run runs the suite. newStore must return an empty store for each call; it
// is called once per subtest and should register its own cleanup.
func Run(t *testing.T, newStore func(t *testing.T) jwks.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st jwks.Store)
	}{
		{"CreateAndList", testCreateAndList},
		{"Empty", testEmpty},
		{"Conflict", testConflict},
		{"Retire", testRetire},
		{"Revoke", testRevoke},
		{"Delete", testDelete},
		{"CancelledContext", testCancelled},
		{"ConcurrentRetire", testConcurrentRetire},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// New returns an EdDSA key named kid, created at created and active an hour
// later, with random bytes standing in for its public and sealed private
// key.
func New(kid string, created time.Time) *jwks.StoredKey {
	pub := make([]byte, 44)
	priv := make([]byte, 12+48+16)
	rand.Read(pub)
	rand.Read(priv)
	// Bytes a text column would mangle.
	pub[0], pub[1], priv[0], priv[len(priv)-1] = 0x00, 0xff, 0x00, 0x80
	return &jwks.StoredKey{
		KID:           kid,
		Alg:           "EdDSA",
		Public:        pub,
		PrivateSealed: priv,
		CreatedAt:     created,
		ActivateAt:    created.Add(time.Hour),
	}
}

func mustCreate(t *testing.T, st jwks.Store, k *jwks.StoredKey) {
	t.Helper()
	if err := st.CreateSigningKey(context.Background(), k); err != nil {
		t.Fatalf("CreateSigningKey(%s) = %v, want nil", k.KID, err)
	}
}

func list(t *testing.T, st jwks.Store) []*jwks.StoredKey {
	t.Helper()
	ks, err := st.SigningKeys(context.Background())
	if err != nil {
		t.Fatalf("SigningKeys = %v", err)
	}
	return ks
}

func byKID(t *testing.T, st jwks.Store, kid string) *jwks.StoredKey {
	t.Helper()
	for _, k := range list(t, st) {
		if k.KID == kid {
			return k
		}
	}
	t.Fatalf("SigningKeys has no %s", kid)
	return nil
}

func clone(k *jwks.StoredKey) *jwks.StoredKey {
	c := *k
	c.Public = slices.Clone(k.Public)
	c.PrivateSealed = slices.Clone(k.PrivateSealed)
	return &c
}

func kids(ks []*jwks.StoredKey) []string {
	out := []string{}
	for _, k := range ks {
		out = append(out, k.KID)
	}
	return out
}

func want(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s = %v, want %v", what, err, target)
	}
}

func testCreateAndList(t *testing.T, st jwks.Store) {
	// Created out of order: the list is by CreatedAt, not insertion.
	newest := New("kid-newest", t0.Add(2*time.Hour))
	oldest := New("kid-oldest", t0)
	oldest.Alg = "ES256"
	oldest.RetireAt = t0.Add(90*time.Minute + time.Microsecond)
	oldest.RevokedAt = t0.Add(100*time.Minute + 7*time.Microsecond)
	middle := New("kid-mïddle ✓", t0.Add(time.Hour))
	middle.Alg = "RS256"
	middle.Public = make([]byte, 294) // an RSA-2048 PKIX key's size
	rand.Read(middle.Public)
	var wantList []*jwks.StoredKey
	for _, k := range []*jwks.StoredKey{newest, oldest, middle} {
		mustCreate(t, st, k)
	}
	wantList = []*jwks.StoredKey{clone(oldest), clone(middle), clone(newest)}
	// The store copied its input.
	newest.Public[3] ^= 0xff
	newest.PrivateSealed[3] ^= 0xff
	newest.Alg = "none"

	got := list(t, st)
	if diff := cmp.Diff(wantList, got); diff != "" {
		t.Fatalf("SigningKeys (-want +got):\n%s", diff)
	}
	// And returns copies.
	got[0].Public[0] ^= 0xff
	got[0].PrivateSealed[0] ^= 0xff
	got[0].RetireAt = time.Time{}
	got[0].RevokedAt = time.Time{}
	if diff := cmp.Diff(wantList, list(t, st)); diff != "" {
		t.Errorf("SigningKeys returned shared memory (-want +got):\n%s", diff)
	}
}

func testEmpty(t *testing.T, st jwks.Store) {
	ctx := context.Background()
	ks, err := st.SigningKeys(ctx)
	if err != nil || ks == nil || len(ks) != 0 {
		t.Errorf("SigningKeys(empty store) = %v, %v; want empty non-nil slice, nil", ks, err)
	}
	want(t, "RetireSigningKey(unknown)", st.RetireSigningKey(ctx, "no-such-kid", t0), authd.ErrNotFound)
	want(t, "RetireSigningKey(sql-looking)", st.RetireSigningKey(ctx, "' OR 1=1 --", t0), authd.ErrNotFound)
	want(t, "RevokeSigningKey(unknown)", st.RevokeSigningKey(ctx, "no-such-kid", t0), authd.ErrNotFound)
	want(t, "RevokeSigningKey(sql-looking)", st.RevokeSigningKey(ctx, "' OR 1=1 --", t0), authd.ErrNotFound)
	want(t, "DeleteSigningKey(unknown)", st.DeleteSigningKey(ctx, "no-such-kid"), authd.ErrNotFound)
}

func testConflict(t *testing.T, st jwks.Store) {
	ctx := context.Background()
	k := New("kid-1", t0)
	mustCreate(t, st, k)
	dup := New("kid-1", t0.Add(time.Hour))
	dup.Alg = "RS256"
	want(t, "CreateSigningKey(same KID)", st.CreateSigningKey(ctx, dup), authd.ErrConflict)
	if diff := cmp.Diff([]*jwks.StoredKey{k}, list(t, st)); diff != "" {
		t.Errorf("after conflict (-want +got):\n%s", diff)
	}
}

func testRetire(t *testing.T, st jwks.Store) {
	ctx := context.Background()
	k, other := New("kid-1", t0), New("kid-2", t0.Add(time.Minute))
	mustCreate(t, st, k)
	mustCreate(t, st, other)
	steps := []struct {
		name string
		at   time.Time
		want time.Time
	}{
		{"from zero", t0.Add(10 * time.Hour), t0.Add(10 * time.Hour)},
		{"later is ignored", t0.Add(20 * time.Hour), t0.Add(10 * time.Hour)},
		{"same is a no-op", t0.Add(10 * time.Hour), t0.Add(10 * time.Hour)},
		{"earlier moves it", t0.Add(5*time.Hour + time.Microsecond), t0.Add(5*time.Hour + time.Microsecond)},
		{"later again is ignored", t0.Add(6 * time.Hour), t0.Add(5*time.Hour + time.Microsecond)},
	}
	for _, s := range steps {
		if err := st.RetireSigningKey(ctx, k.KID, s.at); err != nil {
			t.Fatalf("%s: RetireSigningKey = %v, want nil", s.name, err)
		}
		if got := byKID(t, st, k.KID).RetireAt; !got.Equal(s.want) {
			t.Errorf("%s: RetireAt = %v, want %v", s.name, got, s.want)
		}
	}
	// Nothing else about either key changed.
	wantK := clone(k)
	wantK.RetireAt = t0.Add(5*time.Hour + time.Microsecond)
	if diff := cmp.Diff([]*jwks.StoredKey{wantK, other}, list(t, st)); diff != "" {
		t.Errorf("after retiring (-want +got):\n%s", diff)
	}
	want(t, "RetireSigningKey(unknown)", st.RetireSigningKey(ctx, "kid-3", t0), authd.ErrNotFound)
}

// testRevoke: the first revocation's time stays; nothing else about the
// key, and nothing about another key, changes.
func testRevoke(t *testing.T, st jwks.Store) {
	ctx := context.Background()
	k, other := New("kid-1", t0), New("kid-2", t0.Add(time.Minute))
	k.RetireAt = t0.Add(2 * time.Hour)
	mustCreate(t, st, k)
	mustCreate(t, st, other)
	if got := byKID(t, st, k.KID).RevokedAt; !got.IsZero() {
		t.Fatalf("new key RevokedAt = %v, want zero", got)
	}
	steps := []struct {
		name string
		at   time.Time
	}{
		{"first", t0.Add(3*time.Hour + time.Microsecond)},
		{"later is ignored", t0.Add(4 * time.Hour)},
		{"earlier is ignored too", t0.Add(time.Hour)},
	}
	for _, s := range steps {
		if err := st.RevokeSigningKey(ctx, k.KID, s.at); err != nil {
			t.Fatalf("%s: RevokeSigningKey = %v, want nil", s.name, err)
		}
		if got := byKID(t, st, k.KID).RevokedAt; !got.Equal(steps[0].at) {
			t.Errorf("%s: RevokedAt = %v, want the first revocation's %v", s.name, got, steps[0].at)
		}
	}
	wantK := clone(k)
	wantK.RevokedAt = steps[0].at
	if diff := cmp.Diff([]*jwks.StoredKey{wantK, other}, list(t, st)); diff != "" {
		t.Errorf("after revoking (-want +got):\n%s", diff)
	}
	// Retiring a revoked key still works (a rotation may retire it).
	if err := st.RetireSigningKey(ctx, k.KID, t0.Add(time.Hour)); err != nil {
		t.Fatalf("RetireSigningKey(revoked) = %v", err)
	}
	if got := byKID(t, st, k.KID); !got.RevokedAt.Equal(steps[0].at) || !got.RetireAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("after retiring the revoked key: RetireAt %v, RevokedAt %v", got.RetireAt, got.RevokedAt)
	}
	if err := st.RevokeSigningKey(ctx, other.KID, time.Time{}); err == nil {
		t.Error("RevokeSigningKey(zero time) = nil, want an error")
	}
	if got := byKID(t, st, other.KID).RevokedAt; !got.IsZero() {
		t.Errorf("a refused revocation set RevokedAt = %v", got)
	}
	want(t, "RevokeSigningKey(unknown)", st.RevokeSigningKey(ctx, "kid-3", t0), authd.ErrNotFound)
	if err := st.DeleteSigningKey(ctx, k.KID); err != nil {
		t.Fatalf("DeleteSigningKey(revoked) = %v", err)
	}
	want(t, "RevokeSigningKey(deleted)", st.RevokeSigningKey(ctx, k.KID, t0), authd.ErrNotFound)
}

func testDelete(t *testing.T, st jwks.Store) {
	ctx := context.Background()
	k, other := New("kid-1", t0), New("kid-2", t0.Add(time.Minute))
	mustCreate(t, st, k)
	mustCreate(t, st, other)
	if err := st.DeleteSigningKey(ctx, k.KID); err != nil {
		t.Fatalf("DeleteSigningKey = %v", err)
	}
	if diff := cmp.Diff([]string{"kid-2"}, kids(list(t, st))); diff != "" {
		t.Errorf("after delete (-want +got):\n%s", diff)
	}
	want(t, "second DeleteSigningKey", st.DeleteSigningKey(ctx, k.KID), authd.ErrNotFound)
	want(t, "RetireSigningKey(deleted)", st.RetireSigningKey(ctx, k.KID, t0), authd.ErrNotFound)
	// The KID can be used again.
	mustCreate(t, st, New("kid-1", t0.Add(time.Hour)))
	if diff := cmp.Diff([]string{"kid-2", "kid-1"}, kids(list(t, st))); diff != "" {
		t.Errorf("after re-create (-want +got):\n%s", diff)
	}
}

func testCancelled(t *testing.T, st jwks.Store) {
	k := New("kid-1", t0)
	mustCreate(t, st, k)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	checks := map[string]error{}
	checks["CreateSigningKey"] = st.CreateSigningKey(ctx, New("kid-2", t0))
	_, checks["SigningKeys"] = st.SigningKeys(ctx)
	checks["RetireSigningKey"] = st.RetireSigningKey(ctx, k.KID, t0.Add(time.Hour))
	checks["RevokeSigningKey"] = st.RevokeSigningKey(ctx, k.KID, t0.Add(time.Hour))
	checks["DeleteSigningKey"] = st.DeleteSigningKey(ctx, k.KID)
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", name, err)
		}
	}
	// Nothing changed.
	if diff := cmp.Diff([]*jwks.StoredKey{k}, list(t, st)); diff != "" {
		t.Errorf("after cancelled calls (-want +got):\n%s", diff)
	}
}

// testConcurrentRetire: concurrent retirements leave the earliest time.
func testConcurrentRetire(t *testing.T, st jwks.Store) {
	k := New("kid-1", t0)
	mustCreate(t, st, k)
	var wg sync.WaitGroup
	for _, i := range mathrand.Perm(32) {
		wg.Go(func() {
			at := t0.Add(time.Hour + time.Duration(i)*time.Minute)
			if err := st.RetireSigningKey(context.Background(), k.KID, at); err != nil {
				t.Errorf("RetireSigningKey = %v", err)
			}
		})
	}
	wg.Wait()
	if got := byKID(t, st, k.KID).RetireAt; !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("after concurrent retires RetireAt = %v, want the earliest, %v", got, t0.Add(time.Hour))
	}
}
