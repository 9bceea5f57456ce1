// Package server is authd's HTTP API on net/http's ServeMux: routing,
// middleware (security headers, cross-origin protection, recovery), request
// decoding and the one error→status table.
package server

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd/authd/event"
	"github.com/authd/authd/mfa"
	"github.com/authd/authd/passkey"
	"github.com/authd/authd/session"
	"github.com/authd/authd/throttle"
	"github.com/authd/authd/token"
	"github.com/authd/authd/user"
	"github.com/authd/authd/wire"
)

// Pinger reports whether the store is reachable, for /readyz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config wires a Server. Users, Sessions and Store are required.
type Config struct {
	Users    *user.Service
	Sessions *session.Manager
	Store    Pinger
	// AccountThrottle and IPThrottle limit failed logins per account and
	// per client IP; nil disables that limit (--login-throttle off).
	AccountThrottle throttle.Throttler
	IPThrottle      throttle.Throttler
	// IPv6Prefix is the prefix length by which IPv6 clients share one
	// per-IP throttle budget; default 64. IPv4 clients are counted by
	// address.
	IPv6Prefix int
	// DeviceKey is the HMAC key of the device cookie that exempts a
	// client that signed in to an account before from failures made
	// elsewhere (device.go). Instances sharing a store must share it;
	// default: random per process.
	DeviceKey []byte
	// MailAddrThrottle and MailIPThrottle bound the mails a client can
	// have sent (reset links, verification links) per address and per
	// IP; nil: no limit.
	MailAddrThrottle throttle.Throttler
	MailIPThrottle   throttle.Throttler
	// NotifyNewDevice mails the user after a sign-in from a client that
	// never signed in to the account before (no device cookie for it).
	NotifyNewDevice bool
	// Audit serves the user's own security events (GET /v1/user/events,
	// the account page); nil: none are shown.
	Audit EventLister
	// Events receives the security events the HTTP layer sees (sign-ins,
	// failed sign-ins, consents) for the audit trail; nil: none.
	Events event.Publisher
	// MFA enables second factors (TOTP, recovery codes) and passkey
	// storage; nil: accounts have none.
	MFA *mfa.Service
	// Passkeys enables passkey registration and sign-in (WebAuthn); it
	// needs MFA (its credentials and ceremonies live there). nil: none.
	Passkeys *passkey.Service
	// RegistrationClosed makes POST /v1/users answer 403.
	RegistrationClosed bool
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// CookieName is the session cookie; default "__Host-authd_session".
	CookieName string
	// Verifier accepts bearer access tokens on /v1/*; nil: cookies only.
	Verifier *token.Verifier
	// Tokens enables the OAuth endpoints; nil: session mode only.
	Tokens *TokenConfig
	// Feed serves GET /v1/revocations to resource servers; nil: no feed.
	Feed *Feed
	// RequestTimeout bounds each request's work (store calls included), so
	// a store that hangs yields 503s instead of piling up requests.
	// Default 10 s. The revocation feed stream is exempt.
	RequestTimeout time.Duration
	// Metrics observes requests, sign-ins, token grants and throttle
	// refusals; nil: nothing is observed.
	Metrics Metrics
	Logger  *slog.Logger
	Now     func() time.Time
}

// DefaultCookieName is the session cookie (wire.SessionCookie).
const DefaultCookieName = wire.SessionCookie

