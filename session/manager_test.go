package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/event"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/session"
)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func TestHashSecret(t *testing.T) {
	good := "Dm2zoL2oDOQib5Bmy8BORtOTXaKUBaHvufU5ZQIukKM"
	tests := []struct {
		in string
		ok bool
	}{
		{good, true},
		{"", false},
		{good[:42], false},
		{good + "A", false},
		{good[:42] + "=", false},
		{good[:42] + "+", false}, // standard, not URL, alphabet
		{good[:42] + "N", false}, // non-canonical: trailing bits set
		{"' OR 1=1 --" + good[:32], false},
	}
	for _, tt := range tests {
		if _, ok := session.HashSecret(tt.in); ok != tt.ok {
			t.Errorf("HashSecret(%q) ok = %v, want %v", tt.in, ok, tt.ok)
		}
	}
}

func TestCreateSecretShape(t *testing.T) {
	m := session.NewManager(memstore.New(), session.Config{})
	seen := map[string]bool{}
	for range 100 {
		secret, s, err := m.Create(context.Background(), "u", session.KindCookie, session.Meta{UserAgent: string(make([]byte, 4096))})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := session.HashSecret(secret); !ok || seen[secret] || s.ID == secret {
			t.Fatalf("secret %q: valid %v, repeated %v", secret, ok, seen[secret])
		}
		if len(s.UserAgent) > 512 {
			t.Errorf("stored User-Agent is %d bytes, want at most 512", len(s.UserAgent))
		}
		seen[secret] = true
	}
}

// The look-up cache must never let a revoked session through on the
// instance that revoked it, and must let an outside revocation through
// within its TTL.
func TestCacheRevocation(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := memstore.New()
	m := session.NewManager(st, session.Config{CacheTTL: time.Second, Now: c.Now})
	check := func(secret string) error { _, err := m.Check(ctx, secret); return err }

	secret, s, _ := m.Create(ctx, "u1", session.KindCookie, session.Meta{})
	if err := check(secret); err != nil {
		t.Fatal(err)
	}
	if err := m.End(ctx, s.ID, event.CauseLogout); err != nil {
		t.Fatal(err)
	}
	if err := check(secret); !errors.Is(err, authd.ErrUnauthenticated) {
		t.Errorf("check after End = %v, want ErrUnauthenticated at once", err)
	}

	a, sa, _ := m.Create(ctx, "u1", session.KindCookie, session.Meta{})
	b, _, _ := m.Create(ctx, "u1", session.KindCookie, session.Meta{})
	check(a)
	check(b)
	if err := m.RevokeUser(ctx, "u1", sa.ID, event.CauseSignOutOthers); err != nil {
		t.Fatal(err)
	}
	if check(a) != nil || !errors.Is(check(b), authd.ErrUnauthenticated) {
		t.Error("RevokeUser: kept session refused or revoked session still accepted")
	}

	// Revoked behind the Manager's back (another process, another
	// instance): accepted from cache for less than the TTL, then refused.
	d, sd, _ := m.Create(ctx, "u2", session.KindCookie, session.Meta{})
	check(d)
	if err := st.RevokeSession(ctx, sd.ID, c.t); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(time.Second)
	if err := check(d); !errors.Is(err, authd.ErrUnauthenticated) {
		t.Errorf("outside revocation after the TTL: %v, want ErrUnauthenticated", err)
	}
}

// The cache keeps time by the Manager's clock (Config.Now), for reads and
// writes alike: once a revocation is older than the TTL on that clock, the
// sessions it spared are cached again, whatever the wall clock says.
func TestCacheUsesInjectedClock(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := &probeStore{Store: memstore.New()}
	m := session.NewManager(st, session.Config{CacheTTL: time.Second, Now: c.Now})

	kept, sk, _ := m.Create(ctx, "u1", session.KindCookie, session.Meta{})
	if _, _, err := m.Create(ctx, "u1", session.KindCookie, session.Meta{}); err != nil {
		t.Fatal(err)
	}
	if err := m.RevokeUser(ctx, "u1", sk.ID, event.CauseSignOutOthers); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(2 * time.Second) // the revocation is two TTLs old
	before := st.lookups.Load()
	for range 3 {
		if _, err := m.Check(ctx, kept); err != nil {
			t.Fatal(err)
		}
	}
	if n := st.lookups.Load() - before; n != 1 {
		t.Errorf("3 checks %v after RevokeUser read the store %d times, want 1 (the rest from cache)", 2*time.Second, n)
	}
}

// A cached look-up is re-decided on every check: past the session's end it
// is refused, however fresh the cache entry. (Activity moves the idle
// expiry a touch interval, at most a quarter of the idle timeout, before
// it is reached, so the end a cache entry can outlive is the absolute one.)
func TestCacheNeverExtendsLife(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := session.NewManager(memstore.New(), session.Config{CacheTTL: time.Second, Now: c.Now,
		Cookie: session.Policy{IdleTimeout: time.Hour, Lifetime: time.Hour}})
	secret, _, _ := m.Create(ctx, "u", session.KindCookie, session.Meta{})
	c.t = c.t.Add(time.Hour - 500*time.Millisecond)
	if _, err := m.Check(ctx, secret); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(600 * time.Millisecond) // lifetime passed, entry still "fresh"
	if _, err := m.Check(ctx, secret); !errors.Is(err, authd.ErrUnauthenticated) {
		t.Errorf("check past the lifetime from cache = %v, want ErrUnauthenticated", err)
	}
}

