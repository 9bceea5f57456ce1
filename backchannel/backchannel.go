// Package backchannel tells apps that a session they got tokens from has
// ended: OpenID Connect Back-Channel Logout 1.0. A Notifier subscribes to
// the event bus; for every session ended on this instance that was opened
// for an OAuth client registered with a back-channel logout URI, it POSTs
// a logout token (§2.4) to that URI (§2.5) until the app answers 2xx
// (§2.8), retrying with backoff for up to a day.
//
// Whatever ends the session — a logout, a revocation, a password change,
// a replayed refresh token or authorization code, the app's own
// RP-Initiated Logout — the app hears of it: the Notifier reacts to the
// event, not to the endpoint. Sessions ended by another instance are that
// instance's to announce (event.Event.Remote), so an app is told once, not
// once per instance; a session a sign-in abandoned half-way
// (event.CauseAborted) was never handed to the app. A process that has no
// Notifier (an `authd user disable` command) announces nothing: its
// revocations will reach apps through the durable outbox.
//
// # Queue, workers, retries
//
// Handle never blocks the revoker: it queues the delivery, in memory, and
// returns. The queue is bounded (Config.MaxQueue); when it is full the
// oldest delivery is dropped, with a warning. Deliveries are grouped per
// client ("lanes"): each lane is served by its own goroutine, one POST at
// a time, soonest due first, and at most Config.Workers POSTs run at once
// over all clients. An app that is slow or down therefore holds at most
// one of those slots and delays only its own logouts, never another
// app's. A failed attempt (a transport error, a timeout, any status but
// 2xx, a redirect, which is never followed) is retried after 1 s,
// doubling up to 5 min, with jitter, for up to 24 h after the session
// ended; then the Notifier gives up with a warning. Every attempt carries
// a freshly issued logout token (a token lives two minutes,
// token.LogoutTokenTTL).
//
// State lives in memory: a restart loses the deliveries still pending,
// their retries included (Close logs how many). A durable outbox comes
// with webhooks.
package backchannel

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/client"
	"github.com/authd/authd/event"
	"github.com/authd/authd/jwk"
	"github.com/authd/authd/token"
)

// Clients finds a registered client. client.Service implements it.
type Clients interface {
	// Get returns authd.ErrNotFound when there is no such client.
	Get(ctx context.Context, id string) (*client.Client, error)
}

// Tokens signs logout tokens. token.Issuer implements it.
type Tokens interface {
	IssueLogout(token.LogoutClaims) (string, error)
}

// Retry is the retry schedule of a delivery that failed.
type Retry struct {
	// First is the wait after the first failed attempt; it doubles after
	// each further one. Default 1 s.
	First time.Duration
	// Max caps the wait. Default 5 min.
	Max time.Duration
	// GiveUpAfter is how long after the session ended the last attempt
	// is made. Default 24 h.
	GiveUpAfter time.Duration
}

// Config configures a Notifier. Zero fields take the documented defaults;
// Clients and Tokens are required.
type Config struct {
	Clients Clients
	Tokens  Tokens
	// Algs are the algorithms Tokens can sign with (jwks.Ring.Algs), the
	// default first. A logout token is signed like the client's ID tokens:
	// with its id_token_signed_response_alg when listed, else RS256 when
	// listed, else the first. Empty: the client's algorithm, and Tokens
	// decides when the client has none.
	Algs []string
	// HTTP posts the logout tokens. Default: a 5 s timeout. Whatever it
	// is, the Notifier uses a copy that follows no redirect (the token
	// goes to the registered URI and nowhere else: a 3xx is a failed
	// attempt) and keeps no cookies; a zero Timeout becomes 5 s.
	HTTP *http.Client
	// Now is the clock and After its timer (for the retry schedule);
	// defaults time.Now and time.After. Tests inject a fake clock.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// Logger receives a warning for every delivery given up or dropped,
	// and an info line for the first failure of each. Default slog.Default.
	Logger *slog.Logger
	// MaxQueue bounds the deliveries waiting (due or retrying) over all
	// clients; when full, the oldest is dropped. Default 10,000.
	MaxQueue int
	// Workers bounds the POSTs in flight at once, over all clients (each
	// client has at most one). Default 4.
	Workers int
	Retry   Retry
}

