package token

import (
	"sync"
	"time"
)

// RevocationSet is the in-memory set of revoked session IDs that every
// verification consults. An entry is kept until the longest-lived access
// token its session could still hold has expired; after that the token's
// own exp refuses it.
type RevocationSet struct {
	mu      sync.RWMutex
	m       map[string]time.Time // session ID → keep until
	now     func() time.Time
	lastGC  time.Time
	gcEvery time.Duration
}

// NewRevocationSet returns an empty set. now may be nil (time.Now).
func NewRevocationSet(now func() time.Time) *RevocationSet {
	if now == nil {
		now = time.Now
	}
	return &RevocationSet{m: map[string]time.Time{}, now: now, gcEvery: time.Minute}
}

// Add marks sessionID revoked until keepUntil.
func (s *RevocationSet) Add(sessionID string, keepUntil time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.m[sessionID]; !ok || keepUntil.After(cur) {
		s.m[sessionID] = keepUntil
	}
	if now := s.now(); now.Sub(s.lastGC) >= s.gcEvery {
		s.lastGC = now
		for id, until := range s.m {
			if now.After(until) {
				delete(s.m, id)
			}
		}
	}
}

// Revoked implements Revocations.
func (s *RevocationSet) Revoked(sessionID string) bool {
	s.mu.RLock()
	_, ok := s.m[sessionID]
	s.mu.RUnlock()
	return ok
}

// Len returns the number of entries (for metrics and tests).
func (s *RevocationSet) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}
