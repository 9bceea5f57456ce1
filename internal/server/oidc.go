package server

// OpenID Connect: discovery (OIDC Discovery 1.0 §3, RFC 8414), the
// UserInfo endpoint (OIDC Core §5.3) and RP-Initiated Logout 1.0.

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/authd/authd"
	"github.com/authd/authd/client"
	"github.com/authd/authd/event"
	"github.com/authd/authd/token"
)

// metadata is the server's metadata: RFC 8414 and OIDC Discovery share
// one document (OIDC Discovery §3 is a superset).
func (s *Server) metadata() map[string]any {
	tc := s.cfg.Tokens
	base := strings.TrimSuffix(tc.IssuerURL, "/")
	algs := tc.IDTokenAlgs
	if len(algs) == 0 {
		algs = []string{"RS256"}
	}
	return map[string]any{
		"issuer":                                        base,
		"authorization_endpoint":                        base + "/oauth2/authorize",
		"token_endpoint":                                base + "/oauth2/token",
		"userinfo_endpoint":                             base + "/oauth2/userinfo",
		"end_session_endpoint":                          base + "/oauth2/logout",
		"revocation_endpoint":                           base + "/oauth2/revoke",
		"introspection_endpoint":                        base + "/oauth2/introspect",
		"jwks_uri":                                      base + "/.well-known/jwks.json",
		"grant_types_supported":                         s.grantTypes(),
		"response_types_supported":                      []string{"code"},
		"response_modes_supported":                      []string{"query"},
		"code_challenge_methods_supported":              []string{"S256"},
		"scopes_supported":                              append(slices.Clone(tc.Scopes), oidcScopes...),
		"subject_types_supported":                       []string{"public"},
		"id_token_signing_alg_values_supported":         algs,
		"token_endpoint_auth_methods_supported":         []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":    []string{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "at_hash", "amr",
			"email", "email_verified"},
		"prompt_values_supported":                        []string{"none", "login", "consent"},
		"authorization_response_iss_parameter_supported": true, // RFC 9207
		"backchannel_logout_supported":                   true,
		"backchannel_logout_session_supported":           true,
		"claims_parameter_supported":                     false,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		// Not in RFC 8414: where resource servers follow revocations.
		"authd_revocation_feed_endpoint": base + "/v1/revocations",
	}
}

// handleMetadata serves RFC 8414 metadata and OIDC discovery.
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	writeJSONCached(w, s.metadata())
}

// handleMetadataPath is RFC 8414 §3.1's path form: for an issuer with a
// path, the metadata is at /.well-known/oauth-authorization-server/PATH.
func (s *Server) handleMetadataPath(w http.ResponseWriter, r *http.Request) {
	u, err := url.Parse(s.cfg.Tokens.IssuerURL)
	if err != nil || strings.Trim(u.Path, "/") == "" || strings.Trim(u.Path, "/") != r.PathValue("path") {
		s.noRoute(w, r)
		return
	}
	s.handleMetadata(w, r)
}

// handleUserInfo is OIDC Core §5.3: the claims of the access token's
// user, for a token granted scope openid.
func (s *Server) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	if _, ok := bearerToken(r); !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="authd"`)
		writeProblem(w, problem{Type: problemType("unauthenticated"), Status: http.StatusUnauthorized,
			Detail: "An access token is required (Authorization: Bearer)."})
		return
	}
	c, err := s.authenticate(r)
	if err == nil && c.SessionID == "" {
		err = errBadToken // a client's own token names no user
	}
	if err != nil {
		s.writeAuthError(w, r, err)
		return
	}
	scopes := strings.Fields(c.Scope)
	if !slices.Contains(scopes, "openid") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="authd", error="insufficient_scope", scope="openid"`)
		writeProblem(w, problem{Type: problemType("insufficient-scope"), Title: "Insufficient scope", Status: http.StatusForbidden,
			Detail: "UserInfo needs a token with the openid scope."})
		return
	}
	u, err := s.userBody(r.Context(), c.UserID)
	if err != nil {
		s.writeAuthError(w, r, err)
		return
	}
	out := map[string]any{"sub": c.UserID}
	if slices.Contains(scopes, "email") {
		out["email"] = u.Email
		out["email_verified"] = u.EmailVerified
	}
	writeJSON(w, http.StatusOK, out)
}

type logoutView struct {
	App    string
	Hidden []hiddenField
}

