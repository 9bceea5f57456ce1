package guard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/authd/authd/guard"
	"github.com/authd/authd/internal/authdtest"
)

// TestGuardKeyRevoke: `authd keys revoke KID` in another process reaches
// a running authd and a guard-protected service within a second: the
// key's tokens are refused (the one the guard had cached too), the
// session's refresh token gets a token from the new key, which the
// service accepts.
func TestGuardKeyRevoke(t *testing.T) {
	e := newEnv(t)
	g := e.guard(t, func(c *guard.Config) { c.JWKSMinRefresh = time.Minute }) // the revocation event, not the rate limit, must allow the fetch
	srv := service(g)
	defer srv.Close()
	access, refresh := e.api.Tokens(t, "alice@example.com", pw)
	if st, _ := call(t, srv, access, ""); st != http.StatusOK {
		t.Fatalf("before: %d", st)
	}
	old := kid(t, access)
	authdtest.Run(t, "", "keys", "revoke", old, "--data-dir", e.dir)
	revoked := time.Now()
	var atService, atAuthd time.Duration
	authdtest.Eventually(t, time.Second, func() error {
		if atService == 0 {
			if st, _ := call(t, srv, access, ""); st == http.StatusUnauthorized {
				atService = time.Since(revoked)
			}
		}
		if atAuthd == 0 {
			if st, _, _, err := e.api.Do(context.Background(), "GET", "/v1/user", "", "", access); err == nil && st == http.StatusUnauthorized {
				atAuthd = time.Since(revoked)
			}
		}
		if atService == 0 || atAuthd == 0 {
			return fmt.Errorf("the revoked key's token still accepted: at the service %v, at authd %v", atService == 0, atAuthd == 0)
		}
		return nil
	})
	t.Logf("keys revoke (another process) to 401: at the guarded service %v, at authd %v", atService, atAuthd)

	resp, err := http.PostForm(e.authd.URL+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tr)
	if resp.StatusCode != http.StatusOK || kid(t, tr.AccessToken) == old {
		t.Fatalf("refresh after the key revocation: %d, kid %s (revoked %s)", resp.StatusCode, kid(t, tr.AccessToken), old)
	}
	if st, h := call(t, srv, tr.AccessToken, ""); st != http.StatusOK {
		t.Errorf("the new key's token at the service: %d %s", st, h)
	}
	if st, _ := call(t, srv, access, ""); st != http.StatusUnauthorized {
		t.Errorf("the revoked key's token after the guard fetched the JWKS again: %d", st)
	}
}
