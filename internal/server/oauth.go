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
	return s.authenticateClient(w, r, id, secret)
}

// authenticateClient checks a confidential client's credentials; when
// they fail it has answered (401 invalid_client, or 503 when the store
// is down) and ok is false.
func (s *Server) authenticateClient(w http.ResponseWriter, r *http.Request, id, secret string) (clientID string, ok bool) {
	c, err := s.cfg.Tokens.Clients.Authenticate(r.Context(), id, secret)
	if errors.Is(err, authd.ErrUnauthenticated) {
		err = errBadClient
	}
	if err != nil {
		s.writeOAuthFailure(w, r, err)
		return "", false
	}
	return c.ID, true
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
