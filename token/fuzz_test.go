package token_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/jwk"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/token"
	"github.com/golang-jwt/jwt/v5"
)

// fuzzAlgs are the algorithms of the fuzz key ring, one key each.
var fuzzAlgs = []string{jwk.EdDSA, jwk.ES256, jwk.RS256}

// ringSet publishes the keys of several rings, so one Verifier knows a
// key of every algorithm (and a header can name the wrong one).
type ringSet []*jwks.Ring

func (rs ringSet) VerificationKey(kid string) (*jwk.Key, bool) {
	for _, r := range rs {
		if k, ok := r.VerificationKey(kid); ok {
			return k, ok
		}
	}
	return nil, false
}

// fuzzKit is a real key ring (one key per algorithm, from memstore) with
// one genuine token signed by each key.
type fuzzKit struct {
	now     time.Time
	keys    ringSet
	signers []*jwk.Key
	tokens  []string
	claims  []*token.Claims
	v       *token.Verifier
}

func newFuzzKit(f *testing.F) *fuzzKit {
	clock := newClock()
	k := &fuzzKit{now: clock.Now()}
	for _, alg := range fuzzAlgs {
		r := newRing(f, alg, clock.Now)
		s := mustSigner(f, r)
		k.keys = append(k.keys, r)
		k.signers = append(k.signers, s)
	}
	// No cache: every call parses, so each input is judged on its own.
	k.v = token.NewVerifier(token.VerifierConfig{Keys: k.keys, Issuer: testIss, Audience: testAud, CacheSize: -1, Now: clock.Now})
	for i := range fuzzAlgs {
		iss := newIssuer(k.keys[i], clock.Now)
		tok, _, err := iss.Issue(defaultGrant())
		if err != nil {
			f.Fatal(err)
		}
		c, err := k.v.Verify(tok)
		if err != nil {
			f.Fatalf("Verify(genuine %s token) = %v", fuzzAlgs[i], err)
		}
		k.tokens, k.claims = append(k.tokens, tok), append(k.claims, c)
	}
	return k
}

// expand builds a token from a template, so committed seeds can mutate
// tokens whose keys only exist in this process:
//
//	{T}            the genuine token of the chosen key; {H} {P} {S} its segments
//	{KID}          the chosen key's ID
//	`json`         base64url of the text between back-quotes ({KID} expanded)
//	{SIG}          base64url of a real signature by the chosen key over
//	               everything before it, less one trailing '.'
//	{MAC}          the same with HS256, keyed by the chosen public key's bytes
//	               (the algorithm-confusion forgery)
func (k *fuzzKit) expand(i int, tmpl string) (tok string, signedByUs bool) {
	parts := strings.Split(k.tokens[i], ".")
	kid := k.signers[i].KID
	var b strings.Builder
	for len(tmpl) > 0 && b.Len() <= 2*token.MaxTokenLen {
		switch {
		case tmpl[0] == '`':
			end := strings.IndexByte(tmpl[1:], '`')
			if end < 0 {
				b.WriteString(tmpl)
				tmpl = ""
				continue
			}
			b.WriteString(b64([]byte(strings.ReplaceAll(tmpl[1:end+1], "{KID}", kid))))
			tmpl = tmpl[end+2:]
			continue
		case strings.HasPrefix(tmpl, "{SIG}"), strings.HasPrefix(tmpl, "{MAC}"):
			input := strings.TrimSuffix(b.String(), ".")
			var sig []byte
			if tmpl[1] == 'S' {
				var err error
				sig, err = jwt.GetSigningMethod(fuzzAlgs[i]).Sign(input, k.signers[i].Private)
				if err != nil {
					panic(err)
				}
				signedByUs = true
			} else {
				sig = hs256(publicBytes(k.signers[i].Public), input)
			}
			b.WriteString(b64(sig))
			tmpl = tmpl[5:]
			continue
		}
		done := false
		for _, m := range []struct{ name, val string }{
			{"{T}", k.tokens[i]}, {"{H}", parts[0]}, {"{P}", parts[1]}, {"{S}", parts[2]}, {"{KID}", kid},
		} {
			if strings.HasPrefix(tmpl, m.name) {
				b.WriteString(m.val)
				tmpl, done = tmpl[len(m.name):], true
				break
			}
		}
		if !done {
			b.WriteByte(tmpl[0])
			tmpl = tmpl[1:]
		}
	}
	return b.String(), signedByUs
}

