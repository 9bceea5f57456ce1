package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestOIDCWebapp signs a user in to examples/webapp (go-oidc and
// x/oauth2: discovery, PKCE S256, state, nonce, ID token verification)
// through authd's login and consent pages in Chromium, finds the app's
// session in the user's session list, and signs out through authd's
// end_session_endpoint.
func TestOIDCWebapp(t *testing.T) {
	requireChromium(t)
	a := newOIDCAuthd(t)
	webAddr := freePort(t)
	webURL := "http://" + webAddr
	clientID, secret := a.addClient(t, "webapp",
		"--redirect-uri", webURL+"/callback",
		"--post-logout-redirect-uri", webURL+"/",
		"--scopes", "openid email profile")
	if secret == "" {
		t.Fatal("authd client add printed no client_secret for a confidential client")
	}
	a.start(t)
	a.API.Register(t, oidcEmail, oidcPassword)

	bin := filepath.Join(t.TempDir(), "webapp")
	build := exec.Command("go", "build", "-o", bin, "./examples/webapp")
	build.Dir = moduleRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/webapp: %v\n%s", err, out)
	}
	app := startProcess(t, "webapp", exec.Command(bin,
		"-issuer", a.Issuer, "-client-id", clientID, "-client-secret", secret,
		"-addr", webAddr, "-ca-file", a.certFile))
	app.waitLine(t, regexp.MustCompile(`^webapp listening on `), 30*time.Second)

	b := newBrowser(t)
	b.open(t, webURL+"/")
	if s := b.text(t, `[data-testid="status"]`); s != "Not signed in." {
		t.Fatalf("webapp before signing in: %q", s)
	}
	b.click(t, "click sign in", `[data-testid="login"]`)
	consent := b.signInAtAuthd(t, a.Issuer, oidcEmail, oidcPassword, webURL+"/")
	if !consent {
		t.Errorf("authd showed no consent page to a client registered without --first-party")
	}
	b.waitPage(t, "the webapp's home page", func(ps pageState) bool { return ps.URL == webURL+"/" })
	if s := b.text(t, `[data-testid="status"]`); s != "Signed in as "+oidcEmail {
		if errs := browserValue(t, b, "error", chromedp.Evaluate[string](`document.querySelector('[data-testid="error"]')?.textContent ?? ''`)); errs != "" {
			t.Fatalf("webapp after signing in: %q; its error: %s", s, errs)
		}
		t.Fatalf("webapp after signing in: %q, want %q", s, "Signed in as "+oidcEmail)
	}
	b.screenshot(t, "signed-in")

	// The user's session list shows the app's session.
	cookie := b.authdCookie(t, a.Issuer)
	s := a.appSession(t, b, "webapp", clientID)
	t.Logf("the app's session in GET /v1/sessions: %v", s.Raw)
	b.screenshot(t, "account")
	b.open(t, webURL+"/")

	// Sign out through the webapp: its session ends, then authd's.
	b.click(t, "click sign out", `[data-testid="logout"]`)
	// post_logout_redirect_uri comes back with the state: /?state=….
	home := func(ps pageState) bool { return ps.URL == webURL+"/" || strings.HasPrefix(ps.URL, webURL+"/?") }
	ps := b.waitPage(t, "back at the webapp, or authd's logout confirmation", func(ps pageState) bool {
		return ps.Logout || home(ps)
	})
	if ps.Logout && !home(ps) {
		b.screenshot(t, "logout-confirmation")
		t.Logf("authd asks to confirm the sign-out: %s", ps.URL)
		b.click(t, "confirm sign-out", `button[name="decision"][value="logout"]`)
		ps = b.waitPage(t, "back at the webapp after signing out", home)
	}
	if s := b.text(t, `[data-testid="status"]`); s != "Not signed in." {
		t.Errorf("webapp after signing out: %q", s)
	}
	t.Logf("back from end_session at %s", ps.URL)
	if st, body := a.get(t, "/v1/session", cookie); st != http.StatusUnauthorized {
		t.Errorf("authd's session after end_session: GET /v1/session = %d %s, want 401", st, body)
	}
	if c := b.cookies(t, a.Issuer+"/")[authdCookie]; c != nil {
		t.Errorf("the browser still holds %s after end_session", authdCookie)
	}
	// The app's own session on authd (its refresh chain) ended with it:
	// a fresh sign-in elsewhere no longer lists it.
	other, _ := a.sessions(t, a.API.Login(t, oidcEmail, oidcPassword))
	for _, x := range other {
		if x.ID == s.ID {
			t.Errorf("after end_session, GET /v1/sessions still lists the app's session: %v", x.Raw)
		}
	}
	// Signing in again needs the password: authd's session is gone.
	b.click(t, "click sign in", `[data-testid="login"]`)
	b.waitPage(t, "authd's login page again", func(ps pageState) bool {
		return strings.HasPrefix(ps.URL, a.Issuer+"/login") && ps.LoginBox
	})
}

