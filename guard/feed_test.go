package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestFeedFreshOnlyAfterBacklog: after the feed went stale, a reconnect
// that talks but never delivers its backlog ("ready") must not make the
// guard trust its revocation set again, however many lines it sends.
func TestFeedFreshOnlyAfterBacklog(t *testing.T) {
	var conns atomic.Int32
	firstDone := make(chan struct{})
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/jwks",
			"authd_revocation_feed_endpoint": srv.URL + "/feed"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"keys":[]}`) })
	mux.HandleFunc("GET /feed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		switch conns.Add(1) {
		case 1: // the backlog, ready, a heartbeat; then the connection drops
			io.WriteString(w, "retry: 1000\n\nevent: ready\ndata: {}\n\n: heartbeat\n\n")
			fl.Flush()
			close(firstDone)
		default: // talks on and on, but never gets to "ready"
			for i := 0; ; i++ {
				if _, err := fmt.Fprintf(w, "retry: 1000\n\n: still sending the backlog %d\n\n", i); err != nil {
					return
				}
				fl.Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := New(ctx, Config{Issuer: srv.URL, Audience: "authd", ClientID: "c", ClientSecret: "s",
		FeedStaleAfter: 300 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	<-firstDone
	deadline := time.Now().Add(5 * time.Second)
	for !g.FeedFresh() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !g.FeedFresh() {
		t.Fatal("the feed never became fresh after its ready event")
	}
	// The first connection is gone; the second one never gets to ready.
	// Past FeedStaleAfter the guard must stay distrustful throughout.
	time.Sleep(400 * time.Millisecond)
	for range 40 {
		if g.FeedFresh() {
			t.Fatalf("fresh again on connection %d, which never delivered its backlog", conns.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if conns.Load() < 2 {
		t.Fatalf("only %d feed connections; the test needs the reconnect", conns.Load())
	}
}

// TestNewRefusesNoFeed: without client credentials (and without
// AcceptWhenFeedDown) every bearer request would get 503 forever; New
// refuses that set-up before any network use.
func TestNewRefusesNoFeed(t *testing.T) {
	for _, cfg := range []Config{
		{Issuer: "http://127.0.0.1:1", Audience: "authd"},
		{Issuer: "http://127.0.0.1:1", Audience: "authd", ClientID: "c"},
	} {
		if _, err := New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "ClientID and ClientSecret") {
			t.Errorf("New(%+v) = %v, want the missing-credentials error", cfg, err)
		}
	}
}
