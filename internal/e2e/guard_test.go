package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/authd/authd/guard"
	"github.com/authd/authd/internal/authdtest"
)

// toInstance sends every request, whatever its URL, to one instance: the
// guard below knows authd only by its public issuer URL, as behind a load
// balancer.
type toInstance struct{ addr string }

func (ti toInstance) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = "http", ti.addr
	return http.DefaultTransport.RoundTrip(r)
}

// checkGuardAcrossInstances: a resource server whose guard follows
// instance B's revocation feed (and fetched its keys from B) refuses, within
// a second, the access token of a session revoked through instance C, and
// accepts it until then. Any instance can serve the feed.
func checkGuardAcrossInstances(t *testing.T, c *cluster) {
	t.Helper()
	var adminArgs []string // the store and KEK, for `authd client add`
	for i := 0; i+1 < len(c.args); i++ {
		if c.args[i] == "--database" || c.args[i] == "--key-encryption-key" {
			adminArgs = append(adminArgs, c.args[i], c.args[i+1])
		}
	}
	out := authdtest.Run(t, "", append([]string{"client", "add", "notes", "--data-dir", t.TempDir()}, adminArgs...)...)
	m := regexp.MustCompile(`client_id:\s+(\S+)\s+client_secret:\s+(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("client add printed %q", out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := guard.New(ctx, guard.Config{
		Issuer: "https://auth.example.test", Audience: "authd", ClientID: m[1], ClientSecret: m[2],
		HTTPClient: &http.Client{Transport: toInstance{c.addrs[1]}, Timeout: 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	authdtest.Eventually(t, 5*time.Second, func() error {
		if !g.FeedFresh() {
			return errors.New("feed from B not ready")
		}
		return nil
	})
	svc := httptest.NewServer(g.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	defer svc.Close()
	get := func(bearer string) int {
		req, _ := http.NewRequest("GET", svc.URL, nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	access, _ := c.apis[0].Tokens(t, "alice@example.com", pw) // issued by A
	if st := get(access); st != http.StatusOK {
		t.Fatalf("guard following B, token from A: %d, want 200", st)
	}
	if st := status(t, c.apis[2], "DELETE", "/v1/session", "", access); st != http.StatusNoContent {
		t.Fatalf("logout on C: %d", st)
	}
	took := authdtest.Eventually(t, time.Second, func() error {
		if st := get(access); st != http.StatusUnauthorized {
			return fmt.Errorf("guard answered %d", st)
		}
		return nil
	})
	t.Logf("session revoked on C refused by a guard following B's feed after %s", took)
}
