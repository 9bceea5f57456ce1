package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/authd/authd"
)

// handleAuthCheck is forward authentication for reverse proxies (nginx
// auth_request, Traefik ForwardAuth, Caddy forward_auth): 200 with the
// identity in X-Authd-* headers when the request carries a valid session
// cookie or bearer token, 401 otherwise. It is the session check or the
// token verify and nothing more, so it can sit in front of every request.
// The proxy must copy these headers from authd's answer and drop any the
// client sent (see docs/forward-auth.md).
//
// With ?redirect=login, an unauthenticated browser (Accept: text/html, no
// Authorization header) gets 302 to /login instead, with return_to taken
// from X-Forwarded-Uri: for proxies that pass the auth answer through
// (Traefik ForwardAuth, Caddy forward_auth) rather than map a 401 to a
// redirect themselves (nginx). X-Forwarded-Uri needs no trust: it only
// chooses where this same browser goes after login, and the login page
// accepts only same-origin paths (safeReturnTo).
func (s *Server) handleAuthCheck(w http.ResponseWriter, r *http.Request) {
	// Other query parameters are ignored: a proxy may pass on the app's own
	// query string (Caddy's forward_auth does when its uri has none).
	// access_token is left to authenticate, which refuses it with its own
	// RFC 6750 answer.
	redirect := false
	if r.URL.RawQuery != "" { // the hot path (no query) parses nothing
		q := r.URL.Query()
		redirect = q.Has("redirect")
		if redirect && (len(q["redirect"]) != 1 || q.Get("redirect") != "login") {
			writeProblem(w, problem{Type: problemType("invalid-request"), Title: "Invalid request", Status: http.StatusBadRequest,
				Detail: "redirect must be login."})
			return
		}
	}
	c, err := s.authenticate(r)
	if err != nil {
		if redirect && errors.Is(err, authd.ErrUnauthenticated) && r.Header.Get("Authorization") == "" &&
			strings.Contains(r.Header.Get("Accept"), "text/html") {
			if _, cerr := r.Cookie(s.cfg.CookieName); cerr == nil {
				s.clearSessionCookie(w)
			}
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Location", loginURL(safeReturnTo(r.Header.Get("X-Forwarded-Uri"))))
			w.WriteHeader(http.StatusFound)
			return
		}
		s.writeAuthError(w, r, err)
		return
	}
	if !s.apiScope(w, c) {
		return
	}
	h := w.Header()
	h.Set("X-Authd-User", c.UserID)
	h.Set("X-Authd-Session", c.SessionID)
	h.Set("X-Authd-Scope", c.Scope)
	h.Set("X-Authd-Kind", string(c.Kind))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
