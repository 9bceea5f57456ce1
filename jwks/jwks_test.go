package jwks_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/jwk"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/memstore"
)

var algs = []string{jwk.EdDSA, jwk.ES256, jwk.RS256}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

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

// keys caches generated keys: RSA generation is slow under -race.
var (
	keysMu sync.Mutex
	keys   = map[string]*jwk.Key{}
)

func generate(t testing.TB, alg string) *jwk.Key {
	t.Helper()
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keys[alg]; ok {
		return k
	}
	k, err := jwk.Generate(alg, t0, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("Generate(%s) = %v", alg, err)
	}
	keys[alg] = k
	return k
}

// signs checks that k's private key makes signatures its public key
// accepts.
func signs(t testing.TB, k *jwk.Key) {
	t.Helper()
	msg := []byte("signing input")
	h := sha256.Sum256(msg)
	var ok bool
	switch pub := k.Public.(type) {
	case ed25519.PublicKey:
		sig, err := k.Private.Sign(rand.Reader, msg, crypto.Hash(0))
		ok = err == nil && ed25519.Verify(pub, msg, sig)
	case *ecdsa.PublicKey:
		sig, err := k.Private.Sign(rand.Reader, h[:], crypto.SHA256)
		ok = err == nil && ecdsa.VerifyASN1(pub, h[:], sig)
	case *rsa.PublicKey:
		sig, err := k.Private.Sign(rand.Reader, h[:], crypto.SHA256)
		ok = err == nil && rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) == nil
	}
	if !ok {
		t.Fatalf("%s key %s: private key does not sign for its public key", k.Alg, k.KID)
	}
}

func TestGenerate(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			k := generate(t, alg)
			if k.Alg != alg || len(k.KID) != 16 || k.Private == nil || !k.RetireAt.IsZero() {
				t.Errorf("Generate = %+v", k)
			}
			if !k.CreatedAt.Equal(t0.Truncate(time.Microsecond)) || !k.ActivateAt.Equal(t0.Add(time.Minute).Truncate(time.Microsecond)) {
				t.Errorf("times = %v, %v", k.CreatedAt, k.ActivateAt)
			}
			if rk, ok := k.Public.(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
				t.Errorf("RSA key of %d bits", rk.N.BitLen())
			}
			signs(t, k)
		})
	}
	if _, err := jwk.Generate("HS256", t0, t0); err == nil {
		t.Error("Generate(HS256) succeeded")
	}
	if _, err := jwk.Generate("none", t0, t0); err == nil {
		t.Error("Generate(none) succeeded")
	}
}

