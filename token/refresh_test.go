package token_test

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
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/session"
	"github.com/authd/authd/sqlitestore"
	"github.com/authd/authd/token"
)

// backend is a store that holds both sessions and refresh tokens.
type backend interface {
	session.Store
	token.RefreshStore
}

var backends = []struct {
	name string
	open func(t *testing.T) backend
}{
	{"memstore", func(t *testing.T) backend { return memstore.New() }},
	{"sqlite", func(t *testing.T) backend {
		st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "authd.db"), sqlitestore.Options{})
		if err != nil {
			t.Fatalf("sqlitestore.Open = %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
}

// countingStore counts the RefreshStore calls that reach the backend.
type countingStore struct {
	token.RefreshStore
	calls atomic.Int64
}

func (c *countingStore) CreateRefresh(ctx context.Context, rt *token.Refresh) error {
	c.calls.Add(1)
	return c.RefreshStore.CreateRefresh(ctx, rt)
}

func (c *countingStore) UseRefresh(ctx context.Context, hash []byte, at time.Time) (*token.Refresh, bool, error) {
	c.calls.Add(1)
	return c.RefreshStore.UseRefresh(ctx, hash, at)
}

func (c *countingStore) MaxUsedGeneration(ctx context.Context, sessionID string) (int, error) {
	c.calls.Add(1)
	return c.RefreshStore.MaxUsedGeneration(ctx, sessionID)
}

func (c *countingStore) RefreshByHash(ctx context.Context, hash []byte) (*token.Refresh, error) {
	c.calls.Add(1)
	return c.RefreshStore.RefreshByHash(ctx, hash)
}

func (c *countingStore) DeleteExpiredRefresh(ctx context.Context, before time.Time) (int, error) {
	c.calls.Add(1)
	return c.RefreshStore.DeleteExpiredRefresh(ctx, before)
}

// Policy of the token sessions in these tests.
const (
	idleTimeout = 24 * time.Hour
	lifetime    = 7 * 24 * time.Hour
	grace       = 10 * time.Second
)

type refreshFixture struct {
	clk      *fakeClock
	store    *countingStore
	sessions *session.Manager
	r        *token.Refresher
	rev      *token.RevocationSet // fed by the session manager's OnRevoke
}

func newRefreshFixture(t *testing.T, open func(t *testing.T) backend, grace time.Duration) *refreshFixture {
	t.Helper()
	st := open(t)
	f := &refreshFixture{clk: newClock(), store: &countingStore{RefreshStore: st}}
	f.rev = token.NewRevocationSet(f.clk.Now)
	f.sessions = session.NewManager(st, session.Config{
		Token: session.Policy{IdleTimeout: idleTimeout, Lifetime: lifetime},
		OnRevoke: func(ids []string, at time.Time) {
			for _, id := range ids {
				f.rev.Add(id, at.Add(11*time.Minute))
			}
		},
		Now: f.clk.Now,
	})
	f.r = token.NewRefresher(token.RefreshConfig{Store: f.store, Sessions: f.sessions, Grace: grace, Now: f.clk.Now})
	return f
}

func (f *refreshFixture) start(t *testing.T) (string, *session.Session) {
	t.Helper()
	tok, rt, sess, err := f.r.Start(context.Background(), "user-1", "client-1", "read write", session.Meta{IP: "192.0.2.1", UserAgent: "test"})
	if err != nil {
		t.Fatalf("Start = %v", err)
	}
	if rt.Generation != 0 || rt.SessionID != sess.ID || !rt.UsedAt.IsZero() || sess.Kind != session.KindToken {
		t.Fatalf("Start = %+v in %+v; want an unused generation 0 in a token session", rt, sess)
	}
	if !rt.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Fatalf("refresh token expires %v, its session %v; want equal", rt.ExpiresAt, sess.ExpiresAt)
	}
	return tok, sess
}

// rotate redeems tok and wants success in session sid with generation gen.
func (f *refreshFixture) rotate(t *testing.T, tok, sid string, gen int) string {
	t.Helper()
	child, rt, sess, err := f.r.Rotate(context.Background(), tok, nil)
	if err != nil {
		t.Fatalf("Rotate(generation %d parent) = %v; want success", gen-1, err)
	}
	if sess == nil || sess.ID != sid || rt.SessionID != sid {
		t.Fatalf("Rotate: session %v, token session %s; want %s (same session)", sess, rt.SessionID, sid)
	}
	if rt.Generation != gen {
		t.Fatalf("Rotate: child generation %d, want %d", rt.Generation, gen)
	}
	if child == "" || child == tok || strings.Count(child, ".") != 3 || !strings.HasPrefix(child, sid+"."+strconv.Itoa(gen)+".") {
		t.Fatalf("Rotate: child token %q", child)
	}
	return child
}

func (f *refreshFixture) wantErr(t *testing.T, tok string, want error) {
	t.Helper()
	child, _, sess, err := f.r.Rotate(context.Background(), tok, nil)
	if !errors.Is(err, want) {
		t.Fatalf("Rotate = %v; want %v", err, want)
	}
	if child != "" || sess != nil {
		t.Fatalf("Rotate failed with %v but returned token %q, session %v", err, child, sess)
	}
}

func (f *refreshFixture) wantSessionLive(t *testing.T, sid string) {
	t.Helper()
	if _, err := f.sessions.ByID(context.Background(), sid); err != nil {
		t.Fatalf("session %s: ByID = %v; want live", sid, err)
	}
	if f.rev.Revoked(sid) {
		t.Fatalf("session %s is in the revocation set", sid)
	}
}

func (f *refreshFixture) wantSessionEnded(t *testing.T, sid string) {
	t.Helper()
	if _, err := f.sessions.ByID(context.Background(), sid); !errors.Is(err, authd.ErrNotFound) {
		t.Fatalf("session %s: ByID = %v; want ErrNotFound (ended)", sid, err)
	}
	if !f.rev.Revoked(sid) {
		t.Fatalf("session %s ended but its access tokens are not revoked (OnRevoke not called)", sid)
	}
}

func forEachBackend(t *testing.T, fn func(t *testing.T, open func(t *testing.T) backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open) })
	}
}

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
		f.wantErr(t, t2, token.ErrInvalidGrant)
		f.wantErr(t, t0, authd.ErrTokenReused) // still reuse, still refused
		f.wantErr(t, t1, authd.ErrTokenReused)
		f.wantSessionEnded(t, sess.ID)
	})
}

