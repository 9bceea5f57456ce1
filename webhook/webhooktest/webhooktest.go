// Package webhooktest is the conformance suite for webhook.Store. Every
// backend runs it from its own tests:
//
//	webhooktest.Run(t, func(t *testing.T) webhooktest.Store { return newStore(t) })
//
// Deliveries are made the way authd makes them: by recording audit
// events (audit.Store.RecordEvent queues them in its transaction).
package webhooktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authd/authd"
	"github.com/authd/authd/audit"
	"github.com/authd/authd/webhook"
)

// Store is what the suite needs: the webhook store and the audit store
// whose RecordEvent queues the deliveries.
type Store interface {
	webhook.Store
	audit.Store
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

const lease = 2 * time.Minute

// Run runs the suite; newStore returns an empty store per subtest.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st Store)
	}{
		{"Subscriptions", testSubscriptions},
		{"DuplicateSubscription", testDuplicate},
		{"DeleteSubscription", testDelete},
		{"NoSubscriptions", testNoSubscriptions},
		{"Enqueue", testEnqueue},
		{"ClaimOrderAndLimit", testClaimOrder},
		{"Lease", testLease},
		{"Retry", testRetry},
		{"DeliveredAndDrop", testDeliveredAndDrop},
		{"CancelledContext", testCancelled},
		{"ConcurrentClaims", testConcurrentClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

func sub(id, url string, at time.Time, events ...string) *webhook.Subscription {
	return &webhook.Subscription{ID: id, URL: url, Events: events, Secret: []byte("sealed-" + id + "\x00\xff"), CreatedAt: at}
}

func add(t *testing.T, st Store, ss ...*webhook.Subscription) {
	t.Helper()
	for _, s := range ss {
		if err := st.AddSubscription(context.Background(), s); err != nil {
			t.Fatalf("AddSubscription(%s) = %v", s.ID, err)
		}
	}
}

func record(t *testing.T, st Store, id string, at time.Time, typ string) *audit.Event {
	t.Helper()
	e := &audit.Event{ID: id, At: at, Type: typ, UserID: "u1", SessionID: "s1", IP: "192.0.2.1", Actor: "user", Reason: "r"}
	if err := st.RecordEvent(context.Background(), e); err != nil {
		t.Fatalf("RecordEvent(%s) = %v", id, err)
	}
	return e
}

func claim(t *testing.T, st Store, now time.Time, n int) []*webhook.Claimed {
	t.Helper()
	ds, err := st.ClaimDeliveries(context.Background(), now, lease, n)
	if err != nil {
		t.Fatalf("ClaimDeliveries = %v", err)
	}
	return ds
}

// key names a delivery by what it carries: subscription/event ID.
func key(d *webhook.Claimed) string {
	var env struct {
		Data struct{ ID string } `json:"data"`
	}
	json.Unmarshal(d.Payload, &env)
	return d.SubscriptionID + "/" + env.Data.ID
}

func keys(ds []*webhook.Claimed) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, key(d))
	}
	slices.Sort(out)
	return out
}

func testSubscriptions(t *testing.T, st Store) {
	ctx := context.Background()
	got, err := st.Subscriptions(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("Subscriptions on an empty store = %v, %v; want none", got, err)
	}
	b := sub("wh_b", "https://b.example/hook?x=1", t0, "*")
	a := sub("wh_a", "http://127.0.0.1:8080/hook", t0.Add(time.Second), "signout", "refresh.replayed")
	add(t, st, b, a)
	got, err = st.Subscriptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*webhook.Subscription{b, a}, got); diff != "" {
		t.Errorf("Subscriptions (-want +got):\n%s", diff)
	}
}

func testDuplicate(t *testing.T, st Store) {
	add(t, st, sub("wh_a", "https://a.example/", t0, "*"))
	err := st.AddSubscription(context.Background(), sub("wh_a", "https://other.example/", t0, "signout"))
	if !errors.Is(err, authd.ErrConflict) {
		t.Errorf("AddSubscription(duplicate ID) = %v, want authd.ErrConflict", err)
	}
}

func testDelete(t *testing.T, st Store) {
	ctx := context.Background()
	add(t, st, sub("wh_a", "https://a.example/", t0, "*"), sub("wh_b", "https://b.example/", t0, "*"))
	record(t, st, "E1", t0, "signout")
	if err := st.DeleteSubscription(ctx, "wh_a"); err != nil {
		t.Fatalf("DeleteSubscription = %v", err)
	}
	if err := st.DeleteSubscription(ctx, "wh_a"); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("DeleteSubscription twice = %v, want authd.ErrNotFound", err)
	}
	if err := st.DeleteSubscription(ctx, "nope"); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("DeleteSubscription(unknown) = %v, want authd.ErrNotFound", err)
	}
	subs, err := st.Subscriptions(ctx)
	if err != nil || len(subs) != 1 || subs[0].ID != "wh_b" {
		t.Errorf("Subscriptions after delete = %v, %v; want wh_b only", subs, err)
	}
	// Its pending delivery went with it.
	if got, want := keys(claim(t, st, t0, 10)), []string{"wh_b/E1"}; !slices.Equal(got, want) {
		t.Errorf("claimed after delete = %v, want %v", got, want)
	}
}

