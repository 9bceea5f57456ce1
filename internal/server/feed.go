package server

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/authd/authd/event"
	"github.com/authd/authd/jwk"
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
	Keys interface{ Revoked() []*jwk.Key }
	// ObserveLag, if set, is told for every revocation written live to a
	// stream how long after the revocation it went out (for metrics).
	// Set it before the feed serves; it must be quick.
	ObserveLag func(time.Duration)

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

// Followers is the number of streams following the feed now.
func (f *Feed) Followers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
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

// Handle is the feed's subscription to the event bus: revoked sessions
// and withdrawn signing keys go out to every follower.
func (f *Feed) Handle(_ context.Context, e event.Event) {
	switch e.Kind {
	case event.SessionRevoked:
		f.Publish([]string{e.SessionID}, e.At)
	case event.KeyRevoked:
		f.PublishKey(e.KeyID, e.At)
	}
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
