// Package throttletest is the conformance suite for login throttles: the
// in-memory Limiter and the shared ones in pgstore and redisstore.
package throttletest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/throttle"
)

// Throttle is the interface under test.
type Throttle = throttle.Throttler

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
	mustGo := func(t *testing.T, th Throttle, k string, what string) {
		t.Helper()
		if d, err := th.Reserve(ctx, k); err != nil || d != 0 {
			t.Fatalf("%s: Reserve = %v, %v; want 0, nil", what, d, err)
		}
	}
	waits := func(t *testing.T, th Throttle, k string, lo, hi time.Duration, what string) {
		t.Helper()
		d, err := th.Reserve(ctx, k)
		if err != nil || d < lo || d > hi {
			t.Fatalf("%s: Reserve = %v, %v; want a wait in [%v, %v]", what, d, err, lo, hi)
		}
	}

	t.Run("Curve", func(t *testing.T) {
		c := &Clock{t: start}
		th, _ := newThrottle(t, cfg(c))
		k := key(t)
		for i := range 3 {
			mustGo(t, th, k, fmt.Sprintf("free attempt %d", i+1))
		}
		mustGo(t, th, k, "4th attempt (the free ones were used, no wait yet)")
		// The 4th counted attempt imposes 1 s; a refused attempt counts
		// nothing, so asking again does not lengthen the wait.
		waits(t, th, k, 900*time.Millisecond, time.Second, "5th attempt at once")
		waits(t, th, k, 900*time.Millisecond, time.Second, "5th attempt again")
		c.Advance(time.Second)
		mustGo(t, th, k, "5th attempt after 1 s")
		waits(t, th, k, 1900*time.Millisecond, 2*time.Second, "6th attempt at once")
		for range 30 {
			c.Advance(time.Minute)
			mustGo(t, th, k, "attempt after the ceiling")
		}
		waits(t, th, k, 59*time.Second, time.Minute, "after many attempts")
		mustGo(t, th, key(t)+"other", "another key")
	})
	t.Run("ReleaseGivesBack", func(t *testing.T) {
		c := &Clock{t: start}
		th, _ := newThrottle(t, cfg(c))
		k := key(t)
		for range 4 {
			mustGo(t, th, k, "attempt")
		}
		waits(t, th, k, time.Second/2, time.Second, "after 4 attempts")
		// Two of them were not failures: the count drops back under the
		// free ones and the key may go again at once.
		for range 2 {
			if err := th.Release(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		mustGo(t, th, k, "after releasing two")
		// Releasing more than was reserved is harmless.
		for range 10 {
			if err := th.Release(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if err := th.Release(ctx, key(t)+"never"); err != nil {
			t.Fatalf("Release of an unknown key: %v", err)
		}
		for range 4 {
			mustGo(t, th, k, "after releasing everything")
		}
	})
	t.Run("ForgetAndReset", func(t *testing.T) {
		c := &Clock{t: start}
		th, _ := newThrottle(t, cfg(c))
		k := key(t)
		for range 5 {
			c.Advance(time.Minute)
			th.Reserve(ctx, k)
		}
		waits(t, th, k, time.Second, time.Minute, "after 5 attempts")
		c.Advance(time.Hour)
		for range 3 {
			mustGo(t, th, k, "after Forget, counting restarts")
		}
		for range 5 {
			c.Advance(time.Minute)
			th.Reserve(ctx, k)
		}
		if err := th.Reset(ctx, k); err != nil {
			t.Fatal(err)
		}
		for range 4 {
			mustGo(t, th, k, "after Reset")
		}
	})
	// Parallel guesses: the decision and the count are one atomic step, so
	// of 200 simultaneous attempts exactly Free+1 get through (the free
	// ones and the one that starts the first delay); a check followed by a
	// separate write would let all 200 through.
	t.Run("ParallelReserve", func(t *testing.T) {
		c := &Clock{t: start}
		th, th2 := newThrottle(t, cfg(c))
		k := key(t)
		var admitted, refused atomic.Int32
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i := range 200 {
			inst := th
			if i%2 == 1 {
				inst = th2 // half through the other instance when shared
			}
			wg.Go(func() {
				<-gate
				d, err := inst.Reserve(ctx, k)
				switch {
				case err != nil:
					t.Error(err)
				case d == 0:
					admitted.Add(1)
				default:
					refused.Add(1)
				}
			})
		}
		close(gate)
		wg.Wait()
		if got := admitted.Load(); got != 4 {
			t.Errorf("200 parallel attempts: %d admitted, %d refused; want exactly 4 admitted (3 free + 1)", got, refused.Load())
		}
	})
	t.Run("ParallelReleaseAndReserve", func(t *testing.T) {
		c := &Clock{t: start}
		th, _ := newThrottle(t, cfg(c))
		k := key(t)
		// 50 successes (reserve then release) in parallel leave no count.
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				for {
					d, err := th.Reserve(ctx, k)
					if err != nil {
						t.Error(err)
						return
					}
					if d == 0 {
						break
					}
					c.Advance(d) // a refused success waits, then retries
				}
				if err := th.Release(ctx, k); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		c.Advance(time.Minute)
		for range 3 {
			mustGo(t, th, k, "after 50 released attempts")
		}
	})
	if shared {
		t.Run("SharedAcrossInstances", func(t *testing.T) {
			c := &Clock{t: start}
			a, b := newThrottle(t, cfg(c))
			k := key(t)
			for range 4 {
				mustGo(t, a, k, "attempt on A")
			}
			waits(t, b, k, time.Second/2, time.Second, "B after A's attempts")
			b.Reset(ctx, k)
			mustGo(t, a, k, "A after B's reset")
		})
	}
	t.Run("CancelledContext", func(t *testing.T) {
		c := &Clock{t: start}
		th, _ := newThrottle(t, cfg(c))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		// The in-memory limiter needs no context; shared ones must honour
		// it and must not admit on error.
		if d, err := th.Reserve(cctx, key(t)); err == nil && d != 0 {
			t.Errorf("Reserve with a cancelled context = %v, nil", d)
		}
	})
}
