package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The server-rendered pages, without a browser. cmd/authd/browser_test.go
// drives them in Chromium.

const wantPageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; " +
	"connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"

// form POSTs a URL-encoded form as a same-origin browser would.
func (h *harness) form(path string, v url.Values, cookie string, header ...string) *http.Response {
	h.t.Helper()
	hdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"}
	for i := 0; i+1 < len(header); i += 2 {
		hdr[header[i]] = header[i+1]
	}
	return h.do(req{method: "POST", path: path, body: v.Encode(), cookie: cookie, header: hdr})
}

func (h *harness) page(path, cookie string) *http.Response {
	h.t.Helper()
	return h.do(req{method: "GET", path: path, cookie: cookie})
}

// wantPage checks the headers every page carries and returns the body.
func wantPage(t *testing.T, what string, resp *http.Response, status int) string {
	t.Helper()
	body := readBody(resp)
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d; body:\n%s", what, resp.StatusCode, status, body)
	}
	if got := resp.Header.Get("Content-Security-Policy"); got != wantPageCSP {
		t.Errorf("%s: CSP = %q, want %q", what, got, wantPageCSP)
	}
	if strings.Contains(resp.Header.Get("Content-Security-Policy"), "unsafe") {
		t.Errorf("%s: CSP allows unsafe sources", what)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("%s: Cache-Control = %q, want no-store", what, got)
	}
	if ct := resp.Header.Get("Content-Type"); status != http.StatusSeeOther && ct != "text/html; charset=utf-8" {
		t.Errorf("%s: Content-Type = %q", what, ct)
	}
	return body
}

func wantRedirect(t *testing.T, what string, resp *http.Response, to string) {
	t.Helper()
	wantPage(t, what, resp, http.StatusSeeOther)
	if got := resp.Header.Get("Location"); got != to {
		t.Errorf("%s: Location = %q, want %q", what, got, to)
	}
}

var (
	inlineScript  = regexp.MustCompile(`<script(?:\s[^>]*)?>`)
	inlineHandler = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
)

// noInlineCode fails if the page has code the CSP would block.
func noInlineCode(t *testing.T, what, body string) {
	t.Helper()
	for _, tag := range inlineScript.FindAllString(body, -1) {
		if !strings.Contains(tag, ` src="/static/`) {
			t.Errorf("%s: inline or foreign script %s", what, tag)
		}
	}
	if strings.Contains(body, "<style") || strings.Contains(body, " style=") {
		t.Errorf("%s: inline style", what)
	}
	if m := inlineHandler.FindString(body); m != "" {
		t.Errorf("%s: inline event handler %q", what, m)
	}
	for _, want := range []string{`href="#main"`, `id="main"`, `<link rel="stylesheet" href="/static/style.css">`, `<html lang="en">`,
		`name="viewport"`} {
		if !strings.Contains(body, want) {
			t.Errorf("%s: missing %s", what, want)
		}
	}
}

func wantContains(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s: body lacks %q\n%s", what, w, body)
		}
	}
}