// TestOAuth2Proxy puts oauth2-proxy (provider oidc) in front of an
// upstream: a browser is sent to authd's login page and comes back with
// the user's email passed to the upstream; oauth2-proxy then refreshes its
// session with the refresh token; once the session is revoked on authd,
// the next refresh fails and oauth2-proxy sends the user to sign in again.
func TestOAuth2Proxy(t *testing.T) {
	proxyBin := oidcTool(t, "AUTHD_TEST_OAUTH2_PROXY")
	requireChromium(t)
	a := newOIDCAuthd(t)
	proxyAddr := freePort(t)
	proxyURL := "http://" + proxyAddr
	clientID, secret := a.addClient(t, "oauth2-proxy",
		"--redirect-uri", proxyURL+"/oauth2/callback",
		"--first-party",
		"--scopes", "openid email profile offline_access")
	a.start(t)
	a.API.Register(t, oidcEmail, oidcPassword)

	var mu sync.Mutex
	var seen []http.Header
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		fmt.Fprintf(w, "upstream: hello %s\n", r.Header.Get("X-Forwarded-Email"))
	}))
	t.Cleanup(upstream.Close)
	upstreamHits := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	lastSeen := func() http.Header { mu.Lock(); defer mu.Unlock(); return seen[len(seen)-1] }

	cookieSecret := make([]byte, 16)
	rand.Read(cookieSecret)
	const refreshEvery = 2 * time.Second // oauth2-proxy has no lower bound
	proxy := startProcess(t, "oauth2-proxy", exec.Command(proxyBin,
		"--provider=oidc",
		"--oidc-issuer-url="+a.Issuer,
		"--provider-ca-file="+a.certFile,
		"--client-id="+clientID,
		"--client-secret="+secret,
		"--redirect-url="+proxyURL+"/oauth2/callback",
		"--upstream="+upstream.URL,
		"--http-address="+proxyAddr,
		"--email-domain=*",
		// authd does not verify email addresses (yet), and says so:
		// email_verified is false. oauth2-proxy refuses such an ID token
		// unless told that the provider's emails are unverified.
		"--insecure-oidc-allow-unverified-email=true",
		"--scope=openid email profile offline_access",
		"--code-challenge-method=S256",
		"--cookie-secret="+hex.EncodeToString(cookieSecret), // 32 characters
		"--cookie-secure=false",
		"--cookie-refresh="+refreshEvery.String(),
		"--skip-provider-button=true",
		"--pass-user-headers=true",
		"--set-xauthrequest=true",
		"--request-logging=false",
	))
	authdtestEventually(t, proxy, 20*time.Second, func() error {
		resp, err := http.Get(proxyURL + "/ping")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /ping: %s", resp.Status)
		}
		return nil
	})

	// A browser without a session goes through authd's login and comes
	// back to the upstream, which sees the user.
	b := newBrowser(t)
	b.open(t, proxyURL+"/hello")
	b.signInAtAuthd(t, a.Issuer, oidcEmail, oidcPassword, proxyURL+"/hello")
	b.waitPage(t, "the upstream's page", func(ps pageState) bool { return ps.URL == proxyURL+"/hello" })
	if body := b.text(t, "body"); body != "upstream: hello "+oidcEmail {
		t.Fatalf("through oauth2-proxy after signing in: %q", body)
	}
	if h := lastSeen(); h.Get("X-Forwarded-Email") != oidcEmail || h.Get("X-Forwarded-User") == "" {
		t.Fatalf("upstream saw X-Forwarded-Email %q, X-Forwarded-User %q", h.Get("X-Forwarded-Email"), h.Get("X-Forwarded-User"))
	} else {
		t.Logf("upstream saw X-Forwarded-User %q, X-Forwarded-Email %q", h.Get("X-Forwarded-User"), h.Get("X-Forwarded-Email"))
	}
	b.screenshot(t, "upstream")

	// From here a Go client carries the browser's oauth2-proxy cookies
	// (and follows their refreshes in its jar); the browser keeps authd's.
	jar, _ := cookiejar.New(nil)
	pu, _ := url.Parse(proxyURL)
	var cs []*http.Cookie
	for _, c := range b.cookies(t, proxyURL+"/") {
		cs = append(cs, &http.Cookie{Name: c.Name, Value: c.Value, Path: c.Path})
	}
	jar.SetCookies(pu, cs)
	viaProxy := &http.Client{Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func() (*http.Response, string) {
		t.Helper()
		resp, err := viaProxy.Get(proxyURL + "/hello")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}

	// Past the refresh interval, oauth2-proxy redeems the refresh token
	// and the user goes on.
	time.Sleep(refreshEvery + time.Second)
	hits := upstreamHits()
	if resp, body := get(); resp.StatusCode != http.StatusOK || upstreamHits() != hits+1 {
		t.Fatalf("after the refresh interval: %d %q (oauth2-proxy could not refresh?)\n%s", resp.StatusCode, body, proxy.out.String())
	}
	if !proxy.logged(`Refreshing session`, 5*time.Second) {
		t.Errorf("oauth2-proxy did not log a session refresh:\n%s", proxy.out.String())
	}

	// The user revokes the app's session on authd's account page.
	cookie := b.authdCookie(t, a.Issuer)
	s := a.appSession(t, b, "oauth2-proxy", clientID)
	b.click(t, "revoke "+s.ID, fmt.Sprintf(`[data-session-id=%q] [data-testid="revoke"]`, s.ID))
	b.waitPage(t, "the account page after revoking", hasPrefix(a.Issuer+"/account"))
	b.screenshot(t, "revoked")
	live, _ := a.sessions(t, cookie)
	for _, x := range live {
		if x.ID == s.ID {
			t.Fatalf("GET /v1/sessions still lists the revoked session %s: %v", s.ID, x.Raw)
		}
	}

	// The next refresh is refused (invalid_grant): oauth2-proxy drops its
	// session and sends the user to authd's authorization endpoint.
	time.Sleep(refreshEvery + time.Second)
	hits = upstreamHits()
	resp, rbody := get()
	for i := 0; i < 3 && resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), "/"); i++ {
		// oauth2-proxy's own hops (/oauth2/start, /oauth2/sign_in).
		r2, err := viaProxy.Get(proxyURL + resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := io.ReadAll(r2.Body)
		r2.Body.Close()
		resp, rbody = r2, string(b2)
	}
	if upstreamHits() != hits {
		t.Errorf("the upstream was reached after the session was revoked")
	}
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, a.Issuer+"/oauth2/authorize?") {
		t.Fatalf("after revocation and the refresh interval: %d Location %q, want 302 to %s/oauth2/authorize\n%s", resp.StatusCode, loc, a.Issuer, rbody)
	}
	if !proxy.logged(`(?i)"invalid_grant"`, 5*time.Second) {
		t.Errorf("oauth2-proxy's log names no invalid_grant from authd:\n%s", proxy.out.String())
	}

	// In the browser, with authd's own session ended too (the user signs
	// out everywhere), the app sends the user to authd's login page.
	if st, body, _, err := a.API.Do(context.Background(), "DELETE", "/v1/session", "", cookie, ""); err != nil || st != http.StatusNoContent {
		t.Fatalf("DELETE /v1/session: %d %s %v", st, body, err)
	}
	time.Sleep(refreshEvery + time.Second)
	b.open(t, proxyURL+"/hello")
	b.waitPage(t, "authd's login page after the revocation", func(ps pageState) bool {
		return strings.HasPrefix(ps.URL, a.Issuer+"/login") && ps.LoginBox
	})
	b.screenshot(t, "login-again")
}

