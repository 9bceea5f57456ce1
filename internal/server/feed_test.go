package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/client"
	"github.com/authd/authd/internal/server"
	"github.com/authd/authd/jwk"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/memstore"
)

// feedEnv is the revocation feed of a real server over the harness'
// stores, on a real listener, with its own Feed (so its limits and
// heartbeat can be set) and a key ring wired as authd wires it.
type feedEnv struct {
	h    *harness
	feed *server.Feed
	ring *jwks.Ring
	url  string
}

func newFeedEnv(t *testing.T, maxStreams int) *feedEnv {
	t.Helper()
	h := newHarness(t, options{})
	e := &feedEnv{h: h, feed: server.NewFeed(11 * time.Minute)}
	e.feed.MaxStreamsPerClient = maxStreams
	e.feed.Heartbeat = 100 * time.Millisecond
	ring, err := jwks.NewRing(context.Background(), jwks.RingConfig{Store: memstore.New(), KEK: jwks.NewKEK(), OnRevoke: e.feed.PublishKey})
	if err != nil {
		t.Fatal(err)
	}
	e.ring = ring
	e.feed.Keys = ring
	srv := server.New(server.Config{Users: h.users, Sessions: h.sessions, Store: h.store, Feed: e.feed, Now: h.clock.Now,
		Tokens: &server.TokenConfig{Keys: ring, Clients: h.clients, IssuerURL: issuerURL, Scopes: []string{"read"}}})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { e.feed.Close(); ts.Close() })
	e.url = ts.URL + "/v1/revocations"
	return e
}

func (e *feedEnv) client(t *testing.T, name string) (id, secret string) {
	t.Helper()
	c, secret, err := e.h.clients.Create(context.Background(), client.Registration{Name: name, GrantTypes: []string{client.GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID, secret
}

// stream is one open feed connection; lines delivers what it sends and
// is closed at its end.
type stream struct {
	lines  chan string
	cancel context.CancelFunc
}

// open connects; a refused connection returns nil and the response.
func (e *feedEnv) open(t *testing.T, id, secret string) (*stream, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url, nil)
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		return nil, resp
	}
	s := &stream{lines: make(chan string, 64), cancel: cancel}
	t.Cleanup(cancel)
	go func() {
		defer close(s.lines)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			select {
			case s.lines <- sc.Text():
			default: // nobody reads this stream's lines: drop them
			}
		}
	}()
	return s, resp
}

func (s *stream) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("stream ended before %q", want)
			}
			if strings.Contains(l, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q within 5 s", want)
		}
	}
}

func (s *stream) waitEnd(t *testing.T, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(within)
	for {
		select {
		case _, ok := <-s.lines:
			if !ok {
				return time.Since(start)
			}
		case <-deadline:
			t.Fatalf("stream still open after %v", within)
		}
	}
}

