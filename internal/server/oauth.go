package server

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/client"
	"github.com/authd/authd/event"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/session"
	"github.com/authd/authd/token"
)

// TokenConfig wires token mode.
type TokenConfig struct {
	Issuer    *token.Issuer
	Refresher *refresh.Refresher
	Keys      interface{ JWKS() ([]byte, error) }
	Clients   *client.Service
	// IssuerURL is the iss of tokens and the base of the metadata URLs.
	IssuerURL string
	// Scopes are the scopes a client may ask for. A request without a
	// scope gets all of them.
	Scopes []string
	// PublicClientID is the client_id of first-party public clients that
	// do not authenticate (default "authd").
	PublicClientID string
	// AccessTTL is the access-token lifetime, for expires_in.
	AccessTTL time.Duration
}

// oauthError is an RFC 6749 §5.2 error response.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="authd"`)
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(oauthError{Error: code, Description: desc})
}

// readForm parses an application/x-www-form-urlencoded body of at most 64
// KiB. Parameters in the URL are refused (credentials must not be in
// URLs), and so are repeated parameters (RFC 6749 §3.2).
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return nil, false
	}
	if r.URL.RawQuery != "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "parameters must be sent in the body, not the URL")
		return nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeOAuthError(w, http.StatusRequestEntityTooLarge, "invalid_request", "the body is too large")
			return nil, false
		}
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the body is not valid form data")
		return nil, false
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "parameter "+safeName(k)+" is repeated")
			return nil, false
		}
	}
	return r.PostForm, true
}

func safeName(k string) string {
	if len(k) > 40 || strings.ContainsFunc(k, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return "(unprintable)"
	}
	return strconv.Quote(k)
}

// clientOf authenticates the client of a token request: HTTP Basic for
// confidential clients, or the public client ID. ok is false after an
// error response was written.
func (s *Server) clientOf(w http.ResponseWriter, r *http.Request, form url.Values) (string, bool) {
	tc := s.cfg.Tokens
	if id, secret, has := basicClient(r); has {
		cid, ok := s.authenticateClient(w, r, id, secret)
		if !ok {
			return "", false
		}
		if fid := form.Get("client_id"); fid != "" && fid != cid {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "client_id does not match the authenticated client")
			return "", false
		}
		return cid, true
	}
	cid := form.Get("client_id")
	if cid == "" || cid == tc.PublicClientID {
		return tc.PublicClientID, true
	}
	writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "unknown client, or a confidential client without its credentials")
	return "", false
}

func (s *Server) writeOAuthUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "token endpoint failed", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "1")
	writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "try again shortly")
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

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	form, ok := readForm(w, r)
	if !ok {
		return
	}
	clientID, ok := s.clientOf(w, r, form)
	if !ok {
		return
	}
	switch form.Get("refresh_token_delivery") {
	case "", "body", "cookie":
	default:
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "refresh_token_delivery must be body or cookie")
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case "password":
		s.passwordGrant(w, r, form, clientID)
	case "refresh_token":
		s.refreshGrant(w, r, form, clientID)
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "supported: password, refresh_token")
	}
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
		s.writeGrantError(w, r, err)
		return
	}
	g, err := tc.Refresher.Start(ctx, u.ID, clientID, scope, session.Meta{IP: ip, UserAgent: r.UserAgent()})
	if err != nil {
		s.writeOAuthUnavailable(w, r, err)
		return
	}
	sess := g.Session
	if err := s.stillEnabled(ctx, u.ID, sess.ID); err != nil {
		s.writeGrantError(w, r, err)
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
	switch {
	case errors.Is(err, refresh.ErrOtherClient):
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token was issued to another client")
		return
	case errors.Is(err, refresh.ErrWiderScope):
		writeOAuthError(w, http.StatusBadRequest, "invalid_scope", "a refresh may only narrow the original scope")
		return
	case errors.As(err, &reused):
		s.log.WarnContext(ctx, "refresh token reused: session revoked", "session_id", reused.SessionID, "user_id", reused.UserID, "ip", s.clientIP(r))
	}
	if err != nil {
		s.writeGrantError(w, r, err)
		return
	}
	s.issueTokens(w, r, g.Refresh.UserID, g.Session, clientID, g.Scope, g.Token)
}

