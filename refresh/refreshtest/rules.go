package refreshtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/authd/authd/refresh"
)

// testGrace: a used token redeemed again, by the age of its first use as
// the store sees it at the redemption.
func testGrace(t *testing.T, st refresh.Store) {
	cases := []struct {
		name   string
		grace  time.Duration
		after  time.Duration // second redemption, after the first
		expire time.Duration // token lifetime after the first use; 0: 30 days
		want   refresh.Outcome
	}{
		{"just inside the window", grace, grace - time.Microsecond, 0, refresh.Sibling},
		{"same instant", grace, 0, 0, refresh.Sibling},
		{"earlier clock, inside", grace, -time.Second, 0, refresh.Sibling},
		{"at the boundary", grace, grace, 0, refresh.Reused},
		{"after the window", grace, time.Hour, 0, refresh.Reused},
		{"no grace, same instant", 0, 0, 0, refresh.Reused},
		{"no grace, an earlier clock", 0, -time.Microsecond, 0, refresh.Reused},
		{"no grace, much earlier clock", 0, -time.Hour, 0, refresh.Reused},
		{"negative grace", -time.Second, 0, 0, refresh.Reused},
		{"inside the window, expired", grace, 2 * time.Second, time.Second, refresh.Expired},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt := New(fmt.Sprintf("session-%d", i), 0, t0)
			first := t0.Add(time.Hour)
			if c.expire > 0 {
				rt.ExpiresAt = first.Add(c.expire)
			}
			mustCreate(t, st, rt)
			rotated(t, st, rt, first)
			res := wantOutcome(t, st, Redeem(rt, first.Add(c.after), c.grace), c.want)
			if res.Token == nil || !res.Token.UsedAt.Equal(first) {
				t.Errorf("Token = %+v; want UsedAt %v (the first use; never moved)", res.Token, first)
			}
			if got := lookup(t, st, rt); !got.UsedAt.Equal(first) {
				t.Errorf("stored UsedAt = %v, want %v", got.UsedAt, first)
			}
			if res.Child != nil {
				if res.Child.Generation != 1 || !res.Child.IssuedAt.Equal(first.Add(c.after)) {
					t.Errorf("sibling child = %+v; want generation 1 issued at the redemption", res.Child)
				}
				if got := lookup(t, st, res.Child); !got.UsedAt.IsZero() {
					t.Errorf("sibling child stored used: %+v", got)
				}
			}
		})
	}
}

// testGrandparent: only the immediate parent of the newest generation has
// a grace window.
func testGrandparent(t *testing.T, st refresh.Store) {
	g0 := mustCreate(t, st, New("session-1", 0, t0))
	g1 := rotated(t, st, g0, t0.Add(time.Second))
	rotated(t, st, g1, t0.Add(2*time.Second))
	res := wantOutcome(t, st, Redeem(g0, t0.Add(3*time.Second), grace), refresh.Reused)
	if res.Token == nil || res.Token.Generation != 0 || res.Token.UserID != "user-1" {
		t.Errorf("Reused: Token = %+v; want generation 0's record", res.Token)
	}
}

// testSiblingAfterSibling: the grace window forks the chain; the first
// fork used wins, and the first use of another is reuse.
func testSiblingAfterSibling(t *testing.T, st refresh.Store) {
	g0 := mustCreate(t, st, New("session-1", 0, t0))
	a1 := rotated(t, st, g0, t0.Add(time.Second))
	b1 := wantOutcome(t, st, Redeem(g0, t0.Add(2*time.Second), grace), refresh.Sibling).Child
	c1 := wantOutcome(t, st, Redeem(g0, t0.Add(3*time.Second), grace), refresh.Sibling).Child
	rotated(t, st, b1, t0.Add(4*time.Second))
	res := wantOutcome(t, st, Redeem(a1, t0.Add(5*time.Second), grace), refresh.Reused)
	if res.Token == nil || !res.Token.UsedAt.IsZero() {
		t.Errorf("Reused sibling: Token = %+v; want it, unused (nothing written)", res.Token)
	}
	wantUnused(t, st, "reused sibling", a1)
	wantOutcome(t, st, Redeem(c1, t0.Add(6*time.Second), grace), refresh.Reused)
}

// testPrunedReplay: a token pruned after its use is still caught.
func testPrunedReplay(t *testing.T, st refresh.Store) {
	g0 := mustCreate(t, st, New("session-1", 0, t0))
	g1 := rotated(t, st, g0, t0.Add(time.Second))
	g2 := rotated(t, st, g1, t0.Add(2*time.Second))
	g3 := rotated(t, st, g2, t0.Add(3*time.Second))
	wantGone(t, st, "generation 0 after three rotations", "session-1", g0.Hash)
	res := wantOutcome(t, st, Redeem(g0, t0.Add(4*time.Second), grace), refresh.Reused)
	if res.Token != nil {
		t.Errorf("Reused by generation: Token = %+v, want nil", res.Token)
	}
	// A generation not used yet, under a hash that is not stored: unknown.
	for _, gen := range []int{3, 4, 100} {
		rot := Redeem(g3, t0.Add(5*time.Second), grace)
		rot.Hash, rot.Generation = NewHash(), gen
		wantOutcome(t, st, rot, refresh.Unknown)
	}
	// Another session's generations are its own.
	rot := Redeem(g0, t0.Add(5*time.Second), grace)
	rot.SessionID = "session-2"
	wantOutcome(t, st, rot, refresh.Unknown)
	wantUnused(t, st, "newest", g3)
}

