package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/authdtest"
)

// nginxConf is the forward-auth configuration documented in
// docs/forward-auth.md, with the test's ports.
const nginxConf = `
worker_processes 1;
daemon off;
pid {{DIR}}/nginx.pid;
error_log {{DIR}}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path {{DIR}}/body;
  proxy_temp_path {{DIR}}/proxy;
  fastcgi_temp_path {{DIR}}/fastcgi;
  uwsgi_temp_path {{DIR}}/uwsgi;
  scgi_temp_path {{DIR}}/scgi;

  upstream authd { server {{AUTHD}}; keepalive 16; }
  upstream app   { server {{APP}}; }

  server {
    listen {{LISTEN}};
    absolute_redirect off;

    # authd's own endpoints and pages, on the same origin as the app.
    location ~ ^/(v1|oauth2|static|account)/ { proxy_pass http://authd; proxy_set_header Host $host; }
    location ~ ^/(login|register|account|logout)$ { proxy_pass http://authd; proxy_set_header Host $host; }

    location = /_authd {
      internal;
      proxy_pass http://authd/v1/auth/check;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Host $host;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }

    location / {
      auth_request /_authd;
      auth_request_set $authd_user    $upstream_http_x_authd_user;
      auth_request_set $authd_session $upstream_http_x_authd_session;
      auth_request_set $authd_scope   $upstream_http_x_authd_scope;
      auth_request_set $authd_kind    $upstream_http_x_authd_kind;
      # Set, never pass through: a client cannot claim to be someone.
      proxy_set_header X-Authd-User    $authd_user;
      proxy_set_header X-Authd-Session $authd_session;
      proxy_set_header X-Authd-Scope   $authd_scope;
      proxy_set_header X-Authd-Kind    $authd_kind;
      error_page 401 = @unauthenticated;
      proxy_pass http://app;
    }

    # authd builds the answer: 302 to the login page for a browser (with
    # return_to escaped), 401 with the Bearer challenge for anything else.
    location @unauthenticated {
      rewrite ^ /v1/auth/check?redirect=login break;
      proxy_pass http://authd;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-Uri $request_uri;
    }
  }
}
`

// caddyFile is the Caddy configuration documented in docs/forward-auth.md,
// with the test's ports (plain HTTP, no admin endpoint).
const caddyFile = `
{
	admin off
	auto_https off
}
http://{{LISTEN}} {
	# authd's own endpoints and pages, on the same origin as the app.
	@authd path /v1/* /oauth2/* /static/* /account/* /login /register /account /logout
	handle @authd {
		reverse_proxy {{AUTHD}}
	}
	handle {
		# route: run in the order written. The client's own X-Authd-*
		# headers go first, whatever forward_auth copies afterwards.
		route {
			request_header -X-Authd-*
			forward_auth {{AUTHD}} {
				# forward_auth copies any non-2xx answer back to the client:
				# with redirect=login, authd's answer is a 302 to the login
				# page for a browser (return_to from X-Forwarded-Uri) and a
				# 401 with its Bearer challenge for anything else.
				uri /v1/auth/check?redirect=login
				copy_headers X-Authd-User X-Authd-Session X-Authd-Scope X-Authd-Kind
			}
			reverse_proxy {{APP}}
		}
	}
}
`

func TestCaddyForwardAuth(t *testing.T) {
	requireTool(t, "/usr/bin/caddy", "apt-get install caddy")
	fa := startForwardAuthParts(t)
	dir := t.TempDir()
	listen := freePort(t)
	conf := strings.NewReplacer("{{AUTHD}}", fa.authdAddr, "{{APP}}", fa.appAddr, "{{LISTEN}}", listen).Replace(caddyFile)
	confPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	caddy := exec.Command("/usr/bin/caddy", "run", "--config", confPath, "--adapter", "caddyfile")
	// Caddy keeps state under $HOME / XDG dirs: keep it in the test's.
	caddy.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	var logs strings.Builder
	caddy.Stdout, caddy.Stderr = &logs, &logs
	if err := caddy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		caddy.Process.Kill()
		caddy.Wait()
		if t.Failed() {
			t.Logf("caddy output:\n%s", logs.String())
		}
	})
	fa.check(t, "http://"+listen)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func requireTool(t *testing.T, path, how string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing under CI: %s", path, how)
		}
		t.Skipf("%s not found: %s (bash .ci/run does)", path, how)
	}
}

func TestNginxForwardAuth(t *testing.T) {
	requireTool(t, "/usr/sbin/nginx", "apt-get install nginx")
	fa := startForwardAuthParts(t)
	dir := t.TempDir()
	listen := freePort(t)
	conf := strings.NewReplacer("{{DIR}}", dir, "{{AUTHD}}", fa.authdAddr,
		"{{APP}}", fa.appAddr, "{{LISTEN}}", listen).Replace(nginxConf)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	nginx := exec.Command("/usr/sbin/nginx", "-c", confPath, "-p", dir, "-e", filepath.Join(dir, "error.log"))
	nginx.Stderr = os.Stderr
	if err := nginx.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nginx.Process.Kill(); nginx.Wait() })
	fa.check(t, "http://"+listen)
}