func TestPagesRender(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	cookie := h.login("alice@example.com")

	for _, tc := range []struct {
		path, cookie string
		wants        []string
	}{
		{"/register", "", []string{`<form method="post" action="/register"`, `<label for="email">`, `<label for="password">`,
			`autocomplete="email"`, `autocomplete="new-password"`}},
		{"/login", "", []string{`<form method="post" action="/login"`, `<label for="email">`, `<label for="password">`,
			`autocomplete="username webauthn"`, `autocomplete="current-password"`}},
		{"/account", cookie, []string{`alice@example.com`, `<form method="post" action="/account/password"`,
			`<label for="current_password">`, `<label for="new_password">`, `autocomplete="current-password"`,
			`autocomplete="new-password"`, `autocomplete="username"`, `This device`, `<form method="post" action="/logout"`,
			`<script src="/static/account.js" defer></script>`}},
		{"/demo/token", "", []string{`<script src="/static/demo.js" defer></script>`, `data-testid="user-email"`,
			`data-testid="token-expiry"`, `data-testid="refresh-count"`, `data-testid="status"`, `data-testid="sign-in"`,
			`data-client-id="authd"`}},
	} {
		body := wantPage(t, tc.path, h.page(tc.path, tc.cookie), http.StatusOK)
		noInlineCode(t, tc.path, body)
		wantContains(t, tc.path, body, tc.wants...)
	}

	// The assets: right types (nosniff is on), validators, no CDN.
	for _, tc := range []struct{ path, ctype string }{
		{"/static/style.css", "text/css; charset=utf-8"},
		{"/static/demo.js", "text/javascript; charset=utf-8"},
		{"/static/account.js", "text/javascript; charset=utf-8"},
	} {
		resp := h.page(tc.path, "")
		body := readBody(resp)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.ctype || resp.Header.Get("ETag") == "" {
			t.Errorf("%s: %d %q etag %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("ETag"))
		}
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			t.Errorf("%s refers to another origin", tc.path)
		}
		resp = h.do(req{method: "GET", path: tc.path, header: map[string]string{"If-None-Match": resp.Header.Get("ETag")}})
		wantStatus(t, tc.path+" revalidated", resp, http.StatusNotModified)
	}
	wantStatus(t, "unknown asset", h.page("/static/nope.js", ""), http.StatusNotFound)
	wantStatus(t, "asset traversal", h.page("/static/..%2fpages.go", ""), http.StatusNotFound)

	// The JS keeps the access token in memory only, and signs in with
	// the code flow: sessionStorage holds the PKCE verifier and the
	// state during the round trip, under one key, and nothing else (the
	// browser test checks it is empty once back).
	js := readBody(h.page("/static/demo.js", ""))
	for _, banned := range []string{"localStorage", "document.cookie", "eval(", "innerHTML", "grant_type: 'password'"} {
		if strings.Contains(js, banned) {
			t.Errorf("demo.js uses %s", banned)
		}
	}
	for _, use := range regexp.MustCompile(`sessionStorage\.\w+\([^,)]*`).FindAllString(js, -1) {
		if !strings.HasSuffix(use, "(pendingKey") {
			t.Errorf("demo.js uses sessionStorage for something else than the pending sign-in: %s", use)
		}
	}
	wantContains(t, "demo.js", js, "navigator.locks.request('authd-refresh'", "new BroadcastChannel('authd')",
		"refresh_token_delivery: 'cookie'", "Authorization: `Bearer ${", "grant_type: 'authorization_code'",
		"code_challenge_method: 'S256'", "crypto.getRandomValues(", "crypto.subtle.digest('SHA-256'",
		"sessionStorage.removeItem(pendingKey)", "history.replaceState(")

	wantRedirect(t, "GET /", h.page("/", ""), "/account")
	wantRedirect(t, "GET /login signed in", h.page("/login", cookie), "/account")
	wantRedirect(t, "GET /login signed in, return_to", h.page("/login?return_to=/demo/token", cookie), "/demo/token")
}

