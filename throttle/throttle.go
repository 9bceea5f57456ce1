// Package throttle slows down password guessing: attempts are counted per
// key (an account, a client IP, a known device) before the password is
// checked and, past a number of free attempts, each further attempt must
// wait a delay that doubles up to a ceiling. A successful login resets or
// releases what it reserved, so only failures accumulate.
//
// It never locks an account permanently: NIST SP 800-63B-4 §3.2.2 asks for
// at most 100 consecutive failures per account over a practical period
// without handing attackers a denial-of-service lever. With the defaults
// (5 free attempts, 1 s doubling to 15 min) an attacker gets about 100
// guesses a day per account, and the owner waits at most 15 minutes.
package throttle

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// Throttler is a throttle over any backend: the in-memory Limiter here,
// and the shared ones of pgstore and redisstore. The server consumes it;
// throttletest proves every implementation against it.
type Throttler interface {
	// Reserve counts one attempt for key if key may make one now and
	// returns 0; if key must still wait it returns the wait and counts
	// nothing. Deciding and counting are one atomic step.
	Reserve(ctx context.Context, key string) (time.Duration, error)
	// Release gives back one attempt reserved for key.
	Release(ctx context.Context, key string) error
	// Reset forgets key's attempts.
	Reset(ctx context.Context, key string) error
}

var _ Throttler = (*Limiter)(nil)

// Config sets the curve. Zero fields take the documented defaults.
type Config struct {
	Free      int           // failures allowed without delay; default 5
	BaseDelay time.Duration // delay after the first failure past Free; default 1s
	MaxDelay  time.Duration // ceiling of the doubling delay; default 15m
	// Forget drops a key's count after this long without a failure;
	// default 24h.
	Forget time.Duration
	// MaxKeys bounds memory: the Limiter never holds more keys. Default
	// 1,000,000. When full, a new key takes the place of the key least
	// recently tried (counted or refused), so the counters of accounts
	// under attack right now, which keep being tried, are the last to go;
	// keys not tried for Forget are also dropped, a few per new key,
	// before it is full. The bound is split evenly over up to 64 shards
	// (see Limiter), each of at least 1,024 keys, and each shard evicts on
	// its own, the least recently tried key of that shard: as keys are
	// spread by a hash, the first evictions come while the whole holds a
	// little fewer than MaxKeys (at 1,000,000, from about 978,000 keys;
	// a flood then fills every shard to exactly MaxKeys in all).
	MaxKeys int
	Now     func() time.Time
}

// Limiter is an in-memory, single-instance throttle. It is safe for
// concurrent use.
//
// Keys are spread by a seeded hash over shards (64 once MaxKeys is at
// least 64 × 1,024; fewer, down to one, below that), each with its own
// lock, map and share of MaxKeys. All of a key's state lives in one shard,
// so every call on a key is one atomic step under that shard's lock. Each
// shard keeps its keys in a list ordered by their last attempt (counted or
// refused), so finding the key to evict is O(1): no call does work
// proportional to the number of keys held, and a flood of new keys never
// stalls other logins.
type Limiter struct {
	cfg    Config
	seed   maphash.Seed
	mask   uint64 // len(shards) - 1; len(shards) is a power of two
	shards []shard
}

type shard struct {
	mu  sync.Mutex
	m   map[string]*entry
	max int // this shard's share of MaxKeys
	// lru is the sentinel of a circular list of the shard's entries,
	// most recently tried first: lru.next is the newest, lru.prev the
	// oldest.
	lru entry
	_   [64]byte // keeps one shard's hot words off its neighbour's cache line
}

type entry struct {
	key        string
	n          int       // attempts counted (reserved and not released)
	last       time.Time // last counted attempt; the wait ends at last+Delay(n)
	prev, next *entry    // the shard's recency list
}

const (
	maxShards    = 64
	minShardKeys = 1024
)

// New returns a Limiter.
func New(cfg Config) *Limiter {
	cfg = cfg.WithDefaults()
	n := 1
	for n < maxShards && cfg.MaxKeys/(2*n) >= minShardKeys {
		n *= 2
	}
	l := &Limiter{cfg: cfg, seed: maphash.MakeSeed(), mask: uint64(n - 1), shards: make([]shard, n)}
	for i := range l.shards {
		s := &l.shards[i]
		s.m = map[string]*entry{}
		s.max = cfg.MaxKeys / n
		if i < cfg.MaxKeys%n {
			s.max++ // the shares add up to MaxKeys exactly
		}
		s.lru.prev, s.lru.next = &s.lru, &s.lru
	}
	return l
}

