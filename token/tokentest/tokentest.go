// Package tokentest is the conformance suite for token.RefreshStore. Every
// backend runs it from its own tests:
//
//	func TestRefreshConformance(t *testing.T) {
//		tokentest.Run(t, func(t *testing.T) token.RefreshStore { return newStore(t) })
//	}
//
// A backend is done when the suite passes unchanged.
package tokentest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/token"
	"github.com/google/go-cmp/cmp"
)

// t0 is the suite's clock origin; times are UTC with microsecond precision,
// which every backend must round-trip exactly.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// Run runs the suite. newStore must return an empty store for each call; it
// is called once per subtest and should register its own cleanup.
func Run(t *testing.T, newStore func(t *testing.T) token.RefreshStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st token.RefreshStore)
	}{
		{"CreateAndUse", testCreateAndUse},
		{"CreateUsed", testCreateUsed},
		{"UseTwice", testUseTwice},
		{"RefreshByHash", testRefreshByHash},
		{"Missing", testMissing},
		{"Conflict", testConflict},
		{"MaxUsedGeneration", testMaxUsedGeneration},
		{"Expired", testExpired},
		{"DeleteExpired", testDeleteExpired},
		{"Prune", testPrune},
		{"CancelledContext", testCancelled},
		{"ConcurrentChains", testConcurrentChains},
		{"ConcurrentUse", testConcurrentUse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// New returns an unused refresh token of generation gen in sessionID,
// issued at at and valid for 30 days, with the hash of a fresh random
// secret.
func New(sessionID string, gen int, at time.Time) *token.Refresh {
	var secret [32]byte
	rand.Read(secret[:])
	h := sha256.Sum256(secret[:])
	return &token.Refresh{
		Hash:       h[:],
		SessionID:  sessionID,
		UserID:     "user-1",
		ClientID:   "client-1",
		Scope:      "openid profile offline_access",
		Generation: gen,
		IssuedAt:   at,
		ExpiresAt:  at.Add(30 * 24 * time.Hour),
	}
}

// BenchRotation measures one rotation's store work, the same on every
// backend: create a token, then redeem it (two writes).
//
//	go test -run XXX -bench UseRefresh ./memstore ./sqlitestore ./pgstore
func BenchRotation(b *testing.B, st token.RefreshStore) {
	ctx := context.Background()
	at := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	gen := 0
	b.ReportAllocs()
	for b.Loop() {
		rt := New("session-1", gen, at)
		if err := st.CreateRefresh(ctx, rt); err != nil {
			b.Fatal(err)
		}
		if _, first, err := st.UseRefresh(ctx, rt.Hash, at.Add(time.Second)); err != nil || !first {
			b.Fatalf("UseRefresh = first %v, %v", first, err)
		}
		gen++
	}
}

func mustCreate(t *testing.T, st token.RefreshStore, rt *token.Refresh) {
	t.Helper()
	if err := st.CreateRefresh(context.Background(), rt); err != nil {
		t.Fatalf("CreateRefresh(session %s gen %d) = %v, want nil", rt.SessionID, rt.Generation, err)
	}
}

func mustUse(t *testing.T, st token.RefreshStore, hash []byte, at time.Time) (*token.Refresh, bool) {
	t.Helper()
	rt, first, err := st.UseRefresh(context.Background(), hash, at)
	if err != nil {
		t.Fatalf("UseRefresh = %v, want nil", err)
	}
	return rt, first
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("%s: err = %v, want ErrNotFound", what, err)
	}
}

func wantMax(t *testing.T, st token.RefreshStore, sessionID string, want int) {
	t.Helper()
	got, err := st.MaxUsedGeneration(context.Background(), sessionID)
	if err != nil || got != want {
		t.Errorf("MaxUsedGeneration(%s) = %d, %v; want %d", sessionID, got, err, want)
	}
}

func clone(rt *token.Refresh) *token.Refresh {
	c := *rt
	c.Hash = slices.Clone(rt.Hash)
	return &c
}

func testCreateAndUse(t *testing.T, st token.RefreshStore) {
	rt := New("session-1", 3, t0)
	rt.UserID = "user-ünïcödé ✓"
	rt.ClientID = "client 'quoted' \"double\""
	rt.Scope = ""
	rt.Hash[0], rt.Hash[31] = 0x00, 0xff
	want := clone(rt)
	mustCreate(t, st, rt)
	// The store copied its input: changing it changes nothing stored.
	rt.Scope = "admin"
	rt.Hash[1] ^= 0xff

	at := t0.Add(time.Minute + time.Microsecond)
	got, first := mustUse(t, st, want.Hash, at)
	if !first {
		t.Errorf("first UseRefresh: first = false, want true")
	}
	want.UsedAt = at
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UseRefresh mismatch (-want +got):\n%s", diff)
	}
	// The returned value is a copy too.
	got.Scope = "changed"
	got.Hash[5] ^= 0xff
	again, first := mustUse(t, st, want.Hash, at.Add(time.Hour))
	if first {
		t.Errorf("second UseRefresh: first = true, want false")
	}
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("store returned shared memory (-want +got):\n%s", diff)
	}
}