func TestPageLogin(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")

	resp := h.form("/login", url.Values{"email": {"Alice@Example.com"}, "password": {testPassword}}, "")
	wantRedirect(t, "login", resp, "/account")
	c := sessionCookie(resp)
	if c == nil || c.Path != "/" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.MaxAge <= 0 {
		t.Fatalf("login cookie = %+v (%q)", c, resp.Header.Get("Set-Cookie"))
	}
	body := wantPage(t, "account", h.page("/account", c.Value), http.StatusOK)
	wantContains(t, "account", body, "alice@example.com", `data-testid="this-device"`)

	// A good return_to is honoured, query and all.
	resp = h.form("/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword},
		"return_to": {"/demo/token?x=1"}}, "")
	wantRedirect(t, "login with return_to", resp, "/demo/token?x=1")

	// A login ends the session whose cookie it came with (fixation).
	old := sessionCookie(resp).Value
	resp = h.form("/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword}}, old)
	wantRedirect(t, "login over a session", resp, "/account")
	wantRedirect(t, "old session after re-login", h.page("/account", old), "/login?return_to=%2Faccount")

	// The login page carries return_to into its form.
	body = wantPage(t, "login page", h.page("/login?return_to=%2Faccount%3Ftab%3D1", ""), http.StatusOK)
	wantContains(t, "login page", body, `<input type="hidden" name="return_to" value="/account?tab=1">`)

	// Wrong password and unknown email read the same.
	var bodies []string
	for _, email := range []string{"alice@example.com", "nobody@example.com"} {
		resp := h.form("/login", url.Values{"email": {email}, "password": {"wrong password, clearly"}}, "")
		body := wantPage(t, "wrong password for "+email, resp, http.StatusUnauthorized)
		wantContains(t, "wrong password", body, `role="alert"`, "Wrong email or password.", `aria-describedby="form-error"`,
			`value="`+email+`"`)
		if sessionCookie(resp) != nil {
			t.Error("a failed login set a cookie")
		}
		bodies = append(bodies, strings.Replace(body, email, "EMAIL", -1))
	}
	if bodies[0] != bodies[1] {
		t.Error("the pages for a wrong password and an unknown email differ")
	}

	// Missing fields.
	body = wantPage(t, "empty form", h.form("/login", url.Values{}, ""), http.StatusBadRequest)
	wantContains(t, "empty form", body, `role="alert"`, "Email is required.", "Password is required.",
		`aria-describedby="email-error"`, `aria-invalid="true"`)
}

