package token_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/jwk"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/token"
)

var idAlgs = []string{jwk.EdDSA, jwk.ES256, jwk.RS256}

// idFixture is a ring signing with every algorithm (EdDSA the default,
// for access tokens), over a memstore on a fake clock, and its Issuer.
type idFixture struct {
	clk  *fakeClock
	ring *jwks.Ring
	iss  *token.Issuer
}

func newIDFixture(t testing.TB, algs ...string) *idFixture {
	t.Helper()
	if len(algs) == 0 {
		algs = idAlgs
	}
	f := &idFixture{clk: newClock()}
	var err error
	f.ring, err = jwks.NewRing(context.Background(), jwks.RingConfig{
		Store: memstore.New(), KEK: jwks.NewKEK(), Algs: algs, Now: f.clk.Now,
	})
	if err != nil {
		t.Fatalf("NewRing(%v) = %v", algs, err)
	}
	f.iss = newIssuer(f.ring, f.clk.Now)
	return f
}

func (f *idFixture) key(t testing.TB, alg string) *jwk.Key {
	t.Helper()
	k, err := f.ring.SignerFor(alg)
	if err != nil {
		t.Fatalf("SignerFor(%s) = %v", alg, err)
	}
	return k
}

// verifyJOSE checks a JWS signature by hand (RFC 7518 §3.3, §3.4; RFC 8037
// §3.1), without the JOSE library the issuer uses.
func verifyJOSE(t testing.TB, alg string, pub crypto.PublicKey, input string, sig []byte) bool {
	t.Helper()
	h := sha256.Sum256([]byte(input))
	switch alg {
	case jwk.EdDSA:
		return ed25519.Verify(pub.(ed25519.PublicKey), []byte(input), sig)
	case jwk.ES256:
		if len(sig) != 64 {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub.(*ecdsa.PublicKey), h[:], r, s)
	case jwk.RS256:
		return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, h[:], sig) == nil
	}
	t.Fatalf("verifyJOSE: alg %q", alg)
	return false
}