// Server serves the API.
type Server struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	handler  http.Handler
	draining atomic.Bool
	users    userCache
	inflight inflight // password guesses running per throttle key
	// apiRoutes are the API patterns registered (see Routes).
	apiRoutes []string
	// mailJobs holds a slot per reset request worked on after its
	// answer (email.go).
	mailJobs chan struct{}
	// allScopes is every scope authd grants, space-separated: a cookie
	// session's scope, and what fullAccess asks of a token.
	allScopes string
	// ceremonies limits anonymous passkey sign-in ceremonies per IP.
	ceremonies *rateLimit
}

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CookieName == "" {
		cfg.CookieName = DefaultCookieName
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.Events == nil {
		cfg.Events = event.Discard
	}
	if cfg.IPv6Prefix <= 0 || cfg.IPv6Prefix > 128 {
		cfg.IPv6Prefix = 64
	}
	if len(cfg.DeviceKey) == 0 {
		cfg.DeviceKey = make([]byte, 32)
		rand.Read(cfg.DeviceKey)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), mailJobs: make(chan struct{}, mailJobs),
		ceremonies: newRateLimit(30, 2*time.Second, cfg.Now)}
	if cfg.Tokens != nil {
		s.allScopes = strings.Join(cfg.Tokens.Scopes, " ")
	}
	s.routes()
	cop := http.NewCrossOriginProtection()
	// An authorization request may be POSTed by the app's own page (OIDC
	// Core §3.1.2.1), from the app's origin. It changes nothing by
	// itself: the consent decision it may carry is bound to the browser's
	// session by an HMAC (consentToken), and the SameSite=Lax session
	// cookie is not sent with a cross-site POST at all.
	cop.AddInsecureBypassPattern("POST /oauth2/authorize")
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, problem{Type: problemType("cross-origin"), Title: "Cross-origin request refused", Status: http.StatusForbidden,
			Detail: "State-changing requests must come from authd's own origin."})
	}))
	if cfg.Metrics != nil {
		s.handler = s.measure(s.recoverer(securityHeaders(cop.Handler(s.deadline(s.routed(s.mux))))))
	} else {
		s.handler = s.recoverer(securityHeaders(cop.Handler(s.deadline(s.mux))))
	}
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Drain makes /readyz answer 503, so load balancers stop sending traffic
// while in-flight requests finish.
func (s *Server) Drain() { s.draining.Store(true) }