func TestSealOpen(t *testing.T) {
	kek := jwks.NewKEK()
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			k := generate(t, alg)
			k2 := *k
			k2.RetireAt = t0.Add(time.Hour)
			sk, err := jwks.Seal(&k2, kek)
			if err != nil {
				t.Fatal(err)
			}
			if sk.KID != k.KID || sk.Alg != alg || !sk.CreatedAt.Equal(k.CreatedAt) || !sk.ActivateAt.Equal(k.ActivateAt) || !sk.RetireAt.Equal(k2.RetireAt) {
				t.Errorf("Seal = %+v", sk)
			}
			// The private key is not in the clear anywhere in the row.
			secret := privateBytes(t, k)
			if bytes.Contains(sk.PrivateSealed, secret) || bytes.Contains(sk.Public, secret) {
				t.Error("sealed row contains the private key in the clear")
			}
			got, err := jwks.Open(sk, kek)
			if err != nil {
				t.Fatalf("Open = %v", err)
			}
			if got.KID != k.KID || got.Alg != alg || !got.CreatedAt.Equal(k.CreatedAt) || !got.ActivateAt.Equal(k.ActivateAt) || !got.RetireAt.Equal(k2.RetireAt) {
				t.Errorf("Open = %+v", got)
			}
			if !got.Public.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public) {
				t.Error("Open: public key differs")
			}
			signs(t, got)
			// Two seals of one key differ (fresh nonce).
			sk2, _ := jwks.Seal(k, kek)
			if bytes.Equal(sk.PrivateSealed, sk2.PrivateSealed) {
				t.Error("two seals are identical: nonce reused")
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	kek := jwks.NewKEK()
	ed, rs := generate(t, jwk.EdDSA), generate(t, jwk.RS256)
	sealed := func(k *jwk.Key) *jwks.StoredKey {
		sk, err := jwks.Seal(k, kek)
		if err != nil {
			t.Fatal(err)
		}
		return sk
	}
	tests := []struct {
		name  string
		sk    func() *jwks.StoredKey
		kek   jwks.KEK
		wrong bool // want ErrWrongKEK
	}{
		{"wrong KEK", func() *jwks.StoredKey { return sealed(ed) }, jwks.NewKEK(), true},
		{"zero KEK", func() *jwks.StoredKey { return sealed(ed) }, jwks.KEK{}, true},
		{"moved to another KID", func() *jwks.StoredKey {
			sk := sealed(ed)
			sk.KID = rs.KID
			return sk
		}, kek, true},
		{"blob of another key", func() *jwks.StoredKey {
			sk := sealed(ed)
			sk.PrivateSealed = sealed(rs).PrivateSealed
			return sk
		}, kek, true},
		{"flipped ciphertext bit", func() *jwks.StoredKey {
			sk := sealed(ed)
			sk.PrivateSealed[20] ^= 1
			return sk
		}, kek, true},
		{"flipped nonce bit", func() *jwks.StoredKey {
			sk := sealed(ed)
			sk.PrivateSealed[0] ^= 1
			return sk
		}, kek, true},
		{"truncated tag", func() *jwks.StoredKey {
			sk := sealed(ed)
			sk.PrivateSealed = sk.PrivateSealed[:len(sk.PrivateSealed)-1]
			return sk
		}, kek, true},
		{"too short", func() *jwks.StoredKey {
			sk := sealed(ed)
			sk.PrivateSealed = sk.PrivateSealed[:5]
			return sk
		}, kek, false},
		{"empty", func() *jwks.StoredKey {
			sk := sealed(ed)
			sk.PrivateSealed = nil
			return sk
		}, kek, false},
		{"EdDSA key labelled RS256", func() *jwks.StoredKey {
			sk := sealed(ed)
			sk.Alg = jwk.RS256
			return sk
		}, kek, false},
		{"RSA key labelled EdDSA", func() *jwks.StoredKey {
			sk := sealed(rs)
			sk.Alg = jwk.EdDSA
			return sk
		}, kek, false},
		{"alg HS256", func() *jwks.StoredKey {
			sk := sealed(ed)
			sk.Alg = "HS256"
			return sk
		}, kek, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := jwks.Open(tt.sk(), tt.kek)
			if err == nil || k != nil {
				t.Fatalf("Open = %v, %v; want an error", k, err)
			}
			if tt.wrong != errors.Is(err, jwks.ErrWrongKEK) {
				t.Fatalf("Open = %v; ErrWrongKEK %v, want %v", err, errors.Is(err, jwks.ErrWrongKEK), tt.wrong)
			}
		})
	}
}

