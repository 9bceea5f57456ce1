// Package refreshtest is the conformance suite for refresh.Store. Every
// backend runs it from its own tests:
//
//	func TestRefreshConformance(t *testing.T) {
//		refreshtest.Run(t, func(t *testing.T) refresh.Store { return newStore(t) })
//	}
//
// A backend is done when the suite passes unchanged. It holds every backend
// to the outcomes of the rules in the refresh package doc, and proves the
// rotation atomic: of 50 concurrent redemptions of one token with no grace
// window exactly one wins and every other caller sees reuse.
package refreshtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/refresh"
	"github.com/google/go-cmp/cmp"
)

// t0 is the suite's clock origin; times are UTC with microsecond precision,
// which every backend must round-trip exactly.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// grace is the window of the tests that want one.
const grace = 10 * time.Second

// Run runs the suite. newStore must return an empty store for each call; it
// is called once per subtest and should register its own cleanup.
func Run(t *testing.T, newStore func(t *testing.T) refresh.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st refresh.Store)
	}{
		{"CreateAndLookup", testCreateAndLookup},
		{"CreateUsed", testCreateUsed},
		{"Missing", testMissing},
		{"Conflict", testConflict},
		{"Rotate", testRotate},
		{"ChildConflict", testChildConflict},
		{"RefusedWritesNothing", testRefused},
		{"Scope", testScope},
		{"Grace", testGrace},
		{"Grandparent", testGrandparent},
		{"SiblingAfterSibling", testSiblingAfterSibling},
		{"PrunedReplay", testPrunedReplay},
		{"Prune", testPrune},
		{"Expired", testExpired},
		{"DeleteExpired", testDeleteExpired},
		{"CancelledContext", testCancelled},
		{"ConcurrentChains", testConcurrentChains},
		{"RaceNoGrace", testRaceNoGrace},
		{"RaceGrace", testRaceGrace},
		{"RaceSiblings", testRaceSiblings},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// NewHash returns the SHA-256 of a fresh random secret.
func NewHash() []byte {
	var secret [32]byte
	rand.Read(secret[:])
	h := sha256.Sum256(secret[:])
	return h[:]
}

// New returns an unused refresh token of generation gen in sessionID,
// issued at at and valid for 30 days, with a fresh random hash.
func New(sessionID string, gen int, at time.Time) *refresh.Refresh {
	return &refresh.Refresh{
		Hash:       NewHash(),
		SessionID:  sessionID,
		UserID:     "user-1",
		ClientID:   "client-1",
		Scope:      "openid profile offline_access",
		Generation: gen,
		IssuedAt:   at,
		ExpiresAt:  at.Add(30 * 24 * time.Hour),
	}
}

// Redeem returns the rotation of rt by its own client at at, with a fresh
// child hash.
func Redeem(rt *refresh.Refresh, at time.Time, grace time.Duration) *refresh.Rotation {
	return &refresh.Rotation{
		SessionID: rt.SessionID, Generation: rt.Generation, Hash: slices.Clone(rt.Hash),
		ClientID: rt.ClientID, ChildHash: NewHash(), At: at, Grace: grace,
	}
}

// BenchRotation measures one rotation's store work, the same on every
// backend: one RotateRefresh of the newest token of a chain.
//
//	go test -run '^$' -bench Rotat ./memstore ./sqlitestore ./pgstore ./redisstore
func BenchRotation(b *testing.B, st refresh.Store) {
	ctx := context.Background()
	rt := New("session-bench-"+rand.Text(), 0, t0)
	if err := st.CreateRefresh(ctx, rt); err != nil {
		b.Fatal(err)
	}
	at := t0
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(time.Millisecond)
		res, err := st.RotateRefresh(ctx, Redeem(rt, at, 0))
		if err != nil || res.Outcome != refresh.Rotated {
			b.Fatalf("RotateRefresh = %v, %v; want rotated", res, err)
		}
		rt = res.Child
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rotations/s")
}

func mustCreate(t *testing.T, st refresh.Store, rt *refresh.Refresh) *refresh.Refresh {
	t.Helper()
	if err := st.CreateRefresh(context.Background(), rt); err != nil {
		t.Fatalf("CreateRefresh(session %s gen %d) = %v, want nil", rt.SessionID, rt.Generation, err)
	}
	return rt
}

func rotate(t *testing.T, st refresh.Store, rot *refresh.Rotation) *refresh.Result {
	t.Helper()
	res, err := st.RotateRefresh(context.Background(), rot)
	if err != nil {
		t.Fatalf("RotateRefresh(session %s gen %d) = %v, want nil", rot.SessionID, rot.Generation, err)
	}
	return res
}

// wantOutcome rotates and wants outcome; it returns the result.
func wantOutcome(t *testing.T, st refresh.Store, rot *refresh.Rotation, want refresh.Outcome) *refresh.Result {
	t.Helper()
	res := rotate(t, st, rot)
	if res.Outcome != want {
		t.Fatalf("RotateRefresh(session %s gen %d at %v) = %v, want %v", rot.SessionID, rot.Generation, rot.At, res.Outcome, want)
	}
	if (res.Child != nil) != (want == refresh.Rotated || want == refresh.Sibling) {
		t.Fatalf("RotateRefresh = %v with child %+v", res.Outcome, res.Child)
	}
	if res.Child != nil && !slices.Equal(res.Child.Hash, rot.ChildHash) {
		t.Fatalf("RotateRefresh: child hash %x, want %x", res.Child.Hash, rot.ChildHash)
	}
	return res
}

// rotated redeems rt at at (no grace) and wants it Rotated; it returns the child.
func rotated(t *testing.T, st refresh.Store, rt *refresh.Refresh, at time.Time) *refresh.Refresh {
	t.Helper()
	return wantOutcome(t, st, Redeem(rt, at, grace), refresh.Rotated).Child
}

func lookup(t *testing.T, st refresh.Store, rt *refresh.Refresh) *refresh.Refresh {
	t.Helper()
	got, err := st.RefreshByHash(context.Background(), rt.SessionID, rt.Hash)
	if err != nil {
		t.Fatalf("RefreshByHash(session %s gen %d) = %v, want it stored", rt.SessionID, rt.Generation, err)
	}
	return got
}

func wantGone(t *testing.T, st refresh.Store, what, sessionID string, hash []byte) {
	t.Helper()
	if got, err := st.RefreshByHash(context.Background(), sessionID, hash); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("RefreshByHash(%s) = %+v, %v; want ErrNotFound", what, got, err)
	}
}

