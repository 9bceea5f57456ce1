package server_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/client"
	"github.com/authd/authd/internal/server"
)

// The authorization code flow (RFC 6749 §4.1 with PKCE, OAuth 2.1, RFC
// 9700) against real stores: the happy paths, then RFC 9700 §4's attacks
// as a table.

const appRedirect = "https://app.example/cb"

// app is a registered client with its secret ("" for a public one).
type app struct {
	*client.Client
	secret string
}

func (h *harness) newApp(reg client.Registration) app {
	h.t.Helper()
	if reg.Name == "" {
		reg.Name = "App " + rand.Text()[:6]
	}
	if reg.RedirectURIs == nil {
		reg.RedirectURIs = []string{appRedirect}
	}
	c, secret, err := h.clients.Create(context.Background(), reg)
	if err != nil {
		h.t.Fatalf("create client: %v", err)
	}
	return app{c, secret}
}

// pkce returns a verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	verifier = rand.Text() + rand.Text() // 52 base32 characters
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authzParams is a valid authorization request for a.
func authzParams(a app, challenge string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {a.ID}, "redirect_uri": {a.RedirectURIs[0]},
		"scope": {"openid email read"}, "state": {"st-" + rand.Text()[:8]}, "nonce": {"n-" + rand.Text()[:8]},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
}

// authorize sends GET /oauth2/authorize with the browser's cookie.
func (h *harness) authorize(cookie string, p url.Values) *http.Response {
	h.t.Helper()
	return h.do(req{method: "GET", path: "/oauth2/authorize?" + p.Encode(), cookie: cookie})
}

// redirectParams returns the query of a redirect to the client; it fails
// the test when the answer is not a redirect to want.
func redirectParams(t testing.TB, resp *http.Response, want string) url.Values {
	t.Helper()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d, want a redirect to %s; body %s", resp.StatusCode, want, alertOf(readBody(resp)))
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != want {
		t.Fatalf("redirected to %s, want %s", resp.Header.Get("Location"), want)
	}
	return u.Query()
}

// tokenForm posts to the token endpoint; a non-empty secret authenticates
// by HTTP Basic.
func (h *harness) tokenForm(a app, form url.Values) *http.Response {
	h.t.Helper()
	hr := httptest.NewRequest("POST", "http://authd.test/oauth2/token", strings.NewReader(form.Encode()))
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if a.secret != "" {
		hr.SetBasicAuth(url.QueryEscape(a.ID), url.QueryEscape(a.secret))
	}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, hr)
	return rec.Result()
}

func exchangeForm(a app, code, verifier string) url.Values {
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {a.RedirectURIs[0]}, "code_verifier": {verifier}}
	if a.secret == "" {
		f.Set("client_id", a.ID)
	}
	return f
}

type codeTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// signIn runs the whole flow for a first-party app and returns its tokens.
func (h *harness) codeFlow(a app, cookie string) (codeTokens, url.Values) {
	h.t.Helper()
	verifier, challenge := pkce()
	p := authzParams(a, challenge)
	q := redirectParams(h.t, h.authorize(cookie, p), a.RedirectURIs[0])
	if q.Get("code") == "" {
		h.t.Fatalf("no code: %v", q)
	}
	resp := h.tokenForm(a, exchangeForm(a, q.Get("code"), verifier))
	wantStatus(h.t, "code exchange", resp, http.StatusOK)
	return decode[codeTokens](h.t, resp), q
}

func TestCodeFlowFirstParty(t *testing.T) {
	for _, public := range []bool{true, false} {
		name := map[bool]string{true: "public", false: "confidential"}[public]
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, options{})
			h.register("ada@example.com")
			cookie := h.login("ada@example.com")
			a := h.newApp(client.Registration{Public: public, FirstParty: true})
			verifier, challenge := pkce()
			p := authzParams(a, challenge)
			resp := h.authorize(cookie, p)
			q := redirectParams(t, resp, appRedirect)
			if q.Get("state") != p.Get("state") || q.Get("iss") != issuerURL || len(q.Get("code")) != 43 {
				t.Fatalf("redirect query %v: want the state back, iss %s (RFC 9207) and a 256-bit code", q, issuerURL)
			}
			resp = h.tokenForm(a, exchangeForm(a, q.Get("code"), verifier))
			wantStatus(t, "exchange", resp, http.StatusOK)
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			tk := decode[codeTokens](t, resp)
			if tk.AccessToken == "" || tk.RefreshToken == "" || tk.TokenType != "Bearer" || tk.Scope != "openid email read" {
				t.Fatalf("tokens %+v", tk)
			}
			// The access token works on the API, and names a session of
			// its own: the app's device, listed with the app's name.
			resp = h.do(req{method: "GET", path: "/v1/sessions", header: map[string]string{"Authorization": "Bearer " + tk.AccessToken}})
			wantStatus(t, "sessions", resp, http.StatusOK)
			body := readBody(resp)
			if strings.Count(body, `"id"`) != 2 {
				t.Errorf("want the browser's session and the app's: %s", body)
			}
			if !strings.Contains(body, `"client_id":"`+a.ID+`"`) || !strings.Contains(body, `"app_name":"`+a.Name+`"`) {
				t.Errorf("the app's session does not name the app: %s", body)
			}
			// Refresh joins the rotation rules.
			f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.RefreshToken}}
			if public {
				f.Set("client_id", a.ID)
			}
			resp = h.tokenForm(a, f)
			wantStatus(t, "refresh", resp, http.StatusOK)
			// OIDC Core §12.2: no ID token on refresh (authd could not
			// state the original auth_time in it).
			if rt := decode[codeTokens](t, resp); rt.IDToken != "" || rt.AccessToken == "" || rt.RefreshToken == "" {
				t.Errorf("refresh response %+v", rt)
			}
		})
	}
}

