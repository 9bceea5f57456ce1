package token_test

// The attack table: every way an access token can lie to a verifier that
// RFC 8725 (JWT BCP) and ASVS 5.0 V9 name, each a row that must be refused
// with an error wrapping token.ErrInvalid and never a panic. Hostile tokens
// are built by hand (base64url JSON + crypto/* signatures) so no library
// nicety can quietly fix them up; every refused row differs from an
// accepted hand-built control in exactly the way its name says, and is
// signed with our real key unless the row is about the signature, so the
// rule under test is the only thing that can refuse it.

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/jwk"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/token"
	"github.com/golang-jwt/jwt/v5"
)

const leeway = 30 * time.Second

// attackFixture is a Ring whose signer is EdDSA and which also publishes an
// ES256 and an RS256 key (rotated in, not yet signing), so alg/key
// confusion can point a header at a key of another type.
type attackFixture struct {
	clk        *fakeClock
	ring       *jwks.Ring
	ed, es, rs *jwk.Key
	rev        *token.RevocationSet
}

func newAttackFixture(t *testing.T) *attackFixture {
	t.Helper()
	f := &attackFixture{clk: newClock()}
	f.ring = newRing(t, jwk.EdDSA, f.clk.Now)
	f.ed = mustSigner(t, f.ring)
	ctx := context.Background()
	var err error
	if f.es, err = f.ring.Rotate(ctx, jwk.ES256); err != nil {
		t.Fatal(err)
	}
	if f.rs, err = f.ring.Rotate(ctx, jwk.RS256); err != nil {
		t.Fatal(err)
	}
	if k := mustSigner(t, f.ring); k.KID != f.ed.KID {
		t.Fatalf("signer after rotations = %s, want the EdDSA key still (publish lead)", k.Alg)
	}
	for _, k := range []*jwk.Key{f.ed, f.es, f.rs} {
		if _, ok := f.ring.VerificationKey(k.KID); !ok {
			t.Fatalf("%s key %s not published", k.Alg, k.KID)
		}
	}
	f.rev = token.NewRevocationSet(f.clk.Now)
	return f
}

func (f *attackFixture) verifier(cacheSize int) *token.Verifier {
	return token.NewVerifier(token.VerifierConfig{
		Keys: f.ring, Issuer: testIss, Audience: testAud, Leeway: leeway,
		Revocations: f.rev, CacheSize: cacheSize, Now: f.clk.Now,
	})
}

// header is the valid header for k.
func header(k *jwk.Key) map[string]any {
	return map[string]any{"alg": k.Alg, "kid": k.KID, "typ": "at+jwt"}
}

// claims are valid claims at now.
func (f *attackFixture) claims() map[string]any {
	now := f.clk.Now().Unix()
	return map[string]any{
		"iss": testIss, "sub": "user-1", "aud": testAud,
		"exp": now + 600, "iat": now, "jti": "jti-1", "sid": "session-1",
		"client_id": "authd", "scope": "read write",
	}
}

// forge builds header.payload and signs it with k's private key under k's
// algorithm.
func (f *attackFixture) forge(t testing.TB, k *jwk.Key, hdr, payload any) string {
	t.Helper()
	input := segment(t, hdr) + "." + segment(t, payload)
	return input + "." + b64(signJOSE(t, k.Alg, k.Private, input))
}

// valid is the hand-built control: our EdDSA key, valid header and claims.
func (f *attackFixture) valid(t testing.TB) string {
	return f.forge(t, f.ed, header(f.ed), f.claims())
}

// with returns a copy of m with the given members set (a nil value
// deletes the member).
func with(m map[string]any, kv ...any) map[string]any {
	c := maps.Clone(m)
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

// verify calls Verify and turns a panic into a test failure.
func verify(t *testing.T, v *token.Verifier, tok string) (c *token.Claims, err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("Verify panicked: %v", p)
		}
	}()
	return v.Verify(tok)
}

func wantRefused(t *testing.T, v *token.Verifier, tok string, also error) {
	t.Helper()
	c, err := verify(t, v, tok)
	if err == nil {
		t.Fatalf("Verify accepted the token (claims %+v); want refused", c)
	}
	if !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("Verify = %v; want an error wrapping token.ErrInvalid", err)
	}
	if also != nil && !errors.Is(err, also) {
		t.Fatalf("Verify = %v; want it to wrap %v too", err, also)
	}
	if c != nil {
		t.Fatalf("Verify returned claims %+v with error %v", c, err)
	}
}

func wantAccepted(t *testing.T, v *token.Verifier, tok string) *token.Claims {
	t.Helper()
	c, err := verify(t, v, tok)
	if err != nil {
		t.Fatalf("Verify = %v; want accepted", err)
	}
	return c
}

// tweak re-encodes one segment of a hand-built token (0 header, 1
// payload) with f and signs the result with k, so only the encoding rule
// can refuse it.
func (f *attackFixture) resign(t testing.TB, k *jwk.Key, hdrSeg, paySeg string) string {
	input := hdrSeg + "." + paySeg
	return input + "." + b64(signJOSE(t, k.Alg, k.Private, input))
}

// setTrailingBits sets the unused low bits of the last character of a raw
// base64url string whose length is not a multiple of 4, so it decodes to
// the same bytes under a lax decoder.
func setTrailingBits(t testing.TB, s string) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(s)%4 == 0 {
		t.Fatalf("setTrailingBits(%q): no spare bits", s)
	}
	last := strings.IndexByte(alpha, s[len(s)-1])
	spare := map[int]int{2: 0xf, 3: 0x3}[len(s)%4] // 4 or 2 unused bits
	if last&spare != 0 {
		t.Fatalf("setTrailingBits(%q): bits already set", s)
	}
	out := s[:len(s)-1] + string(alpha[last|1])
	lax, err := base64.RawURLEncoding.DecodeString(out)
	strict, _ := base64.RawURLEncoding.DecodeString(s)
	if err != nil || string(lax) != string(strict) {
		t.Fatalf("setTrailingBits: %q does not decode laxly to the same bytes", out)
	}
	return out
}

