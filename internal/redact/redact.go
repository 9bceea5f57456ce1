// Package redact hides credentials in connection strings before they are
// printed or logged.
package redact

import (
	"regexp"
	"strings"
)

// passwordParam matches password-like query parameters (password=,
// sslpassword=…).
var passwordParam = regexp.MustCompile(`(?i)([?&][a-z_]*password=)[^&#]*`)

// URL returns u with its password replaced by REDACTED: the password of
// the userinfo (user:PASSWORD@host), a lone secret (redis://SECRET@host) and
// password query parameters. The userinfo ends at the last "@" before the
// query: a password may itself contain "/" (base64 secrets often do), so
// the first "/" is no boundary.
func URL(u string) string {
	u = passwordParam.ReplaceAllString(u, "${1}REDACTED")
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	end := len(rest)
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		end = i
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return u
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass || user == "" {
		return scheme + "://REDACTED@" + rest[at+1:] // a lone secret is the password
	}
	return scheme + "://" + user + ":REDACTED@" + rest[at+1:]
}
