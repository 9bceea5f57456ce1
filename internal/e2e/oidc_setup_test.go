package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/authd/authd/internal/authdtest"
)

// The OpenID Connect tests run clients that nobody here wrote against a
// real authd over HTTPS (its session cookie is __Host-, so the browser
// needs a secure origin): the example web app (go-oidc and x/oauth2),
// oauth2-proxy and the npm package openid-client, each with Debian's
// Chromium signing in on authd's own pages. The tools come from
// scripts/oidc-tools.sh, which builds them once into a cache.

const (
	chromiumPath = "/usr/bin/chromium"
	oidcEmail    = "ada@example.com"
	oidcPassword = "correct horse battery staple"
	authdCookie  = "__Host-authd_session"
	oidcStep     = 30 * time.Second
	oidcArtifact = "../../artifacts/browser/oidc"
)

// oidcTool returns the path a variable of scripts/oidc-tools.sh names:
// from the environment, else from the env file the script leaves in its
// cache. It skips the test when the tool is missing, and fails it under
// CI=true.
func oidcTool(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	from := "$" + name
	if v == "" {
		cache := os.Getenv("AUTHD_TOOLS_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "authd-tools")
		}
		envFile := filepath.Join(cache, "env")
		if b, err := os.ReadFile(envFile); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if val, ok := strings.CutPrefix(strings.TrimSpace(line), "export "+name+"="); ok {
					v, from = val, envFile
				}
			}
		}
	}
	missing := name + " is not set"
	if v != "" {
		if _, err := os.Stat(v); err == nil {
			return v
		}
		missing = fmt.Sprintf("%s (from %s) does not exist", v, from)
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: CI must run this test; .ci/run runs scripts/oidc-tools.sh", missing)
	}
	t.Skipf("%s: run `eval \"$(bash scripts/oidc-tools.sh)\"` first (it builds oauth2-proxy and installs openid-client once, into ~/.cache/authd-tools; bash .ci/run does)", missing)
	return ""
}

func requireChromium(t *testing.T) {
	t.Helper()
	requireTool(t, chromiumPath, "apt-get install chromium")
}

// oidcAuthd is one authd over HTTPS with a test certificate, its data in
// an SQLite file so that `authd client add` can register apps first.
type oidcAuthd struct {
	*authdtest.Instance
	Issuer   string
	dataDir  string
	certFile string
	keyFile  string
	HTTP     *http.Client // trusts the test certificate
	API      *authdtest.Client
}

func newOIDCAuthd(t *testing.T) *oidcAuthd {
	t.Helper()
	authdtest.Binary(t) // skips under -short before anything else
	dir := t.TempDir()
	a := &oidcAuthd{dataDir: filepath.Join(dir, "data")}
	var pool *x509.CertPool
	a.certFile, a.keyFile, pool = writeTestCert(t, dir)
	a.HTTP = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return a
}

var (
	clientIDLine     = regexp.MustCompile(`(?m)^client_id:\s+(\S+)`)
	clientSecretLine = regexp.MustCompile(`(?m)^client_secret:\s+(\S+)`)
)

// addClient registers an app with `authd client add NAME ARGS…` and
// returns its client ID and secret ("" for a public client).
func (a *oidcAuthd) addClient(t *testing.T, name string, args ...string) (id, secret string) {
	t.Helper()
	out := authdtest.Run(t, "", append([]string{"client", "add", name, "--data-dir", a.dataDir}, args...)...)
	m := clientIDLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("authd client add %s printed no client_id:\n%s", name, out)
	}
	if s := clientSecretLine.FindStringSubmatch(out); s != nil {
		secret = s[1]
	}
	return m[1], secret
}

