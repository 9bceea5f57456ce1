package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/authd/authd/pgstore"
	"github.com/authd/authd/pgstore/pgtest"
)

// hostileUserAgents are User-Agent headers a client may send that are not
// clean text: each must log in like any other (never a 503 from a store
// that refuses to keep the bytes), and come back as valid UTF-8.
var hostileUserAgents = []struct{ name, ua string }{
	{"invalid UTF-8", "Mozilla/5.0 \xff\xfe\xc0\xaf"},
	{"Latin-1", "Caf\xe9 Browser/1.0"},
	{"NUL", "curl/8.0\x00x"},
	{"cut mid-character at 512", strings.Repeat("a", 511) + "é"},
	{"2 KiB of mixture", strings.Repeat("é\xff😀\x01", 200)},
	{"surrogate halves", "\xed\xa0\x80\xed\xb0\x80"},
}

// TestLoginHostileUserAgent: a cookie login and a password grant with a
// hostile User-Agent succeed (201, 200) on every backend the harness can
// run, PostgreSQL included, and the device list shows clean text.
func TestLoginHostileUserAgent(t *testing.T) {
	backends := []struct {
		name string
		opts func(t *testing.T) options
	}{
		{"memory", func(*testing.T) options { return options{noThrottle: true} }},
		{"sqlite", func(*testing.T) options { return options{sqlite: true, noThrottle: true} }},
		{"postgres", func(t *testing.T) options {
			dsn := pgtest.NewDatabase(t) // skips without AUTHD_TEST_POSTGRES, fails under CI
			st, err := pgstore.Open(context.Background(), dsn, pgstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return options{noThrottle: true, storeWrap: func(backend) backend { return st }}
		}},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			h := newHarness(t, be.opts(t))
			h.register("ua@example.com")
			var cookie string
			for _, tt := range hostileUserAgents {
				resp := h.do(req{method: "POST", path: "/v1/session",
					body:   `{"email":"ua@example.com","password":"` + testPassword + `"}`,
					header: map[string]string{"User-Agent": tt.ua}, remote: "192.0.2.7:1234"})
				if resp.StatusCode != http.StatusCreated {
					t.Errorf("%s: POST /v1/session = %d %s, want 201", tt.name, resp.StatusCode, readBody(resp))
					continue
				}
				if c := sessionCookie(resp); c != nil {
					cookie = c.Value
				}
				form := url.Values{"grant_type": {"password"}, "username": {"ua@example.com"}, "password": {testPassword}}
				resp = h.do(req{method: "POST", path: "/oauth2/token", body: form.Encode(), remote: "192.0.2.7:1234",
					header: map[string]string{"User-Agent": tt.ua, "Content-Type": "application/x-www-form-urlencoded"}})
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s: POST /oauth2/token = %d %s, want 200", tt.name, resp.StatusCode, readBody(resp))
				}
			}
			if cookie == "" {
				t.Fatal("no login succeeded")
			}
			resp := h.do(req{method: "GET", path: "/v1/sessions", cookie: cookie})
			wantStatus(t, "GET /v1/sessions", resp, http.StatusOK)
			var list struct {
				Sessions []struct {
					UserAgent string `json:"user_agent"`
				}
			}
			raw := readBody(resp)
			if err := json.Unmarshal([]byte(raw), &list); err != nil {
				t.Fatalf("GET /v1/sessions: %v in %s", err, raw)
			}
			if len(list.Sessions) != 2*len(hostileUserAgents) {
				t.Errorf("GET /v1/sessions lists %d sessions, want %d", len(list.Sessions), 2*len(hostileUserAgents))
			}
			if !utf8.ValidString(raw) {
				t.Errorf("GET /v1/sessions body is not valid UTF-8: %+q", raw)
			}
			for _, s := range list.Sessions {
				if !utf8.ValidString(s.UserAgent) || len(s.UserAgent) > 512 || strings.ContainsAny(s.UserAgent, "\x00\x01") {
					t.Errorf("listed User-Agent %+q: want valid UTF-8 of at most 512 bytes without controls", s.UserAgent)
				}
			}
		})
	}
}
