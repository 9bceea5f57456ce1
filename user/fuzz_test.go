package user_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/authd/authd/user"
	"golang.org/x/text/unicode/norm"
)

// FuzzNormalizeEmail is an email address as typed at registration or
// sign-in, through NormalizeEmail and CheckNewEmail. Nothing panics, and
// an accepted address is a stable key: valid UTF-8, at most MaxEmailLen
// bytes, NFC and NFKC already, lower case, one '@' with text on both sides,
// and normalising it again gives it back unchanged (Normalize(Normalize(x))
// == Normalize(x)), so the key under which an account was stored is the
// key its owner's next sign-in computes. CheckNewEmail decides the same
// way for the same key.
func FuzzNormalizeEmail(f *testing.F) {
	for _, seed := range []string{
		"Alice@Example.COM",
		"  bob@example.com\t",
		"иван@пример.рф",
		"ivan@XN--E1AFMKFD.XN--P1AI",
		"jos\u0065\u0301@example.com",
		"\u0130stanbul@example.com",                   // İ lower-cases to two code points
		"a\u0130\u0300@example.com",                   // İ + grave: "i" + U+0300 once lower-cased, "ì" once composed
		strings.Repeat("\u023a", 32) + "@example.com", // Ⱥ: 2 bytes, its lower case 3
		"a@b.c",
		"alice\x00@example.com",
		"alice\xff@example.com",
		"al\u200bice@example.com",
		"alice\uff20example.com",
		"\"a b\"@example.com",
		"a@@example.com",
		"alice@xn--zz.com",
		strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com",
		strings.Repeat("\u0130", 30) + "@example.com", // 60 bytes, 90 once lower-cased
		strings.Repeat("a", 4*user.MaxEmailLen+1),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := user.NormalizeEmail(raw)
		if err != nil {
			if got != "" {
				t.Fatalf("NormalizeEmail(%q) = %q with error %v, want \"\"", raw, got, err)
			}
			return
		}
		if len(raw) > 4*user.MaxEmailLen {
			t.Fatalf("NormalizeEmail accepted %d bytes", len(raw))
		}
		switch {
		case !utf8.ValidString(got):
			t.Fatalf("NormalizeEmail(%q) = %q: not valid UTF-8", raw, got)
		case len(got) > user.MaxEmailLen:
			t.Fatalf("NormalizeEmail(%q) = %q: %d bytes, over MaxEmailLen", raw, got, len(got))
		case !norm.NFC.IsNormalString(got) || !norm.NFKC.IsNormalString(got):
			t.Fatalf("NormalizeEmail(%q) = %q: not NFC and NFKC", raw, got)
		case strings.ToLower(got) != got:
			t.Fatalf("NormalizeEmail(%q) = %q: not lower case", raw, got)
		case strings.Count(got, "@") != 1 || strings.HasPrefix(got, "@") || strings.HasSuffix(got, "@"):
			t.Fatalf("NormalizeEmail(%q) = %q: not name@domain", raw, got)
		}
		again, err := user.NormalizeEmail(got)
		if err != nil || again != got {
			t.Fatalf("NormalizeEmail(%q) = %q, but NormalizeEmail(%q) = %q, %v: not idempotent", raw, got, got, again, err)
		}
		if (user.CheckNewEmail(got) == nil) != (user.CheckNewEmail(again) == nil) {
			t.Fatalf("CheckNewEmail(%q) decides differently on the same key", got)
		}
	})
}

// FuzzCheckNewEmail feeds CheckNewEmail anything, normalised or not: it
// must not panic and must decide the same way twice.
func FuzzCheckNewEmail(f *testing.F) {
	for _, seed := range []string{"alice@example.com", "\u0430lice@example.com", "山田taro@example.jp", "@", "", "a\xff@b", "a@b..c"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if (user.CheckNewEmail(s) == nil) != (user.CheckNewEmail(s) == nil) {
			t.Fatalf("CheckNewEmail(%q) is not deterministic", s)
		}
	})
}