func wantUnused(t *testing.T, st refresh.Store, what string, rt *refresh.Refresh) {
	t.Helper()
	if got := lookup(t, st, rt); !got.UsedAt.IsZero() {
		t.Errorf("%s: UsedAt = %v, want unused (nothing written)", what, got.UsedAt)
	}
}

func clone(rt *refresh.Refresh) *refresh.Refresh {
	c := *rt
	c.Hash = slices.Clone(rt.Hash)
	return &c
}

func testCreateAndLookup(t *testing.T, st refresh.Store) {
	rt := New("session-1", 3, t0.Add(-60*24*time.Hour)) // expired: returned all the same
	rt.UserID = "user-ünïcödé ✓"
	rt.ClientID = "client 'quoted' \"double\""
	rt.Scope = ""
	rt.Hash[0], rt.Hash[31] = 0x00, 0xff
	want := clone(rt)
	mustCreate(t, st, rt)
	// The store copied its input: changing it changes nothing stored.
	rt.Scope = "admin"
	rt.Hash[1] ^= 0xff
	for range 2 { // looking does not use it
		got := lookup(t, st, want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("RefreshByHash (-want +got):\n%s", diff)
		}
		got.Hash[5] ^= 0xff // a copy
		got.Scope = "changed"
	}
	// The token is found only in its own session.
	wantGone(t, st, "another session", "session-2", want.Hash)
	wantGone(t, st, "no session", "", want.Hash)
}

