package session_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/authd/authd/memstore"
	"github.com/authd/authd/session"
)

// TestCreateCleansMeta: what a client sends as its User-Agent (or any
// other metadata kept with the session) is stored as valid UTF-8 without
// control characters, at most 512 bytes, cut between characters; so no
// backend refuses it (PostgreSQL rejects invalid UTF-8 and NUL in text).
func TestCreateCleansMeta(t *testing.T) {
	long := strings.Repeat("a", 511) + "é" // "é" straddles byte 512
	tests := []struct {
		name     string
		ua, want string
		ip       string
		wantIP   string
	}{
		{name: "plain", ua: "Mozilla/5.0 (X11; Linux x86_64)", want: "Mozilla/5.0 (X11; Linux x86_64)"},
		{name: "invalid bytes", ua: "curl/8\xff\xfe.0", want: "curl/8\ufffd.0"},
		{name: "latin-1", ua: "Caf\xe9/1.0", want: "Caf\ufffd/1.0"},
		{name: "truncated sequence", ua: "x\xe2\x82", want: "x\ufffd"},
		{name: "NUL", ua: "a\x00b", want: "ab"},
		{name: "controls", ua: "a\r\nb\tc\x1b[31md\x7f\u0085e", want: "abc[31mde"},
		{name: "bidi override", ua: "evil\u202egnp.exe", want: "evilgnp.exe"},
		{name: "cut mid-character at 512", ua: long, want: strings.Repeat("a", 511)},
		{name: "multi-byte at the limit", ua: strings.Repeat("é", 300), want: strings.Repeat("é", 256)},
		{name: "long invalid", ua: strings.Repeat("\xff", 4096), want: "\ufffd"}, // one per run of bad bytes
		{name: "only controls", ua: "\x00\x01\x02", want: ""},
		{name: "IP", ua: "ok", want: "ok", ip: "192.0.2.1\x00\xff", wantIP: "192.0.2.1\ufffd"},
	}
	m := session.NewManager(memstore.New(), session.Config{})
	for _, tt := range tests {
		_, s, err := m.Create(context.Background(), "u", session.KindCookie, session.Meta{IP: tt.ip, UserAgent: tt.ua})
		if err != nil {
			t.Errorf("%s: Create = %v", tt.name, err)
			continue
		}
		if s.UserAgent != tt.want || s.IP != tt.wantIP {
			t.Errorf("%s: Create(UA %s, IP %+q) stored UA %s, IP %+q; want %s, %+q", tt.name, short(tt.ua), tt.ip, short(s.UserAgent), s.IP, short(tt.want), tt.wantIP)
		}
		if !utf8.ValidString(s.UserAgent) || len(s.UserAgent) > 512 {
			t.Errorf("%s: stored UA %s is not valid UTF-8 of at most 512 bytes", tt.name, short(s.UserAgent))
		}
	}
}

// TestCleanKeepsClientID: Clean leaves the client ID as it is (client IDs
// are validated where they are registered), so Create stores it.
func TestCleanKeepsClientID(t *testing.T) {
	for _, id := range []string{"", "client-1", "app ünïcödé ✓"} {
		if got := (session.Meta{IP: "192.0.2.1\x00", ClientID: id}).Clean(); got.ClientID != id || got.IP != "192.0.2.1" {
			t.Errorf("Clean(ClientID %q) = %+v; want the client ID kept and the IP cleaned", id, got)
		}
		_, s, err := session.NewManager(memstore.New(), session.Config{}).Create(context.Background(), "u", session.KindToken, session.Meta{ClientID: id})
		if err != nil || s.ClientID != id {
			t.Errorf("Create(ClientID %q) = %+v, %v; want the session with that client ID", id, s, err)
		}
	}
}

// short quotes s, or its length and its ends when it is long.
func short(s string) string {
	if len(s) <= 40 {
		return fmt.Sprintf("%+q", s)
	}
	return fmt.Sprintf("%+q…%+q (%d bytes)", s[:16], s[len(s)-16:], len(s))
}