// leftHalf is at_hash computed here: the left half of SHA-256 (RS256,
// ES256) or SHA-512 (EdDSA with Ed25519) of the token, base64url.
func leftHalf(alg, tok string) string {
	var sum []byte
	if alg == jwk.EdDSA {
		s := sha512.Sum512([]byte(tok))
		sum = s[:]
	} else {
		s := sha256.Sum256([]byte(tok))
		sum = s[:]
	}
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// decodeJWS splits tok, checks its signature with the ring's key of alg,
// and returns its header and claims (numbers as json.Number).
func (f *idFixture) decodeJWS(t testing.TB, alg, tok string) (hdr, claims map[string]any) {
	t.Helper()
	hdr, claims, input, sig := splitJWS(t, tok)
	k := f.key(t, alg)
	if !verifyJOSE(t, alg, k.Public, input, sig) {
		t.Fatalf("the %s signature does not verify with key %s", alg, k.KID)
	}
	return hdr, claims
}

func boolp(b bool) *bool { return &b }

// TestIssueIDClaims: every claim of an ID token, exactly (OpenID Connect
// Core 1.0 §2, §3.1.3.6, §5.4), for each algorithm and each optional
// claim present or absent; the signature checked by hand with the
// ring's key of the algorithm.
func TestIssueIDClaims(t *testing.T) {
	f := newIDFixture(t)
	authTime := clockStart.Add(-3 * time.Minute).Add(123 * time.Millisecond)
	access, _, err := f.iss.Issue(defaultGrant())
	if err != nil {
		t.Fatal(err)
	}
	type variant struct {
		name string
		c    token.IDClaims
		// want are the claims besides iss, sub, aud, exp, iat and auth_time.
		want func(alg string) map[string]any
	}
	variants := []variant{
		{"every claim", token.IDClaims{
			Subject: "user-1", Audience: "c_notes", Nonce: "n-0S6_WzA2Mj", SessionID: "session-1",
			AccessToken: access, AMR: []string{"pwd", "mfa"}, AuthTime: authTime,
			Email: "alice@example.com", EmailVerified: boolp(true),
		}, func(alg string) map[string]any {
			return map[string]any{"nonce": "n-0S6_WzA2Mj", "sid": "session-1", "at_hash": leftHalf(alg, access),
				"amr": []any{"pwd", "mfa"}, "email": "alice@example.com", "email_verified": true}
		}},
		{"required claims only", token.IDClaims{Subject: "user-1", Audience: "c_notes", AuthTime: authTime},
			func(string) map[string]any { return map[string]any{} }},
		{"email not verified", token.IDClaims{Subject: "user-1", Audience: "c_notes", AuthTime: authTime,
			Email: "alice@example.com", EmailVerified: boolp(false)},
			func(string) map[string]any {
				return map[string]any{"email": "alice@example.com", "email_verified": false}
			}},
		{"email, verification unknown", token.IDClaims{Subject: "user-1", Audience: "c_notes", AuthTime: authTime,
			Email: "alice@example.com"},
			func(string) map[string]any { return map[string]any{"email": "alice@example.com"} }},
		{"at_hash and sid", token.IDClaims{Subject: "user-1", Audience: "c_notes", AuthTime: authTime,
			AccessToken: access, SessionID: "s"},
			func(alg string) map[string]any { return map[string]any{"at_hash": leftHalf(alg, access), "sid": "s"} }},
	}
	for _, alg := range append(slices.Clone(idAlgs), "") {
		for _, v := range variants {
			name := alg
			if name == "" {
				name = "default"
			}
			t.Run(name+"/"+v.name, func(t *testing.T) {
				c := v.c
				c.Alg = alg
				want := jwk.RS256
				if alg != "" {
					want = alg
				}
				tok, err := f.iss.IssueID(c)
				if err != nil {
					t.Fatalf("IssueID = %v", err)
				}
				hdr, claims := f.decodeJWS(t, want, tok)
				wantHdr := map[string]any{"alg": want, "kid": f.key(t, want).KID, "typ": "JWT"}
				if !maps.Equal(hdr, wantHdr) {
					t.Errorf("header = %v, want %v", hdr, wantHdr)
				}
				iat := clockStart.Unix()
				wantClaims := map[string]any{
					"iss": testIss, "sub": "user-1", "aud": "c_notes",
					"iat": json.Number(itoa(iat)), "exp": json.Number(itoa(iat + 600)),
					"auth_time": json.Number(itoa(authTime.Unix())),
				}
				maps.Copy(wantClaims, v.want(want))
				if got, wantKeys := slices.Sorted(maps.Keys(claims)), slices.Sorted(maps.Keys(wantClaims)); !slices.Equal(got, wantKeys) {
					t.Fatalf("claims %v, want exactly %v", got, wantKeys)
				}
				for k, w := range wantClaims {
					if !equalJSON(claims[k], w) {
						t.Errorf("claim %s = %#v, want %#v", k, claims[k], w)
					}
				}
				// aud is the client_id alone, as a string (§2 allows it),
				// so no azp (§2: only for several audiences).
				if _, ok := claims["azp"]; ok {
					t.Error("azp present with a single audience")
				}
			})
		}
	}
}

func itoa(n int64) string { return big.NewInt(n).String() }

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestATHash: known answers from OpenID Connect Core 1.0 Appendix A.3 (an
// RS256 ID token's at_hash) and from the oidc-token-hash library (panva),
// an implementation independent of ours, for SHA-256 and the SHA-512 of
// EdDSA with Ed25519; ES256 hashes with SHA-256 like RS256. IssueID puts
// the same value in the token.
func TestATHash(t *testing.T) {
	const panvaToken = "YmJiZTAwYmYtMzgyOC00NzhkLTkyOTItNjJjNDM3MGYzOWIy9sFhvH8K_x8UIHj1osisS57f5DduL-ar_qw5jl3lthwpMjm283aVMQXDmoqqqydDSqJfbhptzw8rUVwkuQbolw"
	tests := []struct {
		alg, tok, want string
	}{
		{jwk.RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "77QmUPtjPfzWtF2AnpK9RQ"}, // OIDC Core A.3
		{jwk.ES256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "77QmUPtjPfzWtF2AnpK9RQ"},
		{jwk.RS256, panvaToken, "x7vk7f6BvQj0jQHYFIk4ag"},
		{jwk.EdDSA, panvaToken, "EGEAhGYyfuwDaVTifvrWSoD5MSy_5hZPy6I7Vm-7pTQ"},
	}
	f := newIDFixture(t)
	for _, tt := range tests {
		got, err := token.ATHash(tt.alg, tt.tok)
		if err != nil || got != tt.want {
			t.Errorf("ATHash(%s, %.12s…) = %q, %v; want %q", tt.alg, tt.tok, got, err, tt.want)
		}
		if got != leftHalf(tt.alg, tt.tok) {
			t.Errorf("ATHash(%s) differs from the test's own computation", tt.alg)
		}
		tok, err := f.iss.IssueID(token.IDClaims{Subject: "u", Audience: "c", AuthTime: clockStart, AccessToken: tt.tok, Alg: tt.alg})
		if err != nil {
			t.Fatal(err)
		}
		if _, claims := f.decodeJWS(t, tt.alg, tok); claims["at_hash"] != tt.want {
			t.Errorf("%s ID token at_hash = %v, want %s", tt.alg, claims["at_hash"], tt.want)
		}
	}
	for _, alg := range []string{"HS256", "none", "PS256", "", "RS512"} {
		if h, err := token.ATHash(alg, "tok"); err == nil {
			t.Errorf("ATHash(%q) = %q; want an error", alg, h)
		}
	}
	if h, err := token.ATHash(jwk.RS256, "tök"); err == nil {
		t.Errorf("ATHash of a non-ASCII token = %q; want an error", h)
	}
}

func TestIssueIDRefuses(t *testing.T) {
	f := newIDFixture(t)
	edOnly := newIDFixture(t, jwk.EdDSA)
	ok := token.IDClaims{Subject: "user-1", Audience: "c_notes", AuthTime: clockStart}
	with := func(mod func(*token.IDClaims)) token.IDClaims {
		c := ok
		mod(&c)
		return c
	}
	tests := []struct {
		name  string
		iss   *token.Issuer
		c     token.IDClaims
		noKey bool // want jwks.ErrNoSigningKey
	}{
		{"no sub", f.iss, with(func(c *token.IDClaims) { c.Subject = "" }), false},
		{"sub of 256 characters", f.iss, with(func(c *token.IDClaims) { c.Subject = strings.Repeat("a", 256) }), false},
		{"sub not ASCII", f.iss, with(func(c *token.IDClaims) { c.Subject = "usér" }), false},
		{"no aud", f.iss, with(func(c *token.IDClaims) { c.Audience = "" }), false},
		{"no auth_time", f.iss, with(func(c *token.IDClaims) { c.AuthTime = time.Time{} }), false},
		{"alg HS256", f.iss, with(func(c *token.IDClaims) { c.Alg = "HS256" }), true},
		{"alg none", f.iss, with(func(c *token.IDClaims) { c.Alg = "none" }), true},
		{"access token not ASCII", f.iss, with(func(c *token.IDClaims) { c.AccessToken = "a\x80b" }), false},
		{"RS256 (the default) on a ring without it", edOnly.iss, ok, true},
		{"ES256 on a ring without it", edOnly.iss, with(func(c *token.IDClaims) { c.Alg = jwk.ES256 }), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := tt.iss.IssueID(tt.c)
			if err == nil || tok != "" {
				t.Fatalf("IssueID = %q, %v; want an error", tok, err)
			}
			if tt.noKey != errors.Is(err, jwks.ErrNoSigningKey) {
				t.Errorf("IssueID = %v; ErrNoSigningKey %v, want %v", err, errors.Is(err, jwks.ErrNoSigningKey), tt.noKey)
			}
		})
	}
	// The boundary: 255 characters are fine.
	if _, err := f.iss.IssueID(with(func(c *token.IDClaims) { c.Subject = strings.Repeat("a", 255) })); err != nil {
		t.Errorf("sub of 255 characters: %v", err)
	}
}

// TestIssueIDLifetime: exp is iat + IDTTL, 10 minutes by default; iat is
// the clock's second.
func TestIssueIDLifetime(t *testing.T) {
	f := newIDFixture(t, jwk.EdDSA, jwk.RS256)
	f.clk.Advance(750 * time.Millisecond)
	for _, tt := range []struct {
		ttl, want time.Duration
	}{{0, token.DefaultIDTokenTTL}, {-time.Second, token.DefaultIDTokenTTL}, {time.Hour, time.Hour}, {30 * time.Second, 30 * time.Second}} {
		f.iss.IDTTL = tt.ttl
		tok, err := f.iss.IssueID(token.IDClaims{Subject: "u", Audience: "c", AuthTime: clockStart})
		if err != nil {
			t.Fatal(err)
		}
		_, claims := f.decodeJWS(t, jwk.RS256, tok)
		iat, _ := claims["iat"].(json.Number).Int64()
		exp, _ := claims["exp"].(json.Number).Int64()
		if iat != clockStart.Unix() || time.Duration(exp-iat)*time.Second != tt.want {
			t.Errorf("IDTTL %v: iat %d, exp - iat = %ds; want iat %d, %v", tt.ttl, iat, exp-iat, clockStart.Unix(), tt.want)
		}
	}
	if token.DefaultIDTokenTTL != 10*time.Minute {
		t.Errorf("DefaultIDTokenTTL = %v", token.DefaultIDTokenTTL)
	}
}

// idTokenOfTypicalSize is an RS256 ID token with every claim a sign-in
// gives it: 26-character IDs, a 43-character nonce (32 random bytes,
// base64url), an email, amr, sid and the at_hash of a real access token.
func idTokenOfTypicalSize(t testing.TB, f *idFixture, alg string) token.IDClaims {
	t.Helper()
	access, _, err := f.iss.Issue(defaultGrant())
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 32)
	rand.Read(nonce)
	return token.IDClaims{
		Subject: rand.Text(), Audience: "c_" + strings.ToLower(rand.Text()),
		Nonce: base64.RawURLEncoding.EncodeToString(nonce), SessionID: rand.Text(),
		AccessToken: access, AMR: []string{"pwd"}, AuthTime: clockStart.Add(-time.Minute),
		Email: "alice.longfellow@mail.example.com", EmailVerified: boolp(true), Alg: alg,
	}
}

