package session

import (
	"context"

	"github.com/authd/authd/event"
	"time"
)

// WatchConfig tunes WatchRevocations.
type WatchConfig struct {
	// Every is the polling interval; default 250 ms, so a revocation made
	// by any instance reaches this one well within a second.
	Every time.Duration
	// Overlap re-reads this far behind the cursor, so a revocation stamped
	// by an instance whose clock is a little behind, or committed late (a
	// request may take up to its 10 s deadline), is not missed. Default
	// 15 s: instances' clocks must agree within a few seconds.
	Overlap time.Duration
	// Timeout bounds one poll, so a hung connection cannot stop
	// propagation. Default 2 s.
	Timeout time.Duration
	// OnError is told about failed polls (the store is down); polling
	// goes on, and the next successful poll catches up from the cursor.
	OnError func(error)
}

// WatchRevocations follows the store's revocations until ctx ends, so that
// sessions revoked by another instance (or by `authd user disable` in
// another process) are dropped from this instance's look-up cache and
// published to Config.Events with event.CauseElsewhere (the access-token
// revocation set and the feed subscribe).
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
		cfg.Overlap = 15 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
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
		pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		cursor = m.pollRevocations(pctx, cursor, cfg.Overlap, seen, cfg.OnError)
		cancel()
	}
}

// pollRevocations applies revocations at or after cursor-overlap that were
// not seen yet and returns the new cursor.
func (m *Manager) pollRevocations(ctx context.Context, cursor time.Time, overlap time.Duration, seen map[string]time.Time, onErr func(error)) time.Time {
	since := cursor.Add(-overlap)
	now := m.cfg.Now()
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
		if !m.revokedHere(r.ID) { // already announced when it was revoked here
			m.announce(ctx, "", []string{r.ID}, nil, r.RevokedAt, event.CauseElsewhere)
		}
		// The cursor never passes this instance's own clock: one instance
		// whose clock runs ahead must not push every other instance's
		// window past revocations stamped correctly.
		if at := minTime(r.RevokedAt, now); at.After(cursor) {
			cursor = at
		}
	}
	for id, at := range seen {
		if at.Before(since) {
			delete(seen, id)
		}
	}
	return cursor
}