// DefaultTimeout bounds one delivery attempt unless Config.HTTP says
// otherwise.
const DefaultTimeout = 5 * time.Second

// clientTTL is how long a client's look-up is reused: its back-channel
// logout URI and ID-token algorithm, or that it does not exist.
const clientTTL = time.Minute

// Notifier delivers logout tokens. Subscribe Handle to the bus, call Run
// for the life of the server and Close on shutdown. Its methods are safe
// for concurrent use.
type Notifier struct {
	cfg  Config
	http *http.Client
	log  *slog.Logger
	sem  chan struct{}

	mu       sync.Mutex
	lanes    map[string]*lane // by client ID
	age      ageHeap          // every queued delivery, oldest first
	pending  map[key]*delivery
	inflight int
	seq      uint64
	clients  map[string]clientEntry

	runCtx  context.Context // non-nil while Run runs
	cancel  context.CancelFunc
	closed  bool
	wg      sync.WaitGroup // lane goroutines
	dropped struct {
		total, unlogged int
		loggedAt        time.Time
	}
}

// key identifies a delivery: one session, one client. A session ended
// twice (it cannot be, but an event may be published twice) is told once.
type key struct{ clientID, sessionID string }

type clientEntry struct {
	found    bool
	uri, alg string
	at       time.Time
}

// New returns a Notifier; it delivers once Run runs.
func New(cfg Config) *Notifier {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 10_000
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Retry.First <= 0 {
		cfg.Retry.First = time.Second
	}
	if cfg.Retry.Max <= 0 {
		cfg.Retry.Max = 5 * time.Minute
	}
	if cfg.Retry.GiveUpAfter <= 0 {
		cfg.Retry.GiveUpAfter = 24 * time.Hour
	}
	hc := &http.Client{}
	if cfg.HTTP != nil {
		*hc = *cfg.HTTP
	}
	if hc.Timeout <= 0 {
		hc.Timeout = DefaultTimeout
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	hc.Jar = nil
	return &Notifier{
		cfg: cfg, http: hc, log: cfg.Logger, sem: make(chan struct{}, cfg.Workers),
		lanes: map[string]*lane{}, pending: map[key]*delivery{}, clients: map[string]clientEntry{},
	}
}

// Handle queues a logout token for e, when e is a session of an OAuth
// client that ended on this instance: an event.SessionRevoked that is not
// Remote, with a ClientID, whose cause is not event.CauseAborted. Whether
// the client has a back-channel logout URI is decided when the token is
// delivered (it needs a store read, which the revoker must not wait for),
// but a client known, from a recent look-up, to have none is not queued.
// Handle never blocks: it is an event.Handler.
func (n *Notifier) Handle(_ context.Context, e event.Event) {
	if e.Kind != event.SessionRevoked || e.Remote() || e.ClientID == "" || e.SessionID == "" || e.Cause == event.CauseAborted {
		return
	}
	now := n.cfg.Now()
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	if c, ok := n.clients[e.ClientID]; ok && n.fresh(c, now) && (!c.found || c.uri == "") {
		n.mu.Unlock()
		return
	}
	k := key{e.ClientID, e.SessionID}
	if _, dup := n.pending[k]; dup {
		n.mu.Unlock()
		return
	}
	n.seq++
	d := &delivery{clientID: e.ClientID, sessionID: e.SessionID, userID: e.UserID, seq: n.seq,
		due: now, deadline: now.Add(n.cfg.Retry.GiveUpAfter), dueIdx: -1, ageIdx: -1}
	n.pending[k] = d
	l := n.laneFor(e.ClientID)
	d.lane = l
	n.queue(d)
	n.trim()
	n.startLane(l)
	select {
	case l.wake <- struct{}{}:
	default:
	}
	n.mu.Unlock()
	n.logDrops(now)
}

// Len returns how many deliveries are pending: queued or in flight.
func (n *Notifier) Len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.pending)
}