// TestIssueIDSize: an RS256 ID token with email, nonce and amr stays
// within 1 KB (it travels in the token response and, as id_token_hint, in
// a logout URL).
func TestIssueIDSize(t *testing.T) {
	f := newIDFixture(t)
	for _, alg := range idAlgs {
		tok, err := f.iss.IssueID(idTokenOfTypicalSize(t, f, alg))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s ID token with email, nonce, amr, sid, at_hash: %d bytes", alg, len(tok))
		if len(tok) > 1024 {
			t.Errorf("%s ID token of %d bytes, want ≤ 1024", alg, len(tok))
		}
	}
}

func BenchmarkIssueID(b *testing.B) {
	f := newIDFixture(b)
	for _, alg := range idAlgs {
		b.Run(alg, func(b *testing.B) {
			c := idTokenOfTypicalSize(b, f, alg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.iss.IssueID(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestIssueLogout: a logout token's header and claims, exactly (OpenID
// Connect Back-Channel Logout 1.0 §2.4).
func TestIssueLogout(t *testing.T) {
	f := newIDFixture(t)
	events := map[string]any{token.BackchannelLogoutEvent: map[string]any{}}
	tests := []struct {
		name string
		c    token.LogoutClaims
		alg  string
		want map[string]any // besides iss, aud, iat, exp, jti, events
	}{
		{"sub and sid", token.LogoutClaims{Audience: "c_notes", Subject: "user-1", SessionID: "session-1"}, jwk.RS256,
			map[string]any{"sub": "user-1", "sid": "session-1"}},
		{"sid only", token.LogoutClaims{Audience: "c_notes", SessionID: "session-1", Alg: jwk.EdDSA}, jwk.EdDSA,
			map[string]any{"sid": "session-1"}},
		{"sub only", token.LogoutClaims{Audience: "c_notes", Subject: "user-1", Alg: jwk.ES256}, jwk.ES256,
			map[string]any{"sub": "user-1"}},
		{"RS256 explicitly", token.LogoutClaims{Audience: "c_notes", SessionID: "s", Alg: jwk.RS256}, jwk.RS256,
			map[string]any{"sid": "s"}},
	}
	jtis := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := f.iss.IssueLogout(tt.c)
			if err != nil {
				t.Fatal(err)
			}
			hdr, claims := f.decodeJWS(t, tt.alg, tok)
			if want := map[string]any{"alg": tt.alg, "kid": f.key(t, tt.alg).KID, "typ": "logout+jwt"}; !maps.Equal(hdr, want) {
				t.Errorf("header %v, want %v", hdr, want)
			}
			iat := clockStart.Unix()
			want := map[string]any{"iss": testIss, "aud": "c_notes", "iat": json.Number(itoa(iat)),
				"exp": json.Number(itoa(iat + 120)), "events": events}
			maps.Copy(want, tt.want)
			jti, _ := claims["jti"].(string)
			if len(jti) < 26 || jtis[jti] {
				t.Errorf("jti %q: want a fresh random one", jti)
			}
			jtis[jti] = true
			delete(claims, "jti")
			if got, wantKeys := slices.Sorted(maps.Keys(claims)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, wantKeys) {
				t.Fatalf("claims %v (and jti), want exactly %v", got, wantKeys)
			}
			for k, w := range want {
				if !equalJSON(claims[k], w) {
					t.Errorf("claim %s = %#v, want %#v", k, claims[k], w)
				}
			}
		})
	}
	for _, c := range []token.LogoutClaims{
		{Audience: "c_notes"},          // neither sub nor sid
		{Subject: "u", SessionID: "s"}, // no aud
		{Audience: "c", Subject: "u", Alg: "HS256"},
	} {
		if tok, err := f.iss.IssueLogout(c); err == nil {
			t.Errorf("IssueLogout(%+v) = %q; want an error", c, tok)
		}
	}
	if tok, err := newIDFixture(t, jwk.EdDSA).iss.IssueLogout(token.LogoutClaims{Audience: "c", SessionID: "s"}); !errors.Is(err, jwks.ErrNoSigningKey) {
		t.Errorf("IssueLogout (RS256) on an EdDSA ring = %q, %v; want ErrNoSigningKey", tok, err)
	}
}

// TestVerifierRefusesIDAndLogoutTokens: the access-token verifier refuses
// an ID token and a logout token signed by the ring, with aud set to the
// access tokens' audience so that only the token type (typ, RFC 8725
// §3.11) can tell them apart; expired or not.
func TestVerifierRefusesIDAndLogoutTokens(t *testing.T) {
	f := newIDFixture(t)
	v := token.NewVerifier(token.VerifierConfig{Keys: f.ring, Issuer: testIss, Audience: testAud, Now: f.clk.Now})
	access, _, err := f.iss.Issue(defaultGrant())
	if err != nil {
		t.Fatal(err)
	}
	wantAccepted(t, v, access) // the control
	for _, alg := range idAlgs {
		id, err := f.iss.IssueID(token.IDClaims{Subject: "user-1", Audience: testAud, SessionID: "session-1", AuthTime: clockStart, Alg: alg})
		if err != nil {
			t.Fatal(err)
		}
		logout, err := f.iss.IssueLogout(token.LogoutClaims{Audience: testAud, Subject: "user-1", SessionID: "session-1", Alg: alg})
		if err != nil {
			t.Fatal(err)
		}
		for name, tok := range map[string]string{"ID token": id, "logout token": logout} {
			t.Run(alg+" "+name, func(t *testing.T) {
				wantRefused(t, v, tok, nil)
				if c, err := v.VerifyIgnoringExpiry(tok); err == nil || !errors.Is(err, token.ErrInvalid) {
					t.Errorf("VerifyIgnoringExpiry = %+v, %v; want refused", c, err)
				}
			})
		}
	}
}

func TestParseIDTokenHint(t *testing.T) {
	f := newIDFixture(t)
	hints := map[string]string{}
	for _, alg := range idAlgs {
		tok, err := f.iss.IssueID(token.IDClaims{Subject: "user-1", Audience: "c_notes", SessionID: "session-1",
			Nonce: "n", AuthTime: clockStart, Alg: alg, Email: "a@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		hints[alg] = tok
	}
	want := token.HintClaims{Subject: "user-1", Audience: "c_notes", SessionID: "session-1",
		IssuedAt: clockStart, ExpiresAt: clockStart.Add(token.DefaultIDTokenTTL)}
	// An expired hint is accepted (RP-Initiated Logout §2).
	for _, after := range []time.Duration{0, 11 * time.Minute, 30 * 24 * time.Hour} {
		f.clk.Advance(after)
		for alg, tok := range hints {
			c, err := token.ParseIDTokenHint(f.ring, testIss, tok)
			if err != nil {
				t.Fatalf("%s hint %v after it expired: %v", alg, after, err)
			}
			if c.Subject != want.Subject || c.Audience != want.Audience || c.SessionID != want.SessionID ||
				!c.IssuedAt.Equal(want.IssuedAt) || !c.ExpiresAt.Equal(want.ExpiresAt) || c.IssuedAt.Location() != time.UTC {
				t.Errorf("%s hint = %+v, want %+v (UTC)", alg, *c, want)
			}
		}
	}
	f.clk.Advance(clockStart.Sub(f.clk.Now()))
	// Without sid.
	tok, _ := f.iss.IssueID(token.IDClaims{Subject: "user-1", Audience: "c_notes", AuthTime: clockStart})
	if c, err := token.ParseIDTokenHint(f.ring, testIss, tok); err != nil || c.SessionID != "" || c.Subject != "user-1" {
		t.Errorf("hint without sid = %+v, %v", c, err)
	}
	// A retired key that is still published verifies what it signed
	// before retiring.
	old := f.key(t, jwk.RS256)
	if _, err := f.ring.Rotate(context.Background(), jwk.RS256); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(2 * time.Minute) // past the publish lead: old is retired
	if k, _ := f.ring.SignerFor(jwk.RS256); k.KID == old.KID {
		t.Fatal("the RS256 key did not rotate")
	}
	if _, err := token.ParseIDTokenHint(f.ring, testIss, tok); err != nil {
		t.Errorf("hint signed by a retired, still published key: %v", err)
	}
}

// TestParseIDTokenHintRefuses: the hostile hints. Each differs from an
// accepted hand-built control in what its name says and is signed by the
// ring's key unless the row is about the signature.
func TestParseIDTokenHintRefuses(t *testing.T) {
	f := newIDFixture(t)
	ctx := context.Background()
	rs, ed, es := f.key(t, jwk.RS256), f.key(t, jwk.EdDSA), f.key(t, jwk.ES256)
	now := clockStart.Unix()
	claims := map[string]any{"iss": testIss, "sub": "user-1", "aud": "c_notes", "iat": now, "exp": now + 600,
		"auth_time": now, "sid": "session-1", "nonce": "n"}
	hdr := func(k *jwk.Key) map[string]any { return map[string]any{"alg": k.Alg, "kid": k.KID, "typ": "JWT"} }
	forge := func(t testing.TB, k *jwk.Key, h, c any) string {
		input := segment(t, h) + "." + segment(t, c)
		return input + "." + b64(signJOSE(t, k.Alg, k.Private, input))
	}
	// The control, hand-built, is accepted.
	for _, k := range []*jwk.Key{rs, ed, es} {
		if _, err := token.ParseIDTokenHint(f.ring, testIss, forge(t, k, hdr(k), claims)); err != nil {
			t.Fatalf("the %s control is refused: %v", k.Alg, err)
		}
	}
	rsaPub, _ := x509.MarshalPKIXPublicKey(rs.Public)
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPub})
	foreign, err := jwk.Generate(jwk.EdDSA, clockStart, clockStart)
	if err != nil {
		t.Fatal(err)
	}
	access, _, err := f.iss.Issue(defaultGrant())
	if err != nil {
		t.Fatal(err)
	}
	logout, err := f.iss.IssueLogout(token.LogoutClaims{Audience: "c_notes", Subject: "user-1", SessionID: "session-1"})
	if err != nil {
		t.Fatal(err)
	}
	huge, err := f.iss.IssueID(token.IDClaims{Subject: "user-1", Audience: "c_notes", AuthTime: clockStart, Nonce: strings.Repeat("n", 6200)})
	if err != nil {
		t.Fatal(err)
	}
	if len(huge) <= token.MaxTokenLen {
		t.Fatalf("the oversized hint is only %d bytes", len(huge))
	}
	hmacHint := func(secret []byte) string {
		input := segment(t, map[string]any{"alg": "HS256", "kid": rs.KID, "typ": "JWT"}) + "." + segment(t, claims)
		return input + "." + b64(hs256(secret, input))
	}
	valid := forge(t, ed, hdr(ed), claims)
	parts := strings.Split(valid, ".")

	tests := []struct {
		name string
		tok  func(t *testing.T) string
	}{
		// Algorithms: never none or HMAC, and always the key's.
		{"alg none, no signature", func(t *testing.T) string {
			return segment(t, map[string]any{"alg": "none", "kid": ed.KID, "typ": "JWT"}) + "." + segment(t, claims) + "."
		}},
		{"alg none, the real signature", func(t *testing.T) string {
			return segment(t, map[string]any{"alg": "none", "kid": ed.KID, "typ": "JWT"}) + "." + parts[1] + "." + parts[2]
		}},
		{"HS256 keyed with the RSA public key (DER)", func(t *testing.T) string { return hmacHint(rsaPub) }},
		{"HS256 keyed with the RSA public key (PEM)", func(t *testing.T) string { return hmacHint(rsaPEM) }},
		{"HS256 keyed with the Ed25519 public key", func(t *testing.T) string { return hmacHint(ed.Public.(ed25519.PublicKey)) }},
		{"alg ES256 with the RS256 key's kid", func(t *testing.T) string {
			return forge(t, es, map[string]any{"alg": jwk.ES256, "kid": rs.KID, "typ": "JWT"}, claims)
		}},
		{"alg RS256 header, EdDSA key", func(t *testing.T) string {
			return forge(t, ed, map[string]any{"alg": jwk.RS256, "kid": ed.KID, "typ": "JWT"}, claims)
		}},
		{"alg PS256", func(t *testing.T) string {
			return forge(t, rs, map[string]any{"alg": "PS256", "kid": rs.KID, "typ": "JWT"}, claims)
		}},
		// Token types.
		{"an access token (at+jwt)", func(t *testing.T) string { return access }},
		{"a logout token (logout+jwt)", func(t *testing.T) string { return logout }},
		{"ID claims under typ at+jwt", func(t *testing.T) string { return forge(t, ed, with(hdr(ed), "typ", "at+jwt"), claims) }},
		{"ID claims under typ logout+jwt", func(t *testing.T) string {
			return forge(t, ed, with(hdr(ed), "typ", "logout+jwt"), claims)
		}},
		{"no typ", func(t *testing.T) string { return forge(t, ed, with(hdr(ed), "typ", nil), claims) }},
		{"typ JOSE", func(t *testing.T) string { return forge(t, ed, with(hdr(ed), "typ", "JOSE"), claims) }},
		{"typ 1", func(t *testing.T) string { return forge(t, ed, with(hdr(ed), "typ", 1), claims) }},
		{"events claim under typ JWT", func(t *testing.T) string {
			return forge(t, ed, hdr(ed), with(claims, "events", map[string]any{token.BackchannelLogoutEvent: map[string]any{}}))
		}},
		// Header members.
		{"jku in the header", func(t *testing.T) string {
			return forge(t, ed, with(hdr(ed), "jku", "https://evil.example/jwks"), claims)
		}},
		{"crit in the header", func(t *testing.T) string { return forge(t, ed, with(hdr(ed), "crit", []string{"exp"}), claims) }},
		{"no kid", func(t *testing.T) string { return forge(t, ed, with(hdr(ed), "kid", nil, "x5t", "x"), claims) }},
		{"empty kid", func(t *testing.T) string { return forge(t, ed, with(hdr(ed), "kid", ""), claims) }},
		{"unknown kid", func(t *testing.T) string { return forge(t, ed, with(hdr(ed), "kid", "no-such-kid"), claims) }},
		// Signature.
		{"signed by a foreign key under our kid", func(t *testing.T) string {
			return forge(t, foreign, hdr(ed), claims)
		}},
		{"payload changed after signing", func(t *testing.T) string {
			return parts[0] + "." + segment(t, with(claims, "sub", "admin")) + "." + parts[2]
		}},
		{"no signature", func(t *testing.T) string { return parts[0] + "." + parts[1] + "." }},
		// Claims.
		{"wrong iss", func(t *testing.T) string { return forge(t, ed, hdr(ed), with(claims, "iss", "https://evil.example")) }},
		{"iss with a trailing slash", func(t *testing.T) string { return forge(t, ed, hdr(ed), with(claims, "iss", testIss+"/")) }},
		{"no iss", func(t *testing.T) string { return forge(t, ed, hdr(ed), with(claims, "iss", nil)) }},
		{"no sub", func(t *testing.T) string { return forge(t, ed, hdr(ed), with(claims, "sub", nil)) }},
		{"empty sub", func(t *testing.T) string { return forge(t, ed, hdr(ed), with(claims, "sub", "")) }},
		{"no aud", func(t *testing.T) string { return forge(t, ed, hdr(ed), with(claims, "aud", nil)) }},
		{"two audiences", func(t *testing.T) string {
			return forge(t, ed, hdr(ed), with(claims, "aud", []string{"c_notes", "c_other"}))
		}},
		{"empty aud", func(t *testing.T) string { return forge(t, ed, hdr(ed), with(claims, "aud", "")) }},
		{"aud a number", func(t *testing.T) string { return forge(t, ed, hdr(ed), with(claims, "aud", 7)) }},
		{"no iat", func(t *testing.T) string { return forge(t, ed, hdr(ed), with(claims, "iat", nil)) }},
		{"no exp", func(t *testing.T) string { return forge(t, ed, hdr(ed), with(claims, "exp", nil)) }},
		{"exp a string", func(t *testing.T) string { return forge(t, ed, hdr(ed), with(claims, "exp", "9999999999")) }},
		{"iat a string", func(t *testing.T) string { return forge(t, ed, hdr(ed), with(claims, "iat", itoa(now))) }},
		{"payload not an object", func(t *testing.T) string { return forge(t, ed, hdr(ed), `["sub"]`) }},
		// Encoding and size.
		{"empty", func(t *testing.T) string { return "" }},
		{"one segment", func(t *testing.T) string { return parts[0] }},
		{"two segments", func(t *testing.T) string { return parts[0] + "." + parts[1] }},
		{"four segments", func(t *testing.T) string { return valid + "." + parts[2] }},
		{"trailing newline", func(t *testing.T) string { return valid + "\n" }},
		{"space inside", func(t *testing.T) string { return parts[0] + ". " + parts[1] + "." + parts[2] }},
		{"padded payload", func(t *testing.T) string {
			p := base64.URLEncoding.EncodeToString([]byte(must(json.Marshal(claims))))
			input := parts[0] + "." + p
			return input + "." + b64(signJOSE(t, ed.Alg, ed.Private, input))
		}},
		{"standard base64 alphabet", func(t *testing.T) string { return strings.NewReplacer("-", "+", "_", "/").Replace(valid) + "+/" }},
		{"JSON header not an object", func(t *testing.T) string { return forge(t, ed, `"JWT"`, claims) }},
		{"over 8 KB (a real ID token with a huge nonce)", func(t *testing.T) string { return huge }},
		{"8 KB of garbage", func(t *testing.T) string { return strings.Repeat("A", token.MaxTokenLen+1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantHintRefused(t, f.ring, tt.tok(t))
		})
	}

	// Issued after its key retired (plus the leeway): refused.
	t.Run("iat after the key retired", func(t *testing.T) {
		g := newIDFixture(t, jwk.EdDSA)
		old := g.key(t, jwk.EdDSA)
		if _, err := g.ring.Rotate(ctx, jwk.EdDSA); err != nil {
			t.Fatal(err)
		}
		g.clk.Advance(time.Hour)
		late := with(claims, "iat", g.clk.Now().Unix(), "exp", g.clk.Now().Unix()+600)
		retire := keyByKID(t, g.ring, old.KID).RetireAt
		g.clk.Advance(-time.Hour + 2*time.Minute) // still published (Retain)
		if !g.clk.Now().After(retire) {
			t.Fatalf("the old key has not retired (%v)", retire)
		}
		if _, err := token.ParseIDTokenHint(g.ring, testIss, forge(t, old, hdr(old), claims)); err != nil {
			t.Fatalf("a hint the retired key signed before retiring: %v", err)
		}
		wantHintRefused(t, g.ring, forge(t, old, hdr(old), late))
	})
	// Signed by a key since revoked: refused.
	t.Run("revoked key", func(t *testing.T) {
		g := newIDFixture(t, jwk.EdDSA)
		k := g.key(t, jwk.EdDSA)
		tok := forge(t, k, hdr(k), claims)
		if _, err := token.ParseIDTokenHint(g.ring, testIss, tok); err != nil {
			t.Fatal(err)
		}
		if _, err := g.ring.Revoke(ctx, k.KID); err != nil {
			t.Fatal(err)
		}
		wantHintRefused(t, g.ring, tok)
	})
	// Another issuer's key set: the kid is unknown.
	t.Run("another ring", func(t *testing.T) {
		wantHintRefused(t, newIDFixture(t, jwk.EdDSA).ring, valid)
	})
}

func wantHintRefused(t *testing.T, keys token.Keys, tok string) {
	t.Helper()
	var c *token.HintClaims
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("ParseIDTokenHint panicked: %v", p)
			}
		}()
		c, err = token.ParseIDTokenHint(keys, testIss, tok)
	}()
	if err == nil || c != nil {
		t.Fatalf("ParseIDTokenHint = %+v, %v; want refused", c, err)
	}
	if !errors.Is(err, token.ErrInvalidHint) {
		t.Fatalf("ParseIDTokenHint = %v; want it to wrap ErrInvalidHint", err)
	}
}

func keyByKID(t *testing.T, r *jwks.Ring, kid string) *jwk.Key {
	t.Helper()
	for _, k := range r.Keys() {
		if k.KID == kid {
			return k
		}
	}
	t.Fatalf("no key %s", kid)
	return nil
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
