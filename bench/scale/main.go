// Command scale measures how authd's store operations cost as the data
// grows: it fills a store with N users and N live sessions (bulk inserts,
// bypassing the store), then times, one at a time, the store side of
// the hot operations at each size. With -mem it measures instead the
// memory of the in-memory revocation set and login throttle.
//
//	go run ./bench/scale -store sqlite -dir /tmp/x
//	go run ./bench/scale -store postgres -pg 'postgres://…/authd_scale'   # an empty database
//	go run ./bench/scale -mem
//
// scripts/bench-scale.sh runs all three and cleans up after itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/pgstore"
	"github.com/authd/authd/session"
	"github.com/authd/authd/sqlitestore"
	"github.com/authd/authd/user"
)

// store is what the measurements use of a backend.
type store interface {
	session.Store
	user.Store
	refreshStore
	Close() error
}

func main() {
	var (
		kind    = flag.String("store", "sqlite", "sqlite or postgres")
		dir     = flag.String("dir", "", "directory for the SQLite file (default: a temporary one, removed after)")
		pg      = flag.String("pg", "", "PostgreSQL URL of an EMPTY database (it is filled)")
		sizesF  = flag.String("sizes", "10000,100000,1000000", "data sizes, ascending: users = live sessions")
		rounds  = flag.Int("rounds", 3, "rounds per size; the median of the rounds' figures is printed")
		reads   = flag.Int("reads", 5000, "session checks timed per round")
		writes  = flag.Int("writes", 300, "logins, rotations and revocations timed per round")
		mem     = flag.Bool("mem", false, "measure the revocation set and the throttle instead")
		memKeys = flag.Int("throttle-keys", 2_000_000, "with -mem: distinct keys sent to the throttle")
		pre     = flag.Int("prefilled", 0, "the store already holds this many rows of an earlier run with -dir or -pg (compare settings without refilling)")
	)
	flag.Parse()
	sizes, err := parseSizes(*sizesF)
	if err != nil {
		fatal(err)
	}
	if *mem {
		memRevocations(sizes)
		var cps []int
		for _, n := range append(sizes, *memKeys*3/4, *memKeys) {
			if n <= *memKeys && !slices.Contains(cps, n) {
				cps = append(cps, n)
			}
		}
		slices.Sort(cps)
		memThrottle(*memKeys, cps)
		return
	}
	ctx := context.Background()
	var st store
	var fill func(from, to int, now time.Time) error
	switch *kind {
	case "sqlite":
		d := *dir
		if d == "" {
			if d, err = os.MkdirTemp("", "authd-scale-"); err != nil {
				fatal(err)
			}
			defer os.RemoveAll(d)
		}
		path := filepath.Join(d, "scale.db")
		s, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
		if err != nil {
			fatal(err)
		}
		st = s
		fill = func(from, to int, now time.Time) error { return fillSQLite(ctx, path, from, to, now) }
	case "postgres":
		if *pg == "" {
			fatal(errors.New("-pg is required with -store postgres"))
		}
		s, err := pgstore.Open(ctx, *pg, pgstore.Options{})
		if err != nil {
			fatal(err)
		}
		st = s
		fill = func(from, to int, now time.Time) error { return fillPostgres(ctx, *pg, from, to, now) }
	default:
		fatal(fmt.Errorf("unknown -store %q", *kind))
	}
	defer st.Close()

	fmt.Printf("store %s, %d rounds, %d checks and %d of each write per round, %s, GOMAXPROCS %d\n\n",
		*kind, *rounds, *reads, *writes, runtime.Version(), runtime.GOMAXPROCS(0))
	fmt.Println("| users = sessions | fill | session check (uncached) p50 / p99 (CPU/op) | login, store part p50 / p99 | refresh rotation p50 / p99 | revoke one session p50 / p99 |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|")
	now := time.Now().UTC().Truncate(time.Microsecond)
	filled := *pre
	b := &bench{st: st, revoked: map[int]bool{}}
	for _, n := range sizes {
		t0 := time.Now()
		if n > filled {
			if err := fill(filled, n, now); err != nil {
				fatal(fmt.Errorf("fill to %d: %w", n, err))
			}
			filled = n
		}
		fillTime := time.Since(t0)
		var res [4][]stats
		for range *rounds {
			r, err := b.round(ctx, n, *reads, *writes)
			if err != nil {
				fatal(fmt.Errorf("size %d: %w", n, err))
			}
			for i := range r {
				res[i] = append(res[i], r[i])
			}
		}
		cells := []string{count(n), fillTime.Round(100 * time.Millisecond).String()}
		for i, r := range res {
			if i == 0 {
				cells = append(cells, medianStats(r).withCPU())
				continue
			}
			cells = append(cells, medianStats(r).String())
		}
		fmt.Println("| " + strings.Join(cells, " | ") + " |")
	}
}

type bench struct {
	st      store
	revoked map[int]bool // rows whose session this run revoked
}