// testCreateUsed: CreateRefresh stores every field, UsedAt included.
func testCreateUsed(t *testing.T, st token.RefreshStore) {
	rt := New("session-1", 0, t0)
	rt.UsedAt = t0.Add(time.Second)
	mustCreate(t, st, rt)
	got, first := mustUse(t, st, rt.Hash, t0.Add(time.Hour))
	if first {
		t.Errorf("UseRefresh of a token created used: first = true, want false")
	}
	if diff := cmp.Diff(rt, got); diff != "" {
		t.Errorf("UseRefresh mismatch (-want +got):\n%s", diff)
	}
	wantMax(t, st, "session-1", 0)
}

func testUseTwice(t *testing.T, st token.RefreshStore) {
	rt := New("session-1", 0, t0)
	mustCreate(t, st, rt)
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	if _, first := mustUse(t, st, rt.Hash, t1); !first {
		t.Fatal("first UseRefresh: first = false, want true")
	}
	got, first := mustUse(t, st, rt.Hash, t2)
	if first {
		t.Error("second UseRefresh: first = true, want false")
	}
	want := clone(rt)
	want.UsedAt = t1
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("second UseRefresh (-want +got):\n%s", diff)
	}
	// An earlier clock does not rewrite the first use either.
	got, first = mustUse(t, st, rt.Hash, t0)
	if first || !got.UsedAt.Equal(t1) {
		t.Errorf("third UseRefresh (earlier clock) = first %v, UsedAt %v; want false, %v", first, got.UsedAt, t1)
	}
}