func TestParseKEK(t *testing.T) {
	var want jwks.KEK
	for i := range want {
		want[i] = byte(0xf8 + i) // plenty of + and / in standard base64
	}
	raw := want[:]
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"base64 std padded", base64.StdEncoding.EncodeToString(raw), true},
		{"base64 std raw", base64.RawStdEncoding.EncodeToString(raw), true},
		{"base64 url padded", base64.URLEncoding.EncodeToString(raw), true},
		{"base64 url raw", base64.RawURLEncoding.EncodeToString(raw), true},
		{"Encode()", want.Encode(), true},
		{"hex lower", hex.EncodeToString(raw), true},
		{"hex upper", strings.ToUpper(hex.EncodeToString(raw)), true},
		{"surrounding whitespace", "  " + base64.StdEncoding.EncodeToString(raw) + "\n", true},
		{"hex with newline", hex.EncodeToString(raw) + "\n", true},
		{"empty", "", false},
		{"spaces", "   ", false},
		{"31 bytes base64", base64.StdEncoding.EncodeToString(raw[:31]), false},
		{"33 bytes base64", base64.StdEncoding.EncodeToString(append(slices.Clone(raw), 0)), false},
		{"16 bytes base64", base64.StdEncoding.EncodeToString(raw[:16]), false},
		{"64 bytes base64", base64.StdEncoding.EncodeToString(append(slices.Clone(raw), raw...)), false},
		{"62 hex digits", hex.EncodeToString(raw[:31]), false},
		{"63 hex digits", hex.EncodeToString(raw)[:63], false},
		{"65 hex digits", hex.EncodeToString(raw) + "0", false},
		{"66 hex digits", hex.EncodeToString(append(slices.Clone(raw), 0)), false},
		{"64 non-hex", strings.Repeat("g", 64), false},
		{"0x prefix", "0x" + hex.EncodeToString(raw)[:62], false},
		{"+ sign and 63 hex digits", "+" + hex.EncodeToString(raw)[1:], false},
		{"- sign and 63 hex digits", "-" + hex.EncodeToString(raw)[1:], false},
		{"mixed alphabets", strings.Replace(base64.StdEncoding.EncodeToString(raw), "+", "-", 1), false},
		{"passphrase", "correct horse battery staple!!!!", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jwks.ParseKEK(tt.in)
			if tt.ok && (err != nil || got != want) {
				t.Fatalf("ParseKEK(%q) = %x, %v; want %x", tt.in, got, err, want)
			}
			if !tt.ok && err == nil {
				t.Fatalf("ParseKEK(%q) = %x; want an error", tt.in, got)
			}
		})
	}
	// Leading zero bytes survive hex.
	var zero jwks.KEK
	zero[31] = 1
	if got, err := jwks.ParseKEK(hex.EncodeToString(zero[:])); err != nil || got != zero {
		t.Errorf("ParseKEK(leading zeros hex) = %x, %v", got, err)
	}
	// NewKEK is random and round-trips through String.
	a, b := jwks.NewKEK(), jwks.NewKEK()
	if a == b || a == (jwks.KEK{}) {
		t.Error("NewKEK is not random")
	}
	if got, err := jwks.ParseKEK(a.Encode()); err != nil || got != a {
		t.Errorf("ParseKEK(Encode()) = %x, %v; want %x", got, err, a)
	}
	for _, printed := range []string{fmt.Sprint(a), fmt.Sprintf("%v %+v %#v %s", a, a, a, a), fmt.Sprint(jwks.RingConfig{KEK: a})} {
		if strings.Contains(printed, a.Encode()) || strings.Contains(printed, fmt.Sprint([32]byte(a))) {
			t.Errorf("a printed KEK shows the key: %s", printed)
		}
	}
}

// jwkRaw marshals j and returns it with its member map, the way a JWKS
// client sees it.
func jwkRaw(t testing.TB, j any) (jwk.JWK, map[string]any) {
	t.Helper()
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var jj jwk.JWK
	var raw map[string]any
	if err := json.Unmarshal(b, &jj); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	return jj, raw
}

func TestJWKRoundTrip(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			k := generate(t, alg)
			j, err := k.JWK()
			if err != nil {
				t.Fatal(err)
			}
			if j.Kid != k.KID || j.Alg != alg || j.Use != "sig" {
				t.Errorf("JWK = %+v", j)
			}
			jj, raw := jwkRaw(t, j)
			wantMembers := map[string][]string{
				jwk.EdDSA: {"alg", "crv", "kid", "kty", "use", "x"},
				jwk.ES256: {"alg", "crv", "kid", "kty", "use", "x", "y"},
				jwk.RS256: {"alg", "e", "kid", "kty", "n", "use"},
			}[alg]
			if got := slices.Sorted(maps.Keys(raw)); !slices.Equal(got, wantMembers) {
				t.Errorf("JWK members = %v, want %v", got, wantMembers)
			}
			if alg == jwk.RS256 && raw["e"] != "AQAB" {
				t.Errorf("e = %v, want AQAB", raw["e"])
			}
			got, err := jwk.ParseJWK(jj, raw)
			if err != nil {
				t.Fatalf("ParseJWK = %v", err)
			}
			if got.KID != k.KID || got.Alg != alg || got.Private != nil {
				t.Errorf("ParseJWK = %+v", got)
			}
			if !got.Public.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public) {
				t.Error("ParseJWK: public key differs")
			}
			// use may be absent.
			jj.Use = ""
			delete(raw, "use")
			if _, err := jwk.ParseJWK(jj, raw); err != nil {
				t.Errorf("ParseJWK without use = %v", err)
			}
		})
	}
}

