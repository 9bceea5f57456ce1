// Package throttletest is the conformance suite for login throttles: the
// in-memory Limiter and the shared ones in pgstore and redisstore.
package throttletest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/throttle"
)

// Throttle is what the server needs of a throttle.
type Throttle interface {
	Wait(ctx context.Context, key string) (time.Duration, error)
	Fail(ctx context.Context, key string) error
	Reset(ctx context.Context, key string) error
}

// Clock is a settable clock for the suite.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Run runs the suite. newThrottle returns a throttle over a fresh, empty
// backing store with cfg; when shared is true, calling it twice within one
// subtest must give two throttles over the SAME backing store (two
// instances), and the suite checks that they share counts.
func Run(t *testing.T, shared bool, newThrottle func(t *testing.T, cfg throttle.Config) (a, b Throttle)) {
	cfg := func(c *Clock) throttle.Config {
		return throttle.Config{Free: 3, BaseDelay: time.Second, MaxDelay: time.Minute, Forget: time.Hour, Now: c.Now}
	}
	start := time.Now().UTC().Truncate(time.Second)
	ctx := context.Background()
	key := func(t *testing.T) string { return fmt.Sprintf("k-%s-%d", t.Name(), time.Now().UnixNano()) }

	t.Run("Curve", func(t *testing.T) {
		c := &Clock{t: start}
		th, _ := newThrottle(t, cfg(c))
		k := key(t)
		for i := range 3 {
			if d, err := th.Wait(ctx, k); err != nil || d != 0 {
				t.Fatalf("free attempt %d: wait %v, %v", i, d, err)
			}
			if err := th.Fail(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if d, _ := th.Wait(ctx, k); d != 0 {
			t.Fatalf("after the free failures wait = %v, want 0", d)
		}
		th.Fail(ctx, k)
		if d, _ := th.Wait(ctx, k); d < 900*time.Millisecond || d > time.Second {
			t.Fatalf("after the 4th failure wait = %v, want 1s", d)
		}
		c.Advance(time.Second)
		th.Fail(ctx, k)
		if d, _ := th.Wait(ctx, k); d < 1900*time.Millisecond || d > 2*time.Second {
			t.Fatalf("after the 5th failure wait = %v, want 2s", d)
		}
		for range 30 {
			th.Fail(ctx, k)
		}
		if d, _ := th.Wait(ctx, k); d < 59*time.Second || d > time.Minute {
			t.Fatalf("after many failures wait = %v, want the 1m ceiling", d)
		}
		if d, _ := th.Wait(ctx, key(t)+"other"); d != 0 {
			t.Errorf("another key waits %v", d)
		}
	})
	t.Run("ForgetAndReset", func(t *testing.T) {
		c := &Clock{t: start}
		th, _ := newThrottle(t, cfg(c))
		k := key(t)
		for range 10 {
			th.Fail(ctx, k)
		}
		c.Advance(time.Hour)
		if d, _ := th.Wait(ctx, k); d != 0 {
			t.Errorf("after Forget wait = %v, want 0", d)
		}
		th.Fail(ctx, k) // counting restarts: free again
		if d, _ := th.Wait(ctx, k); d != 0 {
			t.Errorf("first failure after Forget waits %v, want 0", d)
		}
		for range 10 {
			th.Fail(ctx, k)
		}
		if err := th.Reset(ctx, k); err != nil {
			t.Fatal(err)
		}
		if d, _ := th.Wait(ctx, k); d != 0 {
			t.Errorf("after Reset wait = %v, want 0", d)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		c := &Clock{t: start}
		th, _ := newThrottle(t, cfg(c))
		k := key(t)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if err := th.Fail(ctx, k); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		// 20 failures: 17 past the free ones, so the ceiling-capped delay
		// of the 20th failure must be in force.
		want := throttle.Delay(20, 3, time.Second, time.Minute)
		if d, _ := th.Wait(ctx, k); d < want-time.Second {
			t.Errorf("after 20 concurrent failures wait = %v, want about %v (lost updates?)", d, want)
		}
	})
	if shared {
		t.Run("SharedAcrossInstances", func(t *testing.T) {
			c := &Clock{t: start}
			a, b := newThrottle(t, cfg(c))
			k := key(t)
			for range 4 {
				a.Fail(ctx, k)
			}
			if d, _ := b.Wait(ctx, k); d == 0 {
				t.Error("instance B does not see instance A's failures")
			}
			b.Reset(ctx, k)
			if d, _ := a.Wait(ctx, k); d != 0 {
				t.Error("instance A does not see instance B's reset")
			}
		})
	}
	t.Run("CancelledContext", func(t *testing.T) {
		c := &Clock{t: start}
		th, _ := newThrottle(t, cfg(c))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		// The in-memory limiter needs no context; shared ones must honour it.
		_, err := th.Wait(cctx, key(t))
		_ = err
	})
}
