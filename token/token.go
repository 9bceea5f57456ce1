// Package token issues and verifies authd's access tokens (RFC 9068 JWTs)
// and keeps the set of revoked sessions every verification consults. It
// also issues OpenID Connect ID tokens and back-channel logout tokens and
// checks an RP-Initiated Logout's id_token_hint (idtoken.go); each token
// type has its own typ, so none passes for another. Refresh tokens are
// package refresh's.
//
// Verification follows RFC 8725 and ASVS 5.0 V9: the algorithm comes from
// our key, never from the token; the header may carry only alg, kid and
// typ (so no jku, jwk, x5u, x5c or crit); typ must be at+jwt; iss, aud,
// exp, iat and nbf are checked with a bounded leeway; base64 must be
// canonical; tokens over 8 KiB are refused before any parsing. The JOSE
// library (golang-jwt) does the parsing and the signature maths; the rules
// are ours and tested here.
package token

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenLen is the largest access token accepted (bytes).
const MaxTokenLen = 8 << 10

// MaxLeeway is the most clock skew tolerated (RFC 8725 §3.10 leaves it to
// us; ASVS 5.0 9.2.1 wants it small).
const MaxLeeway = 60 * time.Second

// Errors returned by Verify. All are also ErrInvalid.
var (
	ErrInvalid = errors.New("invalid access token")
	ErrExpired = errors.New("access token expired")
	ErrRevoked = errors.New("access token's session was revoked")
)

// Claims are the claims of an authd access token (RFC 9068 §2.2). They
// carry no email or other personal data.
type Claims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  jwt.ClaimStrings
	ExpiresAt time.Time
	IssuedAt  time.Time
	ID        string `json:"jti"`
	SessionID string `json:"sid"`
	ClientID  string `json:"client_id"`
	Scope     string `json:"scope"`
	// AMR and ACR say how the user authenticated when the session began
	// (RFC 9068 §2.2.1, RFC 8176): e.g. ["pwd","otp","mfa"] and
	// "urn:authd:aal2". Empty for client credentials.
	AMR []string `json:"amr"`
	ACR string   `json:"acr"`
}

// wireClaims is the JSON form. Numeric dates are numericDate so a string
// or object where a number belongs is a decoding error (claim type
// confusion is refused, never coerced).
type wireClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.ClaimStrings `json:"aud"`
	ExpiresAt *numericDate     `json:"exp"`
	IssuedAt  *numericDate     `json:"iat"`
	NotBefore *numericDate     `json:"nbf,omitempty"`
	ID        string           `json:"jti"`
	SessionID string           `json:"sid"`
	ClientID  string           `json:"client_id"`
	Scope     string           `json:"scope,omitempty"`
	AMR       []string         `json:"amr,omitempty"`
	ACR       string           `json:"acr,omitempty"`
}

// numericDate is a jwt.NumericDate that must be a JSON number:
// jwt.NumericDate decodes through json.Number, which also takes a string
// holding a number ("exp":"9999999999").
type numericDate jwt.NumericDate

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return errors.New("a NumericDate claim is not a JSON number")
	}
	return (*jwt.NumericDate)(d).UnmarshalJSON(b)
}

func (c *wireClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return (*jwt.NumericDate)(c.ExpiresAt), nil
}
func (c *wireClaims) GetIssuedAt() (*jwt.NumericDate, error) {
	return (*jwt.NumericDate)(c.IssuedAt), nil
}
func (c *wireClaims) GetNotBefore() (*jwt.NumericDate, error) {
	return (*jwt.NumericDate)(c.NotBefore), nil
}
func (c *wireClaims) GetIssuer() (string, error)             { return c.Issuer, nil }
func (c *wireClaims) GetSubject() (string, error)            { return c.Subject, nil }
func (c *wireClaims) GetAudience() (jwt.ClaimStrings, error) { return c.Audience, nil }

// issueClaims is what Issue signs: aud as a single string keeps the token
// short (RFC 7519 §4.1.3 allows either form).
type issueClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  string   `json:"aud"`
	ExpiresAt int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	ID        string   `json:"jti"`
	SessionID string   `json:"sid,omitempty"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	ACR       string   `json:"acr,omitempty"`
}

func (c *issueClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.ExpiresAt, 0)), nil
}
func (c *issueClaims) GetIssuedAt() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.IssuedAt, 0)), nil
}
func (c *issueClaims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }
func (c *issueClaims) GetIssuer() (string, error)              { return c.Issuer, nil }
func (c *issueClaims) GetSubject() (string, error)             { return c.Subject, nil }
func (c *issueClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings{c.Audience}, nil
}
