// Package authcodetest is the conformance suite for authcode.Store. Every
// backend runs it from its own tests:
//
//	func TestCodeConformance(t *testing.T) {
//		authcodetest.Run(t, func(t *testing.T) authcode.Store { return newStore(t) })
//	}
//
// A backend is done when the suite passes unchanged. It holds every backend
// to single use (RFC 6749 §4.1.2: of 100 concurrent redemptions of one code
// exactly one gets it) and to the Redeem/Confirm handshake of the authcode
// package doc (RFC 9700 §4.5: a replayed code ends what its first
// redemption issued, whichever of the replay and the Confirm comes first).
package authcodetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/authcode"
	"github.com/google/go-cmp/cmp"
)

// t0 is the suite's clock origin; times are UTC with microsecond precision,
// which every backend must round-trip exactly.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// Run runs the suite. newStore must return an empty store for each call; it
// is called once per subtest and should register its own cleanup.
func Run(t *testing.T, newStore func(t *testing.T) authcode.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st authcode.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Missing", testMissing},
		{"Conflict", testConflict},
		{"Reused", testReused},
		{"Handshake", testHandshake},
		{"ConfirmUnredeemed", testConfirmUnredeemed},
		{"Expired", testExpired},
		{"DeleteExpired", testDeleteExpired},
		{"CancelledContext", testCancelled},
		{"RaceRedeem", testRaceRedeem},
		{"RaceHandshake", testRaceHandshake},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// NewHash returns the SHA-256 of a fresh random code.
func NewHash() []byte {
	var code [32]byte
	rand.Read(code[:])
	h := sha256.Sum256(code[:])
	return h[:]
}

// New returns an unredeemed code created at at, valid for 60 s, with a
// fresh random hash and every field set.
func New(at time.Time) *authcode.Code {
	return &authcode.Code{
		Hash:           NewHash(),
		ClientID:       "client-1",
		RedirectURI:    "https://app.example/callback?x=1",
		Challenge:      "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		UserID:         "user-1",
		Scope:          "openid profile offline_access",
		Nonce:          "n-0S6_WzA2Mj",
		AuthTime:       at.Add(-5 * time.Minute),
		AMR:            "pwd",
		BrowserSession: "browser-session-1",
		CreatedAt:      at,
		ExpiresAt:      at.Add(60 * time.Second),
	}
}

func clone(c *authcode.Code) *authcode.Code {
	d := *c
	d.Hash = slices.Clone(c.Hash)
	return &d
}

func mustCreate(t *testing.T, st authcode.Store, c *authcode.Code) *authcode.Code {
	t.Helper()
	if err := st.CreateCode(context.Background(), c); err != nil {
		t.Fatalf("CreateCode = %v, want nil", err)
	}
	return c
}

// redeemFirst redeems c at at and wants the first redemption.
func redeemFirst(t *testing.T, st authcode.Store, c *authcode.Code, at time.Time) *authcode.Code {
	t.Helper()
	got, err := st.RedeemCode(context.Background(), c.Hash, at)
	if err != nil {
		t.Fatalf("first RedeemCode = %+v, %v; want the code, nil", got, err)
	}
	return got
}

// redeemAgain redeems c at at and wants a replay: the code with
// authd.ErrTokenReused.
func redeemAgain(t *testing.T, st authcode.Store, c *authcode.Code, at time.Time) *authcode.Code {
	t.Helper()
	got, err := st.RedeemCode(context.Background(), c.Hash, at)
	if !errors.Is(err, authd.ErrTokenReused) || got == nil {
		t.Fatalf("RedeemCode(replay) = %+v, %v; want the code with ErrTokenReused", got, err)
	}
	return got
}

func confirm(t *testing.T, st authcode.Store, c *authcode.Code, sessionID string) bool {
	t.Helper()
	replayed, err := st.ConfirmCode(context.Background(), c.Hash, sessionID)
	if err != nil {
		t.Fatalf("ConfirmCode(%s) = %v, want nil", sessionID, err)
	}
	return replayed
}

func wantGone(t *testing.T, st authcode.Store, what string, hash []byte) {
	t.Helper()
	ctx := context.Background()
	if got, err := st.RedeemCode(ctx, hash, t0); !errors.Is(err, authd.ErrNotFound) || got != nil {
		t.Errorf("RedeemCode(%s) = %+v, %v; want nil, ErrNotFound", what, got, err)
	}
	if replayed, err := st.ConfirmCode(ctx, hash, "session-x"); !errors.Is(err, authd.ErrNotFound) || replayed {
		t.Errorf("ConfirmCode(%s) = %t, %v; want false, ErrNotFound", what, replayed, err)
	}
}

// testRoundTrip: every field comes back as it went in, with RedeemedAt and
// SessionID set by the store; the store keeps copies.
func testRoundTrip(t *testing.T, st authcode.Store) {
	tests := []struct {
		name string
		edit func(c *authcode.Code)
	}{
		{"every field", func(c *authcode.Code) {}},
		{"hostile text", func(c *authcode.Code) {
			c.ClientID = "client 'quoted' \"double\" ; DROP TABLE x; --"
			c.RedirectURI = "https://app.example/cb?a=1&b=%00|2:3\n"
			c.UserID = "user-ünïcödé ✓"
			c.Scope = "openid\temail"
			c.Nonce = "nonce:with|separators:12:"
			c.AMR = "pwd otp"
			c.BrowserSession = "{s:hash-tag}"
			c.Hash[0], c.Hash[31] = 0x00, 0xff
		}},
		{"empty optional fields", func(c *authcode.Code) {
			c.Scope, c.Nonce, c.AMR, c.BrowserSession = "", "", "", ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(t0)
			c.AuthTime = t0.Add(-time.Hour + 7*time.Microsecond)
			tt.edit(c)
			want := clone(c)
			mustCreate(t, st, c)
			// The store copied its input: changing it changes nothing stored.
			c.ClientID = "changed"
			c.Hash[1] ^= 0xff
			at := t0.Add(10*time.Second + 3*time.Microsecond)
			got := redeemFirst(t, st, want, at)
			want.RedeemedAt = at
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("RedeemCode (-want +got):\n%s", diff)
			}
			got.Hash[5] ^= 0xff // a copy
			got.SessionID = "changed"
			if replayed := confirm(t, st, want, "session-1"); replayed {
				t.Errorf("ConfirmCode = replayed, want not replayed")
			}
			got = redeemAgain(t, st, want, at.Add(time.Second))
			want.SessionID = "session-1"
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("RedeemCode(replay) (-want +got):\n%s", diff)
			}
		})
	}
}