func testNoSubscriptions(t *testing.T, st Store) {
	record(t, st, "E1", t0, "signout")
	if ds := claim(t, st, t0.Add(time.Hour), 10); len(ds) != 0 {
		t.Errorf("claimed %v without subscriptions, want none", keys(ds))
	}
}

func testEnqueue(t *testing.T, st Store) {
	a := sub("wh_a", "https://a.example/hook", t0, "signout", "refresh.replayed")
	all := sub("wh_all", "http://[::1]:9/x", t0, "*")
	none := sub("wh_none", "https://none.example/", t0, "user.created")
	add(t, st, a, all, none)
	e1 := record(t, st, "E1", t0, "signout")
	record(t, st, "E2", t0.Add(time.Second), "signin.succeeded")

	ds := claim(t, st, t0.Add(time.Second), 10)
	if got, want := keys(ds), []string{"wh_a/E1", "wh_all/E1", "wh_all/E2"}; !slices.Equal(got, want) {
		t.Fatalf("claimed %v, want %v", got, want)
	}
	seen := map[string]bool{}
	for _, d := range ds {
		if !strings.HasPrefix(d.ID, "msg_") || len(d.ID) < 20 || seen[d.ID] {
			t.Errorf("delivery ID %q: want a distinct msg_ and random characters", d.ID)
		}
		seen[d.ID] = true
		if d.Attempts != 1 {
			t.Errorf("%s: Attempts = %d, want 1", key(d), d.Attempts)
		}
		if !d.NextAt.Equal(t0.Add(time.Second).Add(lease)) {
			t.Errorf("%s: NextAt = %v, want claim time + lease", key(d), d.NextAt)
		}
		var s *webhook.Subscription
		if d.SubscriptionID == "wh_a" {
			s = a
		} else {
			s = all
		}
		if d.URL != s.URL || string(d.Secret) != string(s.Secret) {
			t.Errorf("%s: URL, Secret = %q, %q; want the subscription's %q, %q", key(d), d.URL, d.Secret, s.URL, s.Secret)
		}
		if key(d) != "wh_a/E1" {
			continue
		}
		if d.EventType != "signout" || !d.CreatedAt.Equal(t0) {
			t.Errorf("EventType, CreatedAt = %q, %v; want signout, %v", d.EventType, d.CreatedAt, t0)
		}
		var env struct {
			Type      string       `json:"type"`
			Timestamp string       `json:"timestamp"`
			Data      *audit.Event `json:"data"`
		}
		if err := json.Unmarshal(d.Payload, &env); err != nil {
			t.Fatalf("payload %s: %v", d.Payload, err)
		}
		if env.Type != "signout" || env.Timestamp != "2030-01-02T03:04:05.123456Z" {
			t.Errorf("envelope type, timestamp = %q, %q; want signout, 2030-01-02T03:04:05.123456Z", env.Type, env.Timestamp)
		}
		if diff := cmp.Diff(e1, env.Data); diff != "" {
			t.Errorf("envelope data (-want +got):\n%s", diff)
		}
	}
}

func testClaimOrder(t *testing.T, st Store) {
	add(t, st, sub("wh_a", "https://a.example/", t0, "*"))
	for i := range 5 {
		record(t, st, fmt.Sprintf("E%d", i), t0.Add(time.Duration(4-i)*time.Second), "signout")
	}
	now := t0.Add(time.Minute)
	first := claim(t, st, now, 2)
	if got, want := []string{key(first[0]), key(first[1])}, []string{"wh_a/E4", "wh_a/E3"}; len(first) != 2 || !slices.Equal(got, want) {
		t.Errorf("first claim = %v, want the two oldest %v", got, want)
	}
	if n := len(claim(t, st, now, 0)); n != 0 {
		t.Errorf("ClaimDeliveries(n=0) = %d deliveries, want 0", n)
	}
	if rest := claim(t, st, now, 10); len(rest) != 3 {
		t.Errorf("second claim = %v, want the other 3", keys(rest))
	}
	// Not yet due: an event recorded with a later time.
	record(t, st, "LATE", now.Add(time.Hour), "signout")
	if ds := claim(t, st, now, 10); len(ds) != 0 {
		t.Errorf("claimed %v before it was due", keys(ds))
	}
}