// TestRefreshReuseReportsToken: a reuse returns the reused token's record so
// the caller can log which session was attacked, and no new token.
func TestRefreshReuseReportsToken(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, 0)
		t0, sess := f.start(t)
		f.rotate(t, t0, sess.ID, 1)
		child, rt, s, err := f.r.Rotate(context.Background(), t0, nil)
		if !errors.Is(err, authd.ErrTokenReused) || child != "" || s != nil || rt == nil || rt.SessionID != sess.ID || rt.Generation != 0 {
			t.Fatalf("reuse: Rotate = %q, %+v, %v, %v; want ErrTokenReused with the reused token's record", child, rt, s, err)
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
		f.wantErr(t, t2, token.ErrInvalidGrant)
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
		f.wantErr(t, t1, token.ErrInvalidGrant)
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
		if err := f.sessions.End(ctx, sess.ID); err != nil {
			t.Fatal(err)
		}
		f.wantErr(t, t0, token.ErrInvalidGrant)

		u0, sess2 := f.start(t)
		u1 := f.rotate(t, u0, sess2.ID, 1)
		if err := f.sessions.Revoke(ctx, "user-1", sess2.ID); err != nil {
			t.Fatal(err)
		}
		// The parent, within its grace window, does not revive it …
		f.wantErr(t, u0, token.ErrInvalidGrant)
		// … nor does the newest token.
		f.wantErr(t, u1, token.ErrInvalidGrant)

		// Sign out everywhere.
		v0, sess3 := f.start(t)
		if err := f.sessions.RevokeUser(ctx, "user-1", ""); err != nil {
			t.Fatal(err)
		}
		f.wantErr(t, v0, token.ErrInvalidGrant)
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
		f.wantErr(t, t2, token.ErrInvalidGrant)
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
		f.wantErr(t, last, token.ErrInvalidGrant)
	})
}

