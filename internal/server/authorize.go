package server

// The authorization endpoint: RFC 6749 §4.1 as OAuth 2.1 (draft 13 §4.1)
// and RFC 9700 tighten it, with OpenID Connect Core 1.0 §3.1.2 on top.
//
// Order of checks (RFC 6749 §4.1.2.1): the client and its redirect URI
// first — while either is in doubt the answer is an error page on authd,
// never a redirect (an open redirector otherwise, RFC 9700 §4.11) — then
// every other error goes back to the redirect URI with state and iss.
//
// A code is issued only for a signed-in browser: the authd cookie session
// approves it, and the token endpoint turns it into a new session of its
// own (the app's device), so every sign-in through the code flow is one
// revocable session.

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/authcode"
	"github.com/authd/authd/client"
	"github.com/authd/authd/event"
)

// codeTTL is an authorization code's lifetime: RFC 6749 §4.1.2 advises at
// most 10 minutes; the issue asks for at most 60 s.
const codeTTL = 60 * time.Second

// oidcScopes are the OpenID Connect scopes authd grants besides the API
// scopes (--scopes). profile has no claims of its own (authd keeps no
// name), but clients such as oauth2-proxy ask for it by default.
var oidcScopes = []string{"openid", "email", "profile", "offline_access"}

// authzRequest is a validated authorization request.
type authzRequest struct {
	client       *client.Client
	redirect     string // the effective redirect URI
	redirectSent string // as sent; "" when omitted (one registered URI)
	state        string
	scope        []string
	challenge    string
	nonce        string
	prompt       string // "", none, login or consent
	maxAge       int    // -1: none
	loginHint    string
	params       url.Values // the request as received, for the login return and the consent form
}

// authzError is an error answered at the redirect URI (RFC 6749 §4.1.2.1).
type authzError struct{ code, desc string }

// authzParamMax bounds each parameter; a whole request stays far below the
// 64 KiB body limit and the login page's return_to limit.
const authzParamMax = 512

func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	params, ok := authzParams(w, r, authzParamMax)
	if !ok {
		s.authzErrorPage(w, r, http.StatusBadRequest, "The sign-in request could not be read.")
		return
	}
	ar, msg := s.authzClient(r, params)
	if ar == nil {
		if msg == "" { // the store failed
			s.pageFailure(w, r, errClientLookup)
			return
		}
		s.authzErrorPage(w, r, http.StatusBadRequest, msg)
		return
	}
	if e := s.authzValidate(ar, params); e != nil {
		s.authzRedirectError(w, r, ar, e)
		return
	}
	s.authzContinue(w, r, ar)
}

var errClientLookup = errors.New("client lookup failed")

// authzParams reads the request's parameters: the query of a GET, the
// form body of a POST (OIDC Core §3.1.2.1 allows both). A parameter sent
// twice is refused (RFC 6749 §3.1).
func authzParams(w http.ResponseWriter, r *http.Request, maxLen int) (url.Values, bool) {
	var v url.Values
	if r.Method == http.MethodPost {
		if !parsePageForm(w, r) || r.URL.RawQuery != "" {
			return nil, false
		}
		v = r.PostForm
	} else {
		var err error
		if v, err = url.ParseQuery(r.URL.RawQuery); err != nil {
			return nil, false
		}
	}
	if len(v) > 40 {
		return nil, false
	}
	for k, vs := range v {
		if len(vs) != 1 || len(k) > 64 || len(vs[0]) > maxLen {
			return nil, false
		}
	}
	return v, true
}

// authzClient identifies the client and the redirect URI. It returns nil
// and the error page's message when either is unknown or does not match,
// nil and "" when the store failed.
func (s *Server) authzClient(r *http.Request, p url.Values) (*authzRequest, string) {
	id := p.Get("client_id")
	if id == "" {
		return nil, "The request names no application (client_id is missing)."
	}
	c, err := s.clientByID(r, id)
	if errors.Is(err, authd.ErrNotFound) {
		return nil, "The application is not registered with authd."
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "authorize: client lookup", "err", err)
		return nil, ""
	}
	ar := &authzRequest{client: c, params: p, maxAge: -1}
	ar.redirectSent = p.Get("redirect_uri")
	switch {
	case ar.redirectSent != "":
		if !c.RedirectAllowed(ar.redirectSent) {
			return nil, "The redirect URI is not registered for this application."
		}
		ar.redirect = ar.redirectSent
	case len(c.RedirectURIs) == 1 && !isLoopbackPattern(c.RedirectURIs[0]):
		// OAuth 2.1 §4.1.1: optional when exactly one is registered.
		ar.redirect = c.RedirectURIs[0]
	default:
		return nil, "The request has no redirect_uri, and the application has not exactly one registered."
	}
	return ar, ""
}

