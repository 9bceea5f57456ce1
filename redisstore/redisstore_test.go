package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/authcode"
	"github.com/authd/authd/authcode/authcodetest"
	"github.com/authd/authd/redisstore"
	"github.com/authd/authd/redisstore/redistest"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/refresh/refreshtest"
	"github.com/authd/authd/session"
	"github.com/authd/authd/session/sessiontest"
	"github.com/authd/authd/throttle"
	"github.com/authd/authd/throttle/throttletest"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// backends runs fn against the standalone Redis and the cluster.
func backends(t *testing.T, fn func(t *testing.T, url string)) {
	t.Run("standalone", func(t *testing.T) { fn(t, redistest.Standalone(t)) })
	t.Run("cluster", func(t *testing.T) { fn(t, redistest.Cluster(t)) })
}

func TestSessionConformance(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		sessiontest.Run(t, func(t *testing.T) session.Store {
			return redistest.NewStore(t, url, redisstore.Options{})
		})
	})
}

func TestCodeConformance(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		authcodetest.Run(t, func(t *testing.T) authcode.Store {
			return redistest.NewStore(t, url, redisstore.Options{})
		})
	})
}

func TestRefreshConformance(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		refreshtest.Run(t, func(t *testing.T) refresh.Store {
			return redistest.NewStore(t, url, redisstore.Options{})
		})
	})
}

func TestThrottleConformance(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		throttletest.Run(t, true, func(t *testing.T, cfg throttle.Config) (a, b throttletest.Throttle) {
			prefix := redistest.Prefix() // two instances: two Stores, one key space
			a = redisstore.NewThrottle(redistest.NewStore(t, url, redisstore.Options{Prefix: prefix}), "acct", cfg)
			b = redisstore.NewThrottle(redistest.NewStore(t, url, redisstore.Options{Prefix: prefix}), "acct", cfg)
			return a, b
		})
	})
}

// commandCalls sums the calls of the named commands on every node.
func commandCalls(t *testing.T, st *redisstore.Store, names ...string) int {
	t.Helper()
	total := 0
	for _, node := range st.Client().Nodes() {
		info, err := node.Do(context.Background(), node.B().Info().Section("commandstats").Build()).ToString()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\n") {
			for _, n := range names {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+n+":calls="); ok {
					v, _, _ := strings.Cut(rest, ",")
					c, _ := strconv.Atoi(v)
					total += c
				}
			}
		}
	}
	return total
}

// TestRevokeUserSessionsManyNoScan: "log out everywhere" for a user with
// 1,000 sessions revokes them all and sends no SCAN or KEYS (counted in
// the servers' INFO commandstats; other clients of the same servers could
// only make the count fail spuriously, never pass).
func TestRevokeUserSessionsManyNoScan(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		st := redistest.NewStore(t, url, redisstore.Options{})
		ctx := context.Background()
		const n = 1000
		var keep string
		var hashes [][]byte
		for i := range n {
			s, h := sessiontest.New("user-many", t0)
			if err := st.CreateSession(ctx, s, h); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				keep = s.ID
			}
			hashes = append(hashes, h)
		}
		other, oh := sessiontest.New("user-other", t0)
		if err := st.CreateSession(ctx, other, oh); err != nil {
			t.Fatal(err)
		}
		before := commandCalls(t, st, "scan", "keys")
		start := time.Now()
		ids, err := st.RevokeUserSessions(ctx, "user-many", keep, t0.Add(time.Minute))
		took := time.Since(start)
		after := commandCalls(t, st, "scan", "keys")
		if err != nil || len(ids) != n-1 {
			t.Fatalf("RevokeUserSessions = %d ids, %v; want %d", len(ids), err, n-1)
		}
		if after != before {
			t.Errorf("RevokeUserSessions sent %d SCAN/KEYS commands, want 0", after-before)
		}
		t.Logf("revoked %d sessions in %v", len(ids), took)
		for i, h := range hashes {
			_, err := st.SessionByHash(ctx, h, t0.Add(2*time.Minute))
			if i == 0 && err != nil {
				t.Errorf("kept session: %v", err)
			}
			if i > 0 && !errors.Is(err, authd.ErrNotFound) {
				t.Fatalf("session %d after revoke: %v, want ErrNotFound", i, err)
			}
		}
		if _, err := st.SessionByHash(ctx, oh, t0); err != nil {
			t.Errorf("other user's session: %v", err)
		}
		rs, err := st.RevokedSessions(ctx, t0)
		if err != nil || len(rs) != n-1 {
			t.Errorf("RevokedSessions = %d, %v; want %d", len(rs), err, n-1)
		}
	})
}

