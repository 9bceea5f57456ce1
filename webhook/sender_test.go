package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/webhook"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

var kek = jwks.KEK{1, 2, 3}

// clock is a settable clock, near the real time (the Standard Webhooks
// library checks webhook-timestamp against its own clock, ±5 min).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Microsecond)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// hit is one request the receiver got.
type hit struct {
	id, ts   string
	body     []byte
	verified error
	header   http.Header
}

// receiver is an httptest server that verifies every request with the
// Standard Webhooks library and answers the statuses given, then 200.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	hits     []hit
	statuses []int
}

func newReceiver(t *testing.T, secret string, statuses ...int) *receiver {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("standardwebhooks.NewWebhook = %v", err)
	}
	r := &receiver{statuses: statuses}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.hits = append(r.hits, hit{id: req.Header.Get("webhook-id"), ts: req.Header.Get("webhook-timestamp"), body: body,
			verified: wh.Verify(body, req.Header), header: req.Header.Clone()})
		status := http.StatusOK
		if len(r.statuses) > 0 {
			status, r.statuses = r.statuses[0], r.statuses[1:]
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

// setup makes a store with one subscription of url to every event, and a
// sender over it on clk.
func setup(t *testing.T, clk *clock, url string, cfg webhook.SenderConfig) (*memstore.Store, *webhook.Sender, string) {
	t.Helper()
	st := memstore.New()
	sub, secret, err := webhook.NewSubscription(url, []string{webhook.All}, kek, clk.Now())
	if err != nil {
		t.Fatalf("NewSubscription = %v", err)
	}
	if err := st.AddSubscription(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.KEK, cfg.Now = st, kek, clk.Now
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := webhook.NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st, s, secret
}

func recordEvent(t *testing.T, st audit.Store, id string, at time.Time, typ string) {
	t.Helper()
	if err := st.RecordEvent(context.Background(), &audit.Event{ID: id, At: at, Type: typ, UserID: "u1", Actor: "user"}); err != nil {
		t.Fatal(err)
	}
}

func flush(t *testing.T, s *webhook.Sender) {
	t.Helper()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("Flush = %v", err)
	}
}

// TestRetryUntilAcknowledged: the receiver answers 500 twice, then 200:
// exactly one distinct webhook-id arrives three times, every signature
// valid by the Standard Webhooks library, and then nothing more.
func TestRetryUntilAcknowledged(t *testing.T) {
	clk := newClock()
	// The receiver needs the secret before the subscription exists: make
	// it with a placeholder, then point it at the real secret.
	var rcv *receiver
	st := memstore.New()
	sub, secret, err := webhook.NewSubscription("http://127.0.0.1:1/hook", []string{"signout"}, kek, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	rcv = newReceiver(t, secret, 500, 500, 200)
	sub.URL = rcv.URL + "/hook"
	if err := st.AddSubscription(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	s, err := webhook.NewSender(webhook.SenderConfig{Store: st, KEK: kek, Now: clk.Now, RetryMin: time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	recordEvent(t, st, "E1", clk.Now(), "signout")
	recordEvent(t, st, "E2", clk.Now(), "signin.succeeded") // not subscribed

	flush(t, s) // 500
	flush(t, s) // not due yet: nothing sent
	clk.Add(time.Millisecond)
	flush(t, s) // 500
	clk.Add(2 * time.Millisecond)
	flush(t, s) // 200
	clk.Add(time.Hour)
	flush(t, s) // nothing left

	hits := rcv.got()
	if len(hits) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(hits))
	}
	for i, h := range hits {
		if h.verified != nil {
			t.Errorf("request %d: Standard Webhooks Verify = %v", i, h.verified)
		}
		if h.id != hits[0].id {
			t.Errorf("request %d: webhook-id %q, want the first's %q", i, h.id, hits[0].id)
		}
		if !bytes.Equal(h.body, hits[0].body) {
			t.Errorf("request %d: body differs from the first's", i)
		}
		if ct, ua := h.header.Get("Content-Type"), h.header.Get("User-Agent"); ct != "application/json" || ua != "authd" {
			t.Errorf("request %d: Content-Type, User-Agent = %q, %q; want application/json, authd", i, ct, ua)
		}
	}
	if !strings.HasPrefix(hits[0].id, "msg_") {
		t.Errorf("webhook-id = %q, want msg_…", hits[0].id)
	}
	// Each attempt carries its own time: the test clock's.
	for i, h := range hits {
		ts, err := strconv.ParseInt(h.ts, 10, 64)
		if start := clk.Now().Add(-time.Hour - 3*time.Millisecond).Unix(); err != nil || ts < start || ts > start+1 {
			t.Errorf("request %d: webhook-timestamp %q, want the attempt's unix time (%d)", i, h.ts, start)
		}
	}
	var env struct {
		Type      string      `json:"type"`
		Timestamp string      `json:"timestamp"`
		Data      audit.Event `json:"data"`
	}
	if err := json.Unmarshal(hits[0].body, &env); err != nil {
		t.Fatal(err)
	}
	if env.Type != "signout" || env.Data.ID != "E1" || env.Data.Type != "signout" || env.Timestamp == "" {
		t.Errorf("envelope = %+v, want type signout, data E1", env)
	}
}

// TestBackoff: after each failure the delivery is due RetryMin·2^(n-1)
// later, at most RetryMax; not a microsecond before.
func TestBackoff(t *testing.T) {
	clk := newClock()
	rcv := newReceiver(t, "whsec_"+strings.Repeat("A", 43)+"=", 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500)
	st, s, _ := setup(t, clk, rcv.URL, webhook.SenderConfig{RetryMin: 5 * time.Second})
	recordEvent(t, st, "E1", clk.Now(), "signout")
	flush(t, s)
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 320 * time.Second, 640 * time.Second, 1280 * time.Second, 2560 * time.Second, time.Hour, time.Hour}
	for i, d := range want {
		n := len(rcv.got())
		clk.Add(d - time.Microsecond)
		flush(t, s)
		if len(rcv.got()) != n {
			t.Fatalf("retry %d: sent %v after the failure, before its backoff %v", i+1, d-time.Microsecond, d)
		}
		clk.Add(time.Microsecond)
		flush(t, s)
		if len(rcv.got()) != n+1 {
			t.Fatalf("retry %d: not sent %v after the failure", i+1, d)
		}
	}
}

// TestGiveUp: a delivery not acknowledged within a day is dropped
// unsent.
func TestGiveUp(t *testing.T) {
	clk := newClock()
	rcv := newReceiver(t, "whsec_"+strings.Repeat("A", 43)+"=")
	st, s, _ := setup(t, clk, rcv.URL, webhook.SenderConfig{})
	recordEvent(t, st, "E1", clk.Now(), "signout")
	clk.Add(24 * time.Hour)
	flush(t, s)
	clk.Add(time.Hour)
	flush(t, s)
	if n := len(rcv.got()); n != 0 {
		t.Errorf("receiver got %d requests after the give-up time, want 0", n)
	}
	if ds, _ := st.ClaimDeliveries(context.Background(), clk.Now().Add(48*time.Hour), time.Minute, 10); len(ds) != 0 {
		t.Errorf("still queued: %d deliveries", len(ds))
	}
}

// TestNoRedirects: a 3xx is a failure, and its Location is not visited.
func TestNoRedirects(t *testing.T) {
	clk := newClock()
	elsewhere := newReceiver(t, "whsec_"+strings.Repeat("A", 43)+"=")
	redirect := httptest.NewServer(http.RedirectHandler(elsewhere.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	st, s, _ := setup(t, clk, redirect.URL, webhook.SenderConfig{RetryMin: time.Second})
	recordEvent(t, st, "E1", clk.Now(), "signout")
	flush(t, s)
	if n := len(elsewhere.got()); n != 0 {
		t.Errorf("redirect followed: %d requests", n)
	}
	// Still queued for a retry.
	clk.Add(time.Second)
	if ds, _ := st.ClaimDeliveries(context.Background(), clk.Now(), time.Minute, 10); len(ds) != 1 || ds[0].Attempts != 2 {
		t.Errorf("after a redirect: %d deliveries due, want the one, retried", len(ds))
	}
}

// TestRefusesPlainHTTPElsewhere: http:// only on loopback, at
// subscription and at sending.
func TestRefusesPlainHTTPElsewhere(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.com/authd", true},
		{"https://203.0.113.7:8443/x?y=1", true},
		{"http://127.0.0.1:8080/hook", true},
		{"http://127.9.9.9/hook", true},
		{"http://[::1]:9/hook", true},
		{"http://localhost:3000/hook", true},
		{"http://LOCALHOST/hook", true},
		{"http://hooks.example.com/authd", false},
		{"http://10.0.0.1/hook", false},
		{"http://[::ffff:10.0.0.1]/hook", false},
		{"http://localhost.example.com/hook", false},
		{"http://127.0.0.1.nip.io/hook", false},
		{"ftp://127.0.0.1/hook", false},
		{"https://user:pass@hooks.example.com/", false},
		{"https:///nohost", false},
		{"/relative", false},
		{"", false},
	} {
		err := webhook.CheckURL(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("CheckURL(%q) = %v, want ok %v", tt.url, err, tt.ok)
		}
		if _, _, err := webhook.NewSubscription(tt.url, []string{"*"}, kek, time.Now()); (err == nil) != tt.ok {
			t.Errorf("NewSubscription(%q) = %v, want ok %v", tt.url, err, tt.ok)
		}
	}

	// A subscription that got into the store anyway is never sent to.
	clk := newClock()
	st := memstore.New()
	var dialed bool
	client := &http.Client{Transport: roundTripper(func(*http.Request) (*http.Response, error) {
		dialed = true
		return nil, errors.New("no network here")
	})}
	sub := &webhook.Subscription{ID: "wh_x", URL: "http://hooks.example.com/authd", Events: []string{"*"},
		Secret: webhook.SealSecret(kek, "wh_x", []byte("0123456789abcdef0123456789abcdef")), CreatedAt: clk.Now()}
	if err := st.AddSubscription(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	s, err := webhook.NewSender(webhook.SenderConfig{Store: st, KEK: kek, Now: clk.Now, Client: client, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	recordEvent(t, st, "E1", clk.Now(), "signout")
	flush(t, s)
	if dialed {
		t.Error("sender sent to a plain-http, non-loopback URL")
	}
	if ds, _ := st.ClaimDeliveries(context.Background(), clk.Now().Add(time.Hour), time.Minute, 10); len(ds) != 0 {
		t.Errorf("refused delivery still queued")
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCheckEvents(t *testing.T) {
	for _, tt := range []struct {
		events []string
		ok     bool
	}{
		{[]string{"*"}, true},
		{[]string{"session.revoked", "refresh.replayed", "signout"}, true},
		{[]string{"signin.failed"}, true},
		{nil, false},
		{[]string{"*", "signout"}, false},
		{[]string{"signout", "signout"}, false},
		{[]string{"key.revoked"}, false},
		{[]string{"nope"}, false},
	} {
		if err := webhook.CheckEvents(tt.events); (err == nil) != tt.ok {
			t.Errorf("CheckEvents(%q) = %v, want ok %v", tt.events, err, tt.ok)
		}
	}
}

func TestSealSecret(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	sealed := webhook.SealSecret(kek, "wh_a", secret)
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed secret contains the secret")
	}
	got, err := webhook.OpenSecret(kek, "wh_a", sealed)
	if err != nil || !bytes.Equal(got, secret) {
		t.Errorf("OpenSecret = %q, %v; want the secret", got, err)
	}
	if _, err := webhook.OpenSecret(jwks.KEK{9}, "wh_a", sealed); !errors.Is(err, webhook.ErrWrongKEK) {
		t.Errorf("OpenSecret(other KEK) = %v, want ErrWrongKEK", err)
	}
	if _, err := webhook.OpenSecret(kek, "wh_b", sealed); !errors.Is(err, webhook.ErrWrongKEK) {
		t.Errorf("OpenSecret(other subscription) = %v, want ErrWrongKEK", err)
	}
}

// TestRunWakes: Run delivers without a test clock, woken by Wake; the
// log carries neither the payload nor the secret.
func TestRunWakes(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	st := memstore.New()
	sub, secret, err := webhook.NewSubscription("http://127.0.0.1:1/", []string{"*"}, kek, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rcv := newReceiver(t, secret, 503)
	sub.URL = rcv.URL
	if err := st.AddSubscription(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	s, err := webhook.NewSender(webhook.SenderConfig{Store: st, KEK: kek, RetryMin: time.Millisecond, PollInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	recordEvent(t, st, "E1", time.Now(), "signout")
	deadline := time.Now().Add(10 * time.Second)
	for len(rcv.got()) < 2 && time.Now().Before(deadline) {
		s.Wake()
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	hits := rcv.got()
	if len(hits) < 2 {
		t.Fatalf("receiver got %d requests, want 2 (503, then 200)", len(hits))
	}
	for _, h := range hits {
		if h.verified != nil {
			t.Errorf("Verify = %v", h.verified)
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	for _, leak := range []string{secret, strings.TrimPrefix(secret, "whsec_"), string(hits[0].body), `"data"`} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("log contains %q:\n%s", leak, logs.String())
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestSlowReceiverDoesNotHoldOthers: a receiver that hangs until the
// timeout holds up only its own deliveries (found by the black-box test).
func TestSlowReceiverDoesNotHoldOthers(t *testing.T) {
	st := memstore.New()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	for _, url := range []string{slow.URL, ""} {
		sub, secret, err := webhook.NewSubscription("http://127.0.0.1:1/", []string{"*"}, kek, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if url == "" {
			rcv := newReceiver(t, secret)
			url = rcv.URL
			defer func() {
				if got := len(rcv.got()); got != 10 {
					t.Errorf("the healthy receiver got %d deliveries, want all 10", got)
				}
			}()
		}
		sub.URL = url
		if err := st.AddSubscription(context.Background(), sub); err != nil {
			t.Fatal(err)
		}
	}
	s, err := webhook.NewSender(webhook.SenderConfig{Store: st, KEK: kek, Timeout: time.Minute, PollInterval: 10 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	// Events one after another: each batch holds a delivery to the slow
	// receiver, which never answers within the test.
	for i := range 10 {
		recordEvent(t, st, fmt.Sprintf("E%02d", i), time.Now(), "signout")
		s.Wake()
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	<-done
}
