package token_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/jwk"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/token"
)

// Shared test vocabulary: the issuer and audience of the default claims in
// the brief, and the clock origin.
const (
	testIss = "https://auth.example.com"
	testAud = "authd"
)

var clockStart = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeClock is an injectable clock; tests move it, nothing sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: clockStart} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newRing returns a Ring over a fresh memstore with its first key of alg.
func newRing(t testing.TB, alg string, now func() time.Time) *jwks.Ring {
	t.Helper()
	r, err := jwks.NewRing(context.Background(), jwks.RingConfig{
		Store: memstore.New(), KEK: jwks.NewKEK(), Alg: alg, Now: now,
	})
	if err != nil {
		t.Fatalf("NewRing(%s) = %v", alg, err)
	}
	return r
}

func mustSigner(t testing.TB, r *jwks.Ring) *jwk.Key {
	t.Helper()
	k, err := r.Signer()
	if err != nil {
		t.Fatalf("Signer() = %v", err)
	}
	return k
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// segment encodes v as a JWS segment: a string is taken as raw JSON text
// (so tests can write duplicate members or odd types), anything else is
// marshalled.
func segment(t testing.TB, v any) string {
	t.Helper()
	if s, ok := v.(string); ok {
		return b64([]byte(s))
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return b64(b)
}

// signJOSE signs input the way RFC 7518 wants for alg, by hand: Ed25519
// over the input, ECDSA P-256 as fixed-width r||s over SHA-256, RSA
// PKCS #1 v1.5 over SHA-256.
func signJOSE(t testing.TB, alg string, priv crypto.Signer, input string) []byte {
	t.Helper()
	switch alg {
	case jwk.EdDSA:
		return ed25519.Sign(priv.(ed25519.PrivateKey), []byte(input))
	case jwk.ES256:
		h := sha256.Sum256([]byte(input))
		der, err := ecdsa.SignASN1(rand.Reader, priv.(*ecdsa.PrivateKey), h[:])
		if err != nil {
			t.Fatal(err)
		}
		var rs struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(der, &rs); err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		rs.R.FillBytes(sig[:32])
		rs.S.FillBytes(sig[32:])
		return sig
	case jwk.RS256:
		h := sha256.Sum256([]byte(input))
		sig, err := rsa.SignPKCS1v15(nil, priv.(*rsa.PrivateKey), crypto.SHA256, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	t.Fatalf("signJOSE: unknown alg %q", alg)
	return nil
}

func hs256(secret []byte, input string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return m.Sum(nil)
}

// joseToASN1 turns a JOSE r||s ECDSA signature into ASN.1 DER.
func joseToASN1(t testing.TB, sig []byte) []byte {
	t.Helper()
	half := len(sig) / 2
	der, err := asn1.Marshal(struct{ R, S *big.Int }{
		new(big.Int).SetBytes(sig[:half]), new(big.Int).SetBytes(sig[half:]),
	})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// splitJWS splits a compact JWS and decodes its three segments.
func splitJWS(t testing.TB, tok string) (hdr, payload map[string]any, input string, sig []byte) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d segments", tok, len(parts))
	}
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil {
			t.Fatalf("decode segment %q: %v", s, err)
		}
		return b
	}
	if err := json.Unmarshal(dec(parts[0]), &hdr); err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(strings.NewReader(string(dec(parts[1]))))
	d.UseNumber()
	if err := d.Decode(&payload); err != nil {
		t.Fatal(err)
	}
	return hdr, payload, parts[0] + "." + parts[1], dec(parts[2])
}

// newIssuer returns the Issuer of the brief's default claims.
func newIssuer(r *jwks.Ring, now func() time.Time) *token.Issuer {
	return &token.Issuer{Keys: r, URL: testIss, Audience: testAud, TTL: 10 * time.Minute, Now: now}
}

// defaultGrant has 26-character IDs (crypto/rand.Text), client authd and
// scope "read write".
func defaultGrant() token.Grant {
	return token.Grant{UserID: rand.Text(), SessionID: rand.Text(), ClientID: "authd", Scope: "read write"}
}
