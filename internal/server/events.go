package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/audit"
)

// EventLister reads the audit trail (audit.Store implements it).
type EventLister interface {
	Events(ctx context.Context, f audit.Filter) ([]*audit.Event, error)
}

// userEvent is one event of the caller's own security activity.
type userEvent struct {
	Type      string    `json:"type"`
	At        time.Time `json:"at"`
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
	ClientID  string    `json:"client_id,omitempty"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason,omitempty"`
	Email     string    `json:"email,omitempty"`
}

// maxUserEvents bounds GET /v1/user/events.
const maxUserEvents = 100

// handleUserEvents lists the caller's own recent security events, newest
// first: GET /v1/user/events?limit=N (1..100, default 50).
func (s *Server) handleUserEvents(w http.ResponseWriter, r *http.Request, c *caller) {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxUserEvents {
			s.writeError(w, r, authd.Invalid("limit", "invalid", "limit must be a whole number from 1 to 100"))
			return
		}
		limit = n
	}
	evs, err := s.userEvents(r.Context(), c.UserID, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"events": evs})
}

func (s *Server) userEvents(ctx context.Context, userID string, limit int) ([]userEvent, error) {
	out := []userEvent{}
	if s.cfg.Audit == nil {
		return out, nil
	}
	evs, err := s.cfg.Audit.Events(ctx, audit.Filter{UserID: userID, Limit: limit})
	if err != nil {
		return nil, err
	}
	for _, e := range evs {
		out = append(out, userEvent{Type: e.Type, At: e.At, IP: e.IP, UserAgent: e.UserAgent, SessionID: e.SessionID,
			ClientID: e.ClientID, Actor: e.Actor, Reason: e.Reason, Email: e.Email})
	}
	return out, nil
}

// activityLabels name the event types on the account page.
var activityLabels = map[string]string{
	"signin.succeeded":       "Signed in",
	"signin.failed":          "Failed sign-in attempt",
	"signout":                "Signed out",
	"session.revoked":        "A session was ended",
	"refresh.replayed":       "A stolen token was detected; its session was ended",
	"password.changed":       "Password changed",
	"password.reset":         "Password reset by email",
	"email.change_requested": "Address change requested",
	"email.changed":          "Address changed",
	"email.verified":         "Address verified",
	"email.change_undone":    "Address change undone",
	"user.created":           "Account created",
	"user.disabled":          "Account disabled",
	"user.enabled":           "Account enabled",
	"consent.given":          "App allowed",
	"consent.withdrawn":      "App's access withdrawn",
	"factor.added":           "Two-step sign-in changed: added",
	"factor.removed":         "Two-step sign-in changed: removed",
}

type activityView struct {
	What, Where, Device, AtS string
	At                       time.Time
}