func testRefreshByHash(t *testing.T, st token.RefreshStore) {
	ctx := context.Background()
	rt := New("session-1", 2, t0.Add(-60*24*time.Hour)) // expired: returned all the same
	rt.Hash[0], rt.Hash[31] = 0x00, 0xff
	want := clone(rt)
	mustCreate(t, st, rt)
	other := New("session-1", 3, t0)
	mustCreate(t, st, other)
	for range 2 { // looking does not use it
		got, err := st.RefreshByHash(ctx, want.Hash)
		if err != nil {
			t.Fatalf("RefreshByHash = %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("RefreshByHash (-want +got):\n%s", diff)
		}
		got.Hash[1] ^= 0xff // a copy
		got.Scope = "changed"
	}
	wantMax(t, st, "session-1", -1)
	at := t0.Add(time.Minute)
	if _, first := mustUse(t, st, want.Hash, at); !first {
		t.Error("UseRefresh after RefreshByHash: first = false, want true")
	}
	want.UsedAt = at
	got, err := st.RefreshByHash(ctx, want.Hash)
	if err != nil {
		t.Fatalf("RefreshByHash after use = %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RefreshByHash after use (-want +got):\n%s", diff)
	}
	if got, err := st.RefreshByHash(ctx, other.Hash); err != nil || got.Generation != 3 || !got.UsedAt.IsZero() {
		t.Errorf("RefreshByHash(other) = %+v, %v; want the unused generation 3", got, err)
	}
}

func testMissing(t *testing.T, st token.RefreshStore) {
	ctx := context.Background()
	mustCreate(t, st, New("session-1", 0, t0))
	h := sha256.Sum256([]byte("nobody"))
	for name, hash := range map[string][]byte{
		"unknown": h[:],
		"nil":     nil,
		"empty":   {},
		"short":   h[:16],
		"long":    append(h[:], 0),
	} {
		rt, first, err := st.UseRefresh(ctx, hash, t0)
		wantNotFound(t, "UseRefresh("+name+")", err)
		if rt != nil || first {
			t.Errorf("UseRefresh(%s) = %v, %v; want nil, false", name, rt, first)
		}
		_, err = st.RefreshByHash(ctx, hash)
		wantNotFound(t, "RefreshByHash("+name+")", err)
	}
	wantMax(t, st, "no-such-session", -1)
	wantMax(t, st, "", -1)
	n, err := st.DeleteExpiredRefresh(ctx, t0)
	if err != nil || n != 0 {
		t.Errorf("DeleteExpiredRefresh(nothing expired) = %d, %v; want 0", n, err)
	}
}

func testConflict(t *testing.T, st token.RefreshStore) {
	ctx := context.Background()
	rt := New("session-1", 0, t0)
	mustCreate(t, st, rt)
	dup := New("session-2", 4, t0.Add(time.Hour))
	dup.Hash = slices.Clone(rt.Hash)
	if err := st.CreateRefresh(ctx, dup); !errors.Is(err, authd.ErrConflict) {
		t.Errorf("CreateRefresh(same hash) = %v, want ErrConflict", err)
	}
	// The first token is intact.
	got, first := mustUse(t, st, rt.Hash, t0.Add(time.Minute))
	if !first || got.SessionID != "session-1" || got.Generation != 0 || !got.IssuedAt.Equal(t0) {
		t.Errorf("after conflict UseRefresh = %+v, first %v; want session-1's unused token", got, first)
	}
	// A used token conflicts the same way.
	if err := st.CreateRefresh(ctx, dup); !errors.Is(err, authd.ErrConflict) {
		t.Errorf("CreateRefresh(same hash as a used token) = %v, want ErrConflict", err)
	}
	wantMax(t, st, "session-2", -1)
}

func testMaxUsedGeneration(t *testing.T, st token.RefreshStore) {
	const sid = "session-1"
	g0 := New(sid, 0, t0)
	mustCreate(t, st, g0)
	wantMax(t, st, sid, -1) // created, not used
	mustUse(t, st, g0.Hash, t0.Add(time.Minute))
	wantMax(t, st, sid, 0)

	// Two siblings of generation 1 (a retried refresh), then generation 2.
	g1a, g1b := New(sid, 1, t0.Add(time.Minute)), New(sid, 1, t0.Add(time.Minute))
	g2 := New(sid, 2, t0.Add(2*time.Minute))
	mustCreate(t, st, g1a)
	mustCreate(t, st, g1b)
	mustCreate(t, st, g2)
	wantMax(t, st, sid, 0)
	mustUse(t, st, g1a.Hash, t0.Add(2*time.Minute))
	wantMax(t, st, sid, 1)
	mustUse(t, st, g2.Hash, t0.Add(3*time.Minute))
	wantMax(t, st, sid, 2)
	// Using the stale sibling afterwards does not lower it.
	mustUse(t, st, g1b.Hash, t0.Add(4*time.Minute))
	wantMax(t, st, sid, 2)
	// Reusing an old one changes nothing either.
	if _, first := mustUse(t, st, g0.Hash, t0.Add(5*time.Minute)); first {
		t.Error("reuse of generation 0: first = true")
	}
	wantMax(t, st, sid, 2)

	// Other sessions are separate, both ways.
	other := New("session-2", 7, t0)
	mustCreate(t, st, other)
	wantMax(t, st, "session-2", -1)
	mustUse(t, st, other.Hash, t0.Add(time.Minute))
	wantMax(t, st, "session-2", 7)
	wantMax(t, st, sid, 2)
	// An unused later generation does not count.
	mustCreate(t, st, New(sid, 9, t0.Add(5*time.Minute)))
	wantMax(t, st, sid, 2)
}

func testExpired(t *testing.T, st token.RefreshStore) {
	rt := New("session-1", 0, t0.Add(-31*24*time.Hour))
	mustCreate(t, st, rt)
	if !rt.ExpiresAt.Before(t0) {
		t.Fatal("test token is not expired")
	}
	got, first := mustUse(t, st, rt.Hash, t0)
	if !first || !got.UsedAt.Equal(t0) || !got.ExpiresAt.Equal(rt.ExpiresAt) {
		t.Errorf("UseRefresh(expired) = %+v, first %v; want it returned, first, UsedAt %v", got, first, t0)
	}
	// At the expiry instant itself too.
	edge := New("session-1", 1, t0)
	edge.ExpiresAt = t0.Add(time.Hour)
	mustCreate(t, st, edge)
	if _, first := mustUse(t, st, edge.Hash, edge.ExpiresAt); !first {
		t.Error("UseRefresh at the expiry instant: first = false, want true")
	}
}

func testDeleteExpired(t *testing.T, st token.RefreshStore) {
	ctx := context.Background()
	const sid = "session-1"
	mk := func(gen int, expires time.Time) *token.Refresh {
		rt := New(sid, gen, t0.Add(-48*time.Hour))
		rt.ExpiresAt = expires
		mustCreate(t, st, rt)
		return rt
	}
	old := mk(0, t0.Add(-time.Hour))
	oldUsed := mk(1, t0.Add(-time.Microsecond))
	mustUse(t, st, oldUsed.Hash, t0.Add(-2*time.Hour))
	edge := mk(2, t0) // expires at before: not before it, so kept
	live := mk(3, t0.Add(time.Hour))
	n, err := st.DeleteExpiredRefresh(ctx, t0)
	if err != nil || n != 2 {
		t.Fatalf("DeleteExpiredRefresh = %d, %v; want 2", n, err)
	}
	for name, rt := range map[string]*token.Refresh{"old": old, "old used": oldUsed} {
		_, err := st.RefreshByHash(ctx, rt.Hash)
		wantNotFound(t, "RefreshByHash("+name+" deleted)", err)
		_, _, err = st.UseRefresh(ctx, rt.Hash, t0.Add(-3*time.Hour))
		wantNotFound(t, "UseRefresh("+name+" deleted)", err)
	}
	for name, rt := range map[string]*token.Refresh{"edge": edge, "live": live} {
		if _, first, err := st.UseRefresh(ctx, rt.Hash, t0); err != nil || !first {
			t.Errorf("UseRefresh(%s) = first %v, %v; want kept and unused", name, first, err)
		}
	}
	n, err = st.DeleteExpiredRefresh(ctx, t0)
	if err != nil || n != 0 {
		t.Errorf("second DeleteExpiredRefresh = %d, %v; want 0", n, err)
	}
	n, err = st.DeleteExpiredRefresh(ctx, t0.Add(time.Hour+time.Microsecond))
	if err != nil || n != 2 {
		t.Errorf("DeleteExpiredRefresh(later) = %d, %v; want 2", n, err)
	}
	wantMax(t, st, sid, -1)
}

func testCancelled(t *testing.T, st token.RefreshStore) {
	rt := New("session-1", 0, t0.Add(-48*time.Hour))
	rt.ExpiresAt = t0.Add(-time.Hour)
	mustCreate(t, st, rt)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fresh := New("session-1", 1, t0)
	checks := map[string]error{}
	checks["CreateRefresh"] = st.CreateRefresh(ctx, fresh)
	_, _, checks["UseRefresh"] = st.UseRefresh(ctx, rt.Hash, t0)
	_, checks["MaxUsedGeneration"] = st.MaxUsedGeneration(ctx, "session-1")
	_, checks["RefreshByHash"] = st.RefreshByHash(ctx, rt.Hash)
	_, checks["DeleteExpiredRefresh"] = st.DeleteExpiredRefresh(ctx, t0)
	_, checks["PruneRefresh"] = st.PruneRefresh(ctx, "session-1", 10)
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", name, err)
		}
	}
	// Nothing changed.
	bg := context.Background()
	if _, _, err := st.UseRefresh(bg, fresh.Hash, t0); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("token created with a cancelled context: UseRefresh = %v, want ErrNotFound", err)
	}
	if _, first, err := st.UseRefresh(bg, rt.Hash, t0); err != nil || !first {
		t.Errorf("token after cancelled calls: UseRefresh = first %v, %v; want kept and unused", first, err)
	}
}