// TestFeedStreamsPerClient: a client gets MaxStreamsPerClient streams on
// an instance; the next one is refused with 429, Retry-After and a
// problem body, before its backlog is read; other clients are not affected;
// a closed stream frees its slot.
func TestFeedStreamsPerClient(t *testing.T) {
	const limit = 3
	e := newFeedEnv(t, limit)
	id, secret := e.client(t, "notes")
	otherID, otherSecret := e.client(t, "billing")
	var open []*stream
	for i := range limit {
		s, resp := e.open(t, id, secret)
		if s == nil {
			t.Fatalf("stream %d of %d: %d", i+1, limit, resp.StatusCode)
		}
		s.waitFor(t, "event: ready")
		open = append(open, s)
	}
	tests := []struct {
		name       string
		id, secret string
		want       int
	}{
		{"one over the limit", id, secret, http.StatusTooManyRequests},
		{"still over the limit", id, secret, http.StatusTooManyRequests},
		{"wrong secret: 401 before the limit", id, "wrong", http.StatusUnauthorized},
		{"another client", otherID, otherSecret, http.StatusOK},
	}
	for _, tt := range tests {
		s, resp := e.open(t, tt.id, tt.secret)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
		if s != nil {
			s.cancel()
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if tt.want != http.StatusTooManyRequests {
			continue
		}
		var p struct {
			Type   string `json:"type"`
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}
		if err := json.Unmarshal(body, &p); err != nil || p.Type != "urn:authd:problem:too-many-streams" || p.Status != 429 ||
			resp.Header.Get("Content-Type") != "application/problem+json" || resp.Header.Get("Retry-After") != "10" {
			t.Errorf("%s: %s %q, Retry-After %q: %v", tt.name, resp.Header.Get("Content-Type"), body, resp.Header.Get("Retry-After"), err)
		}
	}
	open[0].cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, resp := e.open(t, id, secret)
		if s != nil {
			s.waitFor(t, "event: ready")
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream's slot was not freed: %d", resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFeedClientDeleted: deleting a client (through the store, as `authd
// client delete` in another process does) ends all its open streams
// within a few heartbeats; another client's stream goes on.
func TestFeedClientDeleted(t *testing.T) {
	e := newFeedEnv(t, 10)
	id, secret := e.client(t, "notes")
	otherID, otherSecret := e.client(t, "billing")
	var streams []*stream
	for range 3 {
		s, resp := e.open(t, id, secret)
		if s == nil {
			t.Fatalf("open: %d", resp.StatusCode)
		}
		s.waitFor(t, "event: ready")
		streams = append(streams, s)
	}
	other, _ := e.open(t, otherID, otherSecret)
	other.waitFor(t, "event: ready")
	if err := e.h.clients.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	for i, s := range streams {
		took := s.waitEnd(t, 2*time.Second) // 20 heartbeats of 100 ms
		t.Logf("stream %d ended %v after the client was deleted", i, took)
	}
	other.waitFor(t, ": ping") // still served
	if s, resp := e.open(t, id, secret); s != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the deleted client reconnecting: %d, want 401", resp.StatusCode)
	}
}

// TestFeedKeyRevoked: a key revoked through the ring reaches open streams
// as a key-revoked event (no id: the cursor does not move), and is in the
// backlog of every later stream.
func TestFeedKeyRevoked(t *testing.T) {
	e := newFeedEnv(t, 10)
	id, secret := e.client(t, "notes")
	s, _ := e.open(t, id, secret)
	s.waitFor(t, "event: ready")
	k, err := e.ring.Signer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ring.Revoke(context.Background(), k.KID); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`data: {"kid":%q,"revoked_at":%d}`, k.KID, keyByKID(t, e.ring, k.KID).RevokedAt.UnixMicro())
	s.waitFor(t, "event: key-revoked")
	s.waitFor(t, want)
	later, _ := e.open(t, id, secret)
	var lines []string
	for l := range later.lines {
		lines = append(lines, l)
		if l == "event: ready" {
			break
		}
	}
	got := strings.Join(lines, "\n")
	if !strings.Contains(got, "event: key-revoked\n"+want) || strings.Contains(got, "id:") {
		t.Errorf("backlog of a new stream:\n%s\nwant the key-revoked event, without an id", got)
	}
}

func keyByKID(t *testing.T, r *jwks.Ring, kid string) *jwk.Key {
	t.Helper()
	for _, k := range r.Keys() {
		if k.KID == kid {
			return k
		}
	}
	t.Fatalf("no key %s", kid)
	return nil
}

// TestFeedMemoryPerStream measures the heap held per open stream (server
// handler and client connection together, both in this process) and
// checks it stays bounded: 200 idle streams of one client.
func TestFeedMemoryPerStream(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 200 connections")
	}
	const n = 200
	e := newFeedEnv(t, n+1)
	e.feed.Heartbeat = time.Minute // idle: no pings while measuring
	id, secret := e.client(t, "notes")
	s, _ := e.open(t, id, secret) // warm up the connection machinery
	s.waitFor(t, "event: ready")
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	goroutines := runtime.NumGoroutine()
	for range n {
		s, resp := e.open(t, id, secret)
		if s == nil {
			t.Fatalf("open: %d", resp.StatusCode)
		}
		s.waitFor(t, "event: ready")
	}
	per := (int64(heap()) - int64(before)) / n
	perG := float64(runtime.NumGoroutine()-goroutines) / n
	t.Logf("per open stream (server and client together): %d B of heap, %.1f goroutines", per, perG)
	// Measured: 56 KB (the follower buffer is 16 KiB of it, the two ends'
	// connection buffers most of the rest); 103 KB with the 1,024-entry
	// buffer this replaced. Goroutine stacks are not heap.
	if per > 80<<10 {
		t.Errorf("%d B of heap per stream, want at most 80 KiB", per)
	}
}
