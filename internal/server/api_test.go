package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type sessionResp struct {
	Session struct {
		ID            string    `json:"id"`
		CreatedAt     time.Time `json:"created_at"`
		ExpiresAt     time.Time `json:"expires_at"`
		IdleExpiresAt time.Time `json:"idle_expires_at"`
	} `json:"session"`
	User struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"user"`
}

type listResp struct {
	Sessions []struct {
		ID         string    `json:"id"`
		Kind       string    `json:"kind"`
		CreatedAt  time.Time `json:"created_at"`
		LastSeenAt time.Time `json:"last_seen_at"`
		ExpiresAt  time.Time `json:"expires_at"`
		IP         string    `json:"ip"`
		UserAgent  string    `json:"user_agent"`
		Current    bool      `json:"current"`
	} `json:"sessions"`
}

func forBackends(t *testing.T, f func(t *testing.T, sqlite bool)) {
	t.Run("memory", func(t *testing.T) { f(t, false) })
	t.Run("sqlite", func(t *testing.T) { f(t, true) })
}

func TestSessionLifecycle(t *testing.T) {
	forBackends(t, func(t *testing.T, sqlite bool) {
		h := newHarness(t, options{sqlite: sqlite})
		uid := h.register("Alice@Example.COM")

		resp := h.do(req{method: "POST", path: "/v1/session", body: `{"email":"alice@example.com","password":"` + testPassword + `"}`,
			header: map[string]string{"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}})
		wantStatus(t, "login", resp, http.StatusCreated)
		c := sessionCookie(resp)
		if c == nil {
			t.Fatal("no session cookie")
		}
		// The cookie: __Host- prefix rules, HttpOnly, Lax, Max-Age = the
		// remaining absolute lifetime, 256-bit value.
		if c.Path != "/" || c.Domain != "" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode ||
			c.MaxAge != int((24*time.Hour).Seconds()) || len(c.Value) != 43 {
			t.Errorf("cookie = %+v (raw %q)", c, resp.Header.Get("Set-Cookie"))
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("login Cache-Control = %q, want no-store", got)
		}
		login := decode[sessionResp](t, resp)
		if login.User.ID != uid || login.User.Email != "alice@example.com" || login.Session.ID == "" {
			t.Errorf("login body = %+v", login)
		}
		if !login.Session.ExpiresAt.Equal(h.clock.Now().Add(24*time.Hour)) || !login.Session.IdleExpiresAt.Equal(h.clock.Now().Add(30*time.Minute)) {
			t.Errorf("login times = %+v", login.Session)
		}
		if strings.Contains(login.Session.ID, c.Value) || login.Session.ID == c.Value {
			t.Error("the session's public ID reveals its secret")
		}

		resp = h.do(req{method: "GET", path: "/v1/session", cookie: c.Value})
		wantStatus(t, "GET /v1/session", resp, http.StatusOK)
		if got := decode[sessionResp](t, resp); !cmp.Equal(got, login) {
			t.Errorf("GET /v1/session = %+v, want the login body %+v", got, login)
		}

		resp = h.do(req{method: "GET", path: "/v1/user", cookie: c.Value})
		wantStatus(t, "GET /v1/user", resp, http.StatusOK)
		if u := decode[struct{ ID, Email string }](t, resp); u.ID != uid || u.Email != "alice@example.com" {
			t.Errorf("GET /v1/user = %+v", u)
		}

		resp = h.do(req{method: "GET", path: "/v1/sessions", cookie: c.Value})
		wantStatus(t, "GET /v1/sessions", resp, http.StatusOK)
		list := decode[listResp](t, resp)
		if len(list.Sessions) != 1 || !list.Sessions[0].Current || list.Sessions[0].Kind != "cookie" ||
			list.Sessions[0].UserAgent != "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0" || list.Sessions[0].IP != "192.0.2.1" {
			t.Errorf("GET /v1/sessions = %+v", list)
		}

		resp = h.do(req{method: "DELETE", path: "/v1/session", cookie: c.Value})
		wantStatus(t, "logout", resp, http.StatusNoContent)
		if cl := sessionCookie(resp); cl == nil || cl.MaxAge >= 0 || !strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") {
			t.Errorf("logout did not clear the cookie: %q", resp.Header.Get("Set-Cookie"))
		}
		wantStatus(t, "GET after logout", h.do(req{method: "GET", path: "/v1/session", cookie: c.Value}), http.StatusUnauthorized)
		// Idempotent.
		wantStatus(t, "logout again", h.do(req{method: "DELETE", path: "/v1/session", cookie: c.Value}), http.StatusNoContent)
		wantStatus(t, "logout without cookie", h.do(req{method: "DELETE", path: "/v1/session"}), http.StatusNoContent)
	})
}

func TestUnauthenticated(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	good := h.login("alice@example.com")
	cookies := map[string]string{
		"missing":        "",
		"malformed":      "not-a-session",
		"unknown":        strings.Repeat("A", 43),
		"non-canonical":  good[:42] + "_",
		"too long":       good + "A",
		"sql":            "' OR 1=1 --",
		"header garbage": "\x00\x01",
	}
	for name, cv := range cookies {
		for _, path := range []string{"/v1/session", "/v1/user", "/v1/sessions"} {
			resp := h.do(req{method: "GET", path: path, cookie: cv})
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s cookie, GET %s: status %d, want 401", name, path, resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("%s cookie, GET %s: Content-Type %q", name, path, ct)
			}
		}
	}
}

func TestLoginFailuresAreIdentical(t *testing.T) {
	h := newHarness(t, options{noThrottle: true})
	h.register("alice@example.com")
	bodies := map[string]string{}
	for name, body := range map[string]string{
		"wrong password": `{"email":"alice@example.com","password":"wrong password here"}`,
		"unknown email":  `{"email":"bob@example.com","password":"wrong password here"}`,
		"invalid email":  `{"email":"not an email","password":"wrong password here"}`,
	} {
		resp := h.do(req{method: "POST", path: "/v1/session", body: body})
		wantStatus(t, name, resp, http.StatusUnauthorized)
		bodies[name] = readBody(resp)
	}
	if bodies["wrong password"] != bodies["unknown email"] || bodies["unknown email"] != bodies["invalid email"] {
		t.Errorf("failure bodies differ: %q", bodies)
	}
}

func TestIdleAndAbsoluteExpiry(t *testing.T) {
	forBackends(t, func(t *testing.T, sqlite bool) {
		h := newHarness(t, options{sqlite: sqlite})
		h.register("alice@example.com")
		// Idle: 30 minutes without use ends the session.
		idle := h.login("alice@example.com")
		h.clock.Advance(30*time.Minute + time.Second)
		wantStatus(t, "after idle timeout", h.do(req{method: "GET", path: "/v1/session", cookie: idle}), http.StatusUnauthorized)

		// Use keeps it alive, but never past the absolute lifetime, whatever
		// the cookie says.
		s := h.login("alice@example.com")
		for elapsed := time.Duration(0); elapsed < 24*time.Hour-20*time.Minute; elapsed += 20 * time.Minute {
			h.clock.Advance(20 * time.Minute)
			wantStatus(t, "in use", h.do(req{method: "GET", path: "/v1/session", cookie: s}), http.StatusOK)
		}
		h.clock.Advance(20 * time.Minute)
		wantStatus(t, "past absolute lifetime", h.do(req{method: "GET", path: "/v1/session", cookie: s}), http.StatusUnauthorized)
	})
}

func TestCheckIsARead(t *testing.T) {
	counter := &touchCounter{}
	h := newHarness(t, options{storeWrap: func(b backend) backend { counter.backend = b; return counter }})
	h.register("alice@example.com")
	s := h.login("alice@example.com")
	for range 50 {
		h.clock.Advance(time.Second)
		wantStatus(t, "check", h.do(req{method: "GET", path: "/v1/session", cookie: s}), http.StatusOK)
	}
	if n := counter.touches.Load(); n != 0 {
		t.Errorf("%d last-seen writes in 50 s of checks, want 0", n)
	}
	h.clock.Advance(11 * time.Second)
	for range 10 {
		h.do(req{method: "GET", path: "/v1/session", cookie: s})
	}
	if n := counter.touches.Load(); n != 1 {
		t.Errorf("%d last-seen writes after a minute, want 1", n)
	}
	resp := h.do(req{method: "GET", path: "/v1/sessions", cookie: s})
	if l := decode[listResp](t, resp); !l.Sessions[0].LastSeenAt.Equal(h.clock.Now()) {
		t.Errorf("last_seen_at = %v, want %v", l.Sessions[0].LastSeenAt, h.clock.Now())
	}
}

func TestLoginRevokesPresentedSession(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	old := h.login("alice@example.com")
	resp := h.do(req{method: "POST", path: "/v1/session", cookie: old,
		body: `{"email":"alice@example.com","password":"` + testPassword + `"}`})
	wantStatus(t, "re-login", resp, http.StatusCreated)
	fresh := sessionCookie(resp).Value
	if fresh == old {
		t.Fatal("login reused the presented session secret")
	}
	wantStatus(t, "old session", h.do(req{method: "GET", path: "/v1/session", cookie: old}), http.StatusUnauthorized)
	wantStatus(t, "new session", h.do(req{method: "GET", path: "/v1/session", cookie: fresh}), http.StatusOK)
}

func TestPasswordChange(t *testing.T) {
	forBackends(t, func(t *testing.T, sqlite bool) {
		h := newHarness(t, options{sqlite: sqlite})
		h.register("alice@example.com")
		a, b := h.login("alice@example.com"), h.login("alice@example.com")
		other := h.register("bob@example.com")
		_ = other
		bob := h.login("bob@example.com")

		resp := h.do(req{method: "PUT", path: "/v1/user/password", cookie: a, body: `{"current_password":"wrong one here!","new_password":"a brand new passphrase"}`})
		wantStatus(t, "wrong current password", resp, http.StatusUnauthorized)
		resp = h.do(req{method: "PUT", path: "/v1/user/password", cookie: a, body: `{"current_password":"` + testPassword + `","new_password":"short"}`})
		wantStatus(t, "weak new password", resp, http.StatusBadRequest)
		if !strings.Contains(readBody(resp), "new_password") {
			t.Error("weak-password error does not name the field")
		}
		resp = h.do(req{method: "PUT", path: "/v1/user/password", cookie: a, body: `{"current_password":"` + testPassword + `","new_password":"password1234"}`})
		wantStatus(t, "common new password", resp, http.StatusBadRequest)

		resp = h.do(req{method: "PUT", path: "/v1/user/password", cookie: a, body: `{"current_password":"` + testPassword + `","new_password":"a brand new passphrase"}`})
		wantStatus(t, "change", resp, http.StatusNoContent)
		wantStatus(t, "the changing session", h.do(req{method: "GET", path: "/v1/session", cookie: a}), http.StatusOK)
		wantStatus(t, "the other session", h.do(req{method: "GET", path: "/v1/session", cookie: b}), http.StatusUnauthorized)
		wantStatus(t, "another user's session", h.do(req{method: "GET", path: "/v1/session", cookie: bob}), http.StatusOK)
		wantStatus(t, "old password", h.do(req{method: "POST", path: "/v1/session", body: `{"email":"alice@example.com","password":"` + testPassword + `"}`}), http.StatusUnauthorized)
		wantStatus(t, "new password", h.do(req{method: "POST", path: "/v1/session", body: `{"email":"alice@example.com","password":"a brand new passphrase"}`}), http.StatusCreated)
	})
}

func TestRevokeSessions(t *testing.T) {
	forBackends(t, func(t *testing.T, sqlite bool) {
		h := newHarness(t, options{sqlite: sqlite})
		h.register("alice@example.com")
		h.register("bob@example.com")
		a1, a2, a3 := h.login("alice@example.com"), h.login("alice@example.com"), h.login("alice@example.com")
		bob := h.login("bob@example.com")
		ids := func(cookie string) map[bool]string {
			l := decode[listResp](t, h.do(req{method: "GET", path: "/v1/sessions", cookie: cookie}))
			out := map[bool]string{}
			for _, s := range l.Sessions {
				out[s.Current] = s.ID
			}
			return out
		}
		a2ID := ids(a2)[true]
		bobID := ids(bob)[true]

		wantStatus(t, "revoke another user's session", h.do(req{method: "DELETE", path: "/v1/sessions/" + bobID, cookie: a1}), http.StatusNotFound)
		wantStatus(t, "bob still in", h.do(req{method: "GET", path: "/v1/session", cookie: bob}), http.StatusOK)
		wantStatus(t, "revoke unknown", h.do(req{method: "DELETE", path: "/v1/sessions/NOSUCHSESSION", cookie: a1}), http.StatusNotFound)
		wantStatus(t, "revoke own other session", h.do(req{method: "DELETE", path: "/v1/sessions/" + a2ID, cookie: a1}), http.StatusNoContent)
		wantStatus(t, "revoked session", h.do(req{method: "GET", path: "/v1/session", cookie: a2}), http.StatusUnauthorized)
		wantStatus(t, "revoke it again", h.do(req{method: "DELETE", path: "/v1/sessions/" + a2ID, cookie: a1}), http.StatusNotFound)

		wantStatus(t, "sign out everywhere else", h.do(req{method: "DELETE", path: "/v1/sessions", cookie: a1}), http.StatusNoContent)
		wantStatus(t, "current survives", h.do(req{method: "GET", path: "/v1/session", cookie: a1}), http.StatusOK)
		wantStatus(t, "other ended", h.do(req{method: "GET", path: "/v1/session", cookie: a3}), http.StatusUnauthorized)
		wantStatus(t, "bob untouched", h.do(req{method: "GET", path: "/v1/session", cookie: bob}), http.StatusOK)

		// Revoking the current session by ID logs out and clears the cookie.
		resp := h.do(req{method: "DELETE", path: "/v1/sessions/" + ids(a1)[true], cookie: a1})
		wantStatus(t, "revoke current by id", resp, http.StatusNoContent)
		if c := sessionCookie(resp); c == nil || c.MaxAge >= 0 {
			t.Error("revoking the current session did not clear the cookie")
		}
		wantStatus(t, "after revoking self", h.do(req{method: "GET", path: "/v1/session", cookie: a1}), http.StatusUnauthorized)
	})
}

func TestDisableAndDeleteEndSessions(t *testing.T) {
	h := newHarness(t, options{})
	uid := h.register("alice@example.com")
	s := h.login("alice@example.com")
	ctx := context.Background()
	if err := h.users.SetDisabled(ctx, uid, true); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "session of disabled user", h.do(req{method: "GET", path: "/v1/session", cookie: s}), http.StatusUnauthorized)
	wantStatus(t, "login of disabled user", h.do(req{method: "POST", path: "/v1/session", body: `{"email":"alice@example.com","password":"` + testPassword + `"}`}), http.StatusUnauthorized)
	if err := h.users.SetDisabled(ctx, uid, false); err != nil {
		t.Fatal(err)
	}
	s = h.login("alice@example.com")
	if err := h.users.Delete(ctx, uid); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "session of deleted user", h.do(req{method: "GET", path: "/v1/session", cookie: s}), http.StatusUnauthorized)
}

func TestRegistration(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	for name, email := range map[string]string{
		"same":             "alice@example.com",
		"case":             "ALICE@EXAMPLE.COM",
		"spaces":           "  alice@example.com ",
		"decomposed":       "alice@example.com", // identical ASCII; see the Unicode case below
		"domain uppercase": "alice@EXAMPLE.com",
	} {
		resp := h.do(req{method: "POST", path: "/v1/users", body: `{"email":"` + email + `","password":"` + testPassword + `"}`})
		wantStatus(t, name, resp, http.StatusConflict)
	}
	// NFC: "é" composed and decomposed are one address.
	h.register("jos\u00e9@example.com")
	resp := h.do(req{method: "POST", path: "/v1/users", body: `{"email":"jose\u0301@example.com","password":"` + testPassword + `"}`})
	wantStatus(t, "decomposed é", resp, http.StatusConflict)

	closed := newHarness(t, options{registrationClosed: true})
	resp = closed.do(req{method: "POST", path: "/v1/users", body: `{"email":"bob@example.com","password":"` + testPassword + `"}`})
	wantStatus(t, "closed registration", resp, http.StatusForbidden)
}

func TestLoginThrottle(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	bad := `{"email":"alice@example.com","password":"not the password"}`
	for i := range 5 {
		wantStatus(t, "free failure", h.do(req{method: "POST", path: "/v1/session", body: bad}), http.StatusUnauthorized)
		_ = i
	}
	wantStatus(t, "6th failure", h.do(req{method: "POST", path: "/v1/session", body: bad}), http.StatusUnauthorized)
	resp := h.do(req{method: "POST", path: "/v1/session", body: `{"email":"alice@example.com","password":"` + testPassword + `"}`})
	wantStatus(t, "throttled, even with the right password", resp, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q, want 1", resp.Header.Get("Retry-After"))
	}
	// Case and spacing variants count against the same account.
	resp = h.do(req{method: "POST", path: "/v1/session", body: `{"email":" ALICE@example.com","password":"x"}`})
	wantStatus(t, "variant of the throttled email", resp, http.StatusTooManyRequests)
	h.clock.Advance(time.Second)
	h.login("alice@example.com")

	// Per IP: many accounts from one address.
	for i := range 20 {
		body := `{"email":"user` + string(rune('a'+i)) + `@example.com","password":"not the password"}`
		wantStatus(t, "spray", h.do(req{method: "POST", path: "/v1/session", body: body, remote: "198.51.100.9:1234"}), http.StatusUnauthorized)
	}
	h.do(req{method: "POST", path: "/v1/session", body: `{"email":"x@example.com","password":"nope nope nope"}`, remote: "198.51.100.9:1234"})
	resp = h.do(req{method: "POST", path: "/v1/session", body: `{"email":"alice@example.com","password":"` + testPassword + `"}`, remote: "198.51.100.9:1234"})
	wantStatus(t, "sprayer's IP", resp, http.StatusTooManyRequests)
	wantStatus(t, "another IP", h.do(req{method: "POST", path: "/v1/session", body: `{"email":"alice@example.com","password":"` + testPassword + `"}`, remote: "198.51.100.10:1234"}), http.StatusCreated)
}

func TestCrossOriginRefused(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	s := h.login("alice@example.com")
	login := `{"email":"alice@example.com","password":"` + testPassword + `"}`
	tests := []struct {
		name   string
		r      req
		header map[string]string
		want   int
	}{
		{"login from another site", req{method: "POST", path: "/v1/session", body: login}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"register from foreign origin", req{method: "POST", path: "/v1/users", body: `{"email":"m@example.com","password":"` + testPassword + `"}`}, map[string]string{"Origin": "https://evil.example"}, 403},
		{"logout from another site", req{method: "DELETE", path: "/v1/session", cookie: s}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"revoke all from foreign origin", req{method: "DELETE", path: "/v1/sessions", cookie: s}, map[string]string{"Origin": "http://attacker.test"}, 403},
		{"password change cross-site", req{method: "PUT", path: "/v1/user/password", cookie: s, body: `{"current_password":"x","new_password":"y"}`}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-origin login", req{method: "POST", path: "/v1/session", body: login}, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://authd.test"}, 201},
		{"non-browser client", req{method: "POST", path: "/v1/session", body: login}, nil, 201},
		{"cross-site read is fine (SameSite governs)", req{method: "GET", path: "/v1/session", cookie: s}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
	}
	for _, tt := range tests {
		tt.r.header = tt.header
		resp := h.do(tt.r)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
	wantStatus(t, "session survived the forged logout", h.do(req{method: "GET", path: "/v1/session", cookie: s}), http.StatusOK)
}

func TestSecurityHeadersEverywhere(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	s := h.login("alice@example.com")
	for _, r := range []req{
		{method: "GET", path: "/healthz"}, {method: "GET", path: "/readyz"}, {method: "GET", path: "/nope"},
		{method: "GET", path: "/v1/session"}, {method: "GET", path: "/v1/session", cookie: s},
		{method: "POST", path: "/v1/session", body: "{"}, {method: "PATCH", path: "/v1/session"},
	} {
		resp := h.do(r)
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s %s: security headers missing: %v", r.method, r.path, resp.Header)
		}
		if strings.HasPrefix(r.path, "/v1/") && resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: Cache-Control = %q, want no-store", r.method, r.path, resp.Header.Get("Cache-Control"))
		}
	}
}

func TestStoreDownFailsClosed(t *testing.T) {
	h := newHarness(t, options{sqlite: true})
	h.register("alice@example.com")
	s := h.login("alice@example.com")
	h.store.Close() // the database is gone
	for _, r := range []req{
		{method: "GET", path: "/v1/session", cookie: s},
		{method: "GET", path: "/v1/sessions", cookie: s},
		{method: "DELETE", path: "/v1/session", cookie: s},
		{method: "POST", path: "/v1/session", body: `{"email":"alice@example.com","password":"` + testPassword + `"}`},
		{method: "POST", path: "/v1/users", body: `{"email":"bob@example.com","password":"` + testPassword + `"}`},
		{method: "GET", path: "/readyz"},
	} {
		resp := h.do(r)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s with the store down: status %d, Retry-After %q; want 503 with Retry-After",
				r.method, r.path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if body := readBody(resp); strings.Contains(body, "sql") || strings.Contains(body, "goroutine") {
			t.Errorf("%s %s leaks internals: %s", r.method, r.path, body)
		}
	}
}

func TestDrainingReadiness(t *testing.T) {
	h := newHarness(t, options{})
	wantStatus(t, "ready", h.do(req{method: "GET", path: "/readyz"}), http.StatusOK)
	h.srv.Drain()
	wantStatus(t, "draining", h.do(req{method: "GET", path: "/readyz"}), http.StatusServiceUnavailable)
	wantStatus(t, "alive", h.do(req{method: "GET", path: "/healthz"}), http.StatusOK)
}

func TestRoutesAreServed(t *testing.T) {
	h := newHarness(t, options{})
	for _, rt := range h.srv.Routes() {
		method, path, _ := strings.Cut(rt, " ")
		path = strings.ReplaceAll(path, "{id}", "X")
		path = strings.ReplaceAll(path, "{path...}", "X") // RFC 8414 §3.1: 404 but for the issuer's own path
		resp := h.do(req{method: method, path: path})
		if resp.StatusCode == http.StatusNotFound && !strings.Contains(path, "X") || resp.StatusCode == http.StatusMethodNotAllowed {
			t.Errorf("route %s answers %d", rt, resp.StatusCode)
		}
	}
}
