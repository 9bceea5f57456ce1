package refresh_test

// Refresh-token rotation, written as the specification of its security
// rules (in the spirit of Supabase's TestRefreshTokenReuseRevocation and
// Keycloak's RefreshTokenRevokeTest), on every backend, with an injected
// clock that tests shift instead of sleeping:
//
//   - each refresh token works once; redeeming it returns its child in the
//     same session;
//   - redeeming a used token is theft (RFC 9700 §4.14.2): the whole session
//     ends, so the newest token dies too, and the caller gets
//     authd.ErrTokenReused …
//   - … except the immediate parent of the newest generation, within the
//     grace window, which gets another child in the same session (two tabs
//     refreshing at once);
//   - ended, idle and expired sessions give ErrInvalidGrant, as do malformed
//     tokens, which never reach the store.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/event"
	"github.com/authd/authd/refresh"
)

// TestRefreshChain: t0 → t1 → t2, each redeemed once, all in one session.
func TestRefreshChain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, 0)
		t0, sess := f.start(t)
		f.clk.Advance(time.Minute)
		t1 := f.rotate(t, t0, sess.ID, 1)
		f.clk.Advance(time.Minute)
		t2 := f.rotate(t, t1, sess.ID, 2)
		f.clk.Advance(time.Minute)
		t3 := f.rotate(t, t2, sess.ID, 3)
		f.wantSessionLive(t, sess.ID)
		ctx := context.Background()
		// The used parent and grandparent are kept for reuse detection;
		// older used generations are pruned.
		if _, err := f.r.Lookup(ctx, t0); !errors.Is(err, authd.ErrNotFound) {
			t.Errorf("Lookup(t0) after three rotations = %v, want pruned (ErrNotFound)", err)
		}
		for i, tok := range []string{t1, t2} {
			rt, err := f.r.Lookup(ctx, tok)
			if err != nil || rt.UsedAt.IsZero() || rt.Generation != i+1 {
				t.Errorf("Lookup(t%d) = %+v, %v; want generation %d, used", i+1, rt, err, i+1)
			}
		}
		if rt, err := f.r.Lookup(ctx, t3); err != nil || !rt.UsedAt.IsZero() || rt.Scope != "read write" || rt.ClientID != "client-1" || rt.UserID != "user-1" {
			t.Errorf("Lookup(t3) = %+v, %v; want unused, scope/client/user carried down the chain", rt, err)
		}
	})
}

// TestRefreshReuseAfterGrace: redeeming t1 again after the grace window is
// theft. The session ends, its access tokens are revoked, and the newest
// token (the one the thief or the victim holds) is dead too.
func TestRefreshReuseAfterGrace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, grace)
		t0, sess := f.start(t)
		t1 := f.rotate(t, t0, sess.ID, 1)
		f.clk.Advance(time.Second)
		t2 := f.rotate(t, t1, sess.ID, 2)
		f.wantSessionLive(t, sess.ID)

		f.clk.Advance(grace) // t1 was used grace ago: the window is closed
		f.wantErr(t, t1, authd.ErrTokenReused)
		f.wantSessionEnded(t, sess.ID)
		f.wantErr(t, t2, refresh.ErrInvalidGrant)
		f.wantErr(t, t0, authd.ErrTokenReused) // still reuse, still refused
		f.wantErr(t, t1, authd.ErrTokenReused)
		f.wantSessionEnded(t, sess.ID)
	})
}

// TestRefreshReuseReportsToken: a reuse returns a *ReusedError naming the
// session and user attacked, so the caller can log them, and no token.
func TestRefreshReuseReportsToken(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, 0)
		t0, sess := f.start(t)
		f.rotate(t, t0, sess.ID, 1)
		g, err := f.redeem(t0)
		var re *refresh.ReusedError
		if !errors.As(err, &re) || !errors.Is(err, authd.ErrTokenReused) || g != nil {
			t.Fatalf("reuse: Rotate = %+v, %v; want a *ReusedError", g, err)
		}
		if want := (refresh.ReusedError{SessionID: sess.ID, UserID: "user-1", Generation: 0}); *re != want {
			t.Errorf("ReusedError = %+v, want %+v", *re, want)
		}
	})
}

