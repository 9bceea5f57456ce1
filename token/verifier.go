package token

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/authd/authd/jwk"
	"github.com/golang-jwt/jwt/v5"
)

// Keys finds verification keys by ID. jwks.Ring implements it, and so does
// a remote JWKS cache in a resource server. A key it returns must also
// pass Key.Verifies for the token's iat (a retired key verifies only what
// it signed before retiring); a revoked key must not be returned at all.
type Keys interface {
	VerificationKey(kid string) (*jwk.Key, bool)
}

// Revocations reports whether a session was revoked. RevocationSet
// implements it.
type Revocations interface {
	Revoked(sessionID string) bool
}

// VerifierConfig configures a Verifier. Keys, Issuer and Audience are
// required.
type VerifierConfig struct {
	Keys     Keys
	Issuer   string
	Audience string
	// Leeway tolerates clock skew on exp, nbf and iat; capped at MaxLeeway.
	// Zero means 30 s.
	Leeway time.Duration
	// Revocations, if set, refuses tokens of revoked sessions. It is
	// consulted on every Verify, including cache hits.
	Revocations Revocations
	// CacheSize bounds the verified-token cache (0: 10,000; negative: no
	// cache). A client re-sends the same token until it expires, so its
	// signature is checked once, and its claims are remembered, keyed by
	// the whole token (the map hashes it with a per-process random seed and
	// compares it in full on a hit), until its expiry. A SHA-256 key would
	// cost 0.5 µs per request for nothing: the map never trusts a hash
	// alone. A hit still asks Keys for the token's key, so a key revoked
	// since the token was cached stops it at once.
	CacheSize int
	Now       func() time.Time
}

// Verifier checks access tokens offline.
type Verifier struct {
	cfg    VerifierConfig
	parser *jwt.Parser
	// anyTime is parser without the time rules, for VerifyIgnoringExpiry;
	// it checks iss and aud itself.
	anyTime *jwt.Parser
	cache   *verified
}

// NewVerifier returns a Verifier.
func NewVerifier(cfg VerifierConfig) *Verifier {
	if cfg.Leeway <= 0 {
		cfg.Leeway = 30 * time.Second
	}
	cfg.Leeway = min(cfg.Leeway, MaxLeeway)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10_000
	}
	v := &Verifier{cfg: cfg}
	v.parser = jwt.NewParser(
		// Only asymmetric algorithms we sign with; "none", "HS256" (the
		// public-key-as-HMAC-secret attack) and anything else never reach
		// a key. The key then has to agree with the header (keyFor).
		jwt.WithValidMethods([]string{jwk.EdDSA, jwk.ES256, jwk.RS256}),
		jwt.WithStrictDecoding(), // canonical base64url only
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	)
	v.anyTime = jwt.NewParser(
		jwt.WithValidMethods([]string{jwk.EdDSA, jwk.ES256, jwk.RS256}),
		jwt.WithStrictDecoding(),
		jwt.WithoutClaimsValidation(),
	)
	if cfg.CacheSize > 0 {
		// Sized up front: growing the map would land on first-sight requests.
		v.cache = &verified{max: cfg.CacheSize, m: make(map[string]cached, min(cfg.CacheSize, 100_000))}
	}
	return v
}

// Verify checks an access token and returns its claims. Every failure
// wraps ErrInvalid (and ErrExpired or ErrRevoked where that is the reason).
func (v *Verifier) Verify(tok string) (*Claims, error) {
	if len(tok) > MaxTokenLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxTokenLen)
	}
	now := v.cfg.Now()
	if v.cache != nil {
		if e, ok := v.cache.get(tok); ok {
			if !now.Before(e.c.ExpiresAt.Add(v.cfg.Leeway)) {
				return nil, fmt.Errorf("%w: %w", ErrInvalid, ErrExpired)
			}
			// The key may have been revoked since: one look-up in the
			// key set (tens of ns), no signature.
			if key, ok := v.cfg.Keys.VerificationKey(e.kid); !ok || !key.Verifies(e.c.IssuedAt) {
				return nil, fmt.Errorf("%w: %w", ErrInvalid, ErrUnknownKey)
			}
			return v.checkRevoked(e.c)
		}
	}
	c, kid, err := v.parse(tok, v.parser)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(tok, cached{c: c, kid: kid})
	}
	return v.checkRevoked(c)
}

// VerifyIgnoringExpiry applies every rule of Verify (signature, header,
// iss, aud, required claims) except the time rules and the revocation
// check. It is for ending a token's session (logout, RFC 7009 revocation)
// with a token that has just expired: a client whose tab slept past the
// token's lifetime must still be able to sign out, and "already logged
// out" would be false while the session and its refresh token live on.
// Never use it to authorise anything else.
func (v *Verifier) VerifyIgnoringExpiry(tok string) (*Claims, error) {
	if len(tok) > MaxTokenLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxTokenLen)
	}
	c, _, err := v.parse(tok, v.anyTime)
	if err != nil {
		return nil, err
	}
	if c.Issuer != v.cfg.Issuer || !slices.Contains(c.Audience, v.cfg.Audience) {
		return nil, fmt.Errorf("%w: wrong iss or aud", ErrInvalid)
	}
	return c, nil
}

