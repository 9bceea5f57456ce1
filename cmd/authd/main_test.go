package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"
)

// cheapArgon2 keeps password hashing fast in tests (the smallest accepted
// parameters); the production defaults are OWASP's.
var cheapArgon2 = []string{"--argon2-memory", "8192", "--argon2-time", "1"}

const (
	cookieName  = "__Host-authd_session"
	goodPW      = "correct horse battery staple"
	startupWait = 15 * time.Second
)

// syncBuffer is an io.Writer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var listenLine = regexp.MustCompile(`(?m)^authd listening on (https?://\S+)$`)

// listenURL returns the URL of the "authd listening on" line in out, or "".
func listenURL(out string) string {
	if m := listenLine.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

// env returns a getenv over m (and nothing else: the real environment never
// leaks into a test).
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// testServer is an in-process `authd serve`.
type testServer struct {
	URL            string
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan struct{}
	err            error // valid after done is closed
}

// startServer runs `authd serve args...` in a goroutine and waits for its
// listening line. The server is stopped (and must stop cleanly) at cleanup.
func startServer(t *testing.T, getenv map[string]string, args ...string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = run(ctx, append([]string{"serve"}, args...), env(getenv), strings.NewReader(""), s.stdout, s.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(startupWait):
			t.Errorf("serve did not return within %v of cancellation", startupWait)
		}
	})
	deadline := time.After(startupWait)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		if u := listenURL(s.stdout.String()); u != "" {
			s.URL = u
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("serve %q returned before listening: %v\nstderr:\n%s", args, s.err, s.stderr.String())
		case <-deadline:
			t.Fatalf("serve %q: no listening line within %v\nstderr:\n%s", args, startupWait, s.stderr.String())
		case <-tick.C:
		}
	}
}

// stop cancels the server's context and returns run's result.
func (s *testServer) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case <-s.done:
		return s.err
	case <-time.After(startupWait):
		t.Fatalf("serve did not return within %v of cancellation", startupWait)
		return nil
	}
}

// serveArgs is a serve command line on a fresh data dir with cheap hashing.
func serveArgs(dataDir string, extra ...string) []string {
	args := append([]string{"--addr", "127.0.0.1:0", "--data-dir", dataDir}, cheapArgon2...)
	return append(args, extra...)
}

var testClient = &http.Client{Timeout: 30 * time.Second}

// call sends a request with an optional JSON body and session cookie, and
// returns the response (body already read) and its body.
func call(t *testing.T, c *http.Client, method, url string, body any, cookie string) (*http.Response, []byte) {
	t.Helper()
	resp, b, err := rawCall(c, method, url, body, cookie)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// rawCall is call for goroutines other than the test's: it returns errors
// instead of failing the test.
func rawCall(c *http.Client, method, url string, body any, cookie string) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		// Set by hand: the cookie is Secure, and cookiejar never sends a
		// Secure cookie over plain http.
		req.AddCookie(&http.Cookie{Name: cookieName, Value: cookie})
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	return resp, b, nil
}

func wantStatus(t *testing.T, resp *http.Response, body []byte, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %s, want %d", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body, want)
	}
}

type creds struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func register(t *testing.T, c *http.Client, base, email, pw string) {
	t.Helper()
	resp, body := call(t, c, "POST", base+"/v1/users", creds{email, pw}, "")
	wantStatus(t, resp, body, http.StatusCreated)
}

// login logs in and returns the session cookie's value.
func login(t *testing.T, c *http.Client, base, email, pw string) string {
	t.Helper()
	resp, body := call(t, c, "POST", base+"/v1/session", creds{email, pw}, "")
	wantStatus(t, resp, body, http.StatusCreated)
	for _, ck := range resp.Cookies() {
		if ck.Name == cookieName {
			if ck.Value == "" {
				t.Fatalf("login(%s): empty %s cookie", email, cookieName)
			}
			return ck.Value
		}
	}
	t.Fatalf("login(%s): no %s cookie in %q", email, cookieName, resp.Header.Values("Set-Cookie"))
	return ""
}

func loginStatus(t *testing.T, c *http.Client, base, email, pw string) int {
	t.Helper()
	resp, _ := call(t, c, "POST", base+"/v1/session", creds{email, pw}, "")
	return resp.StatusCode
}