func TestParseJWKRefuses(t *testing.T) {
	ed, es, rs := generate(t, jwk.EdDSA), generate(t, jwk.ES256), generate(t, jwk.RS256)
	pub := func(k *jwk.Key) map[string]any {
		j, err := k.JWK()
		if err != nil {
			t.Fatal(err)
		}
		_, raw := jwkRaw(t, j)
		return raw
	}
	with := func(m map[string]any, kv ...any) map[string]any {
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
	b64 := base64.RawURLEncoding.EncodeToString
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384raw, _ := p384.PublicKey.Bytes()
	edPriv := ed.Private.(ed25519.PrivateKey)

	tests := map[string]map[string]any{
		"OKP with d":                 with(pub(ed), "d", b64(edPriv.Seed())),
		"EC with d":                  with(pub(es), "d", b64(make([]byte, 32))),
		"RSA with d":                 with(pub(rs), "d", "AQAB"),
		"RSA with p":                 with(pub(rs), "p", "AQAB"),
		"RSA with q":                 with(pub(rs), "q", "AQAB"),
		"RSA with dp":                with(pub(rs), "dp", "AQAB"),
		"RSA with dq":                with(pub(rs), "dq", "AQAB"),
		"RSA with qi":                with(pub(rs), "qi", "AQAB"),
		"RSA with oth":               with(pub(rs), "oth", []any{}),
		"oct key":                    {"kty": "oct", "k": b64([]byte("secret")), "alg": "HS256", "kid": "h"},
		"OKP with k":                 with(pub(ed), "k", "AAAA"),
		"weak RSA (1024 bits)":       with(pub(rs), "n", b64(weak.N.Bytes())),
		"RSA e = 1":                  with(pub(rs), "e", "AQ"),
		"RSA e even":                 with(pub(rs), "e", "AQAA"),
		"RSA e empty":                with(pub(rs), "e", ""),
		"RSA e 5 bytes":              with(pub(rs), "e", b64([]byte{1, 0, 0, 0, 1})),
		"RSA n missing":              with(pub(rs), "n", nil),
		"OKP crv Ed448":              with(pub(ed), "crv", "Ed448"),
		"OKP crv X25519":             with(pub(ed), "crv", "X25519"),
		"OKP crv P-256":              with(pub(ed), "crv", "P-256"),
		"EC crv P-384":               with(pub(es), "crv", "P-384", "x", b64(p384raw[1:49]), "y", b64(p384raw[49:])),
		"EC crv P-384 with P-256 xy": with(pub(es), "crv", "P-384"),
		"EC crv secp256k1":           with(pub(es), "crv", "secp256k1"),
		"EC crv Ed25519":             with(pub(es), "crv", "Ed25519"),
		"EC point not on curve":      with(pub(es), "y", b64(make([]byte, 32))),
		"EC x short":                 with(pub(es), "x", b64(make([]byte, 31))),
		"OKP x short":                with(pub(ed), "x", b64(make([]byte, 31))),
		"OKP x padded":               with(pub(ed), "x", base64.URLEncoding.EncodeToString(ed.Public.(ed25519.PublicKey))),
		"OKP x std alphabet":         with(pub(ed), "x", strings.NewReplacer("-", "+", "_", "/").Replace(b64(ed.Public.(ed25519.PublicKey)))+"+/"),
		"OKP alg ES256":              with(pub(ed), "alg", jwk.ES256),
		"EC alg EdDSA":               with(pub(es), "alg", jwk.EdDSA),
		"RSA alg PS256":              with(pub(rs), "alg", "PS256"),
		"RSA alg RS512":              with(pub(rs), "alg", "RS512"),
		"alg missing":                with(pub(ed), "alg", nil),
		"alg none":                   with(pub(ed), "alg", "none"),
		"use enc":                    with(pub(ed), "use", "enc"),
		"kty lower case":             with(pub(ed), "kty", "okp"),
		"kty missing":                with(pub(ed), "kty", nil),
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			var j jwk.JWK
			b, _ := json.Marshal(raw)
			if err := json.Unmarshal(b, &j); err != nil {
				return // not even a JWK: nothing to parse
			}
			if k, err := jwk.ParseJWK(j, raw); err == nil {
				t.Fatalf("ParseJWK accepted %v as %+v", raw, k)
			}
		})
	}
}

