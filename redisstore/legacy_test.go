package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/redisstore"
	"github.com/authd/authd/redisstore/redistest"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/refresh/refreshtest"
	"github.com/authd/authd/session"
	"github.com/authd/authd/session/sessiontest"
	"github.com/google/go-cmp/cmp"
)

// TestLegacyRefreshTokens: tokens stored one key each by earlier versions
// keep working. A redemption moves the token into its session's chain
// (and deletes the old key), with the same outcomes as a token stored the
// new way, under concurrency too; the sweep deletes expired old ones.
func TestLegacyRefreshTokens(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		st := redistest.NewStore(t, url, redisstore.Options{})
		ctx := context.Background()
		legacy := func(rt *refresh.Refresh) *refresh.Refresh {
			t.Helper()
			if err := redisstore.WriteLegacyRefresh(ctx, st, rt); err != nil {
				t.Fatal(err)
			}
			return rt
		}
		// A chain mid-way: generation 0 used, 1 live.
		g0 := refreshtest.New("session-1", 0, t0)
		g0.UsedAt = t0.Add(time.Minute)
		legacy(g0)
		g1 := legacy(refreshtest.New("session-1", 1, t0.Add(time.Minute)))
		if got, err := st.RefreshByHash(ctx, "session-1", g1.Hash); err != nil || got.Generation != 1 || !got.UsedAt.IsZero() {
			t.Fatalf("RefreshByHash(old key) = %+v, %v; want the unused generation 1", got, err)
		}
		if _, err := st.RefreshByHash(ctx, "session-2", g1.Hash); !errors.Is(err, authd.ErrNotFound) {
			t.Errorf("RefreshByHash(old key, another session) = %v, want ErrNotFound", err)
		}
		res, err := st.RotateRefresh(ctx, refreshtest.Redeem(g1, t0.Add(time.Hour), 0))
		if err != nil || res.Outcome != refresh.Rotated || res.Child.Generation != 2 {
			t.Fatalf("RotateRefresh(old key) = %+v, %v; want rotated to generation 2", res, err)
		}
		if key, idx, err := redisstore.LegacyRefreshExists(ctx, st, g1.Hash); err != nil || key || idx {
			t.Errorf("old key after the move: key %v, index entry %v, %v; want both gone", key, idx, err)
		}
		if got, err := st.RefreshByHash(ctx, "session-1", g1.Hash); err != nil || !got.UsedAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("moved token = %+v, %v; want it used", got, err)
		}
		// The old used parent is reuse, as it always was.
		if res, err := st.RotateRefresh(ctx, refreshtest.Redeem(g0, t0.Add(2*time.Hour), 10*time.Second)); err != nil || res.Outcome != refresh.Reused {
			t.Errorf("RotateRefresh(old used parent) = %+v, %v; want reused", res, err)
		}
		// 50 concurrent first redemptions of an old token, no grace: one wins.
		for round := range 3 {
			rt := legacy(refreshtest.New(fmt.Sprintf("session-race-%d", round), 0, t0))
			type result struct {
				res *refresh.Result
				err error
			}
			results := make(chan result, 50)
			start := make(chan struct{})
			for i := range 50 {
				go func() {
					<-start
					res, err := st.RotateRefresh(ctx, refreshtest.Redeem(rt, t0.Add(time.Duration(i)*time.Microsecond), 0))
					results <- result{res, err}
				}()
			}
			close(start)
			n := map[refresh.Outcome]int{}
			for range 50 {
				r := <-results
				if r.err != nil {
					t.Fatalf("round %d: RotateRefresh = %v", round, r.err)
				}
				n[r.res.Outcome]++
			}
			if n[refresh.Rotated] != 1 || n[refresh.Reused] != 49 {
				t.Errorf("round %d: 50 redemptions of an old token: %v; want 1 rotated, 49 reused", round, n)
			}
		}
		// The sweep deletes expired old tokens.
		old := refreshtest.New("session-old", 0, t0.Add(-48*time.Hour))
		old.ExpiresAt = t0.Add(-time.Hour)
		legacy(old)
		if n, err := st.DeleteExpiredRefresh(ctx, t0); err != nil || n != 1 {
			t.Errorf("DeleteExpiredRefresh = %d, %v; want 1 (the old expired token)", n, err)
		}
		if key, idx, err := redisstore.LegacyRefreshExists(ctx, st, old.Hash); err != nil || key || idx {
			t.Errorf("swept old token: key %v, index entry %v, %v; want both gone", key, idx, err)
		}
	})
}

// TestLegacySessions: a session stored before Session.ClientID (its
// record one field shorter) reads back with an empty ClientID from every
// read, and is touched and revoked like any other.
func TestLegacySessions(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		st := redistest.NewStore(t, url, redisstore.Options{})
		ctx := context.Background()
		s, h := sessiontest.New("user-legacy", t0)
		if err := redisstore.WriteLegacySession(ctx, st, s, h); err != nil {
			t.Fatal(err)
		}
		reads := map[string]func() (*session.Session, error){
			"SessionByHash": func() (*session.Session, error) { return st.SessionByHash(ctx, h, t0) },
			"SessionByID":   func() (*session.Session, error) { return st.SessionByID(ctx, s.ID, t0) },
			"ListSessions": func() (*session.Session, error) {
				list, err := st.ListSessions(ctx, s.UserID, t0)
				if err != nil || len(list) != 1 {
					return nil, fmt.Errorf("%d sessions, %v; want 1", len(list), err)
				}
				return list[0], nil
			},
		}
		for name, read := range reads {
			got, err := read()
			if err != nil {
				t.Fatalf("%s(old record) = %v", name, err)
			}
			if diff := cmp.Diff(s, got); diff != "" {
				t.Errorf("%s(old record) (-want +got):\n%s", name, diff)
			}
		}
		if err := st.TouchSession(ctx, s.ID, t0.Add(time.Minute), t0.Add(31*time.Minute)); err != nil {
			t.Fatalf("TouchSession(old record) = %v", err)
		}
		if got, err := st.SessionByID(ctx, s.ID, t0.Add(time.Minute)); err != nil || !got.LastSeenAt.Equal(t0.Add(time.Minute)) || got.ClientID != "" {
			t.Errorf("after touch: %+v, %v; want it touched, no client ID", got, err)
		}
		if err := st.RevokeSession(ctx, s.ID, t0.Add(2*time.Minute)); err != nil {
			t.Fatalf("RevokeSession(old record) = %v", err)
		}
	})
}