type attack struct {
	name string
	tok  func(t *testing.T, f *attackFixture) string
	also error // the reason, where Verify names one
}

func attacks() []attack {
	var rows []attack
	add := func(name string, also error, tok func(t *testing.T, f *attackFixture) string) {
		rows = append(rows, attack{name, tok, also})
	}

	// ---- alg "none" (RFC 8725 §2.1, §3.1) ----
	for _, spelling := range []string{"none", "None", "NONE", "nOnE"} {
		for _, sig := range []struct{ name, seg string }{{"empty sig", ""}, {"non-empty sig", "c2lnbmF0dXJl"}, {"real sig", "REAL"}} {
			add(fmt.Sprintf("alg %s/%s", spelling, sig.name), nil, func(t *testing.T, f *attackFixture) string {
				input := segment(t, with(header(f.ed), "alg", spelling)) + "." + segment(t, f.claims())
				if sig.seg == "REAL" {
					return input + "." + b64(signJOSE(t, jwk.EdDSA, f.ed.Private, input))
				}
				return input + "." + sig.seg
			})
		}
		add("alg "+spelling+"/no kid, no sig", nil, func(t *testing.T, f *attackFixture) string {
			return segment(t, map[string]any{"alg": spelling, "typ": "at+jwt"}) + "." + segment(t, f.claims()) + "."
		})
	}

	// ---- HS256 keyed with our public key (RFC 8725 §2.1 key confusion) ----
	pubForms := func(k *jwk.Key) map[string][]byte {
		der, _ := x509.MarshalPKIXPublicKey(k.Public)
		forms := map[string][]byte{
			"PKIX DER": der,
			"PEM":      pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		}
		if ed, ok := k.Public.(ed25519.PublicKey); ok {
			forms["raw 32 bytes"] = ed
		}
		if rk, ok := k.Public.(*rsa.PublicKey); ok {
			forms["PKCS1 PEM"] = pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(rk)})
		}
		j, _ := k.JWK()
		jb, _ := json.Marshal(j)
		forms["JWK JSON"] = jb
		forms["JWK x/n member"] = []byte(j.X + j.N)
		return forms
	}
	for which, formNames := range map[string][]string{
		"EdDSA": {"PKIX DER", "PEM", "raw 32 bytes", "JWK JSON", "JWK x/n member"},
		"RS256": {"PKIX DER", "PEM", "PKCS1 PEM", "JWK JSON", "JWK x/n member"},
	} {
		for _, form := range formNames {
			for _, hs := range []string{"HS256", "HS384", "HS512", "hs256"} {
				add(fmt.Sprintf("%s keyed with the %s key as %s", hs, which, form), nil, func(t *testing.T, f *attackFixture) string {
					k := f.ed
					if which == "RS256" {
						k = f.rs
					}
					secret := pubForms(k)[form]
					if len(secret) == 0 {
						t.Fatalf("no %s form of the %s key", form, which)
					}
					input := segment(t, with(header(k), "alg", hs)) + "." + segment(t, f.claims())
					return input + "." + b64(hs256(secret, input))
				})
			}
		}
	}

	// ---- alg/key mismatch (RFC 8725 §3.1: the algorithm is the key's) ----
	add("ES256 header, EdDSA kid, ES256 signature", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.es, with(header(f.ed), "alg", jwk.ES256), f.claims())
	})
	add("ES256 header, EdDSA kid, Ed25519 signature", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, with(header(f.ed), "alg", jwk.ES256), f.claims())
	})
	add("RS256 header, ES256 kid, RS256 signature", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.rs, with(header(f.es), "alg", jwk.RS256), f.claims())
	})
	add("EdDSA header, RS256 kid, Ed25519 signature", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, with(header(f.rs), "alg", jwk.EdDSA), f.claims())
	})
	add("RS256 header, EdDSA kid, RS256 signature", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.rs, with(header(f.ed), "alg", jwk.RS256), f.claims())
	})
	add("PS256 header, RS256 kid, PSS signature", nil, func(t *testing.T, f *attackFixture) string {
		input := segment(t, with(header(f.rs), "alg", "PS256")) + "." + segment(t, f.claims())
		sig, err := jwt.SigningMethodPS256.Sign(input, f.rs.Private)
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + b64(sig)
	})
	add("ES384 header, ES256 kid", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.es, with(header(f.es), "alg", "ES384"), f.claims())
	})
	add("Ed25519 header (RFC 9864 name), EdDSA kid", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, with(header(f.ed), "alg", "Ed25519"), f.claims())
	})
	add("eddsa lower case", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, with(header(f.ed), "alg", "eddsa"), f.claims())
	})
	add("alg missing", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, with(header(f.ed), "alg", nil), f.claims())
	})
	add("alg as array", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, with(header(f.ed), "alg", []string{"EdDSA"}), f.claims())
	})

	// ---- header members that steer key choice (RFC 8725 §3.1, RFC 7515 §4.1) ----
	attackerJWK := func(t *testing.T) map[string]any {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		return map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(pub)}
	}
	for _, member := range []string{"jwk", "jku", "x5u", "x5c", "crit", "x5t", "x5t#S256", "cty", "b64", "zip"} {
		value := func(t *testing.T, f *attackFixture) any {
			switch member {
			case "jwk":
				j, _ := f.ed.JWK() // even our own key, embedded
				return j
			case "jku", "x5u":
				return "https://attacker.example/keys"
			case "x5c":
				return []string{"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"}
			case "crit":
				return []string{"exp"}
			case "b64":
				return false
			case "zip":
				return "DEF"
			default:
				return "x"
			}
		}
		add("header with "+member, nil, func(t *testing.T, f *attackFixture) string {
			return f.forge(t, f.ed, with(header(f.ed), member, value(t, f)), f.claims())
		})
		add("header with "+member+" instead of typ", nil, func(t *testing.T, f *attackFixture) string {
			return f.forge(t, f.ed, with(header(f.ed), "typ", nil, member, value(t, f)), f.claims())
		})
	}
	add("embedded attacker jwk instead of kid, signed by attacker", nil, func(t *testing.T, f *attackFixture) string {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		hdr := map[string]any{"alg": "EdDSA", "typ": "at+jwt", "jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(pub)}}
		input := segment(t, hdr) + "." + segment(t, f.claims())
		return input + "." + b64(ed25519.Sign(priv, []byte(input)))
	})
	add("embedded attacker jwk with our kid", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, with(header(f.ed), "jwk", attackerJWK(t)), f.claims())
	})
	add("crit empty array", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, with(header(f.ed), "crit", []string{}), f.claims())
	})

	// ---- kid ----
	add("kid missing", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, with(header(f.ed), "kid", nil), f.claims())
	})
	add("kid empty", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, with(header(f.ed), "kid", ""), f.claims())
	})
	add("kid unknown", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, with(header(f.ed), "kid", "no-such-key"), f.claims())
	})
	add("kid number", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, with(header(f.ed), "kid", 1), f.claims())
	})
	add("kid array of our kid", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, with(header(f.ed), "kid", []string{f.ed.KID}), f.claims())
	})
	add("kid path traversal", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, with(header(f.ed), "kid", "../../dev/null"), f.claims())
	})
	add("kid SQL", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, with(header(f.ed), "kid", "' OR '1'='1"), f.claims())
	})
	add("kid with different case", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, with(header(f.ed), "kid", strings.ToUpper(f.ed.KID)), f.claims())
	})
	add("header is not an object", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, `["EdDSA"]`, f.claims())
	})
	add("header is null", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, `null`, f.claims())
	})

	// ---- typ (RFC 8725 §3.11, RFC 9068 §4) ----
	for _, typ := range []any{nil, "JWT", "jwt", "JOSE", "id_token+jwt", "application/jwt", "at+jwt ", " at+jwt", "at+jwt\x00", "application/at+jwt; charset=utf-8", "at-jwt", "logout+jwt", "", 1, []string{"at+jwt"}} {
		add(fmt.Sprintf("typ %#v", typ), nil, func(t *testing.T, f *attackFixture) string {
			return f.forge(t, f.ed, with(header(f.ed), "typ", typ), f.claims())
		})
	}

	// ---- iss, aud ----
	for _, iss := range []any{nil, "", "https://evil.example.com", "https://auth.example.com/", "HTTPS://AUTH.EXAMPLE.COM", []string{testIss}} {
		add(fmt.Sprintf("iss %#v", iss), nil, func(t *testing.T, f *attackFixture) string {
			return f.forge(t, f.ed, header(f.ed), with(f.claims(), "iss", iss))
		})
	}
	for _, aud := range []any{nil, "", "other", "AUTHD", []string{}, []string{"other"}, []string{""}, map[string]any{"aud": testAud}, 1, []any{testAud, 1}} {
		add(fmt.Sprintf("aud %#v", aud), nil, func(t *testing.T, f *attackFixture) string {
			return f.forge(t, f.ed, header(f.ed), with(f.claims(), "aud", aud))
		})
	}

	// ---- time ----
	add("exp past beyond leeway", token.ErrExpired, func(t *testing.T, f *attackFixture) string {
		now := f.clk.Now().Unix()
		return f.forge(t, f.ed, header(f.ed), with(f.claims(), "iat", now-700, "exp", now-int64(leeway/time.Second)-1))
	})
	add("exp exactly now minus leeway", token.ErrExpired, func(t *testing.T, f *attackFixture) string {
		now := f.clk.Now().Unix()
		return f.forge(t, f.ed, header(f.ed), with(f.claims(), "iat", now-700, "exp", now-int64(leeway/time.Second)))
	})
	add("nbf future beyond leeway", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, header(f.ed), with(f.claims(), "nbf", f.clk.Now().Unix()+int64(leeway/time.Second)+1))
	})
	add("iat future beyond leeway", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, header(f.ed), with(f.claims(), "iat", f.clk.Now().Unix()+int64(leeway/time.Second)+1))
	})
	add("exp missing", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, header(f.ed), with(f.claims(), "exp", nil))
	})
	add("exp null", nil, func(t *testing.T, f *attackFixture) string {
		c := f.claims()
		c["exp"] = json.RawMessage("null")
		return f.forge(t, f.ed, header(f.ed), c)
	})
	add("iat missing", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, header(f.ed), with(f.claims(), "iat", nil))
	})
	add("exp far past (year 1970)", token.ErrExpired, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, header(f.ed), with(f.claims(), "exp", 1, "iat", 0))
	})
	add("exp negative", token.ErrExpired, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, header(f.ed), with(f.claims(), "exp", -1))
	})

	// ---- required claims (RFC 9068 §2.2) ----
	for _, claim := range []string{"sub", "sid", "jti", "client_id"} {
		add(claim+" missing", nil, func(t *testing.T, f *attackFixture) string {
			return f.forge(t, f.ed, header(f.ed), with(f.claims(), claim, nil))
		})
		add(claim+" empty", nil, func(t *testing.T, f *attackFixture) string {
			return f.forge(t, f.ed, header(f.ed), with(f.claims(), claim, ""))
		})
	}

	// ---- claim type confusion (never coerced) ----
	for _, c := range []struct {
		claim string
		value any
	}{
		{"exp", "9999999999"}, {"exp", "1e10"}, {"exp", true}, {"exp", map[string]any{"n": 9999999999}}, {"exp", []int{9999999999}},
		{"iat", "0"}, {"nbf", "0"}, {"nbf", false},
		{"sub", 12345}, {"sub", []string{"user-1"}}, {"sub", map[string]any{}},
		{"aud", map[string]any{"0": testAud}},
		{"sid", []string{"session-1"}}, {"sid", 1},
		{"jti", 1}, {"client_id", true},
		{"scope", 42}, {"scope", []string{"read", "write"}},
		{"iss", map[string]any{"iss": testIss}},
	} {
		add(fmt.Sprintf("%s as %T %v", c.claim, c.value, c.value), nil, func(t *testing.T, f *attackFixture) string {
			return f.forge(t, f.ed, header(f.ed), with(f.claims(), c.claim, c.value))
		})
	}
	add("payload is an array", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, header(f.ed), `[1,2,3]`)
	})
	add("payload is not JSON", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, header(f.ed), `not json`)
	})
	add("payload is null", nil, func(t *testing.T, f *attackFixture) string {
		return f.forge(t, f.ed, header(f.ed), `null`)
	})

	// ---- non-canonical base64url (RFC 7515 §2, RFC 4648 §3.5) ----
	add("payload padded with =", nil, func(t *testing.T, f *attackFixture) string {
		for i := 0; ; i++ {
			c := with(f.claims(), "jti", fmt.Sprintf("jti-%d", i))
			b, _ := json.Marshal(c)
			if len(b)%3 != 0 {
				return f.resign(t, f.ed, segment(t, header(f.ed)), base64.URLEncoding.EncodeToString(b))
			}
		}
	})
	add("header padded with =", nil, func(t *testing.T, f *attackFixture) string {
		return f.resign(t, f.ed, base64.URLEncoding.EncodeToString(headerNotMultipleOf3(f)), segment(t, f.claims()))
	})
	add("signature padded with =", nil, func(t *testing.T, f *attackFixture) string {
		return f.valid(t) + "==" // 64 bytes: 86 chars + "=="
	})
	add("payload in standard alphabet (+/)", nil, func(t *testing.T, f *attackFixture) string {
		for i := 0; ; i++ {
			c := with(f.claims(), "jti", fmt.Sprintf("jti-%d-????>>>", i))
			b, _ := json.Marshal(c)
			std := base64.RawStdEncoding.EncodeToString(b)
			if strings.ContainsAny(std, "+/") {
				return f.resign(t, f.ed, segment(t, header(f.ed)), std)
			}
		}
	})
	add("signature in standard alphabet (+/)", nil, func(t *testing.T, f *attackFixture) string {
		for {
			tok := f.forge(t, f.ed, header(f.ed), with(f.claims(), "jti", rand.Text()))
			i := strings.LastIndexByte(tok, '.')
			if sig := tok[i+1:]; strings.ContainsAny(sig, "-_") {
				return tok[:i+1] + strings.NewReplacer("-", "+", "_", "/").Replace(sig)
			}
		}
	})
	add("signature with trailing bits set", nil, func(t *testing.T, f *attackFixture) string {
		tok := f.valid(t) // 64-byte signature: 86 characters, 4 spare bits
		i := strings.LastIndexByte(tok, '.')
		return tok[:i+1] + setTrailingBits(t, tok[i+1:])
	})
	add("payload with trailing bits set", nil, func(t *testing.T, f *attackFixture) string {
		for i := 0; ; i++ {
			seg := segment(t, with(f.claims(), "jti", fmt.Sprintf("jti-%d", i)))
			if len(seg)%4 != 0 {
				return f.resign(t, f.ed, segment(t, header(f.ed)), setTrailingBits(t, seg))
			}
		}
	})
	add("header with trailing bits set", nil, func(t *testing.T, f *attackFixture) string {
		return f.resign(t, f.ed, setTrailingBits(t, b64(headerNotMultipleOf3(f))), segment(t, f.claims()))
	})
	add("payload not base64", nil, func(t *testing.T, f *attackFixture) string {
		return f.resign(t, f.ed, segment(t, header(f.ed)), "!!!!")
	})

	// ---- shape ----
	add("token over 8 KiB, validly signed", nil, func(t *testing.T, f *attackFixture) string {
		tok := f.forge(t, f.ed, header(f.ed), with(f.claims(), "scope", strings.Repeat("s ", token.MaxTokenLen/2)))
		if len(tok) <= token.MaxTokenLen {
			t.Fatalf("token is %d bytes", len(tok))
		}
		return tok
	})
	add("token of MaxTokenLen+1 bytes, validly signed", nil, func(t *testing.T, f *attackFixture) string {
		return sizedToken(t, f, token.MaxTokenLen+1)
	})
	add("1 MiB of dots", nil, func(t *testing.T, f *attackFixture) string { return strings.Repeat(".", 1<<20) })
	add("garbage exactly MaxTokenLen", nil, func(t *testing.T, f *attackFixture) string {
		return strings.Repeat("A", token.MaxTokenLen)
	})
	add("garbage exactly MaxTokenLen with two dots", nil, func(t *testing.T, f *attackFixture) string {
		s := []byte(strings.Repeat("A", token.MaxTokenLen))
		s[100], s[200] = '.', '.'
		return string(s)
	})
	add("garbage exactly MaxTokenLen, binary", nil, func(t *testing.T, f *attackFixture) string {
		b := make([]byte, token.MaxTokenLen)
		rand.Read(b)
		b[10], b[20] = '.', '.'
		return string(b)
	})
	add("two segments", nil, func(t *testing.T, f *attackFixture) string {
		tok := f.valid(t)
		return tok[:strings.LastIndexByte(tok, '.')]
	})
	add("two segments with trailing dot removed sig", nil, func(t *testing.T, f *attackFixture) string {
		tok := f.valid(t)
		return tok[:strings.LastIndexByte(tok, '.')+1]
	})
	add("four segments", nil, func(t *testing.T, f *attackFixture) string { return f.valid(t) + ".e30" })
	add("four segments, empty last", nil, func(t *testing.T, f *attackFixture) string { return f.valid(t) + "." })
	add("JWE-like five segments", nil, func(t *testing.T, f *attackFixture) string { return f.valid(t) + ".a.b" })
	add("one segment", nil, func(t *testing.T, f *attackFixture) string { return segment(t, f.claims()) })
	add("empty string", nil, func(t *testing.T, f *attackFixture) string { return "" })
	add("dots only", nil, func(t *testing.T, f *attackFixture) string { return ".." })
	add("whitespace only", nil, func(t *testing.T, f *attackFixture) string { return " \t\r\n" })
	add("leading space", nil, func(t *testing.T, f *attackFixture) string { return " " + f.valid(t) })
	add("trailing space", nil, func(t *testing.T, f *attackFixture) string { return f.valid(t) + " " })
	add("trailing newline", nil, func(t *testing.T, f *attackFixture) string { return f.valid(t) + "\n" })
	add("trailing CRLF", nil, func(t *testing.T, f *attackFixture) string { return f.valid(t) + "\r\n" })
	add("newline inside signature", nil, func(t *testing.T, f *attackFixture) string {
		tok := f.valid(t)
		return tok[:len(tok)-10] + "\n" + tok[len(tok)-10:]
	})
	add("CR inside signature", nil, func(t *testing.T, f *attackFixture) string {
		tok := f.valid(t)
		return tok[:len(tok)-10] + "\r" + tok[len(tok)-10:]
	})
	add("Bearer prefix", nil, func(t *testing.T, f *attackFixture) string { return "Bearer " + f.valid(t) })
	add("NUL appended", nil, func(t *testing.T, f *attackFixture) string { return f.valid(t) + "\x00" })

	// ---- signature ----
	add("signature from another Ed25519 key, same kid", nil, func(t *testing.T, f *attackFixture) string {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		input := segment(t, header(f.ed)) + "." + segment(t, f.claims())
		return input + "." + b64(ed25519.Sign(priv, []byte(input)))
	})
	add("signature from another P-256 key, ES256 kid", nil, func(t *testing.T, f *attackFixture) string {
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		input := segment(t, header(f.es)) + "." + segment(t, f.claims())
		return input + "." + b64(signJOSE(t, jwk.ES256, priv, input))
	})
	add("signature from another RSA key, RS256 kid", nil, func(t *testing.T, f *attackFixture) string {
		priv, _ := rsa.GenerateKey(rand.Reader, 2048)
		input := segment(t, header(f.rs)) + "." + segment(t, f.claims())
		return input + "." + b64(signJOSE(t, jwk.RS256, priv, input))
	})
	add("ES256 signature in ASN.1 DER instead of r||s", nil, func(t *testing.T, f *attackFixture) string {
		input := segment(t, header(f.es)) + "." + segment(t, f.claims())
		return input + "." + b64(joseToASN1(t, signJOSE(t, jwk.ES256, f.es.Private, input)))
	})
	add("one flipped byte in payload", nil, func(t *testing.T, f *attackFixture) string {
		tok := f.valid(t)
		parts := strings.Split(tok, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		i := strings.Index(string(raw), "user-1")
		raw[i+5] = '2' // sub user-1 → user-2
		return parts[0] + "." + b64(raw) + "." + parts[2]
	})
	add("one flipped bit in signature", nil, func(t *testing.T, f *attackFixture) string {
		tok := f.valid(t)
		parts := strings.Split(tok, ".")
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[17] ^= 0x01
		return parts[0] + "." + parts[1] + "." + b64(sig)
	})
	add("signature truncated", nil, func(t *testing.T, f *attackFixture) string {
		tok := f.valid(t)
		return tok[:len(tok)-4]
	})
	add("signature empty", nil, func(t *testing.T, f *attackFixture) string {
		tok := f.valid(t)
		return tok[:strings.LastIndexByte(tok, '.')+1]
	})
	add("signature all zero", nil, func(t *testing.T, f *attackFixture) string {
		input := segment(t, header(f.ed)) + "." + segment(t, f.claims())
		return input + "." + b64(make([]byte, ed25519.SignatureSize))
	})
	add("ES256 signature r=s=0", nil, func(t *testing.T, f *attackFixture) string {
		input := segment(t, header(f.es)) + "." + segment(t, f.claims())
		return input + "." + b64(make([]byte, 64))
	})
	add("signature of another token", nil, func(t *testing.T, f *attackFixture) string {
		a := f.valid(t)
		b := f.forge(t, f.ed, header(f.ed), with(f.claims(), "sub", "admin"))
		return b[:strings.LastIndexByte(b, '.')] + a[strings.LastIndexByte(a, '.'):]
	})
	add("payload re-encoded with whitespace, old signature", nil, func(t *testing.T, f *attackFixture) string {
		tok := f.valid(t)
		parts := strings.Split(tok, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		return parts[0] + "." + b64(append([]byte(" "), raw...)) + "." + parts[2]
	})
	return rows
}

// headerNotMultipleOf3 is our valid header as JSON whose length is not a
// multiple of 3 (padded with spaces), so its base64 has padding and spare
// bits.
func headerNotMultipleOf3(f *attackFixture) []byte {
	b, _ := json.Marshal(header(f.ed))
	for len(b)%3 == 0 {
		b = append(b[:len(b)-1:len(b)-1], ' ', '}')
	}
	return b
}

// sizedToken returns a validly signed EdDSA token of exactly n bytes,
// grown through the scope claim (and the jti, to reach every length).
func sizedToken(t testing.TB, f *attackFixture, n int) string {
	t.Helper()
	for j := 0; j < 4; j++ {
		base := f.forge(t, f.ed, header(f.ed), with(f.claims(), "scope", "", "jti", "jti-1"+strings.Repeat("x", j)))
		for extra := max(0, (n-len(base))*3/4-8); extra < n; extra++ {
			tok := f.forge(t, f.ed, header(f.ed), with(f.claims(), "scope", strings.Repeat("s", extra), "jti", "jti-1"+strings.Repeat("x", j)))
			if len(tok) == n {
				return tok
			}
			if len(tok) > n {
				break
			}
		}
	}
	t.Fatalf("cannot build a token of exactly %d bytes", n)
	return ""
}

func TestVerifyAttackTable(t *testing.T) {
	f := newAttackFixture(t)
	v := f.verifier(0)
	// The control: everything the rows below change, unchanged, is
	// accepted, so a refusal is the row's doing and not the fixture's.
	c := wantAccepted(t, v, f.valid(t))
	if c.Subject != "user-1" || c.SessionID != "session-1" {
		t.Fatalf("control claims = %+v", c)
	}
	for _, k := range []*jwk.Key{f.es, f.rs} {
		wantAccepted(t, v, f.forge(t, k, header(k), f.claims()))
	}

	seen := map[string]bool{}
	for _, a := range attacks() {
		if seen[a.name] {
			t.Fatalf("duplicate row name %q", a.name)
		}
		seen[a.name] = true
		t.Run(a.name, func(t *testing.T) {
			tok := a.tok(t, f)
			wantRefused(t, v, tok, a.also)
			// Refusals are not cached: a second try is refused the same.
			wantRefused(t, v, tok, a.also)
			// Nor does the uncached path differ.
			wantRefused(t, f.verifier(-1), tok, a.also)
		})
	}
	t.Logf("%d attack rows", len(seen))
}

// TestVerifyAccepted is the other side of the table: the variations the
// rules must let through.
func TestVerifyAccepted(t *testing.T) {
	f := newAttackFixture(t)
	s := int64(leeway / time.Second)
	rows := []struct {
		name string
		tok  func(t *testing.T) string
	}{
		{"typ at+jwt", func(t *testing.T) string { return f.valid(t) }},
		{"typ AT+JWT", func(t *testing.T) string { return f.forge(t, f.ed, with(header(f.ed), "typ", "AT+JWT"), f.claims()) }},
		{"typ At+Jwt", func(t *testing.T) string { return f.forge(t, f.ed, with(header(f.ed), "typ", "At+Jwt"), f.claims()) }},
		{"typ application/at+jwt", func(t *testing.T) string {
			return f.forge(t, f.ed, with(header(f.ed), "typ", "application/at+jwt"), f.claims())
		}},
		{"typ Application/AT+JWT", func(t *testing.T) string {
			return f.forge(t, f.ed, with(header(f.ed), "typ", "Application/AT+JWT"), f.claims())
		}},
		{"aud array containing ours", func(t *testing.T) string {
			return f.forge(t, f.ed, header(f.ed), with(f.claims(), "aud", []string{"other", testAud}))
		}},
		{"aud array of ours alone", func(t *testing.T) string {
			return f.forge(t, f.ed, header(f.ed), with(f.claims(), "aud", []string{testAud}))
		}},
		{"exp within leeway", func(t *testing.T) string {
			now := f.clk.Now().Unix()
			return f.forge(t, f.ed, header(f.ed), with(f.claims(), "iat", now-600, "exp", now-s+1))
		}},
		{"nbf within leeway", func(t *testing.T) string {
			return f.forge(t, f.ed, header(f.ed), with(f.claims(), "nbf", f.clk.Now().Unix()+s-1))
		}},
		{"iat within leeway", func(t *testing.T) string {
			return f.forge(t, f.ed, header(f.ed), with(f.claims(), "iat", f.clk.Now().Unix()+s-1))
		}},
		{"scope absent", func(t *testing.T) string {
			return f.forge(t, f.ed, header(f.ed), with(f.claims(), "scope", nil))
		}},
		{"fractional exp", func(t *testing.T) string {
			return f.forge(t, f.ed, header(f.ed), with(f.claims(), "exp", float64(f.clk.Now().Unix())+600.5))
		}},
		{"header members in another order", func(t *testing.T) string {
			return f.forge(t, f.ed, fmt.Sprintf(`{"typ":"at+jwt","kid":%q,"alg":"EdDSA"}`, f.ed.KID), f.claims())
		}},
		{"unknown extra claim", func(t *testing.T) string {
			return f.forge(t, f.ed, header(f.ed), with(f.claims(), "auth_time", 1))
		}},
		{"ES256 key", func(t *testing.T) string { return f.forge(t, f.es, header(f.es), f.claims()) }},
		{"RS256 key", func(t *testing.T) string { return f.forge(t, f.rs, header(f.rs), f.claims()) }},
		{"exactly MaxTokenLen, validly signed", func(t *testing.T) string { return sizedToken(t, f, token.MaxTokenLen) }},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			for _, size := range []int{0, -1} {
				wantAccepted(t, f.verifier(size), r.tok(t))
			}
		})
	}
}

