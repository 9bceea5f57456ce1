package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/jwks"
)

// DefaultMaxStreamsPerClient is the default limit on one client's
// concurrent revocation streams per authd instance. A client is one
// resource-server deployment; each of its processes (one guard.Guard)
// keeps one stream, and after a network fault its old stream may linger
// for a few seconds beside the new one. 32 covers 16 replicas landing on
// one instance, and bounds what one client's credentials can hold open
// (about 1 MiB of this instance's memory at the size measured by
// TestFeedMemoryPerStream) — ASVS 5.0 2.4.1 (anti-automation limits) and
// 13.1.3 (resource limits).
const DefaultMaxStreamsPerClient = 32

// feedRetryAfter is the Retry-After of a refused stream, in seconds: a
// dead stream frees its slot within three heartbeats (its write deadline).
const feedRetryAfter = 10

// Feed fans revocations out to the clients following GET /v1/revocations:
// ended sessions (the session Manager's OnRevoke hook publishes them, for
// revocations made by this instance and, through WatchRevocations, by
// every other one) and withdrawn signing keys (the key ring's OnRevoke).
// Any instance can serve the feed.
type Feed struct {
	// Keep is how long after its revocation an entry matters to verifiers
	// (access-token lifetime + leeway); it is sent as "until".
	Keep time.Duration
	// MaxStreamsPerClient bounds one client's concurrent streams on this
	// instance; one more is refused with 429. Zero means
	// DefaultMaxStreamsPerClient.
	MaxStreamsPerClient int
	// Heartbeat is how often an idle stream gets a comment line, so both
	// ends notice a dead connection quickly, and how often a stream's
	// client is checked again (a deleted client's streams end). Default
	// 2 s.
	Heartbeat time.Duration
	// Keys, if set, lists the revoked signing keys still stored, for the
	// backlog of every stream (jwks.Ring implements it).
	Keys interface{ Revoked() []*jwks.Key }

	mu      sync.Mutex
	subs    map[*follower]struct{}
	clients map[string]*clientStreams
	closed  bool
}

// follower is one open stream. ch is closed when the stream must end.
type follower struct {
	client string
	ch     chan feedItem
}

// feedItem is one Publish: ended sessions, or one withdrawn key.
type feedItem struct {
	sids []string
	kid  string
	at   time.Time
}

type clientStreams struct {
	n       int
	checked time.Time // when the client's credentials were last found valid
}

// NewFeed returns a Feed; keep is the access-token lifetime plus leeway.
func NewFeed(keep time.Duration) *Feed {
	return &Feed{Keep: keep}
}

// followerBuffer is how many Publish calls a stream may fall behind
// before it is cut (it then resumes from its cursor). One call carries
// every session of one revocation, so a user's sign-out-everywhere takes
// one slot. 256 slots of 64 bytes: 16 KiB per stream.
const followerBuffer = 256

// Publish tells every follower that the sessions ids ended at at. It never
// blocks: a follower too slow to keep up is disconnected and catches up
// from its cursor on reconnect.
func (f *Feed) Publish(ids []string, at time.Time) {
	if len(ids) > 0 {
		f.publish(feedItem{sids: slices.Clone(ids), at: at})
	}
}

// PublishKey tells every follower that the signing key kid was revoked.
func (f *Feed) PublishKey(kid string, at time.Time) {
	f.publish(feedItem{kid: kid, at: at})
}

func (f *Feed) publish(it feedItem) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for fl := range f.subs {
		select {
		case fl.ch <- it:
		default:
			delete(f.subs, fl)
			close(fl.ch)
		}
	}
}

func (f *Feed) maxStreams() int {
	if f.MaxStreamsPerClient > 0 {
		return f.MaxStreamsPerClient
	}
	return DefaultMaxStreamsPerClient
}

func (f *Feed) heartbeat() time.Duration {
	if f.Heartbeat > 0 {
		return f.Heartbeat
	}
	return 2 * time.Second
}

var errTooManyStreams = errors.New("too many revocation streams for this client")