type sessionInfo struct {
	Session struct {
		ID string `json:"id"`
	} `json:"session"`
	User struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"user"`
}

// whoami returns GET /v1/session's status and, on 200, its body.
func whoami(t *testing.T, c *http.Client, base, cookie string) (int, sessionInfo) {
	t.Helper()
	resp, body := call(t, c, "GET", base+"/v1/session", nil, cookie)
	var si sessionInfo
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &si); err != nil {
			t.Fatalf("GET /v1/session: %v in %s", err, body)
		}
	}
	return resp.StatusCode, si
}

// eventuallyStatus polls GET /v1/session until it answers want. The
// session cache (--session-cache-ttl, at most 1 s) may take that long to see
// a revocation made by another process; 3 s leaves slack for -race.
func eventuallyStatus(t *testing.T, base, cookie string, want int) {
	t.Helper()
	const bound = 3 * time.Second
	deadline := time.Now().Add(bound)
	for {
		got, _ := whoami(t, testClient, base, cookie)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /v1/session = %d, want %d within %v", got, want, bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runCmd runs authd in-process to completion.
func runCmd(t *testing.T, getenv map[string]string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), args, env(getenv), strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

// mustRun runs authd in-process and fails the test on an error.
func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := runCmd(t, nil, stdin, args...)
	if err != nil {
		t.Fatalf("run(%q) = %v, want nil\nstderr:\n%s", args, err, errOut)
	}
	return out
}

func isUsage(err error) bool {
	var ue usageError
	return errors.As(err, &ue)
}

func TestServeSessionLifecycle(t *testing.T) {
	s := startServer(t, nil, serveArgs(t.TempDir())...)
	base := s.URL
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("listening URL = %q, want http://127.0.0.1:PORT", base)
	}

	for _, path := range []string{"/healthz", "/readyz"} {
		resp, body := call(t, testClient, "GET", base+path, nil, "")
		wantStatus(t, resp, body, http.StatusOK)
	}

	const email = "alice@example.com"
	register(t, testClient, base, email, goodPW)

	// The cookie's attributes are what make it safe in a browser.
	resp, body := call(t, testClient, "POST", base+"/v1/session", creds{email, goodPW}, "")
	wantStatus(t, resp, body, http.StatusCreated)
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			ck = c
		}
	}
	if ck == nil {
		t.Fatalf("POST /v1/session: no %s cookie in %q", cookieName, resp.Header.Values("Set-Cookie"))
	}
	if !ck.Secure || !ck.HttpOnly || ck.Path != "/" || ck.Domain != "" || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie = %+v, want Secure, HttpOnly, Path=/, no Domain, SameSite=Lax", ck)
	}

	code, si := whoami(t, testClient, base, ck.Value)
	if code != http.StatusOK {
		t.Fatalf("GET /v1/session = %d, want 200", code)
	}
	if si.User.Email != email || si.User.ID == "" || si.Session.ID == "" {
		t.Errorf("GET /v1/session = %+v, want user %s with IDs", si, email)
	}

	resp, body = call(t, testClient, "GET", base+"/v1/user", nil, ck.Value)
	wantStatus(t, resp, body, http.StatusOK)
	var u struct{ ID, Email string }
	if err := json.Unmarshal(body, &u); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(struct{ ID, Email string }{si.User.ID, email}, u); diff != "" {
		t.Errorf("GET /v1/user mismatch (-want +got):\n%s", diff)
	}

	resp, body = call(t, testClient, "DELETE", base+"/v1/session", nil, ck.Value)
	wantStatus(t, resp, body, http.StatusNoContent)
	if code, _ := whoami(t, testClient, base, ck.Value); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/session after logout = %d, want 401", code)
	}
	// Logout is idempotent.
	resp, body = call(t, testClient, "DELETE", base+"/v1/session", nil, ck.Value)
	wantStatus(t, resp, body, http.StatusNoContent)

	if got := loginStatus(t, testClient, base, email, "wrong password, sorry"); got != http.StatusUnauthorized {
		t.Errorf("login with a wrong password = %d, want 401", got)
	}
}

func TestServeGracefulShutdown(t *testing.T) {
	s := startServer(t, nil, serveArgs(t.TempDir())...)
	resp, body := call(t, testClient, "GET", s.URL+"/readyz", nil, "")
	wantStatus(t, resp, body, http.StatusOK)

	start := time.Now()
	if err := s.stop(t); err != nil {
		t.Fatalf("run(serve) after cancel = %v, want nil\nstderr:\n%s", err, s.stderr.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("graceful shutdown of an idle server took %v, want < 5s", d)
	}
	for _, want := range []string{`msg="shutting down"`, `msg=stopped`} {
		if !strings.Contains(s.stderr.String(), want) {
			t.Errorf("stderr lacks %s:\n%s", want, s.stderr.String())
		}
	}

	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := c.Get(s.URL + "/readyz"); err == nil {
		resp.Body.Close()
		t.Errorf("GET /readyz after shutdown = %d, want a connection error", resp.StatusCode)
	}
}

// TestServeShutdownDelay: after the signal, /readyz answers 503 while the
// instance still serves for --shutdown-delay; a login sent as the signal
// came (in flight, or arriving during the delay) gets its real answer;
// then the listener closes.
func TestServeShutdownDelay(t *testing.T) {
	// A costlier hash keeps the login in flight across the signal.
	s := startServer(t, nil, serveArgs(t.TempDir(), "--shutdown-delay", "5s", "--argon2-time", "8")...)
	register(t, testClient, s.URL, "drain@example.com", goodPW)

	inflight := make(chan int, 1)
	go func() {
		resp, err := testClient.Post(s.URL+"/v1/session", "application/json",
			strings.NewReader(`{"email":"drain@example.com","password":"`+goodPW+`"}`))
		if err != nil {
			inflight <- 0
			return
		}
		resp.Body.Close()
		inflight <- resp.StatusCode
	}()
	s.cancel()

	// The serve goroutine drains as soon as it sees the cancellation: poll
	// until it has (well within the 5 s delay), never a connection error.
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(3 * time.Second)
	for {
		resp, err := c.Get(s.URL + "/readyz")
		if err != nil {
			t.Fatalf("GET /readyz during the shutdown delay: %v, want 503", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /readyz after the signal = %d, still not 503", resp.StatusCode)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if resp, err := c.Get(s.URL + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz during the shutdown delay = %v %v, want 200", resp, err)
	} else {
		resp.Body.Close()
	}
	if st := <-inflight; st != http.StatusCreated {
		t.Errorf("login in flight at the signal = %d, want 201", st)
	}
	select {
	case <-s.done:
	case <-time.After(startupWait):
		t.Fatal("serve did not return after the shutdown delay")
	}
	if s.err != nil {
		t.Fatalf("run(serve) = %v", s.err)
	}
	if !strings.Contains(s.stderr.String(), "draining") {
		t.Errorf("stderr lacks the draining line:\n%s", s.stderr.String())
	}
	if resp, err := c.Get(s.URL + "/readyz"); err == nil {
		resp.Body.Close()
		t.Errorf("GET /readyz after shutdown = %d, want a connection error", resp.StatusCode)
	}
}

// startupFields returns the fields of the JSON "authd starting" log line.
func startupFields(t *testing.T, stderr string) map[string]any {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "authd starting" {
			return m
		}
	}
	t.Fatalf("no JSON \"authd starting\" line in stderr:\n%s", stderr)
	return nil
}

func TestFlagEnvPrecedence(t *testing.T) {
	dir := t.TempDir()
	flagDir, envDir := filepath.Join(dir, "from-flag"), filepath.Join(dir, "from-env")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want map[string]any // fields of the startup log line
	}{{
		name: "defaults",
		args: []string{"--addr", "127.0.0.1:0", "--data-dir", flagDir, "--log-format", "json"},
		want: map[string]any{"registration": "open", "session_idle_timeout": float64(30 * time.Minute),
			"argon2": "m=19456,t=2,p=1", "login_throttle": "on", "password_min_length": float64(12)},
	}, {
		name: "env used when no flag",
		env: map[string]string{"AUTHD_ADDR": "127.0.0.1:0", "AUTHD_DATA_DIR": envDir, "AUTHD_LOG_FORMAT": "json",
			"AUTHD_REGISTRATION": "closed", "AUTHD_SESSION_IDLE_TIMEOUT": "5m", "AUTHD_ARGON2_MEMORY": "8192",
			"AUTHD_ARGON2_TIME": "1", "AUTHD_PASSWORD_MIN_LENGTH": "15"},
		want: map[string]any{"addr": "127.0.0.1:0", "data_dir": envDir, "registration": "closed",
			"session_idle_timeout": float64(5 * time.Minute), "argon2": "m=8192,t=1,p=1", "password_min_length": float64(15)},
	}, {
		name: "flag wins over env",
		// Every env value here would fail (or differ) if it were used.
		env: map[string]string{"AUTHD_ADDR": "not-an-address", "AUTHD_DATA_DIR": envDir, "AUTHD_LOG_FORMAT": "xml",
			"AUTHD_REGISTRATION": "maybe", "AUTHD_SESSION_IDLE_TIMEOUT": "soon", "AUTHD_ARGON2_MEMORY": "lots"},
		args: []string{"--addr", "127.0.0.1:0", "--data-dir", flagDir, "--log-format", "json", "--registration", "closed",
			"--session-idle-timeout", "10m", "--argon2-memory", "8192"},
		want: map[string]any{"addr": "127.0.0.1:0", "data_dir": flagDir, "registration": "closed",
			"session_idle_timeout": float64(10 * time.Minute), "argon2": "m=8192,t=2,p=1"},
	}, {
		name: "flag=value form and mixed sources",
		env:  map[string]string{"AUTHD_LOGIN_THROTTLE": "off", "AUTHD_REGISTRATION": "closed"},
		args: []string{"--addr=127.0.0.1:0", "--data-dir=" + flagDir, "--log-format=json", "--registration=open"},
		want: map[string]any{"registration": "open", "login_throttle": "off"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, tt.env, tt.args...)
			if err := s.stop(t); err != nil {
				t.Fatalf("serve = %v, want nil", err)
			}
			got := startupFields(t, s.stderr.String())
			for k := range got {
				if _, ok := tt.want[k]; !ok {
					delete(got, k)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("startup config mismatch (-want +got):\n%s", diff)
			}
		})
	}

	// migrate reads the same sources: its output names the store used.
	out, _, err := runCmd(t, map[string]string{"AUTHD_DATA_DIR": envDir}, "", "migrate", "--data-dir", flagDir)
	if err != nil || !strings.Contains(out, filepath.Join(flagDir, "authd.db")) {
		t.Errorf("migrate --data-dir %s with AUTHD_DATA_DIR=%s = %q, %v; want the flag's dir", flagDir, envDir, out, err)
	}
	out, _, err = runCmd(t, map[string]string{"AUTHD_DATA_DIR": envDir}, "", "migrate")
	if err != nil || !strings.Contains(out, filepath.Join(envDir, "authd.db")) {
		t.Errorf("migrate with AUTHD_DATA_DIR=%s = %q, %v; want the env's dir", envDir, out, err)
	}
}

func TestBadEnvValue(t *testing.T) {
	tests := []struct {
		env  map[string]string
		args []string
		want []string // substrings of the error
	}{
		{map[string]string{"AUTHD_ARGON2_MEMORY": "lots"}, []string{"serve"}, []string{"AUTHD_ARGON2_MEMORY", `"lots"`}},
		{map[string]string{"AUTHD_SESSION_IDLE_TIMEOUT": "soon"}, []string{"serve"}, []string{"AUTHD_SESSION_IDLE_TIMEOUT", `"soon"`}},
		{map[string]string{"AUTHD_PASSWORD_MIN_LENGTH": "twelve"}, []string{"user", "list"}, []string{"AUTHD_PASSWORD_MIN_LENGTH"}},
		{map[string]string{"AUTHD_REGISTRATION": "maybe"}, []string{"serve"}, []string{"registration", `"maybe"`}},
		{map[string]string{"AUTHD_LOG_FORMAT": "xml"}, []string{"user", "list"}, []string{"log-format", "xml"}},
		// Every bad variable is reported at once.
		{map[string]string{"AUTHD_ARGON2_TIME": "x", "AUTHD_THROTTLE_IP_FREE": "y"}, []string{"serve"},
			[]string{"AUTHD_ARGON2_TIME", "AUTHD_THROTTLE_IP_FREE"}},
	}
	for _, tt := range tests {
		dataDir := filepath.Join(t.TempDir(), "data")
		args := append(tt.args, "--data-dir", dataDir)
		if tt.args[0] == "user" {
			args = []string{"user", "list", "--data-dir", dataDir}
		}
		_, _, err := runCmd(t, tt.env, "", args...)
		if err == nil {
			t.Errorf("run(%q) with env %v = nil, want an error", args, tt.env)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("run(%q) with env %v = %q, want it to mention %s", args, tt.env, err, w)
			}
		}
		if !isUsage(err) {
			t.Errorf("run(%q) with env %v = %T, want a usageError (exit 2)", args, tt.env, err)
		}
		if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("run(%q) with a bad env created the data dir (stat: %v)", args, err)
		}
	}
}

func TestServeValidation(t *testing.T) {
	tests := []struct {
		args []string
		want string // substring of the error
	}{
		{[]string{"--registration", "maybe"}, `--registration must be open or closed, not "maybe"`},
		{[]string{"--login-throttle", "sometimes"}, "--login-throttle"},
		{[]string{"--session-idle-timeout", "0"}, "--session-idle-timeout"},
		{[]string{"--session-idle-timeout", "-1m"}, "--session-idle-timeout"},
		{[]string{"--session-idle-timeout", "2h", "--session-lifetime", "1h"}, "idle ≤ lifetime"},
		{[]string{"--tls-cert", "cert.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-key", "key.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--trusted-proxies", "10.0.0.0/33"}, `"10.0.0.0/33" is not a CIDR`},
		{[]string{"--trusted-proxies", "10.0.0.0/8, proxy.internal"}, `"proxy.internal"`},
		{[]string{"--argon2-memory", "1024"}, "--argon2-memory"},
		{[]string{"--argon2-time", "0"}, "--argon2-time"},
		{[]string{"--argon2-threads", "256"}, "--argon2-threads"},
		{[]string{"--password-min-length", "6"}, "--password-min-length must be at least 8"},
		{[]string{"--throttle-base-delay", "1m", "--throttle-max-delay", "1s"}, "max delay ≥ base delay"},
		{[]string{"--shutdown-timeout", "0"}, "--shutdown-timeout"},
		{[]string{"--shutdown-delay", "-1s"}, "--shutdown-delay"},
		{[]string{"--token-cache-size", "0"}, "--token-cache-size"},
		{[]string{"--hash-concurrency", "0"}, "--hash-concurrency"},
		{[]string{"--database-max-conns", "0"}, "--database-max-conns"},
		{[]string{"--data-dir", ""}, "--data-dir must not be empty"},
		{[]string{"--log-format", "xml"}, "--log-format"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--database", "ftp://example.com/db"}, "unknown scheme"},
		{[]string{"--database", "mysql://authd@127.0.0.1/authd"}, "unknown scheme"},
		{[]string{"--database", "host=db user=authd password=hunter2 dbname=authd"}, "not a file name"},
		{[]string{"--database", "mysql://authd:hunter2/x@127.0.0.1/authd"}, "unknown scheme"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"--argon2-memory", "lots"}, "argon2-memory"},
		{[]string{"extra-argument"}, "serve takes no arguments"},
	}
	for _, tt := range tests {
		dataDir := filepath.Join(t.TempDir(), "data")
		args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, tt.args...)
		_, stderr, err := runCmd(t, nil, "", args...)
		if err == nil {
			t.Errorf("run(%q) = nil, want an error containing %q", tt.args, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run(%q) = %q, want it to contain %q", tt.args, err, tt.want)
		}
		if strings.Contains(err.Error()+stderr, "hunter2") {
			t.Errorf("run(%q) printed the password: %q", tt.args, err)
		}
		if !isUsage(err) {
			t.Errorf("run(%q) = %T(%v), want a usageError (exit 2)", tt.args, err, err)
		}
		if strings.Contains(stderr, "authd listening") || strings.Contains(stderr, "authd starting") {
			t.Errorf("run(%q) started serving:\n%s", tt.args, stderr)
		}
		if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("run(%q) created the data dir despite invalid config (stat: %v)", tt.args, err)
		}
	}
}

func TestDatabaseURLPasswordRedacted(t *testing.T) {
	for _, db := range []string{"postgres://authd:hunter2secret@db.internal/authd", "mysql://authd:hunter2secret@db.internal/authd"} {
		_, stderr, err := runCmd(t, nil, "", "serve", "--data-dir", t.TempDir(), "--database", db)
		if err == nil {
			t.Fatalf("run(serve --database %s) = nil, want an error", db)
		}
		if strings.Contains(err.Error()+stderr, "hunter2secret") {
			t.Errorf("run(serve --database %s) = %q (stderr %q): the password leaked", db, err, stderr)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"serve", "-h"}, {"user", "add", "--help"}, {"migrate", "-h"}} {
		_, stderr, err := runCmd(t, nil, "", args...)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("run(%q) = %v, want flag.ErrHelp (exit 0)", args, err)
		}
		if !strings.Contains(stderr, "-data-dir") {
			t.Errorf("run(%q) printed %q, want the flags", args, stderr)
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		out := mustRun(t, "", args...)
		if !strings.HasPrefix(out, "usage: authd") {
			t.Errorf("run(%q) printed %q, want the usage", args, out)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version", "-version"} {
		out := mustRun(t, "", arg)
		if !strings.HasPrefix(out, "authd ") || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
			t.Errorf("run(%s) printed %q, want one line \"authd VERSION ...\"", arg, out)
		}
		if !strings.Contains(out, "go1.") {
			t.Errorf("run(%s) printed %q, want the Go version in it", arg, out)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	tests := []struct {
		args        []string
		want        string
		printsUsage bool
	}{
		{nil, "no command", true},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`, true},
		{[]string{"Serve"}, `unknown command "Serve"`, true},
		{[]string{"user"}, "user: want add, list", false},
		{[]string{"user", "frob", "x@example.com"}, `unknown subcommand "frob"`, false},
		{[]string{"user", "frob"}, `unknown subcommand "frob"`, false},
	}
	for _, tt := range tests {
		// A typo must not create ./authd-data in the working directory.
		t.Chdir(t.TempDir())
		_, stderr, err := runCmd(t, nil, "", tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
		if !isUsage(err) {
			t.Errorf("run(%q) = %T, want a usageError (exit 2)", tt.args, err)
		}
		if tt.printsUsage && !strings.Contains(stderr, "usage: authd") {
			t.Errorf("run(%q) wrote %q to stderr, want the usage", tt.args, stderr)
		}
		if _, err := os.Stat("authd-data"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("run(%q) created ./authd-data (stat: %v)", tt.args, err)
		}
	}
}

