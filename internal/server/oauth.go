package server

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/authcode"
	"github.com/authd/authd/client"
	"github.com/authd/authd/refresh"
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
	// Codes stores authorization codes.
	Codes authcode.Store
	// PasswordGrant enables RFC 6749 §4.3 (--password-grant=on); RFC
	// 9700 §2.4 says it MUST NOT be used, so it is off by default.
	PasswordGrant bool
	// IDTokenAlgs are the algorithms the key ring can sign ID tokens
	// with (id_token_signing_alg_values_supported); the default is RS256.
	IDTokenAlgs []string
	// HintKeys verify an id_token_hint at end_session (the key ring).
	HintKeys token.Keys
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
	if gr, ok := w.(*grantRecorder); ok {
		gr.oauthErr = code
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(oauthError{Error: code, Description: desc})
}

// writeOAuthFailure answers err on the OAuth endpoints (RFC 6749 §5.2). A
// dead refresh token in a browser's refresh cookie is cleared: it is of no
// use to the browser.
func (s *Server) writeOAuthFailure(w http.ResponseWriter, r *http.Request, err error) {
	o := classify(r.Context(), err)
	if o.gone {
		return
	}
	if o.staleRefresh && r.PostForm.Get("refresh_token_delivery") == "cookie" && r.PostForm.Get("grant_type") == "refresh_token" {
		http.SetCookie(w, &http.Cookie{Name: RefreshCookieName, Value: "", Path: "/oauth2/token", MaxAge: -1,
			HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	}
	if o.unknown || o.oauth.Error == "" {
		s.log.ErrorContext(r.Context(), "token endpoint failed", "path", r.URL.Path, "err", err)
		o = failClosed()
	}
	o.setRetryAfter(w)
	writeOAuthError(w, o.oauthStatus, o.oauth.Error, o.oauth.Description)
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
	c, ok := s.authenticateClientFull(w, r, id, secret)
	if !ok {
		return "", false
	}
	if len(c.RedirectURIs) > 0 {
		// Introspection and the revocation feed tell about every user's
		// tokens and sessions: they are for the deployment's resource
		// servers (clients registered without redirect URIs), not for
		// the apps users sign in to (RFC 7662 §4: the server decides who
		// may introspect).
		writeOAuthError(w, http.StatusForbidden, "unauthorized_client", "only service clients (registered without --redirect-uri) may use this endpoint")
		return "", false
	}
	return c.ID, true
}

// authenticateClientFull checks a confidential client's credentials; when
// they fail it has answered (401 invalid_client, or 503 when the store
// is down) and ok is false.
func (s *Server) authenticateClientFull(w http.ResponseWriter, r *http.Request, id, secret string) (*client.Client, bool) {
	c, err := s.cfg.Tokens.Clients.Authenticate(r.Context(), id, secret)
	if errors.Is(err, authd.ErrUnauthenticated) {
		err = errBadClient
	}
	if err != nil {
		s.writeOAuthFailure(w, r, err)
		return nil, false
	}
	return c, true
}

// clientOf authenticates the client of a token request (RFC 6749 §2.3):
// a confidential client by HTTP Basic (client_secret_basic) or by
// client_id and client_secret in the body (client_secret_post) — one
// method only — and a public client by its client_id alone (it proves
// itself with PKCE). A confidential client without its secret is refused.
// No client_id at all is the built-in first-party client. ok is false
// after an error response was written.
func (s *Server) clientOf(w http.ResponseWriter, r *http.Request, form url.Values) (*client.Client, bool) {
	tc := s.cfg.Tokens
	id, secret, basic := basicClient(r)
	if basic && form.Has("client_secret") {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "use one client authentication method, not two")
		return nil, false
	}
	if !basic && form.Has("client_secret") {
		id, secret, basic = form.Get("client_id"), form.Get("client_secret"), true
	}
	if basic {
		c, ok := s.authenticateClientFull(w, r, id, secret)
		if !ok {
			return nil, false
		}
		if fid := form.Get("client_id"); fid != "" && fid != c.ID {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "client_id does not match the authenticated client")
			return nil, false
		}
		return c, true
	}
	cid := form.Get("client_id")
	if cid == "" || cid == tc.PublicClientID {
		return s.builtinClient(), true
	}
	c, err := tc.Clients.Get(r.Context(), cid)
	switch {
	case errors.Is(err, authd.ErrNotFound):
	case err != nil:
		s.writeOAuthFailure(w, r, err)
		return nil, false
	case c.Public:
		return c, true
	}
	writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "unknown client, or a confidential client without its credentials")
	return nil, false
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	form, ok := readForm(w, r)
	if !ok {
		return
	}
	c, ok := s.clientOf(w, r, form)
	if !ok {
		return
	}
	switch form.Get("refresh_token_delivery") {
	case "", "body", "cookie":
	default:
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "refresh_token_delivery must be body or cookie")
		return
	}
	gt := form.Get("grant_type")
	switch gt {
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
		return
	case client.GrantAuthorizationCode, client.GrantRefreshToken, client.GrantClientCredentials:
	case client.GrantPassword:
		if !s.cfg.Tokens.PasswordGrant {
			// RFC 9700 §2.4: the password grant MUST NOT be used; it is
			// off unless --password-grant=on.
			writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "the password grant is disabled")
			return
		}
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "supported: "+strings.Join(s.grantTypes(), ", "))
		return
	}
	if s.cfg.Metrics != nil {
		// gt is one of the grants served: a fixed set.
		gr := &grantRecorder{ResponseWriter: w}
		defer func() { s.cfg.Metrics.Grant(gt, gr.outcome()) }()
		w = gr
	}
	if !c.AllowsGrant(gt) {
		writeOAuthError(w, http.StatusBadRequest, "unauthorized_client", "the client may not use the "+gt+" grant")
		return
	}
	switch gt {
	case client.GrantAuthorizationCode:
		s.codeGrant(w, r, form, c)
	case client.GrantRefreshToken:
		s.refreshGrant(w, r, form, c)
	case client.GrantClientCredentials:
		s.clientCredentialsGrant(w, r, form, c)
	case client.GrantPassword:
		s.passwordGrant(w, r, form, c)
	}
}

// grantTypes are the grants the token endpoint serves.
func (s *Server) grantTypes() []string {
	gt := []string{client.GrantAuthorizationCode, client.GrantRefreshToken, client.GrantClientCredentials}
	if s.cfg.Tokens.PasswordGrant {
		gt = append(gt, client.GrantPassword)
	}
	return gt
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

func writeJSONCached(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(v)
}
