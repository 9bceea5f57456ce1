package backchannel_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/backchannel"
	"github.com/authd/authd/client"
	"github.com/authd/authd/event"
	"github.com/authd/authd/jwk"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/token"
	"github.com/golang-jwt/jwt/v5"
)

const issuerURL = "https://authd.example"

var clockStart = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is the Notifier's clock and timer: time moves only when the
// test advances it, and timers fire then.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newClock() *fakeClock { return &fakeClock{now: clockStart} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	return ch
}

// Advance moves the clock by d and fires the timers due by then.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.timers = slices.DeleteFunc(c.timers, func(t fakeTimer) bool {
		if t.at.After(c.now) {
			return false
		}
		t.ch <- c.now
		return true
	})
}

// Next returns how long until the soonest timer fires (ok false: none).
func (c *fakeClock) Next() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return 0, false
	}
	at := c.timers[0].at
	for _, t := range c.timers[1:] {
		if t.at.Before(at) {
			at = t.at
		}
	}
	return at.Sub(c.now), true
}

// waitFor polls cond (real time, at most 10 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// hit is one request a receiver got.
type hit struct {
	method string
	header http.Header
	form   url.Values
	status int // what the receiver answered
	at     time.Time
}

// receiver is an app's back-channel logout endpoint: a real HTTP server
// answering each request as answer says (default 200).
type receiver struct {
	*httptest.Server
	clk    *fakeClock
	mu     sync.Mutex
	hits   []hit
	answer func(n int, r *http.Request, w http.ResponseWriter) int // n: 0-based request count
}

func newReceiver(t *testing.T, clk *fakeClock, answer func(n int, r *http.Request, w http.ResponseWriter) int) *receiver {
	rc := &receiver{clk: clk, answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		r.PostForm = form
		rc.mu.Lock()
		n := len(rc.hits)
		rc.hits = append(rc.hits, hit{method: r.Method, header: r.Header.Clone(), form: form, at: clk.Now()})
		rc.mu.Unlock()
		status := http.StatusOK
		if rc.answer != nil {
			status = rc.answer(n, r, w)
		}
		rc.mu.Lock()
		rc.hits[n].status = status
		rc.mu.Unlock()
		if status > 0 {
			w.WriteHeader(status)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) Hits() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.hits)
}

func (rc *receiver) N() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.hits)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixture is a Notifier over real parts: a key ring and token.Issuer, a
// client.Service over a memstore, and a fake clock.
type fixture struct {
	clk     *fakeClock
	ring    *jwks.Ring
	clients *client.Service
	n       *backchannel.Notifier
	logs    *syncBuffer
	stop    func()
}

// newFixture builds a Notifier signing with algs (default EdDSA);
// configure adjusts its Config. It is not running: call run.
func newFixture(t *testing.T, algs []string, configure func(*backchannel.Config)) *fixture {
	t.Helper()
	if len(algs) == 0 {
		algs = []string{jwk.EdDSA}
	}
	f := &fixture{clk: newClock(), logs: &syncBuffer{}}
	var err error
	f.ring, err = jwks.NewRing(context.Background(), jwks.RingConfig{
		Store: memstore.New(), KEK: jwks.NewKEK(), Algs: algs, Now: f.clk.Now,
	})
	if err != nil {
		t.Fatalf("NewRing = %v", err)
	}
	f.clients = client.NewService(memstore.New(), nil, f.clk.Now)
	cfg := backchannel.Config{
		Clients: f.clients,
		Tokens:  &token.Issuer{Keys: f.ring, URL: issuerURL, Now: f.clk.Now},
		Algs:    f.ring.Algs(),
		Now:     f.clk.Now, After: f.clk.After,
		Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if configure != nil {
		configure(&cfg)
	}
	f.n = backchannel.New(cfg)
	t.Cleanup(func() { f.n.Close(context.Background()) })
	return f
}

// run starts the Notifier until the test ends (or f.stop).
func (f *fixture) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		f.n.Run(ctx)
		close(done)
	}()
	f.stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(f.stop)
}

// register registers a client whose back-channel logout URI is uri
// (empty: none), with ID-token algorithm alg.
func (f *fixture) register(t *testing.T, name, uri, alg string) *client.Client {
	t.Helper()
	c, _, err := f.clients.Create(context.Background(), client.Registration{
		Name: name, RedirectURIs: []string{"https://app.example/cb"}, BackchannelLogoutURI: uri, IDTokenAlg: alg,
	})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return c
}

// ended is the event of session sid of user u, opened for clientID,
// ended on this instance.
func ended(u, sid, clientID string) event.Event {
	return event.Event{Kind: event.SessionRevoked, At: clockStart, UserID: u, SessionID: sid, ClientID: clientID, Cause: event.CauseLogout}
}

// verify checks a logout token's signature with the ring's published key,
// and its claims as of at (when it was received), and returns its header
// and claims.
func (f *fixture) verify(t *testing.T, raw string, at time.Time) (map[string]any, jwt.MapClaims) {
	t.Helper()
	hdr, claims, err := f.parse(raw, at)
	if err != nil {
		t.Fatalf("logout token %q does not verify: %v", raw, err)
	}
	return hdr, claims
}

// parse is verify for a receiver's goroutine, which must not call Fatal.
func (f *fixture) parse(raw string, at time.Time) (map[string]any, jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	tok, err := jwt.NewParser(
		jwt.WithValidMethods([]string{jwk.EdDSA, jwk.ES256, jwk.RS256}),
		jwt.WithTimeFunc(func() time.Time { return at }), jwt.WithIssuer(issuerURL), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
	).ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		k, ok := f.ring.VerificationKey(kid)
		if !ok || k.Alg != tok.Method.Alg() {
			return nil, jwks.ErrUnknownKey
		}
		return k.Public, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return tok.Header, claims, nil
}
