package user

import "testing"

func TestNormalizeEmailScripts(t *testing.T) {
	tests := []struct {
		in, want string // want "" means refused
	}{
		{"Alice@Example.COM", "alice@example.com"},
		{"\u0430lice@example.com", ""},                           // Cyrillic а among Latin letters
		{"alice@ex\u0430mple.com", ""},                           // the same in the domain
		{"p\u0430ypal@example.com", ""},                          // and inside the name
		{"alice@\u0440\u0430ypal.com", ""},                       // Cyrillic р, а in a Latin label
		{"\u03bfmega@example.com", ""},                           // Greek ο among Latin letters
		{"иван@пример.рф", "иван@пример.рф"},                     // all Cyrillic: one script per part
		{"иван@example.com", "иван@example.com"},                 // Cyrillic name, Latin domain
		{"山田taro@example.jp", "山田taro@example.jp"},               // Han + Latin
		{"やまだ山田@例え.jp", "やまだ山田@例え.jp"},                           // Hiragana + Han
		{"김철수kim@example.kr", "김철수kim@example.kr"},               // Hangul + Latin
		{"ελένη@example.gr", "ελένη@example.gr"},                 // Greek
		{"jos\u0065\u0301@example.com", "jos\u00e9@example.com"}, // combining accent (Inherited), NFC-composed
		{"ivan.2024+tag@example.com", "ivan.2024+tag@example.com"},
		{"иван\u0430@example.com", "иван\u0430@example.com"}, // all Cyrillic still
		{"ива\u006e@example.com", ""},                        // Latin n among Cyrillic
		{"alice@xn--pple-43d.com", ""},                       // punycode for аpple.com: decoded, then refused
		{"ivan@xn--e1afmkfd.xn--p1ai", "ivan@пример.рф"},     // punycode: stored as Unicode
		{"ivan@XN--E1AFMKFD.XN--P1AI", "ivan@пример.рф"},     // case-insensitive prefix
		{"ivan@xn--zz.com", ""},                              // not valid punycode
	}
	for _, tt := range tests {
		got, err := NormalizeEmail(tt.in)
		if err == nil {
			err = CheckNewEmail(got)
		}
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizeEmail(%q) = %q, want refused", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestExistingMixedScriptAccounts: the script rule is for new accounts; an
// address that has it can still be normalised, so an account created
// before the rule can sign in and be managed.
func TestExistingMixedScriptAccounts(t *testing.T) {
	got, err := NormalizeEmail("\u0430lice@example.com")
	if err != nil || got != "\u0430lice@example.com" {
		t.Fatalf("NormalizeEmail = %q, %v; want the address unchanged", got, err)
	}
	if CheckNewEmail(got) == nil {
		t.Error("CheckNewEmail accepted a mixed-script address")
	}
}
