package event_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/event"
)

func TestBusOrderAndFanOut(t *testing.T) {
	var b event.Bus
	var got []string
	for _, name := range []string{"revocations", "feed", "audit"} {
		b.Subscribe(func(_ context.Context, e event.Event) { got = append(got, name+":"+e.SessionID) })
	}
	b.Publish(context.Background(), event.Event{Kind: event.SessionRevoked, SessionID: "s1"})
	want := "[revocations:s1 feed:s1 audit:s1]"
	if fmt.Sprint(got) != want {
		t.Errorf("handlers ran as %v, want %s", got, want)
	}
}

func TestBusConcurrent(t *testing.T) {
	var b event.Bus
	var mu sync.Mutex
	n := 0
	b.Subscribe(func(context.Context, event.Event) { mu.Lock(); n++; mu.Unlock() })
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { b.Publish(context.Background(), event.Event{Kind: event.SessionRevoked}) })
		wg.Go(func() { b.Subscribe(func(context.Context, event.Event) {}) })
	}
	wg.Wait()
	if n != 50 {
		t.Errorf("the first handler saw %d events, want 50", n)
	}
}

func TestRemote(t *testing.T) {
	if !(event.Event{Cause: event.CauseElsewhere}).Remote() || (event.Event{Cause: event.CauseLogout}).Remote() {
		t.Error("Remote() must be true exactly for CauseElsewhere")
	}
}

// A Bus fans one event out to every consumer, in order.
func ExampleBus() {
	var bus event.Bus
	bus.Subscribe(func(_ context.Context, e event.Event) {
		fmt.Println("revocation set: drop access tokens of", e.SessionID)
	})
	bus.Subscribe(func(_ context.Context, e event.Event) {
		fmt.Println("feed: tell resource servers about", e.SessionID, "because", e.Cause)
	})
	bus.Publish(context.Background(), event.Event{
		Kind: event.SessionRevoked, At: time.Now(), SessionID: "S1", Cause: event.CauseLogout,
	})
	// Output:
	// revocation set: drop access tokens of S1
	// feed: tell resource servers about S1 because logout
}
