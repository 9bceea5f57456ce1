package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run the real binary: signals, exit codes and a restart on
// the same data dir are only observable from outside the process.

const exitWait = 15 * time.Second

// buildAuthd builds the authd binary into dir.
func buildAuthd(t *testing.T, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool in PATH: %v", err)
	}
	bin := filepath.Join(dir, "authd")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a running authd process.
type proc struct {
	URL            string
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	waitErr        error // valid after done is closed
}

// cleanEnv is the test's environment without AUTHD_* variables, so the
// developer's settings cannot change what is tested.
func cleanEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUTHD_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// execAuthd starts bin with args; it is killed at cleanup if still running.
func execAuthd(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = cleanEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		defer close(p.done)
		p.waitErr = p.cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(exitWait):
			t.Errorf("authd (pid %d) did not die after SIGKILL", p.cmd.Process.Pid)
		}
	})
	return p
}

// startAuthd starts `bin serve args...` and waits for its listening line.
func startAuthd(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := execAuthd(t, bin, append([]string{"serve"}, args...)...)
	deadline := time.After(startupWait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if u := listenURL(p.stdout.String()); u != "" {
			p.URL = u
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("authd serve %q exited before listening: %v\nstderr:\n%s", args, p.waitErr, p.stderr.String())
		case <-deadline:
			t.Fatalf("authd serve %q: no listening line within %v\nstderr:\n%s", args, startupWait, p.stderr.String())
		case <-tick.C:
		}
	}
}

// wait waits (bounded) for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(exitWait):
		t.Fatalf("authd did not exit within %v\nstderr:\n%s", exitWait, p.stderr.String())
	}
	var ee *exec.ExitError
	switch {
	case p.waitErr == nil:
		return 0
	case errors.As(p.waitErr, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("wait: %v", p.waitErr)
	return -1
}

// terminate sends SIGTERM and requires a clean exit (code 0) in time.
func (p *proc) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("authd after SIGTERM exited %d, want 0\nstderr:\n%s", code, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "msg=stopped") {
		t.Errorf("authd after SIGTERM did not log its stop:\n%s", p.stderr.String())
	}
}