func TestCodeFlowConsent(t *testing.T) {
	h := newHarness(t, options{})
	h.register("bo@example.com")
	cookie := h.login("bo@example.com")
	a := h.newApp(client.Registration{Name: "Photo Printer"})
	_, challenge := pkce()
	p := authzParams(a, challenge)
	resp := h.authorize(cookie, p)
	wantStatus(t, "consent page", resp, http.StatusOK)
	if xfo := resp.Header.Get("X-Frame-Options"); xfo != "DENY" {
		t.Errorf("X-Frame-Options %q: the consent page must not be framed", xfo)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") ||
		!strings.Contains(csp, "form-action 'self' https://app.example") {
		t.Errorf("CSP %q", csp)
	}
	page := readBody(resp)
	for _, want := range []string{"Photo Printer", `name="decision" value="allow"`, `name="decision" value="deny"`, "See your email address"} {
		if !strings.Contains(page, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	form := hiddenFields(t, page)

	post := func(f url.Values, cookie string, hdr map[string]string) *http.Response {
		hr := httptest.NewRequest("POST", "http://authd.test/oauth2/authorize", strings.NewReader(f.Encode()))
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cookie != "" {
			hr.Header.Set("Cookie", server.DefaultCookieName+"="+cookie)
		}
		for k, v := range hdr {
			hr.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.srv.ServeHTTP(rec, hr)
		return rec.Result()
	}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for kk, vv := range form {
			f[kk] = vv
		}
		f.Set(k, v)
		return f
	}

	// CSRF: a forged decision without the form's token, with another
	// session's token, or for another scope is refused.
	other := h.login("bo@example.com")
	for name, f := range map[string]url.Values{
		"no token":    func() url.Values { f := with("decision", "allow"); f.Del("consent_token"); return f }(),
		"bad token":   func() url.Values { f := with("decision", "allow"); f.Set("consent_token", "x"); return f }(),
		"wider scope": func() url.Values { f := with("decision", "allow"); f.Set("scope", "openid email write"); return f }(),
	} {
		resp := post(f, other, nil)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
			t.Errorf("%s: status %d, Location %q; want 403 and no redirect", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// A cross-site POST carries no SameSite=Lax cookie: it only reaches
	// the login page.
	resp = post(with("decision", "allow"), "", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?") {
		t.Errorf("cross-site decision without cookie: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Deny → access_denied at the client.
	q := redirectParams(t, post(with("decision", "deny"), cookie, nil), appRedirect)
	if q.Get("error") != "access_denied" || q.Get("state") != p.Get("state") || q.Get("iss") != issuerURL {
		t.Errorf("deny: %v", q)
	}
	// Allow → a code; the consent is remembered for these scopes.
	resp = post(with("decision", "allow"), cookie, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("allow: status %d (a POST answers 303, RFC 9700 §4.12)", resp.StatusCode)
	}
	if q := redirectParams(t, resp, appRedirect); q.Get("code") == "" {
		t.Fatalf("allow: %v", q)
	}
	if q := redirectParams(t, h.authorize(cookie, authzParams(a, challenge)), appRedirect); q.Get("code") == "" {
		t.Fatal("a remembered consent should not ask again")
	}
	// prompt=consent asks again; a wider scope asks again.
	p2 := authzParams(a, challenge)
	p2.Set("prompt", "consent")
	wantStatus(t, "prompt=consent", h.authorize(cookie, p2), http.StatusOK)
	p3 := authzParams(a, challenge)
	p3.Set("scope", "openid email read write")
	wantStatus(t, "wider scope", h.authorize(cookie, p3), http.StatusOK)
	// prompt=none where consent is missing: consent_required.
	p3.Set("prompt", "none")
	if q := redirectParams(t, h.authorize(cookie, p3), appRedirect); q.Get("error") != "consent_required" {
		t.Errorf("prompt=none without consent: %v", q)
	}
	// The account page lists the app; withdrawing ends its sessions.
	resp = h.do(req{method: "GET", path: "/account", cookie: cookie})
	if body := readBody(resp); !strings.Contains(body, "Photo Printer") || !strings.Contains(body, "/account/apps/"+a.ID+"/withdraw") {
		t.Fatal("the account page does not list the app")
	}
	tk, _ := h.codeFlow(a, cookie)
	bearer := map[string]string{"Authorization": "Bearer " + tk.AccessToken}
	wantStatus(t, "app token before withdrawal", h.do(req{method: "GET", path: "/v1/user", header: bearer}), http.StatusOK)
	hr := httptest.NewRequest("POST", "http://authd.test/account/apps/"+a.ID+"/withdraw", nil)
	hr.Header.Set("Cookie", server.DefaultCookieName+"="+cookie)
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, hr)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("withdraw: %d %s", rec.Code, rec.Body)
	}
	wantStatus(t, "app token after withdrawal", h.do(req{method: "GET", path: "/v1/user", header: bearer}), http.StatusUnauthorized)
	wantStatus(t, "consent asked again", h.authorize(cookie, authzParams(a, challenge)), http.StatusOK)
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

func hiddenFields(t *testing.T, page string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], htmlUnescape(m[2]))
	}
	if v.Get("consent_token") == "" {
		t.Fatalf("no consent_token in the form:\n%s", page)
	}
	return v
}

func htmlUnescape(s string) string {
	r := strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&#43;", "+")
	return r.Replace(s)
}

func TestCodeFlowLogin(t *testing.T) {
	h := newHarness(t, options{})
	h.register("cy@example.com")
	a := h.newApp(client.Registration{Public: true, FirstParty: true})
	_, challenge := pkce()
	p := authzParams(a, challenge)
	p.Set("login_hint", "cy@example.com")
	// No session: to the login page, which comes back.
	resp := h.authorize("", p)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?") {
		t.Fatalf("no session: %d %q", resp.StatusCode, loc)
	}
	lu, _ := url.Parse(loc)
	back := lu.Query().Get("return_to")
	if !strings.HasPrefix(back, "/oauth2/authorize?") || lu.Query().Get("login_hint") != "cy@example.com" {
		t.Fatalf("login redirect %q", loc)
	}
	page := readBody(h.do(req{method: "GET", path: loc}))
	if !strings.Contains(page, `value="cy@example.com"`) {
		t.Error("login_hint is not prefilled")
	}
	// prompt=none without a session: login_required at the client.
	pn := authzParams(a, challenge)
	pn.Set("prompt", "none")
	if q := redirectParams(t, h.authorize("", pn), appRedirect); q.Get("error") != "login_required" || q.Get("state") != pn.Get("state") {
		t.Errorf("prompt=none: %v", q)
	}
	cookie := h.login("cy@example.com")
	if q := redirectParams(t, h.do(req{method: "GET", path: back, cookie: cookie}), appRedirect); q.Get("code") == "" {
		t.Fatalf("after login: %v", q)
	}
	// prompt=login and an exceeded max_age send a signed-in browser to
	// the login form again (reauth=1), and the way back drops them.
	for _, mod := range []func(url.Values){
		func(v url.Values) { v.Set("prompt", "login") },
		func(v url.Values) { v.Set("max_age", "60") },
	} {
		pl := authzParams(a, challenge)
		mod(pl)
		h.clock.Advance(2 * time.Minute)
		resp := h.authorize(cookie, pl)
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "/login?") || !strings.Contains(loc, "reauth=1") {
			t.Fatalf("%v: %d %q", pl, resp.StatusCode, loc)
		}
		lu, _ := url.Parse(loc)
		back := lu.Query().Get("return_to")
		// The way back keeps the demand (TestOAuthBlackBoxFindings: it
		// cannot be skipped), and a sign-in made now satisfies it.
		if !strings.Contains(back, "prompt=login") && !strings.Contains(back, "max_age=60") {
			t.Errorf("the way back dropped the re-authentication demand: %q", back)
		}
		if page := readBody(h.do(req{method: "GET", path: loc, cookie: cookie})); !strings.Contains(page, `action="/login"`) {
			t.Error("reauth=1 must show the form to a signed-in browser")
		}
		cookie = h.login("cy@example.com")
		if q := redirectParams(t, h.do(req{method: "GET", path: back, cookie: cookie}), appRedirect); q.Get("code") == "" {
			t.Errorf("after the sign-in: %v", q)
		}
	}
	// max_age within the session's age: no login.
	pm := authzParams(a, challenge)
	pm.Set("max_age", "100000")
	if q := redirectParams(t, h.authorize(cookie, pm), appRedirect); q.Get("code") == "" {
		t.Errorf("max_age satisfied: %v", q)
	}
}

// TestAuthorizeRedirectAttacks: RFC 9700 §4.1 — a redirect URI that is not
// exactly a registered one gets an error page on authd, never a redirect
// (which would hand the code, or an error with state, to the attacker).
func TestAuthorizeRedirectAttacks(t *testing.T) {
	h := newHarness(t, options{})
	h.register("di@example.com")
	cookie := h.login("di@example.com")
	a := h.newApp(client.Registration{FirstParty: true, RedirectURIs: []string{appRedirect, "http://127.0.0.1/native/cb"}})
	_, challenge := pkce()
	for _, ru := range []string{
		"https://app.example/cb/extra",        // suffix
		"https://app.example/c",               // prefix
		"https://app.example/cb/../evil",      // path traversal
		"https://app.example/cb?x=1",          // query added
		"https://app.example/cb#frag",         // fragment
		"https://APP.example/cb",              // case
		"https://app.example:8443/cb",         // other port, not loopback
		"https://app.example@evil.example/cb", // userinfo host confusion
		"https://evil.example/cb",
		"http://app.example/cb", // scheme downgrade
		"https://app.example/cb/",
		"https://app.example/%63b",           // percent-encoded
		"http://localhost/native/cb",         // localhost is not the loopback IP
		"http://127.0.0.1:8080/native/cb/..", // loopback, other path
		"javascript:alert(1)",
		"",
	} {
		p := authzParams(a, challenge)
		p.Del("redirect_uri")
		if ru != "" {
			p.Set("redirect_uri", ru)
		}
		resp := h.authorize(cookie, p)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("redirect_uri %q: status %d, Location %q; want 400 and no redirect", ru, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// The loopback registration matches any port (RFC 8252 §7.3).
	p := authzParams(a, challenge)
	p.Set("redirect_uri", "http://127.0.0.1:49152/native/cb")
	if q := redirectParams(t, h.authorize(cookie, p), "http://127.0.0.1:49152/native/cb"); q.Get("code") == "" {
		t.Errorf("loopback any port: %v", q)
	}
	// An unknown client: error page.
	p = authzParams(a, challenge)
	p.Set("client_id", "c_unknown")
	if resp := h.authorize(cookie, p); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("unknown client: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A repeated parameter (RFC 6749 §3.1): error page, even for a good
	// redirect URI.
	raw := authzParams(a, challenge).Encode() + "&state=second"
	if resp := h.do(req{method: "GET", path: "/oauth2/authorize?" + raw, cookie: cookie}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("repeated state: %d", resp.StatusCode)
	}
}

// TestAuthorizeErrorsGoBack: with a good client and redirect URI, request
// errors go back to the client with state and iss (RFC 6749 §4.1.2.1).
func TestAuthorizeErrorsGoBack(t *testing.T) {
	h := newHarness(t, options{})
	h.register("ed@example.com")
	cookie := h.login("ed@example.com")
	a := h.newApp(client.Registration{FirstParty: true, Scopes: []string{"openid", "email", "read"}})
	_, challenge := pkce()
	for _, tc := range []struct {
		name string
		mod  func(url.Values)
		want string
	}{
		{"token response type", func(v url.Values) { v.Set("response_type", "token") }, "unsupported_response_type"},
		{"id_token response type", func(v url.Values) { v.Set("response_type", "code id_token") }, "unsupported_response_type"},
		{"no response type", func(v url.Values) { v.Del("response_type") }, "invalid_request"},
		{"no challenge", func(v url.Values) { v.Del("code_challenge") }, "invalid_request"},
		{"plain", func(v url.Values) { v.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"no method", func(v url.Values) { v.Del("code_challenge_method") }, "invalid_request"},
		{"short challenge", func(v url.Values) { v.Set("code_challenge", "abc") }, "invalid_request"},
		{"unknown scope", func(v url.Values) { v.Set("scope", "openid admin") }, "invalid_scope"},
		{"unregistered scope", func(v url.Values) { v.Set("scope", "openid write") }, "invalid_scope"},
		{"tab-separated scope", func(v url.Values) { v.Set("scope", "openid\temail") }, "invalid_scope"},
		{"bad prompt", func(v url.Values) { v.Set("prompt", "always") }, "invalid_request"},
		{"bad max_age", func(v url.Values) { v.Set("max_age", "-1") }, "invalid_request"},
		{"request object", func(v url.Values) { v.Set("request", "eyJ...") }, "request_not_supported"},
		{"form_post", func(v url.Values) { v.Set("response_mode", "form_post") }, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := authzParams(a, challenge)
			tc.mod(p)
			q := redirectParams(t, h.authorize(cookie, p), appRedirect)
			if q.Get("error") != tc.want || q.Get("state") != p.Get("state") || q.Get("iss") != issuerURL || q.Has("code") {
				t.Errorf("got %v, want error %s with state and iss", q, tc.want)
			}
		})
	}
}

// TestCodeRedemptionAttacks: RFC 9700 §4.5 (code injection), §4.8 (PKCE
// downgrade) and RFC 6749 §4.1.2 (replay revokes what was issued).
func TestCodeRedemptionAttacks(t *testing.T) {
	h := newHarness(t, options{})
	h.register("fa@example.com")
	cookie := h.login("fa@example.com")
	a := h.newApp(client.Registration{FirstParty: true})
	b := h.newApp(client.Registration{FirstParty: true})
	pub := h.newApp(client.Registration{FirstParty: true, Public: true})

	newCode := func(x app) (code, verifier string) {
		verifier, challenge := pkce()
		q := redirectParams(t, h.authorize(cookie, authzParams(x, challenge)), x.RedirectURIs[0])
		return q.Get("code"), verifier
	}
	type attack struct {
		name   string
		form   func(code, verifier string) (app, url.Values)
		status int
		errc   string
		spent  bool // the code is dead afterwards (it was redeemed)
	}
	for _, tc := range []attack{
		{"no verifier (PKCE downgrade)", func(c, v string) (app, url.Values) {
			f := exchangeForm(a, c, v)
			f.Del("code_verifier")
			return a, f
		}, 400, "invalid_request", false},
		{"wrong verifier", func(c, v string) (app, url.Values) {
			w, _ := pkce()
			return a, exchangeForm(a, c, w)
		}, 400, "invalid_grant", true},
		{"verifier = challenge (plain)", func(c, v string) (app, url.Values) {
			sum := sha256.Sum256([]byte(v))
			return a, exchangeForm(a, c, base64.RawURLEncoding.EncodeToString(sum[:]))
		}, 400, "invalid_grant", true},
		{"code injected into another client", func(c, v string) (app, url.Values) { return b, exchangeForm(b, c, v) }, 400, "invalid_grant", true},
		{"other redirect_uri", func(c, v string) (app, url.Values) {
			f := exchangeForm(a, c, v)
			f.Set("redirect_uri", "https://app.example/other")
			return a, f
		}, 400, "invalid_grant", true},
		{"confidential client without secret", func(c, v string) (app, url.Values) {
			f := exchangeForm(app{a.Client, ""}, c, v)
			return app{a.Client, ""}, f
		}, 401, "invalid_client", false},
		{"wrong secret", func(c, v string) (app, url.Values) {
			return app{a.Client, "wrong"}, exchangeForm(a, c, v)
		}, 401, "invalid_client", false},
		{"public client's code by the confidential one", func(c, v string) (app, url.Values) { return a, exchangeForm(a, c, v) }, 400, "invalid_grant", true},
		{"garbage code", func(c, v string) (app, url.Values) { return a, exchangeForm(a, "x"+c, v) }, 400, "invalid_grant", false},
		{"huge code", func(c, v string) (app, url.Values) { return a, exchangeForm(a, strings.Repeat("A", 5000), v) }, 400, "invalid_grant", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := a
			if strings.HasPrefix(tc.name, "public client") {
				src = pub
			}
			code, verifier := newCode(src)
			x, f := tc.form(code, verifier)
			resp := h.tokenForm(x, f)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, readBody(resp))
			}
			if e := decode[struct{ Error string }](t, resp); e.Error != tc.errc {
				t.Fatalf("error %q, want %q", e.Error, tc.errc)
			}
			// A code redeemed wrongly is spent: another client, redirect
			// or verifier kills it (RFC 9700 §4.5). A request refused
			// before redemption (no client authentication, no verifier,
			// another code) leaves it to its rightful holder.
			resp = h.tokenForm(src, exchangeForm(src, code, verifier))
			if tc.spent {
				wantStatus(t, "the rightful redemption after "+tc.name, resp, http.StatusBadRequest)
			} else {
				wantStatus(t, "the rightful redemption after "+tc.name, resp, http.StatusOK)
			}
		})
	}

	t.Run("replay revokes the first redemption's tokens", func(t *testing.T) {
		code, verifier := newCode(a)
		resp := h.tokenForm(a, exchangeForm(a, code, verifier))
		wantStatus(t, "first", resp, http.StatusOK)
		tk := decode[codeTokens](t, resp)
		bearer := map[string]string{"Authorization": "Bearer " + tk.AccessToken}
		wantStatus(t, "token before replay", h.do(req{method: "GET", path: "/v1/user", header: bearer}), http.StatusOK)
		resp = h.tokenForm(a, exchangeForm(a, code, verifier))
		wantStatus(t, "replay", resp, http.StatusBadRequest)
		wantStatus(t, "access token after replay", h.do(req{method: "GET", path: "/v1/user", header: bearer}), http.StatusUnauthorized)
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.RefreshToken}}
		wantStatus(t, "refresh after replay", h.tokenForm(a, f), http.StatusBadRequest)
	})

	t.Run("expired code", func(t *testing.T) {
		code, verifier := newCode(a)
		h.clock.Advance(61 * time.Second)
		wantStatus(t, "after 61 s", h.tokenForm(a, exchangeForm(a, code, verifier)), http.StatusBadRequest)
	})

	// 100 redemptions of one code at once: exactly one gets tokens, and
	// since the others are replays, even that one's session ends.
	t.Run("parallel redemptions", func(t *testing.T) {
		code, verifier := newCode(pub)
		var wg sync.WaitGroup
		statuses := make(chan int, 100)
		tokens := make(chan string, 100)
		start := make(chan struct{})
		for range 100 {
			wg.Go(func() {
				<-start
				resp := h.tokenForm(pub, exchangeForm(pub, code, verifier))
				statuses <- resp.StatusCode
				if resp.StatusCode == http.StatusOK {
					tokens <- decode[codeTokens](t, resp).AccessToken
				}
			})
		}
		close(start)
		wg.Wait()
		close(statuses)
		close(tokens)
		ok := 0
		for s := range statuses {
			switch s {
			case http.StatusOK:
				ok++
			case http.StatusBadRequest:
			default:
				t.Errorf("status %d", s)
			}
		}
		if ok > 1 {
			t.Fatalf("%d redemptions succeeded, want at most 1", ok)
		}
		for at := range tokens {
			bearer := map[string]string{"Authorization": "Bearer " + at}
			wantStatus(t, "the winner's token after 99 replays", h.do(req{method: "GET", path: "/v1/user", header: bearer}), http.StatusUnauthorized)
		}
	})
}

