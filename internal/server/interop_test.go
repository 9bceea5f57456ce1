package server_test

// Interoperability: authd's token endpoints and access tokens as seen by
// clients and verifiers that know nothing about authd — golang.org/x/oauth2
// and Node's jose — over a real HTTP server.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// The harness clock is fake but starts at the real time and only moves
// when a test advances it. The interop tests never advance it, so the
// tokens' iat and exp agree with the wall clock that x/oauth2 and jose use.

func TestInteropGoOAuth2(t *testing.T) {
	h := newHarness(t, options{noThrottle: true})
	uid := h.register("alice@example.com")
	srv := httptest.NewServer(h.srv)
	defer srv.Close()

	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	cfg := &oauth2.Config{
		ClientID: "authd",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams},
	}

	// A wrong password is an RFC 6749 error the library understands.
	_, err := cfg.PasswordCredentialsToken(ctx, "alice@example.com", "not the password")
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.Response.StatusCode != http.StatusBadRequest {
		t.Fatalf("wrong password: err = %v, want a RetrieveError with invalid_grant", err)
	}

	before := time.Now()
	tok, err := cfg.PasswordCredentialsToken(ctx, "alice@example.com", testPassword)
	if err != nil {
		t.Fatalf("PasswordCredentialsToken: %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Type() != "Bearer" || !tok.Valid() {
		t.Fatalf("token = %+v", tok)
	}
	if lo, hi := before.Add(590*time.Second), time.Now().Add(601*time.Second); tok.Expiry.Before(lo) || tok.Expiry.After(hi) {
		t.Errorf("expiry %v, want about ten minutes from now", tok.Expiry)
	}
	if s, _ := tok.Extra("scope").(string); s != "read write" {
		t.Errorf("scope = %q, want \"read write\"", s)
	}
	sid := claimsOf(t, tok.AccessToken).Sid

	// A token source holding an expired token refreshes it through the
	// refresh_token grant.
	ts := cfg.TokenSource(ctx, &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken,
		TokenType: tok.TokenType, Expiry: time.Now().Add(-time.Minute)})
	fresh, err := ts.Token()
	if err != nil {
		t.Fatalf("refresh through the TokenSource: %v", err)
	}
	if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken || !fresh.Valid() {
		t.Fatalf("refreshed token = %+v, want a new pair", fresh)
	}
	if c := claimsOf(t, fresh.AccessToken); c.Sid != sid || c.Sub != uid {
		t.Errorf("refreshed token claims = %+v, want session %s of %s", c, sid, uid)
	}
	// Still valid: the source hands it out again without a request.
	again, err := ts.Token()
	if err != nil || again.AccessToken != fresh.AccessToken {
		t.Errorf("second Token() = %v, %v; want the cached token", again, err)
	}

	// The library's client sends it as a bearer token to /v1/*.
	resp, err := oauth2.NewClient(ctx, ts).Get(srv.URL + "/v1/user")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	wantStatus(t, "GET /v1/user with the refreshed token", resp, http.StatusOK)
	if u := decode[struct{ ID, Email string }](t, resp); u.ID != uid || u.Email != "alice@example.com" {
		t.Errorf("GET /v1/user = %+v", u)
	}

	// A source whose refresh token was rotated away, long after the
	// grace window, is reuse: the library surfaces invalid_grant.
	h.clock.Advance(11 * time.Second)
	stale := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)})
	if _, err := stale.Token(); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("reused refresh token: err = %v, want invalid_grant", err)
	}
}

// interopDir returns a directory holding verify.mjs with jose installed:
// testdata/interop itself when a developer ran npm ci there, otherwise a
// temporary copy where the test runs npm ci (so a test run never writes
// to the source tree).
func interopDir(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed, and CI=true: the jose interop test must run in CI", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	src, err := filepath.Abs(filepath.Join("testdata", "interop"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(src, "node_modules", "jose", "package.json")); err == nil {
		return src
	}
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "verify.mjs"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	return dir
}

// runVerify runs verify.mjs and returns its stdout, stderr and whether it
// exited 0.
func runVerify(t *testing.T, dir string, args ...string) (string, string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{"verify.mjs"}, args...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("node verify.mjs timed out; stderr %s", stderr.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("node verify.mjs: %v", err)
	}
	return stdout.String(), stderr.String(), err == nil
}

func TestInteropJoseVerifiesAccessTokens(t *testing.T) {
	dir := interopDir(t)
	h := newHarness(t, options{noThrottle: true})
	uid := h.register("alice@example.com")
	srv := httptest.NewServer(h.srv)
	defer srv.Close()
	jwksURL := srv.URL + "/.well-known/jwks.json"

	p := h.passwordToken("alice@example.com", "scope", "read")
	sid := claimsOf(t, p.AccessToken).Sid

	out, stderr, ok := runVerify(t, dir, jwksURL, p.AccessToken, issuerURL, "authd")
	if !ok {
		t.Fatalf("jose refused an authd access token: %s", stderr)
	}
	var payload map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &payload); err != nil {
		t.Fatalf("verify.mjs output %q: %v", out, err)
	}
	for k, v := range map[string]any{"sub": uid, "sid": sid, "iss": issuerURL, "aud": "authd", "client_id": "authd", "scope": "read"} {
		if payload[k] != v {
			t.Errorf("payload[%q] = %v, want %v (payload %s)", k, payload[k], v, out)
		}
	}

	// Forgeries and misuse are refused by jose too.
	parts := strings.Split(p.AccessToken, ".")
	c := claimsOf(t, p.AccessToken)
	c.Sub = "someone-else"
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(mustJSON(t, c)) + "." + parts[2]
	hdr := jwtPart[map[string]any](t, p.AccessToken, 0)
	hdr["typ"] = "JWT"
	retyped := base64.RawURLEncoding.EncodeToString(mustJSON(t, hdr)) + "." + parts[1] + "." + parts[2]
	for _, tt := range []struct {
		name, token, issuer, audience string
	}{
		{"tampered payload", tampered, issuerURL, "authd"},
		{"typ changed", retyped, issuerURL, "authd"},
		{"wrong audience", p.AccessToken, issuerURL, "someone-else"},
		{"wrong issuer", p.AccessToken, srv.URL, "authd"},
		{"refresh token", p.RefreshToken, issuerURL, "authd"},
	} {
		out, stderr, ok := runVerify(t, dir, jwksURL, tt.token, tt.issuer, tt.audience)
		if ok {
			t.Errorf("%s: jose accepted it: %s", tt.name, out)
		} else if strings.TrimSpace(stderr) == "" {
			t.Errorf("%s: refused without a reason", tt.name)
		} else {
			t.Logf("%s: jose refused it: %s", tt.name, strings.TrimSpace(stderr))
		}
	}
	// And authd agrees about the tampered token.
	wantStatus(t, "tampered token on /v1/user", h.do(req{method: "GET", path: "/v1/user", header: bearer(tampered)}), http.StatusUnauthorized)
}
