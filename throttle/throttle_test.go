package throttle

import (
	"context"
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

func TestLimiterBoundedMemory(t *testing.T) {
	ctx := context.Background()
	l := New(Config{MaxKeys: 100})
	for i := range 1000 {
		l.Reserve(ctx, string(rune(i+0x4e00)))
	}
	if n := len(l.m); n > 100 {
		t.Errorf("limiter holds %d keys, want at most 100", n)
	}
}

// TestLimiterEvictsOldest: when a flood of keys fills the limiter, the
// account failing right now keeps its count.
func TestLimiterEvictsOldest(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(Config{MaxKeys: 100, Now: func() time.Time { return now }})
	for i := range 1000 {
		now = now.Add(time.Millisecond)
		l.Reserve(ctx, string(rune(i+0x4e00)))
		now = now.Add(time.Millisecond)
		l.Reserve(ctx, "victim") // under attack throughout the flood
	}
	if d, _ := l.Reserve(ctx, "victim"); d == 0 {
		t.Error("the account under attack lost its count to the flood of other keys")
	}
}

// TestLimiterKeepsRefusedVictim: an account whose attacker is being
// refused (no attempt counted for minutes) is still "seen", so a flood of
// other keys does not evict it and hand the attacker a fresh budget.
func TestLimiterKeepsRefusedVictim(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(Config{Free: 1, BaseDelay: time.Hour, MaxDelay: time.Hour, MaxKeys: 100, Now: func() time.Time { return now }})
	l.Reserve(ctx, "victim")
	l.Reserve(ctx, "victim") // the second attempt starts an hour's wait
	for i := range 1000 {
		now = now.Add(time.Millisecond)
		l.Reserve(ctx, string(rune(i+0x4e00)))
		if d, _ := l.Reserve(ctx, "victim"); d == 0 {
			t.Fatalf("after %d flood keys the victim's wait was forgotten", i)
		}
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
	var worst time.Duration
	over1, over10 := 0, 0
	start := time.Now()
	for i := range total {
		k := floodKey(i)
		t0 := time.Now()
		l.Reserve(ctx, k)
		d := time.Since(t0)
		worst = max(worst, d)
		if d > time.Millisecond {
			over1++
		}
		if d > 10*time.Millisecond {
			over10++
		}
	}
	if n := l.Len(); n > maxKeys {
		t.Errorf("limiter holds %d keys, want at most %d", n, maxKeys)
	}
	t.Logf("%d distinct keys, MaxKeys %d: %d held, slowest Reserve %v, %d over 1 ms, %d over 10 ms, all in %v",
		total, maxKeys, l.Len(), worst, over1, over10, time.Since(start).Round(time.Millisecond))
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
