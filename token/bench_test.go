package token_test

// Access-token benchmarks, per algorithm. Run them with:
//
//	cd /work/main && go test -run XXX -bench . -benchtime 1s ./token
//
// BenchmarkRawVerify is the bare primitive over the same signing input
// (ed25519.Verify; SHA-256 + ecdsa.VerifyASN1; SHA-256 +
// rsa.VerifyPKCS1v15), the floor for BenchmarkVerify, which is the full
// Verifier without its cache (size check, base64, JSON, header rules, key
// look-up, signature, claims). BenchmarkVerifyCached re-verifies a token
// already seen (the common case: a client re-sends its token until it
// expires). BenchmarkIssue signs a new token.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/jwk"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/token"
)

type benchSetup struct {
	ring *jwks.Ring
	key  *jwk.Key
	iss  *token.Issuer
	tok  string
}

func setupBench(b *testing.B, alg string) *benchSetup {
	b.Helper()
	ring := newRing(b, alg, time.Now)
	iss := newIssuer(ring, time.Now)
	tok, _, err := iss.Issue(defaultGrant())
	if err != nil {
		b.Fatal(err)
	}
	return &benchSetup{ring: ring, key: mustSigner(b, ring), iss: iss, tok: tok}
}

func (s *benchSetup) verifier(cacheSize int) *token.Verifier {
	return token.NewVerifier(token.VerifierConfig{
		Keys: s.ring, Issuer: testIss, Audience: testAud,
		Revocations: token.NewRevocationSet(nil), CacheSize: cacheSize,
	})
}

var benchAlgs = []string{jwk.EdDSA, jwk.ES256, jwk.RS256}

func BenchmarkRawVerify(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			s := setupBench(b, alg)
			_, _, input, sig := splitJWS(b, s.tok)
			msg := []byte(input)
			var verify func() bool
			switch alg {
			case jwk.EdDSA:
				pub := s.key.Public.(ed25519.PublicKey)
				verify = func() bool { return ed25519.Verify(pub, msg, sig) }
			case jwk.ES256:
				pub := s.key.Public.(*ecdsa.PublicKey)
				der := joseToASN1(b, sig)
				verify = func() bool {
					h := sha256.Sum256(msg)
					return ecdsa.VerifyASN1(pub, h[:], der)
				}
			case jwk.RS256:
				pub := s.key.Public.(*rsa.PublicKey)
				verify = func() bool {
					h := sha256.Sum256(msg)
					return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) == nil
				}
			}
			if !verify() {
				b.Fatal("raw verification failed")
			}
			b.ReportAllocs()
			for b.Loop() {
				if !verify() {
					b.Fatal("raw verification failed")
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			s := setupBench(b, alg)
			v := s.verifier(-1)
			if _, err := v.Verify(s.tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(s.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			s := setupBench(b, alg)
			v := s.verifier(0)
			if _, err := v.Verify(s.tok); err != nil { // now cached
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(s.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkIssue(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			s := setupBench(b, alg)
			g := defaultGrant()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.iss.Issue(g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyRefused is the cost of refusing garbage: a verifier must
// not spend more on an attacker's junk than on a real token.
func BenchmarkVerifyRefused(b *testing.B) {
	s := setupBench(b, jwk.EdDSA)
	v := s.verifier(-1)
	rows := map[string]string{
		"oversized":  strings.Repeat("A", token.MaxTokenLen+1),
		"garbage 8K": strings.Repeat("A", token.MaxTokenLen),
		"alg none":   "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.e30.",
		"bad sig":    s.tok[:len(s.tok)-2] + "AA",
		"bad header": strings.Replace(s.tok, "eyJ", "eyK", 1),
	}
	for name, tok := range rows {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := v.Verify(tok); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