// isLoopbackPattern reports whether a registered redirect URI is a
// loopback one, which matches any port and so names no single target.
func isLoopbackPattern(u string) bool {
	return strings.HasPrefix(u, "http://127.0.0.1") || strings.HasPrefix(u, "http://[::1]")
}

// clientByID looks a client up; the built-in first-party public client
// is answered from configuration.
func (s *Server) clientByID(r *http.Request, id string) (*client.Client, error) {
	tc := s.cfg.Tokens
	if id == tc.PublicClientID {
		return s.builtinClient(), nil
	}
	return tc.Clients.Get(r.Context(), id)
}

// builtinClient is the first-party public client of authd's own pages
// (--public-client-id): the token demo signs in with the code flow at
// /demo/token.
func (s *Server) builtinClient() *client.Client {
	tc := s.cfg.Tokens
	gt := []string{client.GrantAuthorizationCode, client.GrantRefreshToken}
	if tc.PasswordGrant {
		gt = append(gt, client.GrantPassword)
	}
	return &client.Client{
		ID: tc.PublicClientID, Name: "authd", Public: true, FirstParty: true,
		RedirectURIs: []string{strings.TrimSuffix(tc.IssuerURL, "/") + "/demo/token"},
		GrantTypes:   gt,
	}
}

// authzValidate checks everything but the client and the redirect URI;
// errors go back to the client.
func (s *Server) authzValidate(ar *authzRequest, p url.Values) *authzError {
	ar.state = p.Get("state")
	if p.Has("request") || p.Has("request_uri") {
		return &authzError{"request_not_supported", "request objects are not supported"}
	}
	switch rm := p.Get("response_mode"); rm {
	case "", "query":
	default:
		return &authzError{"invalid_request", "response_mode must be query"}
	}
	switch rt := p.Get("response_type"); rt {
	case "code":
	case "":
		return &authzError{"invalid_request", "response_type is required"}
	default:
		// OAuth 2.1 removes the implicit grant (RFC 9700 §2.1.2).
		return &authzError{"unsupported_response_type", "only response_type=code is supported"}
	}
	if !ar.client.AllowsGrant(client.GrantAuthorizationCode) {
		return &authzError{"unauthorized_client", "the application may not use the authorization code flow"}
	}
	// PKCE with S256, for every client (RFC 9700 §2.1.1, OAuth 2.1
	// §4.1.1): plain would hand the verifier to whoever reads the URL.
	ar.challenge = p.Get("code_challenge")
	switch m := p.Get("code_challenge_method"); {
	case ar.challenge == "":
		return &authzError{"invalid_request", "code_challenge is required (PKCE, S256)"}
	case m == "plain":
		return &authzError{"invalid_request", "code_challenge_method plain is not allowed; use S256"}
	case m != "S256":
		return &authzError{"invalid_request", "code_challenge_method must be S256"}
	case !validChallenge(ar.challenge):
		return &authzError{"invalid_request", "code_challenge must be a base64url SHA-256 (43 characters)"}
	}
	scope, ok := s.authzScope(ar.client, p.Get("scope"))
	if !ok {
		return &authzError{"invalid_scope", "the requested scope is unknown or not allowed for this application"}
	}
	ar.scope = scope
	ar.nonce = p.Get("nonce")
	ar.loginHint = p.Get("login_hint")
	switch pr := p.Get("prompt"); pr {
	case "", "none", "login", "consent":
		ar.prompt = pr
	case "select_account":
		// One account per browser: nothing to select.
		ar.prompt = ""
	default:
		return &authzError{"invalid_request", "prompt must be none, login or consent"}
	}
	if ma := p.Get("max_age"); ma != "" {
		n, err := strconv.Atoi(ma)
		if err != nil || n < 0 {
			return &authzError{"invalid_request", "max_age must be a non-negative integer"}
		}
		ar.maxAge = n
	}
	return nil
}