// forwardAuthParts are the pieces behind a proxy under test: a real authd
// with one registered user, and an upstream app that records the headers
// the proxy passed it.
type forwardAuthParts struct {
	authdAddr, appAddr string
	api                *authdtest.Client
	seen               chan http.Header
}

func startForwardAuthParts(t *testing.T) *forwardAuthParts {
	t.Helper()
	authd := authdtest.Start(t, "--data-dir", t.TempDir())
	api := authdtest.NewClient(authd.URL)
	api.Register(t, "alice@example.com", "correct horse battery staple")
	seen := make(chan http.Header, 16)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		fmt.Fprintf(w, "hello %s\n", r.Header.Get("X-Authd-User"))
	}))
	t.Cleanup(app.Close)
	return &forwardAuthParts{
		authdAddr: strings.TrimPrefix(authd.URL, "http://"),
		appAddr:   strings.TrimPrefix(app.URL, "http://"),
		api:       api, seen: seen,
	}
}

// check runs the forward-auth acceptance checks through the proxy at base:
// no credentials → 401 (Bearer challenge); a browser → 302 to the login
// page with return_to; a forged X-Authd-User is never believed; a cookie
// and a token both reach the app with the same identity; a revoked session
// is refused within a second.
func (fa *forwardAuthParts) check(t *testing.T, base string) {
	t.Helper()
	api, seen := fa.api, fa.seen
	authdtest.Eventually(t, 10*time.Second, func() error {
		resp, err := http.Get(base + "/v1/auth/check")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 5 * time.Second}
	get := func(path string, h map[string]string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}

	// authd's pages and their assets are reachable through the proxy.
	if resp, body := get("/login?return_to=/notes", map[string]string{"Accept": "text/html"}); resp.StatusCode != http.StatusOK || !strings.Contains(body, "<form") {
		t.Errorf("GET /login through the proxy: %d, want 200 with the form", resp.StatusCode)
	}
	if resp, _ := get("/static/style.css", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /static/style.css through the proxy: %d, want 200", resp.StatusCode)
	}

	resp, _ := get("/notes", nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no credentials: %d %q, want 401 Bearer", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp, _ = get("/notes?x=1&y=2", map[string]string{"Accept": "text/html,application/xhtml+xml"})
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc == nil || loc.Path != "/login" || loc.Query().Get("return_to") != "/notes?x=1&y=2" {
		t.Errorf("browser without credentials: %d Location %q, want 302 to the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = get("/notes", map[string]string{"X-Authd-User": "admin"})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged X-Authd-User without credentials: %d, want 401", resp.StatusCode)
	}

	cookie := api.Login(t, "alice@example.com", "correct horse battery staple")
	access, _ := api.Tokens(t, "alice@example.com", "correct horse battery staple")
	var userID string
	for name, h := range map[string]map[string]string{
		"cookie": {"Cookie": "__Host-authd_session=" + cookie, "X-Authd-User": "admin", "X-Authd-Kind": "forged", "X-Authd-Scope": "admin", "X-Authd-Session": "forged"},
		"token":  {"Authorization": "Bearer " + access, "X-Authd-Kind": "forged", "X-Authd-Scope": "admin"},
	} {
		resp, body := get("/notes", h)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", name, resp.StatusCode, body)
		}
		up := <-seen
		if up.Get("X-Authd-User") == "" || up.Get("X-Authd-User") == "admin" || up.Get("X-Authd-Session") == "" || up.Get("X-Authd-Session") == "forged" {
			t.Errorf("%s: upstream saw X-Authd-User %q, X-Authd-Session %q", name, up.Get("X-Authd-User"), up.Get("X-Authd-Session"))
		}
		if up.Get("X-Authd-Kind") != name || up.Get("X-Authd-Scope") != "read write" {
			t.Errorf("%s: upstream saw X-Authd-Kind %q, X-Authd-Scope %q; want authd's %q, %q", name, up.Get("X-Authd-Kind"), up.Get("X-Authd-Scope"), name, "read write")
		}
		if userID != "" && up.Get("X-Authd-User") != userID {
			t.Errorf("%s: user %q, the other transport said %q", name, up.Get("X-Authd-User"), userID)
		}
		userID = up.Get("X-Authd-User")
	}

	// Revoked sessions are refused within a second, cookie and token.
	for name, cred := range map[string][2]string{"cookie": {cookie, ""}, "bearer": {"", access}} {
		st, _, _, err := api.Do(context.Background(), "DELETE", "/v1/session", "", cred[0], cred[1])
		if err != nil || st != http.StatusNoContent {
			t.Fatalf("%s logout: %d %v", name, st, err)
		}
		h := map[string]string{"Cookie": "__Host-authd_session=" + cred[0]}
		if cred[1] != "" {
			h = map[string]string{"Authorization": "Bearer " + cred[1]}
		}
		took := authdtest.Eventually(t, time.Second, func() error {
			if resp, _ := get("/notes", h); resp.StatusCode != http.StatusUnauthorized {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		})
		t.Logf("%s revocation refused by the proxy after %s", name, took)
	}
}
