package server

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/authd/authd/refresh"
	"github.com/authd/authd/session"
	"github.com/authd/authd/token"
)

// The token endpoint's grants (RFC 6749 §4.3 password, §6 refresh) and the
// tokens they issue.

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}

// passwordGrant is RFC 6749 §4.3. It exists for first-party clients;
// the login throttle applies exactly as for POST /v1/session.
func (s *Server) passwordGrant(w http.ResponseWriter, r *http.Request, form url.Values, clientID string) {
	tc := s.cfg.Tokens
	username, pw := form.Get("username"), form.Get("password")
	if username == "" || pw == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "username and password are required")
		return
	}
	scope, ok := s.scopeOf(form.Get("scope"), tc.Scopes)
	if !ok {
		writeOAuthError(w, http.StatusBadRequest, "invalid_scope", "the requested scope is not allowed")
		return
	}
	ctx := r.Context()
	ip := s.clientIP(r)
	u, err := s.login(w, r, username, pw)
	if err != nil {
		s.writeOAuthFailure(w, r, err)
		return
	}
	g, err := tc.Refresher.Start(ctx, u.ID, clientID, scope, session.Meta{IP: ip, UserAgent: r.UserAgent()})
	if err != nil {
		s.writeOAuthFailure(w, r, err)
		return
	}
	sess := g.Session
	if err := s.stillEnabled(ctx, u.ID, sess.ID); err != nil {
		s.writeOAuthFailure(w, r, err)
		return
	}
	s.users.put(u.ID, userBody{ID: u.ID, Email: u.Email, CreatedAt: u.CreatedAt})
	s.log.InfoContext(ctx, "token login", "user_id", u.ID, "session_id", sess.ID, "client_id", clientID, "ip", ip)
	s.issueTokens(w, r, u.ID, sess, clientID, scope, g.Token)
}

func (s *Server) refreshGrant(w http.ResponseWriter, r *http.Request, form url.Values, clientID string) {
	tc := s.cfg.Tokens
	presented := form.Get("refresh_token")
	if presented == "" && form.Get("refresh_token_delivery") == "cookie" {
		// Browser token mode: the token lives in an HttpOnly cookie that
		// scripts cannot read. Cross-origin POSTs never get here
		// (CrossOriginProtection), so another site cannot spend it.
		if c, err := r.Cookie(RefreshCookieName); err == nil {
			presented = c.Value
		}
	}
	if presented == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "refresh_token is required")
		return
	}
	ctx := r.Context()
	// One store operation checks the client binding (RFC 6749 §6) and the
	// scope before it spends the token: a refused request cannot use up
	// the rightful client's token.
	g, err := tc.Refresher.Rotate(ctx, refresh.Request{Token: presented, ClientID: clientID, Scope: form.Get("scope")})
	var reused *refresh.ReusedError
	if errors.As(err, &reused) {
		s.log.WarnContext(ctx, "refresh token reused: session revoked", "session_id", reused.SessionID, "user_id", reused.UserID, "ip", s.clientIP(r))
	}
	if err != nil {
		s.writeOAuthFailure(w, r, err)
		return
	}
	s.issueTokens(w, r, g.Refresh.UserID, g.Session, clientID, g.Scope, g.Token)
}

// scopeOf checks a requested scope against the allowed set.
func (s *Server) scopeOf(requested string, within []string) (string, bool) {
	if requested == "" {
		return strings.Join(within, " "), true
	}
	parts := strings.Fields(requested)
	if len(parts) > 32 {
		return "", false
	}
	var out []string
	for _, p := range parts {
		if !slices.Contains(within, p) {
			return "", false
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return strings.Join(out, " "), true
}

func (s *Server) issueTokens(w http.ResponseWriter, r *http.Request, userID string, sess *session.Session, clientID, scope, refresh string) {
	tc := s.cfg.Tokens
	at, exp, err := tc.Issuer.Issue(token.Grant{UserID: userID, SessionID: sess.ID, ClientID: clientID, Scope: scope, NotAfter: sess.ExpiresAt})
	if err != nil {
		s.writeOAuthFailure(w, r, err)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	if r.PostForm.Get("refresh_token_delivery") == "cookie" {
		// The refresh token goes only into an HttpOnly cookie scoped to
		// this endpoint: never into the body, never readable by scripts.
		http.SetCookie(w, &http.Cookie{Name: RefreshCookieName, Value: refresh, Path: "/oauth2/token",
			MaxAge: max(int(sess.ExpiresAt.Sub(s.cfg.Now())/time.Second), 1), HttpOnly: true, Secure: true,
			SameSite: http.SameSiteStrictMode})
		refresh = ""
	}
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: at, TokenType: "Bearer", ExpiresIn: int(exp.Sub(s.cfg.Now()).Round(time.Second) / time.Second),
		RefreshToken: refresh, Scope: scope,
	})
}

// RefreshCookieName is the refresh-token cookie of browser token mode. The
// __Secure- prefix makes browsers insist on Secure; __Host- is impossible
// because the cookie is scoped to the token endpoint's path.
const RefreshCookieName = "__Secure-authd_refresh"
