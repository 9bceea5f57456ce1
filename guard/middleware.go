package guard

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Require returns middleware that lets a request through only with valid
// authd credentials carrying every one of scopes, and puts the Identity in
// its context (FromContext). Failures follow RFC 6750 §3: 401 with
// WWW-Authenticate (error="invalid_token" for a bad token), 403
// insufficient_scope, and 503 with Retry-After when revocations
// (ErrFeedDown) or a session cookie (ErrCheckFailed) cannot be checked.
func (g *Guard) Require(scopes ...string) func(http.Handler) http.Handler {
	need := strings.Join(scopes, " ")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, err := g.Authenticate(r)
			if err != nil {
				g.deny(w, err)
				return
			}
			for _, s := range scopes {
				if !id.HasScope(s) {
					w.Header().Set("WWW-Authenticate", `Bearer realm="authd", error="insufficient_scope", scope="`+need+`"`)
					http.Error(w, "insufficient scope", http.StatusForbidden)
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
		})
	}
}

func (g *Guard) deny(w http.ResponseWriter, err error) {
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case errors.Is(err, ErrFeedDown), errors.Is(err, ErrCheckFailed):
		w.Header().Set("Retry-After", "1")
		http.Error(w, "authentication temporarily unavailable", http.StatusServiceUnavailable)
	case errors.Is(err, ErrInvalidToken):
		w.Header().Set("WWW-Authenticate", `Bearer realm="authd", error="invalid_token"`)
		http.Error(w, "invalid token", http.StatusUnauthorized)
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="authd"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
	}
}