// WithDefaults returns cfg with every zero field set to its documented
// default. Shared throttles (pgstore, redisstore) use it too, so all
// backends follow one curve.
func (cfg Config) WithDefaults() Config {
	if cfg.Free <= 0 {
		cfg.Free = 5
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = time.Second
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 15 * time.Minute
	}
	if cfg.Forget <= 0 {
		cfg.Forget = 24 * time.Hour
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 1_000_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// Reserve counts one attempt for key if key may make one now, and returns
// 0. If key must still wait, it returns the wait and counts nothing, so a
// refused attempt never lengthens the wait. Deciding and counting happen
// under one lock: of any number of concurrent callers, exactly as many get
// through as the curve allows (Free, then one per delay). The error is
// always nil for the in-memory Limiter; it is there for shared backends.
//
// Counting the attempt BEFORE the password is hashed, not the failure
// after it, is what makes the throttle hold against guesses sent in
// parallel (NIST SP 800-63B-4 §3.2.2; OWASP ASVS 5.0 6.3.1).
func (l *Limiter) Reserve(_ context.Context, key string) (time.Duration, error) {
	now := l.cfg.Now()
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	switch {
	case e == nil:
		e = s.insert(key, now, l.cfg.Forget)
	case now.Sub(e.last) >= l.cfg.Forget:
		e.n = 0 // forgotten: counting starts again
		s.touch(e)
	default:
		s.touch(e) // a refused attempt counts for recency too
		if d := e.last.Add(l.cfg.Delay(e.n)).Sub(now); d > 0 {
			return d, nil
		}
	}
	e.n++
	e.last = now
	return 0, nil
}

// Release gives back one attempt reserved for key: the attempt turned out
// not to be a failed guess (it succeeded on a key that is not reset on
// success, such as a client IP, or it never reached the password check).
// The wait is recomputed from the remaining count.
func (l *Limiter) Release(_ context.Context, key string) error {
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil {
		return nil
	}
	if e.n--; e.n <= 0 {
		s.remove(e)
	}
	return nil
}

// Reset forgets key (after a successful login).
func (l *Limiter) Reset(_ context.Context, key string) error {
	s := l.shard(key)
	s.mu.Lock()
	if e := s.m[key]; e != nil {
		s.remove(e)
	}
	s.mu.Unlock()
	return nil
}

// Len returns the number of keys held.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

func (l *Limiter) shard(key string) *shard {
	if l.mask == 0 {
		return &l.shards[0]
	}
	return &l.shards[maphash.String(l.seed, key)&l.mask]
}

// insert adds a new entry for key, most recent, and returns it. It first
// drops up to two forgotten entries from the old end of the list (so
// memory follows the keys tried within about Forget, a little per call);
// if the shard is still full, its least recently tried entry makes room.
// O(1).
func (s *shard) insert(key string, now time.Time, forget time.Duration) *entry {
	for range 2 {
		old := s.lru.prev
		if old == &s.lru || now.Sub(old.last) < forget {
			break
		}
		s.remove(old)
	}
	var e *entry
	if len(s.m) >= s.max {
		e = s.lru.prev
		s.remove(e)
		*e = entry{} // reused: a flood of new keys allocates no entries
	} else {
		e = &entry{}
	}
	e.key = key
	s.m[key] = e
	s.pushFront(e)
	return e
}

func (s *shard) remove(e *entry) {
	delete(s.m, e.key)
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (s *shard) pushFront(e *entry) {
	e.prev, e.next = &s.lru, s.lru.next
	e.prev.next, e.next.prev = e, e
}

// touch makes e the most recently tried entry of its shard.
func (s *shard) touch(e *entry) {
	if s.lru.next == e {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev
	s.pushFront(e)
}

// Delay is the wait imposed after the n-th counted attempt: none for the
// first Free, then BaseDelay doubling up to MaxDelay. cfg must have its
// defaults applied (WithDefaults). Shared backends use it so every backend
// follows one curve.
func (cfg Config) Delay(n int) time.Duration {
	if n <= cfg.Free {
		return 0
	}
	d := cfg.BaseDelay
	for i := cfg.Free + 1; i < n; i++ {
		d *= 2
		if d >= cfg.MaxDelay {
			return cfg.MaxDelay
		}
	}
	return min(d, cfg.MaxDelay)
}

// Steps lists the curve for backends that must apply it inside the store
// (a Lua script, one SQL statement): Steps()[i] is Delay(Free+1+i), and
// every count past the list waits MaxDelay. The curve is decided here
// only. cfg must have its defaults applied.
func (cfg Config) Steps() []time.Duration {
	var s []time.Duration
	for n := cfg.Free + 1; ; n++ {
		d := cfg.Delay(n)
		s = append(s, d)
		if d >= cfg.MaxDelay || len(s) >= 64 {
			return s
		}
	}
}
