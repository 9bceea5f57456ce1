package client

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/authd/authd"
)

// Registration limits.
const (
	maxURIs     = 20   // redirect URIs, and post-logout redirect URIs, per client
	maxURILen   = 2000 // bytes per URI
	maxScopes   = 32   // scopes per client (and per consent grant)
	maxScopeLen = 128  // bytes per scope token
)

// ID token signing algorithms a client may ask for
// (id_token_signed_response_alg); "" is RS256.
var idTokenAlgs = []string{"RS256", "ES256", "EdDSA"}

var grantTypes = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantPassword}

// client validates r and returns the client it registers, without ID,
// secret or creation time. Empty slices become nil.
func (r Registration) client() (*Client, error) {
	name := strings.TrimSpace(r.Name)
	if name == "" || len(name) > 100 || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return nil, authd.Invalid("name", "invalid", "client name must be 1 to 100 printable characters")
	}
	c := &Client{
		Name:                   name,
		Public:                 r.Public,
		FirstParty:             r.FirstParty,
		RedirectURIs:           nilIfEmpty(r.RedirectURIs),
		PostLogoutRedirectURIs: nilIfEmpty(r.PostLogoutRedirectURIs),
		Scopes:                 nilIfEmpty(r.Scopes),
		GrantTypes:             nilIfEmpty(r.GrantTypes),
		BackchannelLogoutURI:   r.BackchannelLogoutURI,
		IDTokenAlg:             r.IDTokenAlg,
	}
	if err := checkURIs("redirect_uris", c.RedirectURIs); err != nil {
		return nil, err
	}
	if err := checkURIs("post_logout_redirect_uris", c.PostLogoutRedirectURIs); err != nil {
		return nil, err
	}
	if c.BackchannelLogoutURI != "" {
		// OpenID Connect Back-Channel Logout 1.0 §2.2: an absolute URI,
		// no fragment. authd POSTs to it, so it is a server: https, or
		// http on this machine's loopback.
		if err := checkURI("backchannel_logout_uri", c.BackchannelLogoutURI, false); err != nil {
			return nil, err
		}
	}
	if err := checkScopes("scope", c.Scopes, maxScopes); err != nil {
		return nil, err
	}
	for i, gt := range c.GrantTypes {
		if !slices.Contains(grantTypes, gt) {
			return nil, authd.Invalid("grant_types", "invalid",
				fmt.Sprintf("unknown grant type %q (want %s)", gt, strings.Join(grantTypes, ", ")))
		}
		if slices.Contains(c.GrantTypes[:i], gt) {
			return nil, authd.Invalid("grant_types", "duplicate", fmt.Sprintf("grant type %q is listed twice", gt))
		}
	}
	if c.Public && slices.Contains(c.GrantTypes, GrantClientCredentials) {
		return nil, authd.Invalid("grant_types", "invalid",
			"a public client cannot use client_credentials: it has no credentials to present (RFC 6749 §4.4)")
	}
	if c.AllowsGrant(GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		// RFC 6749 §3.1.2.2 requires confidential clients to register
		// redirect URIs too; OAuth 2.1 §2.3.1 requires it of every
		// client. Without one, authorize has nowhere to send the code.
		return nil, authd.Invalid("redirect_uris", "required",
			"a client using authorization_code needs at least one redirect URI "+
				"(a service that only calls authd: grant types client_credentials)")
	}
	if c.IDTokenAlg != "" && !slices.Contains(idTokenAlgs, c.IDTokenAlg) {
		return nil, authd.Invalid("id_token_signed_response_alg", "invalid",
			fmt.Sprintf("ID token algorithm %q: want one of %s (or leave it empty for RS256)", c.IDTokenAlg, strings.Join(idTokenAlgs, ", ")))
	}
	return c, nil
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// checkURIs validates a list of redirect URIs (field redirect_uris or
// post_logout_redirect_uris).
func checkURIs(field string, uris []string) error {
	if len(uris) > maxURIs {
		return authd.Invalid(field, "too_many", fmt.Sprintf("at most %d URIs", maxURIs))
	}
	for i, u := range uris {
		if err := checkURI(field, u, true); err != nil {
			return err
		}
		if slices.Contains(uris[:i], u) {
			return authd.Invalid(field, "duplicate", fmt.Sprintf("%s is listed twice", quote(u)))
		}
	}
	return nil
}

