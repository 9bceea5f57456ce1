package guard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/authd/authd/wire"
)

// follow keeps a connection to authd's revocation feed until ctx ends,
// reconnecting after any failure from the last event ID it saw, so
// nothing revoked while disconnected is missed.
func (g *Guard) follow(ctx context.Context) {
	cursor := ""
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := g.stream(ctx, &cursor)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		wait := backoff
		// authd says when to come back (429: too many streams for this
		// client; 503): honour it, within reason.
		var ra retryAfter
		if errors.As(err, &ra) {
			wait = max(wait, min(time.Duration(ra), 30*time.Second))
		}
		g.log.Warn("guard: revocation feed disconnected; reconnecting", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// retryAfter is a refused connection's Retry-After.
type retryAfter time.Duration

func (r retryAfter) Error() string { return "retry after " + time.Duration(r).String() }

func (g *Guard) stream(ctx context.Context, cursor *string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.feedURL, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(g.cfg.ClientID, g.cfg.ClientSecret)
	req.Header.Set("Accept", "text/event-stream")
	if *cursor != "" {
		req.Header.Set("Last-Event-ID", *cursor)
	}
	// The stream is long-lived: no client timeout, liveness comes from
	// the heartbeats.
	client := *g.cfg.HTTPClient
	client.Timeout = 0
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("feed answered %s", resp.Status)
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
			err = fmt.Errorf("%w (%w)", err, retryAfter(time.Duration(s)*time.Second))
		}
		return err
	}
	// A watchdog closes a stream that went silent, so a half-open TCP
	// connection cannot keep the guard believing it is up to date.
	alive := make(chan struct{}, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTimer(g.cfg.FeedStaleAfter)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-alive:
				t.Reset(g.cfg.FeedStaleAfter)
			case <-t.C:
				resp.Body.Close()
				return
			}
		}
	}()
	rd := wire.NewReader(resp.Body)
	// This connection vouches for the revocation set only once it has
	// delivered its backlog ("ready"): until then a reconnect does not
	// refresh lastContact, so a stream cut mid-backlog cannot make the
	// guard trust a set that misses revocations.
	ready := false
	for {
		m, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if ready {
			g.lastContact.Store(g.cfg.Now().UnixNano())
		}
		select {
		case alive <- struct{}{}:
		default:
		}
		if g.dispatch(m, cursor) {
			ready = true
			g.lastContact.Store(g.cfg.Now().UnixNano())
			g.feedReady.Store(true)
		}
	}
	return fmt.Errorf("feed closed")
}

// dispatch applies one event; it reports whether it was "ready" (the
// backlog is complete).
func (g *Guard) dispatch(m wire.Message, cursor *string) bool {
	switch m.Event {
	case wire.EventReady:
		return true
	case wire.EventRevoked:
		var e wire.SessionRevoked
		if err := wire.Decode(m, &e); err != nil {
			g.log.Warn("guard: malformed feed event", "err", err)
			return false
		}
		g.revoked.Add(e.SessionID, time.Unix(e.Until, 0))
		g.dropCookies(e.SessionID)
		if m.ID != "" {
			*cursor = m.ID
		}
	case wire.EventKeyRevoked:
		// authd withdrew a signing key: its tokens are refused from now
		// on, cached ones included (the verifier asks the key set on
		// every hit). Such events carry no id: they do not move the
		// cursor, and every connection's backlog repeats them.
		var e wire.KeyRevoked
		if err := wire.Decode(m, &e); err != nil {
			g.log.Warn("guard: malformed feed event", "err", err)
			return false
		}
		g.keys.revoke(e.KID)
		g.log.Warn("guard: authd revoked a signing key; its tokens are refused", "kid", e.KID)
	}
	return false
}

// dropCookies forgets cached cookie checks of a revoked session.
func (g *Guard) dropCookies(sessionID string) {
	g.cookieMu.Lock()
	for k, e := range g.cookieCache {
		if e.id.SessionID == sessionID {
			delete(g.cookieCache, k)
		}
	}
	g.cookieMu.Unlock()
}
