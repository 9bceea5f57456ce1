package server_test

import (
	"net/http"
	"testing"
)

// TestAuthCheckRedirect: with ?redirect=login an unauthenticated browser is
// sent to the login page (return_to from X-Forwarded-Uri, only when it is a
// same-origin path); API clients, bad tokens and everything without the
// parameter keep getting 401, and signed-in callers 200.
func TestAuthCheckRedirect(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	secret := h.login("alice@example.com")
	html := "text/html,application/xhtml+xml"
	tests := []struct {
		name     string
		path     string
		cookie   string
		header   map[string]string
		status   int
		location string
	}{
		{"browser, no session", "/v1/auth/check?redirect=login", "", map[string]string{"Accept": html, "X-Forwarded-Uri": "/notes?x=1&y=2"}, http.StatusFound, "/login?return_to=%2Fnotes%3Fx%3D1%26y%3D2"},
		{"browser, dead cookie", "/v1/auth/check?redirect=login", "no-such-session", map[string]string{"Accept": html, "X-Forwarded-Uri": "/a"}, http.StatusFound, "/login?return_to=%2Fa"},
		{"browser, no X-Forwarded-Uri", "/v1/auth/check?redirect=login", "", map[string]string{"Accept": html}, http.StatusFound, "/login"},
		{"browser, off-site X-Forwarded-Uri", "/v1/auth/check?redirect=login", "", map[string]string{"Accept": html, "X-Forwarded-Uri": "//evil.example/x"}, http.StatusFound, "/login"},
		{"browser, absolute X-Forwarded-Uri", "/v1/auth/check?redirect=login", "", map[string]string{"Accept": html, "X-Forwarded-Uri": "https://evil.example/"}, http.StatusFound, "/login"},
		{"browser, encoded slash trick", "/v1/auth/check?redirect=login", "", map[string]string{"Accept": html, "X-Forwarded-Uri": "/%2Fevil.example"}, http.StatusFound, "/login"},
		{"browser, without the parameter", "/v1/auth/check", "", map[string]string{"Accept": html}, http.StatusUnauthorized, ""},
		{"API client", "/v1/auth/check?redirect=login", "", map[string]string{"Accept": "application/json"}, http.StatusUnauthorized, ""},
		{"browser with a bad bearer token", "/v1/auth/check?redirect=login", "", map[string]string{"Accept": html, "Authorization": "Bearer not.a.token"}, http.StatusUnauthorized, ""},
		{"signed in", "/v1/auth/check?redirect=login", secret, map[string]string{"Accept": html}, http.StatusOK, ""},
		{"unknown value", "/v1/auth/check?redirect=elsewhere", "", map[string]string{"Accept": html}, http.StatusBadRequest, ""},
		{"repeated", "/v1/auth/check?redirect=login&redirect=login", "", nil, http.StatusBadRequest, ""},
		{"the app's own query is ignored", "/v1/auth/check?page=2&rd=https://evil.example/", "", map[string]string{"Accept": html}, http.StatusUnauthorized, ""},
		{"the app's own query, signed in", "/v1/auth/check?page=2", secret, nil, http.StatusOK, ""},
		{"the app's own query with redirect", "/v1/auth/check?redirect=login&page=2", "", map[string]string{"Accept": html, "X-Forwarded-Uri": "/a?page=2"}, http.StatusFound, "/login?return_to=%2Fa%3Fpage%3D2"},
		{"token in the query", "/v1/auth/check?access_token=x", "", nil, http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.do(req{method: "GET", path: tt.path, cookie: tt.cookie, header: tt.header})
			wantStatus(t, tt.name, resp, tt.status)
			if got := resp.Header.Get("Location"); got != tt.location {
				t.Errorf("Location = %q, want %q", got, tt.location)
			}
			if tt.status == http.StatusFound && resp.Header.Get("X-Authd-User") != "" {
				t.Errorf("a redirect carries X-Authd-User %q", resp.Header.Get("X-Authd-User"))
			}
		})
	}
}