func TestDataDirPermissions(t *testing.T) {
	check := func(t *testing.T, dir string) {
		t.Helper()
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o700 {
			t.Errorf("data dir mode = %#o, want 0700", got)
		}
		fi, err = os.Stat(filepath.Join(dir, "authd.db"))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("authd.db mode = %#o, want 0600", got)
		}
	}
	t.Run("serve creates", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nested", "data")
		s := startServer(t, nil, serveArgs(dir)...)
		register(t, testClient, s.URL, "perm@example.com", goodPW)
		check(t, dir)
	})
	t.Run("migrate creates", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		mustRun(t, "", "migrate", "--data-dir", dir)
		check(t, dir)
	})
	t.Run("user add creates", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		mustRun(t, goodPW+"\n", append(append([]string{"user", "add", "--data-dir", dir}, cheapArgon2...), "perm@example.com")...)
		check(t, dir)
	})
	t.Run("too open dir is tightened", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		mustRun(t, "", "migrate", "--data-dir", dir)
		check(t, dir)
	})
}

func TestMemoryDatabase(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	args := serveArgs(dataDir, "--database", "memory://", "--log-format", "json")
	s := startServer(t, nil, args...)
	if got := startupFields(t, s.stderr.String())["store"]; got != "memory://" {
		t.Errorf("startup store = %v, want memory://", got)
	}
	register(t, testClient, s.URL, "mem@example.com", goodPW)
	ck := login(t, testClient, s.URL, "mem@example.com", goodPW)
	if code, _ := whoami(t, testClient, s.URL, ck); code != http.StatusOK {
		t.Errorf("GET /v1/session = %d, want 200", code)
	}
	resp, body := call(t, testClient, "GET", s.URL+"/readyz", nil, "")
	wantStatus(t, resp, body, http.StatusOK)
	if err := s.stop(t); err != nil {
		t.Fatalf("serve = %v, want nil", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "authd.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("memory:// wrote authd.db (stat: %v)", err)
	}

	// Ephemeral: a restart forgets everything.
	s = startServer(t, nil, args...)
	if got := loginStatus(t, testClient, s.URL, "mem@example.com", goodPW); got != http.StatusUnauthorized {
		t.Errorf("login after restart on memory:// = %d, want 401", got)
	}
}

func TestRegistrationClosed(t *testing.T) {
	dataDir := t.TempDir()
	s := startServer(t, nil, serveArgs(dataDir, "--registration", "closed")...)
	resp, body := call(t, testClient, "POST", s.URL+"/v1/users", creds{"new@example.com", goodPW}, "")
	wantStatus(t, resp, body, http.StatusForbidden)
	if !strings.Contains(string(body), "registration-closed") {
		t.Errorf("POST /v1/users body = %s, want a registration-closed problem", body)
	}
	if got := loginStatus(t, testClient, s.URL, "new@example.com", goodPW); got != http.StatusUnauthorized {
		t.Errorf("login of the refused user = %d, want 401", got)
	}

	// The operator can still add users, and they can log in.
	mustRun(t, goodPW+"\n", append(append([]string{"user", "add", "--data-dir", dataDir}, cheapArgon2...), "ops@example.com")...)
	ck := login(t, testClient, s.URL, "ops@example.com", goodPW)
	if code, _ := whoami(t, testClient, s.URL, ck); code != http.StatusOK {
		t.Errorf("GET /v1/session for an operator-added user = %d, want 200", code)
	}
}

func TestStartupLogNoSecrets(t *testing.T) {
	dataDir := t.TempDir()
	s := startServer(t, nil, serveArgs(dataDir, "--log-format", "json", "--log-level", "debug",
		"--trusted-proxies", "10.0.0.0/8,192.168.1.1", "--registration", "open")...)

	const email, pw = "secretive@example.com", "Tr0ub4dor&3-but-longer"
	register(t, testClient, s.URL, email, pw)
	ck := login(t, testClient, s.URL, email, pw)
	if code, _ := whoami(t, testClient, s.URL, ck); code != http.StatusOK {
		t.Fatalf("GET /v1/session = %d, want 200", code)
	}
	resp, body := call(t, testClient, "DELETE", s.URL+"/v1/session", nil, ck)
	wantStatus(t, resp, body, http.StatusNoContent)
	if err := s.stop(t); err != nil {
		t.Fatalf("serve = %v, want nil", err)
	}
	logs := s.stderr.String()

	all := startupFields(t, logs)
	if v, _ := all["version"].(string); v == "" {
		t.Errorf("startup version = %v, want non-empty", all["version"])
	}
	// The line may grow; these settings must be in it.
	want := map[string]any{
		"addr": "127.0.0.1:0", "store": "sqlite:" + filepath.Join(dataDir, "authd.db"), "data_dir": dataDir,
		"session_idle_timeout": float64(30 * time.Minute), "session_lifetime": float64(24 * time.Hour),
		"registration": "open", "tls": false, "trusted_proxies": float64(2), "argon2": "m=8192,t=1,p=1",
		"hash_concurrency": all["hash_concurrency"], "password_min_length": float64(12), "login_throttle": "on",
		"throttle_account_free": float64(5), "throttle_ip_free": float64(20), "throttle_max_delay": float64(15 * time.Minute),
	}
	got := map[string]any{}
	for k := range want {
		if v, ok := all[k]; ok {
			got[k] = v
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("startup log fields mismatch (-want +got):\n%s", diff)
	}
	if n, ok := got["hash_concurrency"].(float64); !ok || n < 1 {
		t.Errorf("startup hash_concurrency = %v, want ≥ 1", got["hash_concurrency"])
	}

	for _, secret := range []string{pw, ck} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains a secret %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, `"msg":"login"`) {
		t.Errorf("the log has no login event (is it logging at all?):\n%s", logs)
	}
}

// userArgs is `authd user SUB --data-dir DIR [cheap hashing] args...`.
func userArgs(sub, dataDir string, args ...string) []string {
	out := append([]string{"user", sub, "--data-dir", dataDir}, cheapArgon2...)
	return append(out, args...)
}

var createdLine = regexp.MustCompile(`^(created|imported) user (\S+) \((\S+)\)\n$`)

func TestUserAdmin(t *testing.T) {
	dataDir := t.TempDir()
	const email = "bob@example.com"

	out := mustRun(t, goodPW+"\n", userArgs("add", dataDir, email)...)
	m := createdLine.FindStringSubmatch(out)
	if m == nil || m[1] != "created" || m[2] != email {
		t.Fatalf("user add printed %q, want \"created user %s (ID)\"", out, email)
	}
	id := m[3]
	// A second user keeps the list honest.
	mustRun(t, goodPW+"\r\n", userArgs("add", dataDir, "carol@example.com")...)

	_, _, err := runCmd(t, nil, goodPW+"\n", userArgs("add", dataDir, "BOB@example.com")...)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("user add of a taken email (other case) = %v, want \"already exists\"", err)
	}

	listStatus := func(t *testing.T) map[string]string {
		t.Helper()
		out := mustRun(t, "", userArgs("list", dataDir)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) == 0 || !strings.HasPrefix(lines[0], "ID") {
			t.Fatalf("user list printed %q, want a header", out)
		}
		got := map[string]string{}
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) != 4 {
				t.Fatalf("user list line %q, want 4 columns", l)
			}
			if _, err := time.Parse(time.RFC3339, f[2]); err != nil {
				t.Errorf("user list CREATED = %q: %v", f[2], err)
			}
			got[f[1]] = f[0] + " " + f[3]
		}
		return got
	}
	want := map[string]string{email: id + " active"}
	if got := listStatus(t); got[email] != want[email] || len(got) != 2 {
		t.Fatalf("user list = %v, want %s → %q and carol", got, email, want[email])
	}

	s := startServer(t, nil, serveArgs(dataDir)...)
	ck := login(t, testClient, s.URL, email, goodPW)
	other := login(t, testClient, s.URL, "carol@example.com", goodPW)

	out = mustRun(t, "", userArgs("disable", dataDir, email)...)
	if want := "disabled user " + email + " (" + id + ")\n"; out != want {
		t.Errorf("user disable printed %q, want %q", out, want)
	}
	if got := listStatus(t)[email]; got != id+" disabled" {
		t.Errorf("user list after disable: %s = %q, want %q", email, got, id+" disabled")
	}
	// The running server refuses the existing session and new logins.
	eventuallyStatus(t, s.URL, ck, http.StatusUnauthorized)
	if got := loginStatus(t, testClient, s.URL, email, goodPW); got != http.StatusUnauthorized {
		t.Errorf("login of a disabled user = %d, want 401", got)
	}
	if code, _ := whoami(t, testClient, s.URL, other); code != http.StatusOK {
		t.Errorf("another user's session after disable = %d, want 200", code)
	}

	// By ID this time.
	out = mustRun(t, "", userArgs("enable", dataDir, id)...)
	if want := "enabled user " + email + " (" + id + ")\n"; out != want {
		t.Errorf("user enable printed %q, want %q", out, want)
	}
	// Enabling does not resurrect the revoked session.
	if code, _ := whoami(t, testClient, s.URL, ck); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/session of a session revoked by disable, after enable = %d, want 401", code)
	}
	ck = login(t, testClient, s.URL, email, goodPW)

	out = mustRun(t, "", userArgs("delete", dataDir, email)...)
	if want := "deleted user " + email + " (" + id + ")\n"; out != want {
		t.Errorf("user delete printed %q, want %q", out, want)
	}
	eventuallyStatus(t, s.URL, ck, http.StatusUnauthorized)
	if got := loginStatus(t, testClient, s.URL, email, goodPW); got != http.StatusUnauthorized {
		t.Errorf("login of a deleted user = %d, want 401", got)
	}
	if got := listStatus(t); len(got) != 1 || got["carol@example.com"] == "" {
		t.Errorf("user list after delete = %v, want only carol", got)
	}

	for _, sub := range []string{"delete", "disable", "enable"} {
		for _, ref := range []string{email, id} {
			_, _, err := runCmd(t, nil, "", userArgs(sub, dataDir, ref)...)
			if err == nil || !strings.Contains(err.Error(), "no such user") {
				t.Errorf("user %s %s (deleted) = %v, want \"no such user\"", sub, ref, err)
			}
		}
	}

	// The user can register again under the same email.
	register(t, testClient, s.URL, email, goodPW)
	login(t, testClient, s.URL, email, goodPW)
}

