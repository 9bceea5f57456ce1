// Package authdtest builds the authd binary once per test process and runs
// real `authd serve` processes on loopback ports for end-to-end tests of
// other packages (the resource-server guard, several instances sharing a
// store, a reverse proxy in front).
package authdtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// Main runs a package's tests and then removes the binary Binary built:
// call it from TestMain (func TestMain(m *testing.M) { authdtest.Main(m) }).
func Main(m *testing.M) {
	code := m.Run()
	if buildBin != "" {
		os.RemoveAll(filepath.Dir(buildBin))
	}
	os.Exit(code)
}

// Binary returns the path of an authd binary built from this module,
// building it on first use. Tests that need it skip under -short.
func Binary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the authd binary; skipped with -short")
	}
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "authdtest-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "authd")
		cmd := exec.Command("go", "build", "-o", buildBin, "./cmd/authd")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/authd: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// Instance is one running `authd serve`.
type Instance struct {
	URL    string
	Args   []string
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var listening = regexp.MustCompile(`authd listening on (https?://\S+)`)

// SharedIssuer is the --issuer Start gives instances on a shared store
// (PostgreSQL or Redis) when the test sets none: authd refuses to start
// there without one, and instances of one deployment share it.
const SharedIssuer = "http://authd.test"

// Start runs `authd serve --addr 127.0.0.1:0` with args (add
// --data-dir/--database yourself; cheap Argon2 and no throttling are added
// unless args set them) and waits until it listens. The process is killed
// when the test ends.
func Start(t testing.TB, args ...string) *Instance {
	t.Helper()
	bin := Binary(t)
	all := []string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn"}
	joined := " " + strings.Join(args, " ")
	if !strings.Contains(joined, " --argon2-memory") {
		all = append(all, "--argon2-memory", "8192", "--argon2-time", "1")
	}
	if !strings.Contains(joined, " --login-throttle") {
		all = append(all, "--login-throttle", "off")
	}
	if !strings.Contains(joined, " --password-grant") {
		// Tokens (below) gets tokens with the password grant, which is
		// off by default (RFC 9700 §2.4); the code flow has its own tests.
		all = append(all, "--password-grant", "on")
	}
	if !strings.Contains(joined, " --issuer") && (strings.Contains(joined, " --redis ") || strings.Contains(joined, "postgres://")) {
		// A shared store needs one issuer for the whole deployment.
		all = append(all, "--issuer", SharedIssuer)
	}
	all = append(all, args...)
	in := &Instance{Args: args, cmd: exec.Command(bin, all...), stderr: &lockedBuffer{}, done: make(chan struct{})}
	in.cmd.Env = cleanEnv()
	in.cmd.Stderr = in.stderr
	out, err := in.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() { in.cmd.Wait(); close(in.done) }()
	t.Cleanup(func() { in.Kill() })
	select {
	case in.URL = <-urlc:
	case <-in.done:
		t.Fatalf("authd exited before listening:\n%s", in.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("authd did not listen within 30 s:\n%s", in.stderr.String())
	}
	return in
}

// cleanEnv drops AUTHD_* variables of the test process, so only the
// arguments configure the instance.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUTHD_") {
			env = append(env, kv)
		}
	}
	return env
}

// Logs returns what the instance wrote to stderr.
func (in *Instance) Logs() string { return in.stderr.String() }

// Kill ends the process with SIGKILL (no graceful shutdown).
func (in *Instance) Kill() {
	if in.cmd.Process != nil {
		in.cmd.Process.Kill()
		<-in.done
	}
}

// Stop sends SIGTERM and waits for a clean exit.
func (in *Instance) Stop(t testing.TB) {
	t.Helper()
	in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(20 * time.Second):
		in.cmd.Process.Kill()
		t.Fatalf("authd did not stop within 20 s after SIGTERM")
	}
	if code := in.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("authd exited with %d:\n%s", code, in.Logs())
	}
}

// Run runs a one-shot authd command (user add, client add…) and returns
// its stdout.
func Run(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("authd %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// Client is a small HTTP client for authd's API.
type Client struct {
	Base string
	HTTP *http.Client
}

// NewClient returns a client for base.
func NewClient(base string) *Client {
	return &Client{Base: base, HTTP: &http.Client{Timeout: 10 * time.Second}}
}

// Do sends a request with an optional JSON body, session cookie and bearer
// token, and returns the status and body.
func (c *Client) Do(ctx context.Context, method, path, jsonBody, cookie, bearer string) (int, []byte, http.Header, error) {
	var body io.Reader
	if jsonBody != "" {
		body = strings.NewReader(jsonBody)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return 0, nil, nil, err
	}
	if jsonBody != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.Header.Set("Cookie", "__Host-authd_session="+cookie)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// Register creates a user; Login returns a session cookie value; Tokens
// returns an access and a refresh token.
func (c *Client) Register(t testing.TB, email, password string) {
	t.Helper()
	st, b, _, err := c.Do(context.Background(), "POST", "/v1/users", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password), "", "")
	if err != nil || st != http.StatusCreated {
		t.Fatalf("register %s: %d %s %v", email, st, b, err)
	}
}

// Login logs in with a password and returns the session cookie's value.
func (c *Client) Login(t testing.TB, email, password string) string {
	t.Helper()
	st, b, h, err := c.Do(context.Background(), "POST", "/v1/session", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password), "", "")
	if err != nil || st != http.StatusCreated {
		t.Fatalf("login %s: %d %s %v", email, st, b, err)
	}
	for _, sc := range h.Values("Set-Cookie") {
		if v, ok := strings.CutPrefix(sc, "__Host-authd_session="); ok {
			v, _, _ = strings.Cut(v, ";")
			return v
		}
	}
	t.Fatal("login set no session cookie")
	return ""
}

// Tokens runs the password grant and returns the access and refresh tokens.
func (c *Client) Tokens(t testing.TB, email, password string) (access, refresh string) {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {email}, "password": {password}}
	resp, err := c.HTTP.PostForm(c.Base+"/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&tr) != nil {
		t.Fatalf("password grant: %s", resp.Status)
	}
	return tr.AccessToken, tr.RefreshToken
}

// Eventually polls f until it returns nil or within passes, and returns
// how long it took; it fails the test with f's last error otherwise.
func Eventually(t testing.TB, within time.Duration, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < within {
		if err = f(); err == nil {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("not within %s: %v", within, err)
	return 0
}
