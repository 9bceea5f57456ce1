package guard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/authd/authd/guard"
)

// A service protects a handler with Require; the handler reads the
// verified caller with FromContext. Here a stand-in authd (stubAuthd: its
// metadata, keys and revocation feed, and tokens it signed) runs in the
// same process; a real service names authd's URL and a confidential
// client (`authd client add notes`).
func ExampleGuard_Require() {
	authd := newStubAuthd()
	defer authd.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops following the revocation feed

	g, err := guard.New(ctx, guard.Config{
		Issuer:       authd.URL,
		Audience:     "authd",
		ClientID:     "notes",
		ClientSecret: "notes-secret",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	listNotes := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := guard.FromContext(r.Context())
		fmt.Fprintf(w, "the notes of %s (%s credentials)\n", id.Subject, id.Kind)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /notes", g.Require("read")(listNotes))

	// Until the revocation feed has delivered its backlog the guard cannot
	// know which sessions were revoked, and answers bearer tokens with 503.
	// Wait for it, so that the output below does not depend on timing.
	for !g.FeedFresh() {
		time.Sleep(10 * time.Millisecond)
	}

	for _, authorization := range []string{
		"",
		"Bearer " + authd.token("alice", "read write"),
		"Bearer " + authd.token("alice", "write"),
		"Bearer not-a-token",
	} {
		r := httptest.NewRequest("GET", "/notes", nil)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(w.Code, strings.TrimSpace(w.Body.String()))
		if h := w.Header().Get("WWW-Authenticate"); h != "" {
			fmt.Println("  WWW-Authenticate:", h)
		}
	}
	// Output:
	// 401 authentication required
	//   WWW-Authenticate: Bearer realm="authd"
	// 200 the notes of alice (token credentials)
	// 403 insufficient scope
	//   WWW-Authenticate: Bearer realm="authd", error="insufficient_scope", scope="read"
	// 401 invalid token
	//   WWW-Authenticate: Bearer realm="authd", error="invalid_token"
}
