package main

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/authd/authd/guard"
	"github.com/authd/authd/internal/authdtest"
)

// The example works against a real authd, in both modes: with access
// tokens that an app got through the authorization code flow, and with
// authd's session cookie.
func TestNotes(t *testing.T) {
	dir := t.TempDir()
	// notes itself: a confidential client for the revocation feed.
	m := regexp.MustCompile(`client_id:\s+(\S+)\s+client_secret:\s+(\S+)`).FindStringSubmatch(
		authdtest.Run(t, "", "client", "add", "notes", "--data-dir", dir))
	// The app that signs users in and calls notes for them: a server-side
	// web app, so a confidential client, one of the deployment's own (no
	// consent page). Loopback redirect URIs match any port (RFC 8252 §7.3).
	app := regexp.MustCompile(`client_id:\s+(\S+)\s+client_secret:\s+(\S+)`).FindStringSubmatch(
		authdtest.Run(t, "", "client", "add", "notes-web", "--data-dir", dir,
			"--redirect-uri", "http://127.0.0.1/callback", "--first-party"))
	if m == nil || app == nil {
		t.Fatal("authd client add printed no client_id and client_secret")
	}
	authd := authdtest.Start(t, "--data-dir", dir) // the password grant is off
	api := authdtest.NewClient(authd.URL)
	const email, pw = "alice@example.com", "correct horse battery staple"
	api.Register(t, email, pw)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := guard.New(ctx, guard.Config{Issuer: authd.URL, Audience: "authd", ClientID: m[1], ClientSecret: m[2], AcceptCookie: true})
	if err != nil {
		t.Fatal(err)
	}
	authdtest.Eventually(t, 5*time.Second, func() error {
		if !g.FeedFresh() {
			return context.DeadlineExceeded
		}
		return nil
	})
	srv := httptest.NewServer(newAPI(g))
	defer srv.Close()

	conf := &oauth2.Config{
		ClientID: app[1], ClientSecret: app[2],
		Endpoint: oauth2.Endpoint{AuthURL: authd.URL + "/oauth2/authorize", TokenURL: authd.URL + "/oauth2/token",
			AuthStyle: oauth2.AuthStyleInHeader},
		RedirectURL: "http://127.0.0.1:8082/callback",
		Scopes:      []string{"read", "write"},
	}
	tok := signIn(t, ctx, authd.URL, conf, email, pw)
	if tok.RefreshToken == "" {
		t.Error("the code flow gave no refresh token")
	}
	cookie := api.Login(t, email, pw)
	do := func(method, body string, h map[string]string) int {
		req, _ := http.NewRequest(method, srv.URL+"/notes", strings.NewReader(body))
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	bearer := map[string]string{"Authorization": "Bearer " + tok.AccessToken}
	if st := do("POST", `{"text":"buy milk"}`, bearer); st != http.StatusCreated {
		t.Fatalf("POST with a read+write token: %d", st)
	}
	if st := do("GET", "", map[string]string{"Cookie": "__Host-authd_session=" + cookie}); st != http.StatusOK {
		t.Fatalf("GET with the session cookie: %d", st)
	}
	if st := do("GET", "", nil); st != http.StatusUnauthorized {
		t.Fatalf("GET without credentials: %d", st)
	}
	// A read-only token cannot write.
	readOnly := *conf
	readOnly.Scopes = []string{"read"}
	ro := signIn(t, ctx, authd.URL, &readOnly, email, pw)
	if st := do("GET", "", map[string]string{"Authorization": "Bearer " + ro.AccessToken}); st != http.StatusOK {
		t.Fatalf("GET with a read-only token: %d", st)
	}
	if st := do("POST", `{"text":"x"}`, map[string]string{"Authorization": "Bearer " + ro.AccessToken}); st != http.StatusForbidden {
		t.Fatalf("POST with a read-only token: %d, want 403", st)
	}
}

// signIn runs the authorization code flow with PKCE the way a server-side
// web app does with golang.org/x/oauth2: the app sends the user's browser
// to authd with a state and an S256 code challenge; the user signs in on
// authd's login page; authd sends the browser back to the app's redirect
// URI with a code, the state and iss; the app checks state and iss, and
// redeems the code with its secret and the PKCE verifier. Here an
// http.Client with a cookie jar plays the browser, and stops at the
// redirect URI instead of loading it.
func signIn(t *testing.T, ctx context.Context, issuer string, conf *oauth2.Config, email, password string) *oauth2.Token {
	t.Helper()
	// The app, before the redirect: a verifier and a state of its own,
	// kept for the return (a real app keeps them in its session).
	verifier, state := oauth2.GenerateVerifier(), rand.Text()
	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))

	// The browser.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), conf.RedirectURL) {
				return http.ErrUseLastResponse // back at the app
			}
			return nil
		}}
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	login := resp.Request.URL
	if resp.StatusCode != http.StatusOK || login.Path != "/login" {
		t.Fatalf("authorization request: %s at %s, want authd's login page", resp.Status, login)
	}
	resp, err = browser.PostForm(issuer+"/login", url.Values{
		"email": {email}, "password": {password}, "return_to": {login.Query().Get("return_to")}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("after the login: %s at %s, want a redirect to the app", resp.Status, resp.Request.URL)
	}

	// The app, at its redirect URI.
	q := back.Query()
	if q.Get("state") != state || q.Get("iss") != issuer { // CSRF; mix-up (RFC 9207)
		t.Fatalf("the answer %s does not match the request (state %q, iss %q)", back, state, issuer)
	}
	if e := q.Get("error"); e != "" {
		t.Fatalf("authorization refused: %s: %s", e, q.Get("error_description"))
	}
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	return tok
}
