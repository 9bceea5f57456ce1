package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// These tests drive the server-rendered pages and the token-mode demo in
// a real browser (Debian's Chromium, headless) against the real binary
// over HTTPS: the session cookie is __Host- (Secure), so only a secure
// origin gets it, as in production.
//
// Every run saves a PNG of each page to artifacts/browser/pages/ (with
// AUTHD_SCREENSHOTS=1 also to docs/screenshots/, the README's pictures).
// On failure, a screenshot of every open tab goes to artifacts/browser/.

const chromiumPath = "/usr/bin/chromium"

const (
	stepTimeout    = 30 * time.Second
	refreshCookie  = "__Secure-authd_refresh"
	screenshotsDir = "../../docs/screenshots"
	artifactsDir   = "../../artifacts/browser"
)

// browserEnv is one authd over HTTPS and one Chromium.
type browserEnv struct {
	t      *testing.T
	base   string
	client *http.Client
	root   context.Context // the browser's first tab; it has run
	mu     sync.Mutex
	tabs   map[string]context.Context // live tabs, for the failure screenshots
}

func newBrowserEnv(t *testing.T, serveExtra ...string) *browserEnv {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v: CI must run the browser tests", chromiumPath, err)
		}
		t.Skip("install Debian's chromium package (apt-get install chromium) to run the browser tests; bash .ci/run does")
	}
	bin := buildAuthd(t, t.TempDir())
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	p := startAuthd(t, bin, serveArgs(filepath.Join(dir, "data"),
		append([]string{"--tls-cert", certFile, "--tls-key", keyFile}, serveExtra...)...)...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("authd stderr:\n%s", p.stderr.String())
		}
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// The server's certificate is the test's own, self-signed.
		chromedp.IgnoreCertErrors,
		chromedp.WindowSize(1024, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	root, cancelRoot := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelRoot)
	if err := chromedp.Do(root); err != nil { // starts the browser, with no timeout
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	e := &browserEnv{t: t, base: p.URL, root: root, tabs: map[string]context.Context{},
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	e.tabs["root"] = root
	return e
}

// tab opens a tab: in a fresh browser context (its own cookies and
// storage, like a second device) when isolated, else next to parent.
func (e *browserEnv) tab(t *testing.T, name string, parent context.Context, isolated bool) context.Context {
	t.Helper()
	var opts []chromedp.ContextOption
	if isolated {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(parent, opts...)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("open tab %s: %v", name, err)
	}
	e.mu.Lock()
	e.tabs[name] = ctx
	e.mu.Unlock()
	// Registered after the tab exists, so it runs before the tab closes.
	t.Cleanup(func() {
		e.mu.Lock()
		delete(e.tabs, name)
		e.mu.Unlock()
		cancel()
	})
	t.Cleanup(func() {
		if t.Failed() {
			e.artifact(t, ctx, name)
		}
	})
	return ctx
}

// artifact saves a screenshot of the tab for a failed test.
func (e *browserEnv) artifact(t *testing.T, ctx context.Context, name string) {
	dir := filepath.Join(artifactsDir, strings.ReplaceAll(t.Name(), "/", "_"))
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot of tab %s: %v", name, err)
		return
	}
	loc, _ := chromedp.Run(sctx, chromedp.Location())
	if err := os.MkdirAll(dir, 0o755); err == nil {
		path := filepath.Join(dir, name+".png")
		if err := os.WriteFile(path, png, 0o644); err == nil {
			abs, _ := filepath.Abs(path)
			t.Logf("tab %s was at %s; screenshot: %s", name, loc, abs)
		}
	}
}

// do runs steps on the tab with a timeout for the lot.
func step(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// run runs one action that returns a value.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// navigateBy runs steps that cause a navigation (a form submission) and
// waits for the page it ends on; it returns that page's path and query.
func navigateBy(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.RunResponse(sctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return pagePath(t, ctx)
}

func pagePath(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc := value(t, ctx, "location", chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("location %q: %v", loc, err)
	}
	return u.RequestURI()
}

func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return strings.TrimSpace(value(t, ctx, "text of "+sel, chromedp.TextContent(chromedp.CSS(sel))))
}

func countOf(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	return value(t, ctx, "count "+sel, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
}

// poll waits until the JavaScript expression is truthy.
func waitJS(t *testing.T, ctx context.Context, what, expr string, timeout time.Duration) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(sctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout),
		chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, expr, err)
	}
}

