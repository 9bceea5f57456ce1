// Package mailtest is the conformance suite for mail.Outbox. Every backend
// runs it from its own tests:
//
//	func TestOutboxConformance(t *testing.T) {
//		mailtest.Run(t, func(t *testing.T) mail.Outbox { return newStore(t) })
//	}
//
// A backend is done when the suite passes unchanged. It holds every backend
// to the Claim lease: of many concurrent claims each message goes to
// exactly one claimer while the lease runs.
package mailtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/authd/authd"
	"github.com/authd/authd/mail"
)

// t0 is the suite's clock origin; times are UTC with microsecond precision,
// which every backend must round-trip exactly.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

const lease = 2 * time.Minute

// Run runs the suite. newOutbox must return an empty outbox for each call;
// it is called once per subtest and should register its own cleanup.
func Run(t *testing.T, newOutbox func(t *testing.T) mail.Outbox) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ob mail.Outbox)
	}{
		{"RoundTrip", testRoundTrip},
		{"EmptyData", testEmptyData},
		{"Conflict", testConflict},
		{"NotDueYet", testNotDueYet},
		{"Lease", testLease},
		{"Attempts", testAttempts},
		{"Retry", testRetry},
		{"SentAndDrop", testSentAndDrop},
		{"Missing", testMissing},
		{"CancelledContext", testCancelled},
		{"OldestFirst", testOldestFirst},
		{"Limit", testLimit},
		{"RaceClaim", testRaceClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newOutbox(t)) })
	}
}

// New returns a message created at at, due at once, with a fresh random
// ID and every field set.
func New(at time.Time) *mail.Message {
	return &mail.Message{
		ID:       rand.Text(),
		To:       "alice@example.com",
		Template: mail.TemplatePasswordReset,
		Data: map[string]string{
			"Link": "https://auth.example/reset?token=" + rand.Text(),
			"IP":   "192.0.2.1",
			"Odd":  "<b>&amp;</b> \"quoted\" é\n",
		},
		CreatedAt: at,
	}
}

func mustEnqueue(t *testing.T, ob mail.Outbox, ms ...*mail.Message) {
	t.Helper()
	for _, m := range ms {
		if err := ob.Enqueue(context.Background(), m); err != nil {
			t.Fatalf("Enqueue(%s) = %v, want nil", m.ID, err)
		}
	}
}

func claim(t *testing.T, ob mail.Outbox, now time.Time, n int) []*mail.Message {
	t.Helper()
	got, err := ob.Claim(context.Background(), now, lease, n)
	if err != nil {
		t.Fatalf("Claim(%v, %d) = %v, want nil", now, n, err)
	}
	return got
}