func TestPageReturnTo(t *testing.T) {
	h := newHarness(t, options{noThrottle: true})
	h.register("alice@example.com")
	for _, bad := range []string{
		"//evil.com", "//evil.com/account", `/\evil.com`, `/\/evil.com`, "https://evil.com", "http://evil.com/account",
		"javascript:alert(1)", "/%2F%2Fevil", "/%2f%2fevil.com", "/%5Cevil.com", "\t//evil", " /account",
		"/account\r\nSet-Cookie: x=y", "/acc\x00ount", "evil.com", "", "/%zz", "/" + strings.Repeat("a", 5000),
	} {
		resp := h.form("/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword}, "return_to": {bad}}, "")
		wantRedirect(t, "return_to "+strconv.Quote(bad), resp, "/account")

		body := wantPage(t, "login page with "+strconv.Quote(bad), h.page("/login?return_to="+url.QueryEscape(bad), ""), http.StatusOK)
		if strings.Contains(body, `name="return_to"`) {
			t.Errorf("login page kept return_to %q", bad)
		}
	}
}

func TestPageAccountNeedsLogin(t *testing.T) {
	h := newHarness(t, options{})
	wantRedirect(t, "no cookie", h.page("/account", ""), "/login?return_to=%2Faccount")
	resp := h.page("/account", strings.Repeat("A", 43))
	wantRedirect(t, "unknown cookie", resp, "/login?return_to=%2Faccount")
	if c := sessionCookie(resp); c == nil || c.MaxAge >= 0 {
		t.Errorf("a dead cookie was not cleared: %q", resp.Header.Get("Set-Cookie"))
	}
	// A bearer token does not sign a page in: pages are cookie-only.
	wantRedirect(t, "bearer only", h.do(req{method: "GET", path: "/account", header: map[string]string{"Authorization": "Bearer x"}}),
		"/login?return_to=%2Faccount")
	for _, p := range []string{"/account/password", "/account/sessions/revoke-others", "/account/sessions/X/revoke"} {
		wantRedirect(t, "POST "+p, h.form(p, url.Values{}, ""), "/login?return_to=%2Faccount")
	}
}

func TestPageRegister(t *testing.T) {
	h := newHarness(t, options{})
	resp := h.form("/register", url.Values{"email": {"bob@example.com"}, "password": {"short"}}, "")
	body := wantPage(t, "weak password", resp, http.StatusBadRequest)
	wantContains(t, "weak password", body, `role="alert"`, "Password must be at least", `id="password-error"`,
		`aria-describedby="password-hint password-error"`, `value="bob@example.com"`)

	resp = h.form("/register", url.Values{"email": {"not an email"}, "password": {testPassword}}, "")
	body = wantPage(t, "bad email", resp, http.StatusBadRequest)
	wantContains(t, "bad email", body, `role="alert"`, `id="email-error"`)

	resp = h.form("/register", url.Values{"email": {"bob@example.com"}, "password": {testPassword}, "return_to": {"/demo/token"}}, "")
	wantRedirect(t, "register", resp, "/login?done=registered&return_to=%2Fdemo%2Ftoken")
	if sessionCookie(resp) != nil {
		t.Error("registration signed in")
	}
	body = wantPage(t, "login after register", h.page("/login?done=registered", ""), http.StatusOK)
	wantContains(t, "login after register", body, `role="status"`, "Your account was created.")
	h.login("bob@example.com")

	body = wantPage(t, "taken", h.form("/register", url.Values{"email": {"bob@example.com"}, "password": {testPassword}}, ""),
		http.StatusConflict)
	wantContains(t, "taken", body, `role="alert"`, "already exists")

	// An unknown notice key shows nothing.
	body = wantPage(t, "login with a made-up notice", h.page("/login?done=%3Cscript%3E", ""), http.StatusOK)
	if strings.Contains(body, `role="status"`) || strings.Contains(body, "&lt;script") {
		t.Error("the login page displayed a notice it does not know")
	}

	closed := newHarness(t, options{registrationClosed: true})
	body = wantPage(t, "closed GET", closed.page("/register", ""), http.StatusForbidden)
	wantContains(t, "closed GET", body, `role="alert"`, "Registration is closed")
	if strings.Contains(body, `action="/register"`) {
		t.Error("closed registration still shows its form")
	}
	body = wantPage(t, "closed POST", closed.form("/register", url.Values{"email": {"bob@example.com"}, "password": {testPassword}}, ""),
		http.StatusForbidden)
	wantContains(t, "closed POST", body, "Registration is closed")
}

func TestPageThrottle(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	wrong := url.Values{"email": {"alice@example.com"}, "password": {"not the password"}}
	var resp *http.Response
	for i := 0; i < 10; i++ {
		if resp = h.form("/login", wrong, ""); resp.StatusCode == http.StatusTooManyRequests {
			break
		}
		readBody(resp)
	}
	body := wantPage(t, "throttled", resp, http.StatusTooManyRequests)
	m := regexp.MustCompile(`Too many attempts\. Try again in (\d+) seconds\.`).FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("throttled page lacks the wait:\n%s", body)
	}
	if resp.Header.Get("Retry-After") != m[1] {
		t.Errorf("Retry-After %q, page says %s", resp.Header.Get("Retry-After"), m[1])
	}
	// The throttle is the API's: the JSON login waits too, and the right
	// password is refused until the wait is over.
	wantStatus(t, "API login while throttled", h.do(req{method: "POST", path: "/v1/session",
		body: `{"email":"alice@example.com","password":"` + testPassword + `"}`}), http.StatusTooManyRequests)
	wantPage(t, "right password while throttled", h.form("/login", url.Values{"email": {"alice@example.com"},
		"password": {testPassword}}, ""), http.StatusTooManyRequests)
}

type pageSession struct{ id, cookie string }

// sessionID returns the public ID of the session of cookie.
func (h *harness) sessionID(cookie string) string {
	h.t.Helper()
	resp := h.do(req{method: "GET", path: "/v1/session", cookie: cookie})
	wantStatus(h.t, "GET /v1/session", resp, http.StatusOK)
	return decode[sessionResp](h.t, resp).Session.ID
}

func (h *harness) pageLogin(email, ua string) pageSession {
	h.t.Helper()
	resp := h.form("/login", url.Values{"email": {email}, "password": {testPassword}}, "", "User-Agent", ua)
	if resp.StatusCode != http.StatusSeeOther || sessionCookie(resp) == nil {
		h.t.Fatalf("page login: %d %s", resp.StatusCode, readBody(resp))
	}
	c := sessionCookie(resp).Value
	return pageSession{id: h.sessionID(c), cookie: c}
}