// TestVerifyLeewayCapped: a configured leeway above MaxLeeway is cut to it.
func TestVerifyLeewayCapped(t *testing.T) {
	f := newAttackFixture(t)
	v := token.NewVerifier(token.VerifierConfig{Keys: f.ring, Issuer: testIss, Audience: testAud, Leeway: time.Hour, Now: f.clk.Now, CacheSize: -1})
	now := f.clk.Now().Unix()
	max := int64(token.MaxLeeway / time.Second)
	wantAccepted(t, v, f.forge(t, f.ed, header(f.ed), with(f.claims(), "iat", now-600, "exp", now-max+1)))
	wantRefused(t, v, f.forge(t, f.ed, header(f.ed), with(f.claims(), "iat", now-600, "exp", now-max-1)), token.ErrExpired)
}

// TestVerifyRevokedOnCacheHit: the revocation set is consulted on every
// Verify, including when the token's signature check is cached.
func TestVerifyRevokedOnCacheHit(t *testing.T) {
	for _, size := range []int{0, -1} {
		t.Run(fmt.Sprintf("cache %d", size), func(t *testing.T) {
			f := newAttackFixture(t)
			v := f.verifier(size)
			tok := f.valid(t)
			other := f.forge(t, f.ed, header(f.ed), with(f.claims(), "sid", "session-2"))
			wantAccepted(t, v, tok)
			wantAccepted(t, v, tok) // a cache hit
			wantAccepted(t, v, other)
			f.rev.Add("session-1", f.clk.Now().Add(11*time.Minute))
			wantRefused(t, v, tok, token.ErrRevoked)
			wantAccepted(t, v, other) // another session is untouched
			// A token of the revoked session never verified before is
			// refused as well.
			wantRefused(t, v, f.forge(t, f.ed, header(f.ed), with(f.claims(), "jti", "jti-2")), token.ErrRevoked)
		})
	}
}

