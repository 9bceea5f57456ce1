package audit

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/authd/authd/event"
)

// Recorder turns published events into records.
type Recorder struct {
	Store  Store
	Logger *slog.Logger
	Now    func() time.Time
}

// Handle records e; it is an event.Handler. A store failure is logged:
// the operation already happened and its own answer stands.
func (r *Recorder) Handle(ctx context.Context, e event.Event) {
	rec, ok := FromEvent(ctx, e)
	if !ok {
		return
	}
	if rec.At.IsZero() {
		rec.At = r.now()
	}
	rec.ID = NewID(rec.At)
	if err := r.Store.RecordEvent(ctx, rec); err != nil {
		r.log().ErrorContext(ctx, "audit event not recorded", "type", rec.Type, "user_id", rec.UserID, "err", err)
	}
}

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Recorder) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// FromEvent maps a published event to its record; ok is false for events
// that are not recorded here (learned from another instance; the feed's
// key announcements).
func FromEvent(ctx context.Context, e event.Event) (*Event, bool) {
	if e.Remote() || e.Kind == event.KeyRevoked {
		return nil, false
	}
	req := event.RequestFrom(ctx)
	rec := &Event{
		At: e.At.UTC(), Type: string(e.Kind), UserID: e.UserID, SessionID: e.SessionID, ClientID: e.ClientID,
		KeyID: e.KeyID, IP: req.IP, UserAgent: req.UserAgent, Actor: Actor(ctx, e), Reason: e.Reason, Email: e.Email,
	}
	if e.Kind == event.SessionRevoked {
		rec.Reason = string(e.Cause)
		switch e.Cause {
		case event.CauseRefreshReused:
			// The record says what ended, and where the session had
			// signed in from; the replay's own IP is the request's.
			rec.Type = "refresh.replayed"
		case event.CauseLogout:
			rec.Type = "signout"
		}
	}
	rec.UserAgent = clip(rec.UserAgent, 512)
	return rec, true
}

// Actor says who caused e: the event's own, the context's (an admin
// command), or what its kind and cause imply.
func Actor(ctx context.Context, e event.Event) string {
	if e.Actor != "" {
		return e.Actor
	}
	if a := event.ActorFrom(ctx); a != "" {
		return a
	}
	caller := event.RequestFrom(ctx).SessionID
	if e.Kind == event.SessionRevoked {
		switch e.Cause {
		case event.CauseRefreshReused, event.CauseCodeReused, event.CauseAborted, event.CauseReplaced:
			return "system"
		case event.CauseEndSession, event.CauseTokenRevoked:
			if e.ClientID != "" {
				return "app:" + e.ClientID
			}
		case event.CauseUserDisabled, event.CauseUserDeleted:
			return "operator"
		}
		if caller != "" && caller != e.SessionID {
			return "session:" + caller
		}
		return "user"
	}
	switch e.Kind {
	case event.SignInFailed:
		return "unknown" // whoever typed the password
	case event.ClientAdded, event.ClientDeleted, event.KeyRotated, event.KeyRevokedByOperator,
		event.UserDisabled, event.UserEnabled, event.UserDeleted:
		return "operator"
	}
	if caller != "" && e.SessionID != "" && caller != e.SessionID {
		return "session:" + caller
	}
	return "user"
}

// seq orders the IDs this process makes within one microsecond.
var seq atomic.Uint64

// NewID returns an event ID that sorts by time, then by the order this
// process recorded events in: the Store's newest-first order (At, then
// ID) keeps events of the same microsecond in the order they happened.
// The random tail keeps IDs of different instances apart.
func NewID(at time.Time) string {
	return fmt.Sprintf("%013x%010x", at.UnixMicro(), seq.Add(1)&0xffffffffff) + rand.Text()[:10]
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