// screenshotTo saves a PNG of the page as a test artifact, in
// artifacts/browser/pages/NAME.png, on every run; with AUTHD_SCREENSHOTS=1
// it also refreshes docs/screenshots/NAME.png (the README's pictures).
func screenshotTo(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := value(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	dirs := []string{filepath.Join(artifactsDir, "pages")}
	if os.Getenv("AUTHD_SCREENSHOTS") == "1" {
		dirs = append(dirs, screenshotsDir)
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func cookiesOf(t *testing.T, ctx context.Context, urls ...string) map[string]*network.Cookie {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(sctx, network.GetCookies, network.GetCookiesParams{URLs: urls})
	if err != nil {
		t.Fatalf("Network.getCookies: %v", err)
	}
	out := map[string]*network.Cookie{}
	for _, c := range res.Cookies {
		out[c.Name] = c
	}
	return out
}

// signIn fills the login form of the page the tab is on and submits it.
func signIn(t *testing.T, ctx context.Context, email, pw string) string {
	t.Helper()
	return navigateBy(t, ctx, "sign in",
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
	)
}

func TestBrowserSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Chromium against the authd binary; skipped with -short")
	}
	e := newBrowserEnv(t)
	const email = "ada@example.com"
	a := e.tab(t, "first", e.root, true)

	// Register.
	step(t, a, "open /register", chromedp.Navigate(e.base+"/register"))
	screenshotTo(t, a, "register")
	got := navigateBy(t, a, "register",
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), "short"),
		chromedp.Click(chromedp.CSS(`form[action="/register"] button[type="submit"]`)),
	)
	if got != "/register" || !strings.Contains(textOf(t, a, `[role="alert"]`), "Password must be at least") {
		t.Fatalf("weak password: at %s, alert %q", got, textOf(t, a, `[role="alert"]`))
	}
	if v := value(t, a, "aria-describedby", chromedp.Evaluate[string](`document.getElementById('password').getAttribute('aria-describedby')`)); !strings.Contains(v, "password-error") {
		t.Errorf("the password field is not described by its error: %q", v)
	}
	got = navigateBy(t, a, "register",
		chromedp.SendKeys(chromedp.CSS("#password"), goodPW),
		chromedp.Click(chromedp.CSS(`form[action="/register"] button[type="submit"]`)),
	)
	if got != "/login?done=registered" {
		t.Fatalf("after registering: at %s", got)
	}
	if s := textOf(t, a, `[role="status"]`); !strings.Contains(s, "Your account was created") {
		t.Errorf("after registering, the notice is %q", s)
	}

	// A wrong password first: the alert, and no cookie.
	if got := signIn(t, a, email, "not my password at all"); got != "/login" {
		t.Fatalf("wrong password: at %s", got)
	}
	if s := textOf(t, a, `[role="alert"]`); s != "Wrong email or password." {
		t.Errorf("wrong password alert = %q", s)
	}
	screenshotTo(t, a, "login-error")
	step(t, a, "open /login", chromedp.Navigate(e.base+"/login"))
	screenshotTo(t, a, "login")

	// Sign in; a reload keeps the session.
	if got := signIn(t, a, email, goodPW); got != "/account" {
		t.Fatalf("after signing in: at %s", got)
	}
	if s := textOf(t, a, `[data-testid="account-email"]`); s != email {
		t.Errorf("account shows %q", s)
	}
	step(t, a, "reload", chromedp.Reload())
	if got := pagePath(t, a); got != "/account" || textOf(t, a, `[data-testid="account-email"]`) != email {
		t.Fatalf("after a reload: at %s", got)
	}

	// The cookie: __Host-, HttpOnly, Secure, Lax, Path=/, out of JS's reach.
	c := cookiesOf(t, a, e.base+"/")[cookieName]
	if c == nil {
		t.Fatalf("no %s cookie in the browser", cookieName)
	}
	if !c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteLax || c.Path != "/" || c.Domain != "127.0.0.1" {
		t.Errorf("session cookie = %+v", c)
	}
	if dc := value(t, a, "document.cookie", chromedp.Evaluate[string]("document.cookie")); strings.Contains(dc, cookieName) || strings.Contains(dc, c.Value) {
		t.Errorf("document.cookie exposes the session: %q", dc)
	}

	// A second device: its own browser context, so its own cookies.
	b := e.tab(t, "second", e.root, true)
	step(t, b, "second: open /account", chromedp.Navigate(e.base+"/account"))
	if got := pagePath(t, b); got != "/login?return_to=%2Faccount" {
		t.Fatalf("second device, logged out, at %s", got)
	}
	if got := signIn(t, b, email, goodPW); got != "/account" {
		t.Fatalf("second device after signing in: at %s", got)
	}

	// The first device lists both, marks itself, and can revoke the other.
	step(t, a, "reload", chromedp.Reload())
	if n := countOf(t, a, `[data-testid="session"]`); n != 2 {
		t.Fatalf("account lists %d sessions, want 2", n)
	}
	if s := textOf(t, a, `.session.current [data-testid="session-device"]`); !strings.HasPrefix(s, "Chrome ") || !strings.HasSuffix(s, " on Linux") {
		t.Errorf("this device is described as %q", s)
	}
	if n := countOf(t, a, `[data-testid="session"]:not(.current) [data-testid="revoke"]`); n != 1 {
		t.Fatalf("%d revoke buttons on the other device, want 1", n)
	}
	if n := countOf(t, a, `[data-testid="session"].current [data-testid="sign-out-here"]`); n != 1 {
		t.Fatalf("%d sign-out buttons on this device, want 1 (this device ends with a sign-out, not a revoke)", n)
	}
	screenshotTo(t, a, "account")
	step(t, a, "360 px", chromedp.EmulateViewport(360, 800))
	if !value(t, a, "no horizontal scroll", chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`)) {
		t.Error("the account page scrolls sideways at 360 px")
	}
	screenshotTo(t, a, "account-360px")
	step(t, a, "back to desktop", chromedp.ResetViewport())

	// Keyboard: the first Tab reaches the skip link, and it moves focus.
	step(t, a, "tab", chromedp.KeyEvent("\t"))
	if s := value(t, a, "focused", chromedp.Evaluate[string](`document.activeElement.textContent`)); s != "Skip to main content" {
		t.Errorf("first Tab focuses %q, want the skip link", s)
	}

	if got := navigateBy(t, a, "revoke", chromedp.Click(chromedp.CSS(`[data-testid="revoke"]`))); got != "/account?done=revoked" {
		t.Fatalf("after revoking: at %s", got)
	}
	if n := countOf(t, a, `[data-testid="session"]`); n != 1 {
		t.Errorf("after revoking, %d sessions listed", n)
	}
	step(t, b, "second: open /account", chromedp.Navigate(e.base+"/account"))
	if got := pagePath(t, b); got != "/login?return_to=%2Faccount" {
		t.Errorf("revoked device at %s, want the login page", got)
	}

	// Sign out.
	if got := navigateBy(t, a, "sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`))); got != "/login?done=signed-out" {
		t.Fatalf("after signing out: at %s", got)
	}
	if c := cookiesOf(t, a, e.base+"/")[cookieName]; c != nil {
		t.Errorf("the session cookie outlived the sign-out: %+v", c)
	}
	step(t, a, "open /account", chromedp.Navigate(e.base+"/account"))
	if got := pagePath(t, a); got != "/login?return_to=%2Faccount" {
		t.Errorf("signed out, /account lands on %s", got)
	}
}

