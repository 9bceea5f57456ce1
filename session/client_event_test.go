package session_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/event"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/session"
)

// readOutage is a real memstore whose reads of sessions (SessionByID,
// ListSessions) fail while down is set: the store is reachable for the
// revocation but the read before it failed (a timeout, a replica down).
type readOutage struct {
	*memstore.Store
	down atomic.Bool
}

var errReadDown = errors.New("read replica down")

func (r *readOutage) SessionByID(ctx context.Context, id string, now time.Time) (*session.Session, error) {
	if r.down.Load() {
		return nil, errReadDown
	}
	return r.Store.SessionByID(ctx, id, now)
}

func (r *readOutage) ListSessions(ctx context.Context, userID string, now time.Time) ([]*session.Session, error) {
	if r.down.Load() {
		return nil, errReadDown
	}
	return r.Store.ListSessions(ctx, userID, now)
}

// recorder is a bus that keeps every event published on it.
func recorder() (*event.Bus, func() []event.Event) {
	var bus event.Bus
	ch := make(chan event.Event, 100)
	bus.Subscribe(func(_ context.Context, e event.Event) { ch <- e })
	return &bus, func() []event.Event {
		var out []event.Event
		for {
			select {
			case e := <-ch:
				e.At = time.Time{}
				out = append(out, e)
			default:
				return out
			}
		}
	}
}

// TestEndNamesClient: End's event names the session's owner and OAuth
// client (back-channel logout tells that app), whether the session is
// cached or read from the store; a session already gone publishes
// nothing, one past its expiry is revoked with neither known; a failed
// read still revokes, with neither known.
func TestEndNamesClient(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		clientID string
		cacheTTL time.Duration
		// before runs between the creation and End.
		before   func(t *testing.T, m *session.Manager, st *readOutage, c *clock, secret, id string)
		want     bool   // an event is published
		wantUser string // its UserID and ClientID
		wantApp  string
	}{
		{name: "from the store", clientID: "c_notes", want: true, wantUser: "u1", wantApp: "c_notes"},
		{name: "authd's own session", clientID: "", want: true, wantUser: "u1", wantApp: ""},
		{name: "from the cache", clientID: "c_notes", cacheTTL: time.Second, want: true, wantUser: "u1", wantApp: "c_notes",
			before: func(t *testing.T, m *session.Manager, st *readOutage, _ *clock, secret, _ string) {
				if _, err := m.Check(ctx, secret); err != nil {
					t.Fatal(err)
				}
				st.down.Store(true) // only the cache can tell now
			}},
		{name: "from a cache entry past its TTL", clientID: "c_notes", cacheTTL: time.Second, want: true, wantUser: "u1", wantApp: "c_notes",
			before: func(t *testing.T, m *session.Manager, st *readOutage, c *clock, secret, _ string) {
				if _, err := m.Check(ctx, secret); err != nil {
					t.Fatal(err)
				}
				c.t = c.t.Add(time.Minute) // owner and client never change
				st.down.Store(true)
			}},
		{name: "read fails", clientID: "c_notes", want: true,
			before: func(_ *testing.T, _ *session.Manager, st *readOutage, _ *clock, _, _ string) { st.down.Store(true) }},
		{name: "past its idle expiry", clientID: "c_notes", want: true,
			before: func(_ *testing.T, _ *session.Manager, _ *readOutage, c *clock, _, _ string) {
				c.t = c.t.Add(8 * 24 * time.Hour) // token sessions idle out after 7 days
			}},
		{name: "already ended", clientID: "c_notes", want: false,
			before: func(t *testing.T, m *session.Manager, _ *readOutage, _ *clock, _, id string) {
				if err := m.End(ctx, id, event.CauseLogout); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: t0}
			st := &readOutage{Store: memstore.New()}
			bus, events := recorder()
			m := session.NewManager(st, session.Config{CacheTTL: tt.cacheTTL, Events: bus, Now: c.Now})
			secret, s, err := m.Create(ctx, "u1", session.KindToken, session.Meta{ClientID: tt.clientID})
			if err != nil {
				t.Fatal(err)
			}
			if tt.before != nil {
				tt.before(t, m, st, c, secret, s.ID)
				events() // not what End publishes
			}
			if err := m.End(ctx, s.ID, event.CauseTokenRevoked); err != nil {
				t.Fatalf("End = %v", err)
			}
			got := events()
			if !tt.want {
				if len(got) != 0 {
					t.Errorf("End published %+v; want nothing", got)
				}
				return
			}
			want := event.Event{Kind: event.SessionRevoked, SessionID: s.ID, UserID: tt.wantUser, ClientID: tt.wantApp, Cause: event.CauseTokenRevoked}
			if len(got) == 1 {
				// The session's description (IP, agent, sign-in time) is
				// TestRevocationEvents' concern.
				got[0].IP, got[0].UserAgent, got[0].SignedInAt = "", "", time.Time{}
			}
			if len(got) != 1 || got[0] != want {
				t.Errorf("End published %+v; want exactly %+v", got, want)
			}
			if _, err := st.Store.SessionByHash(ctx, hashOf(secret), t0); !errors.Is(err, authd.ErrNotFound) {
				t.Errorf("the session is still live after End: %v", err)
			}
		})
	}
}