// testCreateUsed: CreateRefresh stores UsedAt too, and the used token
// counts as the session's newest used generation.
func testCreateUsed(t *testing.T, st refresh.Store) {
	rt := New("session-1", 0, t0)
	rt.UsedAt = t0.Add(time.Second)
	mustCreate(t, st, rt)
	if diff := cmp.Diff(rt, lookup(t, st, rt)); diff != "" {
		t.Errorf("RefreshByHash (-want +got):\n%s", diff)
	}
	res := wantOutcome(t, st, Redeem(rt, t0.Add(5*time.Second), grace), refresh.Sibling)
	if diff := cmp.Diff(rt, res.Token); diff != "" {
		t.Errorf("Sibling: Token (-want +got):\n%s", diff)
	}
	// An unused token of the same generation is a sibling after the use.
	other := mustCreate(t, st, New("session-1", 0, t0))
	wantOutcome(t, st, Redeem(other, t0.Add(6*time.Second), grace), refresh.Reused)
	wantOutcome(t, st, Redeem(rt, t0.Add(time.Hour), grace), refresh.Reused)
}

func testMissing(t *testing.T, st refresh.Store) {
	ctx := context.Background()
	rt := mustCreate(t, st, New("session-1", 0, t0))
	h := sha256.Sum256([]byte("nobody"))
	for name, hash := range map[string][]byte{
		"unknown": h[:],
		"nil":     nil,
		"empty":   {},
		"short":   rt.Hash[:16],
		"long":    append(slices.Clone(rt.Hash), 0),
	} {
		wantGone(t, st, name, "session-1", hash)
		rot := Redeem(rt, t0.Add(time.Minute), grace)
		rot.Hash = hash
		res := wantOutcome(t, st, rot, refresh.Unknown)
		if res.Token != nil {
			t.Errorf("RotateRefresh(%s) = %+v, want no token", name, res.Token)
		}
		wantGone(t, st, name+"'s child", "session-1", rot.ChildHash)
	}
	// A token of another session is not found under this one.
	rot := Redeem(rt, t0.Add(time.Minute), grace)
	rot.SessionID = "session-2"
	wantOutcome(t, st, rot, refresh.Unknown)
	// The name of a stored token with another generation is not it either.
	rot = Redeem(rt, t0.Add(time.Minute), grace)
	rot.Generation = 1
	wantOutcome(t, st, rot, refresh.Unknown)
	wantUnused(t, st, "after the misses", rt)
	n, err := st.DeleteExpiredRefresh(ctx, t0)
	if err != nil || n != 0 {
		t.Errorf("DeleteExpiredRefresh(nothing expired) = %d, %v; want 0", n, err)
	}
}

func testConflict(t *testing.T, st refresh.Store) {
	ctx := context.Background()
	rt := mustCreate(t, st, New("session-1", 0, t0))
	dup := New("session-1", 4, t0.Add(time.Hour))
	dup.Hash = slices.Clone(rt.Hash)
	if err := st.CreateRefresh(ctx, dup); !errors.Is(err, authd.ErrConflict) {
		t.Errorf("CreateRefresh(same hash) = %v, want ErrConflict", err)
	}
	got := lookup(t, st, rt)
	if got.Generation != 0 || !got.IssuedAt.Equal(t0) || !got.UsedAt.IsZero() {
		t.Errorf("after conflict: %+v; want the unused generation 0", got)
	}
	// A used token conflicts the same way.
	rotated(t, st, rt, t0.Add(time.Minute))
	if err := st.CreateRefresh(ctx, dup); !errors.Is(err, authd.ErrConflict) {
		t.Errorf("CreateRefresh(same hash as a used token) = %v, want ErrConflict", err)
	}
}

