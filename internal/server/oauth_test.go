package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/client"
	"github.com/authd/authd/token"
)

// tokenPair is a successful token endpoint response (RFC 6749 §5.1).
type tokenPair struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// oauthErrorBody is an RFC 6749 §5.2 error response.
type oauthErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// atClaims are the claims of an access token, read without verifying it.
type atClaims struct {
	Iss      string `json:"iss"`
	Sub      string `json:"sub"`
	Aud      string `json:"aud"`
	Exp      int64  `json:"exp"`
	Iat      int64  `json:"iat"`
	Jti      string `json:"jti"`
	Sid      string `json:"sid"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// form encodes key, value pairs in order (repeats allowed).
func form(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// postForm posts a form body to an OAuth endpoint. header may carry
// Authorization (or override Content-Type).
func (h *harness) postForm(path, body string, header map[string]string) *http.Response {
	h.t.Helper()
	hd := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for k, v := range header {
		hd[k] = v
	}
	return h.do(req{method: "POST", path: path, body: body, header: hd})
}

// passwordToken runs the password grant for the public client and
// returns the pair.
func (h *harness) passwordToken(email string, extra ...string) tokenPair {
	h.t.Helper()
	resp := h.postForm("/oauth2/token", form(append([]string{"grant_type", "password", "username", email, "password", testPassword}, extra...)...), nil)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("password grant for %s: status %d: %s", email, resp.StatusCode, readBody(resp))
	}
	return decode[tokenPair](h.t, resp)
}

// refresh redeems a refresh token as the public client.
func (h *harness) refresh(rt string, extra ...string) *http.Response {
	h.t.Helper()
	return h.postForm("/oauth2/token", form(append([]string{"grant_type", "refresh_token", "refresh_token", rt}, extra...)...), nil)
}

func bearer(at string) map[string]string { return map[string]string{"Authorization": "Bearer " + at} }

// wantOAuthError checks an RFC 6749 §5.2 error response.
func wantOAuthError(t *testing.T, what string, resp *http.Response, status int, code string) oauthErrorBody {
	t.Helper()
	body := readBody(resp)
	if resp.StatusCode != status {
		t.Errorf("%s: status = %d, want %d; body %s", what, resp.StatusCode, status, body)
		return oauthErrorBody{}
	}
	var e oauthErrorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Errorf("%s: body %q is not an OAuth error: %v", what, body, err)
		return e
	}
	if e.Error != code {
		t.Errorf("%s: error = %q, want %q (%s)", what, e.Error, code, e.Description)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type = %q, want application/json", what, ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control = %q, want no-store", what, cc)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("%s: WWW-Authenticate = %q, want a Basic challenge", what, resp.Header.Get("WWW-Authenticate"))
	}
	return e
}

// jwtPart decodes one part (0 header, 1 payload) of a compact JWT.
func jwtPart[T any](t *testing.T, tok string, i int) T {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("JWT part %d: %v", i, err)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("JWT part %d: %v", i, err)
	}
	return v
}

func claimsOf(t *testing.T, at string) atClaims { return jwtPart[atClaims](t, at, 1) }

// wantTokenDead checks that an access token is refused on /v1/* and its
// session's refresh token is refused at the token endpoint.
func wantTokenDead(t *testing.T, h *harness, what string, p tokenPair) {
	t.Helper()
	resp := h.do(req{method: "GET", path: "/v1/user", header: bearer(p.AccessToken)})
	wantStatus(t, what+": access token", resp, http.StatusUnauthorized)
	if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("%s: WWW-Authenticate = %q, want invalid_token", what, got)
	}
	wantOAuthError(t, what+": refresh token", h.refresh(p.RefreshToken), http.StatusBadRequest, "invalid_grant")
}

func wantTokenAlive(t *testing.T, h *harness, what string, at string) {
	t.Helper()
	wantStatus(t, what, h.do(req{method: "GET", path: "/v1/user", header: bearer(at)}), http.StatusOK)
}

func TestPasswordGrant(t *testing.T) {
	forBackends(t, func(t *testing.T, sqlite bool) {
		h := newHarness(t, options{sqlite: sqlite})
		uid := h.register("alice@example.com")
		resp := h.postForm("/oauth2/token", form("grant_type", "password", "username", "Alice@Example.com", "password", testPassword), nil)
		wantStatus(t, "password grant", resp, http.StatusOK)
		if cc, pr := resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"); cc != "no-store" || pr != "no-cache" {
			t.Errorf("Cache-Control %q, Pragma %q; want no-store, no-cache", cc, pr)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if c := sessionCookie(resp); c != nil {
			t.Error("the token endpoint set a session cookie")
		}
		p := decode[tokenPair](t, resp)
		if p.AccessToken == "" || p.TokenType != "Bearer" || p.ExpiresIn != 600 || p.RefreshToken == "" || p.Scope != "read write" {
			t.Errorf("token response = %+v", p)
		}
		// <session>.<generation>.<256 random bits>.<MAC>: opaque to clients.
		if parts := strings.Split(p.RefreshToken, "."); len(parts) != 4 || len(parts[2]) != 43 {
			t.Errorf("refresh token %q does not carry 256 random bits", p.RefreshToken)
		}
		c := claimsOf(t, p.AccessToken)
		now := h.clock.Now().Unix()
		if c.Iss != issuerURL || c.Sub != uid || c.Aud != "authd" || c.Sid == "" || c.Jti == "" || c.ClientID != "authd" ||
			c.Scope != "read write" || c.Iat != now || c.Exp != now+600 {
			t.Errorf("access token claims = %+v (now %d)", c, now)
		}
		if strings.Contains(p.AccessToken, "alice") || strings.Contains(string(mustJSON(t, c)), "example.com") {
			t.Error("the access token carries the email address")
		}
		wantTokenAlive(t, h, "the new access token", p.AccessToken)

		// Scope narrowing, de-duplication; unknown scopes are refused.
		for _, tt := range []struct{ scope, want, err string }{
			{"read", "read", ""},
			{"write", "write", ""},
			{"write read", "write read", ""},
			{"read read", "read", ""},
			{"admin", "", "invalid_scope"},
			{"read admin", "", "invalid_scope"},
			{"READ", "", "invalid_scope"},
		} {
			resp := h.postForm("/oauth2/token", form("grant_type", "password", "username", "alice@example.com", "password", testPassword, "scope", tt.scope), nil)
			if tt.err != "" {
				wantOAuthError(t, "scope "+tt.scope, resp, http.StatusBadRequest, tt.err)
				continue
			}
			wantStatus(t, "scope "+tt.scope, resp, http.StatusOK)
			got := decode[tokenPair](t, resp)
			if got.Scope != tt.want || claimsOf(t, got.AccessToken).Scope != tt.want {
				t.Errorf("scope %q: granted %q (token %q), want %q", tt.scope, got.Scope, claimsOf(t, got.AccessToken).Scope, tt.want)
			}
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPasswordGrantFailuresAreIdentical(t *testing.T) {
	h := newHarness(t, options{noThrottle: true})
	h.register("alice@example.com")
	bodies := map[string]string{}
	for name, user := range map[string]string{
		"wrong password": "alice@example.com",
		"unknown user":   "bob@example.com",
		"not an email":   "not an email",
	} {
		resp := h.postForm("/oauth2/token", form("grant_type", "password", "username", user, "password", "wrong password here"), nil)
		b := readBody(resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, `"invalid_grant"`) {
			t.Errorf("%s: status %d, body %s; want 400 invalid_grant", name, resp.StatusCode, b)
		}
		if resp.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("%s: WWW-Authenticate on a grant error", name)
		}
		bodies[name] = b
	}
	if bodies["wrong password"] != bodies["unknown user"] || bodies["unknown user"] != bodies["not an email"] {
		t.Errorf("failure bodies differ: %q", bodies)
	}
}

func TestTokenRequestErrors(t *testing.T) {
	h := newHarness(t, options{noThrottle: true})
	h.register("alice@example.com")
	ctx := context.Background()
	conf, secret, err := h.clients.Create(ctx, client.Registration{Name: "backend", GrantTypes: []string{client.GrantPassword, client.GrantRefreshToken, client.GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	good := form("grant_type", "password", "username", "alice@example.com", "password", testPassword)
	formCT := "application/x-www-form-urlencoded"
	tests := []struct {
		name   string
		path   string
		body   string
		header map[string]string
		status int
		code   string
	}{
		{"missing username", "", form("grant_type", "password", "password", testPassword), nil, 400, "invalid_request"},
		{"missing password", "", form("grant_type", "password", "username", "alice@example.com"), nil, 400, "invalid_request"},
		{"empty password", "", form("grant_type", "password", "username", "alice@example.com", "password", ""), nil, 400, "invalid_request"},
		{"neither", "", form("grant_type", "password"), nil, 400, "invalid_request"},
		{"JSON body", "", `{"grant_type":"password","username":"alice@example.com","password":"` + testPassword + `"}`,
			map[string]string{"Content-Type": "application/json"}, 400, "invalid_request"},
		{"form body labelled JSON", "", good, map[string]string{"Content-Type": "application/json"}, 400, "invalid_request"},
		{"text/plain", "", good, map[string]string{"Content-Type": "text/plain"}, 400, "invalid_request"},
		{"multipart", "", good, map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, 400, "invalid_request"},
		{"no content type", "", good, map[string]string{"Content-Type": ""}, 400, "invalid_request"},
		{"form with charset is fine", "", good, map[string]string{"Content-Type": formCT + "; charset=utf-8"}, 200, ""},
		{"params in the query", "/oauth2/token?" + good, "grant_type=password", nil, 400, "invalid_request"},
		{"password in the query", "/oauth2/token?password=" + url.QueryEscape(testPassword),
			form("grant_type", "password", "username", "alice@example.com"), nil, 400, "invalid_request"},
		{"any query at all", "/oauth2/token?x=1", good, nil, 400, "invalid_request"},
		{"repeated grant_type", "", good + "&grant_type=password", nil, 400, "invalid_request"},
		{"repeated password", "", good + "&password=other", nil, 400, "invalid_request"},
		{"repeated unknown param", "", good + "&x=1&x=2", nil, 400, "invalid_request"},
		{"unknown param is ignored", "", good + "&x=1", nil, 200, ""},
		{"body over 64 KiB", "", good + "&pad=" + strings.Repeat("a", 64<<10), nil, 413, "invalid_request"},
		{"malformed form", "", "grant_type=password&username=%zz", nil, 400, "invalid_request"},
		{"authorization_code without PKCE", "", form("grant_type", "authorization_code", "code", "x", "redirect_uri", "https://x.test/cb"), nil, 400, "invalid_request"},
		{"authorization_code, unknown code", "", form("grant_type", "authorization_code", "code", "x", "code_verifier", strings.Repeat("v", 43)), nil, 400, "invalid_grant"},
		{"client_credentials, public client", "", form("grant_type", "client_credentials"), nil, 400, "unauthorized_client"},
		{"implicit-ish", "", form("grant_type", "token"), nil, 400, "unsupported_grant_type"},
		{"case matters", "", form("grant_type", "PASSWORD", "username", "alice@example.com", "password", testPassword), nil, 400, "unsupported_grant_type"},
		{"missing grant_type", "", form("username", "alice@example.com", "password", testPassword), nil, 400, "invalid_request"},
		{"empty body", "", "", map[string]string{"Content-Type": formCT}, 400, "invalid_request"},
		{"refresh without refresh_token", "", form("grant_type", "refresh_token"), nil, 400, "invalid_request"},
		{"unknown client_id", "", good + "&client_id=nosuchclient", nil, 401, "invalid_client"},
		{"confidential client_id without its secret", "", good + "&client_id=" + conf.ID, nil, 401, "invalid_client"},
		{"confidential client, wrong secret", "", good, map[string]string{"Authorization": basicAuth(conf.ID, secret+"x")}, 401, "invalid_client"},
		{"confidential client, empty secret", "", good, map[string]string{"Authorization": basicAuth(conf.ID, "")}, 401, "invalid_client"},
		{"unknown client, Basic", "", good, map[string]string{"Authorization": basicAuth("c_nosuch", secret)}, 401, "invalid_client"},
		{"Basic with a mismatched client_id", "", good + "&client_id=authd", map[string]string{"Authorization": basicAuth(conf.ID, secret)}, 400, "invalid_request"},
		{"public client_id", "", good + "&client_id=authd", nil, 200, ""},
		{"confidential client", "", good, map[string]string{"Authorization": basicAuth(conf.ID, secret)}, 200, ""},
		{"confidential client, client_id repeated in the body", "", good + "&client_id=" + conf.ID,
			map[string]string{"Authorization": basicAuth(conf.ID, secret)}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = "/oauth2/token"
			}
			hd := map[string]string{"Content-Type": formCT}
			for k, v := range tt.header {
				hd[k] = v
			}
			resp := h.do(req{method: "POST", path: path, body: tt.body, header: hd})
			if tt.status == 200 {
				wantStatus(t, tt.name, resp, 200)
				if p := decode[tokenPair](t, resp); p.AccessToken == "" {
					t.Errorf("no access token: %+v", p)
				}
				return
			}
			e := wantOAuthError(t, tt.name, resp, tt.status, tt.code)
			if strings.Contains(e.Description, testPassword) || strings.Contains(e.Description, secret) {
				t.Errorf("error description echoes a credential: %q", e.Description)
			}
		})
	}
}

func TestConfidentialClientTokens(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	conf, secret, err := h.clients.Create(context.Background(), client.Registration{Name: "backend", GrantTypes: []string{client.GrantPassword, client.GrantRefreshToken, client.GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	auth := map[string]string{"Authorization": basicAuth(conf.ID, secret)}
	resp := h.postForm("/oauth2/token", form("grant_type", "password", "username", "alice@example.com", "password", testPassword, "scope", "read"), auth)
	wantStatus(t, "confidential password grant", resp, http.StatusOK)
	p := decode[tokenPair](t, resp)
	if c := claimsOf(t, p.AccessToken); c.ClientID != conf.ID || c.Scope != "read" {
		t.Errorf("claims = %+v, want client_id %s, scope read", c, conf.ID)
	}
	wantTokenAlive(t, h, "confidential client's access token", p.AccessToken)
	// Its refresh token needs its credentials.
	wantOAuthError(t, "refresh without the client's credentials", h.refresh(p.RefreshToken), http.StatusBadRequest, "invalid_grant")
	resp = h.postForm("/oauth2/token", form("grant_type", "refresh_token", "refresh_token", p.RefreshToken), auth)
	wantStatus(t, "refresh with the client's credentials", resp, http.StatusOK)
	if c := claimsOf(t, decode[tokenPair](t, resp).AccessToken); c.ClientID != conf.ID {
		t.Errorf("refreshed client_id = %q", c.ClientID)
	}
}

func TestPasswordGrantThrottle(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	bad := form("grant_type", "password", "username", "alice@example.com", "password", "not the password")
	for range 6 {
		wantOAuthError(t, "failure", h.postForm("/oauth2/token", bad, nil), http.StatusBadRequest, "invalid_grant")
	}
	goodForm := form("grant_type", "password", "username", "alice@example.com", "password", testPassword)
	resp := h.postForm("/oauth2/token", goodForm, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("throttled grant: status %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if e := decode[oauthErrorBody](t, resp); e.Error == "" {
		t.Error("429 without an OAuth error code")
	}
	// One throttle for every login transport.
	wantStatus(t, "cookie login of the throttled account", h.do(req{method: "POST", path: "/v1/session",
		body: `{"email":"alice@example.com","password":"` + testPassword + `"}`}), http.StatusTooManyRequests)
	h.clock.Advance(time.Second)
	wantStatus(t, "after Retry-After", h.postForm("/oauth2/token", goodForm, nil), http.StatusOK)
}

func TestRefreshRotation(t *testing.T) {
	forBackends(t, func(t *testing.T, sqlite bool) {
		h := newHarness(t, options{sqlite: sqlite})
		h.register("alice@example.com")
		p1 := h.passwordToken("alice@example.com")
		sid := claimsOf(t, p1.AccessToken).Sid

		h.clock.Advance(2 * time.Second)
		resp := h.refresh(p1.RefreshToken)
		wantStatus(t, "refresh", resp, http.StatusOK)
		if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
			t.Errorf("refresh response headers: %v", resp.Header)
		}
		p2 := decode[tokenPair](t, resp)
		if p2.RefreshToken == "" || p2.RefreshToken == p1.RefreshToken || p2.AccessToken == p1.AccessToken {
			t.Fatalf("refresh did not rotate: %+v", p2)
		}
		if c := claimsOf(t, p2.AccessToken); c.Sid != sid || p2.ExpiresIn != 600 || p2.Scope != "read write" || p2.TokenType != "Bearer" {
			t.Errorf("refreshed pair %+v, claims %+v; want session %s, expires_in 600", p2, c, sid)
		}
		// Both access tokens stay valid until they expire.
		wantTokenAlive(t, h, "old access token", p1.AccessToken)
		wantTokenAlive(t, h, "new access token", p2.AccessToken)

		// Within the grace window the parent works again, in the same
		// session (two tabs refreshing at once).
		h.clock.Advance(5 * time.Second)
		resp = h.refresh(p1.RefreshToken)
		wantStatus(t, "parent within grace", resp, http.StatusOK)
		p3 := decode[tokenPair](t, resp)
		if c := claimsOf(t, p3.AccessToken); c.Sid != sid || p3.RefreshToken == p2.RefreshToken {
			t.Errorf("grace refresh: session %s (want %s), refresh token reused %v", c.Sid, sid, p3.RefreshToken == p2.RefreshToken)
		}

		// After it, the parent is a stolen token: the whole session ends.
		h.clock.Advance(11 * time.Second)
		wantOAuthError(t, "parent after grace", h.refresh(p1.RefreshToken), http.StatusBadRequest, "invalid_grant")
		for name, p := range map[string]tokenPair{"newest": p3, "sibling": p2} {
			wantTokenDead(t, h, name+" after reuse", p)
		}
		wantOAuthError(t, "the reused token again", h.refresh(p1.RefreshToken), http.StatusBadRequest, "invalid_grant")
		// The user can log in again; the new session is unaffected.
		p4 := h.passwordToken("alice@example.com")
		wantTokenAlive(t, h, "a new session", p4.AccessToken)
	})
}

func TestRefreshChainKeepsWorking(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	p := h.passwordToken("alice@example.com")
	sid := claimsOf(t, p.AccessToken).Sid
	// A long chain of refreshes, each after the previous access token
	// expired; the clock moves between them, and expires_in is relative
	// to the server's clock.
	for i := range 5 {
		h.clock.Advance(11 * time.Minute)
		wantStatus(t, "expired access token", h.do(req{method: "GET", path: "/v1/user", header: bearer(p.AccessToken)}), http.StatusUnauthorized)
		resp := h.refresh(p.RefreshToken)
		wantStatus(t, "refresh", resp, http.StatusOK)
		next := decode[tokenPair](t, resp)
		c := claimsOf(t, next.AccessToken)
		if c.Sid != sid || next.ExpiresIn != 600 || c.Iat != h.clock.Now().Unix() {
			t.Errorf("refresh %d: sid %s (want %s), expires_in %d (want 600), iat %d (want %d)", i, c.Sid, sid, next.ExpiresIn, c.Iat, h.clock.Now().Unix())
		}
		wantTokenAlive(t, h, "refreshed access token", next.AccessToken)
		p = next
	}
}

func TestRefreshTokenBoundToClient(t *testing.T) {
	forBackends(t, func(t *testing.T, sqlite bool) {
		h := newHarness(t, options{sqlite: sqlite})
		h.register("alice@example.com")
		conf, secret, err := h.clients.Create(context.Background(), client.Registration{Name: "backend", GrantTypes: []string{client.GrantPassword, client.GrantRefreshToken, client.GrantClientCredentials}})
		if err != nil {
			t.Fatal(err)
		}
		p := h.passwordToken("alice@example.com")
		resp := h.postForm("/oauth2/token", form("grant_type", "refresh_token", "refresh_token", p.RefreshToken),
			map[string]string{"Authorization": basicAuth(conf.ID, secret)})
		wantOAuthError(t, "public client's refresh token redeemed by a confidential client", resp, http.StatusBadRequest, "invalid_grant")
		// The refused attempt neither consumed the token nor ended the
		// session: the rightful client still refreshes, even after the
		// reuse grace window.
		h.clock.Advance(11 * time.Second)
		resp = h.refresh(p.RefreshToken)
		wantStatus(t, "rightful client after a refused attempt", resp, http.StatusOK)
		wantTokenAlive(t, h, "the session", decode[tokenPair](t, resp).AccessToken)
	})
}

func TestRefreshScope(t *testing.T) {
	forBackends(t, func(t *testing.T, sqlite bool) {
		h := newHarness(t, options{sqlite: sqlite})
		h.register("alice@example.com")
		p := h.passwordToken("alice@example.com")

		// Narrowing is allowed, for that access token only: the new
		// refresh token keeps the original scope (RFC 6749 §6).
		resp := h.refresh(p.RefreshToken, "scope", "read")
		wantStatus(t, "narrowing refresh", resp, http.StatusOK)
		n := decode[tokenPair](t, resp)
		if n.Scope != "read" || claimsOf(t, n.AccessToken).Scope != "read" {
			t.Errorf("narrowed scope = %q (token %q), want read", n.Scope, claimsOf(t, n.AccessToken).Scope)
		}
		resp = h.refresh(n.RefreshToken)
		wantStatus(t, "refresh without scope", resp, http.StatusOK)
		full := decode[tokenPair](t, resp)
		if full.Scope != "read write" {
			t.Errorf("scope after narrowing then refreshing = %q, want the original 'read write'", full.Scope)
		}

		// A token granted "read" cannot be widened.
		r := h.passwordToken("alice@example.com", "scope", "read")
		for _, s := range []string{"read write", "write", "admin"} {
			wantOAuthError(t, "widen to "+s, h.refresh(r.RefreshToken, "scope", s), http.StatusBadRequest, "invalid_scope")
		}
		// The refused widening did not burn the refresh token.
		h.clock.Advance(11 * time.Second)
		resp = h.refresh(r.RefreshToken, "scope", "read")
		wantStatus(t, "same scope after refused widening", resp, http.StatusOK)
		if got := decode[tokenPair](t, resp); got.Scope != "read" {
			t.Errorf("scope = %q, want read", got.Scope)
		}
	})
}

func TestRefreshInvalid(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	p := h.passwordToken("alice@example.com")
	for name, rt := range map[string]string{
		"unknown":      strings.Repeat("A", 43),
		"garbage":      "not a token",
		"too long":     p.RefreshToken + "A",
		"access token": p.AccessToken,
	} {
		wantOAuthError(t, name, h.refresh(rt), http.StatusBadRequest, "invalid_grant")
	}
	wantTokenAlive(t, h, "the session survives bad refresh attempts", p.AccessToken)
}

func TestBearerEndpoints(t *testing.T) {
	forBackends(t, func(t *testing.T, sqlite bool) {
		h := newHarness(t, options{sqlite: sqlite})
		uid := h.register("alice@example.com")
		p := h.passwordToken("alice@example.com")
		sid := claimsOf(t, p.AccessToken).Sid

		resp := h.do(req{method: "GET", path: "/v1/user", header: bearer(p.AccessToken)})
		wantStatus(t, "GET /v1/user", resp, http.StatusOK)
		if u := decode[struct{ ID, Email string }](t, resp); u.ID != uid || u.Email != "alice@example.com" {
			t.Errorf("GET /v1/user = %+v", u)
		}
		resp = h.do(req{method: "GET", path: "/v1/session", header: bearer(p.AccessToken)})
		wantStatus(t, "GET /v1/session", resp, http.StatusOK)
		if s := decode[sessionResp](t, resp); s.Session.ID != sid || s.User.ID != uid ||
			!s.Session.ExpiresAt.Equal(h.clock.Now().Add(30*24*time.Hour)) {
			t.Errorf("GET /v1/session = %+v, want token session %s", s, sid)
		}
		resp = h.do(req{method: "GET", path: "/v1/sessions", header: bearer(p.AccessToken)})
		wantStatus(t, "GET /v1/sessions", resp, http.StatusOK)
		l := decode[listResp](t, resp)
		if len(l.Sessions) != 1 || l.Sessions[0].ID != sid || l.Sessions[0].Kind != "token" || !l.Sessions[0].Current {
			t.Errorf("GET /v1/sessions = %+v", l)
		}
		// The scheme is case-insensitive (RFC 7235 §2.1).
		wantStatus(t, "lower-case scheme", h.do(req{method: "GET", path: "/v1/user", header: map[string]string{"Authorization": "bearer " + p.AccessToken}}), http.StatusOK)

		// Logout with the bearer token ends the whole token session.
		resp = h.do(req{method: "DELETE", path: "/v1/session", header: bearer(p.AccessToken)})
		wantStatus(t, "DELETE /v1/session", resp, http.StatusNoContent)
		if sessionCookie(resp) != nil {
			t.Error("bearer logout set a cookie")
		}
		wantTokenDead(t, h, "after bearer logout", p)
		wantStatus(t, "GET /v1/session after logout", h.do(req{method: "GET", path: "/v1/session", header: bearer(p.AccessToken)}), http.StatusUnauthorized)
	})
}

func TestTokenSessionEndsWithTheAccount(t *testing.T) {
	forBackends(t, func(t *testing.T, sqlite bool) {
		t.Run("revoked from a cookie session", func(t *testing.T) {
			h := newHarness(t, options{sqlite: sqlite})
			h.register("alice@example.com")
			h.register("bob@example.com")
			cookie := h.login("alice@example.com")
			p := h.passwordToken("alice@example.com")
			bob := h.passwordToken("bob@example.com")
			sid := claimsOf(t, p.AccessToken).Sid
			wantTokenAlive(t, h, "before", p.AccessToken)
			// Another user cannot revoke it, with a cookie or a token.
			bobCookie := h.login("bob@example.com")
			wantStatus(t, "bob's cookie", h.do(req{method: "DELETE", path: "/v1/sessions/" + sid, cookie: bobCookie}), http.StatusNotFound)
			wantStatus(t, "bob's token", h.do(req{method: "DELETE", path: "/v1/sessions/" + sid, header: bearer(bob.AccessToken)}), http.StatusNotFound)
			wantTokenAlive(t, h, "after bob's attempts", p.AccessToken)

			wantStatus(t, "revoke", h.do(req{method: "DELETE", path: "/v1/sessions/" + sid, cookie: cookie}), http.StatusNoContent)
			wantTokenDead(t, h, "revoked token session", p)
			wantStatus(t, "the cookie session", h.do(req{method: "GET", path: "/v1/session", cookie: cookie}), http.StatusOK)
			wantTokenAlive(t, h, "bob's token", bob.AccessToken)
		})
		t.Run("password change", func(t *testing.T) {
			h := newHarness(t, options{sqlite: sqlite})
			h.register("alice@example.com")
			cookie := h.login("alice@example.com")
			p := h.passwordToken("alice@example.com")
			resp := h.do(req{method: "PUT", path: "/v1/user/password", cookie: cookie,
				body: `{"current_password":"` + testPassword + `","new_password":"a brand new passphrase"}`})
			wantStatus(t, "change password", resp, http.StatusNoContent)
			wantTokenDead(t, h, "after the password change", p)
			wantStatus(t, "the changing cookie session", h.do(req{method: "GET", path: "/v1/session", cookie: cookie}), http.StatusOK)
		})
		t.Run("password change with a token", func(t *testing.T) {
			h := newHarness(t, options{sqlite: sqlite})
			h.register("alice@example.com")
			cookie := h.login("alice@example.com")
			a, b := h.passwordToken("alice@example.com"), h.passwordToken("alice@example.com")
			resp := h.do(req{method: "PUT", path: "/v1/user/password", header: bearer(a.AccessToken),
				body: `{"current_password":"` + testPassword + `","new_password":"a brand new passphrase"}`})
			wantStatus(t, "change password with a bearer token", resp, http.StatusNoContent)
			wantTokenAlive(t, h, "the changing token session", a.AccessToken)
			wantTokenDead(t, h, "another token session", b)
			wantStatus(t, "a cookie session", h.do(req{method: "GET", path: "/v1/session", cookie: cookie}), http.StatusUnauthorized)
		})
		t.Run("user disabled", func(t *testing.T) {
			h := newHarness(t, options{sqlite: sqlite})
			uid := h.register("alice@example.com")
			p := h.passwordToken("alice@example.com")
			if err := h.users.SetDisabled(context.Background(), uid, true); err != nil {
				t.Fatal(err)
			}
			wantTokenDead(t, h, "disabled user", p)
			resp := h.postForm("/oauth2/token", form("grant_type", "password", "username", "alice@example.com", "password", testPassword), nil)
			wantOAuthError(t, "password grant of a disabled user", resp, http.StatusBadRequest, "invalid_grant")
		})
		t.Run("user deleted", func(t *testing.T) {
			h := newHarness(t, options{sqlite: sqlite})
			uid := h.register("alice@example.com")
			p := h.passwordToken("alice@example.com")
			if err := h.users.Delete(context.Background(), uid); err != nil {
				t.Fatal(err)
			}
			wantTokenDead(t, h, "deleted user", p)
		})
	})
}

func TestBearerErrors(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	p := h.passwordToken("alice@example.com")
	tampered := func() string {
		parts := strings.Split(p.AccessToken, ".")
		c := claimsOf(t, p.AccessToken)
		c.Sub = "someone-else"
		parts[1] = base64.RawURLEncoding.EncodeToString(mustJSON(t, c))
		return strings.Join(parts, ".")
	}()
	const realm = `Bearer realm="authd"`
	tests := []struct {
		name   string
		path   string
		header map[string]string
		status int
		www    string // substring of WWW-Authenticate; exact when it is realm
	}{
		{"no credentials", "/v1/user", nil, 401, realm},
		{"garbage token", "/v1/user", bearer("garbage"), 401, `error="invalid_token"`},
		{"empty token", "/v1/user", map[string]string{"Authorization": "Bearer "}, 401, `error="invalid_token"`},
		{"scheme alone", "/v1/user", map[string]string{"Authorization": "Bearer"}, 401, `error="invalid_token"`},
		{"tampered payload", "/v1/user", bearer(tampered), 401, `error="invalid_token"`},
		{"refresh token as access token", "/v1/user", bearer(p.RefreshToken), 401, `error="invalid_token"`},
		{"truncated signature", "/v1/user", bearer(p.AccessToken[:len(p.AccessToken)-4]), 401, `error="invalid_token"`},
		{"oversized token", "/v1/user", bearer(strings.Repeat("a", token.MaxTokenLen+1)), 401, `error="invalid_token"`},
		{"Basic scheme", "/v1/user", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("alice@example.com:"+testPassword))}, 401, realm},
		{"Token scheme", "/v1/user", map[string]string{"Authorization": "Token " + p.AccessToken}, 401, realm},
		{"no scheme", "/v1/user", map[string]string{"Authorization": p.AccessToken}, 401, realm},
		{"token in the query", "/v1/user?access_token=" + p.AccessToken, nil, 400, `error="invalid_request"`},
		{"token in the query and the header", "/v1/user?access_token=" + p.AccessToken, bearer(p.AccessToken), 400, `error="invalid_request"`},
		{"empty query token", "/v1/session?access_token=", bearer(p.AccessToken), 400, `error="invalid_request"`},
		{"query token on the session list", "/v1/sessions?x=1&access_token=" + p.AccessToken, nil, 400, `error="invalid_request"`},
		{"unrelated query is fine", "/v1/user?x=1", bearer(p.AccessToken), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.do(req{method: "GET", path: tt.path, header: tt.header})
			body := readBody(resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 200 {
				return
			}
			www := resp.Header.Get("WWW-Authenticate")
			if tt.www == realm && www != realm || !strings.Contains(www, tt.www) || !strings.HasPrefix(www, realm) {
				t.Errorf("WWW-Authenticate = %q, want %q", www, tt.www)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if strings.Contains(body, p.AccessToken) {
				t.Error("the error echoes the token")
			}
		})
	}
	// Query tokens are refused on logout too, and do not log anyone out.
	wantStatus(t, "logout with a query token", h.do(req{method: "DELETE", path: "/v1/session?access_token=" + p.AccessToken}), http.StatusBadRequest)
	wantTokenAlive(t, h, "after the query-token logout", p.AccessToken)

	// Expiry: the token is good up to exp + leeway (30 s), then refused.
	h.clock.Advance(10*time.Minute + 29*time.Second)
	wantTokenAlive(t, h, "within the leeway", p.AccessToken)
	h.clock.Advance(2 * time.Second)
	resp := h.do(req{method: "GET", path: "/v1/user", header: bearer(p.AccessToken)})
	wantStatus(t, "expired access token", resp, http.StatusUnauthorized)
	if www := resp.Header.Get("WWW-Authenticate"); !strings.Contains(www, `error="invalid_token"`) {
		t.Errorf("expired: WWW-Authenticate = %q", www)
	}
	// The session itself lives on: the refresh token still works.
	resp = h.refresh(p.RefreshToken)
	wantStatus(t, "refresh after the access token expired", resp, http.StatusOK)
	wantTokenAlive(t, h, "the refreshed access token", decode[tokenPair](t, resp).AccessToken)
}

func TestRevoke(t *testing.T) {
	forBackends(t, func(t *testing.T, sqlite bool) {
		h := newHarness(t, options{sqlite: sqlite})
		h.register("alice@example.com")
		cookie := h.login("alice@example.com")
		listed := func(sid string) bool {
			t.Helper()
			l := decode[listResp](t, h.do(req{method: "GET", path: "/v1/sessions", cookie: cookie}))
			for _, s := range l.Sessions {
				if s.ID == sid {
					return true
				}
			}
			return false
		}
		revoke := func(what, body string) {
			t.Helper()
			resp := h.postForm("/oauth2/revoke", body, nil)
			if b := readBody(resp); resp.StatusCode != http.StatusOK || b != "" {
				t.Errorf("%s: status %d, body %q; want 200 and no body", what, resp.StatusCode, b)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s: Cache-Control = %q", what, resp.Header.Get("Cache-Control"))
			}
		}

		// Unknown and garbage tokens: 200, nothing happens.
		bystander := h.passwordToken("alice@example.com")
		revoke("unknown token", form("token", strings.Repeat("A", 43)))
		revoke("garbage", form("token", "garbage"))
		revoke("garbage JWT", form("token", "a.b.c"))
		revoke("unknown hint", form("token", "garbage", "token_type_hint", "id_token"))
		wantTokenAlive(t, h, "bystander", bystander.AccessToken)

		for _, tt := range []struct {
			name, hint string
			access     bool
		}{
			{"refresh token", "", false},
			{"refresh token, hinted", "refresh_token", false},
			{"refresh token, wrong hint", "access_token", false},
			{"access token", "", true},
			{"access token, hinted", "access_token", true},
			{"access token, wrong hint", "refresh_token", true},
		} {
			p := h.passwordToken("alice@example.com")
			sid := claimsOf(t, p.AccessToken).Sid
			if !listed(sid) {
				t.Fatalf("%s: token session not listed", tt.name)
			}
			tok := p.RefreshToken
			if tt.access {
				tok = p.AccessToken
			}
			body := form("token", tok)
			if tt.hint != "" {
				body = form("token", tok, "token_type_hint", tt.hint)
			}
			revoke(tt.name, body)
			wantTokenDead(t, h, tt.name, p)
			if listed(sid) {
				t.Errorf("%s: the revoked session is still listed", tt.name)
			}
			revoke(tt.name+" again", body)
		}
		wantTokenAlive(t, h, "bystander after the revocations", bystander.AccessToken)
		wantStatus(t, "the cookie session", h.do(req{method: "GET", path: "/v1/session", cookie: cookie}), http.StatusOK)

		// Errors.
		wantOAuthError(t, "missing token", h.postForm("/oauth2/revoke", form("token_type_hint", "access_token"), nil), http.StatusBadRequest, "invalid_request")
		wantOAuthError(t, "JSON body", h.do(req{method: "POST", path: "/oauth2/revoke", body: `{"token":"x"}`}), http.StatusBadRequest, "invalid_request")
		wantOAuthError(t, "token in the query", h.postForm("/oauth2/revoke?token="+bystander.RefreshToken, form("token_type_hint", "refresh_token"), nil), http.StatusBadRequest, "invalid_request")
		wantOAuthError(t, "unknown client", h.postForm("/oauth2/revoke", form("token", bystander.RefreshToken, "client_id", "nosuch"), nil), http.StatusUnauthorized, "invalid_client")
		wantTokenAlive(t, h, "bystander after refused revocations", bystander.AccessToken)
	})
}

func TestIntrospect(t *testing.T) {
	forBackends(t, func(t *testing.T, sqlite bool) {
		h := newHarness(t, options{sqlite: sqlite})
		uid := h.register("alice@example.com")
		conf, secret, err := h.clients.Create(context.Background(), client.Registration{Name: "resource server", GrantTypes: []string{client.GrantPassword, client.GrantRefreshToken, client.GrantClientCredentials}})
		if err != nil {
			t.Fatal(err)
		}
		auth := map[string]string{"Authorization": basicAuth(conf.ID, secret)}
		introspect := func(tok string) (*http.Response, []byte) {
			t.Helper()
			resp := h.postForm("/oauth2/introspect", form("token", tok), auth)
			wantStatus(t, "introspect", resp, http.StatusOK)
			if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("introspection headers: %v", resp.Header)
			}
			return resp, bytes.TrimSpace([]byte(readBody(resp)))
		}
		inactive := func(what, tok string) {
			t.Helper()
			if _, b := introspect(tok); string(b) != `{"active":false}` {
				t.Errorf("%s: introspection = %s, want exactly {\"active\":false}", what, b)
			}
		}

		p := h.passwordToken("alice@example.com", "scope", "read")
		c := claimsOf(t, p.AccessToken)

		// Client authentication.
		wantOAuthError(t, "no client authentication", h.postForm("/oauth2/introspect", form("token", p.AccessToken), nil), http.StatusUnauthorized, "invalid_client")
		wantOAuthError(t, "public client_id", h.postForm("/oauth2/introspect", form("token", p.AccessToken, "client_id", "authd"), nil), http.StatusUnauthorized, "invalid_client")
		wantOAuthError(t, "wrong secret", h.postForm("/oauth2/introspect", form("token", p.AccessToken),
			map[string]string{"Authorization": basicAuth(conf.ID, secret+"x")}), http.StatusUnauthorized, "invalid_client")
		wantOAuthError(t, "unknown client", h.postForm("/oauth2/introspect", form("token", p.AccessToken),
			map[string]string{"Authorization": basicAuth("c_nosuch", secret)}), http.StatusUnauthorized, "invalid_client")
		wantOAuthError(t, "bearer instead of Basic", h.postForm("/oauth2/introspect", form("token", p.AccessToken), bearer(p.AccessToken)), http.StatusUnauthorized, "invalid_client")
		wantOAuthError(t, "missing token", h.postForm("/oauth2/introspect", form("token_type_hint", "access_token"), auth), http.StatusBadRequest, "invalid_request")

		// A live access token.
		_, b := introspect(p.AccessToken)
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"active": true, "sub": uid, "sid": c.Sid, "exp": float64(c.Exp), "iat": float64(c.Iat),
			"scope": "read", "client_id": "authd", "token_type": "Bearer", "iss": issuerURL, "aud": "authd"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("introspection[%q] = %v, want %v", k, got[k], v)
			}
		}
		if _, ok := got["email"]; ok {
			t.Error("introspection reveals the email address")
		}

		// A live refresh token of another client (the public one) is none
		// of this client's business.
		inactive("another client's refresh token", p.RefreshToken)
		// Its own live refresh token.
		resp0 := h.postForm("/oauth2/token", form("grant_type", "password", "username", "alice@example.com",
			"password", testPassword, "scope", "read"), auth)
		wantStatus(t, "confidential password grant", resp0, http.StatusOK)
		own := decode[tokenPair](t, resp0)
		_, b = introspect(own.RefreshToken)
		got = nil
		json.Unmarshal(b, &got)
		if got["active"] != true || got["token_type"] != "refresh_token" || got["sub"] != uid || got["sid"] == "" ||
			got["client_id"] != conf.ID || got["scope"] != "read" {
			t.Errorf("own refresh token introspection = %s", b)
		}

		// Inactive tokens: nothing but active=false.
		inactive("garbage", "garbage")
		inactive("garbage JWT", "a.b.c")
		inactive("unknown refresh token", strings.Repeat("A", 43))
		resp := h.refresh(p.RefreshToken)
		wantStatus(t, "refresh", resp, http.StatusOK)
		p2 := decode[tokenPair](t, resp)
		inactive("used refresh token", p.RefreshToken)
		inactive("the public client's new refresh token", p2.RefreshToken)
		// Expired: past exp + leeway.
		h.clock.Advance(10*time.Minute + 31*time.Second)
		inactive("expired access token", p.AccessToken)
		// Revoked.
		q := h.passwordToken("alice@example.com")
		wantStatus(t, "revoke", h.postForm("/oauth2/revoke", form("token", q.RefreshToken), nil), http.StatusOK)
		inactive("access token of a revoked session", q.AccessToken)
		inactive("refresh token of a revoked session", q.RefreshToken)
	})
}

func TestJWKSAndMetadata(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	p := h.passwordToken("alice@example.com")

	resp := h.do(req{method: "GET", path: "/.well-known/jwks.json"})
	wantStatus(t, "jwks", resp, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("JWKS Content-Type = %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") || strings.Contains(cc, "no-store") {
		t.Errorf("JWKS Cache-Control = %q, want cacheable", cc)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) == 0 {
		t.Fatal("empty JWKS")
	}
	kid := jwtPart[map[string]any](t, p.AccessToken, 0)["kid"]
	found := false
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
			if _, ok := k[private]; ok {
				t.Errorf("key %v publishes private member %q", k["kid"], private)
			}
		}
		if k["kid"] == nil || k["kty"] == nil || k["alg"] == nil {
			t.Errorf("key lacks kid, kty or alg: %v", k)
		}
		if k["kid"] == kid {
			found = true
			if use, ok := k["use"]; ok && use != "sig" {
				t.Errorf("signing key use = %v", use)
			}
		}
	}
	if !found {
		t.Errorf("no published key has the access token's kid %v", kid)
	}

	resp = h.do(req{method: "GET", path: "/.well-known/oauth-authorization-server"})
	wantStatus(t, "metadata", resp, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("metadata Content-Type = %q", ct)
	}
	md := decode[map[string]any](t, resp)
	for k, v := range map[string]string{
		"issuer":                 issuerURL,
		"token_endpoint":         issuerURL + "/oauth2/token",
		"revocation_endpoint":    issuerURL + "/oauth2/revoke",
		"introspection_endpoint": issuerURL + "/oauth2/introspect",
		"jwks_uri":               issuerURL + "/.well-known/jwks.json",
	} {
		if md[k] != v {
			t.Errorf("metadata %s = %v, want %s", k, md[k], v)
		}
	}
	if got := toString(md["grant_types_supported"]); got != "[authorization_code refresh_token client_credentials password]" {
		t.Errorf("grant_types_supported = %v", md["grant_types_supported"])
	}
	if got := toString(md["scopes_supported"]); got != "[read write openid email profile offline_access]" {
		t.Errorf("scopes_supported = %v", md["scopes_supported"])
	}
	if iss := claimsOf(t, p.AccessToken).Iss; iss != md["issuer"] {
		t.Errorf("token iss %q != metadata issuer %v", iss, md["issuer"])
	}
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	var s []string
	if json.Unmarshal(b, &s) != nil {
		return string(b)
	}
	return "[" + strings.Join(s, " ") + "]"
}

func TestSessionListMixesKinds(t *testing.T) {
	forBackends(t, func(t *testing.T, sqlite bool) {
		h := newHarness(t, options{sqlite: sqlite})
		h.register("alice@example.com")
		cookie := h.login("alice@example.com")
		resp := h.postForm("/oauth2/token", form("grant_type", "password", "username", "alice@example.com", "password", testPassword),
			map[string]string{"User-Agent": "authd-cli/1.0"})
		wantStatus(t, "password grant", resp, http.StatusOK)
		p := decode[tokenPair](t, resp)
		sid := claimsOf(t, p.AccessToken).Sid

		for _, who := range []struct {
			name    string
			r       req
			current string
		}{
			{"cookie", req{method: "GET", path: "/v1/sessions", cookie: cookie}, "cookie"},
			{"bearer", req{method: "GET", path: "/v1/sessions", header: bearer(p.AccessToken)}, "token"},
		} {
			resp := h.do(who.r)
			wantStatus(t, who.name, resp, http.StatusOK)
			l := decode[listResp](t, resp)
			kinds := map[string]bool{}
			for _, s := range l.Sessions {
				kinds[s.Kind] = true
				if s.Current != (s.Kind == who.current) {
					t.Errorf("as %s: session %s (%s) current = %v", who.name, s.ID, s.Kind, s.Current)
				}
				if s.Kind == "token" && (s.ID != sid || s.UserAgent != "authd-cli/1.0") {
					t.Errorf("token session = %+v, want ID %s and the client's User-Agent", s, sid)
				}
			}
			if len(l.Sessions) != 2 || !kinds["cookie"] || !kinds["token"] {
				t.Errorf("as %s: sessions = %+v, want one cookie and one token session", who.name, l.Sessions)
			}
		}
		// Signing out everywhere else from the cookie ends the token session.
		wantStatus(t, "sign out everywhere else", h.do(req{method: "DELETE", path: "/v1/sessions", cookie: cookie}), http.StatusNoContent)
		wantTokenDead(t, h, "after sign-out everywhere", p)
	})
}

// A token narrowed to fewer scopes may read the account and end its own
// session, but not change the account.
func TestNarrowTokenCannotChangeAccount(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	narrow := h.passwordToken("alice@example.com", "scope", "read")
	full := h.passwordToken("alice@example.com")
	for _, r := range []req{
		{method: "PUT", path: "/v1/user/password", body: `{"current_password":"` + testPassword + `","new_password":"a brand new passphrase"}`},
		{method: "DELETE", path: "/v1/sessions"},
		{method: "DELETE", path: "/v1/sessions/" + claimsOf(t, full.AccessToken).Sid},
	} {
		r.header = bearer(narrow.AccessToken)
		resp := h.do(r)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
			t.Errorf("%s %s with a read-only token: %d %q, want 403 insufficient_scope", r.method, r.path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	wantStatus(t, "the full token still works", h.do(req{method: "GET", path: "/v1/user", header: bearer(full.AccessToken)}), http.StatusOK)
	wantStatus(t, "read with the narrow token", h.do(req{method: "GET", path: "/v1/sessions", header: bearer(narrow.AccessToken)}), http.StatusOK)
	wantStatus(t, "full token changes the account", h.do(req{method: "DELETE", path: "/v1/sessions", header: bearer(full.AccessToken)}), http.StatusNoContent)
	wantStatus(t, "the narrow token's session was ended by it", h.do(req{method: "GET", path: "/v1/user", header: bearer(narrow.AccessToken)}), http.StatusUnauthorized)
}

// TestEndSessionWithExpiredToken: an access token that has expired still
// ends its session, by logout or by RFC 7009 revocation: "logged out" is
// then true, and the refresh token is dead too. A bearer logout leaves a
// browser session on the same origin alone.
func TestEndSessionWithExpiredToken(t *testing.T) {
	for _, how := range []string{"logout", "revoke"} {
		t.Run(how, func(t *testing.T) {
			h := newHarness(t, options{})
			h.register("alice@example.com")
			cookie := h.login("alice@example.com")
			p := h.passwordToken("alice@example.com")
			h.clock.Advance(11 * time.Minute) // past the 10-minute token and its leeway
			wantStatus(t, "expired token", h.do(req{method: "GET", path: "/v1/user", header: bearer(p.AccessToken)}), http.StatusUnauthorized)
			switch how {
			case "logout":
				resp := h.do(req{method: "DELETE", path: "/v1/session", cookie: cookie, header: bearer(p.AccessToken)})
				wantStatus(t, "logout with the expired token", resp, http.StatusNoContent)
				for _, c := range resp.Cookies() {
					if c.Name == "__Host-authd_session" {
						t.Errorf("a bearer logout cleared the browser's session cookie: %v", c)
					}
				}
			case "revoke":
				resp := h.postForm("/oauth2/revoke", form("token", p.AccessToken), nil)
				wantStatus(t, "revoke the expired token", resp, http.StatusOK)
			}
			wantOAuthError(t, "refresh after the session ended", h.refresh(p.RefreshToken), http.StatusBadRequest, "invalid_grant")
			wantStatus(t, "the browser session", h.do(req{method: "GET", path: "/v1/session", cookie: cookie}), http.StatusOK)
		})
	}
	// A forged "expired" token ends nothing.
	h := newHarness(t, options{})
	h.register("bob@example.com")
	p := h.passwordToken("bob@example.com")
	forged := p.AccessToken[:len(p.AccessToken)-4] + "AAAA"
	wantStatus(t, "logout with a forged token", h.do(req{method: "DELETE", path: "/v1/session", header: bearer(forged)}), http.StatusNoContent)
	if resp := h.refresh(p.RefreshToken); resp.StatusCode != http.StatusOK {
		t.Errorf("a forged token's logout ended the session: refresh = %d", resp.StatusCode)
	}
}