// TestTTL: every key expires by itself: a session's or a token's keys and
// their expiry indexes no later than its ExpiresAt (+ the margin), the
// revocation list after the retention, computed from Options.Now.
func TestTTL(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		now := t0.Add(-time.Hour)
		margin := 30 * time.Second
		prefix := redistest.Prefix()
		retain := 2 * time.Hour
		codeRetain := 10 * time.Minute
		st := redistest.NewStore(t, url, redisstore.Options{Prefix: prefix, Now: func() time.Time { return now }, TTLMargin: margin,
			RevocationRetention: retain, CodeRetention: codeRetain})
		ctx := context.Background()
		s, h := sessiontest.New("user-ttl", t0) // expires t0+24h: TTL 25h
		if err := st.CreateSession(ctx, s, h); err != nil {
			t.Fatal(err)
		}
		rt := refreshtest.New(s.ID, 0, t0)
		rt.ExpiresAt = t0.Add(2 * time.Hour) // TTL 3h
		if err := st.CreateRefresh(ctx, rt); err != nil {
			t.Fatal(err)
		}
		if res, err := st.RotateRefresh(ctx, refreshtest.Redeem(rt, t0, 0)); err != nil || res.Outcome != refresh.Rotated {
			t.Fatalf("RotateRefresh = %v, %v", res, err)
		}
		revoked, rh := sessiontest.New("user-ttl", t0)
		if err := st.CreateSession(ctx, revoked, rh); err != nil {
			t.Fatal(err)
		}
		if err := st.RevokeSession(ctx, revoked.ID, now); err != nil {
			t.Fatal(err)
		}
		code := authcodetest.New(t0) // expires t0+60s: TTL 1h1m + the retention
		if err := st.CreateCode(ctx, code); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RedeemCode(ctx, code.Hash, t0); err != nil {
			t.Fatal(err)
		}
		thr := redisstore.NewThrottle(st, "ttl", throttle.Config{Forget: time.Hour, Now: func() time.Time { return now }})
		if _, err := thr.Reserve(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		keys, err := redistest.Keys(ctx, url, prefix)
		if err != nil {
			t.Fatal(err)
		}
		c := st.Client()
		bound := func(k string) (time.Duration, bool) {
			switch {
			case strings.Contains(k, ":ac:"), strings.Contains(k, ":acx:"):
				return code.ExpiresAt.Sub(now) + codeRetain + margin, true
			case strings.Contains(k, ":h:"), strings.HasSuffix(k, "}"), strings.HasSuffix(k, ":ss"):
				return s.ExpiresAt.Sub(now) + margin, true
			case strings.HasSuffix(k, ":rt"), strings.HasSuffix(k, ":g"):
				return rt.ExpiresAt.Sub(now) + margin, true
			case strings.Contains(k, ":t:"):
				return time.Hour, true
			case strings.Contains(k, ":sx:"):
				return s.ExpiresAt.Sub(now) + margin, true
			case strings.Contains(k, ":rs:"):
				return rt.ExpiresAt.Sub(now) + margin, true
			case strings.HasSuffix(k, ":rv"):
				return retain, true
			}
			t.Errorf("key %s has no expected TTL", k)
			return 0, false
		}
		checked := 0
		for _, k := range keys {
			want, ok := bound(k)
			if !ok {
				continue
			}
			ms, err := c.Do(ctx, c.B().Pttl().Key(k).Build()).AsInt64()
			if err != nil {
				t.Fatal(err)
			}
			got := time.Duration(ms) * time.Millisecond
			if ms <= 0 || got > want+time.Millisecond || got < want-time.Minute {
				t.Errorf("PTTL %s = %v, want ≤ %v (and close to it)", k, got, want)
			}
			checked++
		}
		if checked < 11 {
			t.Errorf("checked %d keys (%v), want at least 11: lookup, ID, user index, session expiry index, refresh, generations, refresh expiry index, revocation list, throttle, code, code expiry index", checked, keys)
		}
	})
}