// subscribe opens a stream for client, or refuses one past the limit.
func (f *Feed) subscribe(client string, now time.Time) (*follower, error) {
	fl := &follower{client: client, ch: make(chan feedItem, followerBuffer)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs, f.clients = map[*follower]struct{}{}, map[string]*clientStreams{}
	}
	cs := f.clients[client]
	if cs == nil {
		cs = &clientStreams{checked: now} // the client just authenticated
		f.clients[client] = cs
	}
	if cs.n >= f.maxStreams() {
		return nil, errTooManyStreams
	}
	cs.n++
	if f.closed {
		close(fl.ch)
	} else {
		f.subs[fl] = struct{}{}
	}
	return fl, nil
}

// unsubscribe ends fl (if it was not ended already) and frees its slot.
func (f *Feed) unsubscribe(fl *follower) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[fl]; ok {
		delete(f.subs, fl)
		close(fl.ch)
	}
	if cs := f.clients[fl.client]; cs != nil {
		if cs.n--; cs.n <= 0 {
			delete(f.clients, fl.client)
		}
	}
}

// recheckDue reports whether the client's credentials should be checked
// again now, and if so claims the check: however many streams a client
// has, its credentials are read at most twice per heartbeat (half a
// heartbeat apart, so ticker jitter never skips one: the first heartbeat
// of any stream after a deletion notices it).
func (f *Feed) recheckDue(client string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	cs := f.clients[client]
	if cs == nil || now.Sub(cs.checked) < f.heartbeat()/2 {
		return false
	}
	cs.checked = now
	return true
}

// recheckFailed lets the next heartbeat of any stream try again.
func (f *Feed) recheckFailed(client string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cs := f.clients[client]; cs != nil {
		cs.checked = time.Time{}
	}
}

// dropClient ends every stream of client (it was deleted).
func (f *Feed) dropClient(client string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for fl := range f.subs {
		if fl.client == client {
			delete(f.subs, fl)
			close(fl.ch)
		}
	}
}

// Close ends every stream (at shutdown: followers reconnect elsewhere and
// resume from their cursor) and refuses new ones.
func (f *Feed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for fl := range f.subs {
		delete(f.subs, fl)
		close(fl.ch)
	}
}

// FeedEvent is one revoked session on the wire (the data of a "revoked"
// event).
type FeedEvent struct {
	SessionID string `json:"sid"`
	RevokedAt int64  `json:"revoked_at"` // Unix microseconds; also the event id (the cursor)
	Until     int64  `json:"until"`      // Unix seconds: refuse the session's tokens until then
}

// KeyEvent is one withdrawn signing key on the wire (the data of a
// "key-revoked" event, which has no id: it does not move the cursor, and
// every stream's backlog repeats the revoked keys still stored).
type KeyEvent struct {
	KID       string `json:"kid"`
	RevokedAt int64  `json:"revoked_at"` // Unix microseconds
}

