package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/authd/authd/jwks"
	"github.com/authd/authd/mfa"
	"github.com/authd/authd/passkey"
	"github.com/authd/authd/user"
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

// openPasskeys returns the passkey relying party: RP ID and origin from
// the issuer URL unless --webauthn-rp-id / --webauthn-origins say
// otherwise. An issuer on an IP address (the default --addr) can have no
// passkeys (WebAuthn RP IDs are domains): they are off, and the log says
// so; an invalid explicit setting is an error.
func openPasskeys(c *config, m *mfa.Service, users *user.Service, issuerURL string, log *slog.Logger) (*passkey.Service, error) {
	var origins []string
	for _, o := range strings.Split(c.WebAuthnOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, strings.TrimSuffix(o, "/"))
		}
	}
	rpID, origins, err := passkey.FromIssuer(issuerURL, c.WebAuthnRPID, origins)
	if err != nil {
		return nil, err
	}
	svc, err := passkey.New(passkey.Config{RPID: rpID, RPDisplayName: rpID, Origins: origins, MFA: m, Users: users})
	if err != nil {
		if c.WebAuthnRPID == "" && c.WebAuthnOrigins == "" {
			log.Warn("passkeys off: the issuer's host is no valid WebAuthn RP ID; set --issuer to a URL on a domain name, or --webauthn-rp-id and --webauthn-origins",
				"rp_id", rpID, "err", err)
			return nil, nil
		}
		return nil, fmt.Errorf("--webauthn-rp-id / --webauthn-origins: %w", err)
	}
	log.Info("passkeys", "rp_id", rpID, "origins", origins)
	return svc, nil
}