func ids(ms []*mail.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func testRoundTrip(t *testing.T, ob mail.Outbox) {
	m := New(t0)
	mustEnqueue(t, ob, m)
	now := t0.Add(time.Second)
	got := claim(t, ob, now, 10)
	want := *m
	want.Attempts = 1
	want.NextAt = now.Add(lease)
	if diff := cmp.Diff([]*mail.Message{&want}, got); diff != "" {
		t.Fatalf("Claim (-want +got):\n%s", diff)
	}
	for _, c := range got {
		if c.CreatedAt.Location() != time.UTC || c.NextAt.Location() != time.UTC {
			t.Errorf("times not in UTC: %v, %v", c.CreatedAt, c.NextAt)
		}
	}
	// The claim returns copies: changing them changes nothing stored.
	got[0].Data["Link"] = "changed"
	if err := ob.Retry(context.Background(), m.ID, now, "x"); err != nil {
		t.Fatal(err)
	}
	again := claim(t, ob, now, 10)
	if len(again) != 1 || again[0].Data["Link"] != m.Data["Link"] {
		t.Fatalf("Claim after Retry = %+v, want the message unchanged", again)
	}
}

func testEmptyData(t *testing.T, ob mail.Outbox) {
	m := New(t0)
	m.Template = mail.TemplateNewDevice
	m.Data = nil
	mustEnqueue(t, ob, m)
	got := claim(t, ob, t0, 1)
	if len(got) != 1 || len(got[0].Data) != 0 {
		t.Fatalf("Claim = %+v, want the message with no data", got)
	}
}

func testConflict(t *testing.T, ob mail.Outbox) {
	m := New(t0)
	mustEnqueue(t, ob, m)
	d := New(t0)
	d.ID = m.ID
	if err := ob.Enqueue(context.Background(), d); !errors.Is(err, authd.ErrConflict) {
		t.Fatalf("Enqueue(same ID) = %v, want ErrConflict", err)
	}
}

func testNotDueYet(t *testing.T, ob mail.Outbox) {
	m := New(t0)
	m.NextAt = t0.Add(time.Hour)
	mustEnqueue(t, ob, m)
	if got := claim(t, ob, t0.Add(time.Hour-time.Microsecond), 10); len(got) != 0 {
		t.Fatalf("Claim before NextAt = %v, want none", ids(got))
	}
	got := claim(t, ob, t0.Add(time.Hour), 10) // NextAt <= now: due
	if len(got) != 1 || got[0].ID != m.ID {
		t.Fatalf("Claim at NextAt = %v, want [%s]", ids(got), m.ID)
	}
}

func testLease(t *testing.T, ob mail.Outbox) {
	m := New(t0)
	mustEnqueue(t, ob, m)
	if got := claim(t, ob, t0, 10); len(got) != 1 {
		t.Fatalf("first Claim = %v, want [%s]", ids(got), m.ID)
	}
	if got := claim(t, ob, t0, 10); len(got) != 0 {
		t.Fatalf("Claim during the lease = %v, want none", ids(got))
	}
	if got := claim(t, ob, t0.Add(lease-time.Microsecond), 10); len(got) != 0 {
		t.Fatalf("Claim just before the lease ends = %v, want none", ids(got))
	}
	// The sender died: the message comes back when the lease ends.
	got := claim(t, ob, t0.Add(lease), 10)
	if len(got) != 1 || got[0].ID != m.ID {
		t.Fatalf("Claim after the lease = %v, want [%s]", ids(got), m.ID)
	}
}

func testAttempts(t *testing.T, ob mail.Outbox) {
	m := New(t0)
	mustEnqueue(t, ob, m)
	now := t0
	for want := 1; want <= 3; want++ {
		got := claim(t, ob, now, 1)
		if len(got) != 1 || got[0].Attempts != want {
			t.Fatalf("claim %d = %+v, want Attempts %d", want, got, want)
		}
		now = now.Add(lease)
	}
}

func testRetry(t *testing.T, ob mail.Outbox) {
	ctx := context.Background()
	m := New(t0)
	mustEnqueue(t, ob, m)
	claim(t, ob, t0, 1)
	next := t0.Add(10 * time.Second) // before the lease would have ended
	if err := ob.Retry(ctx, m.ID, next, "dial tcp: connection refused"); err != nil {
		t.Fatalf("Retry = %v, want nil", err)
	}
	if got := claim(t, ob, next.Add(-time.Microsecond), 1); len(got) != 0 {
		t.Fatalf("Claim before the retry time = %v, want none", ids(got))
	}
	got := claim(t, ob, next, 1)
	if len(got) != 1 || got[0].ID != m.ID || got[0].Attempts != 2 {
		t.Fatalf("Claim at the retry time = %+v, want the message, Attempts 2", got)
	}
	// Retry may also push a message later than its lease.
	if err := ob.Retry(ctx, m.ID, t0.Add(time.Hour), "421 try later"); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, ob, t0.Add(time.Hour-time.Microsecond), 1); len(got) != 0 {
		t.Fatalf("Claim before the later retry time = %v, want none", ids(got))
	}
}

func testSentAndDrop(t *testing.T, ob mail.Outbox) {
	ctx := context.Background()
	sent, dropped, kept := New(t0), New(t0), New(t0)
	mustEnqueue(t, ob, sent, dropped, kept)
	claim(t, ob, t0, 10)
	if err := ob.Sent(ctx, sent.ID); err != nil {
		t.Fatalf("Sent = %v, want nil", err)
	}
	if err := ob.Drop(ctx, dropped.ID); err != nil {
		t.Fatalf("Drop = %v, want nil", err)
	}
	got := claim(t, ob, t0.Add(24*time.Hour), 10)
	if diff := cmp.Diff([]string{kept.ID}, ids(got)); diff != "" {
		t.Fatalf("Claim after Sent and Drop (-want +got):\n%s", diff)
	}
	if err := ob.Sent(ctx, sent.ID); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("Sent twice = %v, want ErrNotFound", err)
	}
	if err := ob.Drop(ctx, dropped.ID); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("Drop twice = %v, want ErrNotFound", err)
	}
}

