package refreshtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authd/authd/refresh"
)

// testConcurrentChains: many sessions rotate their chains at once.
func testConcurrentChains(t *testing.T, st refresh.Store) {
	const workers, each = 8, 10
	type chain struct {
		newest *refresh.Refresh
		err    error
	}
	chains := make([]chain, workers)
	start := make(chan struct{})
	done := make(chan struct{}, workers)
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			rt := New(fmt.Sprintf("session-%d", w), 0, t0)
			if err := st.CreateRefresh(context.Background(), rt); err != nil {
				chains[w].err = err
				return
			}
			<-start
			for gen := range each {
				res, err := st.RotateRefresh(context.Background(), Redeem(rt, t0.Add(time.Duration(gen)*time.Second), 0))
				if err != nil || res.Outcome != refresh.Rotated {
					chains[w].err = fmt.Errorf("rotation %d = %v, %v; want rotated", gen, res, err)
					return
				}
				rt = res.Child
			}
			chains[w].newest = rt
		}()
	}
	close(start)
	for range workers {
		<-done
	}
	for w, c := range chains {
		if c.err != nil {
			t.Errorf("session-%d: %v", w, c.err)
			continue
		}
		if got := lookup(t, st, c.newest); got.Generation != each || !got.UsedAt.IsZero() {
			t.Errorf("session-%d newest = %+v; want unused generation %d", w, got, each)
		}
	}
}

// race runs the rotations from goroutines released at once and returns
// their results in order.
func race(t *testing.T, st refresh.Store, rots []*refresh.Rotation) []*refresh.Result {
	t.Helper()
	results := make([]*refresh.Result, len(rots))
	errs := make([]error, len(rots))
	start := make(chan struct{})
	done := make(chan struct{}, len(rots))
	for i, rot := range rots {
		go func() {
			defer func() { done <- struct{}{} }()
			<-start
			results[i], errs[i] = st.RotateRefresh(context.Background(), rot)
		}()
	}
	close(start)
	for range rots {
		<-done
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: RotateRefresh = %v, want nil", i, err)
		}
	}
	return results
}

// count tallies the outcomes of a race.
func count(results []*refresh.Result) map[refresh.Outcome]int {
	m := map[refresh.Outcome]int{}
	for _, r := range results {
		m[r.Outcome]++
	}
	return m
}

const callers = 50

// testRaceNoGrace is the race the operation exists to settle: with no
// grace window, of 50 concurrent redemptions of one token exactly one wins
// and every other caller sees reuse — including callers whose clock read
// came before the winner's (a negative age is no excuse).
func testRaceNoGrace(t *testing.T, st refresh.Store) {
	for round := range 5 {
		rt := mustCreate(t, st, New(fmt.Sprintf("session-%d", round), 0, t0))
		rots := make([]*refresh.Rotation, callers)
		for i := range rots {
			// Clocks spread both ways around each other, a microsecond apart.
			rots[i] = Redeem(rt, t0.Add(time.Duration((i*37)%callers)*time.Microsecond), 0)
		}
		results := race(t, st, rots)
		if n := count(results); n[refresh.Rotated] != 1 || n[refresh.Reused] != callers-1 {
			t.Fatalf("round %d: outcomes %v; want 1 rotated, %d reused", round, n, callers-1)
		}
		var winner *refresh.Rotation
		for i, r := range results {
			if r.Outcome == refresh.Rotated {
				winner = rots[i]
			}
		}
		for i, r := range results {
			if !r.Token.UsedAt.Equal(winner.At) {
				t.Errorf("round %d caller %d: UsedAt %v, want the winner's %v", round, i, r.Token.UsedAt, winner.At)
			}
			if rots[i] != winner {
				wantGone(t, st, "a loser's child", rt.SessionID, rots[i].ChildHash)
			}
		}
		wantUnused(t, st, "the winner's child", &refresh.Refresh{SessionID: rt.SessionID, Hash: winner.ChildHash})
	}
}

// testRaceGrace: within the grace window 50 concurrent redemptions of one
// token (a burst of tabs) are one first use and 49 siblings, each with its
// own stored child in the session.
func testRaceGrace(t *testing.T, st refresh.Store) {
	rt := mustCreate(t, st, New("session-1", 0, t0))
	rots := make([]*refresh.Rotation, callers)
	for i := range rots {
		rots[i] = Redeem(rt, t0.Add(time.Duration((i*37)%callers)*time.Microsecond), grace)
	}
	results := race(t, st, rots)
	if n := count(results); n[refresh.Rotated] != 1 || n[refresh.Sibling] != callers-1 {
		t.Fatalf("outcomes %v; want 1 rotated, %d siblings", n, callers-1)
	}
	for i, r := range results {
		if got := lookup(t, st, r.Child); got.Generation != 1 || !got.UsedAt.IsZero() {
			t.Errorf("caller %d: child %+v; want unused generation 1", i, got)
		}
	}
}

// testRaceSiblings: 50 siblings of one generation redeemed at once. The
// rotation is atomic per session, not just per token: exactly one wins,
// the others are the second chain rule 5 refuses.
func testRaceSiblings(t *testing.T, st refresh.Store) {
	g0 := mustCreate(t, st, New("session-1", 0, t0))
	siblings := []*refresh.Refresh{rotated(t, st, g0, t0)}
	for i := 1; i < callers; i++ {
		res := wantOutcome(t, st, Redeem(g0, t0.Add(time.Duration(i)*time.Microsecond), grace), refresh.Sibling)
		siblings = append(siblings, res.Child)
	}
	rots := make([]*refresh.Rotation, callers)
	for i, s := range siblings {
		rots[i] = Redeem(s, t0.Add(time.Second), grace)
	}
	results := race(t, st, rots)
	if n := count(results); n[refresh.Rotated] != 1 || n[refresh.Reused] != callers-1 {
		t.Fatalf("outcomes %v; want 1 rotated, %d reused", n, callers-1)
	}
}
