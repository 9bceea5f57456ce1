package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/token"
)

// TestServeBackchannelLogout: authd serve tells an app registered with
// --backchannel-logout-uri that its session ended (here by an RFC 7009
// revocation of its refresh token), with a logout token for that app,
// that user and that session, signed with the app's ID-token algorithm.
func TestServeBackchannelLogout(t *testing.T) {
	tokens := make(chan string, 10)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		tokens <- form.Get("logout_token")
	}))
	defer app.Close()
	dir := t.TempDir()
	_, id, secret := addClient(t, nil, "notes", "--grant-types", "password,refresh_token",
		"--backchannel-logout-uri", app.URL+"/backchannel-logout", "--id-token-alg", "ES256", "--data-dir", dir)
	s := startServer(t, nil, serveArgs(dir, "--password-grant", "on", "--signing-alg", "EdDSA,ES256")...)
	const email, pw = "alice@example.com", "correct horse battery staple"
	register(t, testClient, s.URL, email, pw)
	_, refresh := krTokens(t, s.URL, url.Values{"grant_type": {"password"}, "username": {email}, "password": {pw},
		"client_id": {id}, "client_secret": {secret}})
	code, si := whoami(t, testClient, s.URL, login(t, testClient, s.URL, email, pw))
	if code != http.StatusOK {
		t.Fatalf("whoami = %d", code)
	}

	resp, err := testClient.PostForm(s.URL+"/oauth2/revoke", url.Values{"token": {refresh}, "client_id": {id}, "client_secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /oauth2/revoke = %d", resp.StatusCode)
	}
	var raw string
	select {
	case raw = <-tokens:
	case <-time.After(10 * time.Second):
		t.Fatalf("the app heard nothing within 10 s\nstderr:\n%s", s.stderr.String())
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("logout token %q is not a compact JWS", raw)
	}
	var hdr struct{ Alg, Typ, Kid string }
	var claims struct {
		Iss, Sub, Aud, Sid string
		Events             map[string]any
	}
	for i, v := range []any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, v) != nil {
			t.Fatalf("logout token part %d does not decode: %v", i, err)
		}
	}
	if hdr.Typ != token.TypeLogoutToken || hdr.Alg != "ES256" {
		t.Errorf("header %+v; want typ %s, alg ES256 (the app's ID-token algorithm)", hdr, token.TypeLogoutToken)
	}
	if claims.Aud != id || claims.Sub != si.User.ID || claims.Sid == "" || claims.Iss != s.URL ||
		claims.Events[token.BackchannelLogoutEvent] == nil {
		t.Errorf("claims %+v; want aud %s, sub %s, a sid, iss %s and the back-channel logout event", claims, id, si.User.ID, s.URL)
	}
	if !slices.Contains(krJWKSKids(t, s.URL), hdr.Kid) {
		t.Errorf("signed with kid %s, which the JWKS does not publish", hdr.Kid)
	}
	select {
	case extra := <-tokens:
		t.Errorf("a second logout token for one session: %s", extra)
	case <-time.After(100 * time.Millisecond):
	}
}