// start runs authd; the issuer is its https://127.0.0.1:PORT. It checks
// that discovery answers before any client is started, so that a missing
// endpoint fails here with what the server said.
func (a *oidcAuthd) start(t *testing.T, extra ...string) {
	t.Helper()
	a.Instance = authdtest.Start(t, append([]string{"--data-dir", a.dataDir, "--tls-cert", a.certFile, "--tls-key", a.keyFile}, extra...)...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("authd stderr:\n%s", a.Logs())
		}
	})
	a.Issuer = a.URL
	a.API = authdtest.NewClient(a.URL)
	a.API.HTTP = a.HTTP
	st, body := a.get(t, "/.well-known/openid-configuration", "")
	if st != http.StatusOK {
		t.Fatalf("GET /.well-known/openid-configuration: %d\n%s", st, body)
	}
	var meta struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(body, &meta); err != nil || meta.Issuer != a.Issuer {
		t.Fatalf("discovery: issuer %q (%v), want %q\n%s", meta.Issuer, err, a.Issuer, body)
	}
}

// get sends GET path with an optional session cookie.
func (a *oidcAuthd) get(t *testing.T, path, cookie string) (int, []byte) {
	t.Helper()
	st, body, _, err := a.API.Do(context.Background(), "GET", path, "", cookie, "")
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return st, body
}

// authdSession is an entry of GET /v1/sessions; Raw keeps every field for
// the failure messages.
type authdSession struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	ClientID string `json:"client_id"`
	Current  bool   `json:"current"`
	Raw      map[string]any
}