func TestE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the authd binary; skipped with -short")
	}
	bin := buildAuthd(t, t.TempDir())

	t.Run("ExitCodes", func(t *testing.T) {
		t.Parallel()
		dataDir := filepath.Join(t.TempDir(), "data")
		tests := []struct {
			args   []string
			code   int
			stdout string // prefix
			stderr string // substring
		}{
			{[]string{"version"}, 0, "authd ", ""},
			{[]string{"serve", "-h"}, 0, "", "-addr"},
			{nil, 2, "", "usage: authd"},
			{[]string{"frobnicate"}, 2, "", `authd: unknown command "frobnicate"`},
			{[]string{"serve", "--data-dir", dataDir, "--registration", "maybe"}, 2, "", "--registration must be open or closed"},
			{[]string{"serve", "--data-dir", dataDir, "--no-such-flag"}, 2, "", "no-such-flag"},
			{[]string{"user", "add", "--data-dir", dataDir}, 2, "", "want 1 argument(s)"},
			{[]string{"migrate", "--data-dir", dataDir, "extra"}, 2, "", "want 0 argument(s)"},
			{[]string{"keys", "list", "--data-dir", dataDir, "bogus"}, 2, "", "want 0 argument(s)"},
			{[]string{"migrate", "--data-dir", dataDir, "--argon2-memory", "1"}, 2, "", "--argon2"},
			{[]string{"serve", "--data-dir", dataDir, "--addr", "256.0.0.1:0"}, 1, "", "listen"},
		}
		for _, tt := range tests {
			p := execAuthd(t, bin, tt.args...)
			if code := p.wait(t); code != tt.code {
				t.Errorf("authd %q exited %d, want %d\nstderr:\n%s", tt.args, code, tt.code, p.stderr.String())
			}
			if !strings.HasPrefix(p.stdout.String(), tt.stdout) {
				t.Errorf("authd %q printed %q, want it to start with %q", tt.args, p.stdout.String(), tt.stdout)
			}
			if !strings.Contains(p.stderr.String(), tt.stderr) {
				t.Errorf("authd %q stderr = %q, want it to contain %q", tt.args, p.stderr.String(), tt.stderr)
			}
		}
	})

	t.Run("RestartKeepsSessions", func(t *testing.T) {
		t.Parallel()
		dataDir := t.TempDir()
		args := serveArgs(dataDir)
		p := startAuthd(t, bin, args...)
		base := p.URL

		const email = "dave@example.com"
		register(t, testClient, base, email, goodPW)
		live := login(t, testClient, base, email, goodPW)      // device 1: stays logged in
		revoked := login(t, testClient, base, email, goodPW)   // device 2: revoked from device 1
		loggedOut := login(t, testClient, base, email, goodPW) // device 3: logs out

		code, liveInfo := whoami(t, testClient, base, live)
		if code != http.StatusOK {
			t.Fatalf("GET /v1/session (live) = %d, want 200", code)
		}
		code, revokedInfo := whoami(t, testClient, base, revoked)
		if code != http.StatusOK {
			t.Fatalf("GET /v1/session (device 2) = %d, want 200", code)
		}
		if ids := listSessionIDs(t, base, live); len(ids) != 3 || !ids[revokedInfo.Session.ID] || !ids[liveInfo.Session.ID] {
			t.Fatalf("GET /v1/sessions = %v, want the 3 sessions", ids)
		}

		resp, body := call(t, testClient, "DELETE", base+"/v1/sessions/"+revokedInfo.Session.ID, nil, live)
		wantStatus(t, resp, body, http.StatusNoContent)
		resp, body = call(t, testClient, "DELETE", base+"/v1/session", nil, loggedOut)
		wantStatus(t, resp, body, http.StatusNoContent)

		check := func(t *testing.T, when string) {
			t.Helper()
			for _, c := range []struct {
				name, cookie string
				want         int
			}{{"live", live, http.StatusOK}, {"revoked", revoked, http.StatusUnauthorized}, {"logged out", loggedOut, http.StatusUnauthorized}} {
				if got, si := whoami(t, testClient, base, c.cookie); got != c.want {
					t.Errorf("%s: GET /v1/session (%s session) = %d, want %d", when, c.name, got, c.want)
				} else if got == http.StatusOK && si.Session.ID != liveInfo.Session.ID {
					t.Errorf("%s: GET /v1/session (%s session) = session %s, want %s", when, c.name, si.Session.ID, liveInfo.Session.ID)
				}
			}
			if ids := listSessionIDs(t, base, live); len(ids) != 1 || !ids[liveInfo.Session.ID] {
				t.Errorf("%s: GET /v1/sessions = %v, want only %s", when, ids, liveInfo.Session.ID)
			}
		}
		check(t, "before restart")

		p.terminate(t)

		p = startAuthd(t, bin, args...)
		base = p.URL // a new port
		check(t, "after restart")
		// The user survived too.
		login(t, testClient, base, email, goodPW)
		p.terminate(t)
	})

	t.Run("ConcurrentRegisterLogin", func(t *testing.T) {
		t.Parallel()
		// The default store: SQLite in the data dir.
		p := startAuthd(t, bin, serveArgs(t.TempDir())...)
		const n = 16
		client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
		type result struct {
			step   string
			status int
			body   string
			err    error
		}
		results := make(chan result, 3*n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				email := fmt.Sprintf("user%02d@example.com", i)
				<-start
				do := func(step, method, path string, body any, cookie string) *http.Response {
					resp, b, err := rawCall(client, method, p.URL+path, body, cookie)
					r := result{step: step, err: err}
					if err == nil {
						r.status, r.body = resp.StatusCode, string(b)
					}
					results <- r
					return resp
				}
				if resp := do("register "+email, "POST", "/v1/users", creds{email, goodPW}, ""); resp == nil {
					return
				}
				resp := do("login "+email, "POST", "/v1/session", creds{email, goodPW}, "")
				if resp == nil {
					return
				}
				var ck string
				for _, c := range resp.Cookies() {
					if c.Name == cookieName {
						ck = c.Value
					}
				}
				do("whoami "+email, "GET", "/v1/session", nil, ck)
			}()
		}
		close(start)
		wg.Wait()
		close(results)

		want := map[string]int{"register": http.StatusCreated, "login": http.StatusCreated, "whoami": http.StatusOK}
		var fiveXX, total int
		for r := range results {
			total++
			if r.err != nil {
				t.Errorf("%s: %v", r.step, r.err)
				continue
			}
			if r.status >= 500 {
				fiveXX++
			}
			if w := want[strings.Fields(r.step)[0]]; r.status != w {
				t.Errorf("%s = %d %s, want %d", r.step, r.status, r.body, w)
			}
		}
		if total != 3*n {
			t.Errorf("%d responses, want %d", total, 3*n)
		}
		if fiveXX != 0 {
			t.Errorf("%d responses were 5xx, want 0\nstderr:\n%s", fiveXX, p.stderr.String())
		}
		if logs := p.stderr.String(); strings.Contains(strings.ToLower(logs), "database is locked") || strings.Contains(logs, "SQLITE_BUSY") {
			t.Errorf("the log reports a locked database:\n%s", logs)
		}
		p.terminate(t)
	})

	t.Run("TLS", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		certFile, keyFile, pool := selfSignedCert(t, dir)
		p := startAuthd(t, bin, serveArgs(filepath.Join(dir, "data"), "--tls-cert", certFile, "--tls-key", keyFile)...)
		if !strings.HasPrefix(p.URL, "https://127.0.0.1:") {
			t.Fatalf("listening URL = %q, want https://127.0.0.1:PORT", p.URL)
		}

		// A client that does not trust the certificate is refused.
		if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(p.URL + "/healthz"); err == nil {
			resp.Body.Close()
			t.Errorf("GET /healthz with an untrusting client succeeded, want a certificate error")
		} else if ue := (x509.UnknownAuthorityError{}); !errors.As(err, &ue) {
			t.Errorf("GET /healthz with an untrusting client = %v, want x509.UnknownAuthorityError", err)
		}

		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{
			Timeout:   10 * time.Second,
			Jar:       jar,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		}
		resp, err := c.Get(p.URL + "/healthz")
		if err != nil {
			t.Fatalf("GET /healthz over TLS: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /healthz over TLS = %d, want 200", resp.StatusCode)
		}
		if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			t.Errorf("GET /healthz TLS state = %+v, want TLS ≥ 1.2", resp.TLS)
		}

		// Over HTTPS a cookie jar keeps the Secure __Host- cookie, as a
		// browser would: no hand-set Cookie header here.
		register(t, c, p.URL, "tls@example.com", goodPW)
		login(t, c, p.URL, "tls@example.com", goodPW)
		u, _ := url.Parse(p.URL)
		// The jar holds the session cookie and the login throttle's device
		// cookie (internal/server/device.go), nothing else.
		names := map[string]bool{}
		for _, c := range jar.Cookies(u) {
			names[c.Name] = true
		}
		if len(names) != 2 || !names[cookieName] || !names["__Host-authd_device"] {
			t.Fatalf("cookie jar after login = %v, want %s and __Host-authd_device", jar.Cookies(u), cookieName)
		}
		if code, si := whoami(t, c, p.URL, ""); code != http.StatusOK || si.User.Email != "tls@example.com" {
			t.Errorf("GET /v1/session with the jar's cookie = %d %+v, want 200 for tls@example.com", code, si)
		}
		p.terminate(t)
	})
}

// listSessionIDs returns the IDs GET /v1/sessions lists.
func listSessionIDs(t *testing.T, base, cookie string) map[string]bool {
	t.Helper()
	resp, body := call(t, testClient, "GET", base+"/v1/sessions", nil, cookie)
	wantStatus(t, resp, body, http.StatusOK)
	var out struct {
		Sessions []struct {
			ID string `json:"id"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET /v1/sessions: %v in %s", err, body)
	}
	ids := map[string]bool{}
	for _, s := range out.Sessions {
		ids[s.ID] = true
	}
	return ids
}

// selfSignedCert writes a self-signed ECDSA certificate for 127.0.0.1 and
// its key into dir and returns their paths and a pool trusting it.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
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
		Subject:               pkix.Name{CommonName: "authd test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
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
	cert, err := x509.ParseCertificate(der)
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
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
