package guard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
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

// feedEvent mirrors authd's FeedEvent.
type feedEvent struct {
	SessionID string `json:"sid"`
	RevokedAt int64  `json:"revoked_at"`
	Until     int64  `json:"until"`
}

// keyEvent mirrors authd's KeyEvent: a signing key withdrawn at once.
type keyEvent struct {
	KID       string `json:"kid"`
	RevokedAt int64  `json:"revoked_at"`
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
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 4096), 64<<10)
	// This connection vouches for the revocation set only once it has
	// delivered its backlog ("ready"): until then a reconnect does not
	// refresh lastContact, so a stream cut mid-backlog cannot make the
	// guard trust a set that misses revocations.
	ready := false
	var id, event, data string
	for sc.Scan() {
		line := sc.Text()
		if ready {
			g.lastContact.Store(g.cfg.Now().UnixNano())
		}
		select {
		case alive <- struct{}{}:
		default:
		}
		switch {
		case line == "":
			if g.dispatch(event, id, data, cursor) {
				ready = true
				g.lastContact.Store(g.cfg.Now().UnixNano())
				g.feedReady.Store(true)
			}
			id, event, data = "", "", ""
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(line[6:])
		case strings.HasPrefix(line, "data:"):
			data = strings.TrimSpace(line[5:])
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return fmt.Errorf("feed closed")
}

// dispatch applies one event; it reports whether it was "ready" (the
// backlog is complete).
func (g *Guard) dispatch(event, id, data string, cursor *string) bool {
	switch event {
	case "ready":
		return true
	case "revoked":
		var e feedEvent
		if err := json.Unmarshal([]byte(data), &e); err != nil || e.SessionID == "" {
			g.log.Warn("guard: malformed feed event", "err", err)
			return false
		}
		g.revoked.Add(e.SessionID, time.Unix(e.Until, 0))
		g.dropCookies(e.SessionID)
		if id != "" {
			*cursor = id
		}
	case "key-revoked":
		// authd withdrew a signing key: its tokens are refused from now
		// on, cached ones included (the verifier asks the key set on
		// every hit). Such events carry no id: they do not move the
		// cursor, and every connection's backlog repeats them.
		var e keyEvent
		if err := json.Unmarshal([]byte(data), &e); err != nil || e.KID == "" {
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