func TestClientCredentials(t *testing.T) {
	h := newHarness(t, options{})
	svc := h.newApp(client.Registration{Name: "Billing", RedirectURIs: []string{}, GrantTypes: []string{client.GrantClientCredentials}, Scopes: []string{"read"}})
	resp := h.tokenForm(svc, url.Values{"grant_type": {"client_credentials"}})
	wantStatus(t, "client_credentials", resp, http.StatusOK)
	tk := decode[codeTokens](t, resp)
	if tk.RefreshToken != "" || tk.Scope != "read" {
		t.Fatalf("%+v: no refresh token (RFC 6749 §4.4.3), the client's scope", tk)
	}
	claims := jwtClaims(t, tk.AccessToken)
	if _, has := claims["sid"]; has || claims["sub"] != svc.ID || claims["client_id"] != svc.ID {
		t.Errorf("claims %v: sub and client_id are the client, no sid", claims)
	}
	// authd's own API serves users, not clients.
	wantStatus(t, "/v1/user with a client token", h.do(req{method: "GET", path: "/v1/user",
		header: map[string]string{"Authorization": "Bearer " + tk.AccessToken}}), http.StatusUnauthorized)
	// Wider scope, a public client, a client not registered for it.
	wantStatus(t, "wider scope", h.tokenForm(svc, url.Values{"grant_type": {"client_credentials"}, "scope": {"write"}}), http.StatusBadRequest)
	web := h.newApp(client.Registration{})
	resp = h.tokenForm(web, url.Values{"grant_type": {"client_credentials"}})
	wantStatus(t, "web app (default grants include client_credentials for confidential)", resp, http.StatusOK)
	pub := h.newApp(client.Registration{Public: true})
	resp = h.tokenForm(pub, url.Values{"grant_type": {"client_credentials"}, "client_id": {pub.ID}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("public client_credentials: %d", resp.StatusCode)
	}
	// client_secret_post works too; both methods at once do not.
	f := url.Values{"grant_type": {"client_credentials"}, "client_id": {svc.ID}, "client_secret": {svc.secret}}
	wantStatus(t, "client_secret_post", h.tokenForm(app{svc.Client, ""}, f), http.StatusOK)
	wantStatus(t, "two methods", h.tokenForm(svc, f), http.StatusBadRequest)
}

func TestPasswordGrantOptIn(t *testing.T) {
	h := newHarness(t, options{noPasswordGrant: true})
	h.register("gu@example.com")
	f := url.Values{"grant_type": {"password"}, "username": {"gu@example.com"}, "password": {testPassword}}
	resp := h.tokenForm(app{Client: &client.Client{ID: "authd"}}, f)
	wantStatus(t, "password grant off", resp, http.StatusBadRequest)
	if e := decode[struct{ Error string }](t, resp); e.Error != "unsupported_grant_type" {
		t.Errorf("error %q", e.Error)
	}
	md := decode[map[string]any](t, h.do(req{method: "GET", path: "/.well-known/openid-configuration"}))
	for _, g := range md["grant_types_supported"].([]any) {
		if g == "password" {
			t.Error("the password grant is advertised while off")
		}
	}
}

func TestDiscovery(t *testing.T) {
	h := newHarness(t, options{rs256: true})
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		md := decode[map[string]any](t, h.do(req{method: "GET", path: path}))
		for k, want := range map[string]string{
			"issuer": issuerURL, "authorization_endpoint": issuerURL + "/oauth2/authorize",
			"token_endpoint": issuerURL + "/oauth2/token", "userinfo_endpoint": issuerURL + "/oauth2/userinfo",
			"jwks_uri": issuerURL + "/.well-known/jwks.json", "end_session_endpoint": issuerURL + "/oauth2/logout",
		} {
			if md[k] != want {
				t.Errorf("%s: %s = %v, want %s", path, k, md[k], want)
			}
		}
		for k, want := range map[string]string{
			"response_types_supported": `["code"]`, "code_challenge_methods_supported": `["S256"]`,
			"subject_types_supported":               `["public"]`,
			"token_endpoint_auth_methods_supported": `["client_secret_basic","client_secret_post","none"]`,
		} {
			if b, _ := json.Marshal(md[k]); string(b) != want {
				t.Errorf("%s: %s = %s, want %s", path, k, b, want)
			}
		}
		if b, _ := json.Marshal(md["id_token_signing_alg_values_supported"]); !strings.Contains(string(b), "RS256") {
			t.Errorf("id_token_signing_alg_values_supported %s lacks RS256", b)
		}
		if md["authorization_response_iss_parameter_supported"] != true {
			t.Error("RFC 9207 not advertised")
		}
	}
}