func TestUserAddPasswordHash(t *testing.T) {
	dataDir := t.TempDir()
	const email, pw = "imported@example.com", "an old password from the old system"
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "", userArgs("add", dataDir, "--password-hash", string(hash), email)...)
	if m := createdLine.FindStringSubmatch(out); m == nil || m[1] != "imported" || m[2] != email {
		t.Fatalf("user add --password-hash printed %q, want \"imported user %s (ID)\"", out, email)
	}

	s := startServer(t, nil, serveArgs(dataDir)...)
	if got := loginStatus(t, testClient, s.URL, email, "not the old password"); got != http.StatusUnauthorized {
		t.Errorf("login with a wrong password = %d, want 401", got)
	}
	for i := range 2 { // the second login checks the argon2id re-hash
		ck := login(t, testClient, s.URL, email, pw)
		if code, si := whoami(t, testClient, s.URL, ck); code != http.StatusOK || si.User.Email != email {
			t.Errorf("login #%d with the imported password: GET /v1/session = %d %+v, want 200 for %s", i+1, code, si, email)
		}
	}

	for _, bad := range []string{"not-a-hash", "$2a$04$short", "$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA"} {
		_, _, err := runCmd(t, nil, "", userArgs("add", dataDir, "--password-hash", bad, "bad-hash@example.com")...)
		if err == nil || !strings.Contains(err.Error(), "password_hash") {
			t.Errorf("user add --password-hash %q = %v, want a password_hash error", bad, err)
		}
	}
}