// testMissing: an unknown hash, or one that is not 32 bytes, is
// ErrNotFound; the misses change nothing.
func testMissing(t *testing.T, st authcode.Store) {
	c := mustCreate(t, st, New(t0))
	h := sha256.Sum256([]byte("nobody"))
	tests := []struct {
		name string
		hash []byte
	}{
		{"unknown", h[:]},
		{"nil", nil},
		{"empty", []byte{}},
		{"short", c.Hash[:16]},
		{"long", append(slices.Clone(c.Hash), 0)},
	}
	for _, tt := range tests {
		wantGone(t, st, tt.name, tt.hash)
	}
	redeemFirst(t, st, c, t0.Add(time.Second))
}

// testConflict: a hash that is stored already, redeemed or not, is
// ErrConflict and leaves the stored code alone; a hash that is not 32
// bytes is refused.
func testConflict(t *testing.T, st authcode.Store) {
	ctx := context.Background()
	c := mustCreate(t, st, New(t0))
	want := clone(c)
	dup := New(t0.Add(time.Minute))
	dup.Hash = slices.Clone(c.Hash)
	dup.ClientID, dup.UserID = "client-2", "user-2"
	if err := st.CreateCode(ctx, dup); !errors.Is(err, authd.ErrConflict) {
		t.Errorf("CreateCode(same hash) = %v, want ErrConflict", err)
	}
	got := redeemFirst(t, st, c, t0.Add(time.Second))
	want.RedeemedAt = t0.Add(time.Second)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after the conflict (-want +got):\n%s", diff)
	}
	if err := st.CreateCode(ctx, dup); !errors.Is(err, authd.ErrConflict) {
		t.Errorf("CreateCode(same hash as a redeemed code) = %v, want ErrConflict", err)
	}
	// Creating over a redeemed code must not make it redeemable again.
	redeemAgain(t, st, c, t0.Add(2*time.Second))
	for _, n := range []int{0, 16, 33} {
		bad := New(t0)
		bad.Hash = make([]byte, n)
		var ve *authd.ValidationError
		if err := st.CreateCode(ctx, bad); !errors.As(err, &ve) {
			t.Errorf("CreateCode(%d-byte hash) = %v, want a ValidationError", n, err)
		}
	}
}

