package server

import (
	"net/http"
	"sync"
	"time"
)

// Metrics observes the server for an operator's dashboards (package
// internal/metrics implements it with Prometheus); nil observes nothing.
// Every method must be cheap and safe for concurrent use. The server only
// ever passes values from fixed sets: route patterns as registered,
// outcomes and names written below — never a user, an address, an IP or a
// token.
type Metrics interface {
	// Request is told of every request once it is served: the ServeMux
	// pattern that matched ("/" for an unknown route, "" when the request
	// was refused before routing), the request's method (arbitrary: the
	// observer must bound it), the status code and the time taken.
	Request(pattern, method string, code int, d time.Duration)
	// Login is told the outcome of every password check made for a
	// sign-in (the API, the sign-in page, the password grant): "success",
	// "failure" (unknown user or wrong password), "throttled",
	// "email_unverified" or "error".
	Login(outcome string)
	// Grant is told the outcome of every token request of a grant type
	// the server serves: "success" or the OAuth error code answered
	// (RFC 6749 §5.2: "invalid_grant", "invalid_client", …).
	Grant(grantType, outcome string)
	// ThrottleRefused is told of every attempt a throttle refused:
	// "account", "account_ip", "ip", "device" (login throttles),
	// "in_flight" (a guess already running for the account),
	// "mail_address", "mail_ip" (mail throttles), "registration" (per
	// IP). "ip" also counts password-reset confirmations refused.
	ThrottleRefused(throttle string)
}

// The outcomes of Metrics.Login.
const (
	LoginSuccess    = "success"
	LoginFailure    = "failure"
	LoginThrottled  = "throttled"
	LoginUnverified = "email_unverified"
	LoginError      = "error"
	// LoginMFARequired: the password was right and a second factor is
	// due; the sign-in counts as a success once that is given.
	LoginMFARequired = "mfa_required"
)

// statusRecorder remembers the status a handler answered and the route
// the mux chose; one per request, from a pool.
type statusRecorder struct {
	http.ResponseWriter
	code    int
	pattern string
	routed  bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (the feed
// stream flushes and sets deadlines through it).
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var recorders = sync.Pool{New: func() any { return new(statusRecorder) }}

// measure is the outermost middleware when Config.Metrics is set: it
// times each request and reports it with its route and status.
func (s *Server) measure(next http.Handler) http.Handler {
	m := s.cfg.Metrics
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := recorders.Get().(*statusRecorder)
		*rec = statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		code, pattern := rec.code, rec.pattern
		if code == 0 {
			code = http.StatusOK
		}
		if !rec.routed {
			// Refused before routing (cross-origin protection): name the
			// route it would have reached.
			_, pattern = s.mux.Handler(r)
		}
		*rec = statusRecorder{}
		recorders.Put(rec)
		m.Request(pattern, r.Method, code, time.Since(start))
	})
}

// routed runs the mux and tells measure's recorder which pattern matched
// (the mux sets it on the request it is given, which the middleware
// between may have copied).
func (s *Server) routed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, ok := w.(*statusRecorder)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		rec.routed = true
		defer func() { rec.pattern = r.Pattern }() // a handler may panic
		next.ServeHTTP(w, r)
	})
}

func (s *Server) observeLogin(outcome string) {
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.Login(outcome)
	}
}

func (s *Server) throttleRefused(name string) {
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.ThrottleRefused(name)
	}
}

// grantRecorder remembers the status and the OAuth error code of a token
// response, for Metrics.Grant.
type grantRecorder struct {
	http.ResponseWriter
	code     int
	oauthErr string
}

func (w *grantRecorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *grantRecorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *grantRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *grantRecorder) outcome() string {
	switch {
	case w.code < 300:
		return "success"
	case w.oauthErr != "":
		return w.oauthErr
	default:
		return "error"
	}
}
