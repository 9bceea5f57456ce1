package token

import (
	"hash/maphash"
	"sync"
	"time"
)

// RevocationSet is the in-memory set of revoked session IDs that every
// verification consults. An entry is kept until the longest-lived access
// token its session could still hold has expired; after that the token's
// own exp refuses it.
//
// The IDs are spread by a seeded hash over 256 shards, each with its own
// map and read-write lock, so a look-up takes one shard's read lock and
// never contends with look-ups in other shards. Once a minute an Add
// sweeps out the expired entries, one shard at a time: it finds them under
// the shard's read lock (look-ups go on meanwhile; an Add to that shard
// waits, and so do look-ups arriving behind that Add) and deletes them
// under the write lock in batches of at most sweepBatch. So a look-up
// never waits behind more than one shard's scan (1/256 of the set) or one
// batch of deletions, and a sweep never holds up the other 255 shards.
type RevocationSet struct {
	seed    maphash.Seed
	shards  [revocationShards]revocationShard
	now     func() time.Time
	gcMu    sync.Mutex // held by the Add that checks whether a sweep is due and runs it
	lastGC  time.Time
	gcEvery time.Duration
	expired []string // the sweep's scratch, under gcMu
	// holds, when set (by tests), is told how long the sweep held each
	// shard lock: its read lock while scanning, its write lock while
	// deleting.
	holds func(write bool, d time.Duration)
}

type revocationShard struct {
	mu sync.RWMutex
	m  map[string]time.Time // session ID → keep until; nil until the first Add
	_  [32]byte             // pads the shard to a 64-byte cache line
}

const (
	revocationShards = 256
	// sweepBatch bounds the deletions made under one hold of a shard's
	// write lock.
	sweepBatch = 128
)

// NewRevocationSet returns an empty set. now may be nil (time.Now).
func NewRevocationSet(now func() time.Time) *RevocationSet {
	if now == nil {
		now = time.Now
	}
	return &RevocationSet{seed: maphash.MakeSeed(), now: now, gcEvery: time.Minute}
}

func (s *RevocationSet) shard(sessionID string) *revocationShard {
	return &s.shards[maphash.String(s.seed, sessionID)%revocationShards]
}

// Add marks sessionID revoked until keepUntil. Once a minute, it then
// sweeps out the entries that have expired (the Add that does so takes
// as long as the sweep; no other call waits for it).
func (s *RevocationSet) Add(sessionID string, keepUntil time.Time) {
	sh := s.shard(sessionID)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = map[string]time.Time{}
	}
	if cur, ok := sh.m[sessionID]; !ok || keepUntil.After(cur) {
		sh.m[sessionID] = keepUntil
	}
	sh.mu.Unlock()
	// An Add that finds another checking or sweeping leaves it to that
	// one: at most one sweep at a time, and no Add waits for one.
	if !s.gcMu.TryLock() {
		return
	}
	defer s.gcMu.Unlock()
	if now := s.now(); now.Sub(s.lastGC) >= s.gcEvery {
		s.lastGC = now
		s.sweep(now)
	}
}

// sweep deletes the entries expired at now. s.gcMu must be held.
func (s *RevocationSet) sweep(now time.Time) {
	for i := range s.shards {
		sh := &s.shards[i]
		expired := s.expired[:0]
		sh.mu.RLock()
		t0 := s.clock()
		for id, until := range sh.m {
			if now.After(until) {
				expired = append(expired, id)
			}
		}
		s.held(false, t0)
		sh.mu.RUnlock()
		for rest := expired; len(rest) > 0; {
			batch := rest[:min(len(rest), sweepBatch)]
			rest = rest[len(batch):]
			sh.mu.Lock()
			t0 := s.clock()
			for _, id := range batch {
				// Between the scan and now, an Add may have kept the
				// entry longer.
				if until, ok := sh.m[id]; ok && now.After(until) {
					delete(sh.m, id)
				}
			}
			s.held(true, t0)
			sh.mu.Unlock()
		}
		clear(expired) // the scratch keeps no IDs alive between sweeps
		s.expired = expired[:0]
	}
}

// clock and held time the sweep's lock holds for s.holds, when set.
func (s *RevocationSet) clock() time.Time {
	if s.holds == nil {
		return time.Time{}
	}
	return time.Now()
}

func (s *RevocationSet) held(write bool, t0 time.Time) {
	if s.holds != nil {
		s.holds(write, time.Since(t0))
	}
}

// Revoked implements Revocations.
func (s *RevocationSet) Revoked(sessionID string) bool {
	sh := s.shard(sessionID)
	sh.mu.RLock()
	_, ok := sh.m[sessionID]
	sh.mu.RUnlock()
	return ok
}

// Len returns the number of entries (for metrics and tests).
func (s *RevocationSet) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
