package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/authd/authd"
)

// problem is an RFC 9457 problem details object.
type problem struct {
	Type   string             `json:"type"`
	Title  string             `json:"title"`
	Status int                `json:"status"`
	Detail string             `json:"detail,omitempty"`
	Errors []authd.FieldError `json:"errors,omitempty"`
}

// problemType builds the type URI of one of authd's problems; every slug is
// documented in docs/api.md.
func problemType(slug string) string { return "urn:authd:problem:" + slug }

// writeProblem sends p as application/problem+json.
func writeProblem(w http.ResponseWriter, p problem) {
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// errorStatus is the one table mapping errors to HTTP responses. Anything
// it does not know is a dependency failure: authd fails closed with 503 and
// logs the cause; the client sees no internals.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ve *authd.ValidationError
	var te *authd.ThrottledError
	switch {
	case errors.As(err, &ve):
		writeProblem(w, problem{Type: problemType("invalid-input"), Title: "Invalid input", Status: http.StatusBadRequest,
			Detail: "The request has invalid fields; see errors.", Errors: ve.Fields})
	case errors.As(err, &te):
		secs := te.Seconds()
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeProblem(w, problem{Type: problemType("throttled"), Title: "Too many attempts", Status: http.StatusTooManyRequests,
			Detail: "Too many failed attempts. Try again in " + strconv.Itoa(secs) + " seconds."})
	case errors.Is(err, authd.ErrUnauthenticated):
		// RFC 9110 §15.5.2: a 401 names the scheme that would work.
		if w.Header().Get("WWW-Authenticate") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="authd"`)
		}
		writeProblem(w, problem{Type: problemType("unauthenticated"), Title: "Unauthenticated", Status: http.StatusUnauthorized,
			Detail: "Missing or invalid credentials."})
	case errors.Is(err, authd.ErrNotFound):
		writeProblem(w, problem{Type: problemType("not-found"), Title: "Not found", Status: http.StatusNotFound,
			Detail: "No such resource, or not yours."})
	case errors.Is(err, authd.ErrConflict):
		writeProblem(w, problem{Type: problemType("conflict"), Title: "Conflict", Status: http.StatusConflict,
			Detail: "The request conflicts with existing data (on registration: the email address is already registered)."})
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody is listening.
	default:
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		writeProblem(w, problem{Type: problemType("unavailable"), Title: "Service unavailable", Status: http.StatusServiceUnavailable,
			Detail: "A dependency of authd is unavailable; try again shortly."})
	}
}

// writeJSON sends v with status. Responses from this API carry or depend on
// credentials, so none may be cached (ASVS 5.0 14.3.2).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.Debug("write response", "err", err)
	}
}

// noRoute answers a request no route matched. The catch-all "/" route
// shadows ServeMux's own 405, so it is restored here: a path served under
// other methods gets 405 with Allow (RFC 9110 §15.5.6), anything else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := *r
		probe.Method = m
		if _, pattern := s.mux.Handler(&probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 || slices.Contains(allow, r.Method) {
		writeProblem(w, problem{Type: problemType("not-found"), Title: "Not found", Status: http.StatusNotFound,
			Detail: "No route matches this path."})
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeProblem(w, problem{Type: problemType("method-not-allowed"), Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
		Detail: "This path does not support " + r.Method + "; see Allow."})
}
