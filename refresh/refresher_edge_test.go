package refresh_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/session"
)

// TestRefreshExpiredToken: a refresh token past its own ExpiresAt is
// refused even if its session were somehow still live.
func TestRefreshExpiredToken(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, grace)
		_, sess := f.start(t)
		tok, hash := mintRefresh(t, macKey, sess.ID, 0)
		rt := &refresh.Refresh{
			Hash: hash, SessionID: sess.ID, UserID: "user-1", ClientID: "client-1",
			IssuedAt: f.clk.Now().UTC(), ExpiresAt: f.clk.Now().UTC().Add(time.Minute),
		}
		if err := f.store.CreateRefresh(context.Background(), rt); err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(time.Minute)
		f.wantErr(t, tok, refresh.ErrInvalidGrant)
		f.wantSessionLive(t, sess.ID)
	})
}

// macKey is the fixtures' refresh-token MAC key.
var macKey = []byte("0123456789abcdef0123456789abcdef")

// mintRefresh builds a refresh token of session sid and generation gen by
// hand, exactly as authd always has (so this is also the wire format's
// specification): "<sid>.<gen>.<base64url(32 random bytes)>.<MAC>", MAC =
// base64url(HMAC-SHA-256(key, "<sid>.<gen>.<secret>")[:16]). It returns
// the token and its SHA-256, the stored hash.
func mintRefresh(t *testing.T, key []byte, sid string, gen int) (string, []byte) {
	t.Helper()
	var raw [32]byte
	rand.Read(raw[:])
	head := sid + "." + strconv.Itoa(gen) + "." + base64.RawURLEncoding.EncodeToString(raw[:])
	m := hmac.New(sha256.New, key)
	m.Write([]byte(head))
	tok := head + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
	h := sha256.Sum256([]byte(tok))
	return tok, h[:]
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
		// A well-shaped token with a MAC under another key is not ours.
		forged, _ := mintRefresh(t, []byte("another key"), sess.ID, 0)
		cases["forged MAC"] = forged
		before := f.store.calls.Load()
		for name, tok := range cases {
			t.Run(name, func(t *testing.T) {
				f.wantErr(t, tok, refresh.ErrInvalidGrant)
				if _, err := f.r.Lookup(context.Background(), tok); !errors.Is(err, authd.ErrNotFound) {
					t.Errorf("Lookup = %v, want ErrNotFound", err)
				}
			})
		}
		if n := f.store.calls.Load() - before; n != 0 {
			t.Errorf("malformed and forged tokens made %d store calls, want 0", n)
		}
		// A genuine token that was never stored does reach the store, and
		// is invalid.
		unknown, _ := mintRefresh(t, macKey, sess.ID, 7)
		f.wantErr(t, unknown, refresh.ErrInvalidGrant)
		if n := f.store.calls.Load() - before; n != 1 {
			t.Errorf("an unknown genuine token made %d store calls, want 1", n)
		}
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
		unknown, _ := mintRefresh(t, macKey, sess.ID, 5)
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
			g, err := f.redeem(tok)
			if err != nil {
				results[i] = result{err: err}
				return
			}
			results[i] = result{g.Token, g.Session, nil}
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
		case errors.Is(r.err, refresh.ErrInvalidGrant):
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
	r := refresh.New(refresh.Config{Store: failingCreate{st}, Sessions: mgr, Now: clk.Now})
	g, err := r.Start(context.Background(), "user-1", "c", "", session.Meta{})
	if err == nil || g != nil {
		t.Fatalf("Start with a failing store = %+v, %v; want an error", g, err)
	}
	list, err := mgr.List(context.Background(), "user-1")
	if err != nil || len(list) != 0 {
		t.Fatalf("sessions left after a failed Start: %v, %v", list, err)
	}
}

type failingCreate struct{ refresh.Store }

func (failingCreate) CreateRefresh(context.Context, *refresh.Refresh) error {
	return fmt.Errorf("disk full: %w", authd.ErrUnavailable)
}
