package mail_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/mail"
	"github.com/authd/authd/memstore"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// clock is an injected clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// recorder is a Transport that keeps what it is given and fails while
// fail returns an error.
type recorder struct {
	mu   sync.Mutex
	sent []*mail.Rendered
	fail error
}

func (r *recorder) Send(ctx context.Context, m *mail.Rendered) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.sent = append(r.sent, m)
	return nil
}

func (r *recorder) setFail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sent)
}

func newMessage(at time.Time, template string) *mail.Message {
	return &mail.Message{ID: rand.Text(), To: "alice@example.com", Template: template, Data: data[template], CreatedAt: at}
}

type fixture struct {
	st   *memstore.Store
	tr   *recorder
	clk  *clock
	s    *mail.Sender
	logs *bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{st: memstore.New(), tr: &recorder{}, clk: &clock{now: t0}, logs: &bytes.Buffer{}}
	var err error
	f.s, err = mail.NewSender(mail.SenderConfig{
		Outbox: f.st, Transport: f.tr, From: "Example <no-reply@example.com>",
		Logger: slog.New(slog.NewTextHandler(&syncWriter{w: f.logs}, nil)),
		Now:    f.clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func (f *fixture) enqueue(t *testing.T, ms ...*mail.Message) {
	t.Helper()
	for _, m := range ms {
		if err := f.st.Enqueue(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) flush(t *testing.T) {
	t.Helper()
	if err := f.s.Flush(context.Background()); err != nil {
		t.Fatalf("Flush = %v", err)
	}
}

// pending returns the IDs still in the outbox at the fixture's clock far
// in the future (claiming them).
func pending(t *testing.T, ob mail.Outbox) int {
	t.Helper()
	ms, err := ob.Claim(context.Background(), t0.Add(1000*time.Hour), time.Minute, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

func TestSenderSends(t *testing.T) {
	f := newFixture(t)
	m := newMessage(t0, mail.TemplatePasswordReset)
	f.enqueue(t, m)
	f.flush(t)
	if f.tr.count() != 1 {
		t.Fatalf("sent %d, want 1", f.tr.count())
	}
	r := f.tr.sent[0]
	if r.ID != m.ID || r.To != m.To || r.From != "Example <no-reply@example.com>" || !r.Date.Equal(t0) ||
		r.Subject != "Reset your password" || !strings.Contains(r.Text, m.Data["Link"]) {
		t.Errorf("sent %+v", r)
	}
	if n := pending(t, f.st); n != 0 {
		t.Errorf("%d left in the outbox, want 0", n)
	}
	f.flush(t)
	if f.tr.count() != 1 {
		t.Errorf("sent again by a second Flush")
	}
}

func TestSenderBackoff(t *testing.T) {
	f := newFixture(t)
	f.tr.setFail(errors.New("dial tcp 127.0.0.1:25: connection refused"))
	m := newMessage(t0, mail.TemplateVerifyEmail)
	f.enqueue(t, m)
	// Attempt k fails and reschedules after 5 s · 2^(k-1), at most 10 min.
	for _, wait := range []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second,
		80 * time.Second, 160 * time.Second, 320 * time.Second, 600 * time.Second, 600 * time.Second} {
		f.flush(t) // the attempt
		f.clk.Add(wait - time.Microsecond)
		f.flush(t)
		ms, _ := f.st.Claim(context.Background(), f.clk.Now(), time.Nanosecond, 10)
		if len(ms) != 0 {
			t.Fatalf("due before the %v backoff ended", wait)
		}
		f.clk.Add(time.Microsecond)
	}
	if strings.Contains(f.logs.String(), m.Data["Link"]) {
		t.Errorf("the log holds the link:\n%s", f.logs)
	}
	if !strings.Contains(f.logs.String(), "level=WARN") {
		t.Errorf("no warning logged:\n%s", f.logs)
	}
	f.tr.setFail(nil)
	f.flush(t)
	if f.tr.count() != 1 || pending(t, f.st) != 0 {
		t.Fatalf("after recovery: sent %d, want 1; outbox not empty", f.tr.count())
	}
}

func TestSenderDrops(t *testing.T) {
	tests := []struct {
		name    string
		msg     func() *mail.Message
		failure error
	}{
		{"UnknownTemplate", func() *mail.Message { return newMessage(t0, "no_such_template") }, nil},
		{"MissingField", func() *mail.Message {
			m := newMessage(t0, mail.TemplatePasswordReset)
			m.Data = nil
			return m
		}, nil},
		{"TooOld", func() *mail.Message { return newMessage(t0.Add(-24*time.Hour), mail.TemplateNewDevice) }, nil},
		{"Permanent", func() *mail.Message { return newMessage(t0, mail.TemplateNewDevice) },
			fmt.Errorf("550 no such user: %w", mail.ErrPermanent)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.tr.setFail(tt.failure)
			m := tt.msg()
			f.enqueue(t, m)
			f.flush(t)
			if n := pending(t, f.st); n != 0 {
				t.Errorf("%d left in the outbox, want the message dropped", n)
			}
			if tt.failure == nil && f.tr.count() != 0 {
				t.Errorf("sent %d, want none", f.tr.count())
			}
			if !strings.Contains(f.logs.String(), "level=ERROR") || !strings.Contains(f.logs.String(), m.ID) {
				t.Errorf("no error logged for %s:\n%s", m.ID, f.logs)
			}
		})
	}
}

func TestSenderGivesUpAfterRetries(t *testing.T) {
	f := newFixture(t)
	f.tr.setFail(errors.New("421 try later"))
	f.enqueue(t, newMessage(t0, mail.TemplateNewDevice))
	for range 200 {
		f.flush(t)
		f.clk.Add(10 * time.Minute)
	}
	if n := pending(t, f.st); n != 0 {
		t.Errorf("%d left after 33 h of failures, want the message dropped", n)
	}
}

func TestSenderBatches(t *testing.T) {
	f := newFixture(t)
	for i := range 40 {
		f.enqueue(t, newMessage(t0.Add(time.Duration(i-40)*time.Microsecond), mail.TemplateNewDevice))
	}
	f.flush(t) // more than one claim's worth
	if f.tr.count() != 40 {
		t.Fatalf("sent %d, want 40", f.tr.count())
	}
	for i := 1; i < 40; i++ {
		if !f.tr.sent[i-1].Date.Before(f.tr.sent[i].Date) {
			t.Fatalf("not sent oldest first")
		}
	}
}

func TestSenderRunAndWake(t *testing.T) {
	st, tr := memstore.New(), &recorder{}
	s, err := mail.NewSender(mail.SenderConfig{Outbox: st, Transport: tr, From: "no-reply@example.com",
		Logger: slog.New(slog.DiscardHandler), PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	// With an hour between polls, only Wake makes the message go out.
	if err := st.Enqueue(ctx, newMessage(time.Now(), mail.TemplateNewDevice)); err != nil {
		t.Fatal(err)
	}
	s.Wake()
	s.Wake() // never blocks
	for tr.count() == 0 {
		time.Sleep(5 * time.Millisecond) // the test's timeout bounds this
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil after cancel", err)
	}
}

func TestNewSenderRefuses(t *testing.T) {
	st, tr := memstore.New(), &recorder{}
	for _, cfg := range []mail.SenderConfig{
		{Transport: tr, From: "a@example.com"},
		{Outbox: st, From: "a@example.com"},
		{Outbox: st, Transport: tr, From: ""},
		{Outbox: st, Transport: tr, From: "a@example.com\r\nBcc: b@example.com"},
	} {
		if _, err := mail.NewSender(cfg); err == nil {
			t.Errorf("NewSender(%+v) = nil error", cfg)
		}
	}
}
