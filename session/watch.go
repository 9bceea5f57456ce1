package session

import (
	"context"
	"time"
)

// WatchConfig tunes WatchRevocations.
type WatchConfig struct {
	// Every is the polling interval; default 250 ms, so a revocation made
	// by any instance reaches this one well within a second.
	Every time.Duration
	// Overlap re-reads this far behind the newest revocation seen, so a
	// revocation stamped by an instance whose clock is a little behind, or
	// committed a little late, is not missed. Default 5 s: instances'
	// clocks must agree within that.
	Overlap time.Duration
	// OnError is told about failed polls (the store is down); polling
	// goes on, and the next successful poll catches up from the cursor.
	OnError func(error)
}

// WatchRevocations follows the store's revocations until ctx ends, so that
// sessions revoked by another instance (or by `authd user disable` in
// another process) are dropped from this instance's look-up cache and
// passed to the OnRevoke hook (the access-token revocation set).
//
// It polls RevokedSessions rather than relying on a notification channel:
// the same code then works on every backend, and catching up after an
// outage is not a special case — the cursor only moves forward on success,
// so nothing revoked while the store was unreachable is missed.
func (m *Manager) WatchRevocations(ctx context.Context, cfg WatchConfig) {
	if cfg.Every <= 0 {
		cfg.Every = 250 * time.Millisecond
	}
	if cfg.Overlap <= 0 {
		cfg.Overlap = 5 * time.Second
	}
	cursor := m.cfg.Now()
	seen := map[string]time.Time{}
	t := time.NewTicker(cfg.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cursor = m.pollRevocations(ctx, cursor, cfg.Overlap, seen, cfg.OnError)
	}
}

// pollRevocations applies revocations at or after cursor-overlap that were
// not seen yet and returns the new cursor.
func (m *Manager) pollRevocations(ctx context.Context, cursor time.Time, overlap time.Duration, seen map[string]time.Time, onErr func(error)) time.Time {
	since := cursor.Add(-overlap)
	rs, err := m.store.RevokedSessions(ctx, since)
	if err != nil {
		if onErr != nil && ctx.Err() == nil {
			onErr(err)
		}
		return cursor
	}
	for _, r := range rs {
		if _, ok := seen[r.ID]; ok {
			continue
		}
		seen[r.ID] = r.RevokedAt
		m.cache.drop(r.ID)
		m.revoked([]string{r.ID}, r.RevokedAt)
		if r.RevokedAt.After(cursor) {
			cursor = r.RevokedAt
		}
	}
	for id, at := range seen {
		if at.Before(since) {
			delete(seen, id)
		}
	}
	return cursor
}