func TestUserAddErrors(t *testing.T) {
	dataDir := t.TempDir()
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
		usage bool
	}{
		{"too short", "short\n", userArgs("add", dataDir, "a@example.com"), "password: password must be at least 12 characters", false},
		{"policy flag", goodPW + "\n", userArgs("add", dataDir, "--password-min-length", "40", "a@example.com"), "at least 40 characters", false},
		{"common", "1qaz2wsx3edc\n", userArgs("add", dataDir, "a@example.com"), "commonly used", false},
		{"empty stdin", "", userArgs("add", dataDir, "a@example.com"), "no password on stdin", false},
		{"blank line", "\n", userArgs("add", dataDir, "a@example.com"), "no password on stdin", false},
		{"bad email", goodPW + "\n", userArgs("add", dataDir, "not-an-email"), "email", false},
		{"bad email and password", "short\n", userArgs("add", dataDir, "not-an-email"), "password must be at least", false},
		{"no email", goodPW + "\n", userArgs("add", dataDir), "want 1 argument(s), got 0", true},
		{"two emails", goodPW + "\n", userArgs("add", dataDir, "a@example.com", "b@example.com"), "want 1 argument(s), got 2", true},
		{"list takes none", "", userArgs("list", dataDir, "x"), "want 0 argument(s), got 1", true},
		{"bad argon2", goodPW + "\n", []string{"user", "add", "--data-dir", dataDir, "--argon2-memory", "10", "a@example.com"}, "--argon2-memory", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCmd(t, nil, tt.stdin, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
			if got := isUsage(err); got != tt.usage {
				t.Errorf("run(%q) is a usageError = %t, want %t", tt.args, got, tt.usage)
			}
			if out != "" {
				t.Errorf("run(%q) printed %q on failure, want nothing", tt.args, out)
			}
		})
	}
	// None of the failures created a user.
	if out := mustRun(t, "", userArgs("list", dataDir)...); strings.Count(out, "\n") != 1 {
		t.Errorf("user list after failed adds = %q, want only the header", out)
	}
}