// testReused: every redemption after the first is a replay (RFC 6749
// §4.1.2: a code is used once), and reports the first one's instant.
func testReused(t *testing.T, st authcode.Store) {
	c := mustCreate(t, st, New(t0))
	first := t0.Add(time.Second)
	redeemFirst(t, st, c, first)
	for i, at := range []time.Time{first, first.Add(time.Second), first.Add(-time.Second)} {
		got := redeemAgain(t, st, c, at)
		if !got.RedeemedAt.Equal(first) || got.SessionID != "" || got.ClientID != c.ClientID {
			t.Errorf("replay %d at %v: RedeemedAt %v, SessionID %q, client %q; want %v, none, %q",
				i, at, got.RedeemedAt, got.SessionID, got.ClientID, first, c.ClientID)
		}
	}
}

// testHandshake: the Redeem/Confirm handshake in both orders. Whichever
// of the winner's Confirm and a replay comes second sees the other's
// mark, so the winner's session is ended (RFC 9700 §4.5).
func testHandshake(t *testing.T, st authcode.Store) {
	type step int
	const (
		replay step = iota + 1
		confirmed
	)
	tests := []struct {
		name  string
		steps []step
		// What each replay reports as SessionID, in order, and what
		// Confirm reports.
		wantSessions []string
		wantReplayed bool
	}{
		{"replay before Confirm", []step{replay, confirmed}, []string{""}, true},
		{"Confirm before replay", []step{confirmed, replay}, []string{"session-1"}, false},
		{"replays on both sides", []step{replay, confirmed, replay, replay}, []string{"", "session-1", "session-1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCreate(t, st, New(t0))
			redeemFirst(t, st, c, t0.Add(time.Second))
			var sessions []string
			var replayed bool
			for i, s := range tt.steps {
				switch s {
				case replay:
					sessions = append(sessions, redeemAgain(t, st, c, t0.Add(time.Duration(2+i)*time.Second)).SessionID)
				case confirmed:
					replayed = confirm(t, st, c, "session-1")
				}
			}
			if !slices.Equal(sessions, tt.wantSessions) || replayed != tt.wantReplayed {
				t.Errorf("replays saw sessions %q, Confirm replayed = %t; want %q, %t",
					sessions, replayed, tt.wantSessions, tt.wantReplayed)
			}
		})
	}
}

// testConfirmUnredeemed: Confirm records the session of a redemption; on
// a code nobody redeemed there is none to record (ErrNotFound, nothing
// written), and the code still redeems once.
func testConfirmUnredeemed(t *testing.T, st authcode.Store) {
	c := mustCreate(t, st, New(t0))
	if replayed, err := st.ConfirmCode(context.Background(), c.Hash, "session-1"); !errors.Is(err, authd.ErrNotFound) || replayed {
		t.Errorf("ConfirmCode(unredeemed) = %t, %v; want false, ErrNotFound", replayed, err)
	}
	if got := redeemFirst(t, st, c, t0.Add(time.Second)); got.SessionID != "" {
		t.Errorf("RedeemCode after an early Confirm: SessionID %q, want none", got.SessionID)
	}
}

// testExpired: expiry is the caller's to check; the store marks an
// expired code redeemed like any other, so its replay is still caught.
func testExpired(t *testing.T, st authcode.Store) {
	c := mustCreate(t, st, New(t0))
	at := c.ExpiresAt.Add(time.Hour)
	got := redeemFirst(t, st, c, at)
	if !got.RedeemedAt.Equal(at) || !got.ExpiresAt.Equal(c.ExpiresAt) {
		t.Errorf("RedeemCode(expired) = RedeemedAt %v, ExpiresAt %v; want %v, %v", got.RedeemedAt, got.ExpiresAt, at, c.ExpiresAt)
	}
	redeemAgain(t, st, c, at.Add(time.Second))
}