func testLease(t *testing.T, st Store) {
	add(t, st, sub("wh_a", "https://a.example/", t0, "*"))
	record(t, st, "E1", t0, "signout")
	ds := claim(t, st, t0, 10)
	if len(ds) != 1 {
		t.Fatalf("claimed %d, want 1", len(ds))
	}
	if again := claim(t, st, t0.Add(lease-time.Microsecond), 10); len(again) != 0 {
		t.Errorf("claimed again within the lease: %v", keys(again))
	}
	again := claim(t, st, t0.Add(lease), 10)
	if len(again) != 1 || again[0].ID != ds[0].ID || again[0].Attempts != 2 {
		t.Fatalf("after the lease = %+v, want the same delivery (ID %s), attempt 2", again, ds[0].ID)
	}
}

func testRetry(t *testing.T, st Store) {
	ctx := context.Background()
	add(t, st, sub("wh_a", "https://a.example/", t0, "*"))
	record(t, st, "E1", t0, "signout")
	d := claim(t, st, t0, 1)[0]
	next := t0.Add(5 * time.Second)
	if err := st.RetryDelivery(ctx, d.ID, next, "receiver answered 500 Internal Server Error"); err != nil {
		t.Fatalf("RetryDelivery = %v", err)
	}
	if ds := claim(t, st, next.Add(-time.Microsecond), 10); len(ds) != 0 {
		t.Errorf("claimed before its retry time: %v", keys(ds))
	}
	ds := claim(t, st, next, 10)
	if len(ds) != 1 || ds[0].ID != d.ID || ds[0].Attempts != 2 || string(ds[0].Payload) != string(d.Payload) {
		t.Errorf("retry = %+v, want the same delivery, ID and payload, attempt 2", ds)
	}
	if err := st.RetryDelivery(ctx, "msg_nope", next, "x"); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("RetryDelivery(unknown) = %v, want authd.ErrNotFound", err)
	}
}

func testDeliveredAndDrop(t *testing.T, st Store) {
	ctx := context.Background()
	add(t, st, sub("wh_a", "https://a.example/", t0, "*"))
	record(t, st, "E1", t0, "signout")
	record(t, st, "E2", t0, "signout")
	ds := claim(t, st, t0, 10)
	if len(ds) != 2 {
		t.Fatalf("claimed %d, want 2", len(ds))
	}
	if err := st.Delivered(ctx, ds[0].ID); err != nil {
		t.Errorf("Delivered = %v", err)
	}
	if err := st.Delivered(ctx, ds[0].ID); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("Delivered twice = %v, want authd.ErrNotFound", err)
	}
	if err := st.DropDelivery(ctx, ds[1].ID); err != nil {
		t.Errorf("DropDelivery = %v", err)
	}
	if err := st.DropDelivery(ctx, ds[1].ID); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("DropDelivery twice = %v, want authd.ErrNotFound", err)
	}
	if left := claim(t, st, t0.Add(48*time.Hour), 10); len(left) != 0 {
		t.Errorf("left in the outbox: %v", keys(left))
	}
	// The subscription stays.
	if subs, err := st.Subscriptions(ctx); err != nil || len(subs) != 1 {
		t.Errorf("Subscriptions = %v, %v; want wh_a", subs, err)
	}
}

func testCancelled(t *testing.T, st Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	checks := map[string]error{}
	checks["AddSubscription"] = st.AddSubscription(ctx, sub("wh_a", "https://a.example/", t0, "*"))
	_, checks["Subscriptions"] = st.Subscriptions(ctx)
	checks["DeleteSubscription"] = st.DeleteSubscription(ctx, "wh_a")
	_, checks["ClaimDeliveries"] = st.ClaimDeliveries(ctx, t0, lease, 10)
	checks["Delivered"] = st.Delivered(ctx, "msg_x")
	checks["RetryDelivery"] = st.RetryDelivery(ctx, "msg_x", t0, "x")
	checks["DropDelivery"] = st.DropDelivery(ctx, "msg_x")
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s(cancelled) = %v, want context.Canceled", name, err)
		}
	}
}

// testConcurrentClaims: 100 claimers over 50 deliveries, each delivery
// claimed exactly once.
func testConcurrentClaims(t *testing.T, st Store) {
	add(t, st, sub("wh_a", "https://a.example/", t0, "*"))
	for i := range 50 {
		record(t, st, fmt.Sprintf("E%02d", i), t0, "signout")
	}
	var (
		mu     sync.Mutex
		counts = map[string]int{}
		wg     sync.WaitGroup
		errs   = make(chan error, 100)
	)
	for range 100 {
		wg.Go(func() {
			ds, err := st.ClaimDeliveries(context.Background(), t0, lease, 3)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, d := range ds {
				counts[d.ID]++
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent ClaimDeliveries = %v", err)
	}
	if len(counts) != 50 {
		t.Errorf("%d distinct deliveries claimed, want 50", len(counts))
	}
	for id, n := range counts {
		if n != 1 {
			t.Errorf("delivery %s claimed %d times, want once", id, n)
		}
	}
}
