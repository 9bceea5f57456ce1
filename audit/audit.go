// Package audit is authd's record of security events: who signed in (or
// failed to) as whom, from where, who ended which session, every change
// of a password, an address, a client, a key or a consent — each with its
// time, user, session, client, IP, user agent and actor. Operators read it
// with `authd audit`, users read their own with GET /v1/user/events and on
// /account, and webhooks deliver it (package webhook) as it is written.
//
// Events come from the event bus (event.Event): a Recorder subscribes and
// writes each one to the Store, in the publisher's goroutine, before the
// operation that caused it returns. Producers publish after their change
// succeeded, so a failed change leaves no event. Events learned from
// another instance (event.CauseElsewhere) are not recorded twice.
package audit

import (
	"context"
	"time"
)

// Event is one recorded security event. Its Type is the event.Kind that
// caused it ("signin.succeeded", "session.revoked", …); fields that do
// not apply are empty.
type Event struct {
	ID        string    `json:"id"`
	At        time.Time `json:"at"`
	Type      string    `json:"type"`
	UserID    string    `json:"user_id,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
	ClientID  string    `json:"client_id,omitempty"`
	KeyID     string    `json:"key_id,omitempty"`
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	// Actor: "user", "session:ID", "operator", "app:CLIENT" or "system"
	// (event.Event.Actor).
	Actor string `json:"actor"`
	// Reason details the type: a session's end cause, a failed sign-in's
	// reason, a consent's scopes, a key's algorithm, a client's name.
	Reason string `json:"reason,omitempty"`
	// Email is the address an email event concerns.
	Email string `json:"email,omitempty"`
}

// Filter selects events. Zero fields select everything.
type Filter struct {
	UserID string
	Since  time.Time // events at or after
	Types  []string
	// Before pages back: events strictly older than this one's (At, ID);
	// empty: from the newest.
	Before *Event
	Limit  int // default 100, at most 1000
}

// Store keeps the events. The SQL stores and memstore implement it;
// audittest proves them. Every method honours ctx.
type Store interface {
	// RecordEvent stores e (its ID is unique; a duplicate is
	// authd.ErrConflict).
	RecordEvent(ctx context.Context, e *Event) error
	// Events returns the events f selects, newest first.
	Events(ctx context.Context, f Filter) ([]*Event, error)
	// DeleteEventsBefore removes events older than before (retention) and
	// returns how many.
	DeleteEventsBefore(ctx context.Context, before time.Time) (int64, error)
}

// MaxLimit bounds Filter.Limit.
const MaxLimit = 1000

// Lim returns f's limit within its bounds.
func (f Filter) Lim() int {
	switch {
	case f.Limit <= 0:
		return 100
	case f.Limit > MaxLimit:
		return MaxLimit
	}
	return f.Limit
}
