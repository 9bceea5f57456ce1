package token

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/authd/authd/jwk"
	"github.com/golang-jwt/jwt/v5"
)

// Signers gives the keys to sign with. jwks.Ring implements it.
type Signers interface {
	// Signer returns the key of the default algorithm, which signs
	// access tokens.
	Signer() (*jwk.Key, error)
	// SignerFor returns the key of alg, for ID and logout tokens (each
	// client's id_token_signed_response_alg); an error when there is
	// none.
	SignerFor(alg string) (*jwk.Key, error)
}

// Issuer mints access tokens, ID tokens and logout tokens.
type Issuer struct {
	Keys Signers
	// URL is the issuer identifier, the tokens' iss: authd's public URL,
	// as its RFC 8414 metadata names it and verifiers expect it.
	URL      string
	Audience string        // aud of access tokens
	TTL      time.Duration // access tokens' lifetime; default 10 minutes
	// IDTTL is ID tokens' lifetime; default DefaultIDTokenTTL.
	IDTTL time.Duration
	Now   func() time.Time
}

// Grant is what an access token is issued for.
type Grant struct {
	UserID    string
	SessionID string
	ClientID  string
	Scope     string
	// NotAfter caps the token's expiry (the session's own end), so a
	// token never outlives its session.
	NotAfter time.Time
	// AMR and ACR are how the session's user authenticated (amr, acr;
	// RFC 9068 §2.2.1); empty: omitted.
	AMR []string
	ACR string
}

// Issue signs an access token for g and returns it with its expiry.
func (i *Issuer) Issue(g Grant) (string, time.Time, error) {
	key, err := i.Keys.Signer()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue access token: %w", err)
	}
	now := time.Now
	if i.Now != nil {
		now = i.Now
	}
	ttl := i.TTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	iat := now().Truncate(time.Second)
	exp := iat.Add(ttl)
	if !g.NotAfter.IsZero() && g.NotAfter.Before(exp) {
		exp = g.NotAfter.Truncate(time.Second)
	}
	method := jwt.GetSigningMethod(key.Alg)
	if method == nil {
		return "", time.Time{}, fmt.Errorf("issue access token: no signing method for %s", key.Alg)
	}
	t := jwt.NewWithClaims(method, &issueClaims{
		Issuer: i.URL, Subject: g.UserID, Audience: i.Audience,
		ExpiresAt: exp.Unix(), IssuedAt: iat.Unix(),
		ID: rand.Text(), SessionID: g.SessionID, ClientID: g.ClientID, Scope: g.Scope,
		AMR: g.AMR, ACR: g.ACR,
	})
	// RFC 9068 §2.1: typ is at+jwt, so an access token can never be
	// mistaken for an ID token or another JWT.
	t.Header = map[string]any{"alg": key.Alg, "typ": "at+jwt", "kid": key.KID}
	s, err := t.SignedString(key.Private)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue access token: %w", err)
	}
	return s, exp, nil
}
