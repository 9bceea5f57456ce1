package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authd/authd/jwk"
	"github.com/golang-jwt/jwt/v5"
)

// DefaultIDTokenTTL is an ID token's lifetime unless Issuer.IDTTL says
// otherwise. An ID token is consumed by the client right after the token
// response (OpenID Connect Core 1.0 §3.1.3.7 checks its exp then); it
// authorises nothing afterwards, so it needs no longer than an access
// token. A shorter lifetime also keeps it within the retention of its
// signing key after a rotation (jwks.RingConfig.Retain).
const DefaultIDTokenTTL = 10 * time.Minute

// LogoutTokenTTL is a logout token's lifetime: it is delivered at once
// by a back-channel POST (OpenID Connect Back-Channel Logout 1.0 §2.4
// recommends a short one, "such as two minutes").
const LogoutTokenTTL = 2 * time.Minute

// BackchannelLogoutEvent is the member of a logout token's events claim
// (OpenID Connect Back-Channel Logout 1.0 §2.4).
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// JOSE typ values (RFC 8725 §3.11 explicit typing): ID tokens carry
// "JWT", as OpenID Connect Core 1.0 has them; logout tokens "logout+jwt"
// (Back-Channel Logout 1.0 §2.4); access tokens "at+jwt" (RFC 9068).
const (
	TypeIDToken     = "JWT"
	TypeLogoutToken = "logout+jwt"
)

// IDClaims is what an ID token is issued for (OpenID Connect Core 1.0 §2).
type IDClaims struct {
	// Subject is sub, the user's ID (at most 255 ASCII characters, §2).
	Subject string
	// Audience is aud: the client_id of the client the token is for. It is
	// the sole audience, so the token carries no azp (§2: azp is needed
	// only when the audiences are several or the party is another).
	Audience string
	// Nonce is the nonce of the authentication request (§3.1.2.1), copied
	// unchanged; empty: omitted. Bound its length where it is received.
	Nonce string
	// SessionID is sid, the authd session, which Front- and Back-Channel
	// Logout name; empty: omitted.
	SessionID string
	// AccessToken, when set, is the access token issued with this ID
	// token: the token carries its at_hash (§3.1.3.6).
	AccessToken string
	// AMR are the authentication methods (amr, RFC 8176 values such as
	// "pwd"); empty: omitted.
	AMR []string
	// ACR is the assurance level the authentication meets (acr, §2);
	// empty: omitted.
	ACR string
	// AuthTime is when the user authenticated (auth_time, §2). Required:
	// authd always knows it, and §3.1.2.1 requires the claim when the
	// client sent max_age.
	AuthTime time.Time
	// Email and EmailVerified are the email scope's claims (§5.4);
	// empty and nil are omitted.
	Email         string
	EmailVerified *bool
	// Alg signs the token: the client's id_token_signed_response_alg.
	// Empty: RS256, the algorithm every relying party supports (§15.1).
	Alg string
}

// idWire is the JSON of an ID token, in this member order.
type idWire struct {
	Issuer        string   `json:"iss"`
	Subject       string   `json:"sub"`
	Audience      string   `json:"aud"`
	ExpiresAt     int64    `json:"exp"`
	IssuedAt      int64    `json:"iat"`
	AuthTime      int64    `json:"auth_time"`
	Nonce         string   `json:"nonce,omitempty"`
	SessionID     string   `json:"sid,omitempty"`
	ATHash        string   `json:"at_hash,omitempty"`
	AMR           []string `json:"amr,omitempty"`
	ACR           string   `json:"acr,omitempty"`
	Email         string   `json:"email,omitempty"`
	EmailVerified *bool    `json:"email_verified,omitempty"`
}

// IssueID signs an ID token for c (OpenID Connect Core 1.0 §2, §3.1.3.3):
// JOSE header alg, kid and typ "JWT"; claims iss, sub, aud, exp (iat +
// IDTTL), iat, auth_time, then nonce, sid, at_hash, amr, email and
// email_verified when given. It is signed with the ring's key of c.Alg.
func (i *Issuer) IssueID(c IDClaims) (string, error) {
	alg := c.Alg
	if alg == "" {
		alg = jwk.RS256
	}
	switch {
	case c.Subject == "" || len(c.Subject) > 255 || !isASCII(c.Subject):
		return "", errors.New("issue ID token: sub must be 1 to 255 ASCII characters (OpenID Connect Core §2)")
	case c.Audience == "":
		return "", errors.New("issue ID token: no audience (client_id)")
	case c.AuthTime.IsZero():
		return "", errors.New("issue ID token: auth_time unknown")
	}
	w := &idWire{
		Issuer: i.URL, Subject: c.Subject, Audience: c.Audience,
		AuthTime: c.AuthTime.Unix(), Nonce: c.Nonce, SessionID: c.SessionID,
		AMR: c.AMR, ACR: c.ACR, Email: c.Email, EmailVerified: c.EmailVerified,
	}
	if c.AccessToken != "" {
		h, err := ATHash(alg, c.AccessToken)
		if err != nil {
			return "", fmt.Errorf("issue ID token: %w", err)
		}
		w.ATHash = h
	}
	ttl := i.IDTTL
	if ttl <= 0 {
		ttl = DefaultIDTokenTTL
	}
	iat := i.now().Truncate(time.Second)
	w.IssuedAt, w.ExpiresAt = iat.Unix(), iat.Add(ttl).Unix()
	key, err := i.Keys.SignerFor(alg)
	if err != nil {
		return "", fmt.Errorf("issue ID token: %w", err)
	}
	s, err := signJWS(key, TypeIDToken, w)
	if err != nil {
		return "", fmt.Errorf("issue ID token: %w", err)
	}
	return s, nil
}