// Run delivers until ctx ends or Close is called, then waits for the
// attempts in flight to stop. Deliveries queued before Run start at once.
func (n *Notifier) Run(ctx context.Context) {
	n.mu.Lock()
	if n.closed || n.runCtx != nil {
		n.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n.runCtx, n.cancel = ctx, cancel
	for _, l := range n.lanes {
		n.startLane(l)
	}
	n.mu.Unlock()

	<-ctx.Done()
	n.mu.Lock()
	n.runCtx, n.cancel = nil, nil // no lane starts from now on
	n.mu.Unlock()
	n.wg.Wait()
}

// Close stops taking events, gives the deliveries due now (not those
// waiting to be retried) until ctx ends to be attempted, then stops Run
// and logs how many deliveries were lost: pending retries and, past ctx,
// deliveries never attempted. A second call does nothing.
func (n *Notifier) Close(ctx context.Context) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	n.mu.Unlock()

	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
wait:
	for !n.idle() {
		select {
		case <-ctx.Done():
			break wait
		case <-t.C:
		}
	}
	n.mu.Lock()
	cancel := n.cancel
	n.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	n.wg.Wait()
	n.mu.Lock()
	lost, dropped := len(n.pending), n.dropped.total
	n.mu.Unlock()
	if lost > 0 || dropped > 0 {
		n.log.Warn("back-channel logout: undelivered logout tokens lost at shutdown (the queue is in memory)",
			"pending", lost, "dropped_queue_full", dropped)
	}
}

// idle reports whether nothing is in flight and nothing queued is due
// (or Run is not running, so nothing will be).
func (n *Notifier) idle() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.runCtx == nil {
		return true
	}
	if n.inflight > 0 {
		return false
	}
	now := n.cfg.Now()
	for _, l := range n.lanes {
		if l.q.Len() > 0 && !l.q[0].due.After(now) {
			return false
		}
	}
	return true
}

// laneFor returns the lane of clientID, made if need be. Callers hold mu.
func (n *Notifier) laneFor(clientID string) *lane {
	l, ok := n.lanes[clientID]
	if !ok {
		l = &lane{clientID: clientID, wake: make(chan struct{}, 1)}
		n.lanes[clientID] = l
	}
	return l
}

// startLane starts l's goroutine if Run runs and it has none. Callers
// hold mu.
func (n *Notifier) startLane(l *lane) {
	if l.running || n.runCtx == nil {
		return
	}
	l.running = true
	n.wg.Add(1)
	go n.serve(n.runCtx, l)
}

// trim drops the oldest queued deliveries beyond MaxQueue. Callers hold
// mu.
func (n *Notifier) trim() {
	for n.age.Len() > n.cfg.MaxQueue {
		d := n.age[0]
		n.unqueue(d)
		delete(n.pending, key{d.clientID, d.sessionID})
		if d.lane.q.Len() == 0 && !d.lane.running {
			delete(n.lanes, d.clientID)
		}
		n.dropped.total++
		n.dropped.unlogged++
	}
}

// logDrops warns about deliveries dropped from a full queue, at most once
// a minute.
func (n *Notifier) logDrops(now time.Time) {
	n.mu.Lock()
	k := n.dropped.unlogged
	if k == 0 || now.Sub(n.dropped.loggedAt) < time.Minute && !n.dropped.loggedAt.IsZero() {
		n.mu.Unlock()
		return
	}
	n.dropped.unlogged, n.dropped.loggedAt = 0, now
	n.mu.Unlock()
	n.log.Warn("back-channel logout queue full: dropped the oldest logout tokens undelivered",
		"dropped", k, "max_queue", n.cfg.MaxQueue)
}

// serve is the goroutine of lane l: it attempts l's deliveries one at a
// time as they fall due, until l is empty or ctx ends.
func (n *Notifier) serve(ctx context.Context, l *lane) {
	defer n.wg.Done()
	for {
		n.mu.Lock()
		if ctx.Err() != nil || l.q.Len() == 0 {
			l.running = false
			if l.q.Len() == 0 && n.lanes[l.clientID] == l {
				delete(n.lanes, l.clientID)
			}
			n.mu.Unlock()
			return
		}
		d := l.q[0]
		if wait := d.due.Sub(n.cfg.Now()); wait > 0 {
			n.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-n.cfg.After(wait):
			case <-l.wake:
			}
			continue
		}
		n.unqueue(d)
		n.inflight++
		n.mu.Unlock()

		res := n.attempt(ctx, d)

		n.mu.Lock()
		n.inflight--
		report := n.settle(d, res)
		n.mu.Unlock()
		report()
	}
}

