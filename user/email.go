package user

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/authd/authd"
	"golang.org/x/text/unicode/norm"
)

// MaxEmailLen is the longest address accepted, in bytes (RFC 5321 §4.5.3.1.3
// limits a path to 256 octets including the angle brackets).
const MaxEmailLen = 254

// NormalizeEmail returns the canonical form of an email address, under which
// uniqueness is enforced: surrounding space trimmed, Unicode NFC, lower case.
//
// The whole address is lower-cased, not only the domain: no mail system in
// use today treats Alice@ and alice@ as two people, and allowing both would
// let one person's address be registered twice. Addresses containing
// Unicode compatibility characters (full-width letters, ligatures, "＠") are
// refused rather than folded, because they exist to look like other
// addresses. The result is not a full RFC 5322 parse: authd needs a stable
// key and a plausible address, and proof of ownership comes from mail.
func NormalizeEmail(raw string) (string, error) {
	bad := func(detail string) error { return authd.Invalid("email", "invalid", detail) }
	if len(raw) > 4*MaxEmailLen {
		return "", bad("email address is too long")
	}
	if !utf8.ValidString(raw) {
		return "", bad("email address is not valid UTF-8")
	}
	s := norm.NFC.String(strings.TrimSpace(raw))
	if s == "" {
		return "", authd.Invalid("email", "required", "email address is required")
	}
	if len(s) > MaxEmailLen {
		return "", bad("email address is too long")
	}
	if norm.NFKC.String(s) != s {
		return "", bad("email address contains look-alike (compatibility) characters")
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar ||
			unicode.Is(unicode.Cf, r) || strings.ContainsRune(`"(),:;<>[\]`, r) {
			return "", bad("email address contains a character that is not allowed")
		}
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.Count(s, "@") != 1 {
		return "", bad("email address must look like name@example.com")
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 {
		return "", bad("the part before @ is too long")
	}
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") ||
		strings.Contains(domain, "..") || strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") ||
		strings.Contains(local, "..") {
		return "", bad("email address must look like name@example.com")
	}
	return strings.ToLower(s), nil
}
