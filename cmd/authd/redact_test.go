package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authd/authd/pgstore/pgtest"
)

// TestStoreURLPasswordNeverPrinted: a store password holding characters
// that end URL parts ("?", "#", "/", "@", ":") is printed neither by a
// failing start (errors quote the URL) nor by a working one (the start-up
// log names the store), nor by `authd migrate`.
func TestStoreURLPasswordNeverPrinted(t *testing.T) {
	failing := []struct {
		name, flag, url, secret string
	}{
		{"postgres ?#", "--database", "postgres://authd:hu?nt#er2@127.0.0.1:1/authd", "hu?nt#er2"},
		{"postgres @ and :", "--database", "postgres://authd:p:a@ss@127.0.0.1:1/authd", "p:a@ss"},
		{"postgres bad port", "--database", "postgres://authd:se/cr?et@127.0.0.1:54x/authd", "se/cr?et"},
		{"postgresql query", "--database", "postgresql://127.0.0.1:1/authd?user=authd&password=hu#nt?er2", "hu#nt?er2"},
		{"postgres unknown scheme", "--database", "postgress://authd:hu?nt#er2@127.0.0.1:1/authd", "hu?nt#er2"},
		{"redis ?#", "--redis", "redis://default:hu?nt#er2@127.0.0.1:1/0", "hu?nt#er2"},
		{"redis lone", "--redis", "redis://hu/nt@er2@127.0.0.1:1", "hu/nt@er2"},
		{"rediss escaped", "--redis", "rediss://default:hu%3Fnt%23er2@127.0.0.1:1", "hu%3Fnt%23er2"},
		{"sentinel", "--redis", "redis-sentinel://:hu?nt#er2@127.0.0.1:1,127.0.0.1:2/mymaster", "hu?nt#er2"},
		{"cluster", "--redis", "redis-cluster://u:hu?nt#er2@127.0.0.1:1,127.0.0.1:2", "hu?nt#er2"},
	}
	for _, tt := range failing {
		t.Run(tt.name, func(t *testing.T) {
			args := serveArgs(filepath.Join(t.TempDir(), "data"), tt.flag, tt.url)
			stdout, stderr, err := runCmd(t, nil, "", append([]string{"serve"}, args...)...)
			if err == nil {
				t.Fatalf("serve %s %s succeeded, want an error", tt.flag, tt.url)
			}
			for _, out := range []string{err.Error(), stdout, stderr} {
				for _, leak := range leaks(tt.secret) {
					if strings.Contains(out, leak) {
						t.Errorf("serve %s %s printed %q:\n%s", tt.flag, tt.url, leak, out)
					}
				}
			}
		})
	}

	// A real PostgreSQL (trust authentication: any password is accepted)
	// and a password that pgx takes unescaped.
	t.Run("postgres start-up log", func(t *testing.T) {
		if os.Getenv(pgtest.EnvDSN) == "" && os.Getenv("CI") != "true" {
			t.Skip("set AUTHD_TEST_POSTGRES to run against PostgreSQL")
		}
		const secret = "hu?nt#er:2"
		dsn := pgtest.NewDatabase(t)
		_, rest, ok := strings.Cut(dsn, "://")
		at := strings.LastIndexByte(rest, '@')
		if !ok || at < 0 {
			t.Fatalf("AUTHD_TEST_POSTGRES %q: want postgres://USER@HOST/…", dsn)
		}
		user, _, _ := strings.Cut(rest[:at], ":")
		hostile := "postgres://" + user + ":" + secret + "@" + rest[at+1:]

		out := mustRun(t, "", "migrate", "--data-dir", filepath.Join(t.TempDir(), "data"), "--database", hostile)
		if strings.Contains(out, "hu?nt") || !strings.Contains(out, user+":REDACTED@") {
			t.Errorf("authd migrate printed %q, want the store with its password REDACTED", out)
		}
		kek := base64.StdEncoding.EncodeToString(make([]byte, 32)) // a shared database needs one
		srv := startServer(t, nil, serveArgs(filepath.Join(t.TempDir(), "data"), "--database", hostile, "--log-format", "json",
			"--key-encryption-key", kek, "--issuer", "https://authd.example")...)
		if err := srv.stop(t); err != nil {
			t.Fatalf("serve: %v", err)
		}
		logs := srv.stdout.String() + srv.stderr.String()
		for _, leak := range leaks(secret) {
			if strings.Contains(logs, leak) {
				t.Errorf("serve printed %q:\n%s", leak, logs)
			}
		}
		if store, _ := startupFields(t, srv.stderr.String())["store"].(string); !strings.Contains(store, user+":REDACTED@") {
			t.Errorf("start-up log store = %q, want the URL with the password REDACTED", store)
		}
	})
}

// leaks are the pieces of secret whose presence in output is a leak: the
// whole and each part between URL delimiters longer than two bytes.
func leaks(secret string) []string {
	out := []string{secret}
	for _, part := range strings.FieldsFunc(secret, func(r rune) bool { return strings.ContainsRune("?#/@:%", r) }) {
		if len(part) > 2 {
			out = append(out, part)
		}
	}
	return out
}