func (s *Server) issueTokens(w http.ResponseWriter, r *http.Request, userID string, sess *session.Session, clientID, scope, refresh string) {
	tc := s.cfg.Tokens
	at, exp, err := tc.Issuer.Issue(token.Grant{UserID: userID, SessionID: sess.ID, ClientID: clientID, Scope: scope, NotAfter: sess.ExpiresAt})
	if err != nil {
		s.writeOAuthUnavailable(w, r, err)
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

func (s *Server) writeGrantError(w http.ResponseWriter, r *http.Request, err error) {
	if r.PostForm.Get("refresh_token_delivery") == "cookie" && r.PostForm.Get("grant_type") == "refresh_token" &&
		(errors.Is(err, refresh.ErrInvalidGrant) || errors.Is(err, authd.ErrTokenReused)) {
		// A dead refresh cookie is of no use to the browser: clear it.
		http.SetCookie(w, &http.Cookie{Name: RefreshCookieName, Value: "", Path: "/oauth2/token", MaxAge: -1,
			HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	}
	var te *authd.ThrottledError
	var ve *authd.ValidationError
	switch {
	case errors.As(err, &te):
		secs := te.Seconds()
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeOAuthError(w, http.StatusTooManyRequests, "slow_down", "too many failed attempts; retry after "+strconv.Itoa(secs)+" s")
	case errors.As(err, &ve):
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", ve.Error())
	case errors.Is(err, authd.ErrUnauthenticated):
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "invalid username or password")
	case errors.Is(err, refresh.ErrInvalidGrant), errors.Is(err, authd.ErrTokenReused):
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token is invalid, expired or revoked")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
	default:
		s.writeOAuthUnavailable(w, r, err)
	}
}

// handleRevoke is RFC 7009. Any well-formed request gets 200, whether the
// token was known or not (§2.2); a token issued to another client is
// refused with unauthorized_client (§2.1), which tells only its holder that
// it is live. Revoking
// either kind of token ends its session: the refresh chain, every access
// token (through the revocation set) and the session's entry in the list.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	form, ok := readForm(w, r)
	if !ok {
		return
	}
	clientID, ok := s.clientOf(w, r, form)
	if !ok {
		return
	}
	tok := form.Get("token")
	if tok == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	ctx := r.Context()
	sid := ""
	if _, err := refresh.Parse(tok); err == nil {
		// Ends the token's session, unless the token is another client's.
		sid, err = s.cfg.Tokens.Refresher.Revoke(ctx, tok, clientID)
		if errors.Is(err, refresh.ErrOtherClient) {
			writeOAuthError(w, http.StatusBadRequest, "unauthorized_client", "the token was issued to another client")
			return
		}
		if err != nil {
			s.writeOAuthUnavailable(w, r, err) // never claim a revocation that did not happen
			return
		}
	} else if c, err := s.cfg.Verifier.VerifyIgnoringExpiry(tok); err == nil {
		// An expired access token of ours still names its session, and
		// revoking it must end that session (RFC 7009 §2.1: the
		// authorization grant goes too).
		if c.ClientID != clientID {
			// RFC 7009 §2.1: only the client a token was issued to may
			// revoke it (a confidential client's tokens need its secret).
			writeOAuthError(w, http.StatusBadRequest, "unauthorized_client", "the token was issued to another client")
			return
		}
		if err := s.cfg.Sessions.End(ctx, c.SessionID, event.CauseTokenRevoked); err != nil {
			s.writeOAuthUnavailable(w, r, err) // never claim a revocation that did not happen
			return
		}
		sid = c.SessionID
	}
	if sid != "" {
		s.log.InfoContext(ctx, "token revoked: session ended", "session_id", sid)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

type introspection struct {
	Active    bool   `json:"active"`
	Sub       string `json:"sub,omitempty"`
	Sid       string `json:"sid,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Aud       string `json:"aud,omitempty"`
}

// basicClient returns HTTP Basic credentials, form-decoded as RFC 6749
// §2.3.1 requires.
func basicClient(r *http.Request) (id, secret string, ok bool) {
	id, secret, ok = r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	}
	return id, secret, ok
}

// requireClient authenticates a confidential client by HTTP Basic, for
// the endpoints that only such clients may use (introspection, the
// revocation feed). It answers the failure itself and reports whether
// the request may go on.
func (s *Server) requireClient(w http.ResponseWriter, r *http.Request) (clientID string, ok bool) {
	id, secret, has := basicClient(r)
	if !has {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "HTTP Basic client authentication is required")
		return "", false
	}
	return s.authenticateClient(w, r, id, secret)
}

// authenticateClient checks a confidential client's credentials; when
// they fail it has answered (401 invalid_client, or 503 when the store
// is down) and ok is false.
func (s *Server) authenticateClient(w http.ResponseWriter, r *http.Request, id, secret string) (clientID string, ok bool) {
	c, err := s.cfg.Tokens.Clients.Authenticate(r.Context(), id, secret)
	if err != nil {
		if errors.Is(err, authd.ErrUnauthenticated) {
			writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		} else {
			s.writeOAuthUnavailable(w, r, err)
		}
		return "", false
	}
	return c.ID, true
}

// handleIntrospect is RFC 7662, for confidential clients only (§4: the
// endpoint must not become a token-scanning oracle).
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	caller, ok := s.requireClient(w, r)
	if !ok {
		return
	}
	form, ok := readForm(w, r)
	if !ok {
		return
	}
	tok := form.Get("token")
	if tok == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	ctx := r.Context()
	out := introspection{Active: false}
	if _, err := refresh.Parse(tok); err != nil {
		if c, err := s.cfg.Verifier.Verify(tok); err == nil {
			out = introspection{Active: true, Sub: c.Subject, Sid: c.SessionID, Exp: c.ExpiresAt.Unix(), Iat: c.IssuedAt.Unix(),
				Scope: c.Scope, ClientID: c.ClientID, TokenType: "Bearer", Iss: c.Issuer, Aud: strings.Join(c.Audience, " ")}
		}
	} else if rt, err := s.cfg.Tokens.Refresher.Lookup(ctx, tok); err == nil {
		// A refresh token is its client's secret business: other clients
		// (resource servers) learn nothing about it.
		if sess, err := s.cfg.Sessions.ByID(ctx, rt.SessionID); err == nil && rt.ClientID == caller && rt.UsedAt.IsZero() && s.cfg.Now().Before(rt.ExpiresAt) {
			out = introspection{Active: true, Sub: rt.UserID, Sid: sess.ID, Exp: rt.ExpiresAt.Unix(), Iat: rt.IssuedAt.Unix(),
				Scope: rt.Scope, ClientID: rt.ClientID, TokenType: "refresh_token"}
		} else if err != nil && !errors.Is(err, authd.ErrNotFound) {
			s.writeOAuthUnavailable(w, r, err)
			return
		}
	} else if !errors.Is(err, authd.ErrNotFound) {
		s.writeOAuthUnavailable(w, r, err)
		return
	}
	if !out.Active {
		// RFC 7662 §2.2: exactly {"active":false}, nothing more.
		out = introspection{Active: false}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	b, err := s.cfg.Tokens.Keys.JWKS()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// New keys are published a minute before they sign; a cache shorter
	// than that never misses one (verifiers also re-fetch on an unknown
	// kid).
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	w.Write(b)
}

// handleMetadata is RFC 8414 authorization server metadata.
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	base := strings.TrimSuffix(s.cfg.Tokens.IssuerURL, "/")
	md := map[string]any{
		"issuer":                                        base,
		"token_endpoint":                                base + "/oauth2/token",
		"revocation_endpoint":                           base + "/oauth2/revoke",
		"introspection_endpoint":                        base + "/oauth2/introspect",
		"jwks_uri":                                      base + "/.well-known/jwks.json",
		"grant_types_supported":                         []string{"password", "refresh_token"},
		"response_types_supported":                      []string{},
		"scopes_supported":                              s.cfg.Tokens.Scopes,
		"token_endpoint_auth_methods_supported":         []string{"client_secret_basic", "none"},
		"revocation_endpoint_auth_methods_supported":    []string{"client_secret_basic", "none"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		// Not in RFC 8414: where resource servers follow revocations.
		"authd_revocation_feed_endpoint": base + "/v1/revocations",
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	writeJSONCached(w, md)
}

func writeJSONCached(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(v)
}
