package password

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPolicyCheck(t *testing.T) {
	tooShort := &PolicyError{Reason: "too_short", Msg: "password must be at least 12 characters"}
	tooLong := &PolicyError{Reason: "too_long", Msg: "password is too long (at most 1024 bytes)"}
	invalid := &PolicyError{Reason: "invalid", Msg: "password must be valid UTF-8 text without NUL characters"}
	common := &PolicyError{Reason: "common", Msg: "password is in a list of commonly used passwords"}

	tests := []struct {
		name   string
		policy Policy
		pw     string
		want   *PolicyError
	}{
		{"empty", Policy{}, "", tooShort},
		{"11 code points", Policy{}, "zq8!vk2#mw4", tooShort},
		{"12 code points", Policy{}, "zq8!vk2#mw4p", nil},
		{"12 with spaces", Policy{}, "a b c d e f ", nil},
		{"64 characters", Policy{}, strings.Repeat("zq8!vk2#", 8), nil},
		{"1024 bytes", Policy{}, strings.Repeat("a", 1024), nil},
		{"1025 bytes", Policy{}, strings.Repeat("a", 1025), tooLong},
		{"4 KB", Policy{}, strings.Repeat("abcd", 1024), tooLong},
		{"too long before invalid", Policy{}, strings.Repeat("\xff", 1025), tooLong},
		{"too long before NUL", Policy{}, strings.Repeat("\x00", 1025), tooLong},
		{"11 emoji", Policy{}, strings.Repeat("🔑", 11), tooShort},
		{"12 emoji", Policy{}, strings.Repeat("🔑", 12), nil},
		{"256 emoji (1024 bytes)", Policy{}, strings.Repeat("🔑", 256), nil},
		{"257 emoji (1028 bytes)", Policy{}, strings.Repeat("🔑", 257), tooLong},
		{"11 CJK", Policy{}, "密码密码密码密码密码密", tooShort},
		{"12 CJK", Policy{}, "密码密码密码密码密码密码", nil},
		// e + U+0301 is two code points but one after NFC (é).
		{"11 combining after NFC", Policy{}, strings.Repeat("e\u0301", 11), tooShort},
		{"12 combining after NFC", Policy{}, strings.Repeat("e\u0301", 12), nil},
		{"12 precomposed", Policy{}, strings.Repeat("é", 12), nil},
		{"NUL", Policy{}, "zq8!vk2#mw4p\x00", invalid},
		{"only NUL", Policy{}, "\x00", invalid},
		{"invalid UTF-8", Policy{}, "zq8!vk2#mw4p\xff", invalid},
		{"short invalid UTF-8", Policy{}, "\xc3", invalid},
		{"surrogate", Policy{}, "zq8!vk2#mw4p\xed\xa0\x80", invalid},
		{"common", Policy{}, "password1234", common},
		{"common capitalised", Policy{}, "Password1234", common},
		{"common upper", Policy{}, "PASSWORD1234", common},
		{"common qwerty123456", Policy{}, "qwerty123456", common},
		{"common 1qaz2wsx3edc", Policy{}, "1qaz2wsx3edc", common},
		{"common finalfantasy", Policy{}, "FinalFantasy", common},
		{"common but short", Policy{}, "password", tooShort},
		{"common with low MinLength", Policy{MinLength: 8}, "password", common},
		{"MinLength 15 exact", Policy{MinLength: 15}, "zq8!vk2#mw4p123", nil},
		{"MinLength 15 short", Policy{MinLength: 15}, "zq8!vk2#mw4p12",
			&PolicyError{Reason: "too_short", Msg: "password must be at least 15 characters"}},
		{"MaxBytes 2000", Policy{MaxBytes: 2000}, strings.Repeat("a", 2000), nil},
		{"MaxBytes 2000 exceeded", Policy{MaxBytes: 2000}, strings.Repeat("a", 2001),
			&PolicyError{Reason: "too_long", Msg: "password is too long (at most 2000 bytes)"}},
		// MaxBytes is raised to 256 so that 64 characters are always accepted.
		{"MaxBytes 10 accepts 64 emoji", Policy{MaxBytes: 10}, strings.Repeat("🔑", 64), nil},
		{"MaxBytes 10 raised to 256", Policy{MaxBytes: 10}, strings.Repeat("🔑", 64) + "a",
			&PolicyError{Reason: "too_long", Msg: "password is too long (at most 256 bytes)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Check(tt.pw)
			if tt.want == nil {
				if err != nil {
					t.Errorf("Check(%q) = %v, want nil", tt.pw, err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("Check(%q) = %v (%T), want *PolicyError", tt.pw, err, err)
			}
			if diff := cmp.Diff(tt.want, pe); diff != "" {
				t.Errorf("Check(%q) mismatch (-want +got):\n%s", tt.pw, diff)
			}
			if err.Error() != tt.want.Msg {
				t.Errorf("Check(%q).Error() = %q, want %q", tt.pw, err.Error(), tt.want.Msg)
			}
		})
	}
}

func TestIsCommon(t *testing.T) {
	tests := []struct {
		pw   string
		want bool
	}{
		{"123456", true},
		{"password", true},
		{"PassWord", true},
		{"password1234", true},
		{"Password1234", true},
		{"iloveyou", true},
		{"zq8!vk2#mw4p", false},
		{"correct horse battery staple", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsCommon(tt.pw); got != tt.want {
			t.Errorf("IsCommon(%q) = %v, want %v", tt.pw, got, tt.want)
		}
	}
}

func TestCommonList(t *testing.T) {
	if n := len(commonSet()); n < 10000 {
		t.Errorf("len(commonSet()) = %d, want >= 10000", n)
	}
	lines := strings.Split(strings.TrimSuffix(commonPasswords, "\n"), "\n")
	if got, want := len(commonSet()), len(lines); got != want {
		t.Errorf("len(commonSet()) = %d, but the list has %d lines (duplicates or blanks?)", got, want)
	}
	if lines[0] != "123456" {
		t.Errorf("first entry = %q, want 123456 (frequency order)", lines[0])
	}
	for i, l := range lines {
		if l != strings.ToLower(l) || l != strings.TrimSpace(l) || l == "" {
			t.Errorf("line %d = %q, want non-empty, lowercase, trimmed", i+1, l)
		}
	}
}

func BenchmarkPolicyCheck(b *testing.B) {
	var p Policy
	for b.Loop() {
		if err := p.Check("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