// ring is a Ring over a fresh memstore on a fake clock.
type ring struct {
	*jwks.Ring
	clk   *fakeClock
	store jwks.Store
	kek   jwks.KEK
}

const (
	lead   = 5 * time.Minute
	retain = 20 * time.Minute
)

func newTestRing(t *testing.T, alg string) *ring {
	t.Helper()
	r := &ring{clk: &fakeClock{t: t0}, store: memstore.New(), kek: jwks.NewKEK()}
	var err error
	r.Ring, err = jwks.NewRing(context.Background(), jwks.RingConfig{
		Store: r.store, KEK: r.kek, Alg: alg, PublishLead: lead, Retain: retain, Now: r.clk.Now,
	})
	if err != nil {
		t.Fatalf("NewRing = %v", err)
	}
	return r
}

func (r *ring) signer(t *testing.T) *jwk.Key {
	t.Helper()
	k, err := r.Signer()
	if err != nil {
		t.Fatalf("Signer = %v", err)
	}
	return k
}

// published returns the KIDs in the JWKS document and checks that it
// holds public members only.
func (r *ring) published(t *testing.T) []string {
	t.Helper()
	doc, err := r.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&set); err != nil {
		t.Fatalf("JWKS %s: %v", doc, err)
	}
	if set.Keys == nil {
		t.Fatalf("JWKS %s: keys is not an array", doc)
	}
	public := map[string]bool{"kty": true, "crv": true, "x": true, "y": true, "n": true, "e": true, "kid": true, "alg": true, "use": true}
	var kids []string
	for _, k := range set.Keys {
		for m := range k {
			if !public[m] {
				t.Fatalf("JWKS member %q in %s: only public members allowed", m, doc)
			}
		}
		kids = append(kids, k["kid"].(string))
	}
	return kids
}

func (r *ring) verifiable(kid string) bool {
	_, ok := r.VerificationKey(kid)
	return ok
}

func TestRingFirstKey(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			r := newTestRing(t, alg)
			ks := r.Keys()
			if len(ks) != 1 {
				t.Fatalf("new ring on an empty store has %d keys, want 1", len(ks))
			}
			k := r.signer(t)
			if k.KID != ks[0].KID || k.Alg != alg || !k.ActivateAt.Equal(t0) {
				t.Errorf("Signer = %+v; want the first key, active now", k)
			}
			signs(t, k)
			if got := r.published(t); !slices.Equal(got, []string{k.KID}) {
				t.Errorf("JWKS kids = %v, want [%s]", got, k.KID)
			}
			stored, _ := r.store.SigningKeys(context.Background())
			if len(stored) != 1 || stored[0].KID != k.KID {
				t.Fatalf("store holds %v", stored)
			}
			// The store never holds the private key in the clear.
			if secret := privateBytes(t, k); bytes.Contains(stored[0].PrivateSealed, secret) || bytes.Contains(stored[0].Public, secret) {
				t.Error("store holds the private key unsealed")
			}
			// A second ring on the same store reuses the key.
			r2, err := jwks.NewRing(context.Background(), jwks.RingConfig{Store: r.store, KEK: r.kek, Alg: alg, Now: r.clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			if k2, _ := r2.Signer(); k2 == nil || k2.KID != k.KID || len(r2.Keys()) != 1 {
				t.Errorf("second ring: signer %v, %d keys; want the same single key", k2, len(r2.Keys()))
			}
			// One with another KEK cannot start.
			if _, err := jwks.NewRing(context.Background(), jwks.RingConfig{Store: r.store, KEK: jwks.NewKEK(), Alg: alg, Now: r.clk.Now}); !errors.Is(err, jwks.ErrWrongKEK) {
				t.Errorf("NewRing with another KEK = %v, want ErrWrongKEK", err)
			}
		})
	}
	if _, err := jwks.NewRing(context.Background(), jwks.RingConfig{Store: memstore.New(), Alg: "HS256"}); err == nil {
		t.Error("NewRing(HS256) succeeded")
	}
}