// TestThrottle: two Throttle values (two instances: two Stores on the same
// server) share the count and follow throttle.Limiter's curve exactly.
func TestThrottle(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		prefix := redistest.Prefix()
		var mu sync.Mutex
		now := t0
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		cfg := throttle.Config{Free: 2, BaseDelay: 1500 * time.Millisecond, MaxDelay: 20 * time.Second, Forget: time.Hour, Now: clock}
		a := redisstore.NewThrottle(redistest.NewStore(t, url, redisstore.Options{Prefix: prefix}), "accounts", cfg)
		b := redisstore.NewThrottle(redistest.NewStore(t, url, redisstore.Options{Prefix: prefix}), "accounts", cfg)
		ips := redisstore.NewThrottle(redistest.NewStore(t, url, redisstore.Options{Prefix: prefix}), "ips", cfg)
		ref := throttle.New(cfg)
		ctx := context.Background()
		const key = "alice@example.com"
		// attempt makes one attempt through th and through the reference
		// Limiter, and wants the same answer from both.
		attempt := func(th *redisstore.Throttle, step string) time.Duration {
			t.Helper()
			want, _ := ref.Reserve(ctx, key)
			got, err := th.Reserve(ctx, key)
			if err != nil || got != want {
				t.Errorf("%s: Reserve = %v, %v; want %v (throttle.Limiter)", step, got, err, want)
			}
			return got
		}
		for i := range 30 {
			th := a
			if i%2 == 1 {
				th = b
			}
			attempt(th, fmt.Sprintf("attempt %d", i+1))
			advance(700 * time.Millisecond)
		}
		if d, _ := ips.Reserve(ctx, key); d != 0 {
			t.Errorf("another throttle name shares the count: Reserve = %v", d)
		}
		advance(20 * time.Second)
		attempt(a, "at the ceiling, after it")
		if d := attempt(b, "at the ceiling, at once"); d != 20*time.Second {
			t.Errorf("at the ceiling: Reserve = %v, want 20s", d)
		}
		// Forget after quiet.
		advance(time.Hour)
		for i := range 4 {
			attempt(a, fmt.Sprintf("attempt %d after Forget", i+1))
		}
		for range 2 {
			if err := b.Release(ctx, key); err != nil {
				t.Fatal(err)
			}
			ref.Release(ctx, key)
		}
		attempt(a, "after two releases")
		if err := b.Reset(ctx, key); err != nil {
			t.Fatal(err)
		}
		ref.Reset(ctx, key)
		for i := range 3 {
			attempt(a, fmt.Sprintf("attempt %d after Reset", i+1))
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := a.Reserve(cctx, key); !errors.Is(err, context.Canceled) {
			t.Errorf("Reserve(cancelled) = %v", err)
		}
		if err := a.Release(cctx, key); !errors.Is(err, context.Canceled) {
			t.Errorf("Release(cancelled) = %v", err)
		}
	})
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		url      string
		addrs    string
		user     string
		pass     string
		db       int
		master   string
		tls      bool
		single   bool
		wantFail bool
	}{
		{url: "redis://127.0.0.1:6379/0", addrs: "127.0.0.1:6379", single: true},
		{url: "redis://localhost", addrs: "localhost:6379", single: true},
		{url: "redis://u:p%40ss@h:1/3", addrs: "h:1", user: "u", pass: "p@ss", db: 3, single: true},
		{url: "redis://:secret@h:1", addrs: "h:1", pass: "secret", single: true},
		{url: "redis://[::1]:6380/2", addrs: "[::1]:6380", db: 2, single: true},
		{url: "rediss://h:6380", addrs: "h:6380", tls: true, single: true},
		{url: "redis-sentinel://secret@s1:26379,s2/mymaster", addrs: "s1:26379,s2:26379", pass: "secret", master: "mymaster"},
		{url: "redis-sentinel://s1:1/mymaster/4", addrs: "s1:1", master: "mymaster", db: 4},
		{url: "redis-cluster://a:7101,b:7102,c:7103", addrs: "a:7101,b:7102,c:7103"},
		{url: "rediss-cluster://u:p@a:7101", addrs: "a:7101", user: "u", pass: "p", tls: true},
		{url: "http://h", wantFail: true},
		{url: "h:6379", wantFail: true},
		{url: "redis://a:1,b:2", wantFail: true},
		{url: "redis://h:99999", wantFail: true},
		{url: "redis://h/x", wantFail: true},
		{url: "redis://h/0?dial_timeout=1s", wantFail: true},
		{url: "redis-sentinel://h:1", wantFail: true},
		{url: "redis-cluster://h:1/2", wantFail: true},
	}
	for _, tt := range tests {
		co, err := redisstore.ParseURL(tt.url)
		if tt.wantFail {
			if err == nil {
				t.Errorf("ParseURL(%q) = nil error, want one", tt.url)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURL(%q) = %v", tt.url, err)
			continue
		}
		got := fmt.Sprintf("%s|%s|%s|%d|%s|%v|%v|%v", strings.Join(co.InitAddress, ","), co.Username, co.Password, co.SelectDB,
			co.Sentinel.MasterSet, co.TLSConfig != nil, co.ForceSingleClient, co.DisableCache)
		want := fmt.Sprintf("%s|%s|%s|%d|%s|%v|%v|%v", tt.addrs, tt.user, tt.pass, tt.db, tt.master, tt.tls, tt.single, true)
		if got != want {
			t.Errorf("ParseURL(%q) = %s, want %s", tt.url, got, want)
		}
	}
	if _, err := redisstore.ParseURL("redis://user:hunter2@h:1/x"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the password: %v", err)
	}
}

