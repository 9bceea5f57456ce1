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
	}
	for _, tt := range tests {
		got, err := NormalizeEmail(tt.in)
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
