package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/guard"
	"github.com/authd/authd/internal/authdtest"
)

// The example works against a real authd, in both modes.
func TestNotes(t *testing.T) {
	dir := t.TempDir()
	out := authdtest.Run(t, "", "client", "add", "notes", "--data-dir", dir)
	m := regexp.MustCompile(`client_id:\s+(\S+)\s+client_secret:\s+(\S+)`).FindStringSubmatch(out)
	authd := authdtest.Start(t, "--data-dir", dir)
	api := authdtest.NewClient(authd.URL)
	api.Register(t, "alice@example.com", "correct horse battery staple")

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

	access, _ := api.Tokens(t, "alice@example.com", "correct horse battery staple")
	cookie := api.Login(t, "alice@example.com", "correct horse battery staple")
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
	bearer := map[string]string{"Authorization": "Bearer " + access}
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
	resp, _ := http.PostForm(authd.URL+"/oauth2/token", url.Values{"grant_type": {"password"},
		"username": {"alice@example.com"}, "password": {"correct horse battery staple"}, "scope": {"read"}})
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if st := do("POST", `{"text":"x"}`, map[string]string{"Authorization": "Bearer " + tr.AccessToken}); st != http.StatusForbidden {
		t.Fatalf("POST with a read-only token: %d, want 403", st)
	}
}