func testMissing(t *testing.T, ob mail.Outbox) {
	ctx := context.Background()
	if err := ob.Sent(ctx, "missing"); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("Sent(missing) = %v, want ErrNotFound", err)
	}
	if err := ob.Retry(ctx, "missing", t0, "x"); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("Retry(missing) = %v, want ErrNotFound", err)
	}
	if err := ob.Drop(ctx, "missing"); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("Drop(missing) = %v, want ErrNotFound", err)
	}
	if got := claim(t, ob, t0, 10); got == nil || len(got) != 0 {
		t.Errorf("Claim on an empty outbox = %#v, want an empty non-nil slice", got)
	}
}

func testCancelled(t *testing.T, ob mail.Outbox) {
	m := New(t0)
	mustEnqueue(t, ob, m)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := []struct {
		name string
		fn   func() error
	}{
		{"Enqueue", func() error { return ob.Enqueue(ctx, New(t0)) }},
		{"Claim", func() error { _, err := ob.Claim(ctx, t0, lease, 10); return err }},
		{"Sent", func() error { return ob.Sent(ctx, m.ID) }},
		{"Retry", func() error { return ob.Retry(ctx, m.ID, t0, "x") }},
		{"Drop", func() error { return ob.Drop(ctx, m.ID) }},
	}
	for _, c := range calls {
		if err := c.fn(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s(cancelled) = %v, want context.Canceled", c.name, err)
		}
	}
	// Nothing happened: the one message is still there, unclaimed.
	got := claim(t, ob, t0, 10)
	if len(got) != 1 || got[0].ID != m.ID || got[0].Attempts != 1 {
		t.Fatalf("Claim after cancelled calls = %+v, want [%s] at its first attempt", got, m.ID)
	}
}

func testOldestFirst(t *testing.T, ob mail.Outbox) {
	var want []string
	var ms []*mail.Message
	for i := range 5 {
		m := New(t0.Add(time.Duration(i) * time.Second))
		want = append(want, m.ID)
		ms = append(ms, m)
	}
	// Enqueued newest first: the order comes from CreatedAt, not arrival.
	slices.Reverse(ms)
	mustEnqueue(t, ob, ms...)
	got := claim(t, ob, t0.Add(time.Minute), 10)
	if diff := cmp.Diff(want, ids(got)); diff != "" {
		t.Fatalf("Claim order (-want +got):\n%s", diff)
	}
	// With a limit the oldest due ones are taken.
	for _, m := range got {
		if err := ob.Retry(context.Background(), m.ID, t0, "x"); err != nil {
			t.Fatal(err)
		}
	}
	got = claim(t, ob, t0.Add(time.Minute), 2)
	if diff := cmp.Diff(want[:2], ids(got)); diff != "" {
		t.Fatalf("Claim(2) (-want +got):\n%s", diff)
	}
}

func testLimit(t *testing.T, ob mail.Outbox) {
	for range 7 {
		mustEnqueue(t, ob, New(t0))
	}
	seen := map[string]bool{}
	for _, want := range []int{3, 3, 1, 0} {
		got := claim(t, ob, t0, 3)
		if len(got) != want {
			t.Fatalf("Claim(3) = %d messages, want %d", len(got), want)
		}
		for _, m := range got {
			if seen[m.ID] {
				t.Fatalf("message %s claimed twice", m.ID)
			}
			seen[m.ID] = true
		}
	}
	if got := claim(t, ob, t0, 0); len(got) != 0 {
		t.Fatalf("Claim(0) = %v, want none", ids(got))
	}
}

// testRaceClaim: 100 goroutines claim at once over 50 due messages; every
// message is claimed exactly once.
func testRaceClaim(t *testing.T, ob mail.Outbox) {
	const messages, claimers = 50, 100
	want := make([]string, 0, messages)
	for i := range messages {
		m := New(t0.Add(time.Duration(i) * time.Microsecond))
		want = append(want, m.ID)
		mustEnqueue(t, ob, m)
	}
	var (
		mu    sync.Mutex
		got   []string
		errs  []error
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for i := range claimers {
		wg.Go(func() {
			<-start
			ms, err := ob.Claim(context.Background(), t0.Add(time.Second), lease, 1+i%3)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("claimer %d: %w", i, err))
				return
			}
			got = append(got, ids(ms)...)
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("Claim errors: %v", errors.Join(errs...))
	}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Fatalf("claimed messages (-want +got; each exactly once):\n%s", diff)
	}
}