// ATHash is the at_hash of accessToken for an ID token signed with alg
// (OpenID Connect Core 1.0 §3.1.3.6): the base64url encoding of the left
// half of the hash of its ASCII octets, the hash being the one of alg:
// SHA-256 for RS256 and ES256, SHA-512 for EdDSA, which authd uses with
// Ed25519 only (Ed25519 hashes with SHA-512, RFC 8032 §5.1; the OpenID
// Connect working group's reading, connect issue #1125).
func ATHash(alg, accessToken string) (string, error) {
	if !isASCII(accessToken) {
		return "", errors.New("at_hash: the access token is not ASCII")
	}
	var sum []byte
	switch alg {
	case jwk.RS256, jwk.ES256:
		h := sha256.Sum256([]byte(accessToken))
		sum = h[:]
	case jwk.EdDSA:
		h := sha512.Sum512([]byte(accessToken))
		sum = h[:]
	default:
		return "", fmt.Errorf("at_hash: no hash for algorithm %q", alg)
	}
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), nil
}

// LogoutClaims is what a logout token is issued for (OpenID Connect
// Back-Channel Logout 1.0 §2.4). Subject and SessionID may both be set;
// at least one must be.
type LogoutClaims struct {
	Audience  string // aud: the client_id of the client told
	Subject   string // sub, the user's ID; empty: omitted
	SessionID string // sid, the session ended; empty: omitted
	// Alg is the client's ID-token algorithm (its ID tokens and logout
	// tokens are checked with the same keys); empty: RS256.
	Alg string
}

// logoutWire is the JSON of a logout token. It has no nonce: §2.4 forbids
// one, so a logout token can never pass for an ID token.
type logoutWire struct {
	Issuer    string              `json:"iss"`
	Subject   string              `json:"sub,omitempty"`
	Audience  string              `json:"aud"`
	IssuedAt  int64               `json:"iat"`
	ExpiresAt int64               `json:"exp"`
	ID        string              `json:"jti"`
	SessionID string              `json:"sid,omitempty"`
	Events    map[string]struct{} `json:"events"`
}

// IssueLogout signs a logout token for c (OpenID Connect Back-Channel
// Logout 1.0 §2.4): header typ "logout+jwt"; claims iss, sub and/or sid,
// aud, iat, exp (iat + LogoutTokenTTL), a fresh jti, and events holding
// the back-channel logout event as an empty object.
func (i *Issuer) IssueLogout(c LogoutClaims) (string, error) {
	alg := c.Alg
	if alg == "" {
		alg = jwk.RS256
	}
	switch {
	case c.Audience == "":
		return "", errors.New("issue logout token: no audience (client_id)")
	case c.Subject == "" && c.SessionID == "":
		return "", errors.New("issue logout token: neither sub nor sid (Back-Channel Logout §2.4 wants one)")
	}
	key, err := i.Keys.SignerFor(alg)
	if err != nil {
		return "", fmt.Errorf("issue logout token: %w", err)
	}
	iat := i.now().Truncate(time.Second)
	s, err := signJWS(key, TypeLogoutToken, &logoutWire{
		Issuer: i.URL, Subject: c.Subject, Audience: c.Audience,
		IssuedAt: iat.Unix(), ExpiresAt: iat.Add(LogoutTokenTTL).Unix(),
		ID: rand.Text(), SessionID: c.SessionID,
		Events: map[string]struct{}{BackchannelLogoutEvent: {}},
	})
	if err != nil {
		return "", fmt.Errorf("issue logout token: %w", err)
	}
	return s, nil
}

func (i *Issuer) now() time.Time {
	if i.Now != nil {
		return i.Now()
	}
	return time.Now()
}

// joseHeader is the header of every token authd signs: exactly these
// three members, which is all a verifier of ours accepts.
type joseHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// signJWS returns the compact JWS of claims signed with key, header typ.
func signJWS(key *jwk.Key, typ string, claims any) (string, error) {
	method := jwt.GetSigningMethod(key.Alg)
	if !jwk.Supported(key.Alg) || method == nil || key.Private == nil {
		return "", fmt.Errorf("key %s cannot sign %q", key.KID, key.Alg)
	}
	hdr, err := json.Marshal(joseHeader{Alg: key.Alg, Kid: key.KID, Typ: typ})
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	b64 := base64.RawURLEncoding.EncodeToString
	input := b64(hdr) + "." + b64(body)
	sig, err := method.Sign(input, key.Private)
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// ErrInvalidHint means an id_token_hint is not an ID token authd issued.
var ErrInvalidHint = errors.New("invalid id_token_hint")

// HintClaims are what an id_token_hint tells about the session to end.
type HintClaims struct {
	Subject   string // sub
	Audience  string // aud: the client_id the ID token was issued to
	SessionID string // sid; empty when the token had none
	IssuedAt  time.Time
	ExpiresAt time.Time // may be past: see ParseIDTokenHint
}

// hintWire is the JSON of an ID token as ParseIDTokenHint reads it.
type hintWire struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.ClaimStrings `json:"aud"`
	ExpiresAt *numericDate     `json:"exp"`
	IssuedAt  *numericDate     `json:"iat"`
	SessionID string           `json:"sid"`
	// Events marks a logout token (which its typ already refuses).
	Events json.RawMessage `json:"events"`
}