// TestRefreshExpiredToken: a refresh token past its own ExpiresAt is
// refused even if its session were somehow still live.
func TestRefreshExpiredToken(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, grace)
		_, sess := f.start(t)
		tok, hash := mintRefresh(t)
		rt := &token.Refresh{
			Hash: hash, SessionID: sess.ID, UserID: "user-1", ClientID: "client-1",
			IssuedAt: f.clk.Now().UTC(), ExpiresAt: f.clk.Now().UTC().Add(time.Minute),
		}
		if err := f.store.CreateRefresh(context.Background(), rt); err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(time.Minute)
		f.wantErr(t, tok, token.ErrInvalidGrant)
		f.wantSessionLive(t, sess.ID)
	})
}

// mintRefresh returns a well-formed refresh token and its stored hash.
func mintRefresh(t *testing.T) (string, []byte) {
	t.Helper()
	var raw [32]byte
	rand.Read(raw[:])
	// Well-formed, but not issued by anyone: the MAC part is random.
	secret := "SESSIONXYZ.0." + base64.RawURLEncoding.EncodeToString(raw[:]) + "." + base64.RawURLEncoding.EncodeToString(raw[:16])
	h, ok := token.HashRefresh(secret)
	if !ok {
		t.Fatalf("HashRefresh(%q) = false", secret)
	}
	return secret, h[:]
}

// TestRefreshMalformed: anything that is not four dot-separated base64url
// parts is invalid_grant and never reaches the store.
func TestRefreshMalformed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, grace)
		good, sess := f.start(t)
		cases := map[string]string{
			"empty":              "",
			"three parts":        good[:strings.LastIndexByte(good, '.')],
			"five parts":         good + ".A",
			"padded":             good + "=",
			"standard alphabet":  strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/",
			"space inside":       good[:20] + " " + good[21:],
			"trailing newline":   good + "\n",
			"leading space":      " " + good,
			"NUL":                good + "\x00",
			"non-ASCII":          good + "é",
			"access-token shape": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
			"huge":               strings.Repeat("A.", 1<<19),
		}
		before := f.store.calls.Load()
		for name, tok := range cases {
			t.Run(name, func(t *testing.T) {
				f.wantErr(t, tok, token.ErrInvalidGrant)
				if _, err := f.r.Lookup(context.Background(), tok); !errors.Is(err, authd.ErrNotFound) {
					t.Errorf("Lookup = %v, want ErrNotFound", err)
				}
			})
		}
		if n := f.store.calls.Load() - before; n != 0 {
			t.Errorf("malformed tokens made %d store calls, want 0", n)
		}
		// A well-formed unknown token does reach the store, and is invalid.
		unknown, _ := mintRefresh(t)
		f.wantErr(t, unknown, token.ErrInvalidGrant)
		// The real token is untouched by all of it.
		f.rotate(t, good, sess.ID, 1)
	})
}

// TestRefreshLookupDoesNotUse: Lookup reads a token without redeeming it.
func TestRefreshLookupDoesNotUse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, 0)
		t0, sess := f.start(t)
		for range 3 {
			rt, err := f.r.Lookup(context.Background(), t0)
			if err != nil || !rt.UsedAt.IsZero() || rt.SessionID != sess.ID || rt.Generation != 0 {
				t.Fatalf("Lookup = %+v, %v; want the unused generation 0 of %s", rt, err, sess.ID)
			}
		}
		f.clk.Advance(time.Minute)
		f.rotate(t, t0, sess.ID, 1) // first use: not a reuse
		f.wantSessionLive(t, sess.ID)
		rt, err := f.r.Lookup(context.Background(), t0)
		if err != nil || !rt.UsedAt.Equal(f.clk.Now()) {
			t.Fatalf("Lookup after Rotate = %+v, %v; want UsedAt %v", rt, err, f.clk.Now())
		}
		unknown, _ := mintRefresh(t)
		if _, err := f.r.Lookup(context.Background(), unknown); !errors.Is(err, authd.ErrNotFound) {
			t.Errorf("Lookup(unknown) = %v, want ErrNotFound", err)
		}
	})
}