func publicBytes(pub crypto.PublicKey) []byte {
	if ed, ok := pub.(ed25519.PublicKey); ok {
		return ed
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return der
}

// FuzzVerify is an access token from an Authorization header through
// Verifier.Verify and VerifyIgnoringExpiry, on a real key ring. Whatever
// the token, nothing panics, and a token is accepted only when an
// independent check agrees: three canonical base64url segments, a header
// of exactly alg, typ (at+jwt) and kid where alg is the named key's own
// (so "none", HS256 and other confusions are refused), a signature that
// the standard library verifies under that key, and claims that are the
// payload's. A token the test did not sign itself ({SIG}) is accepted only
// when its signed part is a genuine token's, with that token's claims: no
// mutation is ever accepted as anything else.
func FuzzVerify(f *testing.F) {
	k := newFuzzKit(f)
	for i := range fuzzAlgs {
		f.Add(uint8(i), "{T}", []byte(nil))
		f.Add(uint8(i), "{H}.{P}.{S}A", []byte(nil))
		f.Add(uint8(i), "{P}.{H}.{S}", []byte(nil))
		f.Add(uint8(i), "`{\"alg\":\"none\",\"typ\":\"at+jwt\",\"kid\":\"{KID}\"}`.{P}.", []byte(nil))
		f.Add(uint8(i), "`{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"{KID}\"}`.{P}.{MAC}", []byte(nil))
		f.Add(uint8(i), "`{\"alg\":\""+fuzzAlgs[(i+1)%3]+"\",\"typ\":\"at+jwt\",\"kid\":\"{KID}\"}`.{P}.{SIG}", []byte(nil))
		f.Add(uint8(i), "`{\"alg\":\""+fuzzAlgs[i]+"\",\"typ\":\"at+jwt\",\"kid\":\"{KID}\",\"jku\":\"https://evil\"}`.{P}.{SIG}", []byte(nil))
		f.Add(uint8(i), "{H}.`{\"iss\":\"https://auth.example.com\",\"sub\":\"u\",\"aud\":[\"x\",\"authd\"],\"exp\":1893553745,\"iat\":1893553445,\"jti\":\"j\",\"sid\":\"s\",\"client_id\":\"authd\"}`.{SIG}", []byte(nil))
		f.Add(uint8(i), "{H}.`{\"iss\":\"https://auth.example.com\",\"sub\":\"u\",\"aud\":\"authd\",\"exp\":\"1893553745\",\"iat\":1893553445,\"jti\":\"j\",\"sid\":\"s\",\"client_id\":\"authd\"}`.{SIG}", []byte(nil))
	}
	f.Add(uint8(0), "{T}", []byte{0, 5, 'x'})     // a byte of the header replaced
	f.Add(uint8(1), "{T}", []byte{1, 0, 0})       // a byte of the payload deleted
	f.Add(uint8(2), "{T}", []byte{255, 255, '.'}) // a dot appended
	f.Fuzz(func(t *testing.T, alg uint8, tmpl string, edits []byte) {
		i := int(alg) % len(fuzzAlgs)
		tok, signedByUs := k.expand(i, tmpl)
		tok = edit(tok, edits)
		c, err := k.v.Verify(tok)
		if err == nil {
			k.judge(t, "Verify", tok, c, signedByUs, true)
		}
		c2, err2 := k.v.VerifyIgnoringExpiry(tok)
		if err2 == nil {
			k.judge(t, "VerifyIgnoringExpiry", tok, c2, signedByUs, false)
		} else if err == nil {
			t.Fatalf("Verify accepted %q, VerifyIgnoringExpiry refused it: %v", tok, err2)
		}
	})
}

// judge fails unless tok, which fn accepted with claims c, passes the
// independent check described at FuzzVerify.
func (k *fuzzKit) judge(t *testing.T, fn, tok string, c *token.Claims, signedByUs, timed bool) {
	t.Helper()
	fail := func(why string, args ...any) {
		t.Helper()
		t.Fatalf("%s accepted %q: "+why, append([]any{fn, tok}, args...)...)
	}
	if len(tok) > token.MaxTokenLen || strings.Trim(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") != "" {
		fail("too long, or a byte outside base64url")
	}
	seg := strings.Split(tok, ".")
	if len(seg) != 3 {
		fail("%d segments", len(seg))
	}
	raw := make([][]byte, 3)
	for j, s := range seg {
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil || b64(b) != s {
			fail("segment %d is not canonical base64url", j)
		}
		raw[j] = b
	}
	var hdr map[string]any
	if err := json.Unmarshal(raw[0], &hdr); err != nil || len(hdr) != 3 {
		fail("header %s is not exactly alg, typ and kid", raw[0])
	}
	alg, _ := hdr["alg"].(string)
	typ, _ := hdr["typ"].(string)
	kid, _ := hdr["kid"].(string)
	key, ok := k.keys.VerificationKey(kid)
	switch {
	case !ok:
		fail("unknown kid %q", kid)
	case alg != key.Alg:
		fail("alg %q on a %s key", alg, key.Alg)
	case !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt"):
		fail("typ %q", typ)
	}
	input := seg[0] + "." + seg[1]
	if !verifies(key, input, raw[2]) {
		fail("the standard library does not verify its %s signature", key.Alg)
	}
	if !signedByUs {
		// Only the genuine tokens were signed: the signed part must be
		// one of theirs (an ECDSA signature may still differ), and so
		// must the claims.
		j := slices.IndexFunc(k.tokens, func(g string) bool { return strings.HasPrefix(g, input+".") })
		if j < 0 {
			fail("its signed part is no genuine token's")
		}
		if !sameClaims(c, k.claims[j]) {
			fail("claims %+v, the genuine token's are %+v", c, k.claims[j])
		}
		return
	}
	k.judgeClaims(t, fail, raw[1], c, timed)
}

// judgeClaims compares accepted claims with the payload, decoded here.
// Payloads with duplicate, null or case-variant member names are skipped:
// encoding/json's rules for those (last wins, null ignored, names matched
// without case) are the verifier's business, and only a payload authd
// signed itself ({SIG}) reaches this point.
func (k *fuzzKit) judgeClaims(t *testing.T, fail func(string, ...any), payload []byte, c *token.Claims, timed bool) {
	t.Helper()
	names := []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "client_id", "scope"}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || !json.Valid(payload) {
		fail("payload %s is not one JSON object", payload)
	}
	if ambiguous(payload, names) {
		return
	}
	str := func(n string) string {
		s, ok := m[n].(string)
		if _, present := m[n]; present && !ok {
			fail("claim %s is %T, not a string", n, m[n])
		}
		return s
	}
	num := func(n string) (float64, bool) {
		v, present := m[n]
		if !present {
			return 0, false
		}
		jn, ok := v.(json.Number)
		f, err := jn.Float64()
		if !ok || err != nil {
			fail("claim %s is %v, not a number", n, v)
		}
		return f, true
	}
	var aud []string
	switch a := m["aud"].(type) {
	case string:
		aud = []string{a}
	case []any:
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				fail("aud holds %T", x)
			}
			aud = append(aud, s)
		}
	default:
		fail("aud is %T", a)
	}
	if str("iss") != testIss || !slices.Contains(aud, testAud) {
		fail("iss %q, aud %q", str("iss"), aud)
	}
	for _, n := range []string{"sub", "jti", "sid", "client_id"} {
		if str(n) == "" {
			fail("%s is missing", n)
		}
	}
	exp, hasExp := num("exp")
	iat, hasIat := num("iat")
	if !hasExp || !hasIat {
		fail("exp or iat is missing")
	}
	now := float64(k.now.Unix())
	leeway := (30 * time.Second).Seconds()
	nbf, hasNbf := num("nbf")
	if timed && (exp < now-leeway-1 || iat > now+leeway+1 || (hasNbf && nbf > now+leeway+1)) {
		fail("exp %v, iat %v, nbf %v at %v", exp, iat, nbf, now)
	}
	want := &token.Claims{
		Issuer: str("iss"), Subject: str("sub"), Audience: aud, ID: str("jti"),
		SessionID: str("sid"), ClientID: str("client_id"), Scope: str("scope"),
		ExpiresAt: c.ExpiresAt, IssuedAt: c.IssuedAt,
	}
	if !sameClaims(c, want) || math.Abs(float64(c.ExpiresAt.Unix())-exp) > 1 || math.Abs(float64(c.IssuedAt.Unix())-iat) > 1 {
		fail("claims %+v, the payload says %s", c, payload)
	}
}