// handleEndSession is OpenID RP-Initiated Logout 1.0: the app sends the
// browser here to sign the user out, with an id_token_hint naming the
// user and the app's session, and may ask to be sent back to a
// registered post_logout_redirect_uri (exact match, §3) with its state.
//
// With a valid hint for the browser's own user the sign-out happens at
// once: the app's session (the hint's sid) and this browser's authd
// session end. Without one, or with a hint for another user, the user
// confirms on a page first (§2: a logout request could be forged by any
// site), and only this browser's session ends. A browser with no authd
// session has nothing to end here: it is sent back at once (the app ends
// its own session, and may revoke its refresh token).
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) {
	// An id_token_hint is up to token.MaxTokenLen bytes.
	p, ok := authzParams(w, r, token.MaxTokenLen)
	if !ok {
		s.authzErrorPage(w, r, http.StatusBadRequest, "The sign-out request could not be read.")
		return
	}
	tc := s.cfg.Tokens
	var hint *token.HintClaims
	if raw := p.Get("id_token_hint"); raw != "" {
		h, err := token.ParseIDTokenHint(tc.HintKeys, strings.TrimSuffix(tc.IssuerURL, "/"), raw)
		if err != nil {
			s.log.InfoContext(r.Context(), "end session: id_token_hint refused", "err", err)
			s.authzErrorPage(w, r, http.StatusBadRequest, "The sign-out request carries an ID token that authd did not issue.")
			return
		}
		hint = h
	}
	clientID := p.Get("client_id")
	if hint != nil {
		if clientID != "" && clientID != hint.Audience {
			s.authzErrorPage(w, r, http.StatusBadRequest, "The sign-out request names two different applications.")
			return
		}
		clientID = hint.Audience
	}
	var c *client.Client
	if clientID != "" {
		var err error
		c, err = s.clientByID(r, clientID)
		if errors.Is(err, authd.ErrNotFound) {
			s.authzErrorPage(w, r, http.StatusBadRequest, "The application is not registered with authd.")
			return
		}
		if err != nil {
			s.pageFailure(w, r, err)
			return
		}
	}
	back := p.Get("post_logout_redirect_uri")
	if back != "" && (c == nil || !c.PostLogoutAllowed(back)) {
		s.authzErrorPage(w, r, http.StatusBadRequest, "The address to return to after signing out is not registered for this application.")
		return
	}
	browser, err := s.cookieCaller(r)
	if err != nil && !errors.Is(err, authd.ErrUnauthenticated) {
		s.pageFailure(w, r, err)
		return
	}
	confirmed := r.Method == http.MethodPost && p.Get("decision") == "logout"
	sameUser := hint != nil && browser != nil && browser.UserID == hint.Subject
	if browser != nil && !sameUser && !confirmed {
		s.renderLogoutConfirm(w, r, p, c, browser)
		return
	}
	ctx := r.Context()
	if sameUser && hint.SessionID != "" {
		// The app's session, if it is this browser's user's: a hint for
		// another user (or with no browser session at all) ends nothing,
		// so an ID token that leaked cannot sign its user out.
		if sess, err := s.cfg.Sessions.ByID(ctx, hint.SessionID); err == nil && sess.UserID == hint.Subject {
			if err := s.cfg.Sessions.End(ctx, sess.ID, event.CauseEndSession); err != nil && !errors.Is(err, authd.ErrNotFound) {
				s.pageFailure(w, r, err)
				return
			}
		} else if err != nil && !errors.Is(err, authd.ErrNotFound) {
			s.pageFailure(w, r, err)
			return
		}
	}
	if browser != nil {
		if err := s.endSession(ctx, browser); err != nil && !errors.Is(err, authd.ErrNotFound) {
			s.pageFailure(w, r, err)
			return
		}
	}
	if _, err := r.Cookie(s.cfg.CookieName); err == nil {
		s.clearSessionCookie(w)
	}
	s.log.InfoContext(ctx, "end session", "client_id", clientID, "hint", hint != nil)
	if back == "" {
		s.seeOther(w, r, "/login?done=signed-out")
		return
	}
	u, _ := url.Parse(back) // registered URIs parse
	if st := p.Get("state"); st != "" {
		q := u.Query()
		q.Set("state", st)
		u.RawQuery = q.Encode()
	}
	setPageHeaders(w)
	w.Header().Set("Location", u.String())
	if r.Method == http.MethodPost {
		w.WriteHeader(http.StatusSeeOther)
	} else {
		w.WriteHeader(http.StatusFound)
	}
}

func (s *Server) renderLogoutConfirm(w http.ResponseWriter, r *http.Request, p url.Values, c *client.Client, browser *caller) {
	d := &pageData{Title: "Sign out", Logout: &logoutView{}}
	if c != nil {
		d.Logout.App = c.Name
		if back := p.Get("post_logout_redirect_uri"); back != "" {
			d.FormActions = []string{formActionSource(back)}
		}
	}
	if browser != nil {
		if u, err := s.userBody(r.Context(), browser.UserID); err == nil {
			d.User = u.Email
		}
	}
	for k, v := range p {
		if k == "decision" {
			continue
		}
		d.Logout.Hidden = append(d.Logout.Hidden, hiddenField{k, v[0]})
	}
	slices.SortFunc(d.Logout.Hidden, func(a, b hiddenField) int { return strings.Compare(a.Name, b.Name) })
	w.Header().Set("X-Frame-Options", "DENY")
	s.render(w, r, http.StatusOK, "logout", d)
}