// TestRefreshRaceNoGrace: 50 goroutines redeem one fresh token at once
// with grace 0. At most one gets a child; every other caller sees reuse
// (or the session it ended), and the session does not survive.
func TestRefreshRaceNoGrace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		for round := range 3 {
			f := newRefreshFixture(t, open, 0)
			t0, sess := f.start(t)
			oks, reused, invalid := race(t, f, t0, 50, sess.ID)
			t.Logf("round %d: %d success, %d reuse, %d invalid_grant", round, oks, reused, invalid)
			if oks > 1 {
				t.Fatalf("%d concurrent redemptions of one token succeeded, want at most 1", oks)
			}
			if reused == 0 {
				t.Fatalf("no caller saw the reuse")
			}
			f.wantSessionEnded(t, sess.ID)
		}
	})
}

// TestRefreshRaceWithinGrace: with a 10 s grace window, 50 parallel
// redemptions of one token (a burst of tabs) all succeed, in the same
// session, and nobody is logged out.
func TestRefreshRaceWithinGrace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, grace)
		t0, sess := f.start(t)
		f.clk.Advance(time.Hour)
		oks, reused, invalid := race(t, f, t0, 50, sess.ID)
		if oks != 50 || reused != 0 || invalid != 0 {
			t.Fatalf("50 parallel rotations within grace: %d success, %d reuse, %d invalid; want 50 successes", oks, reused, invalid)
		}
		f.wantSessionLive(t, sess.ID)
	})
}

// race redeems tok from n goroutines released at once and counts the
// outcomes; successes must be in sid with distinct tokens, and any other
// error fails the test.
func race(t *testing.T, f *refreshFixture, tok string, n int, sid string) (oks, reused, invalid int) {
	t.Helper()
	type result struct {
		child string
		sess  *session.Session
		err   error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			child, _, sess, err := f.r.Rotate(context.Background(), tok, nil)
			results[i] = result{child, sess, err}
		})
	}
	close(start)
	wg.Wait()
	seen := map[string]bool{}
	for i, r := range results {
		switch {
		case r.err == nil:
			oks++
			if r.sess == nil || r.sess.ID != sid {
				t.Errorf("caller %d: success in session %v, want %s", i, r.sess, sid)
			}
			if seen[r.child] {
				t.Errorf("caller %d: child token handed out twice", i)
			}
			seen[r.child] = true
		case errors.Is(r.err, authd.ErrTokenReused):
			reused++
		case errors.Is(r.err, token.ErrInvalidGrant):
			invalid++
		default:
			t.Errorf("caller %d: Rotate = %v; want success, ErrTokenReused or ErrInvalidGrant", i, r.err)
		}
	}
	return oks, reused, invalid
}

// TestRefreshStartFailure: a store that cannot keep the first token leaves
// no session behind.
func TestRefreshStartFailure(t *testing.T) {
	st := memstore.New()
	clk := newClock()
	mgr := session.NewManager(st, session.Config{Now: clk.Now})
	r := token.NewRefresher(token.RefreshConfig{Store: failingCreate{st}, Sessions: mgr, Now: clk.Now})
	tok, rt, sess, err := r.Start(context.Background(), "user-1", "c", "", session.Meta{})
	if err == nil || tok != "" || rt != nil || sess != nil {
		t.Fatalf("Start with a failing store = %q, %v, %v, %v; want an error", tok, rt, sess, err)
	}
	list, err := mgr.List(context.Background(), "user-1")
	if err != nil || len(list) != 0 {
		t.Fatalf("sessions left after a failed Start: %v, %v", list, err)
	}
}

type failingCreate struct{ token.RefreshStore }

func (failingCreate) CreateRefresh(context.Context, *token.Refresh) error {
	return fmt.Errorf("disk full: %w", authd.ErrUnavailable)
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
		f.wantErr(t, a2, token.ErrInvalidGrant)
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
		f.wantErr(t, forged, token.ErrInvalidGrant)
		f.wantSessionLive(t, sess.ID)

		f.wantErr(t, t0, authd.ErrTokenReused)
		f.wantSessionEnded(t, sess.ID)
		f.wantErr(t, t3, token.ErrInvalidGrant)
	})
}