// checkURI validates one URI that authd sends a browser (or, for the
// back-channel logout URI, a request) to. The URI is kept exactly as given
// and later compared byte for byte, so the rules refuse whatever a
// browser and authd could read differently:
//
//   - an absolute URI without a fragment (RFC 6749 §3.1.2), without
//     userinfo (https://good.example@evil.example/ reads as a different
//     host to a hurried eye, RFC 9700 §4.1.1) and without wildcards
//     (matching is exact, RFC 9700 §4.1.3);
//   - only the characters RFC 3986 allows in a URI (printable ASCII
//     without space, quotes, backslash, <>^`{|}): others must be
//     percent-encoded, and a backslash is a slash to a browser;
//   - https; or http only for the loopback IP literals 127.0.0.1 and
//     [::1] (RFC 8252 §7.3), never the name localhost, which a hostile
//     resolver or hosts file may point elsewhere (RFC 8252 §8.3);
//   - with native, also a private-use scheme containing a dot, a reverse
//     domain name of the app (RFC 8252 §7.1: com.example.app:/cb).
func checkURI(field, uri string, native bool) error {
	bad := func(format string, args ...any) error {
		return authd.Invalid(field, "invalid", quote(uri)+": "+fmt.Sprintf(format, args...))
	}
	if uri == "" {
		return authd.Invalid(field, "invalid", "a URI cannot be empty")
	}
	if len(uri) > maxURILen {
		return authd.Invalid(field, "too_long", fmt.Sprintf("%s: at most %d bytes", quote(uri), maxURILen))
	}
	for i := 0; i < len(uri); i++ {
		switch b := uri[i]; {
		case b >= 0x80:
			return bad("non-ASCII characters must be percent-encoded (RFC 3986 §2.1)")
		case !uriChar(b):
			return bad("character %q is not allowed in a URI (RFC 3986 §2; percent-encode it)", b)
		}
	}
	if strings.Contains(uri, "#") {
		if native {
			return bad("must not have a fragment (RFC 6749 §3.1.2)")
		}
		return bad("must not have a fragment")
	}
	if strings.Contains(uri, "*") {
		return bad("no wildcards: redirect URIs are compared exactly (RFC 9700 §4.1.3)")
	}
	u, err := url.Parse(uri)
	if err != nil {
		return bad("not a valid URI")
	}
	if u.Scheme == "" {
		return bad("must be an absolute URI, with a scheme (RFC 6749 §3.1.2)")
	}
	if !strings.HasPrefix(uri, u.Scheme+":") {
		return bad("write the scheme in lower case")
	}
	if u.User != nil || (u.Opaque != "" && strings.Contains(u.Opaque, "@")) {
		return bad("must not contain userinfo (user@host)")
	}
	if strings.HasSuffix(u.Host, ":") {
		return bad("empty port")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || p[0] == '0' {
			return bad("port %q is not a port number", p)
		}
	}
	switch u.Scheme {
	case "https":
		if u.Hostname() == "" {
			return bad("needs a host")
		}
	case "http":
		if loopbackHost(u.Host) {
			break
		}
		if strings.EqualFold(u.Hostname(), "localhost") {
			return bad("use http://127.0.0.1 or http://[::1], not localhost, which may resolve elsewhere (RFC 8252 §8.3)")
		}
		return bad("http is allowed only on the loopback IPs 127.0.0.1 and [::1] (RFC 8252 §7.3); use https")
	default:
		if !native {
			return bad("must be https (or http on 127.0.0.1 or [::1])")
		}
		if !strings.Contains(u.Scheme, ".") {
			return bad("scheme %q: use https, http on 127.0.0.1 or [::1], or a native app's private-use scheme "+
				"named after a domain it owns, with a dot, like com.example.app:/callback (RFC 8252 §7.1)", u.Scheme)
		}
	}
	return nil
}

// uriChar reports whether b may appear in a URI: RFC 3986's unreserved
// and reserved characters, and % for percent-encoding.
func uriChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", b) >= 0
}

// loopbackHost reports whether host (a URL's host[:port]) is the IPv4 or
// IPv6 loopback literal, written the one way RedirectAllowed matches.
func loopbackHost(host string) bool {
	for _, h := range []string{"127.0.0.1", "[::1]"} {
		if rest, ok := strings.CutPrefix(host, h); ok && (rest == "" || rest[0] == ':') {
			return true
		}
	}
	return false
}

// checkScopes validates scope tokens: RFC 6749 §3.3 scope-token =
// 1*( %x21 / %x23-5B / %x5D-7E ), printable ASCII without space, double
// quote or backslash.
func checkScopes(field string, scopes []string, limit int) error {
	if len(scopes) > limit {
		return authd.Invalid(field, "too_many", fmt.Sprintf("at most %d scopes", limit))
	}
	for i, sc := range scopes {
		if sc == "" || len(sc) > maxScopeLen {
			return authd.Invalid(field, "invalid", fmt.Sprintf("a scope is 1 to %d characters", maxScopeLen))
		}
		for j := 0; j < len(sc); j++ {
			if b := sc[j]; b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
				return authd.Invalid(field, "invalid",
					fmt.Sprintf("scope %q: printable ASCII only, without space, quote or backslash (RFC 6749 §3.3)", sc))
			}
		}
		if slices.Contains(scopes[:i], sc) {
			return authd.Invalid(field, "duplicate", fmt.Sprintf("scope %q is listed twice", sc))
		}
	}
	return nil
}

// quote quotes s for an error message, shortened if long.
func quote(s string) string {
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return strconv.Quote(s)
}
