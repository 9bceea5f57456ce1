package sessiontest

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/authd/authd/session"
)

// testHostileUserAgent: whatever a client sends as its User-Agent, a login
// through session.Manager stores a session (never a store error, which
// would be a 503), and the backend gives back exactly the cleaned text:
// valid UTF-8 including U+FFFD and 4-byte characters, at most 512 bytes.
func testHostileUserAgent(t *testing.T, st session.Store) {
	ctx := context.Background()
	m := session.NewManager(st, session.Config{Now: func() time.Time { return t0 }})
	tests := []struct{ name, ua string }{
		{"invalid UTF-8", "Mozilla/5.0 \xff\xfe\xc0\xaf"},
		{"Latin-1", "Caf\xe9 Browser/1.0"},
		{"NUL", "curl/8.0\x00; DROP TABLE sessions"},
		{"controls", "a\r\nSet-Cookie: x\x1b[2J\x7f\u0085"},
		{"cut mid-character at 512", strings.Repeat("a", 511) + "é"},
		{"4-byte at 512", strings.Repeat("a", 510) + "😀"},
		{"long mixture", strings.Repeat("é\xff😀\x00", 1000)},
		{"surrogate halves", "\xed\xa0\x80\xed\xb0\x80"},
		{"bidi override", "\u202eexe.gnp"},
	}
	for _, tt := range tests {
		_, s, err := m.Create(ctx, "hostile-ua", session.KindCookie, session.Meta{IP: "192.0.2.1\x00", UserAgent: tt.ua})
		if err != nil {
			t.Errorf("%s: Create = %v, want a session", tt.name, err)
			continue
		}
		if !utf8.ValidString(s.UserAgent) || len(s.UserAgent) > 512 || strings.ContainsRune(s.UserAgent, 0) {
			t.Errorf("%s: Create kept User-Agent %+q, want valid UTF-8 of at most 512 bytes without NUL", tt.name, s.UserAgent)
		}
		got, err := st.SessionByID(ctx, s.ID, t0)
		if err != nil {
			t.Errorf("%s: SessionByID = %v", tt.name, err)
			continue
		}
		if got.UserAgent != s.UserAgent || got.IP != s.IP {
			t.Errorf("%s: stored User-Agent %+q, IP %+q; read back %+q, %+q", tt.name, s.UserAgent, s.IP, got.UserAgent, got.IP)
		}
	}
	list, err := st.ListSessions(ctx, "hostile-ua", t0)
	if err != nil || len(list) != len(tests) {
		t.Fatalf("ListSessions = %d sessions, %v; want %d", len(list), err, len(tests))
	}
	for _, s := range list {
		if !utf8.ValidString(s.UserAgent) {
			t.Errorf("ListSessions: User-Agent %+q is not valid UTF-8", s.UserAgent)
		}
	}
}