func (s *Server) routes() {
	m := s.mux
	// api registers an API route and records it for Routes, so the test
	// that keeps the OpenAPI document honest reads the real router.
	api := func(pattern string, h http.HandlerFunc) {
		s.apiRoutes = append(s.apiRoutes, pattern)
		m.HandleFunc(pattern, h)
	}
	api("POST /v1/users", s.handleRegister)
	api("POST /v1/session", s.handleLogin)
	api("GET /v1/session", s.authed(s.handleGetSession))
	api("DELETE /v1/session", s.handleLogout)
	api("GET /v1/user", s.authed(s.handleGetUser))
	api("PUT /v1/user/password", s.authed(s.fullAccess(s.handleChangePassword)))
	api("GET /v1/user/events", s.authed(s.fullAccess(s.handleUserEvents)))
	api("GET /v1/sessions", s.authed(s.handleListSessions))
	api("DELETE /v1/sessions", s.authed(s.fullAccess(s.handleRevokeOthers)))
	api("DELETE /v1/sessions/{id}", s.authed(s.fullAccess(s.handleRevokeSession)))
	api("POST /v1/password-reset", s.handleResetRequest)
	api("POST /v1/password-reset/confirm", s.handleResetConfirm)
	api("POST /v1/user/email/verify", s.handleLinkToken(s.verifyEmail))
	api("POST /v1/user/email/verification", s.authed(s.fullAccess(s.handleResendVerification)))
	api("PUT /v1/user/email", s.authed(s.fullAccess(s.handleChangeEmail)))
	api("POST /v1/user/email/confirm", s.handleLinkToken(s.confirmEmail))
	api("POST /v1/user/email/undo", s.handleLinkToken(s.undoEmail))
	if s.cfg.MFA != nil {
		api("POST /v1/session/mfa", s.handleLoginMFA)
		api("GET /v1/user/mfa", s.authed(s.fullAccess(s.handleGetMFA)))
		api("POST /v1/user/mfa/totp", s.authed(s.fullAccess(s.handleBeginTOTP)))
		api("POST /v1/user/mfa/totp/confirm", s.authed(s.fullAccess(s.handleConfirmTOTP)))
		api("DELETE /v1/user/mfa/totp", s.authed(s.fullAccess(s.handleDisableTOTP)))
		api("POST /v1/user/mfa/recovery-codes", s.authed(s.fullAccess(s.handleNewRecoveryCodes)))
		if s.cfg.Passkeys != nil {
			api("POST /v1/user/passkeys/register/begin", s.authed(s.fullAccess(s.handleBeginPasskeyRegistration)))
			api("POST /v1/user/passkeys/register/finish", s.authed(s.fullAccess(s.handleFinishPasskeyRegistration)))
			api("GET /v1/user/passkeys", s.authed(s.fullAccess(s.handleListPasskeys)))
			api("PATCH /v1/user/passkeys/{id}", s.authed(s.fullAccess(s.handleRenamePasskey)))
			api("DELETE /v1/user/passkeys/{id}", s.authed(s.fullAccess(s.handleDeletePasskey)))
			api("POST /v1/passkeys/login/begin", s.handleBeginPasskeyLogin)
			api("POST /v1/passkeys/login/finish", s.handleFinishPasskeyLogin)
		}
	}
	if s.cfg.Tokens != nil {
		api("POST /oauth2/token", s.handleToken)
		api("POST /oauth2/revoke", s.handleRevoke)
		api("POST /oauth2/introspect", s.handleIntrospect)
		api("GET /.well-known/jwks.json", s.handleJWKS)
		api("GET /.well-known/oauth-authorization-server", s.handleMetadata)
		api("GET /.well-known/oauth-authorization-server/{path...}", s.handleMetadataPath)
		api("GET /.well-known/openid-configuration", s.handleMetadata)
		api("GET /oauth2/authorize", s.handleAuthorize)
		api("POST /oauth2/authorize", s.handleAuthorize)
		api("GET /oauth2/userinfo", s.handleUserInfo)
		api("POST /oauth2/userinfo", s.handleUserInfo)
		api("GET /oauth2/logout", s.handleEndSession)
		api("POST /oauth2/logout", s.handleEndSession)
	}
	api("GET /v1/auth/check", s.handleAuthCheck)
	api("GET /v1/revocations", s.handleRevocations)
	api("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	api("GET /readyz", s.handleReady)
	s.pageRoutes(m)
	m.HandleFunc("/", s.noRoute)
}

// Routes lists the method+pattern of every API route this server serves
// (pages excluded), as registered on its router.
func (s *Server) Routes() []string { return slices.Clone(s.apiRoutes) }

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		w.Header().Set("Retry-After", "1")
		writeProblem(w, problem{Type: problemType("unavailable"), Status: http.StatusServiceUnavailable, Detail: "authd is shutting down."})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Store.Ping(ctx); err != nil {
		s.log.WarnContext(r.Context(), "readiness: store unreachable", "err", err)
		w.Header().Set("Retry-After", "1")
		writeProblem(w, problem{Type: problemType("unavailable"), Status: http.StatusServiceUnavailable, Detail: "The store is unreachable."})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// deadline gives every request (but the feed stream) a context deadline.
func (s *Server) deadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/revocations" {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		// Who is asking, for the events recorded on the way (audit).
		ctx = event.WithRequest(ctx, event.Request{IP: s.clientIP(r), UserAgent: r.UserAgent()})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// securityHeaders sets the headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// recoverer turns a panic into a bare 500: the stack goes to the log, never
// to the client.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", "method", r.Method, "path", r.URL.Path,
					"panic", v, "stack", string(debug.Stack()))
				writeProblem(w, problem{Type: problemType("internal"), Status: http.StatusInternalServerError})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// userCache remembers the public view of users by ID; see userBody.
// userCache keeps users' public descriptions for a few seconds: an
// address changed through this instance is forgotten at once, one
// changed through another within userCacheTTL.
type userCache struct {
	mu sync.RWMutex
	m  map[string]cachedUser
}

type cachedUser struct {
	u     userBody
	until time.Time
}

const userCacheTTL = 5 * time.Second

const userCacheMax = 100_000

func (c *userCache) get(id string) (userBody, bool) {
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	if !ok || time.Now().After(e.until) {
		return userBody{}, false
	}
	return e.u, true
}

// forget drops id's entry (its address or verification changed).
func (c *userCache) forget(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

func (c *userCache) put(id string, u userBody) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= userCacheMax {
		c.m = make(map[string]cachedUser)
	}
	c.m[id] = cachedUser{u: u, until: time.Now().Add(userCacheTTL)}
	c.mu.Unlock()
}
