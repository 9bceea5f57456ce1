package refresh_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/event"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/session"
	"github.com/authd/authd/sqlitestore"
	"github.com/authd/authd/token"
)

// backend is a store that holds both sessions and refresh tokens.
type backend interface {
	session.Store
	refresh.Store
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

// countingStore counts the refresh.Store calls that reach the backend.
type countingStore struct {
	refresh.Store
	calls atomic.Int64
}

func (c *countingStore) CreateRefresh(ctx context.Context, rt *refresh.Refresh) error {
	c.calls.Add(1)
	return c.Store.CreateRefresh(ctx, rt)
}

func (c *countingStore) RotateRefresh(ctx context.Context, rot *refresh.Rotation) (*refresh.Result, error) {
	c.calls.Add(1)
	return c.Store.RotateRefresh(ctx, rot)
}

func (c *countingStore) RefreshByHash(ctx context.Context, sessionID string, hash []byte) (*refresh.Refresh, error) {
	c.calls.Add(1)
	return c.Store.RefreshByHash(ctx, sessionID, hash)
}

func (c *countingStore) DeleteExpiredRefresh(ctx context.Context, before time.Time) (int, error) {
	c.calls.Add(1)
	return c.Store.DeleteExpiredRefresh(ctx, before)
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
	r        *refresh.Refresher
	rev      *token.RevocationSet // fed by the session manager's events
}

func newRefreshFixture(t *testing.T, open func(t *testing.T) backend, grace time.Duration) *refreshFixture {
	t.Helper()
	st := open(t)
	f := &refreshFixture{clk: newClock(), store: &countingStore{Store: st}}
	f.rev = token.NewRevocationSet(f.clk.Now)
	f.sessions = session.NewManager(st, session.Config{
		Token:  session.Policy{IdleTimeout: idleTimeout, Lifetime: lifetime},
		Events: revocations(f),
		Now:    f.clk.Now,
	})
	f.r = refresh.New(refresh.Config{Store: f.store, Sessions: f.sessions, Grace: grace, MACKey: macKey, Now: f.clk.Now})
	return f
}

func (f *refreshFixture) start(t *testing.T) (string, *session.Session) {
	t.Helper()
	g, err := f.r.Start(context.Background(), "user-1", "client-1", "read write", session.Meta{IP: "192.0.2.1", UserAgent: "test"})
	if err != nil {
		t.Fatalf("Start = %v", err)
	}
	rt, sess := g.Refresh, g.Session
	if rt.Generation != 0 || rt.SessionID != sess.ID || !rt.UsedAt.IsZero() || sess.Kind != session.KindToken || g.Scope != "read write" {
		t.Fatalf("Start = %+v in %+v; want an unused generation 0 in a token session", rt, sess)
	}
	if !rt.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Fatalf("refresh token expires %v, its session %v; want equal", rt.ExpiresAt, sess.ExpiresAt)
	}
	return g.Token, sess
}

// redeem is the grant of tok by its client, keeping the scope.
func (f *refreshFixture) redeem(tok string) (*refresh.Grant, error) {
	return f.r.Rotate(context.Background(), refresh.Request{Token: tok, ClientID: "client-1"})
}

// rotate redeems tok and wants success in session sid with generation gen.
func (f *refreshFixture) rotate(t *testing.T, tok, sid string, gen int) string {
	t.Helper()
	g, err := f.redeem(tok)
	if err != nil {
		t.Fatalf("Rotate(generation %d parent) = %v; want success", gen-1, err)
	}
	if g.Session == nil || g.Session.ID != sid || g.Refresh.SessionID != sid {
		t.Fatalf("Rotate: session %v, token session %s; want %s (same session)", g.Session, g.Refresh.SessionID, sid)
	}
	if g.Refresh.Generation != gen {
		t.Fatalf("Rotate: child generation %d, want %d", g.Refresh.Generation, gen)
	}
	if g.Token == "" || g.Token == tok || strings.Count(g.Token, ".") != 3 || !strings.HasPrefix(g.Token, sid+"."+strconv.Itoa(gen)+".") {
		t.Fatalf("Rotate: child token %q", g.Token)
	}
	if g.Scope != "read write" {
		t.Fatalf("Rotate: scope %q, want the token's", g.Scope)
	}
	return g.Token
}

func (f *refreshFixture) wantErr(t *testing.T, tok string, want error) {
	t.Helper()
	g, err := f.redeem(tok)
	if !errors.Is(err, want) {
		t.Fatalf("Rotate = %v; want %v", err, want)
	}
	if g != nil {
		t.Fatalf("Rotate failed with %v but returned %+v", err, g)
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
		t.Fatalf("session %s ended but its access tokens are not revoked (no session.revoked event)", sid)
	}
}

func forEachBackend(t *testing.T, fn func(t *testing.T, open func(t *testing.T) backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open) })
	}
}

// fakeClock is an injectable clock; tests move it, nothing sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// revocations feeds f's revocation set from the session manager's events,
// as authd's wiring does.
func revocations(f *refreshFixture) event.Publisher {
	var b event.Bus
	b.Subscribe(func(_ context.Context, e event.Event) {
		if e.Kind == event.SessionRevoked {
			f.rev.Add(e.SessionID, e.At.Add(11*time.Minute))
		}
	})
	return &b
}