// sessions lists the user's sessions with the session cookie.
func (a *oidcAuthd) sessions(t *testing.T, cookie string) ([]authdSession, string) {
	t.Helper()
	st, body := a.get(t, "/v1/sessions", cookie)
	if st != http.StatusOK {
		t.Fatalf("GET /v1/sessions: %d %s", st, body)
	}
	var list struct {
		Sessions []json.RawMessage `json:"sessions"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("GET /v1/sessions: %v\n%s", err, body)
	}
	var out []authdSession
	for _, raw := range list.Sessions {
		var s authdSession
		json.Unmarshal(raw, &s)
		json.Unmarshal(raw, &s.Raw)
		out = append(out, s)
	}
	return out, string(body)
}

// appSession finds the session authd opened for an app in the user's
// device list, as the user sees it: the row of the /account page that
// names the app (by its registered name), in the browser. It checks that
// GET /v1/sessions lists that session too, as a token session, and, when
// the API names the client of each session (client_id), that it names this
// one.
func (a *oidcAuthd) appSession(t *testing.T, b *browser, appName, clientID string) authdSession {
	t.Helper()
	b.open(t, a.Issuer+"/account")
	b.waitPage(t, "the account page", hasPrefix(a.Issuer+"/account"))
	type row struct {
		ID      string `json:"id"`
		Device  string `json:"device"`
		Current bool   `json:"current"`
	}
	rows := browserValue(t, b, "the account page's sessions", chromedp.Evaluate[[]row](`[...document.querySelectorAll('[data-testid="session"]')].map(li => ({
  id: li.dataset.sessionId || '',
  device: (li.querySelector('[data-testid="session-device"]')?.textContent || '').trim(),
  current: li.classList.contains('current'),
}))`))
	var id string
	for _, r := range rows {
		if r.Device == appName && !r.Current {
			id = r.ID
		}
	}
	if id == "" {
		b.screenshot(t, "account")
		t.Fatalf("the account page lists no session of %q: %+v", appName, rows)
	}
	list, body := a.sessions(t, b.authdCookie(t, a.Issuer))
	for _, s := range list {
		if s.ID != id {
			continue
		}
		if s.Kind != "token" {
			t.Errorf("the app's session %s is of kind %q in GET /v1/sessions, want token", id, s.Kind)
		}
		if _, named := s.Raw["client_id"]; !named {
			t.Logf("GET /v1/sessions does not name the client of a session (no client_id); the account page does, by name")
		} else if s.ClientID != clientID {
			t.Errorf("GET /v1/sessions names client %q for the app's session, want %q", s.ClientID, clientID)
		}
		return s
	}
	t.Fatalf("GET /v1/sessions does not list the session %s the account page shows for %q:\n%s", id, appName, body)
	return authdSession{}
}

// writeTestCert writes a self-signed ECDSA certificate for 127.0.0.1 and
// localhost (its own CA) and its key, and returns their paths and a pool
// trusting it.
func writeTestCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "authd e2e test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// moduleRoot is authd's source tree.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// process is a helper program the test started, with its output kept for
// failure messages.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *lockedLog
	done chan struct{}
}

type lockedLog struct {
	mu    sync.Mutex
	b     strings.Builder
	lines chan string // each stdout line, for waiting on a start-up line
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startProcess runs a program until the test ends. Its stdout lines are
// also sent to p.out.lines (dropped when nobody reads them).
func startProcess(t *testing.T, name string, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{name: name, cmd: cmd, out: &lockedLog{lines: make(chan string, 64)}, done: make(chan struct{})}
	cmd.Stderr = p.out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			p.out.Write([]byte(line + "\n"))
			select {
			case p.out.lines <- line:
			default:
			}
		}
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// waitLine waits for a stdout line matching re and returns its submatches.
func (p *process) waitLine(t *testing.T, re *regexp.Regexp, within time.Duration) []string {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case line := <-p.out.lines:
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-p.done:
			t.Fatalf("%s exited (%v) before printing %q:\n%s", p.name, p.cmd.ProcessState, re, p.out.String())
		case <-deadline:
			t.Fatalf("%s printed no %q within %v:\n%s", p.name, re, within, p.out.String())
		}
	}
}

// logged reports whether the output matches re within the time given
// (the output is read by a goroutine, so a line can come late).
func (p *process) logged(re string, within time.Duration) bool {
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(within)
	for {
		if rx.MatchString(p.out.String()) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// browser is one headless Chromium (a fresh profile) with one tab.
type browser struct {
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	requireChromium(t)
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
		// authd's certificate is the test's own.
		chromedp.IgnoreCertErrors,
		chromedp.WindowSize(1024, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	b := &browser{ctx: ctx}
	// Registered after the browser, so it runs before the browser closes.
	t.Cleanup(func() {
		if t.Failed() {
			b.screenshot(t, "failure")
		}
	})
	return b
}

// screenshot saves the page to artifacts/browser/oidc/TEST/NAME.png.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	dir := filepath.Join(oidcArtifact, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err == nil {
		abs, _ := filepath.Abs(path)
		t.Logf("browser at %s; screenshot %s", loc, abs)
	}
}

func (b *browser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, oidcStep)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func browserValue[T any](t *testing.T, b *browser, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, oidcStep)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// click clicks sel, which leaves the page (a link, a form's button): the
// document is marked first, and waitPage waits for another one, so that
// it never mistakes the page being left for the one arrived at.
func (b *browser) click(t *testing.T, what, sel string) {
	t.Helper()
	b.do(t, what,
		chromedp.Evaluate[chromedp.Void](`window.__e2eLeaving = true`),
		chromedp.Click(chromedp.CSS(sel)))
}

// open navigates to u and returns where the redirects ended.
func (b *browser) open(t *testing.T, u string) string {
	t.Helper()
	b.do(t, "open "+u, chromedp.Navigate(u))
	return b.location(t)
}

func (b *browser) location(t *testing.T) string {
	t.Helper()
	return browserValue(t, b, "location", chromedp.Location())
}

func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	return strings.TrimSpace(browserValue(t, b, "text of "+sel, chromedp.TextContent(chromedp.CSS(sel))))
}

// page reports where the tab is and what it shows (a consent or logout
// confirmation with authd's decision buttons); it tolerates a page
// between two navigations.
type pageState struct {
	URL      string `json:"url"`
	Ready    bool   `json:"ready"`
	Fresh    bool   `json:"fresh"`    // not the document click marked
	Allow    bool   `json:"allow"`    // button name=decision value=allow
	Logout   bool   `json:"logout"`   // button name=decision value=logout
	LoginBox bool   `json:"loginBox"` // authd's login form
}

const pageStateJS = `({
  url: location.href,
  ready: document.readyState === 'complete',
  fresh: !window.__e2eLeaving,
  allow: !!document.querySelector('button[name="decision"][value="allow"]'),
  logout: !!document.querySelector('button[name="decision"][value="logout"]'),
  loginBox: !!document.querySelector('form[action="/login"] #email'),
})`

// waitPage polls the tab until done says the page is the awaited one.
func (b *browser) waitPage(t *testing.T, what string, done func(pageState) bool) pageState {
	t.Helper()
	deadline := time.Now().Add(oidcStep)
	var last pageState
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ps, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](pageStateJS))
		cancel()
		if err == nil && ps.Ready && ps.Fresh {
			last = ps
			if done(ps) {
				return ps
			}
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: the browser is at %s (last error %v)", what, last.URL, lastErr)
	return last
}

func hasPrefix(prefix string) func(pageState) bool {
	return func(ps pageState) bool { return strings.HasPrefix(ps.URL, prefix) }
}

// signInAtAuthd expects the tab to be on its way to authd's login page
// (the authorization endpoint sends a browser without a session there),
// signs in, allows the app on the consent page if authd shows one, and
// waits until the browser is back at returnPrefix (the app). It returns
// whether a consent page was shown.
func (b *browser) signInAtAuthd(t *testing.T, issuer, email, password, returnPrefix string) bool {
	t.Helper()
	ps := b.waitPage(t, "authd's login page", func(ps pageState) bool {
		return strings.HasPrefix(ps.URL, issuer+"/login") && ps.LoginBox
	})
	b.screenshot(t, "login")
	t.Logf("authd's login page: %s", ps.URL)
	b.do(t, "fill in the login form",
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password))
	b.click(t, "sign in", `form[action="/login"] button[type="submit"]`)
	ps = b.waitPage(t, "the consent page or the app", func(ps pageState) bool {
		return ps.Allow || strings.HasPrefix(ps.URL, returnPrefix)
	})
	consent := false
	if ps.Allow && !strings.HasPrefix(ps.URL, returnPrefix) {
		consent = true
		b.screenshot(t, "consent")
		t.Logf("consent page: %s", ps.URL)
		b.click(t, "allow", `button[name="decision"][value="allow"]`)
		b.waitPage(t, "back at the app after consent", hasPrefix(returnPrefix))
	}
	return consent
}

// cookies returns the browser's cookies for u, HttpOnly ones included.
func (b *browser) cookies(t *testing.T, u string) map[string]*network.Cookie {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, oidcStep)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	if err != nil {
		t.Fatalf("Network.getCookies: %v", err)
	}
	out := map[string]*network.Cookie{}
	for _, c := range res.Cookies {
		out[c.Name] = c
	}
	return out
}

// authdCookie returns the value of authd's session cookie in the browser.
func (b *browser) authdCookie(t *testing.T, issuer string) string {
	t.Helper()
	c := b.cookies(t, issuer+"/")[authdCookie]
	if c == nil {
		t.Fatalf("the browser has no %s cookie for %s", authdCookie, issuer)
	}
	return c.Value
}

// callbackServer is a local redirect_uri: it records the URL authd sent
// the browser to.
type callbackServer struct {
	URL string // http://127.0.0.1:PORT/callback
	got chan *url.URL
}

func startCallbackServer(t *testing.T) *callbackServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cs := &callbackServer{URL: "http://" + ln.Addr().String() + "/callback", got: make(chan *url.URL, 4)}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		u := *r.URL
		u.Scheme, u.Host = "http", ln.Addr().String()
		select {
		case cs.got <- &u:
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>callback</title><p id="done">Back at the client.</p>`)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return cs
}