// authdtestEventually polls f like authdtest.Eventually, failing early
// when the process exits.
func authdtestEventually(t *testing.T, p *process, within time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v):\n%s", p.name, p.cmd.ProcessState, p.out.String())
		default:
		}
		if err = f(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready within %v: %v\n%s", p.name, within, err, p.out.String())
}

// openidClientResult is what testdata/openid-client.mjs prints at the end.
type openidClientResult struct {
	OK    bool            `json:"ok"`
	Step  string          `json:"step"`
	Error json.RawMessage `json:"error"`

	Issuer        string         `json:"issuer"`
	TokenType     string         `json:"token_type"`
	Scope         *string        `json:"scope"`
	HasRefresh    bool           `json:"has_refresh_token"`
	IDTokenHeader map[string]any `json:"id_token_header"`
	Claims        map[string]any `json:"claims"`
	Userinfo      map[string]any `json:"userinfo"`
	Refresh       struct {
		NewAccessToken bool           `json:"new_access_token"`
		Rotated        bool           `json:"rotated_refresh_token"`
		IDTokenClaims  map[string]any `json:"id_token_claims"`
	} `json:"refresh"`
	AfterRevocation struct {
		Refused bool   `json:"refused"`
		Error   string `json:"error"`
		Status  int    `json:"status"`
	} `json:"after_revocation"`
	EndSessionURL *string `json:"end_session_url"`
}