// testRotate: the first use marks the token used at the redemption's
// instant and stores its child, which inherits everything but the hash,
// the generation and the issue time.
func testRotate(t *testing.T, st refresh.Store) {
	rt := New("session-1", 3, t0)
	rt.UserID = "user-ünïcödé ✓"
	rt.Scope = "a b c"
	mustCreate(t, st, rt)
	at := t0.Add(time.Minute + time.Microsecond)
	rot := Redeem(rt, at, grace)
	res := wantOutcome(t, st, rot, refresh.Rotated)
	want := clone(rt)
	want.UsedAt = at
	if diff := cmp.Diff(want, res.Token); diff != "" {
		t.Errorf("Token (-want +got):\n%s", diff)
	}
	wantChild := &refresh.Refresh{
		Hash: rot.ChildHash, SessionID: "session-1", UserID: rt.UserID, ClientID: rt.ClientID, Scope: "a b c",
		Generation: 4, IssuedAt: at, ExpiresAt: rt.ExpiresAt,
	}
	if diff := cmp.Diff(wantChild, res.Child); diff != "" {
		t.Errorf("Child (-want +got):\n%s", diff)
	}
	// The returned records are copies.
	res.Token.Scope, res.Child.Scope = "changed", "changed"
	res.Child.Hash[0] ^= 0xff
	if diff := cmp.Diff(want, lookup(t, st, rt)); diff != "" {
		t.Errorf("stored parent (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantChild, lookup(t, st, wantChild)); diff != "" {
		t.Errorf("stored child (-want +got):\n%s", diff)
	}
	// The child rotates in turn.
	next := rotated(t, st, wantChild, at.Add(time.Minute))
	if next.Generation != 5 || !next.ExpiresAt.Equal(rt.ExpiresAt) {
		t.Errorf("grandchild = %+v; want generation 5 expiring with the chain", next)
	}
}

// testChildConflict: a child hash the session holds already fails the
// whole operation; the parent stays unused.
func testChildConflict(t *testing.T, st refresh.Store) {
	rt := mustCreate(t, st, New("session-1", 0, t0))
	other := mustCreate(t, st, New("session-1", 5, t0))
	rot := Redeem(rt, t0.Add(time.Minute), grace)
	rot.ChildHash = slices.Clone(other.Hash)
	if res, err := st.RotateRefresh(context.Background(), rot); !errors.Is(err, authd.ErrConflict) {
		t.Fatalf("RotateRefresh(existing child hash) = %+v, %v; want ErrConflict", res, err)
	}
	wantUnused(t, st, "parent after a conflict", rt)
	if got := lookup(t, st, other); got.Generation != 5 || !got.UsedAt.IsZero() {
		t.Errorf("the other token changed: %+v", got)
	}
	rotated(t, st, rt, t0.Add(2*time.Minute))
}

func testCancelled(t *testing.T, st refresh.Store) {
	rt := New("session-1", 0, t0.Add(-48*time.Hour))
	rt.ExpiresAt = t0.Add(-time.Hour)
	mustCreate(t, st, rt)
	live := mustCreate(t, st, New("session-2", 0, t0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fresh := New("session-1", 1, t0)
	rot := Redeem(live, t0.Add(time.Minute), grace)
	checks := map[string]error{}
	checks["CreateRefresh"] = st.CreateRefresh(ctx, fresh)
	_, checks["RotateRefresh"] = st.RotateRefresh(ctx, rot)
	_, checks["RefreshByHash"] = st.RefreshByHash(ctx, rt.SessionID, rt.Hash)
	_, checks["DeleteExpiredRefresh"] = st.DeleteExpiredRefresh(ctx, t0)
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", name, err)
		}
	}
	// Nothing changed.
	wantGone(t, st, "token created with a cancelled context", fresh.SessionID, fresh.Hash)
	wantGone(t, st, "child of a cancelled rotation", rot.SessionID, rot.ChildHash)
	wantUnused(t, st, "token of a cancelled rotation", live)
	lookup(t, st, rt)
}