// jwtClaims decodes a JWT's payload without verifying it.
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestUserInfoAndIDToken(t *testing.T) {
	h := newHarness(t, options{rs256: true})
	uid := h.register("hy@example.com")
	cookie := h.login("hy@example.com")
	a := h.newApp(client.Registration{FirstParty: true})
	tk, q := h.codeFlow(a, cookie)
	_ = q
	idt := jwtClaims(t, tk.IDToken)
	if idt["sub"] != uid || idt["aud"] != a.ID || idt["iss"] != issuerURL || idt["email"] != "hy@example.com" ||
		idt["email_verified"] != false || idt["sid"] == nil || idt["at_hash"] == nil || idt["auth_time"] == nil {
		t.Errorf("id_token claims %v", idt)
	}
	if hdr := jwtHeader(t, tk.IDToken); hdr["alg"] != "RS256" || hdr["typ"] != "JWT" {
		t.Errorf("id_token header %v: OIDC Core §15.1 RS256 by default", hdr)
	}
	if len(tk.IDToken) > 1024 {
		t.Errorf("id_token is %d bytes, want ≤ 1 KB", len(tk.IDToken))
	}
	bearer := map[string]string{"Authorization": "Bearer " + tk.AccessToken}
	for _, m := range []string{"GET", "POST"} {
		resp := h.do(req{method: m, path: "/oauth2/userinfo", header: bearer})
		wantStatus(t, m+" userinfo", resp, http.StatusOK)
		ui := decode[map[string]any](t, resp)
		if ui["sub"] != uid || ui["email"] != "hy@example.com" {
			t.Errorf("userinfo %v", ui)
		}
	}
	// Without openid: 403 insufficient_scope; no token: 401; a cookie
	// is not a bearer token.
	wantStatus(t, "no token", h.do(req{method: "GET", path: "/oauth2/userinfo"}), http.StatusUnauthorized)
	wantStatus(t, "cookie only", h.do(req{method: "GET", path: "/oauth2/userinfo", cookie: cookie}), http.StatusUnauthorized)
	wantStatus(t, "garbage token", h.do(req{method: "GET", path: "/oauth2/userinfo",
		header: map[string]string{"Authorization": "Bearer x.y.z"}}), http.StatusUnauthorized)
	// The session revoked: userinfo refuses the token at once.
	sid, _ := idt["sid"].(string)
	wantStatus(t, "revoke app session", h.do(req{method: "DELETE", path: "/v1/sessions/" + sid, cookie: cookie}), http.StatusNoContent)
	wantStatus(t, "userinfo after revocation", h.do(req{method: "GET", path: "/oauth2/userinfo", header: bearer}), http.StatusUnauthorized)
}

