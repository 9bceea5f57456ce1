package main

import (
	"net/url"

	"github.com/authd/authd/jwks"
	"github.com/authd/authd/mfa"
)

// openMFA returns the second-factor service: TOTP secrets sealed under the
// KEK, named in authenticator apps by the issuer's host.
func openMFA(b *Backend, kek jwks.KEK, issuerURL string) *mfa.Service {
	name := "authd"
	if u, err := url.Parse(issuerURL); err == nil && u.Hostname() != "" {
		name = u.Hostname()
	}
	return mfa.New(mfa.Config{Store: b.MFA, KEK: kek, Issuer: name})
}