// testPrune: rotations keep the used parent and grandparent, every unused
// token, and other sessions' tokens; a chain stays a few rows long.
func testPrune(t *testing.T, st refresh.Store) {
	other := mustCreate(t, st, New("session-2", 0, t0))
	otherChild := rotated(t, st, other, t0)
	g0 := mustCreate(t, st, New("session-1", 0, t0))
	a1 := rotated(t, st, g0, t0.Add(time.Second))
	b1 := wantOutcome(t, st, Redeem(g0, t0.Add(2*time.Second), grace), refresh.Sibling).Child // never used
	chain := []*refresh.Refresh{g0, a1}
	for gen := 2; gen <= 6; gen++ {
		chain = append(chain, rotated(t, st, chain[len(chain)-1], t0.Add(time.Duration(gen)*time.Minute)))
	}
	// Generations 0-5 used, 6 live: the last rotation (of 5) pruned used
	// tokens below 4.
	for _, rt := range chain[:4] {
		wantGone(t, st, fmt.Sprintf("generation %d", rt.Generation), rt.SessionID, rt.Hash)
	}
	for _, rt := range chain[4:] {
		lookup(t, st, rt)
	}
	wantUnused(t, st, "unused sibling", b1)
	wantUnused(t, st, "newest", chain[6])
	lookup(t, st, other)
	wantUnused(t, st, "other session's child", otherChild)
	// Pruned or kept, every used generation is still reuse.
	for _, rt := range chain[:6] {
		wantOutcome(t, st, Redeem(rt, t0.Add(time.Hour), grace), refresh.Reused)
	}
}

// testRefused: refusals write nothing, so they cannot spend the token.
func testRefused(t *testing.T, st refresh.Store) {
	rt := mustCreate(t, st, New("session-1", 0, t0))
	expired := New("session-2", 0, t0.Add(-48*time.Hour))
	expired.ExpiresAt = t0
	mustCreate(t, st, expired)
	at := t0.Add(time.Minute)
	cases := []struct {
		name string
		rot  *refresh.Rotation
		want refresh.Outcome
	}{
		{"other client", func() *refresh.Rotation { r := Redeem(rt, at, grace); r.ClientID = "client-2"; return r }(), refresh.OtherClient},
		{"empty client", func() *refresh.Rotation { r := Redeem(rt, at, grace); r.ClientID = ""; return r }(), refresh.OtherClient},
		{"wider scope", func() *refresh.Rotation { r := Redeem(rt, at, grace); r.Scope = []string{"profile", "admin"}; return r }(), refresh.WiderScope},
		{"expired", Redeem(expired, at, grace), refresh.Expired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := wantOutcome(t, st, c.rot, c.want)
			if res.Token == nil || !res.Token.UsedAt.IsZero() {
				t.Errorf("Token = %+v; want the stored, unused token", res.Token)
			}
			wantGone(t, st, "child of a refused redemption", c.rot.SessionID, c.rot.ChildHash)
		})
	}
	wantUnused(t, st, "token after refusals", rt)
	wantUnused(t, st, "expired token", expired)
	rotated(t, st, rt, at)
}

// testScope: a refresh may narrow the scope, never widen it; the child
// keeps the token's whole scope.
func testScope(t *testing.T, st refresh.Store) {
	cases := []struct {
		name      string
		granted   string
		requested []string
		want      refresh.Outcome
	}{
		{"none requested", "openid profile", nil, refresh.Rotated},
		{"one of them", "openid profile", []string{"profile"}, refresh.Rotated},
		{"all of them", "openid profile", []string{"profile", "openid"}, refresh.Rotated},
		{"tabs and newlines", "openid\tprofile\n email", []string{"email"}, refresh.Rotated},
		{"one more", "openid profile", []string{"profile", "admin"}, refresh.WiderScope},
		{"a prefix", "openid profile", []string{"open"}, refresh.WiderScope},
		{"a longer one", "openid profile", []string{"profiles"}, refresh.WiderScope},
		{"pattern characters", "a.c b%d", []string{"abc"}, refresh.WiderScope},
		{"pattern characters, exact", "a.c b%d", []string{"b%d", "a.c"}, refresh.Rotated},
		{"from nothing", "", []string{"openid"}, refresh.WiderScope},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt := New(fmt.Sprintf("session-%d", i), 0, t0)
			rt.Scope = c.granted
			mustCreate(t, st, rt)
			rot := Redeem(rt, t0.Add(time.Minute), grace)
			rot.Scope = c.requested
			res := wantOutcome(t, st, rot, c.want)
			if res.Child != nil && res.Child.Scope != c.granted {
				t.Errorf("child scope %q, want the token's %q", res.Child.Scope, c.granted)
			}
		})
	}
}
