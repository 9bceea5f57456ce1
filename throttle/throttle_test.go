package throttle

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestDelayCurve(t *testing.T) {
	cfg := Config{Free: 5, BaseDelay: time.Second, MaxDelay: 15 * time.Minute}.WithDefaults()
	tests := []struct {
		n    int
		want time.Duration
	}{
		{0, 0}, {5, 0}, {6, time.Second}, {7, 2 * time.Second}, {8, 4 * time.Second},
		{15, 512 * time.Second}, {16, 15 * time.Minute}, {100, 15 * time.Minute}, {1 << 20, 15 * time.Minute},
	}
	for _, tt := range tests {
		if got := cfg.Delay(tt.n); got != tt.want {
			t.Errorf("Delay(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
	steps := cfg.Steps()
	for i, d := range steps {
		if want := cfg.Delay(cfg.Free + 1 + i); d != want {
			t.Errorf("Steps()[%d] = %v, want Delay(%d) = %v", i, d, cfg.Free+1+i, want)
		}
	}
	if last := steps[len(steps)-1]; last != cfg.MaxDelay {
		t.Errorf("Steps ends at %v, want the ceiling %v", last, cfg.MaxDelay)
	}
}

// limiterSizes are the MaxKeys the eviction tests run at: one shard, and
// the most shards, each at its smallest share.
type limiterSize struct {
	name    string
	maxKeys int
}

var limiterSizes = []limiterSize{
	{"one shard", 100},
	{"64 shards", maxShards * minShardKeys},
}

func TestLimiterShards(t *testing.T) {
	for _, tt := range []struct{ maxKeys, shards int }{
		{1, 1}, {100, 1}, {2047, 1}, {2048, 2}, {5000, 4}, {maxShards * minShardKeys, maxShards},
		{1_000_000, maxShards}, {1_000_003, maxShards}, {0, maxShards}, /* the default, 1M */
	} {
		l := New(Config{MaxKeys: tt.maxKeys})
		if len(l.shards) != tt.shards {
			t.Errorf("MaxKeys %d: %d shards, want %d", tt.maxKeys, len(l.shards), tt.shards)
		}
		sum := 0
		for i := range l.shards {
			sum += l.shards[i].max
		}
		if sum != l.cfg.MaxKeys {
			t.Errorf("MaxKeys %d: the shards' shares add up to %d", tt.maxKeys, sum)
		}
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	ctx := context.Background()
	for _, size := range append([]limiterSize{{"4 shards", 5000}}, limiterSizes...) {
		t.Run(size.name, func(t *testing.T) {
			l := New(Config{MaxKeys: size.maxKeys})
			for i := range 10 * size.maxKeys {
				l.Reserve(ctx, floodKey(i))
				if i%(size.maxKeys/4) == 0 {
					if n := l.Len(); n > size.maxKeys {
						t.Fatalf("after %d keys the limiter holds %d, want at most %d", i+1, n, size.maxKeys)
					}
				}
			}
			// Ten times MaxKeys filled every shard to its share.
			if n := l.Len(); n != size.maxKeys {
				t.Errorf("limiter holds %d keys, want %d", n, size.maxKeys)
			}
			checkLists(t, l)
		})
	}
}

// TestLimiterEvictsOldest: when a flood of keys fills the limiter, the
// account failing right now keeps its count.
func TestLimiterEvictsOldest(t *testing.T) {
	ctx := context.Background()
	for _, size := range limiterSizes {
		t.Run(size.name, func(t *testing.T) {
			now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			l := New(Config{MaxKeys: size.maxKeys, Now: func() time.Time { return now }})
			for i := range 4 * size.maxKeys {
				now = now.Add(time.Millisecond)
				l.Reserve(ctx, floodKey(i))
				now = now.Add(time.Millisecond)
				l.Reserve(ctx, "victim") // under attack throughout the flood
			}
			if d, _ := l.Reserve(ctx, "victim"); d == 0 {
				t.Error("the account under attack lost its count to the flood of other keys")
			}
		})
	}
}

// TestLimiterKeepsRefusedVictim: an account whose attacker is being
// refused (no attempt counted for minutes) is still "seen", so a flood of
// other keys does not evict it and hand the attacker a fresh budget.
func TestLimiterKeepsRefusedVictim(t *testing.T) {
	ctx := context.Background()
	for _, size := range limiterSizes {
		t.Run(size.name, func(t *testing.T) {
			now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			l := New(Config{Free: 1, BaseDelay: time.Hour, MaxDelay: time.Hour, MaxKeys: size.maxKeys, Now: func() time.Time { return now }})
			l.Reserve(ctx, "victim")
			l.Reserve(ctx, "victim") // the second attempt starts an hour's wait
			for i := range 4 * size.maxKeys {
				now = now.Add(time.Millisecond / 100)
				l.Reserve(ctx, floodKey(i))
				if d, _ := l.Reserve(ctx, "victim"); d == 0 {
					t.Fatalf("after %d flood keys the victim's wait was forgotten", i)
				}
			}
		})
	}
}

// TestLimiterDropsForgotten: keys not tried for Forget make room for new
// ones even before the limiter is full, and a forgotten key that comes
// back starts counting afresh.
func TestLimiterDropsForgotten(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(Config{Free: 1, Forget: time.Hour, MaxKeys: 100, Now: func() time.Time { return now }})
	for i := range 10 {
		l.Reserve(ctx, floodKey(i))
		l.Reserve(ctx, floodKey(i))
	}
	if d, _ := l.Reserve(ctx, floodKey(0)); d == 0 {
		t.Fatal("the third attempt within the second was not delayed")
	}
	now = now.Add(time.Hour)
	if d, _ := l.Reserve(ctx, floodKey(0)); d != 0 {
		t.Fatalf("a forgotten key still waits %v", d)
	}
	for i := range 5 {
		l.Reserve(ctx, floodKey(100+i)) // each drops up to two forgotten keys
	}
	if n := l.Len(); n != 6 {
		t.Errorf("Len = %d, want 6 (the 5 new keys and the one tried again)", n)
	}
	checkLists(t, l)
}

// TestLimiterListsConsistent: random Reserve, Release and Reset calls
// with a moving clock keep every shard's map and recency list in step.
func TestLimiterListsConsistent(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(Config{Free: 2, Forget: time.Minute, MaxKeys: 50, Now: func() time.Time { return now }})
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20_000 {
		now = now.Add(time.Duration(r.IntN(100)) * time.Millisecond)
		k := floodKey(r.IntN(120))
		switch r.IntN(10) {
		case 0:
			l.Release(ctx, k)
		case 1:
			l.Reset(ctx, k)
		default:
			l.Reserve(ctx, k)
		}
		if i%97 == 0 {
			checkLists(t, l)
		}
	}
	checkLists(t, l)
}

// checkLists verifies each shard: its list holds exactly the entries of
// its map, each under its own key, at most its share.
func checkLists(t *testing.T, l *Limiter) {
	t.Helper()
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n := 0
		for e := s.lru.next; e != &s.lru; e = e.next {
			if e.next.prev != e || e.prev.next != e {
				t.Fatalf("shard %d: broken links at %q", i, e.key)
			}
			if s.m[e.key] != e {
				t.Fatalf("shard %d: %q on the list but not in the map", i, e.key)
			}
			if n++; n > len(s.m) {
				t.Fatalf("shard %d: the list is longer than the map (%d)", i, len(s.m))
			}
		}
		if n != len(s.m) || n > s.max {
			t.Fatalf("shard %d: list %d, map %d, share %d", i, n, len(s.m), s.max)
		}
		s.mu.Unlock()
	}
}

func floodKey(i int) string { return "flood" + strconv.Itoa(i) + "@example.com" }

// BenchmarkReserveFlood: a full limiter (the default MaxKeys, 1,000,000)
// meets a flood of new distinct keys, each one forcing an eviction. It
// reports ns per Reserve and the slowest single Reserve (worst-ms): the
// time every other login can wait behind the limiter's lock. With
// -benchtime=1000000x the flood sends 2M distinct keys in all:
//
//	go test -run '^$' -bench ReserveFlood -benchtime=1000000x ./throttle/
func BenchmarkReserveFlood(b *testing.B) {
	const maxKeys = 1_000_000
	ctx := context.Background()
	l := New(Config{MaxKeys: maxKeys})
	for i := range maxKeys {
		l.Reserve(ctx, floodKey(i))
	}
	var worst time.Duration
	i := maxKeys
	for b.Loop() {
		k := floodKey(i)
		i++
		t0 := time.Now()
		l.Reserve(ctx, k)
		if d := time.Since(t0); d > worst {
			worst = d
		}
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
}

// TestReserveFloodWorst prints (with -v only; it asserts no timing) the
// slowest single Reserve over a flood of 2M distinct keys into a limiter
// of MaxKeys 1,000,000:
//
//	go test -count=1 -v -run ReserveFloodWorst ./throttle/
func TestReserveFloodWorst(t *testing.T) {
	if !testing.Verbose() || testing.Short() {
		t.Skip("a 2M-key flood; run with -v")
	}
	const maxKeys, total = 1_000_000, 2_000_000
	ctx := context.Background()
	l := New(Config{MaxKeys: maxKeys})
	// Two phases: filling the limiter (the first MaxKeys keys), then every
	// further key evicting one.
	type phase struct {
		worst         time.Duration
		over1, over10 int
	}
	var phases [2]phase
	start := time.Now()
	for i := range total {
		k := floodKey(i)
		t0 := time.Now()
		l.Reserve(ctx, k)
		d := time.Since(t0)
		p := &phases[min(i/maxKeys, 1)]
		p.worst = max(p.worst, d)
		if d > time.Millisecond {
			p.over1++
		}
		if d > 10*time.Millisecond {
			p.over10++
		}
	}
	if n := l.Len(); n > maxKeys {
		t.Errorf("limiter holds %d keys, want at most %d", n, maxKeys)
	}
	t.Logf("%d distinct keys, MaxKeys %d: %d held, slowest Reserve %v, %d over 1 ms, %d over 10 ms, all in %v",
		total, maxKeys, l.Len(), max(phases[0].worst, phases[1].worst), phases[0].over1+phases[1].over1,
		phases[0].over10+phases[1].over10, time.Since(start).Round(time.Millisecond))
	for i, name := range []string{"filling (keys 1 to MaxKeys)", "full, each new key evicts (the rest)"} {
		t.Logf("  %s: slowest Reserve %v, %d over 1 ms, %d over 10 ms", name, phases[i].worst, phases[i].over1, phases[i].over10)
	}
}

// BenchmarkReserve: a login's throttle traffic on a limiter that is not
// full: Reserve a key out of 100k, then Reset it (the password was
// right), from one goroutine and from GOMAXPROCS.
//
//	go test -run '^$' -bench 'Reserve$' ./throttle/
func BenchmarkReserve(b *testing.B) {
	const n = 100_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = floodKey(i)
	}
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		l := New(Config{})
		i := 0
		for b.Loop() {
			k := keys[i%n]
			i += 7919
			l.Reserve(ctx, k)
			l.Reset(ctx, k)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		l := New(Config{})
		var seq atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(1)) * 1000
			for pb.Next() {
				k := keys[i%n]
				i += 7919
				l.Reserve(ctx, k)
				l.Reset(ctx, k)
			}
		})
	})
}
