package password

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Policy defaults.
const (
	defaultMinLength = 12
	defaultMaxBytes  = 1024

	// minMaxBytes is the smallest effective MaxBytes: 64 code points of up
	// to 4 bytes each, so that at least 64 characters are always accepted
	// (NIST SP 800-63B-4 §3.1.1.2, ASVS 5.0 6.2.9).
	minMaxBytes = 64 * utf8.UTFMax
)

// Policy is the password policy (NIST SP 800-63B-4 §3.1.1.2; ASVS 5.0 V6.2):
// length only, no composition rules, plus a check against a list of commonly
// used passwords. The zero value is the default policy.
type Policy struct {
	// MinLength is the minimum length in Unicode code points, measured
	// after NFC normalisation; 0 (or less) means 12.
	MinLength int
	// Passwords of more than MaxBytes bytes (UTF-8) are refused before any
	// hashing. 0 (or less) means 1024. Must accept at least 64 characters:
	// values below 256 (64 code points of 4 bytes) are raised to 256.
	MaxBytes int
}

func (p Policy) minLength() int {
	if p.MinLength <= 0 {
		return defaultMinLength
	}
	return p.MinLength
}

// MaxLen is the effective byte limit: passwords longer than this are refused
// before any hashing.
func (p Policy) MaxLen() int {
	switch {
	case p.MaxBytes <= 0:
		return defaultMaxBytes
	case p.MaxBytes < minMaxBytes:
		return minMaxBytes
	}
	return p.MaxBytes
}

// PolicyError is the error returned by [Policy.Check].
type PolicyError struct {
	Reason string // "too_long", "too_short", "invalid", "common"
	Msg    string // human sentence, e.g. "password must be at least 12 characters"
}

// Error returns e.Msg.
func (e *PolicyError) Error() string { return e.Msg }

// Check returns nil if pw is acceptable as a new password, or a
// *[PolicyError]. The checks are, in order:
//
//  1. more than MaxBytes bytes: "too_long" (checked first, as it is cheap);
//  2. invalid UTF-8 or a NUL byte: "invalid";
//  3. fewer than MinLength Unicode code points after NFC normalisation
//     (golang.org/x/text/unicode/norm): "too_short";
//  4. in the common-password list, compared case-insensitively on the NFC
//     form: "common".
//
// Check measures the NFC form but does not change pw; hashing uses the exact
// bytes given (see the package documentation).
func (p Policy) Check(pw string) error {
	if limit := p.MaxLen(); len(pw) > limit {
		return &PolicyError{Reason: "too_long", Msg: fmt.Sprintf("password is too long (at most %d bytes)", limit)}
	}
	if !utf8.ValidString(pw) || strings.IndexByte(pw, 0) >= 0 {
		return &PolicyError{Reason: "invalid", Msg: "password must be valid UTF-8 text without NUL characters"}
	}
	n := norm.NFC.String(pw)
	if limit := p.minLength(); utf8.RuneCountInString(n) < limit {
		return &PolicyError{Reason: "too_short", Msg: fmt.Sprintf("password must be at least %d characters", limit)}
	}
	if IsCommon(n) {
		return &PolicyError{Reason: "common", Msg: "password is in a list of commonly used passwords"}
	}
	return nil
}

// commonPasswords is the zxcvbn 4.4.2 "passwords" frequency list (MIT
// licence, see common-passwords.LICENSE), lowercased, one per line.
//
//go:embed common-passwords.txt
var commonPasswords string

var commonSet = sync.OnceValue(func() map[string]struct{} {
	lines := strings.Split(commonPasswords, "\n")
	m := make(map[string]struct{}, len(lines))
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			m[l] = struct{}{}
		}
	}
	return m
})

// IsCommon reports whether pw (case-insensitive) is in the embedded
// common-password list.
func IsCommon(pw string) bool {
	_, ok := commonSet()[strings.ToLower(pw)]
	return ok
}
