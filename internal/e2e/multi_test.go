package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/internal/authdtest"
	"github.com/authd/authd/pgstore/pgtest"
)

const pw = "correct horse battery staple"

// cluster is three authd instances sharing one store.
type cluster struct {
	args  []string
	addrs [3]string
	nodes [3]*authdtest.Instance
	apis  [3]*authdtest.Client
}

func (c *cluster) start(t *testing.T, i int) {
	t.Helper()
	c.nodes[i] = authdtest.Start(t, append([]string{"--addr", c.addrs[i], "--data-dir", t.TempDir()}, c.args...)...)
	c.apis[i] = authdtest.NewClient(c.nodes[i].URL)
}

func newCluster(t *testing.T, extra ...string) *cluster {
	t.Helper()
	kek := make([]byte, 32)
	rand.Read(kek)
	c := &cluster{args: append([]string{"--database", pgtest.NewDatabase(t),
		"--key-encryption-key", base64.StdEncoding.EncodeToString(kek),
		// Every instance must name the same issuer behind a load balancer.
		"--issuer", "https://auth.example.test"}, extra...)}
	for i := range c.nodes {
		c.addrs[i] = freePort(t)
		c.start(t, i)
	}
	return c
}

func status(t *testing.T, api *authdtest.Client, method, path, cookie, bearer string) int {
	t.Helper()
	st, _, _, err := api.Do(context.Background(), method, path, "", cookie, bearer)
	if err != nil {
		return -1
	}
	return st
}

func refresh(api *authdtest.Client, token string) (int, error) {
	resp, err := api.HTTP.PostForm(api.Base+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}})
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestMultiInstance: no sticky sessions. Anything obtained on one instance
// works on the others; a revocation on one reaches the others within a
// second; an instance killed under load costs the others nothing; state
// survives a restart of all three.
func TestMultiInstance(t *testing.T) {
	modes := []struct {
		name  string
		extra func(t *testing.T) []string
	}{
		{"postgres", func(*testing.T) []string { return nil }},
	}
	modes = append(modes, redisModes()...)
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) { testMultiInstance(t, mode.extra(t)) })
	}
}

func testMultiInstance(t *testing.T, extra []string) {
	c := newCluster(t, extra...)
	a, b, cc := c.apis[0], c.apis[1], c.apis[2]
	a.Register(t, "alice@example.com", pw)

	// Obtained on A, valid on B and C.
	cookie := a.Login(t, "alice@example.com", pw)
	access, refreshTok := a.Tokens(t, "alice@example.com", pw)
	for i, api := range []*authdtest.Client{b, cc} {
		if st := status(t, api, "GET", "/v1/session", cookie, ""); st != 200 {
			t.Fatalf("cookie from A on instance %d: %d", i+1, st)
		}
		if st := status(t, api, "GET", "/v1/user", "", access); st != 200 {
			t.Fatalf("access token from A on instance %d: %d", i+1, st)
		}
	}
	if st, err := refresh(cc, refreshTok); err != nil || st != 200 {
		t.Fatalf("refresh token from A redeemed on C: %d %v", st, err)
	}

	// Revoked on C, refused on A and B within a second.
	for name, cred := range map[string][2]string{"cookie": {cookie, ""}, "access token": {"", access}} {
		if st := status(t, cc, "DELETE", "/v1/session", cred[0], cred[1]); st != http.StatusNoContent {
			t.Fatalf("%s logout on C: %d", name, st)
		}
		took := authdtest.Eventually(t, time.Second, func() error {
			for i, api := range []*authdtest.Client{a, b} {
				// /v1/user: for a bearer token this is offline verification
				// plus the in-memory revocation set, no session read.
				if st := status(t, api, "GET", "/v1/user", cred[0], cred[1]); st != http.StatusUnauthorized {
					return fmt.Errorf("%s on instance %d: %d", name, i, st)
				}
			}
			return nil
		})
		t.Logf("%s revoked on C refused on A and B after %s", name, took)
	}

	checkGuardAcrossInstances(t, c)

	// kill -9 of A under load: B and C keep serving every session.
	var live []string
	for range 4 {
		live = append(live, a.Login(t, "alice@example.com", pw))
	}
	liveToken, _ := a.Tokens(t, "alice@example.com", pw)
	var failures, requests atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			api := []*authdtest.Client{b, cc}[w%2]
			for {
				select {
				case <-stop:
					return
				default:
				}
				requests.Add(1)
				if status(t, api, "GET", "/v1/session", live[w%len(live)], "") != 200 ||
					status(t, api, "GET", "/v1/user", "", liveToken) != 200 {
					failures.Add(1)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	c.nodes[0].Kill()
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()
	if f := failures.Load(); f != 0 || requests.Load() == 0 {
		t.Errorf("while A was killed: %d of %d request pairs on B and C failed", f, requests.Load())
	}

	// Revoke one more, then restart all three: live stays live, revoked
	// stays revoked.
	if st := status(t, b, "DELETE", "/v1/session", live[0], ""); st != http.StatusNoContent {
		t.Fatalf("logout on B: %d", st)
	}
	for i := range c.nodes {
		c.nodes[i].Kill()
	}
	for i := range c.nodes {
		c.start(t, i)
	}
	for i, api := range c.apis {
		for j, s := range live {
			want := 200
			if j == 0 {
				want = 401
			}
			if st := status(t, api, "GET", "/v1/session", s, ""); st != want {
				t.Errorf("after restart, session %d on instance %d: %d, want %d", j, i, st, want)
			}
		}
		if st := status(t, api, "GET", "/v1/session", cookie, ""); st != 401 {
			t.Errorf("after restart, the session revoked first on instance %d: %d, want 401", i, st)
		}
		if st := status(t, api, "GET", "/v1/user", "", access); st != 401 {
			t.Errorf("after restart, the revoked access token on instance %d: %d, want 401", i, st)
		}
		if st := status(t, api, "GET", "/v1/user", "", liveToken); st != 200 {
			t.Errorf("after restart, the live access token on instance %d: %d, want 200", i, st)
		}
	}
}
