package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/session"
)

// TestActivityExtendsShortIdleTimeouts: whatever the idle timeout, even at
// or below the default one-minute touch interval, a session used more
// often than its idle timeout stays alive until its lifetime, and ends one
// idle timeout after its last use, never sooner.
func TestActivityExtendsShortIdleTimeouts(t *testing.T) {
	tests := []struct {
		idle, touch time.Duration // touch: Config.TouchInterval, 0 for the default
	}{
		{idle: 10 * time.Second},
		{idle: 30 * time.Second},
		{idle: time.Minute},
		{idle: 90 * time.Second},
		{idle: 30 * time.Minute},
		{idle: 30 * time.Second, touch: 10 * time.Minute}, // an explicit interval is capped too
	}
	for _, tt := range tests {
		for _, kind := range []session.Kind{session.KindCookie, session.KindToken} {
			t.Run(tt.idle.String()+"/"+string(kind), func(t *testing.T) {
				ctx := context.Background()
				c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
				pol := session.Policy{IdleTimeout: tt.idle, Lifetime: 24 * time.Hour}
				m := session.NewManager(memstore.New(), session.Config{Cookie: pol, Token: pol, TouchInterval: tt.touch, Now: c.Now})
				secret, s, err := m.Create(ctx, "u", kind, session.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				// Used every 60 % of the idle timeout, for 20 idle timeouts.
				step := tt.idle * 6 / 10
				use := func() error {
					if kind == session.KindCookie {
						_, err := m.Check(ctx, secret)
						return err
					}
					cur, err := m.ByID(ctx, s.ID) // a refresh: look up, then record the use
					if err != nil {
						return err
					}
					return m.Seen(ctx, cur)
				}
				for i := 1; time.Duration(i)*step <= 20*tt.idle; i++ {
					c.t = c.t.Add(step)
					if err := use(); err != nil {
						t.Fatalf("use at %v (every %v, idle timeout %v) = %v, want the session alive", time.Duration(i)*step, step, tt.idle, err)
					}
				}
				// Idle from here on: alive until one idle timeout after the
				// last use, minus at most the touch interval (docs/security.md).
				c.t = c.t.Add(tt.idle * 7 / 10)
				if err := use(); err != nil {
					t.Fatalf("use %v after the last = %v, want the session alive", tt.idle*7/10, err)
				}
				c.t = c.t.Add(tt.idle)
				if err := use(); !errors.Is(err, authd.ErrUnauthenticated) && !errors.Is(err, authd.ErrNotFound) {
					t.Errorf("use one idle timeout after the last = %v, want the session ended", err)
				}
			})
		}
	}
}

// TestTouchIsRare: a check writes "last seen" at most once a minute, and
// at most every quarter of the idle timeout when that is shorter.
func TestTouchIsRare(t *testing.T) {
	tests := []struct {
		idle, every time.Duration // every: the touch interval expected
	}{
		{30 * time.Minute, time.Minute},
		{4 * time.Minute, time.Minute},
		{time.Minute, 15 * time.Second},
		{20 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.idle.String(), func(t *testing.T) {
			ctx := context.Background()
			c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
			st := memstore.New()
			m := session.NewManager(st, session.Config{Cookie: session.Policy{IdleTimeout: tt.idle, Lifetime: time.Hour}, Now: c.Now})
			secret, s, err := m.Create(ctx, "u", session.KindCookie, session.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			created := s.LastSeenAt
			lastSeen := func() time.Time {
				got, err := st.SessionByID(ctx, s.ID, c.t)
				if err != nil {
					t.Fatal(err)
				}
				return got.LastSeenAt
			}
			c.t = c.t.Add(tt.every - time.Millisecond)
			if _, err := m.Check(ctx, secret); err != nil {
				t.Fatal(err)
			}
			if got := lastSeen(); !got.Equal(created) {
				t.Errorf("check %v after login wrote last seen (%v), want no write before %v", tt.every-time.Millisecond, got.Sub(created), tt.every)
			}
			c.t = c.t.Add(time.Millisecond)
			if _, err := m.Check(ctx, secret); err != nil {
				t.Fatal(err)
			}
			if got := lastSeen(); !got.Equal(c.t) {
				t.Errorf("check %v after login: last seen %v after login, want %v", tt.every, got.Sub(created), tt.every)
			}
		})
	}
}