// testPrune: old used generations of one session go; unused tokens, later
// generations and other sessions stay, and MaxUsedGeneration is intact.
func testPrune(t *testing.T, st token.RefreshStore) {
	ctx := context.Background()
	var chain []*token.Refresh
	for gen := range 5 {
		rt := New("session-1", gen, t0.Add(time.Duration(gen)*time.Minute))
		mustCreate(t, st, rt)
		chain = append(chain, rt)
	}
	for _, rt := range chain[:4] { // generations 0-3 used, 4 is the live one
		mustUse(t, st, rt.Hash, t0.Add(time.Hour))
	}
	unusedOld := New("session-1", 1, t0) // a sibling that was never used
	mustCreate(t, st, unusedOld)
	other := New("session-2", 0, t0)
	mustCreate(t, st, other)
	mustUse(t, st, other.Hash, t0.Add(time.Hour))

	n, err := st.PruneRefresh(ctx, "session-1", 2)
	if err != nil || n != 2 {
		t.Fatalf("PruneRefresh(below 2) = %d, %v; want 2 (generations 0 and 1, used)", n, err)
	}
	for _, rt := range chain[:2] {
		_, err := st.RefreshByHash(ctx, rt.Hash)
		wantNotFound(t, fmt.Sprintf("pruned generation %d", rt.Generation), err)
	}
	for _, rt := range append(chain[2:], unusedOld, other) {
		if _, err := st.RefreshByHash(ctx, rt.Hash); err != nil {
			t.Errorf("kept token (session %s gen %d): %v", rt.SessionID, rt.Generation, err)
		}
	}
	wantMax(t, st, "session-1", 3)
	wantMax(t, st, "session-2", 0)
	if n, err := st.PruneRefresh(ctx, "session-1", 2); err != nil || n != 0 {
		t.Errorf("second PruneRefresh = %d, %v; want 0", n, err)
	}
}