// validChallenge: S256 of a verifier is 32 bytes, 43 base64url characters
// without padding (RFC 7636 §4.2).
func validChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(c)
	return err == nil
}

// authzScope resolves the requested scope: every requested value must be
// one authd grants and, when the client registered scopes, one of them.
// No scope asks for the client's registered scopes, or the API scopes.
func (s *Server) authzScope(c *client.Client, requested string) ([]string, bool) {
	all := append(slices.Clone(s.cfg.Tokens.Scopes), oidcScopes...)
	if strings.ContainsAny(requested, "\t\n\r\v\f") {
		return nil, false // RFC 6749 §3.3: separated by spaces (%x20) only
	}
	parts := strings.Fields(requested)
	if len(parts) == 0 {
		parts = c.Scopes
		if len(parts) == 0 {
			parts = s.cfg.Tokens.Scopes
		}
	}
	if len(parts) > 32 {
		return nil, false
	}
	var out []string
	for _, p := range parts {
		if !slices.Contains(all, p) {
			return nil, false
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if !c.AllowsScopes(out) {
		return nil, false
	}
	return out, true
}

// authzContinue signs the user in if needed, asks for consent if needed,
// and issues the code.
func (s *Server) authzContinue(w http.ResponseWriter, r *http.Request, ar *authzRequest) {
	c, err := s.cookieCaller(r)
	if err != nil && !errors.Is(err, authd.ErrUnauthenticated) {
		s.pageFailure(w, r, err)
		return
	}
	now := s.cfg.Now()
	fresh := c != nil && (ar.maxAge < 0 || now.Sub(c.sess.CreatedAt) <= time.Duration(ar.maxAge)*time.Second)
	// prompt=login and max_age=0 (OIDC Core §3.1.2.1: the same) demand a
	// sign-in made after the request: proven by login_after, a time the
	// redirect to /login stamped and MACed, that the session must not
	// predate. The parameter cannot be forged or dropped to skip the
	// sign-in (found by the black-box test: an earlier version dropped
	// prompt=login from the way back, so visiting that URL skipped it).
	if c != nil && (ar.prompt == "login" || ar.maxAge == 0) && !s.reauthenticated(ar, c) {
		fresh = false
	}
	if c == nil || !fresh {
		if ar.prompt == "none" {
			s.authzRedirectError(w, r, ar, &authzError{"login_required", "the user is not signed in"})
			return
		}
		s.authzLogin(w, r, ar, c != nil)
		return
	}
	if r.Method == http.MethodPost && ar.params.Has("decision") {
		s.authzDecision(w, r, ar, c)
		return
	}
	if !ar.client.FirstParty {
		covered := false
		if ar.prompt != "consent" {
			covered, err = s.cfg.Tokens.Clients.ConsentCovers(r.Context(), c.UserID, ar.client.ID, ar.scope)
			if err != nil {
				s.pageFailure(w, r, err)
				return
			}
		}
		if !covered {
			if ar.prompt == "none" {
				s.authzRedirectError(w, r, ar, &authzError{"consent_required", "the user has not approved this application"})
				return
			}
			s.renderConsent(w, r, ar, c)
			return
		}
	}
	s.issueCode(w, r, ar, c)
}

// authzLogin sends the browser to the login page, which comes back here
// with the request unchanged but for login_after/login_mac (see
// reauthenticated). max_age > 0 needs nothing: a sign-in just made
// satisfies it.
func (s *Server) authzLogin(w http.ResponseWriter, r *http.Request, ar *authzRequest, signedIn bool) {
	back := url.Values{}
	for k, v := range ar.params {
		switch k {
		case "decision", "consent_token", "login_after", "login_mac":
			continue
		}
		back[k] = v
	}
	if ar.prompt == "login" || ar.maxAge == 0 {
		ts := strconv.FormatInt(s.cfg.Now().UnixMilli(), 10)
		back.Set("login_after", ts)
		back.Set("login_mac", s.reauthMAC(ar, ts))
	}
	returnTo := "/oauth2/authorize?" + back.Encode()
	q := url.Values{"return_to": {returnTo}}
	if signedIn {
		q.Set("reauth", "1")
	}
	if h := ar.loginHint; h != "" && len(h) <= 254 {
		q.Set("login_hint", h)
	}
	s.seeOther(w, r, "/login?"+q.Encode())
}

// reauthMAC binds a login_after time to this authorization request.
func (s *Server) reauthMAC(ar *authzRequest, ts string) string {
	m := hmac.New(sha256.New, s.cfg.DeviceKey)
	for _, v := range []string{"authd reauth v1", ts, ar.client.ID, ar.redirect, ar.challenge, ar.state, ar.nonce} {
		m.Write([]byte(v))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// reauthenticated reports whether the browser signed in after the
// login_after the redirect to /login stamped (at most 10 minutes ago).
func (s *Server) reauthenticated(ar *authzRequest, c *caller) bool {
	ts, mac := ar.params.Get("login_after"), ar.params.Get("login_mac")
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || !hmac.Equal([]byte(mac), []byte(s.reauthMAC(ar, ts))) {
		return false
	}
	after := time.UnixMilli(n)
	if s.cfg.Now().Sub(after) > 10*time.Minute {
		return false
	}
	return !c.sess.CreatedAt.Before(after)
}

// consentToken binds the consent form to the browser's session and to
// exactly what it shows: a forged or replayed form for another client,
// redirect or scope fails, on top of the cross-origin protection that
// refuses cross-site POSTs (ASVS 5.0 3.5.1).
func (s *Server) consentToken(sessionID string, ar *authzRequest) string {
	m := hmac.New(sha256.New, s.cfg.DeviceKey)
	for _, v := range []string{"authd consent v1", sessionID, ar.client.ID, ar.redirect, strings.Join(ar.scope, " "), ar.challenge, ar.state, ar.nonce} {
		m.Write([]byte(v))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) authzDecision(w http.ResponseWriter, r *http.Request, ar *authzRequest, c *caller) {
	want := s.consentToken(c.SessionID, ar)
	if !hmac.Equal([]byte(want), []byte(ar.params.Get("consent_token"))) {
		s.authzErrorPage(w, r, http.StatusForbidden, "The consent form has expired or was not sent from this page. Go back to the application and try again.")
		return
	}
	switch ar.params.Get("decision") {
	case "allow":
		if err := s.cfg.Tokens.Clients.GrantConsent(r.Context(), c.UserID, ar.client.ID, ar.scope); err != nil {
			s.pageFailure(w, r, err)
			return
		}
		s.log.InfoContext(r.Context(), "consent granted", "user_id", c.UserID, "client_id", ar.client.ID, "scope", strings.Join(ar.scope, " "))
		s.cfg.Events.Publish(r.Context(), event.Event{Kind: event.ConsentGiven, At: s.cfg.Now().UTC(), UserID: c.UserID,
			SessionID: c.SessionID, ClientID: ar.client.ID, Reason: strings.Join(ar.scope, " ")})
		s.issueCode(w, r, ar, c)
	case "deny":
		s.authzRedirectError(w, r, ar, &authzError{"access_denied", "the user denied the request"})
	default:
		s.authzErrorPage(w, r, http.StatusBadRequest, "The consent form could not be read.")
	}
}

// issueCode stores a code for the signed-in user and sends it back.
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, ar *authzRequest, c *caller) {
	var raw [32]byte
	rand.Read(raw[:])
	code := base64.RawURLEncoding.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(code))
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	err := s.cfg.Tokens.Codes.CreateCode(r.Context(), &authcode.Code{
		Hash: sum[:], ClientID: ar.client.ID, RedirectURI: ar.redirectSent, Challenge: ar.challenge,
		UserID: c.UserID, Scope: strings.Join(ar.scope, " "), Nonce: ar.nonce,
		AuthTime: c.sess.AuthenticatedAt(), AMR: strings.Join(amrOf(c.sess), " "), BrowserSession: c.SessionID,
		CreatedAt: now, ExpiresAt: now.Add(codeTTL),
	})
	if err != nil {
		s.pageFailure(w, r, err)
		return
	}
	s.authzRedirect(w, r, ar, url.Values{"code": {code}})
}

// authzRedirectError sends an error back to the client.
func (s *Server) authzRedirectError(w http.ResponseWriter, r *http.Request, ar *authzRequest, e *authzError) {
	s.authzRedirect(w, r, ar, url.Values{"error": {e.code}, "error_description": {e.desc}})
}

// authzRedirect answers at the redirect URI with state and iss (RFC 9207:
// the client can tell which server answered, against mix-up, RFC 9700
// §4.4). After a POST it is 303, so the browser does not re-POST the form
// to the client (RFC 9700 §4.12).
func (s *Server) authzRedirect(w http.ResponseWriter, r *http.Request, ar *authzRequest, v url.Values) {
	u, err := url.Parse(ar.redirect)
	if err != nil { // registered URIs parse; a defence only
		s.authzErrorPage(w, r, http.StatusBadRequest, "The redirect URI is not valid.")
		return
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	if ar.state != "" {
		q.Set("state", ar.state)
	}
	q.Set("iss", strings.TrimSuffix(s.cfg.Tokens.IssuerURL, "/"))
	u.RawQuery = q.Encode()
	setPageHeaders(w)
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	w.Header().Set("Location", u.String())
	w.WriteHeader(status)
}

func (s *Server) authzErrorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "error", &pageData{Title: "Sign-in request refused", Alert: msg})
}

// formActionSource is the CSP source of a redirect URI's origin: a form
// whose POST ends in a redirect to the client must allow it, as browsers
// apply form-action to the redirects of a form submission.
func formActionSource(redirect string) string {
	u, err := url.Parse(redirect)
	if err != nil || u.Scheme == "" {
		return ""
	}
	if u.Host == "" { // a private-use scheme (RFC 8252 §7.1)
		return u.Scheme + ":"
	}
	if isLoopbackPattern(redirect) {
		return u.Scheme + "://" + u.Hostname() + ":*"
	}
	return u.Scheme + "://" + u.Host
}

// scopeDescriptions are what the consent page says each scope gives.
var scopeDescriptions = map[string]string{
	"openid":         "Know who you are (your authd account ID)",
	"email":          "See your email address",
	"profile":        "See your basic profile",
	"offline_access": "Keep its access while you are away (until you sign it out)",
	"read":           "Read your authd account and devices",
	"write":          "Change your authd account and sign out your devices",
}

func (s *Server) renderConsent(w http.ResponseWriter, r *http.Request, ar *authzRequest, c *caller) {
	u, err := s.userBody(r.Context(), c.UserID)
	if err != nil {
		s.pageFailure(w, r, err)
		return
	}
	var hidden []hiddenField
	for k, v := range ar.params {
		if k == "decision" || k == "consent_token" {
			continue
		}
		hidden = append(hidden, hiddenField{k, v[0]})
	}
	slices.SortFunc(hidden, func(a, b hiddenField) int { return strings.Compare(a.Name, b.Name) })
	hidden = append(hidden, hiddenField{"consent_token", s.consentToken(c.SessionID, ar)})
	var scopes []string
	for _, sc := range ar.scope {
		scopes = append(scopes, cmp.Or(scopeDescriptions[sc], "Use the scope “"+sc+"”"))
	}
	d := &pageData{Title: "Allow " + ar.client.Name + "?", User: u.Email, Consent: &consentView{
		App: ar.client.Name, Scopes: scopes, Hidden: hidden, RedirectHost: redirectHost(ar.redirect),
	}, FormActions: []string{formActionSource(ar.redirect)}}
	w.Header().Set("X-Frame-Options", "DENY")
	s.render(w, r, http.StatusOK, "consent", d)
}

type hiddenField struct{ Name, Value string }

type consentView struct {
	App          string
	Scopes       []string
	Hidden       []hiddenField
	RedirectHost string
}

func redirectHost(redirect string) string {
	u, err := url.Parse(redirect)
	if err != nil {
		return ""
	}
	return cmp.Or(u.Host, u.Scheme+":")
}
