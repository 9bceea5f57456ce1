package refresh

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

// TestParse: the shape every issued token has parses; anything else is
// ErrMalformed.
func TestParse(t *testing.T) {
	m := newMacer([]byte("test key"))
	good := m.mint("SESSIONID234567ABCDEFGHIJ", 12).String()
	secret := strings.Repeat("A", secretLen)
	mac := strings.Repeat("B", macLen)
	cases := []struct {
		name string
		tok  string
		ok   bool
	}{
		{"minted", good, true},
		{"generation 0", "S.0." + secret + "." + mac, true},
		{"largest generation", "S.1073741824." + secret + "." + mac, true},
		{"generation too large", "S.1073741825." + secret + "." + mac, false},
		{"leading zero", "S.01." + secret + "." + mac, false},
		{"signed generation", "S.+1." + secret + "." + mac, false},
		{"negative generation", "S.-1." + secret + "." + mac, false},
		{"empty generation", "S.." + secret + "." + mac, false},
		{"empty session", ".0." + secret + "." + mac, false},
		{"short secret", "S.0." + secret[1:] + "." + mac, false},
		{"long MAC", "S.0." + secret + "." + mac + "B", false},
		{"five parts", good + ".A", false},
		{"three parts (an access token)", "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln", false},
		{"padding", "S.0." + secret + "." + mac[2:] + "==", false},
		{"standard alphabet", "S.0." + secret + "." + mac[1:] + "+", false},
		{"space", "S .0." + secret + "." + mac, false},
		{"non-ASCII", "Sé.0." + secret + "." + mac, false},
		{"too long", strings.Repeat("S", 92) + ".0." + secret + "." + mac, false},
		{"empty", "", false},
	}
	for _, c := range cases {
		tok, err := Parse(c.tok)
		if (err == nil) != c.ok {
			t.Errorf("%s: Parse(%q) = %v, want ok %v", c.name, c.tok, err, c.ok)
			continue
		}
		if err == nil && (tok.String() != c.tok || tok.Hash != sha256.Sum256([]byte(c.tok))) {
			t.Errorf("%s: Parse(%q) = %+v; want it to round-trip, hashed", c.name, c.tok, tok)
		}
	}
	if tok, _ := Parse(good); !m.genuine(tok) || newMacer([]byte("another key")).genuine(tok) {
		t.Error("minted token: genuine under its key only, want true and false")
	}
}

// FuzzParse: Parse never panics, accepts only what round-trips to the
// same string within the length limit, and hashes it; a token minted for
// the session and generation of any accepted input parses and is genuine.
func FuzzParse(f *testing.F) {
	key := []byte("fuzz key")
	m := newMacer(key)
	f.Add(m.mint("SESSIONID234567ABCDEFGHIJ", 0).String())
	f.Add(m.mint("S", 1<<30).String())
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Parse(s)
		if err != nil {
			if tok != (Token{}) {
				t.Fatalf("Parse(%q) = %+v with error %v", s, tok, err)
			}
			return
		}
		if len(s) > maxTokenLen || tok.String() != s || tok.Hash != sha256.Sum256([]byte(s)) {
			t.Fatalf("Parse(%q) = %+v: does not round-trip", s, tok)
		}
		if tok.SessionID == "" || tok.Generation < 0 || tok.Generation > maxGeneration {
			t.Fatalf("Parse(%q) = %+v: out of range", s, tok)
		}
		h := hmac.New(sha256.New, key) // the MAC of the wire format, by hand
		h.Write([]byte(tok.SessionID + "." + strconv.Itoa(tok.Generation) + "." + tok.secret))
		if m.genuine(tok) != (tok.mac == base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])) {
			t.Fatalf("genuine(%q) disagrees with the MAC", s)
		}
		minted := m.mint(tok.SessionID, tok.Generation)
		again, err := Parse(minted.String())
		if err != nil || again != minted || !m.genuine(again) || len(minted.String()) != len(s) {
			t.Fatalf("minted %q: Parse = %+v, %v; want it back, genuine, as long as %q", minted.String(), again, err, s)
		}
	})
}
