package main

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/authd/authd/throttle"
	"github.com/authd/authd/token"
)

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// memRevocations measures token.RevocationSet holding n revoked sessions:
// heap per entry (the IDs included: the set keeps them), a look-up, and
// the Add that runs the once-a-minute expiry sweep (shard by shard, in
// small batches: this times the whole sweeping Add, not a lock hold, which
// token's TestRevocationSweepWorst measures).
func memRevocations(sizes []int) {
	fmt.Println("token.RevocationSet:")
	fmt.Println()
	fmt.Println("| entries | heap | bytes/entry | Revoked() | Add() running the minute's sweep |")
	fmt.Println("|---:|---:|---:|---:|---:|")
	for _, n := range sizes {
		clock := time.Now()
		now := func() time.Time { return clock }
		before := heap()
		s := token.NewRevocationSet(now)
		keep := clock.Add(time.Hour)
		for i := range n {
			s.Add(sessionID(i), keep)
		}
		after := heap()
		ids := make([]string, 1000)
		for i := range ids {
			ids[i] = sessionID(i * (n / len(ids)))
		}
		const lookups = 1_000_000
		t0 := time.Now()
		for i := range lookups {
			if !s.Revoked(ids[i%len(ids)]) {
				panic("lost an entry")
			}
		}
		look := time.Since(t0) / lookups
		clock = clock.Add(time.Minute) // the next Add scans the set for expired entries
		t0 = time.Now()
		s.Add("one-more", keep)
		scan := time.Since(t0)
		fmt.Printf("| %s | %s | %d | %d ns | %s |\n", count(n), mib(after-before), (after-before)/uint64(n), look.Nanoseconds(), scan.Round(10*time.Microsecond))
		runtime.KeepAlive(s)
	}
	fmt.Println()
}

// memThrottle floods an in-memory throttle.Limiter (default config:
// MaxKeys 1,000,000) with distinct keys, as an attacker trying one guess
// per account or per address would, and reports its heap, its size, and
// the slowest Reserve (a full shard replaces its least recently tried key:
// O(1), no sort).
func memThrottle(total int, checkpoints []int) {
	ctx := context.Background()
	fmt.Println("throttle.Limiter (default config, MaxKeys 1,000,000), one Reserve per distinct key:")
	fmt.Println()
	fmt.Println("| keys sent | keys held | heap | bytes/key held | slowest Reserve so far | Reserves over 10 ms |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|")
	before := heap()
	l := throttle.New(throttle.Config{})
	var worst time.Duration
	slow := 0
	next := 0
	for i := 1; i <= total; i++ {
		key := "flood" + strconv.Itoa(i) + "@example.com"
		t0 := time.Now()
		l.Reserve(ctx, key)
		if d := time.Since(t0); d > worst {
			worst = d
		}
		if time.Since(t0) > 10*time.Millisecond {
			slow++
		}
		if next < len(checkpoints) && i == checkpoints[next] {
			next++
			h := heap() - before
			held := l.Len()
			fmt.Printf("| %s | %s | %s | %d | %s | %d |\n", count(i), count(held), mib(h), h/uint64(held), worst.Round(10*time.Microsecond), slow)
		}
	}
	runtime.KeepAlive(l)
	fmt.Println()
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func count(n int) string {
	switch {
	case n >= 1_000_000 && n%100_000 == 0:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}
