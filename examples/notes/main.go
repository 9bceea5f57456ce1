// Command notes is a small notes API protected by authd through the guard
// package: every request needs an authd access token (or, with -cookie,
// authd's session cookie when the API shares authd's origin), tokens are
// verified offline, and sessions revoked on authd are refused within a
// second through the revocation feed.
//
// The access tokens come from the apps that call notes for their users.
// They sign users in with the authorization code flow and PKCE (authd's
// password grant is off unless --password-grant=on): signIn in
// main_test.go is a server-side app doing it with golang.org/x/oauth2,
// registered with `authd client add notes-web --first-party --redirect-uri …`.
//
//	authd client add notes                      # prints the client ID and secret
//	AUTHD_CLIENT_ID=… AUTHD_CLIENT_SECRET=… go run ./examples/notes -authd http://127.0.0.1:8080
//	curl -H "Authorization: Bearer $ACCESS_TOKEN" localhost:8081/notes
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/authd/authd/guard"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	issuer := flag.String("authd", "http://127.0.0.1:8080", "authd's issuer URL")
	audience := flag.String("audience", "authd", "expected aud of access tokens")
	cookie := flag.Bool("cookie", false, "also accept authd's session cookie")
	flag.Parse()

	if os.Getenv("AUTHD_CLIENT_ID") == "" || os.Getenv("AUTHD_CLIENT_SECRET") == "" {
		log.Fatal("set AUTHD_CLIENT_ID and AUTHD_CLIENT_SECRET (from `authd client add notes`): the revocation feed needs them")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g, err := guard.New(ctx, guard.Config{
		Issuer: *issuer, Audience: *audience, AcceptCookie: *cookie,
		ClientID: os.Getenv("AUTHD_CLIENT_ID"), ClientSecret: os.Getenv("AUTHD_CLIENT_SECRET"),
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *addr, Handler: newAPI(g), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Printf("notes listening on http://%s (authd %s)", *addr, *issuer)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// Note is one note of one user.
type Note struct {
	ID   int    `json:"id"`
	Text string `json:"text"`
}

type notes struct {
	mu     sync.Mutex
	byUser map[string][]Note
}

// newAPI returns the notes API: GET /notes needs scope read, POST /notes
// scope write.
func newAPI(g *guard.Guard) http.Handler {
	n := &notes{byUser: map[string][]Note{}}
	mux := http.NewServeMux()
	mux.Handle("GET /notes", g.Require("read")(http.HandlerFunc(n.list)))
	mux.Handle("POST /notes", g.Require("write")(http.HandlerFunc(n.add)))
	return mux
}

func (n *notes) list(w http.ResponseWriter, r *http.Request) {
	id, _ := guard.FromContext(r.Context())
	n.mu.Lock()
	out := append([]Note{}, n.byUser[id.Subject]...)
	n.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"user": id.Subject, "notes": out})
}

func (n *notes) add(w http.ResponseWriter, r *http.Request) {
	id, _ := guard.FromContext(r.Context())
	var in struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil || in.Text == "" {
		http.Error(w, `{"error":"want {\"text\":\"…\"}"}`, http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	note := Note{ID: len(n.byUser[id.Subject]) + 1, Text: in.Text}
	n.byUser[id.Subject] = append(n.byUser[id.Subject], note)
	n.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(note)
}
