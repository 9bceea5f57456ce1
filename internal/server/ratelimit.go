package server

import (
	"sync"
	"time"
)

// rateLimit is a token bucket per key (a client's IP bucket) in this
// process's memory: burst requests at once, then one per every. It bounds
// what an anonymous client can make authd store, such as passkey sign-in
// ceremonies (each a challenge row for 5 minutes), where the login
// throttle, which counts failures, does not apply. Per instance: N
// instances allow N times the rate, still a bound.
type rateLimit struct {
	burst int
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds the map; past it, full buckets are forgotten.
const maxBuckets = 100_000

func newRateLimit(burst int, every time.Duration, now func() time.Time) *rateLimit {
	return &rateLimit{burst: burst, every: every, now: now, buckets: map[string]*bucket{}}
}

// allow takes a token for key, or reports how long until one is there.
func (l *rateLimit) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: float64(l.burst), at: now}
		l.buckets[key] = b
	}
	b.tokens = min(float64(l.burst), b.tokens+float64(now.Sub(b.at))/float64(l.every))
	b.at = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.every))
	}
	b.tokens--
	return true, 0
}

// prune forgets buckets that have refilled; the caller holds mu.
func (l *rateLimit) prune(now time.Time) {
	full := time.Duration(l.burst) * l.every
	for k, b := range l.buckets {
		if now.Sub(b.at) >= full {
			delete(l.buckets, k)
		}
	}
}
