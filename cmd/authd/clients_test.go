package main

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/authd/authd/client"
	"github.com/authd/authd/sqlitestore"
	"github.com/google/go-cmp/cmp"
)

var (
	clientIDLine     = regexp.MustCompile(`(?m)^client_id:\s+(\S+)$`)
	clientSecretLine = regexp.MustCompile(`(?m)^client_secret:\s+(\S+)$`)
)

// storedClient reads a client straight from the data dir's SQLite file.
func storedClient(t *testing.T, dataDir, id string) *client.Client {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(dataDir, "authd.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.ClientByID(context.Background(), id)
	if err != nil {
		t.Fatalf("ClientByID(%s) = %v", id, err)
	}
	return c
}

func addClient(t *testing.T, getenv map[string]string, args ...string) (out, id, secret string) {
	t.Helper()
	out, errOut, err := runCmd(t, getenv, "", append([]string{"client", "add"}, args...)...)
	if err != nil {
		t.Fatalf("client add %q = %v\nstderr:\n%s", args, err, errOut)
	}
	m := clientIDLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("client add %q printed no client_id:\n%s", args, out)
	}
	id = m[1]
	if m := clientSecretLine.FindStringSubmatch(out); m != nil {
		secret = m[1]
	}
	return out, id, secret
}

func TestClientAdmin(t *testing.T) {
	dir := t.TempDir()

	// No registration flag: a service, as `authd client add NAME` always
	// made, for introspection and the revocation feed.
	out, svcID, secret := addClient(t, nil, "notes", "--data-dir", dir)
	if secret == "" || !clientLine.MatchString(out) {
		t.Fatalf("client add (service) printed %q, want client_id then client_secret", out)
	}
	sum := sha256.Sum256([]byte(secret))
	want := &client.Client{ID: svcID, Name: "notes", SecretHash: sum[:], GrantTypes: []string{client.GrantClientCredentials}}
	got := storedClient(t, dir, svcID)
	want.CreatedAt = got.CreatedAt
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored service client (-want +got):\n%s", diff)
	}
	for _, s := range []string{"type:", "confidential", "grant types:", "client_credentials", "scopes:", "any"} {
		if !strings.Contains(out, s) {
			t.Errorf("client add (service) printed\n%s\nwant %q in it", out, s)
		}
	}

	// Every flag, before and after the name.
	out, appID, secret := addClient(t, nil,
		"--redirect-uri", "https://app.example/cb", "--data-dir", dir, "--first-party",
		"web app",
		"--redirect-uri", "http://127.0.0.1/cb",
		"--post-logout-redirect-uri", "https://app.example/bye",
		"--post-logout-redirect-uri", "https://app.example/",
		"--scopes", " openid  email ",
		"--grant-types", "authorization_code, refresh_token",
		"--backchannel-logout-uri", "https://app.example/bcl",
		"--id-token-alg", "ES256")
	if secret == "" {
		t.Errorf("client add (confidential app) printed no secret:\n%s", out)
	}
	sum = sha256.Sum256([]byte(secret))
	want = &client.Client{ID: appID, Name: "web app", SecretHash: sum[:], FirstParty: true,
		RedirectURIs:           []string{"https://app.example/cb", "http://127.0.0.1/cb"},
		PostLogoutRedirectURIs: []string{"https://app.example/bye", "https://app.example/"},
		Scopes:                 []string{"openid", "email"},
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		BackchannelLogoutURI:   "https://app.example/bcl", IDTokenAlg: "ES256"}
	got = storedClient(t, dir, appID)
	want.CreatedAt = got.CreatedAt
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored app (-want +got):\n%s", diff)
	}
	for _, s := range []string{"confidential, first-party", "https://app.example/cb", "http://127.0.0.1/cb",
		"https://app.example/bye", "openid email", "authorization_code refresh_token", "https://app.example/bcl", "ES256"} {
		if !strings.Contains(out, s) {
			t.Errorf("client add (app) printed\n%s\nwant %q in it", out, s)
		}
	}

	// A public client: no secret printed or stored, default grants.
	out, spaID, secret := addClient(t, nil, "--public", "spa", "--redirect-uri", "com.example.app:/cb", "--data-dir", dir)
	if secret != "" || strings.Contains(out, "secret") {
		t.Errorf("client add --public printed a secret:\n%s", out)
	}
	if got := storedClient(t, dir, spaID); !got.Public || got.SecretHash != nil || got.GrantTypes != nil {
		t.Errorf("stored public client = %+v, want public, no hash, default grants", got)
	}
	if !strings.Contains(out, "public") || !strings.Contains(out, "authorization_code refresh_token") {
		t.Errorf("client add --public printed\n%s\nwant the type and the default grants", out)
	}

	out = mustRun(t, "", "client", "list", "--data-dir", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "CLIENT_ID") {
		t.Fatalf("client list printed\n%s\nwant a header and 3 clients", out)
	}
	for id, cols := range map[string]string{
		svcID: "notes +confidential +no +\\S+ +-$",
		appID: "web app +confidential +yes +\\S+ +https://app\\.example/cb http://127\\.0\\.0\\.1/cb$",
		spaID: "spa +public +no +\\S+ +com\\.example\\.app:/cb$",
	} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(id) + ` +` + cols).MatchString(out) {
			t.Errorf("client list printed\n%s\nwant a row %s %s", out, id, cols)
		}
	}

	// Delete: the client goes, and a second delete says so.
	if out := mustRun(t, "", "client", "delete", spaID, "--data-dir", dir); out != "deleted client "+spaID+"\n" {
		t.Errorf("client delete printed %q", out)
	}
	if _, _, err := runCmd(t, nil, "", "client", "delete", spaID, "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "no such client") {
		t.Errorf("client delete (deleted) = %v, want \"no such client\"", err)
	}
	if out := mustRun(t, "", "client", "list", "--data-dir", dir); strings.Contains(out, spaID) {
		t.Errorf("client list after delete still shows %s:\n%s", spaID, out)
	}
}

