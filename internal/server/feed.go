package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/authd/authd/session"
)

// Feed fans revocations out to the clients following GET /v1/revocations.
// The session Manager's OnRevoke hook publishes into it, for revocations
// made by this instance and, through WatchRevocations, by every other one,
// so any instance can serve the feed.
type Feed struct {
	mu     sync.Mutex
	subs   map[chan session.Revocation]struct{}
	closed bool
	// Keep is how long after its revocation an entry matters to verifiers
	// (access-token lifetime + leeway); it is sent as "until".
	Keep time.Duration
}

// NewFeed returns a Feed; keep is the access-token lifetime plus leeway.
func NewFeed(keep time.Duration) *Feed {
	return &Feed{subs: map[chan session.Revocation]struct{}{}, Keep: keep}
}

// Publish tells every follower. It never blocks: a follower too slow to
// keep up is disconnected and catches up from its cursor on reconnect.
func (f *Feed) Publish(ids []string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
next:
	for ch := range f.subs {
		for _, id := range ids {
			select {
			case ch <- session.Revocation{ID: id, RevokedAt: at}:
			default:
				delete(f.subs, ch)
				close(ch)
				continue next // never send on what was just closed
			}
		}
	}
}

func (f *Feed) subscribe() chan session.Revocation {
	ch := make(chan session.Revocation, 1024)
	f.mu.Lock()
	if f.closed {
		close(ch)
	} else {
		f.subs[ch] = struct{}{}
	}
	f.mu.Unlock()
	return ch
}

// Close ends every stream (at shutdown: followers reconnect elsewhere and
// resume from their cursor) and refuses new ones.
func (f *Feed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for ch := range f.subs {
		delete(f.subs, ch)
		close(ch)
	}
}

func (f *Feed) unsubscribe(ch chan session.Revocation) {
	f.mu.Lock()
	if _, ok := f.subs[ch]; ok {
		delete(f.subs, ch)
		close(ch)
	}
	f.mu.Unlock()
}

// FeedEvent is one revocation on the wire (the SSE data field).
type FeedEvent struct {
	SessionID string `json:"sid"`
	RevokedAt int64  `json:"revoked_at"` // Unix microseconds; also the event id (the cursor)
	Until     int64  `json:"until"`      // Unix seconds: refuse the session's tokens until then
}

// feedHeartbeat is how often an idle stream gets a comment line, so both
// ends notice a dead connection quickly.
const feedHeartbeat = 2 * time.Second

// handleRevocations streams revoked sessions as Server-Sent Events to a
// confidential client (HTTP Basic). It resumes from Last-Event-ID (or
// ?since=, Unix microseconds): the backlog is read from the store, so a
// follower that was disconnected misses nothing; without a cursor it starts
// with every revocation whose access tokens may still be unexpired.
func (s *Server) handleRevocations(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Tokens == nil || s.cfg.Feed == nil {
		writeProblem(w, problem{Type: problemType("not-found"), Status: http.StatusNotFound})
		return
	}
	if _, ok := s.requireClient(w, r); !ok {
		return
	}
	now := s.cfg.Now()
	since := now.Add(-s.cfg.Feed.Keep)
	cursor := r.Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = r.URL.Query().Get("since")
	}
	if cursor != "" {
		us, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || us < 0 {
			writeProblem(w, problem{Type: problemType("invalid-input"), Title: "Invalid input", Status: http.StatusBadRequest,
				Detail: "The cursor (Last-Event-ID or since) must be Unix microseconds."})
			return
		}
		// Re-send a little before the cursor: revocations stamped by an
		// instance whose clock lags are not lost. Followers ignore repeats.
		since = time.UnixMicro(us).Add(-5 * time.Second)
	}

	live := s.cfg.Feed.subscribe() // before the backlog read: nothing falls between
	defer s.cfg.Feed.unsubscribe(live)
	backlog, err := s.cfg.Sessions.RevokedSince(r.Context(), since)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 1000\n\n")

	// The backlog and the first live events may overlap: remember what the
	// backlog sent (only that: the live stream itself has no repeats, so
	// the map does not grow for the life of the stream).
	sent := map[string]bool{}
	backlogDone := false
	send := func(rv session.Revocation) error {
		if sent[rv.ID] {
			return nil
		}
		if !backlogDone {
			sent[rv.ID] = true
		}
		// A follower that stops reading must not hold the handler forever.
		_ = rc.SetWriteDeadline(time.Now().Add(3 * feedHeartbeat))
		b, _ := json.Marshal(FeedEvent{SessionID: rv.ID, RevokedAt: rv.RevokedAt.UnixMicro(), Until: rv.RevokedAt.Add(s.cfg.Feed.Keep).Unix()})
		_, err := fmt.Fprintf(w, "id: %d\nevent: revoked\ndata: %s\n\n", rv.RevokedAt.UnixMicro(), b)
		return err
	}
	for _, rv := range backlog {
		if err := send(rv); err != nil {
			return
		}
	}
	backlogDone = true
	fmt.Fprintf(w, "event: ready\ndata: {}\n\n") // the backlog is complete
	if rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(feedHeartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case rv, ok := <-live:
			if !ok {
				return // too slow: the follower reconnects from its cursor
			}
			if send(rv) != nil || rc.Flush() != nil {
				return
			}
		case <-tick.C:
			_ = rc.SetWriteDeadline(time.Now().Add(3 * feedHeartbeat))
			if _, err := fmt.Fprintf(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}