// demoSignedOut is true when the demo shows its sign-in card.
const demoSignedOut = `!document.getElementById('demo-login').hidden`

// demoSignIn clicks the demo's "Sign in" and returns where the browser
// lands: authd's login page, or, for a browser signed in to authd
// already, straight back on the demo.
func demoSignIn(t *testing.T, ctx context.Context) string {
	t.Helper()
	return navigateBy(t, ctx, "demo: sign in", chromedp.Click(chromedp.CSS(`[data-testid="sign-in"]`)))
}

func TestBrowserTokenMode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Chromium against the authd binary for over a minute; skipped with -short")
	}
	const ttl = 30 // seconds; the smallest --access-token-ttl
	// The password grant stays off (the default): the demo signs in with
	// the code flow.
	e := newBrowserEnv(t, "--access-token-ttl", strconv.Itoa(ttl)+"s")
	const email = "grace@example.com"
	resp, body := call(t, e.client, "POST", e.base+"/v1/users", creds{email, goodPW}, "")
	wantStatus(t, resp, body, http.StatusCreated)

	one := e.tab(t, "demo-1", e.root, true)
	step(t, one, "open the demo", chromedp.Navigate(e.base+"/demo/token"))
	waitJS(t, one, "the sign-in card", demoSignedOut, 10*time.Second)
	if s := textOf(t, one, `[data-testid="status"]`); s != "Not signed in." {
		t.Errorf("a new browser's demo says %q", s)
	}
	screenshotTo(t, one, "demo-signed-out")

	// Sign in: the code flow goes through authd's login page (this
	// browser has no authd session yet), with a wrong password first.
	got := demoSignIn(t, one)
	lu, _ := url.Parse(got)
	if lu.Path != "/login" || !strings.HasPrefix(lu.Query().Get("return_to"), "/oauth2/authorize?") {
		t.Fatalf("sign-in: at %s, want authd's login page on the way back to /oauth2/authorize", got)
	}
	authz, _ := url.ParseQuery(strings.TrimPrefix(lu.Query().Get("return_to"), "/oauth2/authorize?"))
	for k, want := range map[string]string{"response_type": "code", "client_id": "authd", "redirect_uri": e.base + "/demo/token",
		"scope": "read write", "code_challenge_method": "S256"} {
		if authz.Get(k) != want {
			t.Errorf("authorization request %s = %q, want %q", k, authz.Get(k), want)
		}
	}
	if len(authz.Get("code_challenge")) != 43 || len(authz.Get("state")) < 16 {
		t.Errorf("authorization request: code_challenge %q, state %q", authz.Get("code_challenge"), authz.Get("state"))
	}
	if got := signIn(t, one, email, "wrong wrong wrong"); got != "/login" {
		t.Fatalf("wrong password: at %s", got)
	}
	if s := textOf(t, one, `[role="alert"]`); s != "Wrong email or password." {
		t.Errorf("wrong password alert = %q", s)
	}
	step(t, one, "clear the email", chromedp.Evaluate[chromedp.Void](`document.getElementById('email').value = ''`))
	if got := signIn(t, one, email, goodPW); !strings.HasPrefix(got, "/demo/token") {
		t.Fatalf("after signing in: at %s, want the demo", got)
	}
	signedIn := time.Now()
	userShown := fmt.Sprintf(`document.querySelector('[data-testid="user-email"]').textContent === %q`, email)
	waitJS(t, one, "the user's email", userShown, 10*time.Second)
	// The code, state and iss left the address bar (and the history).
	if got := pagePath(t, one); got != "/demo/token" {
		t.Errorf("after the code exchange the demo is at %s", got)
	}
	screenshotTo(t, one, "demo")

	// The refresh token is an HttpOnly cookie for /oauth2/token only; the
	// page's JavaScript sees neither token anywhere but its variable.
	rc := cookiesOf(t, one, e.base+"/oauth2/token")[refreshCookie]
	if rc == nil {
		t.Fatalf("no %s cookie for /oauth2/token", refreshCookie)
	}
	if !rc.HTTPOnly || !rc.Secure || rc.Path != "/oauth2/token" {
		t.Errorf("refresh cookie = %+v", rc)
	}
	if _, ok := cookiesOf(t, one, e.base+"/demo/token")[refreshCookie]; ok {
		t.Error("the refresh cookie is sent to pages, not only to /oauth2/token")
	}
	checkNoTokenInJS := func(ctx context.Context, name string) {
		t.Helper()
		dc := value(t, ctx, "document.cookie", chromedp.Evaluate[string]("document.cookie"))
		if strings.Contains(dc, "authd_refresh") || strings.Contains(dc, rc.Value) || strings.Contains(dc, "eyJ") {
			t.Errorf("%s: document.cookie exposes a token: %q", name, dc)
		}
		// Nor the PKCE verifier and state: they left sessionStorage
		// when the browser came back.
		if n := value(t, ctx, "storage", chromedp.Evaluate[int](`localStorage.length + sessionStorage.length`)); n != 0 {
			t.Errorf("%s: %d items in Web Storage", name, n)
		}
	}
	checkNoTokenInJS(one, "tab 1")

	// A second tab of the same browser resumes the session from the
	// refresh cookie, with no sign-in.
	two := e.tab(t, "demo-2", one, false)
	step(t, two, "open the demo", chromedp.Navigate(e.base+"/demo/token"))
	waitJS(t, two, "tab 2 signed in", userShown, 15*time.Second)
	checkNoTokenInJS(two, "tab 2")

	// Both tabs refresh at once: the Web Lock makes them take turns, and
	// neither is signed out.
	for _, ctx := range []context.Context{one, two} {
		step(t, ctx, "refresh now", chromedp.Evaluate[chromedp.Void](`document.getElementById('demo-refresh').click()`))
	}

	// Keep going across two expiries of the access token: the scheduled
	// refreshes (at half the 30 s lifetime) keep both tabs signed in.
	deadline := signedIn.Add(2*ttl*time.Second + 10*time.Second)
	for time.Now().Before(deadline) {
		for i, ctx := range []context.Context{one, two} {
			if hidden := value(t, ctx, "signed in?", chromedp.Evaluate[bool](`document.getElementById('demo-session').hidden`)); hidden {
				t.Fatalf("tab %d was signed out: %s", i+1, textOf(t, ctx, `[data-testid="status"]`))
			}
		}
		time.Sleep(2 * time.Second)
	}
	for i, ctx := range []context.Context{one, two} {
		n, _ := strconv.Atoi(textOf(t, ctx, `[data-testid="refresh-count"]`))
		if n < 3 {
			t.Errorf("tab %d saw %d renewals in %v, want at least 3", i+1, n, time.Since(signedIn).Round(time.Second))
		}
		exp := value(t, ctx, "expiry", chromedp.Evaluate[float64](`Number(document.querySelector('[data-testid="token-expiry"]').dataset.expiresAt)`))
		if left := time.Until(time.UnixMilli(int64(exp))); left <= 0 || left > ttl*time.Second {
			t.Errorf("tab %d: token expires in %v", i+1, left)
		}
		// The API still answers with the current token.
		step(t, ctx, "call the API",
			chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid="user-email"]').textContent = ''`),
			chromedp.Click(chromedp.CSS(`[data-testid="call-api"]`)))
		waitJS(t, ctx, fmt.Sprintf("tab %d API call", i+1), userShown, 10*time.Second)
		checkNoTokenInJS(ctx, "tab "+strconv.Itoa(i+1))
	}
	if !regexp.MustCompile(`^in \d+ s`).MatchString(textOf(t, one, `[data-testid="token-expiry"]`)) {
		t.Errorf("token-expiry reads %q", textOf(t, one, `[data-testid="token-expiry"]`))
	}

	// Sign out in one tab: the other follows, and a reload cannot resume.
	step(t, one, "sign out", chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)))
	for i, ctx := range []context.Context{one, two} {
		waitJS(t, ctx, fmt.Sprintf("tab %d signed out", i+1), demoSignedOut, 10*time.Second)
	}
	step(t, two, "reload", chromedp.Reload())
	waitJS(t, two, "tab 2 after reload", demoSignedOut, 10*time.Second)
	if s := textOf(t, two, `[data-testid="status"]`); s != "Not signed in." {
		t.Errorf("after sign-out and reload, status %q", s)
	}

	// An answer this tab did not ask for (a link with someone else's
	// code) is refused, and leaves the address bar.
	step(t, two, "open a forged answer", chromedp.Navigate(e.base+"/demo/token?code=forged&state=forged&iss="+url.QueryEscape(e.base)))
	waitJS(t, two, "the forged answer refused", `document.getElementById('demo-error').textContent.includes('does not match')`, 10*time.Second)
	if got := pagePath(t, two); got != "/demo/token" {
		t.Errorf("after a forged answer the demo is at %s", got)
	}
	// An answer from another server (iss) is refused too (RFC 9207).
	step(t, two, "open an answer from another server",
		chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('authd-demo-signin', JSON.stringify({state: 's1', verifier: 'v'.repeat(43)}))`),
		chromedp.Navigate(e.base+"/demo/token?code=c&state=s1&iss="+url.QueryEscape("https://evil.example")))
	waitJS(t, two, "the mixed-up answer refused", `document.getElementById('demo-error').textContent.includes('another server')`, 10*time.Second)
	checkNoTokenInJS(two, "tab 2 after refused answers")

	// The browser is still signed in to authd (the demo's sign-out ends
	// only the demo's session): a new sign-in comes straight back, with
	// no login page.
	if got := demoSignIn(t, two); !strings.HasPrefix(got, "/demo/token") {
		t.Fatalf("signing in again: at %s, want the demo (authd's cookie session approves it)", got)
	}
	waitJS(t, two, "tab 2 signed in again", userShown, 10*time.Second)
	waitJS(t, one, "tab 1 signed in again (shared token)", userShown, 10*time.Second)
	checkNoTokenInJS(two, "tab 2 signed in again")
}
