package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/jwks"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/token"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestRemoteKeysRevoke: a revoked kid is dropped at once, costs no fetch
// when tokens keep naming it, and a JWKS that still lists it (an authd
// instance not yet reloaded, an HTTP cache) does not bring it back. The
// next unknown kid is fetched at once, even within minRefresh: authd's
// replacement key signs immediately.
func TestRemoteKeysRevoke(t *testing.T) {
	srv, fetches := jwksServer(t, "max-age=300")
	clk := &testClock{now: time.Unix(1_800_000_000, 0)}
	k := newRemoteKeys(srv.URL, srv.Client(), clk.Now, quiet)
	if _, ok := k.VerificationKey("k1"); !ok {
		t.Fatal("k1 not found")
	}
	k.revoke("k1")
	for range 100 {
		if _, ok := k.VerificationKey("k1"); ok {
			t.Fatal("revoked k1 still found")
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1: a revoked kid is not worth a fetch", n)
	}
	k.VerificationKey("successor") // unknown: fetched at once after a revocation
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d fetches after the first unknown kid following a revocation, want 2", n)
	}
	if err := k.refresh(context.Background(), true); err != nil { // the stale JWKS still lists k1
		t.Fatal(err)
	}
	if _, ok := k.VerificationKey("k1"); ok {
		t.Error("a stale JWKS brought the revoked key back")
	}
	clk.Advance(revokedFor + time.Second)
	k.revoke("other") // the revoked set forgets entries after revokedFor
	if k.isRevoked("k1") || !k.isRevoked("other") {
		t.Errorf("after revokedFor: k1 remembered %v, other %v", k.isRevoked("k1"), k.isRevoked("other"))
	}
}

// fakeAuthd is authd's discovery, JWKS and feed over a real key ring; the
// feed sends its backlog, ready, then whatever the test pushes.
type fakeAuthd struct {
	srv    *httptest.Server
	ring   *jwks.Ring
	issuer *token.Issuer
	push   chan string
	status atomic.Int32 // answer the feed with this status when not 200
	conns  chan time.Time
}

func newFakeAuthd(t *testing.T) *fakeAuthd {
	t.Helper()
	ring, err := jwks.NewRing(context.Background(), jwks.RingConfig{Store: memstore.New(), KEK: jwks.NewKEK()})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAuthd{ring: ring, push: make(chan string, 16), conns: make(chan time.Time, 16)}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.issuer = &token.Issuer{Keys: ring, URL: f.srv.URL, Audience: "authd"}
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": f.srv.URL, "jwks_uri": f.srv.URL + "/jwks",
			"authd_revocation_feed_endpoint": f.srv.URL + "/feed"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		// Stale on purpose: every key ever made, revoked ones included.
		var set jwks.Set
		for _, k := range ring.Keys() {
			j, _ := k.JWK()
			set.Keys = append(set.Keys, j)
		}
		json.NewEncoder(w).Encode(set)
	})
	mux.HandleFunc("GET /feed", func(w http.ResponseWriter, r *http.Request) {
		f.conns <- time.Now()
		if st := f.status.Load(); st != 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(int(st))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "retry: 1000\n\nevent: ready\ndata: {}\n\n")
		w.(http.Flusher).Flush()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case ev := <-f.push:
				io.WriteString(w, ev)
			case <-tick.C:
				io.WriteString(w, ": ping\n\n")
			}
			w.(http.Flusher).Flush()
		}
	})
	return f
}

func (f *fakeAuthd) guard(t *testing.T) *Guard {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	g, err := New(ctx, Config{Issuer: f.srv.URL, Audience: "authd", ClientID: "c", ClientSecret: "s", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func eventually(t *testing.T, within time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFeedKeyRevoked: a key-revoked event makes the guard refuse the
// key's tokens at once, including one it verified (and cached) before,
// although the JWKS still lists the key; tokens of the successor pass.
func TestFeedKeyRevoked(t *testing.T) {
	f := newFakeAuthd(t)
	g := f.guard(t)
	eventually(t, 5*time.Second, func() error {
		if !g.FeedFresh() {
			return errors.New("feed not fresh")
		}
		return nil
	})
	grant := token.Grant{UserID: "u1", SessionID: "s1", ClientID: "authd", Scope: "read"}
	old, _, err := f.issuer.Issue(grant)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second one is a cache hit
		if _, err := g.Verify(old); err != nil {
			t.Fatalf("before the revocation: %v", err)
		}
	}
	signer, _ := f.ring.Signer()
	successor, err := f.ring.Revoke(context.Background(), signer.KID)
	if err != nil {
		t.Fatal(err)
	}
	f.push <- fmt.Sprintf("event: key-revoked\ndata: {\"kid\":%q,\"revoked_at\":%d}\n\n", signer.KID, time.Now().UnixMicro())
	eventually(t, 2*time.Second, func() error {
		if _, err := g.Verify(old); !errors.Is(err, ErrInvalidToken) {
			return fmt.Errorf("the revoked key's token: %v, want ErrInvalidToken", err)
		}
		return nil
	})
	fresh, _, err := f.issuer.Issue(grant)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := g.Verify(fresh); err != nil || id.Subject != "u1" {
		t.Errorf("the successor %s's token: %v, %v", successor.KID, id, err)
	}
	if _, err := g.Verify(old); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("after the JWKS was fetched again (still listing the key): %v", err)
	}
}

// TestFeedHonoursRetryAfter: a refused feed connection (429 with
// Retry-After, too many streams) is retried after Retry-After, not after
// the 100 ms backoff.
func TestFeedHonoursRetryAfter(t *testing.T) {
	f := newFakeAuthd(t)
	f.status.Store(http.StatusTooManyRequests)
	f.guard(t)
	first := <-f.conns
	select {
	case second := <-f.conns:
		if gap := second.Sub(first); gap < 900*time.Millisecond {
			t.Errorf("reconnected %v after a 429 with Retry-After: 1", gap)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reconnection within 5 s")
	}
}