// TestRevokeUserNamesClients: each event of RevokeUser names its
// session's client, from the listing taken before the revocation; the
// session kept is neither revoked nor announced; a failed listing still
// revokes every session, with no client named.
func TestRevokeUserNamesClients(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		readsDown bool
	}{
		{"listing works", false},
		{"listing fails", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &readOutage{Store: memstore.New()}
			bus, events := recorder()
			m := session.NewManager(st, session.Config{CacheTTL: time.Second, Events: bus})
			apps := []string{"c_notes", "", "c_mail", "c_notes"}
			want := map[string]string{} // session ID → client ID
			for _, app := range apps {
				_, s, err := m.Create(ctx, "u1", session.KindToken, session.Meta{ClientID: app})
				if err != nil {
					t.Fatal(err)
				}
				want[s.ID] = app
			}
			_, kept, _ := m.Create(ctx, "u1", session.KindCookie, session.Meta{})
			_, other, _ := m.Create(ctx, "u2", session.KindToken, session.Meta{ClientID: "c_notes"})
			st.down.Store(tt.readsDown)
			if err := m.RevokeUser(ctx, "u1", kept.ID, event.CausePasswordChanged); err != nil {
				t.Fatalf("RevokeUser = %v", err)
			}
			got := events()
			if len(got) != len(want) {
				t.Fatalf("RevokeUser published %d events (%+v); want %d", len(got), got, len(want))
			}
			for _, e := range got {
				app, ok := want[e.SessionID]
				if !ok {
					t.Errorf("event for session %s, which was not to be revoked", e.SessionID)
					continue
				}
				if tt.readsDown {
					app = ""
				}
				w := event.Event{Kind: event.SessionRevoked, SessionID: e.SessionID, UserID: "u1", ClientID: app, Cause: event.CausePasswordChanged}
				if e != w {
					t.Errorf("event %+v; want %+v", e, w)
				}
				delete(want, e.SessionID)
			}
			st.down.Store(false)
			for _, s := range []*session.Session{kept, other} {
				if _, err := m.ByID(ctx, s.ID); err != nil {
					t.Errorf("session %s (user %s) = %v after RevokeUser; want it live", s.ID, s.UserID, err)
				}
			}
			if ss, err := m.List(ctx, "u1"); err != nil || len(ss) != 1 {
				t.Errorf("u1 has %d live sessions (%v) after RevokeUser; want only the one kept", len(ss), err)
			}
		})
	}
}

// TestRevokeNamesClient: a session ended from the device list names its
// client too.
func TestRevokeNamesClient(t *testing.T) {
	ctx := context.Background()
	bus, events := recorder()
	m := session.NewManager(memstore.New(), session.Config{Events: bus})
	_, s, _ := m.Create(ctx, "u1", session.KindToken, session.Meta{ClientID: "c_notes"})
	if err := m.Revoke(ctx, "u1", s.ID); err != nil {
		t.Fatal(err)
	}
	want := event.Event{Kind: event.SessionRevoked, SessionID: s.ID, UserID: "u1", ClientID: "c_notes", Cause: event.CauseRevokedByUser}
	if got := events(); len(got) != 1 || got[0] != want {
		t.Errorf("Revoke published %+v; want exactly %+v", got, want)
	}
}

func hashOf(secret string) []byte {
	h, _ := session.HashSecret(secret)
	return h[:]
}