// ambiguous reports whether the payload's top-level members repeat a name,
// hold null, or spell a claim name in another case.
func ambiguous(payload []byte, names []string) bool {
	var members map[string]json.RawMessage
	if json.Unmarshal(payload, &members) != nil {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.Token() // '{'
	count := 0
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return true
		}
		name, _ := t.(string)
		var v json.RawMessage
		if dec.Decode(&v) != nil || string(v) == "null" {
			return true
		}
		for _, n := range names {
			if name != n && strings.EqualFold(name, n) {
				return true
			}
		}
		count++
	}
	return count != len(members)
}

func sameClaims(a, b *token.Claims) bool {
	return a.Issuer == b.Issuer && a.Subject == b.Subject && slices.Equal(a.Audience, b.Audience) &&
		a.ID == b.ID && a.SessionID == b.SessionID && a.ClientID == b.ClientID && a.Scope == b.Scope &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.IssuedAt.Equal(b.IssuedAt)
}

// edit applies byte edits to tok, three bytes each: a position (two
// bytes, modulo the length + 1) and a byte that replaces the one there
// (appends at the end), or 0 to delete it.
func edit(tok string, edits []byte) string {
	b := []byte(tok)
	for ; len(edits) >= 3; edits = edits[3:] {
		pos := (int(edits[0])<<8 | int(edits[1])) % (len(b) + 1)
		switch {
		case edits[2] == 0 && pos < len(b):
			b = append(b[:pos], b[pos+1:]...)
		case pos == len(b):
			b = append(b, edits[2])
		default:
			b[pos] = edits[2]
		}
	}
	return string(b)
}

// verifies checks a JWS signature with the standard library alone.
func verifies(key *jwk.Key, input string, sig []byte) bool {
	h := sha256.Sum256([]byte(input))
	switch pub := key.Public.(type) {
	case ed25519.PublicKey:
		return key.Alg == jwk.EdDSA && ed25519.Verify(pub, []byte(input), sig)
	case *ecdsa.PublicKey:
		if key.Alg != jwk.ES256 || len(sig) != 64 {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub, h[:], r, s)
	case *rsa.PublicKey:
		return key.Alg == jwk.RS256 && rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) == nil
	}
	return false
}