// outcome is how an attempt ended.
type outcome int

const (
	delivered outcome = iota // 2xx
	gone                     // the client no longer exists or has no back-channel logout URI
	failed                   // to be retried
	stopped                  // Run stopped before or during the attempt: not counted
)

type result struct {
	outcome outcome
	err     error // of a failed attempt
	status  int   // the answer's, when there was one
}

// settle files d after an attempt and returns what to log, to be called
// without mu. Callers hold mu.
func (n *Notifier) settle(d *delivery, res result) func() {
	k := key{d.clientID, d.sessionID}
	attrs := []any{"client_id", d.clientID, "session_id", d.sessionID}
	switch res.outcome {
	case delivered:
		delete(n.pending, k)
		return func() {
			n.log.Debug("back-channel logout delivered", append(attrs, "attempts", d.attempts+1, "status", res.status)...)
		}
	case gone:
		delete(n.pending, k)
		return func() {}
	case stopped:
		n.requeue(d)
		return func() {}
	}
	d.attempts++
	now := n.cfg.Now()
	if !now.Before(d.deadline) {
		delete(n.pending, k)
		return func() {
			n.log.Warn("back-channel logout given up: the app never acknowledged the logout token",
				append(attrs, "attempts", d.attempts, "since", n.cfg.Retry.GiveUpAfter, "err", res.err)...)
		}
	}
	wait := backoff(n.cfg.Retry, d.attempts, jitter())
	d.due = now.Add(wait)
	if d.due.After(d.deadline) {
		d.due = d.deadline // one last attempt at the deadline
	}
	n.requeue(d)
	n.trim()
	first, kept := d.attempts == 1, d.ageIdx >= 0 // trim may drop d itself, the oldest
	return func() {
		if !kept {
			n.logDrops(now)
			return
		}
		if first {
			n.log.Info("back-channel logout failed; retrying", append(attrs, "err", res.err, "retry_in", wait)...)
		} else {
			n.log.Debug("back-channel logout failed again", append(attrs, "attempts", d.attempts, "err", res.err, "retry_in", wait)...)
		}
		n.logDrops(now)
	}
}

// requeue puts an attempted delivery back in its client's lane. Callers
// hold mu.
func (n *Notifier) requeue(d *delivery) {
	l := n.laneFor(d.clientID)
	d.lane = l
	n.queue(d)
}

// lookup returns the back-channel logout URI and ID-token algorithm of
// the client id (found false: there is no such client), from a look-up
// less than clientTTL old if there is one.
func (n *Notifier) lookup(ctx context.Context, id string) (clientEntry, error) {
	now := n.cfg.Now()
	n.mu.Lock()
	c, ok := n.clients[id]
	n.mu.Unlock()
	if ok && n.fresh(c, now) {
		return c, nil
	}
	cl, err := n.cfg.Clients.Get(ctx, id)
	switch {
	case errors.Is(err, authd.ErrNotFound):
		c = clientEntry{at: now}
	case err != nil:
		return clientEntry{}, err
	default:
		c = clientEntry{found: true, uri: cl.BackchannelLogoutURI, alg: cl.IDTokenAlg, at: now}
	}
	n.mu.Lock()
	if len(n.clients) >= 1000 {
		for id, e := range n.clients {
			if !n.fresh(e, now) {
				delete(n.clients, id)
			}
		}
	}
	n.clients[id] = c
	n.mu.Unlock()
	return c, nil
}

func (n *Notifier) fresh(c clientEntry, now time.Time) bool {
	return !now.Before(c.at) && now.Sub(c.at) < clientTTL
}

// alg is the algorithm of the client's logout tokens: that of its ID
// tokens (see Config.Algs).
func (n *Notifier) alg(clientAlg string) string {
	algs := n.cfg.Algs
	switch {
	case len(algs) == 0:
		return clientAlg
	case clientAlg != "" && slices.Contains(algs, clientAlg):
		return clientAlg
	case slices.Contains(algs, jwk.RS256):
		return jwk.RS256
	}
	return algs[0]
}
