package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// The mail configuration of serve and the operator's side of verified
// addresses (the flows themselves: email_e2e_test.go, email_browser_test.go).

func TestRequireVerifiedEmail(t *testing.T) {
	dataDir := t.TempDir()
	s := startServer(t, nil, serveArgs(dataDir, "--require-verified-email")...)
	register(t, testClient, s.URL, "self@example.com", goodPW)
	if got := loginStatus(t, testClient, s.URL, "self@example.com", goodPW); got != http.StatusForbidden {
		t.Errorf("login with an unverified address = %d, want 403", got)
	}
	// The operator vouches for an address.
	out := mustRun(t, goodPW+"\n", append(append([]string{"user", "add", "--verified", "--data-dir", dataDir}, cheapArgon2...), "ops@example.com")...)
	if !strings.Contains(out, "address verified") {
		t.Errorf("user add --verified printed %q", out)
	}
	ck := login(t, testClient, s.URL, "ops@example.com", goodPW)
	resp, body := call(t, testClient, "GET", s.URL+"/v1/user", nil, ck)
	wantStatus(t, resp, body, http.StatusOK)
	if !strings.Contains(string(body), `"email_verified":true`) {
		t.Errorf("GET /v1/user = %s, want email_verified true", body)
	}
	// Imports too.
	mustRun(t, "", "user", "add", "--verified", "--data-dir", dataDir, "--password-hash",
		"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "imported@example.com")
	mustRun(t, "", "user", "add", "--data-dir", dataDir, "--password-hash",
		"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "unverified@example.com")
	list := mustRun(t, "", "user", "list", "--data-dir", dataDir)
	for _, e := range []string{"imported@example.com", "unverified@example.com"} {
		if !strings.Contains(list, e) {
			t.Errorf("user list lacks %s:\n%s", e, list)
		}
	}
}

func TestMailConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"from with a line break", []string{"--mail-from", "a@example.com\r\nBcc: x@example.com"}, "--mail-from"},
		{"from not an address", []string{"--mail-from", "not an address"}, "--mail-from"},
		{"unknown smtp scheme", []string{"--smtp-url", "http://mail.example.com"}, "--smtp-url"},
		{"insecure off loopback", []string{"--smtp-url", "smtp://mail.example.com:25?insecure=1"}, "--smtp-url"},
		{"templates dir missing", []string{"--mail-templates", "/nonexistent/authd-templates"}, "--mail-templates"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stderr syncBuffer
			err := run(context.Background(), append([]string{"serve"}, serveArgs(t.TempDir(), tt.args...)...), env(nil), strings.NewReader(""), &syncBuffer{}, &stderr)
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("serve %q = %v, want a usage error naming %s", tt.args, err, tt.want)
			}
		})
	}
}

// TestMailConfigNoSecrets: the SMTP password is not in the startup log.
func TestMailConfigNoSecrets(t *testing.T) {
	s := startServer(t, nil, serveArgs(t.TempDir(), "--smtp-url", "smtp://mailer:Sup3rS3cretPw@127.0.0.1:1?insecure=1", "--log-format", "json")...)
	if strings.Contains(s.stderr.String(), "Sup3rS3cretPw") {
		t.Errorf("the SMTP password is in the log:\n%s", s.stderr.String())
	}
	if !strings.Contains(s.stderr.String(), "127.0.0.1:1") {
		t.Errorf("the log does not say where mail goes:\n%s", s.stderr.String())
	}
}
