// Package audittest is the conformance suite for audit.Store. Every
// backend runs it from its own tests:
//
//	audittest.Run(t, func(t *testing.T) audit.Store { return newStore(t) })
package audittest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/audit"
	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// Run runs the suite; newStore returns an empty store per subtest.
func Run(t *testing.T, newStore func(t *testing.T) audit.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st audit.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Filter", testFilter},
		{"Paging", testPaging},
		{"Duplicate", testDuplicate},
		{"Retention", testRetention},
		{"CancelledContext", testCancelled},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

func ev(id string, at time.Time, typ, userID string) *audit.Event {
	return &audit.Event{ID: id, At: at, Type: typ, UserID: userID, Actor: "user"}
}

func record(t *testing.T, st audit.Store, es ...*audit.Event) {
	t.Helper()
	for _, e := range es {
		if err := st.RecordEvent(context.Background(), e); err != nil {
			t.Fatalf("RecordEvent(%s) = %v", e.ID, err)
		}
	}
}

func ids(es []*audit.Event) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func testRoundTrip(t *testing.T, st audit.Store) {
	e := &audit.Event{ID: "E1", At: t0, Type: "session.revoked", UserID: "u1", SessionID: "s1", ClientID: "c1", KeyID: "k1",
		IP: "2001:db8::1", UserAgent: "Firefox/128 ünïcode", Actor: "session:s2", Reason: "revoked_by_user", Email: "alice@example.com"}
	record(t, st, e)
	got, err := st.Events(context.Background(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("Events = %d events, want 1", len(got))
	}
	if diff := cmp.Diff(e, got[0]); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func testFilter(t *testing.T, st audit.Store) {
	record(t, st,
		ev("a", t0, "signin.succeeded", "u1"),
		ev("b", t0.Add(time.Minute), "signin.failed", "u1"),
		ev("c", t0.Add(2*time.Minute), "signin.succeeded", "u2"),
		ev("d", t0.Add(3*time.Minute), "password.changed", "u1"),
	)
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		f    audit.Filter
		want []string
	}{
		{"all, newest first", audit.Filter{}, []string{"d", "c", "b", "a"}},
		{"user", audit.Filter{UserID: "u1"}, []string{"d", "b", "a"}},
		{"since (inclusive)", audit.Filter{Since: t0.Add(time.Minute)}, []string{"d", "c", "b"}},
		{"types", audit.Filter{Types: []string{"signin.succeeded", "password.changed"}}, []string{"d", "c", "a"}},
		{"all filters", audit.Filter{UserID: "u1", Since: t0.Add(30 * time.Second), Types: []string{"signin.failed"}}, []string{"b"}},
		{"limit", audit.Filter{Limit: 2}, []string{"d", "c"}},
		{"nobody", audit.Filter{UserID: "u9"}, []string{}},
	} {
		got, err := st.Events(ctx, tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func testPaging(t *testing.T, st audit.Store) {
	// Five events in the same microsecond: the ID breaks the tie.
	for _, id := range []string{"p1", "p2", "p3", "p4", "p5"} {
		record(t, st, ev(id, t0, "signin.succeeded", "u1"))
	}
	ctx := context.Background()
	var all []string
	var before *audit.Event
	for range 10 {
		page, err := st.Events(ctx, audit.Filter{Limit: 2, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, ids(page)...)
		before = page[len(page)-1]
	}
	if diff := cmp.Diff([]string{"p5", "p4", "p3", "p2", "p1"}, all); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
}

func testDuplicate(t *testing.T, st audit.Store) {
	record(t, st, ev("dup", t0, "signout", "u1"))
	if err := st.RecordEvent(context.Background(), ev("dup", t0, "signout", "u1")); !errors.Is(err, authd.ErrConflict) {
		t.Errorf("second RecordEvent(dup) = %v, want ErrConflict", err)
	}
}

func testRetention(t *testing.T, st audit.Store) {
	record(t, st, ev("old", t0, "signout", "u1"), ev("edge", t0.Add(time.Hour), "signout", "u1"), ev("new", t0.Add(2*time.Hour), "signout", "u1"))
	n, err := st.DeleteEventsBefore(context.Background(), t0.Add(time.Hour))
	if err != nil || n != 1 {
		t.Errorf("DeleteEventsBefore = %d, %v; want 1", n, err)
	}
	got, _ := st.Events(context.Background(), audit.Filter{})
	if diff := cmp.Diff([]string{"new", "edge"}, ids(got)); diff != "" {
		t.Errorf("after retention (-want +got):\n%s", diff)
	}
}

func testCancelled(t *testing.T, st audit.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := st.RecordEvent(ctx, ev("x", t0, "signout", "u1")); !errors.Is(err, context.Canceled) {
		t.Errorf("RecordEvent = %v, want context.Canceled", err)
	}
	if _, err := st.Events(ctx, audit.Filter{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Events = %v, want context.Canceled", err)
	}
	if _, err := st.DeleteEventsBefore(ctx, t0); !errors.Is(err, context.Canceled) {
		t.Errorf("DeleteEventsBefore = %v, want context.Canceled", err)
	}
}

// testConcurrent: 100 events recorded at once are all there.
func testConcurrent(t *testing.T, st audit.Store) {
	const n = 100
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := st.RecordEvent(context.Background(), ev(fmt.Sprintf("c%03d", i), t0.Add(time.Duration(i)*time.Millisecond), "signin.failed", "u1")); err != nil {
				t.Errorf("RecordEvent = %v", err)
			}
		})
	}
	wg.Wait()
	got, err := st.Events(context.Background(), audit.Filter{Limit: audit.MaxLimit})
	if err != nil || len(got) != n {
		t.Errorf("Events = %d, %v; want %d", len(got), err, n)
	}
}
