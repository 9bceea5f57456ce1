package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/authd/authd/internal/authdtest"
	"github.com/authd/authd/pgstore/pgtest"
)

// TestPostgresOutage stops the PostgreSQL server authd uses (a private one,
// stopped the hard way and started again) and checks that authd fails
// closed while it is gone and recovers by itself when it is back.
func TestPostgresOutage(t *testing.T) {
	pg := startPrivatePostgres(t)
	kek := make([]byte, 32)
	rand.Read(kek)
	node := authdtest.Start(t, "--database", pg.DSN, "--data-dir", t.TempDir(),
		"--key-encryption-key", base64.StdEncoding.EncodeToString(kek))
	api := authdtest.NewClient(node.URL)
	api.Register(t, "alice@example.com", pw)
	live := api.Login(t, "alice@example.com", pw)
	revoked := api.Login(t, "alice@example.com", pw)
	if st := status(t, api, "DELETE", "/v1/session", revoked, ""); st != http.StatusNoContent {
		t.Fatalf("logout: %d", st)
	}
	access, _ := api.Tokens(t, "alice@example.com", pw)

	ctx := context.Background()
	pg.Stop()

	// Past the one-second look-up cache, nothing that needs the store
	// succeeds: 503 with Retry-After, never a 200 for an unchecked session
	// and never a logout reported done.
	time.Sleep(1100 * time.Millisecond)
	checks := []struct {
		name         string
		method, path string
		body, cookie string
	}{
		{"live session", "GET", "/v1/session", "", live},
		{"revoked session", "GET", "/v1/session", "", revoked},
		{"logout", "DELETE", "/v1/session", "", live},
		{"login", "POST", "/v1/session", `{"email":"alice@example.com","password":"` + pw + `"}`, ""},
		{"readiness", "GET", "/readyz", "", ""},
	}
	for _, c := range checks {
		st, body, h, err := api.Do(ctx, c.method, c.path, c.body, c.cookie, "")
		if err != nil || st != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
			t.Errorf("%s while PostgreSQL is down: %d (Retry-After %q) %s %v; want 503 with Retry-After", c.name, st, h.Get("Retry-After"), body, err)
		}
	}
	if st := status(t, api, "GET", "/healthz", "", ""); st != 200 {
		t.Errorf("healthz while the store is down: %d, want 200 (the process is alive)", st)
	}

	// An access token verifies offline: the store is not needed for it.
	if st := status(t, api, "GET", "/v1/auth/check", "", access); st != 200 {
		t.Errorf("access token while PostgreSQL is down: %d, want 200 (verified offline)", st)
	}

	// Back up: service resumes without a restart, the revoked session
	// stays revoked, the live one (whose logout failed) stays live.
	pg.Start()
	authdtest.Eventually(t, 10*time.Second, func() error {
		if st := status(t, api, "GET", "/readyz", "", ""); st != 200 {
			return fmt.Errorf("readyz %d", st)
		}
		return nil
	})
	if st := status(t, api, "GET", "/v1/session", live, ""); st != 200 {
		t.Errorf("live session after recovery: %d", st)
	}
	if st := status(t, api, "GET", "/v1/session", revoked, ""); st != 401 {
		t.Errorf("revoked session after recovery: %d, want 401", st)
	}
}

// TestRedisOutage stops the Redis that holds the sessions: authd fails
// closed while it is gone and recovers by itself when it is back (with its
// data: this Redis persists to an append-only file, as production should).
func TestRedisOutage(t *testing.T) {
	requireTool(t, "/usr/bin/redis-server", "apt-get install redis-server")
	dir := t.TempDir()
	aof := []string{"--appendonly", "yes", "--appendfsync", "always"}
	redis := startRedisProcess(t, dir, "", aof...)
	port := redis.Port

	kek := make([]byte, 32)
	rand.Read(kek)
	node := authdtest.Start(t, "--database", pgtest.NewDatabase(t), "--redis", "redis://127.0.0.1:"+port,
		"--data-dir", t.TempDir(), "--key-encryption-key", base64.StdEncoding.EncodeToString(kek))
	api := authdtest.NewClient(node.URL)
	api.Register(t, "alice@example.com", pw)
	live := api.Login(t, "alice@example.com", pw)
	revoked := api.Login(t, "alice@example.com", pw)
	if st := status(t, api, "DELETE", "/v1/session", revoked, ""); st != http.StatusNoContent {
		t.Fatalf("logout: %d", st)
	}

	redis.Kill()
	time.Sleep(1100 * time.Millisecond) // past the look-up cache
	ctx := context.Background()
	for _, c := range []struct{ name, method, path, cookie string }{
		{"live session", "GET", "/v1/session", live},
		{"revoked session", "GET", "/v1/session", revoked},
		{"logout", "DELETE", "/v1/session", live},
		{"readiness", "GET", "/readyz", ""},
	} {
		st, body, h, err := api.Do(ctx, c.method, c.path, "", c.cookie, "")
		if err != nil || st != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
			t.Errorf("%s while Redis is down: %d %s %v; want 503 with Retry-After", c.name, st, body, err)
		}
	}

	redis = startRedisProcess(t, dir, port, aof...)
	authdtest.Eventually(t, 10*time.Second, func() error {
		if st := status(t, api, "GET", "/v1/session", live, ""); st != 200 {
			return fmt.Errorf("live session: %d", st)
		}
		return nil
	})
	if st := status(t, api, "GET", "/v1/session", revoked, ""); st != 401 {
		t.Errorf("revoked session after Redis came back: %d, want 401", st)
	}
	if st := status(t, api, "GET", "/readyz", "", ""); st != 200 {
		t.Errorf("readyz after recovery: %d", st)
	}
}
