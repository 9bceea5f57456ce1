package token_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authd/authd/jwk"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/token"
)

// TestVerifyRetiredKeyCutoff: once a key has retired, it verifies only
// the tokens issued before its retirement (plus jwk.RetireLeeway), from
// the cache or not, while it stays published for the tokens it signed.
func TestVerifyRetiredKeyCutoff(t *testing.T) {
	f := newAttackFixture(t) // ed signs
	// Its successor, which retires it (a rotation retires keys of its own
	// algorithm only: es and rs leave ed alone).
	if _, err := f.ring.Rotate(context.Background(), jwk.EdDSA); err != nil {
		t.Fatal(err)
	}
	retireAt := keyOf(t, f.ring, f.ed.KID).RetireAt
	if retireAt.IsZero() {
		t.Fatal("the fixture's EdDSA key is not retired")
	}
	f.clk.Advance(retireAt.Sub(f.clk.Now()) + 2*time.Minute) // ed retired two minutes ago
	tests := []struct {
		name string
		iat  time.Time
		want error // nil: accepted
	}{
		{"issued a minute before retiring", retireAt.Add(-time.Minute), nil},
		{"issued the second before retiring", retireAt.Add(-time.Second), nil},
		{"issued within the leeway", retireAt.Add(jwk.RetireLeeway - time.Second), nil},
		{"issued at retirement + leeway", retireAt.Add(jwk.RetireLeeway), token.ErrRetiredKey},
		{"issued a minute after retiring", retireAt.Add(time.Minute), token.ErrRetiredKey},
		{"issued now", f.clk.Now(), token.ErrRetiredKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iat := tt.iat.Truncate(time.Second).Unix()
			tok := f.forge(t, f.ed, header(f.ed), with(f.claims(), "iat", iat, "exp", iat+600))
			for _, size := range []int{-1, 10} { // uncached; then first sight and a cache hit
				v := f.verifier(size)
				for range 2 {
					if tt.want == nil {
						wantAccepted(t, v, tok)
					} else {
						wantRefused(t, v, tok, tt.want)
					}
				}
			}
		})
	}
}

// TestVerifyRevokedKey: revoking a key refuses its tokens at once, cached
// ones included, on this verifier and on another ring that reloads; the
// successor's tokens verify.
func TestVerifyRevokedKey(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	ring := newRing(t, jwk.EdDSA, clk.Now)
	iss := newIssuer(ring, clk.Now)
	v := token.NewVerifier(token.VerifierConfig{Keys: ring, Issuer: testIss, Audience: testAud, Now: clk.Now})
	old, _, err := iss.Issue(defaultGrant())
	if err != nil {
		t.Fatal(err)
	}
	wantAccepted(t, v, old) // now cached
	wantAccepted(t, v, old)
	successor, err := ring.Revoke(ctx, mustSigner(t, ring).KID)
	if err != nil || successor == nil {
		t.Fatalf("Revoke = %v, %v; want a successor", successor, err)
	}
	wantRefused(t, v, old, token.ErrUnknownKey) // the cache hit
	uncached := token.NewVerifier(token.VerifierConfig{Keys: ring, Issuer: testIss, Audience: testAud, Now: clk.Now, CacheSize: -1})
	wantRefused(t, uncached, old, token.ErrUnknownKey)
	if _, err := v.VerifyIgnoringExpiry(old); !errors.Is(err, token.ErrInvalid) {
		t.Errorf("VerifyIgnoringExpiry(revoked key's token) = %v, want ErrInvalid", err)
	}
	// Issuance goes on at once with the successor, same session.
	fresh, _, err := iss.Issue(defaultGrant())
	if err != nil {
		t.Fatal(err)
	}
	if c := wantAccepted(t, v, fresh); c == nil {
		t.Fatal("successor token refused")
	}
	if _, payload, _, _ := splitJWS(t, fresh); payload == nil {
		t.Fatal("bad token")
	}
	if hdr, _, _, _ := splitJWS(t, fresh); hdr["kid"] != successor.KID {
		t.Errorf("new token signed by %v, want the successor %s", hdr["kid"], successor.KID)
	}
}

func keyOf(t *testing.T, r *jwks.Ring, kid string) *jwk.Key {
	t.Helper()
	for _, k := range r.Keys() {
		if k.KID == kid {
			return k
		}
	}
	t.Fatalf("no key %s", kid)
	return nil
}
