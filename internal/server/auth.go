package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/authd/authd"
	"github.com/authd/authd/session"
)

// caller is the authenticated party of a request: a cookie session or a
// bearer access token. Both name a session of the one session model.
type caller struct {
	UserID    string
	SessionID string
	Kind      session.Kind
	Scope     string
	sess      *session.Session // loaded for cookies; on demand for tokens
}

// load returns the caller's session, reading it for bearer callers.
func (c *caller) load(ctx context.Context, m *session.Manager) (*session.Session, error) {
	if c.sess != nil {
		return c.sess, nil
	}
	s, err := m.ByID(ctx, c.SessionID)
	if errors.Is(err, authd.ErrNotFound) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, err
	}
	c.sess = s
	return s, nil
}

// authedHandler is a handler that runs only for an authenticated caller.
type authedHandler func(w http.ResponseWriter, r *http.Request, c *caller)

var (
	// errBadToken: a bearer token was presented and is not valid
	// (RFC 6750 §3.1 invalid_token).
	errBadToken = errors.New("invalid bearer token")
	// errTokenInQuery: RFC 6750 §2.3 query tokens end up in logs and
	// Referer headers; authd refuses them (invalid_request).
	errTokenInQuery = errors.New("access token in the query string")
)

// authed authenticates the request (bearer token or session cookie) and
// runs h. Missing, malformed, unknown, expired and revoked credentials all
// get 401 with WWW-Authenticate; a store failure gets 503 (fail closed).
func (s *Server) authed(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.authenticate(r)
		if err != nil {
			s.writeAuthError(w, r, err)
			return
		}
		if !s.apiScope(w, c) {
			return
		}
		h(w, r, c)
	}
}

// apiScope: authd's own API (/v1/*, forward auth) serves a bearer token
// only if it carries at least one API scope (--scopes). A token granted
// only OpenID Connect scopes (openid, email, profile, offline_access) is
// an app's proof of who signed in, for UserInfo: the user consented to
// nothing more, so it must not read the account or the device list
// (found by the black-box test: an openid-only third-party token did).
// It answers 403 insufficient_scope itself when it refuses.
func (s *Server) apiScope(w http.ResponseWriter, c *caller) bool {
	if s.cfg.Tokens == nil || c.Kind != session.KindToken {
		return true
	}
	for _, sc := range strings.Fields(c.Scope) {
		if slices.Contains(s.cfg.Tokens.Scopes, sc) {
			return true
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="authd", error="insufficient_scope", scope="`+s.allScopes+`"`)
	writeProblem(w, problem{Type: problemType("insufficient-scope"), Title: "Insufficient scope", Status: http.StatusForbidden,
		Detail: "authd's API needs a token with one of the scopes " + s.allScopes + "; an OpenID Connect token is for /oauth2/userinfo."})
	return false
}

// fullAccess wraps account-changing handlers (password change, revoking
// other sessions): a bearer token must carry every scope authd grants.
// A token narrowed to fewer scopes can read the account and end its own
// session, but not change the account. Cookie sessions carry every scope.
func (s *Server) fullAccess(h authedHandler) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, c *caller) {
		if s.cfg.Tokens != nil && c.Kind == session.KindToken {
			have := strings.Fields(c.Scope)
			for _, need := range s.cfg.Tokens.Scopes {
				if !slices.Contains(have, need) {
					need := s.allScopes
					w.Header().Set("WWW-Authenticate", `Bearer realm="authd", error="insufficient_scope", scope="`+need+`"`)
					writeProblem(w, problem{Type: problemType("insufficient-scope"), Title: "Insufficient scope", Status: http.StatusForbidden,
						Detail: "Changing the account needs a token with every scope: " + need + "."})
					return
				}
			}
		}
		h(w, r, c)
	}
}

// authenticate finds the caller: a bearer token in the Authorization
// header wins over a cookie.
func (s *Server) authenticate(r *http.Request) (*caller, error) {
	if strings.Contains(r.URL.RawQuery, "access_token") && r.URL.Query().Has("access_token") {
		return nil, errTokenInQuery
	}
	if r.Header.Get("Authorization") != "" {
		tok, ok := bearerToken(r)
		if !ok || s.cfg.Verifier == nil {
			return nil, authd.ErrUnauthenticated
		}
		claims, err := s.cfg.Verifier.Verify(tok)
		if err != nil || claims.SessionID == "" {
			// No sid: a client_credentials token, whose subject is a
			// client, not a user; authd's own API serves users only.
			return nil, errBadToken
		}
		return &caller{UserID: claims.Subject, SessionID: claims.SessionID, Kind: session.KindToken, Scope: claims.Scope}, nil
	}
	return s.cookieCaller(r)
}

// bearerToken returns the token of an "Authorization: Bearer" header; ok
// is false for no header or another scheme.
func bearerToken(r *http.Request) (tok string, ok bool) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// cookieCaller authenticates the session cookie alone (the pages accept
// nothing else: a bearer header or a query token is ignored there).
func (s *Server) cookieCaller(r *http.Request) (*caller, error) {
	ck, err := r.Cookie(s.cfg.CookieName)
	if err != nil {
		return nil, authd.ErrUnauthenticated
	}
	sess, err := s.cfg.Sessions.Check(r.Context(), ck.Value)
	if err != nil {
		return nil, err
	}
	// A cookie session is the user's own first-party login: it carries
	// every scope a token could be granted.
	return &caller{UserID: sess.UserID, SessionID: sess.ID, Kind: sess.Kind, Scope: s.allScopes, sess: sess}, nil
}

// writeAuthError answers an authentication failure (RFC 6750 §3): the
// API's answer, and a session cookie that was refused is cleared.
func (s *Server) writeAuthError(w http.ResponseWriter, r *http.Request, err error) {
	o := classify(r.Context(), err)
	if o.staleCookie {
		if _, cerr := r.Cookie(s.cfg.CookieName); cerr == nil {
			s.clearSessionCookie(w)
		}
	}
	s.writeOutcome(w, r, err, o)
}
