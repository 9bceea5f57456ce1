package token

import (
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRevocationSetExpiry: an entry is kept until its keepUntil, a later
// Add never shortens it, and the once-a-minute sweep drops what expired.
func TestRevocationSetExpiry(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewRevocationSet(func() time.Time { return now })
	for i := range 1000 {
		s.Add(fmt.Sprint("short-", i), now.Add(5*time.Minute))
		s.Add(fmt.Sprint("long-", i), now.Add(time.Hour))
	}
	s.Add("extended", now.Add(5*time.Minute))
	s.Add("extended", now.Add(time.Hour))
	s.Add("extended", now.Add(time.Minute)) // earlier: ignored
	if n := s.Len(); n != 2001 {
		t.Fatalf("Len = %d, want 2001", n)
	}
	for _, id := range []string{"short-0", "short-999", "long-0", "long-999", "extended"} {
		if !s.Revoked(id) {
			t.Errorf("Revoked(%q) = false before expiry", id)
		}
	}
	if s.Revoked("never") {
		t.Error(`Revoked("never") = true`)
	}
	now = now.Add(10 * time.Minute)
	s.Add("late", now.Add(time.Hour)) // runs the sweep
	if n := s.Len(); n != 1002 {
		t.Fatalf("after the sweep Len = %d, want 1002 (the long ones, extended, late)", n)
	}
	for _, id := range []string{"short-0", "short-999"} {
		if s.Revoked(id) {
			t.Errorf("Revoked(%q) = true after it expired and was swept", id)
		}
	}
	for _, id := range []string{"long-0", "long-999", "extended", "late"} {
		if !s.Revoked(id) {
			t.Errorf("Revoked(%q) = false after the sweep; it has not expired", id)
		}
	}
	// Within the minute no sweep runs; after it, everything goes but the
	// newest.
	now = now.Add(2 * time.Hour)
	s.Add("last", now.Add(time.Hour))
	if n := s.Len(); n != 1 || !s.Revoked("last") {
		t.Fatalf("after everything expired: Len = %d, Revoked(last) = %v; want 1, true", n, s.Revoked("last"))
	}
}

// TestRevocationSetKeptLonger: an entry kept longer by a later Add
// outlives the sweep of the minute it was first due to expire in; one
// added already expired goes at the next sweep.
func TestRevocationSetKeptLonger(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC)
	s := NewRevocationSet(func() time.Time { return now })
	s.Add("a", now.Add(2*time.Minute))
	s.Add("a", now.Add(time.Hour))
	s.Add("b", now.Add(2*time.Minute))
	s.Add("stale", now.Add(-time.Hour))
	now = now.Add(5 * time.Minute)
	s.Add("c", now.Add(time.Hour)) // sweeps
	if !s.Revoked("a") || s.Revoked("b") || s.Revoked("stale") || !s.Revoked("c") {
		t.Errorf("after the sweep: a %v, b %v, stale %v, c %v; want true, false, false, true",
			s.Revoked("a"), s.Revoked("b"), s.Revoked("stale"), s.Revoked("c"))
	}
	now = now.Add(2 * time.Hour)
	s.Add("d", now.Add(time.Hour))
	if n := s.Len(); n != 1 {
		t.Errorf("after a's hour: Len = %d, want 1", n)
	}
}

// TestRevocationSetConcurrent: adds, look-ups and sweeps from many
// goroutines (for -race); no revoked, unexpired entry is ever missed.
func TestRevocationSetConcurrent(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	s := NewRevocationSet(now)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				id := fmt.Sprint(w, "-", i)
				s.Add(id, now().Add(time.Hour))
				if !s.Revoked(id) {
					t.Errorf("Revoked(%q) = false right after Add", id)
					return
				}
				if i%100 == 0 {
					clock.Add(int64(time.Minute)) // a sweep is due
				}
			}
		})
	}
	wg.Wait()
	if n := s.Len(); n == 0 || n > 8000 {
		t.Errorf("Len = %d, want within (0, 8000]", n)
	}
}

func revocationIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = rand.Text() // what session.Manager uses for session IDs
	}
	return ids
}

// TestRevocationSweepWorst prints (with -v only; it asserts no timing)
// what the once-a-minute expiry sweep of a RevocationSet holding 1M
// revoked sessions costs: how long the sweep held a shard's write lock
// each time (what a look-up in that shard can wait for) and its read lock
// (what an Add to that shard can), the Add that runs the sweep, and the
// slowest Revoked (a token
// verification) seen meanwhile by a goroutine looking up IDs in a loop,
// which includes any time the goroutine was not running at all. Twice: a
// sweep that finds nothing expired (a full scan) and one that drops all
// 1M entries.
//
//	go test -count=1 -v -run RevocationSweepWorst ./token/
func TestRevocationSweepWorst(t *testing.T) {
	if !testing.Verbose() || testing.Short() {
		t.Skip("1M entries; run with -v")
	}
	const n = 1_000_000
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now } // moved by this goroutine only
	s := NewRevocationSet(clock)
	ids := revocationIDs(n)
	for _, id := range ids {
		s.Add(id, now.Add(time.Hour))
	}
	for _, step := range []struct {
		name    string
		advance time.Duration
		left    int
	}{
		{"nothing expired (a full scan)", time.Minute, n + 1},
		{"all 1M expired", 2 * time.Hour, 1},
	} {
		var stop atomic.Bool
		var loops atomic.Int64
		var worst time.Duration
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; !stop.Load(); i++ {
				t0 := time.Now()
				s.Revoked(ids[(i*7919)%n])
				worst = max(worst, time.Since(t0))
				loops.Add(1)
			}
		}()
		for loops.Load() < 10_000 { // the reader is running
			time.Sleep(time.Millisecond)
		}
		before := loops.Load()
		var holds [2][]time.Duration // read, write
		s.holds = func(write bool, d time.Duration) {
			if write {
				holds[1] = append(holds[1], d)
			} else {
				holds[0] = append(holds[0], d)
			}
		}
		now = now.Add(step.advance)
		t0 := time.Now()
		s.Add(fmt.Sprint("one-more-", step.name), now.Add(time.Hour))
		add := time.Since(t0)
		stop.Store(true)
		<-done
		if got := s.Len(); got != step.left {
			t.Errorf("%s: Len = %d, want %d", step.name, got, step.left)
		}
		s.holds = nil
		t.Logf("1M entries, sweep with %s: the Add took %v; slowest concurrent Revoked %v (%d look-ups during the Add)",
			step.name, add.Round(time.Microsecond), worst.Round(time.Microsecond), loops.Load()-before)
		for i, kind := range []string{"read", "write"} {
			h := holds[i]
			if len(h) == 0 {
				t.Logf("  %s-lock holds: none", kind)
				continue
			}
			slices.Sort(h)
			t.Logf("  %s-lock holds: %d, p50 %v, p99 %v, longest %v", kind, len(h),
				h[len(h)/2].Round(time.Microsecond), h[len(h)*99/100].Round(time.Microsecond), h[len(h)-1].Round(time.Microsecond))
		}
	}
}

// BenchmarkRevoked: the look-up every verification makes, in a set of
// 100k revoked sessions, from one goroutine and from GOMAXPROCS.
//
//	go test -run '^$' -bench Revoked ./token/
func BenchmarkRevoked(b *testing.B) {
	const n = 100_000
	s := NewRevocationSet(nil)
	ids := revocationIDs(n)
	for _, id := range ids[:n/2] {
		s.Add(id, time.Now().Add(time.Hour))
	}
	b.Run("serial", func(b *testing.B) {
		i := 0
		for b.Loop() {
			s.Revoked(ids[i%n]) // half revoked, half not
			i += 7919
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var seq atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(1)) * 1000
			for pb.Next() {
				s.Revoked(ids[i%n])
				i += 7919
			}
		})
	})
}