// TestRefreshGraceMultiTab: two tabs of one browser share the refresh
// token (one HttpOnly cookie) and both redeem t0 a few seconds apart.
// Within the grace window that is not theft: each gets a child in the same
// session; the cookie keeps the last answer, so from then on both tabs use
// that one child, and the session carries on. (Tabs that keep separate
// tokens and use both children fork the chain: that ends the session, by
// design; see TestRefreshGraceForkSharesFate.)
func TestRefreshGraceMultiTab(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, grace)
		t0, sess := f.start(t)
		f.clk.Advance(time.Hour)
		tabA := f.rotate(t, t0, sess.ID, 1)
		f.clk.Advance(grace - time.Microsecond) // just inside the window
		tabB := f.rotate(t, t0, sess.ID, 1)
		if tabA == tabB {
			t.Fatal("both tabs got the same token")
		}
		f.wantSessionLive(t, sess.ID)
		// The shared cookie now holds tabB's answer; both tabs refresh
		// with it, again and again.
		cookie := tabB
		for gen := 2; gen <= 4; gen++ {
			f.clk.Advance(5 * time.Minute)
			cookie = f.rotate(t, cookie, sess.ID, gen)
			f.wantSessionLive(t, sess.ID)
		}
	})
}

// TestRefreshGraceBoundary: at exactly grace after the first use the
// window is closed.
func TestRefreshGraceBoundary(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, grace)
		t0, sess := f.start(t)
		f.rotate(t, t0, sess.ID, 1)
		f.clk.Advance(grace)
		f.wantErr(t, t0, authd.ErrTokenReused)
		f.wantSessionEnded(t, sess.ID)
	})
}

// TestRefreshGrandparentWithinGrace: only the immediate parent of the
// newest generation has a grace window. t0 after t1 was redeemed kills the
// chain, however soon.
func TestRefreshGrandparentWithinGrace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, grace)
		t0, sess := f.start(t)
		t1 := f.rotate(t, t0, sess.ID, 1)
		f.clk.Advance(time.Second)
		t2 := f.rotate(t, t1, sess.ID, 2)
		f.clk.Advance(time.Second)
		f.wantErr(t, t0, authd.ErrTokenReused)
		f.wantSessionEnded(t, sess.ID)
		f.wantErr(t, t2, refresh.ErrInvalidGrant)
		f.wantErr(t, t1, authd.ErrTokenReused)
	})
}

// TestRefreshGraceZero: with grace 0 every reuse is theft, even at the
// same instant.
func TestRefreshGraceZero(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, 0)
		t0, sess := f.start(t)
		t1 := f.rotate(t, t0, sess.ID, 1)
		f.wantErr(t, t0, authd.ErrTokenReused)
		f.wantSessionEnded(t, sess.ID)
		f.wantErr(t, t1, refresh.ErrInvalidGrant)
	})
}

// TestRefreshDefaultGrace: a negative Grace means the 10 s default.
func TestRefreshDefaultGrace(t *testing.T) {
	f := newRefreshFixture(t, backends[0].open, -1)
	t0, sess := f.start(t)
	f.rotate(t, t0, sess.ID, 1)
	f.clk.Advance(9 * time.Second)
	f.rotate(t, t0, sess.ID, 1)
	f.clk.Advance(time.Second)
	f.wantErr(t, t0, authd.ErrTokenReused)
}

// TestRefreshAfterLogout: a session ended by logout refuses its refresh
// tokens, before and after rotation, as invalid_grant (not reuse).
func TestRefreshAfterLogout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		ctx := context.Background()
		f := newRefreshFixture(t, open, grace)

		t0, sess := f.start(t)
		if err := f.sessions.End(ctx, sess.ID, event.CauseLogout); err != nil {
			t.Fatal(err)
		}
		f.wantErr(t, t0, refresh.ErrInvalidGrant)

		u0, sess2 := f.start(t)
		u1 := f.rotate(t, u0, sess2.ID, 1)
		if err := f.sessions.Revoke(ctx, "user-1", sess2.ID); err != nil {
			t.Fatal(err)
		}
		// The parent, within its grace window, does not revive it …
		f.wantErr(t, u0, refresh.ErrInvalidGrant)
		// … nor does the newest token.
		f.wantErr(t, u1, refresh.ErrInvalidGrant)

		// Sign out everywhere.
		v0, sess3 := f.start(t)
		if err := f.sessions.RevokeUser(ctx, "user-1", "", event.CauseUserDisabled); err != nil {
			t.Fatal(err)
		}
		f.wantErr(t, v0, refresh.ErrInvalidGrant)
		f.wantSessionEnded(t, sess3.ID)
	})
}