// testDeleteExpired: DeleteExpiredCodes removes the codes whose ExpiresAt
// is before the cut-off, redeemed or not, and counts them.
func testDeleteExpired(t *testing.T, st authcode.Store) {
	ctx := context.Background()
	mk := func(expires time.Time) *authcode.Code {
		c := New(expires.Add(-time.Minute))
		c.ExpiresAt = expires
		return mustCreate(t, st, c)
	}
	old := mk(t0.Add(-time.Hour))
	oldRedeemed := mk(t0.Add(-time.Microsecond))
	redeemFirst(t, st, oldRedeemed, t0.Add(-time.Minute))
	confirm(t, st, oldRedeemed, "session-1")
	edge := mk(t0) // expires at the cut-off: not before it, so kept
	live := mk(t0.Add(time.Hour))
	liveRedeemed := mk(t0.Add(time.Hour))
	redeemFirst(t, st, liveRedeemed, t0)
	n, err := st.DeleteExpiredCodes(ctx, t0)
	if err != nil || n != 2 {
		t.Fatalf("DeleteExpiredCodes = %d, %v; want 2", n, err)
	}
	wantGone(t, st, "old", old.Hash)
	wantGone(t, st, "old redeemed", oldRedeemed.Hash)
	redeemAgain(t, st, liveRedeemed, t0.Add(time.Second))
	n, err = st.DeleteExpiredCodes(ctx, t0)
	if err != nil || n != 0 {
		t.Errorf("second DeleteExpiredCodes = %d, %v; want 0", n, err)
	}
	redeemFirst(t, st, edge, t0)
	redeemFirst(t, st, live, t0)
	n, err = st.DeleteExpiredCodes(ctx, t0.Add(time.Hour+time.Microsecond))
	if err != nil || n != 3 {
		t.Errorf("DeleteExpiredCodes(later) = %d, %v; want 3", n, err)
	}
	for name, c := range map[string]*authcode.Code{"edge": edge, "live": live, "live redeemed": liveRedeemed} {
		wantGone(t, st, name, c.Hash)
	}
}

// testCancelled: every method honours a cancelled context and writes
// nothing.
func testCancelled(t *testing.T, st authcode.Store) {
	c := mustCreate(t, st, New(t0))
	redeemed := mustCreate(t, st, New(t0))
	redeemFirst(t, st, redeemed, t0)
	old := New(t0.Add(-time.Hour))
	old.ExpiresAt = t0.Add(-30 * time.Minute)
	mustCreate(t, st, old)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fresh := New(t0)
	checks := map[string]error{}
	checks["CreateCode"] = st.CreateCode(ctx, fresh)
	_, checks["RedeemCode"] = st.RedeemCode(ctx, c.Hash, t0)
	_, checks["ConfirmCode"] = st.ConfirmCode(ctx, redeemed.Hash, "session-1")
	_, checks["DeleteExpiredCodes"] = st.DeleteExpiredCodes(ctx, t0)
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", name, err)
		}
	}
	// Nothing changed.
	wantGone(t, st, "code created with a cancelled context", fresh.Hash)
	redeemFirst(t, st, c, t0.Add(time.Second))
	if replayed := confirm(t, st, redeemed, "session-2"); replayed {
		t.Errorf("ConfirmCode = replayed, want not replayed")
	}
	if got := redeemAgain(t, st, redeemed, t0.Add(time.Second)); got.SessionID != "session-2" {
		t.Errorf("replay: SessionID %q, want session-2 (the cancelled Confirm wrote nothing)", got.SessionID)
	}
	redeemFirst(t, st, old, t0)
}

// callers is the number of concurrent redemptions of one code.
const callers = 100