func TestPageSessions(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	h.register("bob@example.com")
	uas := map[string]string{
		"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0":                                                                  "Firefox 140 on Linux",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36":                         "Chrome 138 on Windows",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36 Edg/138":                 "Edge 138 on Windows",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15":                   "Safari 18 on macOS",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1": "Safari 18 on iOS",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Mobile Safari/537.36":                   "Chrome 138 on Android",
		"curl/8.5.0":           "curl 8",
		"Go-http-client/1.1":   "Go HTTP client",
		"something else/1.0":   "Unknown device",
		"<script>x</script>/1": "Unknown device",
	}
	var first pageSession
	for ua := range uas {
		s := h.pageLogin("alice@example.com", ua)
		if first.id == "" {
			first = s
		}
	}
	cur := h.pageLogin("alice@example.com", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/140.0.0.0 Safari/537.36")
	bob := h.pageLogin("bob@example.com", "curl/8.5.0")

	body := wantPage(t, "account", h.page("/account", cur.cookie), http.StatusOK)
	for _, want := range uas {
		wantContains(t, "account", body, `<span data-testid="session-device">`+want+`</span>`)
	}
	if strings.Contains(body, "<script>x") {
		t.Error("a User-Agent reached the page unescaped")
	}
	if n := strings.Count(body, `data-testid="session"`); n != len(uas)+1 {
		t.Errorf("account lists %d sessions, want %d", n, len(uas)+1)
	}
	if n := strings.Count(body, `data-testid="this-device"`); n != 1 {
		t.Errorf("%d sessions marked as this device", n)
	}
	if n := strings.Count(body, `data-testid="revoke"`); n != len(uas) {
		t.Errorf("%d revoke buttons, want %d (one per other session)", n, len(uas))
	}
	wantContains(t, "account", body, `<span data-testid="session-device">Chrome 140 on Linux</span> <span class="badge" data-testid="this-device">`,
		`action="/account/sessions/`+first.id+`/revoke"`, `192.0.2.1`, `action="/account/sessions/revoke-others"`)
	if strings.Contains(body, `action="/account/sessions/`+cur.id+`/revoke"`) {
		t.Error("the current session has a revoke button")
	}
	if strings.Contains(body, bob.id) {
		t.Error("alice's page shows bob's session")
	}

	// Revoke another device.
	wantRedirect(t, "revoke", h.form("/account/sessions/"+first.id+"/revoke", nil, cur.cookie), "/account?done=revoked")
	wantRedirect(t, "revoked device", h.page("/account", first.cookie), "/login?return_to=%2Faccount")
	body = wantPage(t, "account after revoke", h.page("/account?done=revoked", cur.cookie), http.StatusOK)
	wantContains(t, "account after revoke", body, `role="status"`, "The device was signed out.")
	if strings.Contains(body, first.id) {
		t.Error("the revoked session is still listed")
	}
	// Again: nothing to do, no error.
	wantRedirect(t, "revoke again", h.form("/account/sessions/"+first.id+"/revoke", nil, cur.cookie), "/account")

	// Another user's session cannot be revoked, and looks like a missing one.
	wantRedirect(t, "revoke bob's", h.form("/account/sessions/"+bob.id+"/revoke", nil, cur.cookie), "/account")
	wantStatus(t, "bob after alice's attempt", h.do(req{method: "GET", path: "/v1/session", cookie: bob.cookie}), http.StatusOK)

	// Sign out everywhere else.
	wantRedirect(t, "revoke others", h.form("/account/sessions/revoke-others", nil, cur.cookie), "/account?done=revoked-all")
	body = wantPage(t, "account after revoke-others", h.page("/account", cur.cookie), http.StatusOK)
	if n := strings.Count(body, `data-testid="session"`); n != 1 {
		t.Errorf("after revoke-others %d sessions listed", n)
	}
	if strings.Contains(body, `data-testid="revoke-others"`) {
		t.Error("revoke-others offered with no other session")
	}
	wantStatus(t, "bob after revoke-others", h.do(req{method: "GET", path: "/v1/session", cookie: bob.cookie}), http.StatusOK)

	// Revoking the current session signs this browser out.
	resp := h.form("/account/sessions/"+cur.id+"/revoke", nil, cur.cookie)
	wantRedirect(t, "revoke self", resp, "/login?done=signed-out")
	if c := sessionCookie(resp); c == nil || c.MaxAge >= 0 {
		t.Error("revoking the current session did not clear its cookie")
	}
}

func TestPagePasswordChange(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	other := h.login("alice@example.com")
	cookie := h.login("alice@example.com")

	body := wantPage(t, "wrong current", h.form("/account/password", url.Values{"current_password": {"nope nope nope"},
		"new_password": {"a brand new passphrase"}}, cookie), http.StatusBadRequest)
	wantContains(t, "wrong current", body, `role="alert"`, "The current password is wrong.", `aria-describedby="current_password-error"`)

	body = wantPage(t, "weak new", h.form("/account/password", url.Values{"current_password": {testPassword},
		"new_password": {"short"}}, cookie), http.StatusBadRequest)
	wantContains(t, "weak new", body, `role="alert"`, "Password must be at least", `id="new_password-error"`)

	wantRedirect(t, "change", h.form("/account/password", url.Values{"current_password": {testPassword},
		"new_password": {"a brand new passphrase"}}, cookie), "/account?done=password")
	wantStatus(t, "other device after change", h.do(req{method: "GET", path: "/v1/session", cookie: other}), http.StatusUnauthorized)
	body = wantPage(t, "account after change", h.page("/account?done=password", cookie), http.StatusOK)
	wantContains(t, "account after change", body, "Your password was changed.")
}

func TestPageLogout(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	cookie := h.login("alice@example.com")
	resp := h.form("/logout", nil, cookie)
	wantRedirect(t, "logout", resp, "/login?done=signed-out")
	if c := sessionCookie(resp); c == nil || c.MaxAge >= 0 {
		t.Errorf("logout did not clear the cookie: %q", resp.Header.Get("Set-Cookie"))
	}
	wantStatus(t, "session after logout", h.do(req{method: "GET", path: "/v1/session", cookie: cookie}), http.StatusUnauthorized)
	wantRedirect(t, "logout again", h.form("/logout", nil, cookie), "/login?done=signed-out")
	wantRedirect(t, "logout with nothing", h.form("/logout", nil, ""), "/login?done=signed-out")
	wantStatus(t, "GET /logout", h.page("/logout", ""), http.StatusMethodNotAllowed)
}

// TestPageCrossSite: a form on another site cannot sign a victim in (login
// CSRF), out, or change anything: CrossOriginProtection refuses the POST
// before any page handler runs.
func TestPageCrossSite(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	cookie := h.login("alice@example.com")
	id := h.sessionID(cookie)
	creds := url.Values{"email": {"alice@example.com"}, "password": {testPassword}}
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Sec-Fetch-Site", "", "Origin", "https://evil.example"},
	} {
		for _, p := range []string{"/login", "/logout", "/register", "/account/password", "/account/sessions/revoke-others",
			"/account/sessions/" + id + "/revoke"} {
			resp := h.form(p, creds, cookie, hdr...)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %q = %d, want 403", p, hdr, resp.StatusCode)
			}
			if sessionCookie(resp) != nil {
				t.Errorf("refused POST %s set a cookie", p)
			}
		}
	}
	wantStatus(t, "session after cross-site logout", h.do(req{method: "GET", path: "/v1/session", cookie: cookie}), http.StatusOK)
	// The same form from the page's own origin works.
	wantRedirect(t, "same-origin logout", h.form("/logout", nil, cookie, "Origin", "http://authd.test", "Sec-Fetch-Site", ""), "/login?done=signed-out")
}
