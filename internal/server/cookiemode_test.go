package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/server"
)

func refreshCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == server.RefreshCookieName {
			return c
		}
	}
	return nil
}

// Browser token mode: the refresh token travels only in an HttpOnly,
// Secure, SameSite=Strict cookie scoped to the token endpoint.
func TestRefreshTokenCookieDelivery(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	resp := h.postForm("/oauth2/token", form("grant_type", "password", "username", "alice@example.com",
		"password", testPassword, "refresh_token_delivery", "cookie"), nil)
	wantStatus(t, "password grant", resp, http.StatusOK)
	c := refreshCookie(resp)
	if c == nil || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/oauth2/token" || c.Domain != "" || c.MaxAge <= 0 {
		t.Fatalf("refresh cookie = %+v", c)
	}
	body := decode[tokenPair](t, resp)
	if body.RefreshToken != "" || body.AccessToken == "" {
		t.Fatalf("body = %+v, want an access token and no refresh token", body)
	}

	cookieHeader := map[string]string{"Cookie": server.RefreshCookieName + "=" + c.Value}
	// Rotation through the cookie.
	resp = h.postForm("/oauth2/token", form("grant_type", "refresh_token", "refresh_token_delivery", "cookie"), cookieHeader)
	wantStatus(t, "refresh from the cookie", resp, http.StatusOK)
	next := refreshCookie(resp)
	if next == nil || next.Value == c.Value {
		t.Fatal("refresh did not rotate the cookie")
	}
	if b := decode[tokenPair](t, resp); b.RefreshToken != "" {
		t.Error("refresh put the refresh token in the body")
	}
	// Without asking for cookie delivery, the cookie is not used.
	resp = h.postForm("/oauth2/token", form("grant_type", "refresh_token"), map[string]string{"Cookie": server.RefreshCookieName + "=" + next.Value})
	wantOAuthError(t, "cookie without refresh_token_delivery", resp, http.StatusBadRequest, "invalid_request")
	// Cross-origin refresh with the cookie is refused before anything else.
	resp = h.postForm("/oauth2/token", form("grant_type", "refresh_token", "refresh_token_delivery", "cookie"),
		map[string]string{"Cookie": server.RefreshCookieName + "=" + next.Value, "Sec-Fetch-Site": "cross-site"})
	wantStatus(t, "cross-site refresh", resp, http.StatusForbidden)
	// Reuse of the old cookie after the grace window kills the session and
	// clears the cookie.
	h.clock.Advance(11 * time.Second)
	resp = h.postForm("/oauth2/token", form("grant_type", "refresh_token", "refresh_token_delivery", "cookie"), cookieHeader)
	wantOAuthError(t, "reuse", resp, http.StatusBadRequest, "invalid_grant")
	if cl := refreshCookie(resp); cl == nil || cl.MaxAge >= 0 {
		t.Error("a dead refresh cookie was not cleared")
	}
	resp = h.postForm("/oauth2/token", form("grant_type", "refresh_token", "refresh_token_delivery", "cookie"),
		map[string]string{"Cookie": server.RefreshCookieName + "=" + next.Value})
	wantOAuthError(t, "newest token after reuse", resp, http.StatusBadRequest, "invalid_grant")

	resp = h.postForm("/oauth2/token", form("grant_type", "refresh_token", "refresh_token_delivery", "jar"), nil)
	if b := readBody(resp); resp.StatusCode != 400 || !strings.Contains(b, "invalid_request") {
		t.Errorf("unknown delivery: %d %s", resp.StatusCode, b)
	}
}