func (c *hintWire) GetExpirationTime() (*jwt.NumericDate, error) {
	return (*jwt.NumericDate)(c.ExpiresAt), nil
}
func (c *hintWire) GetIssuedAt() (*jwt.NumericDate, error) {
	return (*jwt.NumericDate)(c.IssuedAt), nil
}
func (c *hintWire) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }
func (c *hintWire) GetIssuer() (string, error)              { return c.Issuer, nil }
func (c *hintWire) GetSubject() (string, error)             { return c.Subject, nil }
func (c *hintWire) GetAudience() (jwt.ClaimStrings, error)  { return c.Audience, nil }

// hintParser checks signatures and header algorithms, not claims: the
// claims rules are ParseIDTokenHint's.
var hintParser = jwt.NewParser(
	jwt.WithValidMethods([]string{jwk.EdDSA, jwk.ES256, jwk.RS256}),
	jwt.WithStrictDecoding(),
	jwt.WithoutClaimsValidation(),
)

// ParseIDTokenHint checks the id_token_hint of an RP-Initiated Logout
// request (OpenID Connect RP-Initiated Logout 1.0 §2) and returns its sub,
// aud and sid. The hint must be an ID token authd issued: at most
// MaxTokenLen bytes of canonical base64url; a header of exactly alg, kid
// and typ "JWT" (so an access token, at+jwt, or a logout token,
// logout+jwt, is refused); signed by a key keys publishes, with that
// key's algorithm (never none or HS*: RFC 8725 §3.1), issued before the
// key retired (jwk.Key.Verifies); iss equal to issuer; one audience; sub,
// iat and exp present. exp need not be in the future: §2 has the OP
// accept an expired hint, which still names the session and the client.
// A hint signed by a key no longer published (pruned after a rotation, or
// revoked) is refused: the OP then asks the user to confirm the logout.
// Every error wraps ErrInvalidHint.
func ParseIDTokenHint(keys Keys, issuer, raw string) (*HintClaims, error) {
	if len(raw) > MaxTokenLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidHint, MaxTokenLen)
	}
	for i := 0; i < len(raw); i++ {
		if !jwsChar[raw[i]] {
			return nil, fmt.Errorf("%w: byte %d is not base64url", ErrInvalidHint, i)
		}
	}
	var w hintWire
	_, err := hintParser.ParseWithClaims(raw, &w, func(t *jwt.Token) (any, error) {
		if len(t.Header) != 3 {
			return nil, errors.New("header must have exactly alg, typ and kid")
		}
		alg, _ := t.Header["alg"].(string)
		typ, _ := t.Header["typ"].(string)
		kid, _ := t.Header["kid"].(string)
		if !strings.EqualFold(typ, TypeIDToken) {
			return nil, fmt.Errorf("typ %q is not an ID token's (JWT)", typ)
		}
		if kid == "" {
			return nil, errors.New("kid missing")
		}
		key, ok := keys.VerificationKey(kid)
		if !ok {
			return nil, ErrUnknownKey
		}
		if alg != key.Alg || t.Method.Alg() != key.Alg {
			return nil, fmt.Errorf("alg %q does not match key %s (%s)", alg, key.KID, key.Alg)
		}
		if w.IssuedAt != nil && !key.Verifies(w.IssuedAt.Time) {
			return nil, ErrRetiredKey
		}
		return key.Public, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidHint, err)
	}
	switch {
	case w.Issuer != issuer:
		return nil, fmt.Errorf("%w: iss %q is not %q", ErrInvalidHint, w.Issuer, issuer)
	case w.Subject == "" || w.IssuedAt == nil || w.ExpiresAt == nil:
		return nil, fmt.Errorf("%w: a required claim (sub, iat, exp) is missing", ErrInvalidHint)
	case len(w.Audience) != 1 || w.Audience[0] == "":
		return nil, fmt.Errorf("%w: want exactly one audience, got %d", ErrInvalidHint, len(w.Audience))
	case w.Events != nil:
		return nil, fmt.Errorf("%w: a logout token is not an ID token", ErrInvalidHint)
	}
	return &HintClaims{
		Subject: w.Subject, Audience: w.Audience[0], SessionID: w.SessionID,
		IssuedAt: w.IssuedAt.Time.UTC(), ExpiresAt: w.ExpiresAt.Time.UTC(),
	}, nil
}
