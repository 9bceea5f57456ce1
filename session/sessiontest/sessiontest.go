// Package sessiontest is the conformance suite for session.Store. Every
// backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		sessiontest.Run(t, func(t *testing.T) session.Store { return newStore(t) })
//	}
//
// A backend is done when the suite passes unchanged.
package sessiontest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/session"
	"github.com/google/go-cmp/cmp"
)

// t0 is the suite's clock origin; times are UTC with microsecond precision,
// which every backend must round-trip exactly.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// Run runs the suite. newStore must return an empty store for each call; it
// is called once per subtest and should register its own cleanup.
func Run(t *testing.T, newStore func(t *testing.T) session.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st session.Store)
	}{
		{"CreateAndGet", testCreateAndGet},
		{"Missing", testMissing},
		{"Conflict", testConflict},
		{"Expiry", testExpiry},
		{"Touch", testTouch},
		{"Revoke", testRevoke},
		{"RevokeTwice", testRevokeTwice},
		{"RevokeUserSessions", testRevokeUser},
		{"List", testList},
		{"DeleteExpired", testDeleteExpired},
		{"CancelledContext", testCancelled},
		{"ConcurrentUse", testConcurrent},
		{"ConcurrentRevoke", testConcurrentRevoke},
		{"HostileUserAgent", testHostileUserAgent},
		{"ClientID", testClientID},
		{"AMR", testAMR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

// New returns a fresh live session of userID created at t0, and its hash.
func New(userID string, at time.Time) (*session.Session, []byte) {
	var secret [32]byte
	rand.Read(secret[:])
	h := sha256.Sum256(secret[:])
	return &session.Session{
		ID:            rand.Text(),
		UserID:        userID,
		Kind:          session.KindCookie,
		CreatedAt:     at,
		LastSeenAt:    at,
		IdleExpiresAt: at.Add(30 * time.Minute),
		ExpiresAt:     at.Add(24 * time.Hour),
		IP:            "192.0.2.1",
		UserAgent:     "Mozilla/5.0 (X11; Linux x86_64) sessiontest",
	}, h[:]
}

func mustCreate(t *testing.T, st session.Store, s *session.Session, h []byte) {
	t.Helper()
	if err := st.CreateSession(context.Background(), s, h); err != nil {
		t.Fatalf("CreateSession(%s) = %v, want nil", s.ID, err)
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, authd.ErrNotFound) {
		t.Fatalf("%s: err = %v, want ErrNotFound", what, err)
	}
}

func testCreateAndGet(t *testing.T, st session.Store) {
	ctx := context.Background()
	s, h := New("user-1", t0)
	s.Kind = session.KindToken
	s.UserAgent = "Mozilla/5.0 ünïcödé ✓ 'quoted' \"double\""
	s.IP = "2001:db8::1"
	s.ClientID = "client 'app' ✓"
	s.AMR = []string{"pwd", "otp", "mfa"}
	s.AuthTime = t0.Add(-time.Minute)
	mustCreate(t, st, s, h)
	got, err := st.SessionByHash(ctx, h, t0.Add(time.Second))
	if err != nil {
		t.Fatalf("SessionByHash = %v", err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("SessionByHash mismatch (-want +got):\n%s", diff)
	}
	got, err = st.SessionByID(ctx, s.ID, t0.Add(time.Second))
	if err != nil {
		t.Fatalf("SessionByID = %v", err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("SessionByID mismatch (-want +got):\n%s", diff)
	}
	// The returned value is a copy: changing it changes nothing stored.
	got.UserID = "someone-else"
	again, _ := st.SessionByID(ctx, s.ID, t0)
	if again.UserID != "user-1" {
		t.Errorf("store returned a shared pointer: UserID = %q", again.UserID)
	}
}

func testMissing(t *testing.T, st session.Store) {
	ctx := context.Background()
	h := sha256.Sum256([]byte("nobody"))
	_, err := st.SessionByHash(ctx, h[:], t0)
	wantNotFound(t, "SessionByHash(unknown)", err)
	_, err = st.SessionByHash(ctx, nil, t0)
	wantNotFound(t, "SessionByHash(nil)", err)
	_, err = st.SessionByID(ctx, "no-such-id", t0)
	wantNotFound(t, "SessionByID(unknown)", err)
	_, err = st.SessionByID(ctx, "' OR 1=1 --", t0)
	wantNotFound(t, "SessionByID(sql-looking)", err)
	wantNotFound(t, "TouchSession(unknown)", st.TouchSession(ctx, "no-such-id", t0, t0.Add(time.Hour)))
	wantNotFound(t, "RevokeSession(unknown)", st.RevokeSession(ctx, "no-such-id", t0))
	revoked, err := st.RevokeUserSessions(ctx, "no-such-user", "", t0)
	if err != nil || revoked == nil || len(revoked) != 0 {
		t.Errorf("RevokeUserSessions(unknown) = %v, %v; want empty non-nil slice, nil", revoked, err)
	}
	rs, err := st.RevokedSessions(ctx, t0.Add(-time.Hour))
	if err != nil || rs == nil || len(rs) != 0 {
		t.Errorf("RevokedSessions(empty store) = %v, %v; want empty non-nil slice, nil", rs, err)
	}
	list, err := st.ListSessions(ctx, "no-such-user", t0)
	if err != nil || list == nil || len(list) != 0 {
		t.Errorf("ListSessions(unknown) = %v, %v; want empty non-nil slice, nil", list, err)
	}
}

func testConflict(t *testing.T, st session.Store) {
	ctx := context.Background()
	s, h := New("user-1", t0)
	mustCreate(t, st, s, h)
	sameID, h2 := New("user-2", t0)
	sameID.ID = s.ID
	if err := st.CreateSession(ctx, sameID, h2); !errors.Is(err, authd.ErrConflict) {
		t.Errorf("CreateSession(same ID) = %v, want ErrConflict", err)
	}
	sameHash, _ := New("user-2", t0)
	if err := st.CreateSession(ctx, sameHash, h); !errors.Is(err, authd.ErrConflict) {
		t.Errorf("CreateSession(same hash) = %v, want ErrConflict", err)
	}
	// The first session is intact.
	got, err := st.SessionByHash(ctx, h, t0)
	if err != nil || got.UserID != "user-1" {
		t.Errorf("after conflicts SessionByHash = %v, %v; want user-1's session", got, err)
	}
}

func testExpiry(t *testing.T, st session.Store) {
	ctx := context.Background()
	s, h := New("user-1", t0)
	mustCreate(t, st, s, h)
	tests := []struct {
		name  string
		now   time.Time
		found bool
	}{
		{"at creation", t0, true},
		{"just before idle expiry", s.IdleExpiresAt.Add(-time.Microsecond), true},
		{"at idle expiry", s.IdleExpiresAt, false},
		{"after absolute expiry", s.ExpiresAt.Add(time.Hour), false},
	}
	for _, tt := range tests {
		_, err := st.SessionByHash(ctx, h, tt.now)
		_, err2 := st.SessionByID(ctx, s.ID, tt.now)
		if tt.found && (err != nil || err2 != nil) {
			t.Errorf("%s: lookups = %v, %v; want found", tt.name, err, err2)
		}
		if !tt.found && (!errors.Is(err, authd.ErrNotFound) || !errors.Is(err2, authd.ErrNotFound)) {
			t.Errorf("%s: lookups = %v, %v; want ErrNotFound", tt.name, err, err2)
		}
	}
	// Touching keeps it alive past the first idle limit, but never past
	// the absolute lifetime.
	last := t0.Add(20 * time.Hour)
	if err := st.TouchSession(ctx, s.ID, t0.Add(29*time.Minute), t0.Add(59*time.Minute)); err != nil {
		t.Fatalf("TouchSession = %v", err)
	}
	if _, err := st.SessionByHash(ctx, h, t0.Add(45*time.Minute)); err != nil {
		t.Errorf("after touch, SessionByHash at +45m = %v, want found", err)
	}
	if err := st.TouchSession(ctx, s.ID, last, s.ExpiresAt); err != nil {
		t.Fatalf("TouchSession = %v", err)
	}
	_, err := st.SessionByHash(ctx, h, s.ExpiresAt)
	wantNotFound(t, "SessionByHash at absolute expiry", err)
	list, err := st.ListSessions(ctx, "user-1", s.ExpiresAt)
	if err != nil || len(list) != 0 {
		t.Errorf("ListSessions after expiry = %d sessions, %v; want 0", len(list), err)
	}
}

func testTouch(t *testing.T, st session.Store) {
	ctx := context.Background()
	s, h := New("user-1", t0)
	mustCreate(t, st, s, h)
	seen, idle := t0.Add(5*time.Minute), t0.Add(35*time.Minute)
	if err := st.TouchSession(ctx, s.ID, seen, idle); err != nil {
		t.Fatalf("TouchSession = %v", err)
	}
	got, err := st.SessionByID(ctx, s.ID, seen)
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastSeenAt.Equal(seen) || !got.IdleExpiresAt.Equal(idle) {
		t.Errorf("after touch: last seen %v idle %v; want %v %v", got.LastSeenAt, got.IdleExpiresAt, seen, idle)
	}
	// An older touch (a slow concurrent request) never moves it back.
	if err := st.TouchSession(ctx, s.ID, t0.Add(time.Minute), t0.Add(31*time.Minute)); err != nil {
		t.Fatalf("TouchSession(older) = %v", err)
	}
	got, _ = st.SessionByID(ctx, s.ID, seen)
	if !got.LastSeenAt.Equal(seen) {
		t.Errorf("older touch moved last seen back to %v", got.LastSeenAt)
	}
	if err := st.RevokeSession(ctx, s.ID, seen); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, "TouchSession(revoked)", st.TouchSession(ctx, s.ID, seen.Add(time.Minute), idle.Add(time.Minute)))
}

func testRevoke(t *testing.T, st session.Store) {
	ctx := context.Background()
	s, h := New("user-1", t0)
	other, oh := New("user-1", t0)
	mustCreate(t, st, s, h)
	mustCreate(t, st, other, oh)
	if err := st.RevokeSession(ctx, s.ID, t0.Add(time.Minute)); err != nil {
		t.Fatalf("RevokeSession = %v", err)
	}
	_, err := st.SessionByHash(ctx, h, t0.Add(2*time.Minute))
	wantNotFound(t, "SessionByHash(revoked)", err)
	_, err = st.SessionByID(ctx, s.ID, t0.Add(2*time.Minute))
	wantNotFound(t, "SessionByID(revoked)", err)
	if _, err := st.SessionByHash(ctx, oh, t0.Add(2*time.Minute)); err != nil {
		t.Errorf("the other session: %v, want still live", err)
	}
	list, _ := st.ListSessions(ctx, "user-1", t0.Add(2*time.Minute))
	if len(list) != 1 || list[0].ID != other.ID {
		t.Errorf("ListSessions after revoke = %v, want only %s", ids(list), other.ID)
	}
}

func testRevokeTwice(t *testing.T, st session.Store) {
	ctx := context.Background()
	s, h := New("user-1", t0)
	mustCreate(t, st, s, h)
	if err := st.RevokeSession(ctx, s.ID, t0); err != nil {
		t.Fatalf("first RevokeSession = %v", err)
	}
	wantNotFound(t, "second RevokeSession", st.RevokeSession(ctx, s.ID, t0.Add(time.Second)))
}

func testRevokeUser(t *testing.T, st session.Store) {
	ctx := context.Background()
	var mine []*session.Session
	var hashes [][]byte
	for range 4 {
		s, h := New("user-1", t0)
		mustCreate(t, st, s, h)
		mine = append(mine, s)
		hashes = append(hashes, h)
	}
	theirs, th := New("user-2", t0)
	mustCreate(t, st, theirs, th)
	if err := st.RevokeSession(ctx, mine[3].ID, t0); err != nil {
		t.Fatal(err)
	}
	revoked, err := st.RevokeUserSessions(ctx, "user-1", mine[0].ID, t0.Add(time.Minute))
	slices.Sort(revoked)
	want := []string{mine[1].ID, mine[2].ID}
	slices.Sort(want)
	if err != nil || !slices.Equal(revoked, want) {
		t.Fatalf("RevokeUserSessions = %v, %v; want %v (4 minus the kept one minus the already revoked one)", revoked, err, want)
	}
	at := t0.Add(2 * time.Minute)
	if _, err := st.SessionByHash(ctx, hashes[0], at); err != nil {
		t.Errorf("kept session: %v, want live", err)
	}
	for i := 1; i < 4; i++ {
		_, err := st.SessionByHash(ctx, hashes[i], at)
		wantNotFound(t, fmt.Sprintf("revoked session %d", i), err)
	}
	if _, err := st.SessionByHash(ctx, th, at); err != nil {
		t.Errorf("another user's session: %v, want untouched", err)
	}
	revoked, err = st.RevokeUserSessions(ctx, "user-1", "", at)
	if err != nil || len(revoked) != 1 || revoked[0] != mine[0].ID {
		t.Errorf("RevokeUserSessions(all) = %v, %v; want [%s]", revoked, err, mine[0].ID)
	}
	// Every revocation is listed for the revocation set, oldest first.
	rs, err := st.RevokedSessions(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 || rs[0].ID != mine[3].ID || !rs[0].RevokedAt.Equal(t0) || !rs[0].ExpiresAt.Equal(mine[3].ExpiresAt) ||
		rs[3].ID != mine[0].ID || !rs[3].RevokedAt.Equal(at) {
		t.Errorf("RevokedSessions(t0) = %+v", rs)
	}
	if rs, _ := st.RevokedSessions(ctx, at); len(rs) != 1 || rs[0].ID != mine[0].ID {
		t.Errorf("RevokedSessions(at) = %+v, want only %s", rs, mine[0].ID)
	}
}

func testList(t *testing.T, st session.Store) {
	ctx := context.Background()
	var want []string
	for i := range 3 {
		s, h := New("user-1", t0.Add(time.Duration(i)*time.Minute))
		mustCreate(t, st, s, h)
		want = append([]string{s.ID}, want...) // newest first
	}
	expired, eh := New("user-1", t0.Add(-48*time.Hour))
	mustCreate(t, st, expired, eh)
	other, oh := New("user-2", t0)
	mustCreate(t, st, other, oh)
	list, err := st.ListSessions(ctx, "user-1", t0.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, ids(list)); diff != "" {
		t.Errorf("ListSessions IDs (-want +got):\n%s", diff)
	}
}

func testDeleteExpired(t *testing.T, st session.Store) {
	ctx := context.Background()
	old, oh := New("user-1", t0.Add(-48*time.Hour))
	mustCreate(t, st, old, oh)
	oldRevoked, orh := New("user-1", t0.Add(-48*time.Hour))
	mustCreate(t, st, oldRevoked, orh)
	if err := st.RevokeSession(ctx, oldRevoked.ID, t0.Add(-47*time.Hour)); err != nil {
		t.Fatal(err)
	}
	live, lh := New("user-1", t0)
	mustCreate(t, st, live, lh)
	n, err := st.DeleteExpiredSessions(ctx, t0)
	if err != nil || n != 2 {
		t.Fatalf("DeleteExpiredSessions = %d, %v; want 2", n, err)
	}
	// Gone even for a caller whose clock is earlier.
	_, err = st.SessionByHash(ctx, oh, t0.Add(-47*time.Hour))
	wantNotFound(t, "deleted session", err)
	if _, err := st.SessionByHash(ctx, lh, t0); err != nil {
		t.Errorf("live session: %v, want kept", err)
	}
	n, err = st.DeleteExpiredSessions(ctx, t0)
	if err != nil || n != 0 {
		t.Errorf("second DeleteExpiredSessions = %d, %v; want 0", n, err)
	}
}

func testCancelled(t *testing.T, st session.Store) {
	s, h := New("user-1", t0)
	mustCreate(t, st, s, h)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	checks := map[string]error{}
	checks["CreateSession"] = func() error { n, nh := New("user-1", t0); return st.CreateSession(ctx, n, nh) }()
	_, checks["SessionByHash"] = st.SessionByHash(ctx, h, t0)
	_, checks["SessionByID"] = st.SessionByID(ctx, s.ID, t0)
	checks["TouchSession"] = st.TouchSession(ctx, s.ID, t0.Add(time.Minute), t0.Add(time.Hour))
	_, checks["ListSessions"] = st.ListSessions(ctx, "user-1", t0)
	checks["RevokeSession"] = st.RevokeSession(ctx, s.ID, t0)
	_, checks["RevokeUserSessions"] = st.RevokeUserSessions(ctx, "user-1", "", t0)
	_, checks["RevokedSessions"] = st.RevokedSessions(ctx, t0)
	_, checks["DeleteExpiredSessions"] = st.DeleteExpiredSessions(ctx, t0.Add(100*time.Hour))
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", name, err)
		}
	}
	// Nothing changed.
	if _, err := st.SessionByHash(context.Background(), h, t0); err != nil {
		t.Errorf("session after cancelled calls: %v, want live", err)
	}
}

func testConcurrent(t *testing.T, st session.Store) {
	ctx := context.Background()
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*3)
	for w := range workers {
		wg.Go(func() {
			uid := fmt.Sprintf("user-%d", w%2)
			for range each {
				s, h := New(uid, t0)
				if err := st.CreateSession(ctx, s, h); err != nil {
					errs <- fmt.Errorf("create: %w", err)
					continue
				}
				if _, err := st.SessionByHash(ctx, h, t0); err != nil {
					errs <- fmt.Errorf("get: %w", err)
				}
				if err := st.TouchSession(ctx, s.ID, t0.Add(time.Minute), t0.Add(time.Hour)); err != nil {
					errs <- fmt.Errorf("touch: %w", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, uid := range []string{"user-0", "user-1"} {
		list, err := st.ListSessions(ctx, uid, t0.Add(2*time.Minute))
		if err != nil || len(list) != workers/2*each {
			t.Errorf("ListSessions(%s) = %d, %v; want %d", uid, len(list), err, workers/2*each)
		}
	}
}

func testConcurrentRevoke(t *testing.T, st session.Store) {
	ctx := context.Background()
	s, h := New("user-1", t0)
	mustCreate(t, st, s, h)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			err := st.RevokeSession(ctx, s.ID, t0)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, authd.ErrNotFound):
				t.Errorf("RevokeSession = %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent revokes succeeded, want exactly 1", wins.Load())
	}
}

// testClientID: the OAuth client a session was opened for comes back from
// every read, through session.Manager too; empty (authd's own pages) is a
// value like any other.
func testClientID(t *testing.T, st session.Store) {
	ctx := context.Background()
	m := session.NewManager(st, session.Config{Now: func() time.Time { return t0 }})
	tests := []struct{ name, clientID string }{
		{"none", ""},
		{"plain", "client-1"},
		{"separators", "c|1:2:{s:x}"},
		{"unicode", "app ünïcödé ✓"},
	}
	want := map[string]string{} // session ID → client ID
	for i, tt := range tests {
		var id string
		if i%2 == 0 {
			s, h := New("user-client", t0.Add(time.Duration(i)*time.Second))
			s.ClientID = tt.clientID
			mustCreate(t, st, s, h)
			id = s.ID
		} else {
			_, s, err := m.Create(ctx, "user-client", session.KindToken, session.Meta{IP: "192.0.2.1", ClientID: tt.clientID})
			if err != nil {
				t.Fatalf("%s: Manager.Create = %v", tt.name, err)
			}
			if s.ClientID != tt.clientID {
				t.Errorf("%s: Manager.Create made ClientID %q, want %q", tt.name, s.ClientID, tt.clientID)
			}
			id = s.ID
		}
		want[id] = tt.clientID
		got, err := st.SessionByID(ctx, id, t0)
		if err != nil {
			t.Fatalf("%s: SessionByID = %v", tt.name, err)
		}
		if got.ClientID != tt.clientID {
			t.Errorf("%s: SessionByID ClientID = %q, want %q", tt.name, got.ClientID, tt.clientID)
		}
	}
	list, err := st.ListSessions(ctx, "user-client", t0.Add(time.Minute))
	if err != nil || len(list) != len(tests) {
		t.Fatalf("ListSessions = %d sessions, %v; want %d", len(list), err, len(tests))
	}
	for _, s := range list {
		if w, ok := want[s.ID]; !ok || s.ClientID != w {
			t.Errorf("ListSessions: session %s ClientID = %q, want %q", s.ID, s.ClientID, w)
		}
	}
}

func ids(ss []*session.Session) []string {
	out := []string{}
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

// testAMR: how a session was authenticated comes back from every read;
// Manager.Create records a password sign-in when told nothing.
func testAMR(t *testing.T, st session.Store) {
	ctx := context.Background()
	m := session.NewManager(st, session.Config{Now: func() time.Time { return t0 }})
	tests := []struct {
		name      string
		amr, want []string
		aal       int
	}{
		{"default", nil, []string{"pwd"}, 1},
		{"totp", []string{"pwd", "otp", "mfa"}, []string{"pwd", "otp", "mfa"}, 2},
		{"recovery code", []string{"pwd", "rc", "mfa"}, []string{"pwd", "rc", "mfa"}, 2},
		{"passkey", []string{"hwk", "user", "mfa"}, []string{"hwk", "user", "mfa"}, 2},
		{"passkey without verification", []string{"swk"}, []string{"swk"}, 1},
	}
	for _, tt := range tests {
		secret, s, err := m.Create(ctx, "user-amr", session.KindCookie, session.Meta{IP: "192.0.2.1", AMR: tt.amr})
		if err != nil {
			t.Fatalf("%s: Create = %v", tt.name, err)
		}
		got, err := m.Check(ctx, secret)
		if err != nil {
			t.Fatalf("%s: Check = %v", tt.name, err)
		}
		if !slices.Equal(got.AMR, tt.want) || got.AAL() != tt.aal {
			t.Errorf("%s: Check AMR = %q (AAL%d), want %q (AAL%d)", tt.name, got.AMR, got.AAL(), tt.want, tt.aal)
		}
		byID, err := st.SessionByID(ctx, s.ID, t0)
		if err != nil || !slices.Equal(byID.AMR, tt.want) {
			t.Errorf("%s: SessionByID AMR = %q, %v; want %q", tt.name, byID.AMR, err, tt.want)
		}
	}
	list, err := st.ListSessions(ctx, "user-amr", t0)
	if err != nil || len(list) != len(tests) {
		t.Fatalf("ListSessions = %d, %v", len(list), err)
	}
	for _, s := range list {
		if len(s.AMR) == 0 {
			t.Errorf("ListSessions: session %s has no AMR", s.ID)
		}
	}
}
