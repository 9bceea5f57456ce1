package client

import (
	"slices"
	"strings"
)

// RedirectAllowed reports whether uri, a redirect_uri sent to the
// authorize endpoint, is one of the client's RedirectURIs. The comparison
// is exact, byte for byte (RFC 9700 §4.1.3; OAuth 2.1 §2.3.1): no case
// folding, no trailing-slash, percent-encoding or path normalisation, no
// extra query, fragment or userinfo. The one exception is RFC 8252 §7.3: a
// native app listening on the loopback interface gets a port from the OS
// at run time, so a registered http://127.0.0.1/path or http://[::1]/path
// (with or without a port) matches the same URI with any port.
func (c *Client) RedirectAllowed(uri string) bool {
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	host, rest, ok := splitLoopback(uri)
	if !ok {
		return false
	}
	for _, reg := range c.RedirectURIs {
		if h, r, ok := splitLoopback(reg); ok && h == host && r == rest {
			return true
		}
	}
	return false
}

// splitLoopback splits an http URI on a loopback IP literal into the host
// and what follows the port. ok is false for anything else, including
// look-alikes (http://127.0.0.1.evil.example/, http://127.0.0.1@evil/), a
// port that is empty, has a leading zero or is out of range, and a URI
// with a fragment.
func splitLoopback(uri string) (host, rest string, ok bool) {
	if strings.Contains(uri, "#") {
		return "", "", false
	}
	for _, h := range []string{"http://127.0.0.1", "http://[::1]"} {
		after, found := strings.CutPrefix(uri, h)
		if !found {
			continue
		}
		if port, found := strings.CutPrefix(after, ":"); found {
			n := 0
			for n < len(port) && n < 6 && '0' <= port[n] && port[n] <= '9' {
				n++
			}
			if n == 0 || n > 5 || port[0] == '0' || (n == 5 && port[:5] > "65535") {
				return "", "", false
			}
			after = port[n:]
		}
		if after != "" && after[0] != '/' && after[0] != '?' {
			return "", "", false
		}
		return h, after, true
	}
	return "", "", false
}

// PostLogoutAllowed reports whether uri, a post_logout_redirect_uri sent
// to the end-session endpoint (OpenID Connect RP-Initiated Logout 1.0
// §3), is one of the client's PostLogoutRedirectURIs, compared exactly.
func (c *Client) PostLogoutAllowed(uri string) bool {
	return slices.Contains(c.PostLogoutRedirectURIs, uri)
}

// Grants returns the grant types the client may use: GrantTypes, or when
// it is empty the defaults, authorization_code and refresh_token, plus
// client_credentials for a confidential client. A public client never
// gets client_credentials (RFC 6749 §4.4: it has no credentials).
func (c *Client) Grants() []string {
	gts := c.GrantTypes
	if len(gts) == 0 {
		gts = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}
	}
	if c.Public {
		return slices.DeleteFunc(slices.Clone(gts), func(gt string) bool { return gt == GrantClientCredentials })
	}
	return slices.Clone(gts)
}

// AllowsGrant reports whether the client may use the grant type gt (see
// Grants).
func (c *Client) AllowsGrant(gt string) bool {
	return slices.Contains(c.Grants(), gt)
}

// AllowsScopes reports whether the client may ask for every one of
// scopes: an empty Scopes allows any.
func (c *Client) AllowsScopes(scopes []string) bool {
	if len(c.Scopes) == 0 {
		return true
	}
	for _, sc := range scopes {
		if !slices.Contains(c.Scopes, sc) {
			return false
		}
	}
	return true
}
