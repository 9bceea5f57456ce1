// Package throttle slows down password guessing: failed logins are counted
// per key (an account, a client IP) and, past a number of free attempts,
// each further attempt must wait a delay that doubles up to a ceiling.
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
	fails int
	last  time.Time // last failure
	until time.Time // no attempt before this
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

// Wait returns how long the key must wait before its next attempt; 0 means
// go ahead. The error is always nil for the in-memory Limiter; it is there
// for shared backends.
func (l *Limiter) Wait(_ context.Context, key string) (time.Duration, error) {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	if !ok {
		return 0, nil
	}
	if now.Sub(e.last) >= l.cfg.Forget {
		delete(l.m, key)
		return 0, nil
	}
	if d := e.until.Sub(now); d > 0 {
		return d, nil
	}
	return 0, nil
}

// Fail records a failed attempt for key.
func (l *Limiter) Fail(_ context.Context, key string) error {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	if !ok || now.Sub(e.last) >= l.cfg.Forget {
		if len(l.m) >= l.cfg.MaxKeys {
			l.sweep(now)
		}
		e = &entry{}
		l.m[key] = e
	}
	e.fails++
	e.last = now
	e.until = now.Add(Delay(e.fails, l.cfg.Free, l.cfg.BaseDelay, l.cfg.MaxDelay))
	return nil
}

// Reset forgets key (after a successful login).
func (l *Limiter) Reset(_ context.Context, key string) error {
	l.mu.Lock()
	delete(l.m, key)
	l.mu.Unlock()
	return nil
}

// Delay is the wait imposed after the n-th consecutive failure.
func Delay(n, free int, base, ceiling time.Duration) time.Duration {
	if n <= free {
		return 0
	}
	d := base
	for i := free + 1; i < n; i++ {
		d *= 2
		if d >= ceiling {
			return ceiling
		}
	}
	return min(d, ceiling)
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
	// Still full (a flood of keys): drop the quarter whose last failure is
	// oldest, so the counters of accounts under attack right now, which
	// keep failing, are the last to go. Rare, so a sort is fine.
	type aged struct {
		key  string
		last time.Time
	}
	all := make([]aged, 0, len(l.m))
	for k, e := range l.m {
		all = append(all, aged{k, e.last})
	}
	slices.SortFunc(all, func(a, b aged) int { return a.last.Compare(b.last) })
	for _, a := range all[:len(all)/4] {
		delete(l.m, a.key)
	}
}