// handleRevocations streams revoked sessions and signing keys as
// Server-Sent Events to a confidential client (HTTP Basic). It resumes
// from Last-Event-ID (or ?since=, Unix microseconds): the backlog is read
// from the store, so a follower that was disconnected misses nothing;
// without a cursor it starts with every revocation whose access tokens may
// still be unexpired. Each client may hold MaxStreamsPerClient streams on
// this instance; its streams end within a heartbeat (2 s) once its
// credentials no longer authenticate (`authd client delete`, from any
// process).
func (s *Server) handleRevocations(w http.ResponseWriter, r *http.Request) {
	feed := s.cfg.Feed
	if s.cfg.Tokens == nil || feed == nil {
		writeProblem(w, problem{Type: problemType("not-found"), Status: http.StatusNotFound})
		return
	}
	clientID, ok := s.requireClient(w, r)
	if !ok {
		return
	}
	_, secret, _ := basicClient(r) // to check the client again while the stream lasts
	now := s.cfg.Now()
	since := now.Add(-feed.Keep)
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

	// Subscribe before the backlog read: nothing falls between.
	live, err := feed.subscribe(clientID, time.Now())
	if err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(feedRetryAfter))
		writeProblem(w, problem{Type: problemType("too-many-streams"), Title: "Too many streams", Status: http.StatusTooManyRequests,
			Detail: fmt.Sprintf("This client already has %d revocation streams open on this instance, the limit; one is enough per process.", feed.maxStreams())})
		return
	}
	defer feed.unsubscribe(live)
	backlog, err := s.cfg.Sessions.RevokedSince(r.Context(), since)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var keys []*jwks.Key
	if feed.Keys != nil {
		keys = feed.Keys.Revoked()
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 1000\n\n")

	// The backlog and the events published while it was read may overlap:
	// remember what the backlog sent until those queued events are out,
	// then forget it, so a stream's memory does not grow with the backlog
	// for its whole life. (Later repeats are possible and harmless.)
	sent := map[string]bool{}
	heartbeat := feed.heartbeat()
	deadline := func() { _ = rc.SetWriteDeadline(time.Now().Add(3 * heartbeat)) }
	send := func(it feedItem) error {
		// A follower that stops reading must not hold the handler forever.
		deadline()
		if it.kid != "" {
			if sent["k "+it.kid] {
				return nil
			}
			if sent != nil {
				sent["k "+it.kid] = true
			}
			b, _ := json.Marshal(KeyEvent{KID: it.kid, RevokedAt: it.at.UnixMicro()})
			_, err := fmt.Fprintf(w, "event: key-revoked\ndata: %s\n\n", b)
			return err
		}
		for _, id := range it.sids {
			if sent[id] {
				continue
			}
			if sent != nil {
				sent[id] = true
			}
			b, _ := json.Marshal(FeedEvent{SessionID: id, RevokedAt: it.at.UnixMicro(), Until: it.at.Add(feed.Keep).Unix()})
			if _, err := fmt.Fprintf(w, "id: %d\nevent: revoked\ndata: %s\n\n", it.at.UnixMicro(), b); err != nil {
				return err
			}
		}
		return nil
	}
	// Withdrawn keys first: they end every token they signed.
	for _, k := range keys {
		if send(feedItem{kid: k.KID, at: k.RevokedAt}) != nil {
			return
		}
	}
	for _, rv := range backlog {
		if send(feedItem{sids: []string{rv.ID}, at: rv.RevokedAt}) != nil {
			return
		}
	}
	for n := len(live.ch); n > 0; n-- {
		it, ok := <-live.ch
		if !ok || send(it) != nil {
			return
		}
	}
	sent = nil
	fmt.Fprintf(w, "event: ready\ndata: {}\n\n") // the backlog is complete
	if rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case it, ok := <-live.ch:
			if !ok {
				return // too slow, the client was deleted, or shutdown: the follower reconnects
			}
			if send(it) != nil || rc.Flush() != nil {
				return
			}
		case <-tick.C:
			if !s.feedClientValid(r.Context(), clientID, secret) {
				return
			}
			deadline()
			if _, err := fmt.Fprintf(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// feedClientValid checks a streaming client's credentials again when it
// is due (about once per heartbeat per client). A client whose
// credentials no longer authenticate (deleted) gets all its streams
// ended. A store error keeps the stream: the client has not been shown
// invalid, and cutting every follower on a store blip would make every
// resource server fail closed; the next heartbeat tries again.
func (s *Server) feedClientValid(stream context.Context, clientID, secret string) bool {
	feed := s.cfg.Feed
	if !feed.recheckDue(clientID, time.Now()) {
		return true
	}
	ctx, cancel := context.WithTimeout(stream, feed.heartbeat())
	defer cancel()
	_, err := s.cfg.Tokens.Clients.Authenticate(ctx, clientID, secret)
	switch {
	case err == nil:
		return true
	case errors.Is(err, authd.ErrUnauthenticated):
		s.log.Info("revocation feed: client no longer authenticates; closing its streams", "client_id", clientID)
		feed.dropClient(clientID)
		return false
	default:
		if stream.Err() == nil {
			s.log.Warn("revocation feed: cannot check the client again", "client_id", clientID, "err", err)
		}
		feed.recheckFailed(clientID)
		return true
	}
}