func TestEndSession(t *testing.T) {
	h := newHarness(t, options{rs256: true})
	h.register("io@example.com")
	a := h.newApp(client.Registration{FirstParty: true, PostLogoutRedirectURIs: []string{"https://app.example/bye"}})
	signIn := func() (cookie string, tk codeTokens) {
		cookie = h.login("io@example.com")
		tk, _ = h.codeFlow(a, cookie)
		return cookie, tk
	}
	live := func(tk codeTokens) bool {
		return h.do(req{method: "GET", path: "/v1/user", header: map[string]string{"Authorization": "Bearer " + tk.AccessToken}}).StatusCode == http.StatusOK
	}

	t.Run("hint ends both sessions and returns with state", func(t *testing.T) {
		cookie, tk := signIn()
		p := url.Values{"id_token_hint": {tk.IDToken}, "post_logout_redirect_uri": {"https://app.example/bye"}, "state": {"s1"}}
		resp := h.do(req{method: "GET", path: "/oauth2/logout?" + p.Encode(), cookie: cookie})
		if q := redirectParams(t, resp, "https://app.example/bye"); q.Get("state") != "s1" {
			t.Errorf("state %v", q)
		}
		if live(tk) {
			t.Error("the app's session outlived end_session")
		}
		wantStatus(t, "browser session", h.do(req{method: "GET", path: "/v1/session", cookie: cookie}), http.StatusUnauthorized)
	})
	t.Run("unregistered post-logout URI: error page, nothing ended", func(t *testing.T) {
		cookie, tk := signIn()
		for _, back := range []string{"https://evil.example/", "https://app.example/bye/", "https://app.example/bye?x"} {
			p := url.Values{"id_token_hint": {tk.IDToken}, "post_logout_redirect_uri": {back}}
			resp := h.do(req{method: "GET", path: "/oauth2/logout?" + p.Encode(), cookie: cookie})
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Errorf("%s: %d %q", back, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		if !live(tk) {
			t.Error("a refused logout ended the session")
		}
		_ = cookie
	})
	t.Run("no hint: confirmation page", func(t *testing.T) {
		cookie, tk := signIn()
		resp := h.do(req{method: "GET", path: "/oauth2/logout?client_id=" + a.ID, cookie: cookie})
		wantStatus(t, "confirm page", resp, http.StatusOK)
		if body := readBody(resp); !strings.Contains(body, `name="decision" value="logout"`) {
			t.Fatal("no confirmation button")
		}
		wantStatus(t, "browser session before confirming", h.do(req{method: "GET", path: "/v1/session", cookie: cookie}), http.StatusOK)
		post := func(body, cookie string, hdr map[string]string) int {
			hr := httptest.NewRequest("POST", "http://authd.test/oauth2/logout", strings.NewReader(body))
			hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			hr.Header.Set("Cookie", server.DefaultCookieName+"="+cookie)
			for k, v := range hdr {
				hr.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.srv.ServeHTTP(rec, hr)
			return rec.Code
		}
		// A forged cross-site confirmation is refused by the cross-origin
		// protection.
		if code := post("decision=logout", cookie, map[string]string{"Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden {
			t.Errorf("cross-site confirmation: %d", code)
		}
		if code := post("decision=logout&client_id="+a.ID, cookie, nil); code != http.StatusSeeOther {
			t.Fatalf("confirm: %d", code)
		}
		wantStatus(t, "browser session", h.do(req{method: "GET", path: "/v1/session", cookie: cookie}), http.StatusUnauthorized)
		if !live(tk) {
			t.Error("without a hint only the browser's session ends; the app's is the app's to end")
		}
	})
	t.Run("another user's hint ends nothing of theirs", func(t *testing.T) {
		_, bobTk := signIn()
		h.register("ju@example.com")
		cookie := h.login("ju@example.com")
		p := url.Values{"id_token_hint": {bobTk.IDToken}}
		resp := h.do(req{method: "GET", path: "/oauth2/logout?" + p.Encode(), cookie: cookie})
		wantStatus(t, "confirmation for a mismatched hint", resp, http.StatusOK)
		hr := httptest.NewRequest("POST", "http://authd.test/oauth2/logout", strings.NewReader("decision=logout&"+p.Encode()))
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		hr.Header.Set("Cookie", server.DefaultCookieName+"="+cookie)
		rec := httptest.NewRecorder()
		h.srv.ServeHTTP(rec, hr)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("confirm: %d", rec.Code)
		}
		if !live(bobTk) {
			t.Error("another user's hint ended their app session")
		}
		// No browser session at all: the hint alone ends nothing.
		resp = h.do(req{method: "GET", path: "/oauth2/logout?" + p.Encode()})
		if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
			t.Errorf("hint without a browser session: %d", resp.StatusCode)
		}
		if !live(bobTk) {
			t.Error("a hint without a browser session ended the app's session")
		}
	})
	t.Run("forged hint", func(t *testing.T) {
		_, tk := signIn()
		parts := strings.Split(tk.IDToken, ".")
		forged := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString([]byte("nope"))
		for _, hint := range []string{forged, tk.AccessToken, "x"} {
			resp := h.do(req{method: "GET", path: "/oauth2/logout?id_token_hint=" + url.QueryEscape(hint)})
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("hint %.20q: %d", hint, resp.StatusCode)
			}
		}
		if !live(tk) {
			t.Error("a forged hint ended the session")
		}
	})
}

func jwtHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

// alertOf is the alert of a page, or the start of a body that has none.
func alertOf(body string) string {
	if i := strings.Index(body, `role="alert"`); i >= 0 {
		body = body[i:]
	}
	return body[:min(len(body), 300)]
}

// BenchmarkCodeFlow is one whole sign-in of an app through the code
// flow, without the network: GET /oauth2/authorize with the browser's
// session cookie (a code is stored) → POST /oauth2/token (the code is
// redeemed, a session and refresh chain are created, an access token and
// an RS256 ID token are signed). ns/op is one authorize → token round
// trip; the sub-benchmarks show the share of each side.
//
//	go test -run '^$' -bench CodeFlow -benchtime 2s ./internal/server/
func BenchmarkCodeFlow(b *testing.B) {
	for _, be := range []struct {
		name   string
		sqlite bool
	}{{"memory", false}, {"sqlite", true}} {
		for _, scope := range []string{"read", "openid email"} {
			b.Run(be.name+"/"+strings.ReplaceAll(scope, " ", "+"), func(b *testing.B) {
				h := newHarness(b, options{sqlite: be.sqlite, rs256: true, noThrottle: true})
				h.register("bench@example.com")
				cookie := h.login("bench@example.com")
				a := h.newApp(client.Registration{FirstParty: true})
				verifier, challenge := pkce()
				p := authzParams(a, challenge)
				p.Set("scope", scope)
				path := "/oauth2/authorize?" + p.Encode()
				b.ReportAllocs()
				for b.Loop() {
					resp := h.do(req{method: "GET", path: path, cookie: cookie})
					u, _ := url.Parse(resp.Header.Get("Location"))
					code := u.Query().Get("code")
					if code == "" {
						b.Fatalf("no code: %d", resp.StatusCode)
					}
					if resp := h.tokenForm(a, exchangeForm(a, code, verifier)); resp.StatusCode != http.StatusOK {
						b.Fatalf("exchange: %d %s", resp.StatusCode, readBody(resp))
					}
				}
			})
		}
	}
}

// BenchmarkRSA2048Sign is the raw primitive under an RS256 ID token: one
// RSA-2048 PKCS #1 v1.5 signature over a SHA-256 digest, for the ratio
// BenchmarkCodeFlow/*/openid+email reports against.
func BenchmarkRSA2048Sign(b *testing.B) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte(strings.Repeat("x", 900)))
	for b.Loop() {
		if _, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPasswordGrantClientScopes: with the grant on, a client registered
// with scopes gets no more (found by the OpenAPI review: it got any API
// scope).
func TestPasswordGrantClientScopes(t *testing.T) {
	h := newHarness(t, options{})
	h.register("jo@example.com")
	a := h.newApp(client.Registration{RedirectURIs: []string{}, GrantTypes: []string{client.GrantPassword}, Scopes: []string{"read"}})
	f := url.Values{"grant_type": {"password"}, "username": {"jo@example.com"}, "password": {testPassword}}
	resp := h.tokenForm(a, f)
	wantStatus(t, "no scope", resp, http.StatusOK)
	if tk := decode[codeTokens](t, resp); tk.Scope != "read" {
		t.Errorf("scope %q, want the client's read", tk.Scope)
	}
	f.Set("scope", "write")
	wantStatus(t, "write", h.tokenForm(a, f), http.StatusBadRequest)
}

// TestOAuthBlackBoxFindings pins what the black-box test of the OpenID
// Provider found.
func TestOAuthBlackBoxFindings(t *testing.T) {
	h := newHarness(t, options{})
	h.register("ka@example.com")
	cookie := h.login("ka@example.com")
	third := h.newApp(client.Registration{Name: "Third"})
	fp := h.newApp(client.Registration{FirstParty: true})
	consent := func(a app, scope string) {
		_, challenge := pkce()
		p := authzParams(a, challenge)
		p.Set("scope", scope)
		page := readBody(h.authorize(cookie, p))
		f := hiddenFields(t, page)
		f.Set("decision", "allow")
		hr := httptest.NewRequest("POST", "http://authd.test/oauth2/authorize", strings.NewReader(f.Encode()))
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		hr.Header.Set("Cookie", server.DefaultCookieName+"="+cookie)
		rec := httptest.NewRecorder()
		h.srv.ServeHTTP(rec, hr)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("consent: %d", rec.Code)
		}
	}
	flow := func(a app, scope string) codeTokens {
		verifier, challenge := pkce()
		p := authzParams(a, challenge)
		p.Set("scope", scope)
		q := redirectParams(t, h.authorize(cookie, p), appRedirect)
		resp := h.tokenForm(a, exchangeForm(a, q.Get("code"), verifier))
		wantStatus(t, "exchange", resp, http.StatusOK)
		return decode[codeTokens](t, resp)
	}

	t.Run("an openid-only token reads nothing of authd's API", func(t *testing.T) {
		consent(third, "openid")
		tk := flow(third, "openid")
		bearer := map[string]string{"Authorization": "Bearer " + tk.AccessToken}
		for _, path := range []string{"/v1/user", "/v1/sessions", "/v1/session", "/v1/auth/check"} {
			if resp := h.do(req{method: "GET", path: path, header: bearer}); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: %d, want 403 insufficient_scope", path, resp.StatusCode)
			}
		}
		wantStatus(t, "userinfo", h.do(req{method: "GET", path: "/oauth2/userinfo", header: bearer}), http.StatusOK)
	})

	t.Run("prompt=login cannot be skipped", func(t *testing.T) {
		_, challenge := pkce()
		for _, mod := range []func(url.Values){
			func(v url.Values) { v.Set("prompt", "login") },
			func(v url.Values) { v.Set("max_age", "0") },
		} {
			p := authzParams(fp, challenge)
			mod(p)
			h.clock.Advance(time.Second)
			loc := h.authorize(cookie, p).Header.Get("Location")
			lu, _ := url.Parse(loc)
			back := lu.Query().Get("return_to")
			if !strings.HasPrefix(back, "/oauth2/authorize?") {
				t.Fatalf("login redirect %q", loc)
			}
			// Straight back without signing in: the login again, no code.
			resp := h.do(req{method: "GET", path: back, cookie: cookie})
			if l := resp.Header.Get("Location"); !strings.HasPrefix(l, "/login?") {
				t.Fatalf("the way back without a sign-in answered %d %q", resp.StatusCode, l)
			}
			// A forged login_after is refused too.
			bu, _ := url.Parse(back)
			bq := bu.Query()
			bq.Set("login_after", "0")
			resp = h.do(req{method: "GET", path: "/oauth2/authorize?" + bq.Encode(), cookie: cookie})
			if l := resp.Header.Get("Location"); !strings.HasPrefix(l, "/login?") {
				t.Fatalf("forged login_after answered %d %q", resp.StatusCode, l)
			}
			// After a real sign-in, the same way back gives a code.
			h.clock.Advance(time.Second)
			fresh := h.login("ka@example.com")
			if q := redirectParams(t, h.do(req{method: "GET", path: back, cookie: fresh}), appRedirect); q.Get("code") == "" {
				t.Fatalf("after the sign-in: %v", q)
			}
			cookie = fresh
		}
	})

	t.Run("a code dies with its consent and its browser session", func(t *testing.T) {
		consent(third, "openid email read")
		verifier, challenge := pkce()
		q := redirectParams(t, h.authorize(cookie, authzParams(third, challenge)), appRedirect)
		hr := httptest.NewRequest("POST", "http://authd.test/account/apps/"+third.ID+"/withdraw", nil)
		hr.Header.Set("Cookie", server.DefaultCookieName+"="+cookie)
		h.srv.ServeHTTP(httptest.NewRecorder(), hr)
		wantStatus(t, "code after withdrawal", h.tokenForm(third, exchangeForm(third, q.Get("code"), verifier)), http.StatusBadRequest)

		verifier, challenge = pkce()
		q = redirectParams(t, h.authorize(cookie, authzParams(fp, challenge)), appRedirect)
		wantStatus(t, "sign out", h.do(req{method: "DELETE", path: "/v1/session", cookie: cookie}), http.StatusNoContent)
		wantStatus(t, "code after sign-out", h.tokenForm(fp, exchangeForm(fp, q.Get("code"), verifier)), http.StatusBadRequest)
		cookie = h.login("ka@example.com")
	})

	t.Run("client_credentials tokens: revocation says it cannot", func(t *testing.T) {
		svc := h.newApp(client.Registration{RedirectURIs: []string{}, GrantTypes: []string{client.GrantClientCredentials}})
		tk := decode[codeTokens](t, h.tokenForm(svc, url.Values{"grant_type": {"client_credentials"}}))
		hr := httptest.NewRequest("POST", "http://authd.test/oauth2/revoke", strings.NewReader("token="+tk.AccessToken))
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		hr.SetBasicAuth(svc.ID, svc.secret)
		rec := httptest.NewRecorder()
		h.srv.ServeHTTP(rec, hr)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "unsupported_token_type") {
			t.Errorf("revoke a client_credentials token: %d %s", rec.Code, rec.Body)
		}
	})

	t.Run("apps may not introspect or follow the feed", func(t *testing.T) {
		tk := flow(fp, "openid read")
		for _, path := range []string{"/oauth2/introspect", "/v1/revocations"} {
			method, body := "POST", "token="+tk.AccessToken
			if path == "/v1/revocations" {
				method, body = "GET", ""
			}
			hr := httptest.NewRequest(method, "http://authd.test"+path, strings.NewReader(body))
			hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			hr.SetBasicAuth(fp.ID, fp.secret)
			rec := httptest.NewRecorder()
			h.srv.ServeHTTP(rec, hr)
			if rec.Code != http.StatusForbidden {
				t.Errorf("%s by an app: %d %s", path, rec.Code, rec.Body)
			}
		}
	})
}
