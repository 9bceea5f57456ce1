package guard_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authd/authd/guard"
)

// TestCookieCheckFailure: when authd's /v1/auth/check cannot answer (a
// 5xx, another unexpected status, a dropped connection, authd gone), the
// cookie is neither accepted nor called invalid: Authenticate returns
// ErrCheckFailed, never ErrFeedDown (the feed has nothing to do with it),
// and Require answers 503 with Retry-After, as for a stale feed.
func TestCookieCheckFailure(t *testing.T) {
	authd := newStubAuthd()
	stopped := false
	defer func() {
		if !stopped {
			authd.Close()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := guard.New(ctx, guard.Config{Issuer: authd.URL, Audience: "authd", ClientID: "notes", ClientSecret: "notes-secret",
		AcceptCookie: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Require("read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	// Every case sends a cookie of its own: a successful check is cached
	// (and a failed one must not be).
	request := func(cookie string) *http.Request {
		r := httptest.NewRequest("GET", "/notes", nil)
		r.AddCookie(&http.Cookie{Name: "__Host-authd_session", Value: cookie})
		return r
	}

	tests := []struct {
		name      string
		check     int32 // what /v1/auth/check does (see stubAuthd)
		cookie    string
		wantErr   error
		wantCode  int
		wantRetry string
	}{
		{name: "valid", cookie: "alice-cookie", wantCode: http.StatusOK},
		{name: "unknown cookie", cookie: "mallory-cookie", wantErr: guard.ErrInvalidToken, wantCode: http.StatusUnauthorized},
		{name: "authd answers 500", check: 500, cookie: "c500", wantErr: guard.ErrCheckFailed, wantCode: http.StatusServiceUnavailable, wantRetry: "1"},
		{name: "authd answers 503", check: 503, cookie: "c503", wantErr: guard.ErrCheckFailed, wantCode: http.StatusServiceUnavailable, wantRetry: "1"},
		{name: "authd answers 429", check: 429, cookie: "c429", wantErr: guard.ErrCheckFailed, wantCode: http.StatusServiceUnavailable, wantRetry: "1"},
		{name: "connection dropped", check: -1, cookie: "cdrop", wantErr: guard.ErrCheckFailed, wantCode: http.StatusServiceUnavailable, wantRetry: "1"},
	}
	for _, tt := range tests {
		authd.check.Store(tt.check)
		id, err := g.Authenticate(request(tt.cookie))
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("%s: Authenticate = %+v, %v; want error %v", tt.name, id, err, tt.wantErr)
		}
		if errors.Is(err, guard.ErrFeedDown) {
			t.Errorf("%s: Authenticate = %v, which claims the revocation feed is down", tt.name, err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, request(tt.cookie))
		if w.Code != tt.wantCode || w.Header().Get("Retry-After") != tt.wantRetry {
			t.Errorf("%s: Require answered %d, Retry-After %q; want %d, %q", tt.name, w.Code, w.Header().Get("Retry-After"), tt.wantCode, tt.wantRetry)
		}
	}

	// authd gone: nothing listens any more.
	authd.Close()
	stopped = true
	if _, err := g.Authenticate(request("after-close")); !errors.Is(err, guard.ErrCheckFailed) || errors.Is(err, guard.ErrFeedDown) {
		t.Errorf("authd unreachable: Authenticate = %v, want ErrCheckFailed (and not ErrFeedDown)", err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, request("after-close"))
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("authd unreachable: Require answered %d, want 503", w.Code)
	}
}
