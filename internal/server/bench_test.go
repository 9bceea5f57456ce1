package server_test

import (
	"context"
	"path/filepath"
	"time"

	"github.com/authd/authd/memstore"
	"github.com/authd/authd/pgstore"
	"github.com/authd/authd/pgstore/pgtest"
	"github.com/authd/authd/redisstore"
	"github.com/authd/authd/redisstore/redistest"
	"github.com/authd/authd/sqlitestore"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/server"
	"github.com/authd/authd/session"
)

// BenchmarkSessionCheck is the hot path without HTTP: cookie value →
// validate → SHA-256 → store look-up → expiry decision, on every backend,
// with the one-second look-up cache off (a store read per check) and on.
// PostgreSQL and Redis run when AUTHD_TEST_POSTGRES / AUTHD_TEST_REDIS are
// set (bash .ci/run sets them).
func BenchmarkSessionCheck(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) session.Store
	}{
		{"memory", func(*testing.B) session.Store { return memstore.New() }},
		{"sqlite", func(b *testing.B) session.Store {
			s, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "a.db"), sqlitestore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"postgres", func(b *testing.B) session.Store {
			s, err := pgstore.Open(context.Background(), pgtest.NewDatabase(b), pgstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"redis", func(b *testing.B) session.Store {
			return redistest.NewStore(b, redistest.Standalone(b), redisstore.Options{})
		}},
	}
	for _, be := range backends {
		for _, cache := range []time.Duration{0, time.Second} {
			name := be.name + "/nocache"
			if cache > 0 {
				name = be.name + "/cache1s"
			}
			b.Run(name, func(b *testing.B) {
				m := session.NewManager(be.open(b), session.Config{CacheTTL: cache})
				secret, _, err := m.Create(context.Background(), "user-1", session.KindCookie, session.Meta{})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := m.Check(ctx, secret); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkGetSession is GET /v1/session through the whole handler stack
// (middleware, routing, check, JSON), without the network.
func BenchmarkGetSession(b *testing.B) {
	for _, backend := range []struct {
		name    string
		sqlite  bool
		metrics bool
	}{{"memory", false, false}, {"memory+metrics", false, true}, {"sqlite", true, false}, {"sqlite+metrics", true, true}} {
		b.Run(backend.name, func(b *testing.B) {
			t := &testing.T{}
			o := options{sqlite: backend.sqlite}
			if backend.metrics {
				o.metrics = metrics.New()
			}
			h := newHarness(t, o)
			defer h.store.Close()
			h.register("alice@example.com")
			secret := h.login("alice@example.com")
			r := httptest.NewRequest("GET", "http://authd.test/v1/session", nil)
			r.Header.Set("Cookie", server.DefaultCookieName+"="+secret)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.srv.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}

// BenchmarkTokenCheck is GET /v1/session with a bearer access token
// through the whole handler stack, with and without metrics.
func BenchmarkTokenCheck(b *testing.B) {
	for _, withMetrics := range []bool{false, true} {
		name := "nometrics"
		if withMetrics {
			name = "metrics"
		}
		b.Run(name, func(b *testing.B) {
			t := &testing.T{}
			o := options{}
			if withMetrics {
				o.metrics = metrics.New()
			}
			h := newHarness(t, o)
			defer h.store.Close()
			h.register("alice@example.com")
			tp := h.passwordToken("alice@example.com")
			r := httptest.NewRequest("GET", "http://authd.test/v1/session", nil)
			r.Header.Set("Authorization", "Bearer "+tp.AccessToken)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.srv.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
