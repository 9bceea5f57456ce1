package jwks_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/jwk"
	"github.com/authd/authd/jwks"
)

// TestRetiredKeyCutoff: a retired key verifies only tokens issued before
// its retirement plus RetireLeeway; a revoked key verifies nothing; a key
// from a remote JWKS (no times) verifies every token.
func TestRetiredKeyCutoff(t *testing.T) {
	retired := &jwk.Key{RetireAt: t0}
	revoked := &jwk.Key{RetireAt: t0.Add(time.Hour), RevokedAt: t0}
	active := &jwk.Key{}
	tests := []struct {
		name string
		key  *jwk.Key
		iat  time.Time
		want bool
	}{
		{"retired, issued long before", retired, t0.Add(-time.Hour), true},
		{"retired, issued just before", retired, t0.Add(-time.Second), true},
		{"retired, issued at retirement (another instance not yet reloaded)", retired, t0, true},
		{"retired, issued within the leeway", retired, t0.Add(jwk.RetireLeeway - time.Microsecond), true},
		{"retired, issued at retirement + leeway", retired, t0.Add(jwk.RetireLeeway), false},
		{"retired, issued a minute after", retired, t0.Add(time.Minute), false},
		{"revoked, issued before", revoked, t0.Add(-time.Hour), false},
		{"revoked, issued after", revoked, t0.Add(time.Minute), false},
		{"active or remote, any time", active, t0.Add(100 * time.Hour), true},
	}
	for _, tt := range tests {
		if got := tt.key.Verifies(tt.iat); got != tt.want {
			t.Errorf("%s: Verifies(%v) = %v, want %v", tt.name, tt.iat, got, tt.want)
		}
	}
	if jwk.RetireLeeway > 10*time.Second {
		t.Errorf("RetireLeeway = %v; it is meant to be small", jwk.RetireLeeway)
	}
}