// TestKeysListAndRotate: `keys list` shows the signing keys (on a new data
// dir one per default algorithm, EdDSA and RS256); `keys rotate` adds a
// pending key per algorithm that signs after the publish lead and retires
// that algorithm's current key at that moment; all are listed with their
// status.
func TestKeysListAndRotate(t *testing.T) {
	dir := t.TempDir()
	first := keyRows(t, dir)
	if len(first) != 2 || first[0][1] != "EdDSA" || first[1][1] != "RS256" {
		t.Fatalf("a new data dir lists %q, want an EdDSA and an RS256 key", first)
	}
	for _, r := range first {
		if r[len(r)-1] != "signing" {
			t.Fatalf("a new data dir lists %q, want both signing", first)
		}
	}
	out := mustRun(t, "", "keys", "rotate", "--data-dir", dir, "--key-publish-lead", "1m")
	if strings.Count(out, "published now") != 2 {
		t.Errorf("keys rotate printed %q, want a new key per algorithm", out)
	}
	after := keyRows(t, dir)
	if len(after) != 4 {
		t.Fatalf("after a rotation %d keys listed, want 4: %q", len(after), after)
	}
	for i, old := range first {
		a := after[i]
		if a[0] != old[0] || a[len(a)-1] != "signing" || a[4] == "-" {
			t.Errorf("the old %s key after rotation: %q, want still signing, with a retirement time", old[1], a)
		}
	}
	for _, a := range after[2:] {
		if a[len(a)-1] != "pending" || a[4] != "-" {
			t.Errorf("the new key: %q, want pending, not retired", a)
		}
	}
	if after[2][1] == after[3][1] {
		t.Errorf("the new keys are both %s, want one per algorithm", after[2][1])
	}
}

// keyRows runs `keys list` on dir and returns its rows split into fields
// (KID, ALG, CREATED, SIGNS FROM, RETIRED, STATUS…).
func keyRows(t *testing.T, dir string, extra ...string) [][]string {
	t.Helper()
	out := mustRun(t, "", append([]string{"keys", "list", "--data-dir", dir}, extra...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "KID") {
		t.Fatalf("keys list printed %q", out)
	}
	var r [][]string
	for _, l := range lines[1:] {
		r = append(r, strings.Fields(l))
	}
	return r
}