// A revocation written by someone else (another instance, another
// process) reaches this Manager's hook and cache through the watcher.
func TestWatchRevocations(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := memstore.New()
	got := make(chan string, 10)
	m := session.NewManager(st, session.Config{CacheTTL: time.Second, Events: sessionIDs(got)})
	other := session.NewManager(st, session.Config{}) // "instance B"
	secret, s, _ := m.Create(ctx, "u", session.KindCookie, session.Meta{})
	if _, err := m.Check(ctx, secret); err != nil { // now cached on A
		t.Fatal(err)
	}
	go m.WatchRevocations(ctx, session.WatchConfig{Every: 10 * time.Millisecond})
	time.Sleep(20 * time.Millisecond)
	if err := other.End(ctx, s.ID, event.CauseLogout); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-got:
		if id != s.ID {
			t.Fatalf("hook got %q, want %q", id, s.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("revocation by another manager never reached the hook")
	}
	if _, err := m.Check(ctx, secret); !errors.Is(err, authd.ErrUnauthenticated) {
		t.Errorf("check after a remote revocation = %v, want ErrUnauthenticated (cache dropped)", err)
	}
	// Each revocation is reported once, not on every poll.
	time.Sleep(50 * time.Millisecond)
	if len(got) != 0 {
		t.Errorf("hook called %d more times for the same revocation", len(got))
	}
}

// One instance whose clock runs ahead must not blind the others: a
// revocation stamped a minute in the future, then one stamped correctly,
// both reach the watcher.
func TestWatchRevocationsClockAhead(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := memstore.New()
	got := make(chan string, 10)
	m := session.NewManager(st, session.Config{Events: sessionIDs(got)})
	ahead := session.NewManager(st, session.Config{Now: func() time.Time { return time.Now().Add(time.Minute) }})
	normal := session.NewManager(st, session.Config{})
	_, s1, _ := ahead.Create(ctx, "u", session.KindCookie, session.Meta{})
	_, s2, _ := normal.Create(ctx, "u", session.KindCookie, session.Meta{})
	go m.WatchRevocations(ctx, session.WatchConfig{Every: 10 * time.Millisecond})
	time.Sleep(20 * time.Millisecond)
	ahead.End(ctx, s1.ID, event.CauseLogout)
	time.Sleep(50 * time.Millisecond)
	normal.End(ctx, s2.ID, event.CauseLogout)
	want := map[string]bool{s1.ID: true, s2.ID: true}
	for len(want) > 0 {
		select {
		case id := <-got:
			delete(want, id)
		case <-time.After(5 * time.Second):
			t.Fatalf("revocations never announced: %v", want)
		}
	}
}

// sessionIDs is an event.Publisher that sends the ID of every revoked
// session to ch.
func sessionIDs(ch chan<- string) event.Publisher {
	var b event.Bus
	b.Subscribe(func(_ context.Context, e event.Event) {
		if e.Kind == event.SessionRevoked {
			ch <- e.SessionID
		}
	})
	return &b
}

// TestRevocationEvents: every way of ending a session publishes one
// session.revoked event per session, with its owner and its cause.
func TestRevocationEvents(t *testing.T) {
	ctx := context.Background()
	var got []event.Event
	var bus event.Bus
	bus.Subscribe(func(_ context.Context, e event.Event) { got = append(got, e) })
	m := session.NewManager(memstore.New(), session.Config{Events: &bus})
	_, a, _ := m.Create(ctx, "u1", session.KindCookie, session.Meta{})
	_, b, _ := m.Create(ctx, "u1", session.KindCookie, session.Meta{})
	_, c, _ := m.Create(ctx, "u1", session.KindToken, session.Meta{})
	_, d, _ := m.Create(ctx, "u1", session.KindCookie, session.Meta{})
	if err := m.End(ctx, a.ID, event.CauseLogout); err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(ctx, "u1", b.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.RevokeUser(ctx, "u1", d.ID, event.CausePasswordChanged); err != nil {
		t.Fatal(err)
	}
	want := []event.Event{
		{Kind: event.SessionRevoked, SessionID: a.ID, UserID: "u1", Cause: event.CauseLogout},
		{Kind: event.SessionRevoked, SessionID: b.ID, UserID: "u1", Cause: event.CauseRevokedByUser},
		{Kind: event.SessionRevoked, SessionID: c.ID, UserID: "u1", Cause: event.CausePasswordChanged},
	}
	if len(got) != len(want) {
		t.Fatalf("events = %+v, want %d", got, len(want))
	}
	// End had the session in hand: its event describes it.
	if !got[0].SignedInAt.Equal(a.CreatedAt) || got[0].IP != a.IP || got[0].UserAgent != a.UserAgent {
		t.Errorf("End's event describes %q %q %v, want the session's %q %q %v",
			got[0].IP, got[0].UserAgent, got[0].SignedInAt, a.IP, a.UserAgent, a.CreatedAt)
	}
	for i := range want {
		got[i].At = time.Time{}
		got[i].IP, got[i].UserAgent, got[i].SignedInAt = "", "", time.Time{}
		if got[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
