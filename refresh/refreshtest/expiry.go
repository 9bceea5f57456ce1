package refreshtest

import (
	"context"
	"testing"
	"time"

	"github.com/authd/authd/refresh"
)

func testExpired(t *testing.T, st refresh.Store) {
	rt := New("session-1", 0, t0)
	rt.ExpiresAt = t0.Add(time.Hour)
	mustCreate(t, st, rt)
	wantOutcome(t, st, Redeem(rt, rt.ExpiresAt, grace), refresh.Expired)
	wantOutcome(t, st, Redeem(rt, rt.ExpiresAt.Add(time.Hour), grace), refresh.Expired)
	wantUnused(t, st, "expired token", rt)
	// The last instant before the expiry is still valid.
	edge := New("session-2", 0, t0)
	edge.ExpiresAt = t0.Add(time.Hour)
	mustCreate(t, st, edge)
	rotated(t, st, edge, edge.ExpiresAt.Add(-time.Microsecond))
}

func testDeleteExpired(t *testing.T, st refresh.Store) {
	ctx := context.Background()
	const sid = "session-1"
	mk := func(gen int, expires, used time.Time) *refresh.Refresh {
		rt := New(sid, gen, t0.Add(-48*time.Hour))
		rt.ExpiresAt, rt.UsedAt = expires, used
		return mustCreate(t, st, rt)
	}
	old := mk(0, t0.Add(-time.Hour), time.Time{})
	oldUsed := mk(1, t0.Add(-time.Microsecond), t0.Add(-2*time.Hour))
	edge := mk(2, t0, time.Time{}) // expires at before: not before it, so kept
	live := mk(3, t0.Add(time.Hour), time.Time{})
	n, err := st.DeleteExpiredRefresh(ctx, t0)
	if err != nil || n != 2 {
		t.Fatalf("DeleteExpiredRefresh = %d, %v; want 2", n, err)
	}
	wantGone(t, st, "old", sid, old.Hash)
	wantGone(t, st, "old used", sid, oldUsed.Hash)
	wantUnused(t, st, "edge", edge)
	wantUnused(t, st, "live", live)
	// The deleted used token no longer counts as used: its generation's
	// replay is unknown, not reuse.
	wantOutcome(t, st, Redeem(oldUsed, t0.Add(-time.Hour), grace), refresh.Unknown)
	n, err = st.DeleteExpiredRefresh(ctx, t0)
	if err != nil || n != 0 {
		t.Errorf("second DeleteExpiredRefresh = %d, %v; want 0", n, err)
	}
	n, err = st.DeleteExpiredRefresh(ctx, t0.Add(time.Hour+time.Microsecond))
	if err != nil || n != 2 {
		t.Errorf("DeleteExpiredRefresh(later) = %d, %v; want 2", n, err)
	}
	wantGone(t, st, "edge", sid, edge.Hash)
	wantGone(t, st, "live", sid, live.Hash)
}
