package session

import (
	"sync"
	"time"
)

// cache remembers recent successful look-ups for at most ttl, so a client
// that sends several requests a second costs one store read, not several.
//
// Correctness rule (the same one the scale-out design imposes on every
// per-instance cache): a revocation takes effect at once on the instance
// that performed it (the Manager drops the entries it revokes) and within
// ttl ≤ 1 s everywhere else (another instance, or `authd user disable` in a
// separate process). Expiry is decided on every check from the cached
// timestamps, so caching never extends a session's life.
type cache struct {
	ttl time.Duration
	max int
	now func() time.Time // the Manager's clock (Config.Now)

	mu     sync.RWMutex
	byHash map[[32]byte]cacheEntry
	byID   map[string][32]byte
	// dropped remembers, for one TTL, sessions dropped because they were
	// revoked, so a look-up that read the store just before the revocation
	// cannot put the session back afterwards.
	dropped      map[string]time.Time
	droppedUsers map[string]time.Time
}

type cacheEntry struct {
	s       Session
	fetched time.Time
}

func newCache(ttl time.Duration, max int, now func() time.Time) *cache {
	if ttl <= 0 {
		return nil
	}
	return &cache{ttl: ttl, max: max, now: now, byHash: map[[32]byte]cacheEntry{}, byID: map[string][32]byte{}, dropped: map[string]time.Time{}, droppedUsers: map[string]time.Time{}}
}

// get returns a copy of the cached session if it was fetched less than ttl
// before now.
func (c *cache) get(h [32]byte, now time.Time) (*Session, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.byHash[h]
	c.mu.RUnlock()
	if !ok || now.Sub(e.fetched) >= c.ttl || now.Before(e.fetched) {
		return nil, false
	}
	s := e.s
	return &s, true
}

// byIDAnyAge returns a copy of the cached session with that public ID,
// however long ago it was fetched: for its fields that never change
// (owner, client), not for deciding whether it is live.
func (c *cache) byIDAnyAge(id string) (*Session, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	h, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	e, ok := c.byHash[h]
	if !ok {
		return nil, false
	}
	s := e.s
	return &s, true
}

// put remembers s, fetched at now (the Manager's clock, as for get),
// unless it was dropped less than ttl before now.
func (c *cache) put(h [32]byte, s *Session, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if at, ok := c.dropped[s.ID]; ok && now.Sub(at) < c.ttl {
		return
	}
	if at, ok := c.droppedUsers[s.UserID]; ok && now.Sub(at) < c.ttl {
		return
	}
	if len(c.byHash) >= c.max {
		// Entries live a second; dropping them all is cheaper than
		// bookkeeping an LRU, and costs at most one read per session.
		clear(c.byHash)
		clear(c.byID)
	}
	c.byHash[h] = cacheEntry{s: *s, fetched: now}
	c.byID[s.ID] = h
}

// drop forgets the session with that public ID.
func (c *cache) drop(id string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if h, ok := c.byID[id]; ok {
		delete(c.byHash, h)
		delete(c.byID, id)
	}
	c.tombstone(id)
	c.mu.Unlock()
}

// dropUser forgets every session of userID.
func (c *cache) dropUser(userID string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	for h, e := range c.byHash {
		if e.s.UserID == userID {
			delete(c.byHash, h)
			delete(c.byID, e.s.ID)
			c.tombstone(e.s.ID)
		}
	}
	c.droppedUsers[userID] = c.now()
	c.mu.Unlock()
}

// tombstone records a dropped ID and forgets tombstones older than the
// TTL. Callers hold mu.
func (c *cache) tombstone(id string) {
	now := c.now()
	if len(c.dropped) > 1024 {
		for k, at := range c.dropped {
			if now.Sub(at) >= c.ttl {
				delete(c.dropped, k)
			}
		}
		for k, at := range c.droppedUsers {
			if now.Sub(at) >= c.ttl {
				delete(c.droppedUsers, k)
			}
		}
	}
	c.dropped[id] = now
}