// TestVerifyCacheHonoursExpiry: a cached token is refused once its exp
// (plus leeway) has passed on the injected clock.
func TestVerifyCacheHonoursExpiry(t *testing.T) {
	f := newAttackFixture(t)
	v := f.verifier(0)
	now := f.clk.Now().Unix()
	tok := f.forge(t, f.ed, header(f.ed), with(f.claims(), "exp", now+60))
	wantAccepted(t, v, tok)
	f.clk.Advance(60 * time.Second) // at exp: within leeway
	wantAccepted(t, v, tok)
	f.clk.Advance(leeway - time.Second)
	wantAccepted(t, v, tok)
	f.clk.Advance(time.Second) // exp + leeway: expired
	wantRefused(t, v, tok, token.ErrExpired)
	// And a fresh verifier (no cache) agrees.
	wantRefused(t, f.verifier(-1), tok, token.ErrExpired)
	f.clk.Advance(5 * time.Minute)
	wantRefused(t, v, tok, token.ErrExpired)
}

// TestVerifyCacheBounded: the cache never grows past CacheSize and keeps
// working after it is cleared.
func TestVerifyCacheBounded(t *testing.T) {
	f := newAttackFixture(t)
	v := f.verifier(3)
	toks := make([]string, 10)
	for i := range toks {
		toks[i] = f.forge(t, f.ed, header(f.ed), with(f.claims(), "jti", fmt.Sprintf("jti-%d", i)))
	}
	for range 2 {
		for _, tok := range toks {
			wantAccepted(t, v, tok)
		}
	}
	f.rev.Add("session-1", f.clk.Now().Add(time.Hour))
	for _, tok := range toks {
		wantRefused(t, v, tok, token.ErrRevoked)
	}
}

