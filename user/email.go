package user

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/authd/authd"
	"golang.org/x/net/idna"
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
// addresses. A punycode domain is decoded to its Unicode form. New accounts
// must also pass CheckNewEmail. The result is not a full RFC 5322 parse: authd needs a stable
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
	// An internationalised domain has two spellings, Unicode and its
	// punycode ("xn--") form; the key is the Unicode one, so that one
	// mailbox cannot be registered twice and the checks below see the
	// letters a reader sees.
	if at := strings.LastIndexByte(s, '@'); at >= 0 && strings.Contains(strings.ToLower(s[at+1:]), "xn--") {
		u, err := idna.ToUnicode(strings.ToLower(s[at+1:]))
		if err != nil {
			return "", bad("the domain is not valid punycode")
		}
		s = s[:at+1] + norm.NFC.String(u)
	}
	if norm.NFKC.String(s) != s {
		return "", bad("email address contains look-alike (compatibility) characters")
	}
	// Lower-case before the remaining checks, then compose again: "İ" +
	// U+0300 lower-cases to "i" + U+0300, which NFC writes as "ì", and "Ⱥ"
	// grows from two bytes to three. The key must be what a second pass
	// would compute, or one mailbox gets two keys.
	s = norm.NFC.String(strings.ToLower(s))
	if len(s) > MaxEmailLen {
		return "", bad("email address is too long")
	}
	for _, r := range s {
		if unicode.IsSpace(r) || invisible(r) || r == unicode.ReplacementChar || strings.ContainsRune(`"(),:;<>[\]`, r) {
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
	return s, nil
}

// invisible reports whether r may render as nothing, or as anything: a
// Default_Ignorable_Code_Point (UCD DerivedCoreProperties.txt: Cf, plus
// Variation_Selector and Other_Default_Ignorable_Code_Point, such as
// U+034F, the Hangul fillers U+115F, U+1160, U+3164, U+FFA0, U+17B4-17B5,
// U+180B-180F, U+FE00-FE0F, U+E0000-E0FFF); a control, format, surrogate
// or private-use code point; or one unassigned in the Unicode version of
// the Go tables (unicode.Version: also the noncharacters, and U+FFF0-FFF8).
// Such characters let "alice\u034f@example.com" register beside
// "alice@example.com" and look the same; Unicode TS #39 §3.1 keeps them
// out of identifiers (Identifier_Type Default_Ignorable, Not_Character).
// authd refuses rather than strips them, as for compatibility characters,
// so one mailbox keeps one key; at sign-in such an address matches no
// account and gets the 401 of an unknown one.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) ||
		// Neither letter, mark, number, punctuation, symbol nor separator:
		// Cc, Cf, Cs, Co, or unassigned (Cn, which Go has no table for).
		!unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

// CheckNewEmail refuses a normalised address that may not be registered
// although it is well formed: one whose local part or a domain label mixes
// scripts (singleScript), the usual way to forge a look-alike of a Latin
// address. It applies to new accounts only (registration, import), so an
// account created before the rule can still sign in and be managed.
func CheckNewEmail(normalised string) error {
	bad := func(detail string) error { return authd.Invalid("email", "invalid", detail) }
	at := strings.LastIndexByte(normalised, '@')
	if at < 0 {
		return bad("email address must look like name@example.com")
	}
	if !singleScript(normalised[:at]) {
		return bad("the part before @ mixes writing systems (like a Cyrillic а among Latin letters), which is how look-alike addresses are made")
	}
	if lookalikeMarks(normalised) {
		return bad("the address has a combining mark on a Latin, Greek or Cyrillic letter or on punctuation (like i followed by a combining dot), which is how look-alike addresses are made")
	}
	for label := range strings.SplitSeq(normalised[at+1:], ".") {
		if !singleScript(label) {
			return bad("a part of the domain mixes writing systems (like a Cyrillic а among Latin letters), which is how look-alike addresses are made")
		}
	}
	return nil
}

// lookalikeMarks reports combining marks that draw one address like another
// (Unicode TS #39 §5.4, "optional detection"): any enclosing mark; a
// nonspacing mark on a Latin, Greek or Cyrillic letter, or on a digit or
// punctuation (after NFC, which the address already is, the accented
// letters of those scripts are precomposed, so a mark left over is a
// device: "i" + U+0307 is drawn like "i"); the same nonspacing mark twice
// in a row. Marks of the scripts that need them (Devanagari vowel signs,
// Thai, Arabic harakat, …) pass.
func lookalikeMarks(s string) bool {
	var base rune = -1
	var prevMark rune = -1
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Me, r):
			return true
		case unicode.Is(unicode.Mn, r):
			if r == prevMark || base < 0 {
				return true
			}
			switch scriptOf(base) {
			case "Latin", "Greek", "Cyrillic", "Common", "Inherited", "":
				return true
			}
			prevMark = r
		default:
			base, prevMark = r, -1
		}
	}
	return false
}

// singleScript reports whether s passes Unicode TS #39 §5.2's "highly
// restrictive" level: its letters (ignoring Common and Inherited
// characters such as digits, punctuation and combining marks) come from
// one script, or from Latin plus one of the East Asian combinations that
// are written together: Han with Hiragana and Katakana (Japanese), Han
// with Bopomofo (Chinese), Han with Hangul (Korean). So "аlice", with a
// Cyrillic а, is refused, while "alice", "иван" and "山田taro" pass.
// Whole-script look-alikes (an address spelt entirely in Cyrillic letters
// that resemble Latin ones) pass; they need the confusables data of
// TS #39 §4, which authd does not carry.
func singleScript(s string) bool {
	var seen []string
	for _, r := range s {
		name := scriptOf(r)
		if name == "" || name == "Common" || name == "Inherited" || slices.Contains(seen, name) {
			continue
		}
		seen = append(seen, name)
	}
	if len(seen) <= 1 {
		return true
	}
	for _, allowed := range [][]string{
		{"Latin", "Han", "Hiragana", "Katakana"},
		{"Latin", "Han", "Bopomofo"},
		{"Latin", "Han", "Hangul"},
	} {
		if !slices.ContainsFunc(seen, func(n string) bool { return !slices.Contains(allowed, n) }) {
			return true
		}
	}
	return false
}

// scriptOf returns the name of r's Unicode script ("" if none).
func scriptOf(r rune) string {
	switch {
	case r < utf8.RuneSelf && unicode.IsLetter(r):
		return "Latin"
	case r < utf8.RuneSelf:
		return "Common"
	}
	for name, table := range unicode.Scripts {
		if unicode.Is(table, r) {
			return name
		}
	}
	return ""
}