// TestOpenIDClient runs the npm package openid-client (v6) as a
// confidential client: discovery (trusting the test certificate through
// NODE_EXTRA_CA_CERTS only), an authorization URL with PKCE, state and
// nonce that Chromium follows through authd's login and consent pages, the
// code grant with the callback URL, UserInfo, a refresh, a revocation and
// a refresh refused after it; as a confidential and as a public client.
func TestOpenIDClient(t *testing.T) {
	modules := oidcTool(t, "AUTHD_TEST_OPENID_CLIENT")
	requireChromium(t)
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is missing under CI (apt-get install nodejs)")
		}
		t.Skip("node not found: apt-get install nodejs (bash .ci/run does)")
	}
	t.Run("confidential", func(t *testing.T) { testOpenIDClient(t, node, modules, false) })
	t.Run("public", func(t *testing.T) { testOpenIDClient(t, node, modules, true) })
}

// testOpenIDClient runs the script as a confidential client
// (client_secret_post, openid-client's default with a secret) or as a
// public one (token_endpoint_auth_method none: PKCE alone).
func testOpenIDClient(t *testing.T, node, modules string, public bool) {
	a := newOIDCAuthd(t)
	cb := startCallbackServer(t)
	args := []string{"--redirect-uri", cb.URL, "--scopes", "openid email profile offline_access"}
	if public {
		args = append(args, "--public")
	}
	clientID, secret := a.addClient(t, "openid-client", args...)
	if public != (secret == "") {
		t.Fatalf("authd client add (public %v) printed client_secret %q", public, secret)
	}
	a.start(t)
	a.API.Register(t, oidcEmail, oidcPassword)

	// The script beside a node_modules that links to the cached install,
	// so that its import of openid-client resolves there.
	dir := t.TempDir()
	script, err := os.ReadFile(filepath.Join("testdata", "openid-client.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "openid-client.mjs"), script, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(dir, "openid-client.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"NODE_EXTRA_CA_CERTS="+a.certFile,
		"ISSUER="+a.Issuer,
		"CLIENT_ID="+clientID,
		"CLIENT_SECRET="+secret,
		"REDIRECT_URI="+cb.URL,
		"SCOPE=openid email profile offline_access",
	)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, "openid-client.mjs", cmd)
	readJSON := func(what string, v any) {
		t.Helper()
		m := p.waitLine(t, regexp.MustCompile(`^(\{.*\})$`), 60*time.Second)
		if err := json.Unmarshal([]byte(m[1]), v); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, m[1])
		}
	}
	var first struct {
		AuthorizationURL string          `json:"authorization_url"`
		OK               *bool           `json:"ok"`
		Step             string          `json:"step"`
		Error            json.RawMessage `json:"error"`
	}
	readJSON("the authorization URL", &first)
	if first.AuthorizationURL == "" {
		t.Fatalf("openid-client failed at %s: %s", first.Step, first.Error)
	}
	au, err := url.Parse(first.AuthorizationURL)
	if err != nil || !strings.HasPrefix(first.AuthorizationURL, a.Issuer+"/oauth2/authorize?") {
		t.Fatalf("authorization URL %q does not start with %s/oauth2/authorize", first.AuthorizationURL, a.Issuer)
	}
	if q := au.Query(); q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" {
		t.Fatalf("authorization URL lacks PKCE, state or nonce: %s", first.AuthorizationURL)
	}

	b := newBrowser(t)
	b.open(t, first.AuthorizationURL)
	if consent := b.signInAtAuthd(t, a.Issuer, oidcEmail, oidcPassword, cb.URL); !consent {
		t.Errorf("authd showed no consent page to a client registered without --first-party")
	}
	var callback *url.URL
	select {
	case callback = <-cb.got:
	case <-time.After(oidcStep):
		t.Fatal("the callback listener got no request")
	}
	if callback.Query().Get("error") != "" {
		t.Fatalf("authd answered the authorization request with an error: %s", callback)
	}
	// A second between signing in and redeeming the code, so that the
	// time of authentication (auth_time, in whole seconds) and the time
	// of the code grant differ, and a refreshed ID token that confuses
	// them is caught every time.
	time.Sleep(1100 * time.Millisecond)
	if _, err := io.WriteString(stdin, callback.String()+"\n"); err != nil {
		t.Fatal(err)
	}

	var r openidClientResult
	readJSON("the result", &r)
	if !r.OK {
		t.Fatalf("openid-client failed at %s: %s", r.Step, r.Error)
	}
	res, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("openid-client:\n%s", res)

	if r.Issuer != a.Issuer || r.Claims["iss"] != a.Issuer {
		t.Errorf("issuer %q, iss %v, want %q", r.Issuer, r.Claims["iss"], a.Issuer)
	}
	if !audIncludes(r.Claims["aud"], clientID) {
		t.Errorf("ID token aud %v does not name the client %q", r.Claims["aud"], clientID)
	}
	if r.IDTokenHeader["alg"] != "RS256" {
		t.Errorf("ID token alg %v, want RS256 (the default for a client registered without an alg)", r.IDTokenHeader["alg"])
	}
	if r.Claims["email"] != oidcEmail {
		t.Errorf("ID token email %v, want %q", r.Claims["email"], oidcEmail)
	}
	if _, ok := r.Claims["email_verified"].(bool); !ok {
		t.Errorf("ID token email_verified %v, want a boolean with the email scope", r.Claims["email_verified"])
	}
	if sub, _ := r.Claims["sub"].(string); sub == "" || r.Userinfo["sub"] != sub || r.Userinfo["email"] != oidcEmail {
		t.Errorf("sub %v; UserInfo %v", r.Claims["sub"], r.Userinfo)
	}
	if !strings.EqualFold(r.TokenType, "bearer") || !r.HasRefresh {
		t.Errorf("token_type %q, refresh token %v", r.TokenType, r.HasRefresh)
	}
	if !r.Refresh.NewAccessToken || !r.Refresh.Rotated {
		t.Errorf("refresh: new access token %v, rotated refresh token %v", r.Refresh.NewAccessToken, r.Refresh.Rotated)
	}
	// OIDC Core §12.2: an ID token from a refresh keeps iss, sub and aud,
	// and auth_time is still the time of the original authentication.
	if rc := r.Refresh.IDTokenClaims; rc != nil {
		for _, k := range []string{"iss", "sub", "aud", "auth_time"} {
			was, now := jsonText(r.Claims[k]), jsonText(rc[k])
			if now != was {
				t.Errorf("refreshed ID token: %s = %s, the first one said %s (OIDC Core §12.2)", k, now, was)
			}
		}
		if _, ok := rc["nonce"]; ok {
			t.Logf("the refreshed ID token carries a nonce (%v)", rc["nonce"])
		}
	}
	if !r.AfterRevocation.Refused || r.AfterRevocation.Error != "invalid_grant" {
		t.Errorf("refresh after revocation: %+v, want refused with invalid_grant", r.AfterRevocation)
	}
	if r.EndSessionURL == nil || !strings.HasPrefix(*r.EndSessionURL, a.Issuer+"/oauth2/logout?") {
		t.Errorf("end_session_url %v, want %s/oauth2/logout?…", r.EndSessionURL, a.Issuer)
	}
	select {
	case <-p.done:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("the script exited with %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Error("the script did not exit")
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func audIncludes(aud any, id string) bool {
	switch v := aud.(type) {
	case string:
		return v == id
	case []any:
		for _, x := range v {
			if x == id {
				return true
			}
		}
	}
	return false
}