// TestVerifyKeyGone: once a key is no longer published (retired and past
// Retain), a token it signed is refused by a fresh verifier.
func TestVerifyKeyGone(t *testing.T) {
	clk := newClock()
	ring := newRing(t, jwk.EdDSA, clk.Now)
	iss := newIssuer(ring, clk.Now)
	iss.TTL = time.Hour // still valid when its key is gone
	tok, _, err := iss.Issue(defaultGrant())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Rotate(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	newV := func() *token.Verifier {
		return token.NewVerifier(token.VerifierConfig{Keys: ring, Issuer: testIss, Audience: testAud, Now: clk.Now, Leeway: time.Hour})
	}
	wantAccepted(t, newV(), tok)
	clk.Advance(time.Minute + 11*time.Minute) // publish lead + default retain
	wantRefused(t, newV(), tok, token.ErrUnknownKey)
}

// TestIssueVerify is the positive table: a token issued by Issuer for each
// algorithm verifies and returns exactly the claims issued; its header is
// exactly alg, kid and typ at+jwt; its claims carry no personal data.
func TestIssueVerify(t *testing.T) {
	sizes := map[string]int{}
	for _, alg := range []string{jwk.EdDSA, jwk.ES256, jwk.RS256} {
		t.Run(alg, func(t *testing.T) {
			clk := newClock()
			clk.Advance(123456789 * time.Nanosecond) // iat truncates to the second
			ring := newRing(t, alg, clk.Now)
			key := mustSigner(t, ring)
			iss := newIssuer(ring, clk.Now)
			v := token.NewVerifier(token.VerifierConfig{Keys: ring, Issuer: testIss, Audience: testAud, Now: clk.Now})
			g := defaultGrant()
			tok, exp, err := iss.Issue(g)
			if err != nil {
				t.Fatal(err)
			}
			sizes[alg] = len(tok)
			iat := clk.Now().Truncate(time.Second)
			if !exp.Equal(iat.Add(10 * time.Minute)) {
				t.Errorf("exp = %v, want iat + TTL = %v", exp, iat.Add(10*time.Minute))
			}
			c := wantAccepted(t, v, tok)
			if len(c.ID) != 26 {
				t.Errorf("jti %q is not a 26-character random ID", c.ID)
			}
			want := token.Claims{
				Issuer: testIss, Subject: g.UserID, Audience: jwt.ClaimStrings{testAud},
				ExpiresAt: exp, IssuedAt: iat, ID: c.ID,
				SessionID: g.SessionID, ClientID: g.ClientID, Scope: g.Scope,
			}
			if !c.ExpiresAt.Equal(want.ExpiresAt) || !c.IssuedAt.Equal(want.IssuedAt) {
				t.Errorf("times = exp %v iat %v; want %v, %v", c.ExpiresAt, c.IssuedAt, want.ExpiresAt, want.IssuedAt)
			}
			c.ExpiresAt, c.IssuedAt, want.ExpiresAt, want.IssuedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if fmt.Sprintf("%#v", *c) != fmt.Sprintf("%#v", want) {
				t.Errorf("claims = %+v\nwant     %+v", *c, want)
			}

			hdr, payload, input, sig := splitJWS(t, tok)
			wantHdr := map[string]any{"alg": alg, "kid": key.KID, "typ": "at+jwt"}
			if fmt.Sprint(hdr) != fmt.Sprint(wantHdr) {
				t.Errorf("header = %v, want exactly %v", hdr, wantHdr)
			}
			keys := slices.Sorted(maps.Keys(payload))
			wantKeys := []string{"aud", "client_id", "exp", "iat", "iss", "jti", "scope", "sid", "sub"}
			if !slices.Equal(keys, wantKeys) {
				t.Errorf("claim names = %v, want exactly %v", keys, wantKeys)
			}
			for _, pii := range []string{"email", "name", "given_name", "family_name", "phone_number", "preferred_username", "address", "ip", "user_agent"} {
				if _, ok := payload[pii]; ok {
					t.Errorf("claims carry personal data %q", pii)
				}
			}
			if payload["aud"] != testAud {
				t.Errorf("aud = %#v, want the single string %q", payload["aud"], testAud)
			}
			if payload["exp"].(json.Number).String() != fmt.Sprint(exp.Unix()) {
				t.Errorf("exp = %v, want integer %d", payload["exp"], exp.Unix())
			}
			// The signature is a plain RFC 7518 one over the signing input.
			if err := rawVerify(alg, key, input, sig); err != nil {
				t.Errorf("raw %s verification of the issued token: %v", alg, err)
			}

			// NotAfter caps exp (a token never outlives its session) …
			g2 := g
			g2.NotAfter = clk.Now().Add(2*time.Minute + 500*time.Millisecond)
			tok2, exp2, err := iss.Issue(g2)
			if err != nil {
				t.Fatal(err)
			}
			if !exp2.Equal(g2.NotAfter.Truncate(time.Second)) {
				t.Errorf("NotAfter %v: exp = %v, want %v", g2.NotAfter, exp2, g2.NotAfter.Truncate(time.Second))
			}
			if c2 := wantAccepted(t, v, tok2); !c2.ExpiresAt.Equal(exp2) || c2.ExpiresAt.After(g2.NotAfter) {
				t.Errorf("NotAfter: verified exp = %v, want %v (not after %v)", c2.ExpiresAt, exp2, g2.NotAfter)
			}
			// … and a later NotAfter does not lengthen it.
			g3 := g
			g3.NotAfter = clk.Now().Add(time.Hour)
			if _, exp3, err := iss.Issue(g3); err != nil || !exp3.Equal(iat.Add(10*time.Minute)) {
				t.Errorf("late NotAfter: exp = %v, %v; want %v", exp3, err, iat.Add(10*time.Minute))
			}
			// A NotAfter already past gives a token that is refused.
			g4 := g
			g4.NotAfter = clk.Now().Add(-time.Hour)
			tok4, _, err := iss.Issue(g4)
			if err != nil {
				t.Fatal(err)
			}
			wantRefused(t, v, tok4, token.ErrExpired)

			// Two issues give two jti.
			tok5, _, _ := iss.Issue(g)
			if c5 := wantAccepted(t, v, tok5); c5.ID == c.ID {
				t.Errorf("two tokens share jti %s", c.ID)
			}
		})
	}
	t.Logf("access token sizes (default claims: 26-char IDs, iss %q, aud %q, client_id authd, scope \"read write\"):", testIss, testAud)
	t.Logf("  %-6s %5s", "alg", "bytes")
	for _, alg := range []string{jwk.EdDSA, jwk.ES256, jwk.RS256} {
		t.Logf("  %-6s %5d", alg, sizes[alg])
	}
	if n, ok := sizes[jwk.EdDSA]; ok && n >= 500 {
		t.Errorf("EdDSA token is %d bytes, want < 500", n)
	}
}

// rawVerify checks a JOSE signature with the bare primitive.
func rawVerify(alg string, k *jwk.Key, input string, sig []byte) error {
	switch alg {
	case jwk.EdDSA:
		if !ed25519.Verify(k.Public.(ed25519.PublicKey), []byte(input), sig) {
			return errors.New("ed25519: bad signature")
		}
		return nil
	case jwk.ES256:
		return jwt.SigningMethodES256.Verify(input, sig, k.Public)
	case jwk.RS256:
		return jwt.SigningMethodRS256.Verify(input, sig, k.Public)
	}
	return fmt.Errorf("unknown alg %s", alg)
}

// TestIssueNoKey: an issuer whose ring has no signing key fails cleanly.
func TestIssueNoKey(t *testing.T) {
	iss := &token.Issuer{Keys: noKeys{}, URL: testIss, Audience: testAud}
	if tok, _, err := iss.Issue(defaultGrant()); err == nil || tok != "" {
		t.Errorf("Issue without a key = %q, %v; want an error", tok, err)
	}
}

type noKeys struct{}

func (noKeys) Signer() (*jwk.Key, error)          { return nil, jwks.ErrNoSigningKey }
func (noKeys) SignerFor(string) (*jwk.Key, error) { return nil, jwks.ErrNoSigningKey }

// TestVerifyConcurrent: Verify is safe for concurrent use (run with -race)
// while the revocation set changes.
func TestVerifyConcurrent(t *testing.T) {
	f := newAttackFixture(t)
	v := f.verifier(5)
	toks := make([]string, 8)
	for i := range toks {
		toks[i] = f.forge(t, f.ed, header(f.ed), with(f.claims(), "jti", fmt.Sprint(i), "sid", fmt.Sprint("s", i)))
	}
	done := make(chan struct{})
	for w := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				_, _ = v.Verify(toks[(i+w)%len(toks)])
				if i%50 == 0 {
					f.rev.Add(fmt.Sprint("s", w), f.clk.Now().Add(time.Minute))
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	for _, tok := range toks {
		wantRefused(t, v, tok, token.ErrRevoked)
	}
}

// TestVerifyIgnoringExpiry: the logout/revocation check takes an expired
// token of ours, and refuses every attack row that is not about time.
func TestVerifyIgnoringExpiry(t *testing.T) {
	f := newAttackFixture(t)
	v := f.verifier(0)
	now := f.clk.Now().Unix()
	expired := f.forge(t, f.ed, header(f.ed), with(f.claims(), "exp", now-3600))
	wantRefused(t, v, expired, token.ErrExpired)
	c, err := v.VerifyIgnoringExpiry(expired)
	if err != nil || c.SessionID != "session-1" {
		t.Fatalf("VerifyIgnoringExpiry(expired) = %+v, %v; want its claims", c, err)
	}
	var accepted []string
	for _, a := range attacks() {
		if _, err := v.VerifyIgnoringExpiry(a.tok(t, f)); err == nil {
			accepted = append(accepted, a.name)
		} else if !errors.Is(err, token.ErrInvalid) {
			t.Errorf("%s: error %v does not wrap ErrInvalid", a.name, err)
		}
	}
	// Exactly the rows about time: genuine tokens of ours, outside their
	// validity window.
	want := []string{"exp past beyond leeway", "exp exactly now minus leeway", "nbf future beyond leeway",
		"iat future beyond leeway", "exp far past (year 1970)", "exp negative"}
	if !slices.Equal(accepted, want) {
		t.Errorf("VerifyIgnoringExpiry accepted %q, want only the time rows %q", accepted, want)
	}
}
