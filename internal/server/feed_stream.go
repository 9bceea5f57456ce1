package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/jwk"
	"github.com/authd/authd/wire"
)

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
	var keys []*jwk.Key
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
			return wire.Write(w, wire.KeyRevokedMessage(wire.KeyRevoked{KID: it.kid, RevokedAt: it.at.UnixMicro()}))
		}
		for _, id := range it.sids {
			if sent[id] {
				continue
			}
			if sent != nil {
				sent[id] = true
			}
			ev := wire.SessionRevoked{SessionID: id, RevokedAt: it.at.UnixMicro(), Until: it.at.Add(feed.Keep).Unix()}
			if err := wire.Write(w, wire.Revoked(ev)); err != nil {
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
	wire.Write(w, wire.Ready) // the backlog is complete
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
			if feed.ObserveLag != nil {
				feed.ObserveLag(time.Since(it.at))
			}
		case <-tick.C:
			if !s.feedClientValid(r.Context(), clientID, secret) {
				return
			}
			deadline()
			if err := wire.WriteHeartbeat(w); err != nil || rc.Flush() != nil {
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
