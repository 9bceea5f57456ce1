package server

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/authd/authd/client"
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
	IDToken      string `json:"id_token,omitempty"`
}

// tokenIssue is what the token endpoint answers a grant with.
type tokenIssue struct {
	userID  string
	sess    *session.Session
	client  *client.Client
	scope   string
	refresh string // "": none
	// noIDToken: no ID token even with scope openid (a refresh).
	noIDToken bool
	// For the ID token (scope openid), OIDC Core §2:
	nonce    string
	authTime time.Time
	amr      []string
}

func expiresIn(exp, now time.Time) int { return int(exp.Sub(now).Round(time.Second) / time.Second) }

// passwordGrant is RFC 6749 §4.3. It exists for first-party clients;
// the login throttle applies exactly as for POST /v1/session.
func (s *Server) passwordGrant(w http.ResponseWriter, r *http.Request, form url.Values, c *client.Client) {
	clientID := c.ID
	tc := s.cfg.Tokens
	username, pw := form.Get("username"), form.Get("password")
	if username == "" || pw == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "username and password are required")
		return
	}
	within := tc.Scopes
	if len(c.Scopes) > 0 {
		// A client registered with scopes gets no more (as at the
		// authorization endpoint and for client_credentials).
		within = slices.DeleteFunc(slices.Clone(tc.Scopes), func(sc string) bool { return !slices.Contains(c.Scopes, sc) })
	}
	scope, ok := s.scopeOf(form.Get("scope"), within)
	if !ok || scope == "" {
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
	s.users.put(u.ID, s.describeUser(u))
	s.log.InfoContext(ctx, "token login", "user_id", u.ID, "session_id", sess.ID, "client_id", clientID, "ip", ip)
	s.signedIn(ctx, u.ID, sess.ID, clientID, "password_grant")
	s.issueTokens(w, r, tokenIssue{userID: u.ID, sess: sess, client: c, scope: scope, refresh: g.Token,
		authTime: sess.CreatedAt, amr: []string{"pwd"}})
}

func (s *Server) refreshGrant(w http.ResponseWriter, r *http.Request, form url.Values, c *client.Client) {
	clientID := c.ID
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
	// OIDC Core §12.2: a refresh response "might not contain an
	// id_token", and authd sends none. One would need the time of the
	// original sign-in (auth_time), which the token session does not
	// keep: its own start is the code's redemption, possibly hours after
	// the user signed in to authd. The ID token of the sign-in stays the
	// app's statement of who signed in and when.
	s.issueTokens(w, r, tokenIssue{userID: g.Refresh.UserID, sess: g.Session, client: c, scope: g.Scope, refresh: g.Token,
		noIDToken: true})
}

// scopeOf checks a requested scope against the allowed set.
func (s *Server) scopeOf(requested string, within []string) (string, bool) {
	if requested == "" {
		return strings.Join(within, " "), true
	}
	if strings.ContainsAny(requested, "\t\n\r\v\f") {
		return "", false // RFC 6749 §3.3: separated by spaces (%x20) only
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

func (s *Server) issueTokens(w http.ResponseWriter, r *http.Request, ti tokenIssue) {
	tc := s.cfg.Tokens
	sess := ti.sess
	at, exp, err := tc.Issuer.Issue(token.Grant{UserID: ti.userID, SessionID: sess.ID, ClientID: ti.client.ID, Scope: ti.scope, NotAfter: sess.ExpiresAt,
		AMR: amrOf(sess), ACR: session.ACR(sess.AAL())})
	if err != nil {
		s.writeOAuthFailure(w, r, err)
		return
	}
	var idt string
	if !ti.noIDToken && slices.Contains(strings.Fields(ti.scope), "openid") {
		if idt, err = s.idToken(r, ti, at); err != nil {
			s.writeOAuthFailure(w, r, err)
			return
		}
	}
	refresh := ti.refresh
	w.Header().Set("Pragma", "no-cache")
	if r.PostForm.Get("refresh_token_delivery") == "cookie" && refresh != "" {
		// The refresh token goes only into an HttpOnly cookie scoped to
		// this endpoint: never into the body, never readable by scripts.
		http.SetCookie(w, &http.Cookie{Name: RefreshCookieName, Value: refresh, Path: "/oauth2/token",
			MaxAge: max(int(sess.ExpiresAt.Sub(s.cfg.Now())/time.Second), 1), HttpOnly: true, Secure: true,
			SameSite: http.SameSiteStrictMode})
		refresh = ""
	}
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: at, TokenType: "Bearer", ExpiresIn: expiresIn(exp, s.cfg.Now()),
		RefreshToken: refresh, Scope: ti.scope, IDToken: idt,
	})
}

// idToken is OIDC Core §2's ID token for the grant: aud is the client,
// sid the app's session (the one back-channel logout names), at_hash
// binds it to the access token issued with it (§3.1.3.6).
func (s *Server) idToken(r *http.Request, ti tokenIssue, accessToken string) (string, error) {
	c := token.IDClaims{
		Subject: ti.userID, Audience: ti.client.ID, Nonce: ti.nonce, SessionID: ti.sess.ID,
		AccessToken: accessToken, AMR: ti.amr, ACR: session.ACR(session.AAL(ti.amr)), AuthTime: ti.authTime, Alg: s.idTokenAlg(ti.client),
	}
	if slices.Contains(strings.Fields(ti.scope), "email") {
		u, err := s.userBody(r.Context(), ti.userID)
		if err != nil {
			return "", err
		}
		c.Email = u.Email
		verified := u.EmailVerified
		c.EmailVerified = &verified
	}
	return s.cfg.Tokens.Issuer.IssueID(c)
}

// idTokenAlg is the client's registered id_token_signed_response_alg, or
// RS256 (OIDC Core §15.1), or the ring's first algorithm without RS256.
func (s *Server) idTokenAlg(c *client.Client) string {
	algs := s.cfg.Tokens.IDTokenAlgs
	if c.IDTokenAlg != "" && slices.Contains(algs, c.IDTokenAlg) {
		return c.IDTokenAlg
	}
	if c.IDTokenAlg != "" {
		s.log.Warn("the client registered an ID token algorithm this deployment does not sign with (add it to --signing-alg)",
			"client_id", c.ID, "id_token_alg", c.IDTokenAlg, "signing_algs", algs)
	}
	if slices.Contains(algs, "RS256") || len(algs) == 0 {
		return "RS256"
	}
	return algs[0]
}

// RefreshCookieName is the refresh-token cookie of browser token mode. The
// __Secure- prefix makes browsers insist on Secure; __Host- is impossible
// because the cookie is scoped to the token endpoint's path.
const RefreshCookieName = "__Secure-authd_refresh"
