package server

import (
	"net/http"
)

// handleAuthCheck is forward authentication for reverse proxies (nginx
// auth_request, Traefik ForwardAuth, Caddy forward_auth): 200 with the
// identity in X-Authd-* headers when the request carries a valid session
// cookie or bearer token, 401 otherwise. It is the session check or the
// token verify and nothing more, so it can sit in front of every request.
// The proxy must copy these headers from authd's answer and drop any the
// client sent (see docs/forward-auth.md).
func (s *Server) handleAuthCheck(w http.ResponseWriter, r *http.Request) {
	c, err := s.authenticate(r)
	if err != nil {
		s.writeAuthError(w, r, err)
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
