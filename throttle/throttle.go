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
	"slices"
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
	// MaxKeys bounds memory; when full, forgotten keys are swept and, if
	// none are, the oldest quarter is dropped. Default 1,000,000.
	MaxKeys int
	Now     func() time.Time
}

// Limiter is an in-memory, single-instance throttle. It is safe for
// concurrent use.
type Limiter struct {
	cfg Config
	mu  sync.Mutex
	m   map[string]*entry
}

type entry struct {
	n     int       // attempts counted (reserved and not released)
	last  time.Time // last counted attempt
	until time.Time // no attempt before this
	seen  time.Time // last attempt, counted or refused: eviction order
}

// New returns a Limiter.
func New(cfg Config) *Limiter {
	return &Limiter{cfg: cfg.WithDefaults(), m: map[string]*entry{}}
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
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	if ok && now.Sub(e.last) >= l.cfg.Forget {
		delete(l.m, key)
		ok = false
	}
	if ok {
		e.seen = now
		if d := e.until.Sub(now); d > 0 {
			return d, nil
		}
	} else {
		if len(l.m) >= l.cfg.MaxKeys {
			l.sweep(now)
		}
		e = &entry{}
		l.m[key] = e
	}
	e.n++
	e.last, e.seen = now, now
	e.until = now.Add(l.cfg.Delay(e.n))
	return 0, nil
}

// Release gives back one attempt reserved for key: the attempt turned out
// not to be a failed guess (it succeeded on a key that is not reset on
// success, such as a client IP, or it never reached the password check).
// The wait is recomputed from the remaining count.
func (l *Limiter) Release(_ context.Context, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	if !ok {
		return nil
	}
	if e.n--; e.n <= 0 {
		delete(l.m, key)
		return nil
	}
	e.until = e.last.Add(l.cfg.Delay(e.n))
	return nil
}

// Reset forgets key (after a successful login).
func (l *Limiter) Reset(_ context.Context, key string) error {
	l.mu.Lock()
	delete(l.m, key)
	l.mu.Unlock()
	return nil
}

// Len returns the number of keys held.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
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

func (l *Limiter) sweep(now time.Time) {
	for k, e := range l.m {
		if now.Sub(e.last) >= l.cfg.Forget {
			delete(l.m, k)
		}
	}
	if len(l.m) < l.cfg.MaxKeys {
		return
	}
	// Still full (a flood of keys): drop the quarter whose last attempt
	// (counted or refused) is oldest, so the counters of accounts under
	// attack right now, which keep being tried, are the last to go. Rare,
	// so a sort is fine.
	type aged struct {
		key  string
		last time.Time
	}
	all := make([]aged, 0, len(l.m))
	for k, e := range l.m {
		all = append(all, aged{k, e.seen})
	}
	slices.SortFunc(all, func(a, b aged) int { return a.last.Compare(b.last) })
	for _, a := range all[:len(all)/4] {
		delete(l.m, a.key)
	}
}