// round times each operation at data size n.
func (b *bench) round(ctx context.Context, n, reads, writes int) ([4]stats, error) {
	var out [4]stats
	// No look-up cache (every check reads the store) and no touch (the
	// sessions were last seen at fill time): the store's read path only.
	checks := session.NewManager(b.st, session.Config{TouchInterval: 24 * time.Hour})
	pick := func() int {
		for {
			if i := rand.IntN(n); !b.revoked[i] {
				return i
			}
		}
	}
	// Warm up: the state a server is in after serving for a while.
	for range min(reads, 2000) {
		if _, err := checks.Check(ctx, secret(pick())); err != nil && !errors.Is(err, authd.ErrUnauthenticated) {
			return out, fmt.Errorf("check: %w", err)
		}
	}
	d := make([]time.Duration, 0, reads)
	secrets := make([]string, reads)
	for k := range secrets {
		secrets[k] = secret(pick())
	}
	var err error
	cpu := threadCPU(func() {
		for _, sec := range secrets {
			t0 := time.Now()
			_, err = checks.Check(ctx, sec)
			d = append(d, time.Since(t0))
			if errors.Is(err, authd.ErrUnauthenticated) {
				err = nil // revoked by an earlier run on the same data (-prefilled): the same look-up
			}
			if err != nil {
				return
			}
		}
	})
	if err != nil {
		return out, fmt.Errorf("check: %w", err)
	}
	out[0] = summarize(d)
	out[0].cpu = cpu / time.Duration(reads)

	// Login without the password hash: find the user, create the session.
	d = d[:0]
	for range writes {
		i := pick()
		t0 := time.Now()
		u, err := b.st.UserByEmail(ctx, email(i))
		if err == nil {
			_, _, err = checks.Create(ctx, u.ID, session.KindCookie, session.Meta{IP: "192.0.2.1", UserAgent: "scale/1.0"})
		}
		d = append(d, time.Since(t0))
		if err != nil {
			return out, fmt.Errorf("login: %w", err)
		}
	}
	out[1] = summarize(d)

	// Rotation, as /oauth2/token runs it. Each rotation touches its
	// session, as a real one does (access tokens live 10 minutes, the
	// touch interval is 1). Chains are opened untimed; each is rotated
	// three times, so pruning (from generation 2) is included.
	rot := newRotator(b.st, session.NewManager(b.st, session.Config{TouchInterval: time.Nanosecond}))
	toks := make([]string, (writes+2)/3)
	for k := range toks {
		tok, err := rot.start(ctx, userID(pick()))
		if err != nil {
			return out, fmt.Errorf("start chain: %w", err)
		}
		toks[k] = tok
	}
	d = d[:0]
	for range 3 {
		for k := range toks {
			t0 := time.Now()
			next, err := rot.rotate(ctx, toks[k])
			d = append(d, time.Since(t0))
			if err != nil {
				return out, fmt.Errorf("rotate: %w", err)
			}
			toks[k] = next
		}
	}
	out[2] = summarize(d)

	// Revoke one session by ID, as DELETE /v1/sessions/{id} does.
	d = d[:0]
	for range writes {
		i := pick()
		b.revoked[i] = true
		t0 := time.Now()
		err := checks.Revoke(ctx, userID(i), sessionID(i))
		d = append(d, time.Since(t0))
		if err != nil && !errors.Is(err, authd.ErrNotFound) { // ErrNotFound: revoked by an earlier run (-prefilled)
			return out, fmt.Errorf("revoke: %w", err)
		}
	}
	out[3] = summarize(d)
	return out, nil
}

// stats are a latency distribution's median and 99th percentile, and for
// the check the CPU time of the thread per operation.
type stats struct{ p50, p99, cpu time.Duration }

func summarize(d []time.Duration) stats {
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return stats{p50: at(0.50), p99: at(0.99)}
}

func medianStats(s []stats) stats {
	p50 := make([]time.Duration, len(s))
	p99 := make([]time.Duration, len(s))
	cpu := make([]time.Duration, len(s))
	for i := range s {
		p50[i], p99[i], cpu[i] = s[i].p50, s[i].p99, s[i].cpu
	}
	slices.Sort(p50)
	slices.Sort(p99)
	slices.Sort(cpu)
	return stats{p50[len(s)/2], p99[len(s)/2], cpu[len(s)/2]}
}

func (s stats) String() string { return micro(s.p50) + " / " + micro(s.p99) }

// withCPU adds the thread's CPU time per operation.
func (s stats) withCPU() string { return s.String() + " (CPU " + micro(s.cpu) + ")" }

func micro(d time.Duration) string {
	us := float64(d.Nanoseconds()) / 1e3
	if us < 100 {
		return strconv.FormatFloat(us, 'f', 1, 64) + " µs"
	}
	return strconv.FormatFloat(us, 'f', 0, 64) + " µs"
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 100 || (len(out) > 0 && n <= out[len(out)-1]) {
			return nil, fmt.Errorf("-sizes: want ascending numbers ≥ 100, got %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "scale:", err)
	os.Exit(1)
}