func TestRingRotation(t *testing.T) {
	ctx := context.Background()
	r := newTestRing(t, jwk.EdDSA)
	old := r.signer(t)
	r.clk.Advance(time.Hour)
	rotatedAt := r.clk.Now()
	next, err := r.Rotate(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if next.Alg != jwk.EdDSA || !next.ActivateAt.Equal(rotatedAt.Add(lead)) {
		t.Fatalf("Rotate = %+v; want EdDSA active at %v", next, rotatedAt.Add(lead))
	}
	// Published at once, newest first …
	if got := r.published(t); !slices.Equal(got, []string{next.KID, old.KID}) {
		t.Fatalf("JWKS after Rotate = %v, want [new old]", got)
	}
	if !r.verifiable(next.KID) || !r.verifiable(old.KID) {
		t.Fatal("both keys must be verification keys")
	}
	// … but the old key signs until the publish lead has passed.
	if k := r.signer(t); k.KID != old.KID {
		t.Fatalf("Signer right after Rotate = %s, want the old key", k.KID)
	}
	r.clk.Advance(lead - time.Microsecond)
	if k := r.signer(t); k.KID != old.KID {
		t.Fatalf("Signer just before the lead = %s, want the old key", k.KID)
	}
	if r.Due(time.Hour) {
		t.Error("Due with a successor pending")
	}
	r.clk.Advance(time.Microsecond)
	if k := r.signer(t); k.KID != next.KID {
		t.Fatalf("Signer at the lead = %s, want the new key", k.KID)
	}
	// The old key is retired but still published for Retain.
	retired := keyByID(t, r.Keys(), old.KID)
	if !retired.RetireAt.Equal(next.ActivateAt) {
		t.Errorf("old key RetireAt = %v, want %v", retired.RetireAt, next.ActivateAt)
	}
	r.clk.Advance(retain - time.Microsecond)
	if !r.verifiable(old.KID) || !slices.Contains(r.published(t), old.KID) {
		t.Fatal("retired key gone before Retain passed")
	}
	if n, err := r.Prune(ctx); err != nil || n != 0 {
		t.Fatalf("Prune before Retain = %d, %v; want 0", n, err)
	}
	r.clk.Advance(time.Microsecond)
	if r.verifiable(old.KID) || slices.Contains(r.published(t), old.KID) {
		t.Fatal("retired key still published after Retain")
	}
	if !r.verifiable(next.KID) {
		t.Fatal("new key not verifiable")
	}
	// Still stored until pruned.
	if len(r.Keys()) != 2 {
		t.Fatalf("%d keys before Prune, want 2", len(r.Keys()))
	}
	if n, err := r.Prune(ctx); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	if ks := r.Keys(); len(ks) != 1 || ks[0].KID != next.KID {
		t.Fatalf("after Prune: %v", ks)
	}
	stored, _ := r.store.SigningKeys(ctx)
	if len(stored) != 1 || stored[0].KID != next.KID {
		t.Fatalf("store after Prune holds %d keys", len(stored))
	}
	if n, err := r.Prune(ctx); err != nil || n != 0 {
		t.Fatalf("second Prune = %d, %v; want 0", n, err)
	}
}

// TestRingRotateTwice: a second rotation during the publish lead does not
// touch the first key's retirement; the pending key signs from its own
// activation until the newest key's, and every key is published before it
// signs.
func TestRingRotateTwice(t *testing.T) {
	ctx := context.Background()
	r := newTestRing(t, jwk.EdDSA)
	first := r.signer(t)
	r.clk.Advance(time.Minute)
	a, err := r.Rotate(ctx, jwk.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(time.Minute)
	b, err := r.Rotate(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if a.Alg != jwk.EdDSA || b.Alg != jwk.EdDSA {
		t.Fatalf("algs = %s, %s", a.Alg, b.Alg)
	}
	if got := r.published(t); !slices.Equal(got, []string{b.KID, a.KID, first.KID}) {
		t.Fatalf("JWKS = %v, want [b a first]", got)
	}
	if k := r.signer(t); k.KID != first.KID {
		t.Fatalf("signer = %s, want the first key", k.Alg)
	}
	ka := keyByID(t, r.Keys(), a.KID)
	if !ka.RetireAt.Equal(b.ActivateAt) || !keyByID(t, r.Keys(), first.KID).RetireAt.Equal(a.ActivateAt) {
		t.Fatalf("RetireAt: first %v, a %v", keyByID(t, r.Keys(), first.KID).RetireAt, ka.RetireAt)
	}
	r.clk.Advance(lead - time.Minute) // a's activation
	if k := r.signer(t); k.KID != a.KID {
		t.Fatalf("signer at a's activation = %s, want a", k.Alg)
	}
	r.clk.Advance(time.Minute) // b's activation
	if k := r.signer(t); k.KID != b.KID {
		t.Fatalf("signer after b's lead = %s, want b", k.KID)
	}
}

func TestRingDue(t *testing.T) {
	ctx := context.Background()
	r := newTestRing(t, jwk.EdDSA)
	const every = 30 * 24 * time.Hour
	if r.Due(every) || r.Due(0) || r.Due(-time.Hour) {
		t.Fatal("Due on a fresh key")
	}
	r.clk.Advance(every - time.Microsecond)
	if r.Due(every) {
		t.Fatal("Due before the key is every old")
	}
	r.clk.Advance(time.Microsecond)
	if !r.Due(every) {
		t.Fatal("not Due when the key is every old")
	}
	if r.Due(0) {
		t.Fatal("Due(0) must never be due")
	}
	if _, err := r.Rotate(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if r.Due(every) {
		t.Fatal("Due right after Rotate")
	}
	r.clk.Advance(lead + every - time.Microsecond)
	if r.Due(every) {
		t.Fatal("Due before the new key is every old")
	}
	r.clk.Advance(time.Microsecond)
	if !r.Due(every) {
		t.Fatal("not Due when the new key is every old")
	}
}

// TestRingTwoInstances: two Rings on one store (two authd instances). A
// rotation by one is seen by the other after Reload.
func TestRingTwoInstances(t *testing.T) {
	ctx := context.Background()
	a := newTestRing(t, jwk.EdDSA)
	b := &ring{clk: a.clk, store: a.store, kek: a.kek}
	var err error
	b.Ring, err = jwks.NewRing(ctx, jwks.RingConfig{Store: a.store, KEK: a.kek, PublishLead: lead, Retain: retain, Now: a.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	first := a.signer(t)
	if k := b.signer(t); k.KID != first.KID {
		t.Fatalf("instance b signs with %s, want the shared key", k.KID)
	}
	next, err := a.Rotate(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if b.verifiable(next.KID) {
		t.Fatal("b knows the new key before Reload")
	}
	if err := b.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if !b.verifiable(next.KID) || !slices.Equal(b.published(t), a.published(t)) {
		t.Fatal("b does not publish the new key after Reload")
	}
	if k := b.signer(t); k.KID != first.KID {
		t.Fatal("b signs with the new key before its lead")
	}
	a.clk.Advance(lead)
	if ka, kb := a.signer(t), b.signer(t); ka.KID != next.KID || kb.KID != next.KID {
		t.Fatalf("after the lead: a signs %s, b %s; want both %s", ka.KID, kb.KID, next.KID)
	}
	// Prune by one instance; the other drops the key after Reload.
	a.clk.Advance(retain)
	if n, err := a.Prune(ctx); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v", n, err)
	}
	if err := b.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if len(b.Keys()) != 1 {
		t.Fatalf("b holds %d keys after Reload, want 1", len(b.Keys()))
	}
}

// TestRingConcurrent: readers and a rotation race without data races.
func TestRingConcurrent(t *testing.T) {
	ctx := context.Background()
	r := newTestRing(t, jwk.EdDSA)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if k, err := r.Signer(); err != nil || !r.verifiable(k.KID) {
					t.Errorf("Signer = %v, %v; not verifiable", k, err)
					return
				}
				if _, err := r.JWKS(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 3 {
		if _, err := r.Rotate(ctx, ""); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

func keyByID(t *testing.T, ks []*jwk.Key, kid string) *jwk.Key {
	t.Helper()
	for _, k := range ks {
		if k.KID == kid {
			return k
		}
	}
	t.Fatalf("no key %s", kid)
	return nil
}

// privateBytes returns the secret part of k's private key: the Ed25519
// seed, the ECDSA scalar, the RSA private exponent.
func privateBytes(t *testing.T, k *jwk.Key) []byte {
	t.Helper()
	switch p := k.Private.(type) {
	case ed25519.PrivateKey:
		return p.Seed()
	case *ecdsa.PrivateKey:
		b, err := p.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return b
	case *rsa.PrivateKey:
		return p.D.Bytes()
	}
	t.Fatalf("private key of type %T", k.Private)
	return nil
}