// parse checks the token's bytes, its header (keyFor), its signature and,
// with v.parser, its time and iss/aud claims; then the claims RFC 9068
// requires. It returns the claims and the kid of the key that verified.
func (v *Verifier) parse(tok string, parser *jwt.Parser) (*Claims, string, error) {
	// Only the base64url alphabet and the dots: Go's base64 decoders skip
	// CR and LF even in strict mode, so "token\n" would otherwise verify.
	// (Checked after the cache: only tokens that passed it are cached.)
	for i := 0; i < len(tok); i++ {
		if !jwsChar[tok[i]] {
			return nil, "", fmt.Errorf("%w: byte %d is not base64url", ErrInvalid, i)
		}
	}
	var wc wireClaims
	t, err := parser.ParseWithClaims(tok, &wc, v.keyFor)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, "", fmt.Errorf("%w: %w", ErrInvalid, ErrExpired)
		}
		return nil, "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// RFC 9068 §2.2: these claims are required.
	if wc.Subject == "" || wc.ID == "" || wc.IssuedAt == nil || wc.ExpiresAt == nil || wc.ClientID == "" {
		return nil, "", fmt.Errorf("%w: a required claim (sub, jti, iat, exp, client_id) is missing", ErrInvalid)
	}
	// sid names the session the token lives and dies with. Only a
	// client_credentials token has none: its sub is the client itself
	// (RFC 9068 §2.2), and Claims.Client says so.
	if wc.SessionID == "" && wc.Subject != wc.ClientID {
		return nil, "", fmt.Errorf("%w: a required claim (sid) is missing", ErrInvalid)
	}
	kid, _ := t.Header["kid"].(string)
	return &Claims{
		Issuer: wc.Issuer, Subject: wc.Subject, Audience: wc.Audience,
		ExpiresAt: wc.ExpiresAt.Time, IssuedAt: wc.IssuedAt.Time,
		ID: wc.ID, SessionID: wc.SessionID, ClientID: wc.ClientID, Scope: wc.Scope, AMR: wc.AMR, ACR: wc.ACR,
	}, kid, nil
}

func (v *Verifier) checkRevoked(c *Claims) (*Claims, error) {
	if c.SessionID != "" && v.cfg.Revocations != nil && v.cfg.Revocations.Revoked(c.SessionID) {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, ErrRevoked)
	}
	return c, nil
}

// keyFor enforces the header rules and picks the key. It runs before any
// signature check.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	// RFC 8725 §3.1, §2.3 (jku/jwk/x5u steer the key choice to the
	// attacker), RFC 7515 §4.1.11 (crit we do not understand): the header
	// may hold exactly alg, typ and kid.
	if len(t.Header) != 3 {
		return nil, errors.New("header must have exactly alg, typ and kid")
	}
	alg, _ := t.Header["alg"].(string)
	typ, _ := t.Header["typ"].(string)
	kid, _ := t.Header["kid"].(string)
	// RFC 9068 §4 / RFC 8725 §3.11: explicit typing.
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, errors.New("typ is not at+jwt")
	}
	if kid == "" {
		return nil, errors.New("kid missing")
	}
	key, ok := v.cfg.Keys.VerificationKey(kid)
	if !ok {
		return nil, ErrUnknownKey
	}
	// RFC 8725 §3.1: the algorithm is the key's, never the token's.
	if alg != key.Alg || t.Method.Alg() != key.Alg {
		return nil, fmt.Errorf("alg %q does not match key %s (%s)", alg, key.KID, key.Alg)
	}
	// A retired key verifies only tokens issued before its retirement
	// (plus jwk.RetireLeeway): authd no longer signs with it, so a later
	// iat is a forgery or a confused instance (RFC 8725 §3.10 leaves the
	// time rules to the verifier). The claims are decoded before keyFor
	// runs; a missing iat is refused after the signature check.
	if wc, ok := t.Claims.(*wireClaims); ok && wc.IssuedAt != nil && !key.Verifies(wc.IssuedAt.Time) {
		return nil, ErrRetiredKey
	}
	return key.Public, nil
}

// jwsChar marks the bytes a compact JWS may hold.
var jwsChar = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_." {
		t[c] = true
	}
	return t
}()

// ErrUnknownKey means the token names a key we do not publish (never
// published, past its retention, or revoked).
var ErrUnknownKey = errors.New("unknown kid")

// ErrRetiredKey means the token's iat is after its key's retirement.
var ErrRetiredKey = errors.New("token issued after its signing key retired")

// verified is the verified-token cache.
type verified struct {
	mu  sync.RWMutex
	max int
	m   map[string]cached
}

// cached is a verified token's claims and the kid of its key.
type cached struct {
	c   *Claims
	kid string
}

func (c *verified) get(tok string) (cached, bool) {
	c.mu.RLock()
	v, ok := c.m[tok]
	c.mu.RUnlock()
	return v, ok
}

func (c *verified) put(tok string, v cached) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m) // tokens are re-verified once each; no LRU needed
	}
	c.m[tok] = v
	c.mu.Unlock()
}