// testConcurrentChains: many sessions rotate their chains at once.
func testConcurrentChains(t *testing.T, st token.RefreshStore) {
	ctx := context.Background()
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*2)
	for w := range workers {
		wg.Go(func() {
			sid := fmt.Sprintf("session-%d", w)
			for gen := range each {
				rt := New(sid, gen, t0)
				if err := st.CreateRefresh(ctx, rt); err != nil {
					errs <- fmt.Errorf("create: %w", err)
					continue
				}
				if _, first, err := st.UseRefresh(ctx, rt.Hash, t0.Add(time.Duration(gen)*time.Second)); err != nil || !first {
					errs <- fmt.Errorf("use: first %v, %v; want true, nil", first, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range workers {
		wantMax(t, st, fmt.Sprintf("session-%d", w), each-1)
	}
}

// testConcurrentUse is the race the store exists to settle: of many
// concurrent redemptions of one token exactly one is first, and every
// other caller sees that first use.
func testConcurrentUse(t *testing.T, st token.RefreshStore) {
	const callers, rounds = 50, 5
	for round := range rounds {
		rt := New(fmt.Sprintf("session-%d", round), 0, t0)
		mustCreate(t, st, rt)
		type result struct {
			at    time.Time
			rt    *token.Refresh
			first bool
			err   error
		}
		results := make([]result, callers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				at := t0.Add(time.Duration(i+1) * time.Microsecond)
				<-start
				got, first, err := st.UseRefresh(context.Background(), rt.Hash, at)
				results[i] = result{at, got, first, err}
			})
		}
		close(start)
		wg.Wait()
		var winner *result
		for i := range results {
			r := &results[i]
			if r.err != nil {
				t.Errorf("round %d caller %d: UseRefresh = %v, want nil", round, i, r.err)
				continue
			}
			if r.first {
				if winner != nil {
					t.Errorf("round %d: callers at %v and %v both got first == true", round, winner.at, r.at)
				}
				winner = r
			}
		}
		if winner == nil {
			t.Fatalf("round %d: no caller got first == true", round)
		}
		for i, r := range results {
			if r.err != nil {
				continue
			}
			if r.rt == nil || !r.rt.UsedAt.Equal(winner.at) || !bytes.Equal(r.rt.Hash, rt.Hash) || r.rt.SessionID != rt.SessionID {
				t.Errorf("round %d caller %d: got %+v; want the token with UsedAt %v (the winner's)", round, i, r.rt, winner.at)
			}
		}
		wantMax(t, st, rt.SessionID, 0)
	}
}
