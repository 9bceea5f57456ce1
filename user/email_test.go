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

// TestNormalizeEmailInvisible: a character that renders as nothing makes a
// second account look like the first ("alice\u034f@example.com" beside
// "alice@example.com"). Every Default_Ignorable_Code_Point (UCD
// DerivedCoreProperties.txt) is refused, and so are unassigned, private-use,
// surrogate, control and format code points, wherever they appear.
func TestNormalizeEmailInvisible(t *testing.T) {
	invisible := []struct {
		name string
		r    rune
	}{
		{"soft hyphen", 0x00AD},
		{"combining grapheme joiner", 0x034F},
		{"Arabic letter mark", 0x061C},
		{"Hangul choseong filler", 0x115F},
		{"Hangul jungseong filler", 0x1160},
		{"Khmer vowel inherent aq", 0x17B4},
		{"Khmer vowel inherent aa", 0x17B5},
		{"Mongolian free variation selector one", 0x180B},
		{"Mongolian vowel separator", 0x180E},
		{"Mongolian free variation selector four", 0x180F},
		{"zero width space", 0x200B},
		{"zero width non-joiner", 0x200C},
		{"zero width joiner", 0x200D},
		{"left-to-right mark", 0x200E},
		{"right-to-left mark", 0x200F},
		{"left-to-right embedding", 0x202A},
		{"right-to-left override", 0x202E},
		{"word joiner", 0x2060},
		{"invisible separator", 0x2063},
		{"unassigned in the format block", 0x2065},
		{"nominal digit shapes", 0x206F},
		{"Hangul filler", 0x3164},
		{"variation selector 1", 0xFE00},
		{"variation selector 16", 0xFE0F},
		{"zero width no-break space", 0xFEFF},
		{"halfwidth Hangul filler", 0xFFA0},
		{"unassigned specials", 0xFFF0},
		{"unassigned specials end", 0xFFF8},
		{"shorthand format letter overlap", 0x1BCA0},
		{"shorthand format up step", 0x1BCA3},
		{"musical symbol begin beam", 0x1D173},
		{"musical symbol end phrase", 0x1D17A},
		{"language tag (unassigned)", 0xE0000},
		{"tag latin small letter a", 0xE0061},
		{"cancel tag", 0xE007F},
		{"variation selector 17", 0xE0100},
		{"variation selector 256", 0xE01EF},
		{"unassigned ignorable", 0xE0FFF},
		{"private use", 0xE000},
		{"supplementary private use", 0xF0000},
		{"unassigned", 0x0378},
		{"noncharacter", 0xFDD0},
		{"noncharacter FFFE", 0xFFFE},
		{"C1 control", 0x0080}, // (U+0085 is White_Space: trimmed at the ends, refused inside)
		{"Arabic number sign (format)", 0x0600},
		{"interlinear annotation anchor", 0xFFF9},
	}
	for _, tt := range invisible {
		c := string(tt.r)
		for _, in := range []string{
			"alice" + c + "@example.com",
			"al" + c + "ice@example.com",
			c + "alice@example.com",
			"alice@exam" + c + "ple.com",
			"alice@example.com" + c,
		} {
			if got, err := NormalizeEmail(in); err == nil {
				t.Errorf("%s: NormalizeEmail(%+q) = %q, want refused", tt.name, in, got)
			}
		}
	}
	// Visible characters that share blocks with invisible ones still pass.
	for _, in := range []string{
		"\u1100\u1161@example.kr", // Hangul jamo (beside the fillers)
		"\u17b6@example.kh",       // Khmer vowel sign aa (beside U+17B4-17B5)
		"\u1820@example.mn",       // Mongolian letter a (beside U+180B-180F)
		"al-ice@example.com",
		"\u00e9lise@example.fr",
	} {
		if _, err := NormalizeEmail(in); err != nil {
			t.Errorf("NormalizeEmail(%+q) = %v, want accepted", in, err)
		}
	}
}

// TestLookalikeMarks: combining marks that make an address look like
// another are refused for new accounts (found by the black-box test:
// "ali\u0307ce" registered beside "alice"); marks that scripts need pass.
func TestLookalikeMarks(t *testing.T) {
	tests := []struct {
		email string
		ok    bool
	}{
		{"ali\u0307ce@example.com", false},
		{"alice\u0323@example.com", true},   // NFC makes it ẹ, a letter of its own (Vietnamese)
		{"alice1\u0323@example.com", false}, // a mark on a digit
		{"alice\u0332@example.com", false},
		{"alice\u20dd@example.com", false},
		{"alice\u302a@example.com", false},
		{"alice@exampl\u0307e.com", false},
		{"a.\u0301b@example.com", false},
		{"alice@example.com", true},
		{"jos\u00e9@example.com", true},                           // é precomposed
		{"jose\u0301@example.com", true},                          // NFC composes it to é first
		{"\u0928\u092e\u0938\u094d\u0924\u0947@example.in", true}, // Devanagari with virama and vowel sign
		{"\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35@example.th", true}, // Thai with a nonspacing vowel
		{"\u0928\u094d\u094d@example.in", false},                  // the same mark twice
	}
	for _, tt := range tests {
		norm, err := NormalizeEmail(tt.email)
		if err == nil {
			err = CheckNewEmail(norm)
		}
		if (err == nil) != tt.ok {
			t.Errorf("new account %q: err = %v, want ok=%v", tt.email, err, tt.ok)
		}
	}
}