// TestMemoryPerSession reports what a session costs in Redis: the keys of
// one session (MEMORY USAGE) and the average over 10,000 sessions of every
// key the store wrote (indexes included).
func TestMemoryPerSession(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: creates 10,000 sessions")
	}
	url := redistest.Standalone(t)
	prefix := redistest.Prefix()
	st := redistest.NewStore(t, url, redisstore.Options{Prefix: prefix})
	ctx := context.Background()
	const n, perUser = 10_000, 5
	var one *session.Session
	var oneHash []byte
	for i := range n {
		s, h := sessiontest.New(fmt.Sprintf("user-%08d", i/perUser), t0)
		s.IP = "203.0.113.7"
		s.UserAgent = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
		if err := st.CreateSession(ctx, s, h); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			one, oneHash = s, h
		}
	}
	c := st.Client()
	usage := func(k string) int64 {
		v, err := c.Do(ctx, c.B().MemoryUsage().Key(k).Samples(0).Build()).AsInt64()
		if err != nil {
			t.Fatalf("MEMORY USAGE %s: %v", k, err)
		}
		return v
	}
	lookup := usage(prefix + "h:" + fmt.Sprintf("%x", oneHash))
	id := usage(prefix + "{s:" + one.ID + "}")
	keys, err := redistest.Keys(ctx, url, prefix)
	if err != nil {
		t.Fatal(err)
	}
	var total, indexes int64
	for _, k := range keys {
		u := usage(k)
		total += u
		if !strings.Contains(k, ":h:") && !strings.HasSuffix(k, "}") {
			indexes += u
		}
	}
	t.Logf("one session: record %d B + ID key %d B = %d B (user-agent %d B)", lookup, id, lookup+id, len(one.UserAgent))
	t.Logf("%d sessions (%d per user): %d keys, %d B in all = %d B/session (indexes: %d B/session)",
		n, perUser, len(keys), total, total/n, indexes/n)
}