// testRaceRedeem is the race single use exists to settle (RFC 6749
// §4.1.2): of 100 concurrent redemptions of one code exactly one gets it,
// the 99 others get ErrTokenReused and the winner's RedeemedAt.
func testRaceRedeem(t *testing.T, st authcode.Store) {
	for round := range 3 {
		c := mustCreate(t, st, New(t0))
		got := make([]*authcode.Code, callers)
		errs := make([]error, callers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range callers {
			wg.Go(func() {
				<-start
				got[i], errs[i] = st.RedeemCode(context.Background(), c.Hash, t0.Add(time.Duration(i)*time.Microsecond))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		reused := 0
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: callers %d and %d both redeemed the code", round, winner, i)
				}
				winner = i
			case errors.Is(err, authd.ErrTokenReused):
				reused++
			default:
				t.Fatalf("round %d caller %d: RedeemCode = %v", round, i, err)
			}
		}
		if winner < 0 || reused != callers-1 {
			t.Fatalf("round %d: winner %d, %d reused; want one winner, %d reused", round, winner, reused, callers-1)
		}
		at := t0.Add(time.Duration(winner) * time.Microsecond)
		for i, g := range got {
			if g == nil || !g.RedeemedAt.Equal(at) || !slices.Equal(g.Hash, c.Hash) {
				t.Fatalf("round %d caller %d: got %+v; want the code redeemed at the winner's %v", round, i, g, at)
			}
		}
	}
}

// testRaceHandshake: 100 goroutines at once on one code, each doing what
// the token endpoint does: redeem, and Confirm a session on winning (half
// the round's delay later, the time it takes to create the session). Half
// start at once (the winner is almost always one of them), half a little
// later, spread over the delay, which grows from round to round, so
// replays land on both sides of the winner's Confirm. Whatever the interleaving,
// the winner's session is reported: Confirm says replayed, or a replay
// gets its SessionID (RFC 9700 §4.5) — never both miss. And when Confirm
// says not replayed, every replay came after it and must have seen the
// session.
func testRaceHandshake(t *testing.T, st authcode.Store) {
	delays := []time.Duration{0, 0, 50 * time.Microsecond, 200 * time.Microsecond, time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond}
	var confirmSaw, replaySaw int
	for round, delay := range delays {
		c := mustCreate(t, st, New(t0))
		sid := fmt.Sprintf("session-%d", round)
		type result struct {
			won       bool
			replayed  bool   // what the winner's Confirm reported
			sessionID string // what a replay reported
			err       error
		}
		results := make([]result, callers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range callers {
			wg.Go(func() {
				<-start
				if i%2 == 1 && delay > 0 {
					time.Sleep(time.Duration(i) * delay / callers)
				}
				ctx := context.Background()
				r := &results[i]
				got, err := st.RedeemCode(ctx, c.Hash, t0.Add(time.Duration(i)*time.Microsecond))
				switch {
				case err == nil:
					// The token endpoint creates the session in between.
					runtime.Gosched()
					time.Sleep(delay / 2)
					r.won = true
					r.replayed, r.err = st.ConfirmCode(ctx, c.Hash, sid)
				case errors.Is(err, authd.ErrTokenReused):
					r.sessionID = got.SessionID
				default:
					r.err = err
				}
			})
		}
		close(start)
		wg.Wait()
		winners, sawSession := 0, 0
		var replayed bool
		for i, r := range results {
			if r.err != nil {
				t.Fatalf("round %d caller %d: %v", round, i, r.err)
			}
			if r.won {
				winners++
				replayed = r.replayed
			}
			switch r.sessionID {
			case "":
			case sid:
				sawSession++
			default:
				t.Fatalf("round %d caller %d: replay saw session %q, want %q or none", round, i, r.sessionID, sid)
			}
		}
		switch {
		case winners != 1:
			t.Fatalf("round %d: %d winners, want 1", round, winners)
		case !replayed && sawSession == 0:
			t.Fatalf("round %d: Confirm reported no replay and no replay saw the session: the replay went unnoticed", round)
		case !replayed && sawSession != callers-1:
			t.Fatalf("round %d: Confirm reported no replay, yet only %d of %d replays saw the session", round, sawSession, callers-1)
		}
		if replayed {
			confirmSaw++
		}
		if sawSession > 0 {
			replaySaw++
		}
	}
	t.Logf("%d rounds: Confirm saw a replay in %d, a replay saw the session in %d", len(delays), confirmSaw, replaySaw)
}
