// Command hashflood shows, without HTTP, wrk or a store, what a login
// flood does to the Go scheduler: it keeps many goroutines hashing
// passwords through one password.Hasher (Argon2id at the default cost) and
// measures how late a goroutine that wakes up every millisecond (as a
// request's goroutine wakes up when its bytes arrive) gets to run, for
// each hash concurrency from 1 to GOMAXPROCS.
//
//	go run ./bench/hashflood
//	go run ./bench/hashflood -d 10s -flood 64
//
// Two figures per setting: the wake-up lateness of the probe (what a
// request feels: Go scheduler and operating system together) and the
// runtime's own /sched/latencies histogram (time goroutines spent
// runnable, waiting for a P: the Go scheduler alone).
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd/authd/password"
)

func main() {
	d := flag.Duration("d", 5*time.Second, "duration of each setting")
	flood := flag.Int("flood", 64, "goroutines hashing as fast as the hasher lets them")
	flag.Parse()
	ctx := context.Background()
	enc, err := password.NewHasher(password.DefaultParams(), 1).Hash(ctx, "correct horse battery staple")
	if err != nil {
		panic(err)
	}
	fmt.Printf("GOMAXPROCS %d, %s, Argon2id %+v, %d hashing goroutines, %s per setting\n\n",
		runtime.GOMAXPROCS(0), runtime.Version(), password.DefaultParams(), *flood, *d)
	fmt.Println("| hash concurrency | hashes/s | probe wake-up lateness p50 / p99 / max | runnable → running p99 (/sched/latencies) | GC cycles/s |")
	fmt.Println("|---:|---:|---:|---:|---:|")
	for c := 0; c <= runtime.GOMAXPROCS(0); c++ {
		var h *password.Hasher
		if c > 0 {
			h = password.NewHasher(password.DefaultParams(), c)
		}
		run(ctx, h, enc, *flood, *d, c)
	}
}

func run(ctx context.Context, h *password.Hasher, enc string, flood int, d time.Duration, c int) {
	stop := make(chan struct{})
	var hashes atomic.Int64
	var wg sync.WaitGroup
	if h != nil {
		for range flood {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if ok, _, err := h.Verify(ctx, "correct horse battery staple", enc); err != nil || !ok {
						panic(fmt.Sprint("verify: ", ok, err))
					}
					hashes.Add(1)
				}
			})
		}
	}
	time.Sleep(200 * time.Millisecond) // let the flood start
	before := sample()
	t0 := time.Now()
	var late []time.Duration
	for time.Since(t0) < d {
		want := time.Now().Add(time.Millisecond)
		time.Sleep(time.Millisecond)
		late = append(late, max(0, time.Since(want)))
	}
	elapsed := time.Since(t0)
	n := hashes.Load()
	after := sample()
	close(stop)
	wg.Wait()
	slices.Sort(late)
	q := func(p float64) time.Duration { return late[min(len(late)-1, int(p*float64(len(late))))] }
	name := "no flood"
	if c > 0 {
		name = fmt.Sprint(c)
	}
	fmt.Printf("| %s | %.0f | %s / %s / %s | %s | %.0f |\n", name, float64(n)/elapsed.Seconds(),
		ms(q(0.5)), ms(q(0.99)), ms(late[len(late)-1]), ms(after.p99(before)), float64(after.gcs-before.gcs)/elapsed.Seconds())
}

type snap struct {
	counts  []uint64
	buckets []float64
	gcs     uint64
}

func sample() snap {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	hist := s[0].Value.Float64Histogram()
	return snap{slices.Clone(hist.Counts), hist.Buckets, s[1].Value.Uint64()}
}

// p99 of the latencies recorded between b and s.
func (s snap) p99(b snap) time.Duration {
	var total uint64
	diff := make([]uint64, len(s.counts))
	for i := range s.counts {
		diff[i] = s.counts[i] - b.counts[i]
		total += diff[i]
	}
	if total == 0 {
		return 0
	}
	var acc uint64
	for i, n := range diff {
		acc += n
		if float64(acc) >= 0.99*float64(total) {
			hi := s.buckets[i+1]
			if math.IsInf(hi, 1) {
				hi = s.buckets[i]
			}
			return time.Duration(hi * 1e9)
		}
	}
	return 0
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Nanoseconds())/1e6) }