// TestRefreshIdleExpiry: a token session not refreshed for its idle
// timeout is over; refreshing keeps it alive.
func TestRefreshIdleExpiry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, grace)
		t0, sess := f.start(t)
		// Refreshing just inside the idle timeout moves it forward …
		f.clk.Advance(idleTimeout - time.Second)
		t1 := f.rotate(t, t0, sess.ID, 1)
		f.clk.Advance(idleTimeout - time.Second)
		t2 := f.rotate(t, t1, sess.ID, 2)
		// … and missing it ends the session.
		f.clk.Advance(idleTimeout)
		f.wantErr(t, t2, refresh.ErrInvalidGrant)
		if _, err := f.sessions.ByID(context.Background(), sess.ID); !errors.Is(err, authd.ErrNotFound) {
			t.Errorf("idle session: ByID = %v, want ErrNotFound", err)
		}
	})
}

// TestRefreshAbsoluteExpiry: however often it is refreshed, a token session
// ends at its absolute lifetime, and so do its refresh tokens.
func TestRefreshAbsoluteExpiry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, grace)
		tok, sess := f.start(t)
		deadline := f.clk.Now().Add(lifetime)
		gen := 0
		for f.clk.Now().Add(12 * time.Hour).Before(deadline) {
			f.clk.Advance(12 * time.Hour)
			gen++
			tok = f.rotate(t, tok, sess.ID, gen)
		}
		rt, err := f.r.Lookup(context.Background(), tok)
		if err != nil || !rt.ExpiresAt.Equal(sess.ExpiresAt) {
			t.Fatalf("refresh token of generation %d expires %v, %v; want the session's end %v", gen, rt.ExpiresAt, err, sess.ExpiresAt)
		}
		f.clk.Advance(deadline.Sub(f.clk.Now()) - time.Microsecond)
		last := f.rotate(t, tok, sess.ID, gen+1) // last instant
		f.clk.Advance(time.Microsecond)
		f.wantErr(t, last, refresh.ErrInvalidGrant)
	})
}

// TestRefreshGraceForkSharesFate: the grace window forks the chain (two
// tabs each hold a child of t0). Both forks live in the one session, so a
// theft detected on either ends both.
func TestRefreshGraceForkSharesFate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, grace)
		t0, sess := f.start(t)
		a1 := f.rotate(t, t0, sess.ID, 1)
		b1 := f.rotate(t, t0, sess.ID, 1) // the second tab, inside the window
		a2 := f.rotate(t, a1, sess.ID, 2)
		// b1 is a stale sibling now: generation 1 was already redeemed
		// through a1. Using it would run a second chain in the session —
		// what a thief replaying inside the window would hold — so it is
		// reuse, and the session ends.
		f.wantErr(t, b1, authd.ErrTokenReused)
		f.wantSessionEnded(t, sess.ID)
		f.wantErr(t, a2, refresh.ErrInvalidGrant)
	})
}

// TestRefreshPrunedReplayIsTheft: used tokens older than the grandparent
// are pruned, yet a thief who rotated three times quickly cannot make the
// victim's replay of the first token look merely unknown: the token's MAC
// proves it was ours, its generation was used, so the session ends. A
// token that merely names the session (no valid MAC) ends nothing.
func TestRefreshPrunedReplayIsTheft(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, grace)
		t0, sess := f.start(t)
		t1 := f.rotate(t, t0, sess.ID, 1)
		t2 := f.rotate(t, t1, sess.ID, 2)
		t3 := f.rotate(t, t2, sess.ID, 3)
		if _, err := f.r.Lookup(context.Background(), t0); !errors.Is(err, authd.ErrNotFound) {
			t.Fatalf("t0 after three rotations: %v, want pruned", err)
		}
		forged := sess.ID + ".0." + strings.Repeat("A", 43) + "." + strings.Repeat("B", 22)
		f.wantErr(t, forged, refresh.ErrInvalidGrant)
		f.wantSessionLive(t, sess.ID)

		f.wantErr(t, t0, authd.ErrTokenReused)
		f.wantSessionEnded(t, sess.ID)
		f.wantErr(t, t3, refresh.ErrInvalidGrant)
	})
}
