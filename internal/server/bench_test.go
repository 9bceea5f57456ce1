package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authd/authd/internal/server"
	"github.com/authd/authd/session"
)

// BenchmarkSessionCheck is the hot path without HTTP: cookie value →
// validate → SHA-256 → store look-up → expiry decision.
func BenchmarkSessionCheck(b *testing.B) {
	for _, backend := range []struct {
		name   string
		sqlite bool
	}{{"memory", false}, {"sqlite", true}} {
		b.Run(backend.name, func(b *testing.B) {
			h := newHarness(&testing.T{}, options{sqlite: backend.sqlite})
			defer h.store.Close()
			secret, _, err := h.sessions.Create(context.Background(), "user-1", session.KindCookie, session.Meta{})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.sessions.Check(ctx, secret); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetSession is GET /v1/session through the whole handler stack
// (middleware, routing, check, JSON), without the network.
func BenchmarkGetSession(b *testing.B) {
	for _, backend := range []struct {
		name   string
		sqlite bool
	}{{"memory", false}, {"sqlite", true}} {
		b.Run(backend.name, func(b *testing.B) {
			t := &testing.T{}
			h := newHarness(t, options{sqlite: backend.sqlite})
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