func BenchmarkSessionByHash(b *testing.B) {
	url := redistest.Standalone(b)
	st := redistest.NewStore(b, url, redisstore.Options{})
	ctx := context.Background()
	const n = 1000
	hashes := make([][]byte, n)
	for i := range n {
		s, h := sessiontest.New(fmt.Sprintf("user-%d", i%100), t0)
		if err := st.CreateSession(ctx, s, h); err != nil {
			b.Fatal(err)
		}
		hashes[i] = h
	}
	b.Run("serial", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := st.SessionByHash(ctx, hashes[i%n], t0); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(16) // many requests in flight, as on a busy server
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := st.SessionByHash(ctx, hashes[i%n], t0); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

// BenchmarkRotateRefresh is one rotation's store work (one RotateRefresh,
// one Lua script), as on the other backends: serial, and from 16
// goroutines, each rotating its own chain.
func BenchmarkRotateRefresh(b *testing.B) {
	for _, bk := range []struct {
		name string
		url  func(testing.TB) string
	}{{"standalone", redistest.Standalone}, {"cluster", redistest.Cluster}} {
		b.Run(bk.name, func(b *testing.B) {
			st := redistest.NewStore(b, bk.url(b), redisstore.Options{})
			b.Run("serial", func(b *testing.B) { refreshtest.BenchRotation(b, st) })
			b.Run("parallel", func(b *testing.B) {
				ctx := context.Background()
				var chains atomic.Int64
				b.SetParallelism(16)
				b.RunParallel(func(pb *testing.PB) {
					rt := refreshtest.New(fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), chains.Add(1)), 0, t0)
					if err := st.CreateRefresh(ctx, rt); err != nil {
						b.Error(err)
						return
					}
					for i := 1; pb.Next(); i++ {
						res, err := st.RotateRefresh(ctx, refreshtest.Redeem(rt, t0.Add(time.Duration(i)*time.Millisecond), 0))
						if err != nil || res.Outcome != refresh.Rotated {
							b.Errorf("RotateRefresh = %v, %v; want rotated", res, err)
							return
						}
						rt = res.Child
					}
				})
			})
		})
	}
}

// TestTouchRevokeRace: a touch racing a revoke never brings the revoked
// session back, and a revoked session leaves no record, ID key or
// user-index entry behind.
func TestTouchRevokeRace(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		prefix := redistest.Prefix()
		st := redistest.NewStore(t, url, redisstore.Options{Prefix: prefix})
		ctx := context.Background()
		for round := range 20 {
			s, h := sessiontest.New("user-race", t0)
			if err := st.CreateSession(ctx, s, h); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					at := t0.Add(time.Duration(i+1) * time.Second)
					if err := st.TouchSession(ctx, s.ID, at, at.Add(time.Hour)); err != nil && !errors.Is(err, authd.ErrNotFound) {
						t.Error(err)
					}
				})
			}
			wg.Go(func() {
				if err := st.RevokeSession(ctx, s.ID, t0.Add(time.Second)); err != nil {
					t.Error(err)
				}
			})
			wg.Wait()
			if _, err := st.SessionByHash(ctx, h, t0.Add(2*time.Second)); !errors.Is(err, authd.ErrNotFound) {
				t.Fatalf("round %d: revoked session after racing touches: %v, want ErrNotFound", round, err)
			}
			if _, err := st.SessionByID(ctx, s.ID, t0.Add(2*time.Second)); !errors.Is(err, authd.ErrNotFound) {
				t.Fatalf("round %d: SessionByID: %v, want ErrNotFound", round, err)
			}
		}
		keys, err := redistest.Keys(ctx, url, prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if strings.Contains(k, ":h:") || strings.HasSuffix(k, "}") {
				t.Errorf("revoked session left %s behind", k)
			}
		}
		if list, err := st.ListSessions(ctx, "user-race", t0); err != nil || len(list) != 0 {
			t.Errorf("ListSessions = %d, %v; want none", len(list), err)
		}
	})
}

// TestCodePastRetention: a code created already past its retention (its
// key gets the minimum TTL; the index trim on create would drop its entry
// if it ran after the ZADD) is still listed for DeleteExpiredCodes, which
// deletes and counts it.
func TestCodePastRetention(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		now := t0.Add(time.Hour)
		st := redistest.NewStore(t, url, redisstore.Options{Now: func() time.Time { return now }})
		ctx := context.Background()
		c := authcodetest.New(t0.Add(-time.Minute))
		if err := st.CreateCode(ctx, c); err != nil {
			t.Fatal(err)
		}
		if n, err := st.DeleteExpiredCodes(ctx, t0.Add(time.Microsecond)); err != nil || n != 1 {
			t.Errorf("DeleteExpiredCodes = %d, %v; want 1", n, err)
		}
		if _, err := st.RedeemCode(ctx, c.Hash, now); !errors.Is(err, authd.ErrNotFound) {
			t.Errorf("after the sweep: RedeemCode = %v, want ErrNotFound", err)
		}
	})
}