// TestRingRetiredKeyCutoffAfterRotate: with the clock moving, the old key
// of a rotation verifies what it signed before the new key took over and
// nothing issued later, while it stays published.
func TestRingRetiredKeyCutoffAfterRotate(t *testing.T) {
	r := newTestRing(t, jwk.EdDSA)
	old := r.signer(t)
	next, err := r.Rotate(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(lead + time.Minute) // the new key signs; the old one is retired
	k, ok := r.VerificationKey(old.KID)
	if !ok {
		t.Fatal("retired key no longer published a minute after retiring")
	}
	if !k.Verifies(next.ActivateAt.Add(-time.Second)) {
		t.Error("retired key refuses a token it signed before retiring")
	}
	if k.Verifies(r.clk.Now()) {
		t.Error("retired key verifies a token issued a minute after it retired")
	}
}

func (r *ring) revoke(t *testing.T, kid string) *jwk.Key {
	t.Helper()
	k, err := r.Revoke(context.Background(), kid)
	if err != nil {
		t.Fatalf("Revoke(%s) = %v", kid, err)
	}
	return k
}

// TestRingRevoke: a revoked key leaves the JWKS and verification at once;
// a key still in service is first replaced by one that signs at once.
func TestRingRevoke(t *testing.T) {
	tests := []struct {
		name string
		// setup returns the key to revoke.
		setup         func(t *testing.T, r *ring) *jwk.Key
		wantSuccessor bool
	}{
		{"the signing key", func(t *testing.T, r *ring) *jwk.Key { return r.signer(t) }, true},
		{"the signing key, with a successor pending", func(t *testing.T, r *ring) *jwk.Key {
			s := r.signer(t)
			if _, err := r.Rotate(context.Background(), ""); err != nil {
				t.Fatal(err)
			}
			return s
		}, true},
		{"the pending key", func(t *testing.T, r *ring) *jwk.Key {
			k, err := r.Rotate(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			return k
		}, true},
		{"a retired key", func(t *testing.T, r *ring) *jwk.Key {
			s := r.signer(t)
			if _, err := r.Rotate(context.Background(), ""); err != nil {
				t.Fatal(err)
			}
			r.clk.Advance(lead + time.Minute)
			return s
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRing(t, jwk.EdDSA)
			r.clk.Advance(time.Hour)
			target := tt.setup(t, r)
			before := r.published(t)
			successor := r.revoke(t, target.KID)
			now := r.clk.Now()
			if (successor != nil) != tt.wantSuccessor {
				t.Fatalf("Revoke successor = %v, want one: %v", successor, tt.wantSuccessor)
			}
			if r.verifiable(target.KID) || slices.Contains(r.published(t), target.KID) {
				t.Fatal("revoked key still published or verifiable")
			}
			got := keyByID(t, r.Keys(), target.KID)
			if !got.RevokedAt.Equal(now) || got.Verifies(now.Add(-time.Hour)) {
				t.Errorf("revoked key: RevokedAt %v (want %v), Verifies an old token %v", got.RevokedAt, now, got.Verifies(now.Add(-time.Hour)))
			}
			if len(r.Revoked()) != 1 || r.Revoked()[0].KID != target.KID {
				t.Errorf("Revoked() = %v, want [%s]", r.Revoked(), target.KID)
			}
			// Issuance never stops, and never with the revoked key.
			s := r.signer(t)
			if s.KID == target.KID {
				t.Fatal("the revoked key still signs")
			}
			if tt.wantSuccessor {
				if s.KID != successor.KID || !successor.ActivateAt.Equal(now) {
					t.Errorf("signer %s active at %v; want the successor %s, active now", s.KID, successor.ActivateAt, successor.KID)
				}
				if !slices.Contains(r.published(t), successor.KID) {
					t.Error("successor not published")
				}
			}
			// Every other key published before still is.
			for _, kid := range before {
				if kid != target.KID && !slices.Contains(r.published(t), kid) {
					t.Errorf("key %s left the JWKS with the revoked one", kid)
				}
			}
			// The ring keeps signing past every retirement.
			r.clk.Advance(24 * time.Hour)
			if k := r.signer(t); k.KID == target.KID {
				t.Error("revoked key signs a day later")
			}
		})
	}
}

func TestRingRevokeRefuses(t *testing.T) {
	r := newTestRing(t, jwk.EdDSA)
	if _, err := r.Revoke(context.Background(), "no-such-kid"); !errors.Is(err, jwks.ErrUnknownKey) {
		t.Errorf("Revoke(unknown) = %v, want ErrUnknownKey", err)
	}
	if len(r.Keys()) != 1 {
		t.Errorf("Revoke(unknown) changed the keys: %d", len(r.Keys()))
	}
	k := r.signer(t)
	r.revoke(t, k.KID)
	n := len(r.Keys())
	if _, err := r.Revoke(context.Background(), k.KID); !errors.Is(err, jwks.ErrAlreadyRevoked) {
		t.Errorf("second Revoke = %v, want ErrAlreadyRevoked", err)
	}
	if len(r.Keys()) != n {
		t.Error("a second Revoke rotated again")
	}
}

// TestRingRevokeReachesOtherInstances: a revocation by one ring (or by
// `authd keys revoke` in another process) reaches another ring at its
// next Reload, which reports it once to OnRevoke.
func TestRingRevokeReachesOtherInstances(t *testing.T) {
	ctx := context.Background()
	a := newTestRing(t, jwk.EdDSA)
	var mu sync.Mutex
	var told []string
	b, err := jwks.NewRing(ctx, jwks.RingConfig{Store: a.store, KEK: a.kek, PublishLead: lead, Retain: retain, Now: a.clk.Now,
		OnRevoke: func(kid string, at time.Time) {
			mu.Lock()
			told = append(told, kid)
			mu.Unlock()
			if !at.Equal(a.clk.Now()) {
				t.Errorf("OnRevoke at %v, want %v", at, a.clk.Now())
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	old := a.signer(t)
	succ := a.revoke(t, old.KID)
	if _, ok := b.VerificationKey(old.KID); !ok {
		t.Fatal("b dropped the key before reloading (the test needs the lag)")
	}
	for range 2 {
		if err := b.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := b.VerificationKey(old.KID); ok {
		t.Fatal("b verifies with the revoked key after Reload")
	}
	if s, err := b.Signer(); err != nil || s.KID != succ.KID {
		t.Fatalf("b signs with %v, %v; want the successor %s", s, err, succ.KID)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(told, []string{old.KID}) {
		t.Errorf("OnRevoke told %v, want [%s] once", told, old.KID)
	}
}

// TestRingPruneKeepsRevoked: a revoked key stays stored (for the
// revocation feed's backlog) for Retain after its revocation.
func TestRingPruneKeepsRevoked(t *testing.T) {
	ctx := context.Background()
	r := newTestRing(t, jwk.EdDSA)
	old := r.signer(t)
	r.revoke(t, old.KID)
	r.clk.Advance(retain - time.Microsecond)
	if n, err := r.Prune(ctx); err != nil || n != 0 {
		t.Fatalf("Prune before Retain = %d, %v; want 0", n, err)
	}
	r.clk.Advance(time.Microsecond)
	if n, err := r.Prune(ctx); err != nil || n != 1 {
		t.Fatalf("Prune after Retain = %d, %v; want 1", n, err)
	}
	if len(r.Revoked()) != 0 {
		t.Errorf("Revoked after Prune = %v", r.Revoked())
	}
}

// TestRingReloadReusesKeys: a reload with nothing changed keeps the same
// decrypted keys (no decryption every ReloadEvery); a changed time gives
// a new *Key and leaves the old snapshot untouched.
func TestRingReloadReusesKeys(t *testing.T) {
	ctx := context.Background()
	r := newTestRing(t, jwk.EdDSA)
	k1 := r.signer(t)
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if k2 := r.signer(t); k2 != k1 {
		t.Error("Reload replaced an unchanged key")
	}
	if err := r.store.RetireSigningKey(ctx, k1.KID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	k3 := keyByID(t, r.Keys(), k1.KID)
	if k3 == k1 || !k1.RetireAt.IsZero() || !k3.RetireAt.Equal(t0.Add(time.Hour)) || k3.KID != k1.KID {
		t.Errorf("after retiring: same pointer %v, old RetireAt %v, new %v", k3 == k1, k1.RetireAt, k3.RetireAt)
	}
}