// TestClientAddIgnoresEnvironment: a client's registration comes from
// its flags only; AUTHD_* variables left in the environment do not make
// every client public or widen its redirect URIs.
func TestClientAddIgnoresEnvironment(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"AUTHD_DATA_DIR":     dir, // still read: a store flag
		"AUTHD_PUBLIC":       "true",
		"AUTHD_FIRST_PARTY":  "true",
		"AUTHD_REDIRECT_URI": "https://evil.example/cb",
		"AUTHD_SCOPES":       "admin",
		"AUTHD_GRANT_TYPES":  "authorization_code",
		"AUTHD_ID_TOKEN_ALG": "EdDSA",
	}
	_, id, secret := addClient(t, env, "svc")
	got := storedClient(t, dir, id)
	if secret == "" || got.Public || got.FirstParty || got.RedirectURIs != nil || got.Scopes != nil || got.IDTokenAlg != "" ||
		!cmp.Equal(got.GrantTypes, []string{client.GrantClientCredentials}) {
		t.Errorf("client add with AUTHD_* registration variables = %+v, want a plain service client", got)
	}
}

func TestClientAddErrors(t *testing.T) {
	dir := t.TempDir()
	addClient(t, nil, "taken", "--data-dir", dir)
	tests := []struct {
		name  string
		args  []string
		want  string
		usage bool
	}{
		{"no name", []string{"client", "add", "--data-dir", dir}, "want 1 argument(s), got 0", true},
		{"two names", []string{"client", "add", "a", "b", "--data-dir", dir}, "want 1 argument(s), got 2", true},
		{"unknown subcommand", []string{"client", "rename", "a"}, "unknown subcommand", true},
		{"taken name", []string{"client", "add", "taken", "--data-dir", dir}, "a client with that name already exists", false},
		{"http redirect", []string{"client", "add", "a", "--redirect-uri", "http://app.example/cb", "--data-dir", dir}, "redirect_uris: \"http://app.example/cb\": http is allowed only on the loopback", false},
		{"localhost", []string{"client", "add", "a", "--redirect-uri", "http://localhost:8080/cb", "--data-dir", dir}, "not localhost", false},
		{"fragment", []string{"client", "add", "a", "--redirect-uri", "https://app.example/cb#x", "--data-dir", dir}, "fragment", false},
		{"public service", []string{"client", "add", "a", "--public", "--grant-types", "client_credentials", "--data-dir", dir}, "grant_types: a public client cannot use client_credentials", false},
		{"public without redirect", []string{"client", "add", "a", "--public", "--data-dir", dir}, "redirect_uris: a client using authorization_code needs at least one redirect URI", false},
		{"code without redirect", []string{"client", "add", "a", "--grant-types", "authorization_code", "--data-dir", dir}, "needs at least one redirect URI", false},
		{"unknown grant", []string{"client", "add", "a", "--grant-types", "implicit", "--data-dir", dir}, "unknown grant type \"implicit\"", false},
		{"bad scope", []string{"client", "add", "a", "--scopes", `a"b`, "--data-dir", dir}, "scope", false},
		{"bad alg", []string{"client", "add", "a", "--id-token-alg", "none", "--data-dir", dir}, "id_token_signed_response_alg", false},
		{"bad backchannel", []string{"client", "add", "a", "--backchannel-logout-uri", "http://app.example/bcl", "--data-dir", dir}, "backchannel_logout_uri", false},
		{"bad bool", []string{"client", "add", "a", "--public=maybe", "--data-dir", dir}, "public", true},
		{"unknown client", []string{"client", "delete", "c_nope", "--data-dir", dir}, "no such client", false},
		{"hostile id", []string{"client", "delete", "c_\x00", "--data-dir", dir}, "no such client", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCmd(t, nil, "", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
			if got := isUsage(err); got != tt.usage {
				t.Errorf("run(%q) is a usageError = %t, want %t", tt.args, got, tt.usage)
			}
			if out != "" {
				t.Errorf("run(%q) printed %q on stdout, want nothing", tt.args, out)
			}
		})
	}
	if out := mustRun(t, "", "client", "list", "--data-dir", dir); strings.Count(out, "\n") != 2 {
		t.Errorf("client list after refused registrations:\n%s\nwant only the one client", out)
	}
}
