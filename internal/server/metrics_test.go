package server_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/server"
)

// fakeMetrics records what the server tells its Metrics.
type fakeMetrics struct {
	mu       sync.Mutex
	requests []string // "pattern|method|code"
	logins   []string
	grants   []string
	refused  []string
}

func (f *fakeMetrics) Request(pattern, method string, code int, _ time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, fmt.Sprintf("%s|%s|%d", pattern, method, code))
}

func (f *fakeMetrics) Login(outcome string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logins = append(f.logins, outcome)
}

func (f *fakeMetrics) Grant(grantType, outcome string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.grants = append(f.grants, grantType+"|"+outcome)
}

func (f *fakeMetrics) ThrottleRefused(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refused = append(f.refused, name)
}

func (f *fakeMetrics) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[len(f.requests)-1]
}

// TestMetricsRouteLabel: each request is reported once with the pattern
// that served it, never its path; an unknown path with the catch-all "/";
// a request refused before routing (cross-origin) with the route it
// asked for.
func TestMetricsRouteLabel(t *testing.T) {
	fm := &fakeMetrics{}
	h := newHarness(t, options{metrics: fm})
	h.register("alice@example.com")
	cookie := h.login("alice@example.com")
	for _, tt := range []struct {
		name string
		r    req
		want string
	}{
		{"session check", req{method: "GET", path: "/v1/session", cookie: cookie}, "GET /v1/session|GET|200"},
		{"no cookie", req{method: "GET", path: "/v1/session"}, "GET /v1/session|GET|401"},
		{"HEAD served by GET", req{method: "HEAD", path: "/healthz"}, "GET /healthz|HEAD|200"},
		{"wildcard", req{method: "DELETE", path: "/v1/sessions/SOMEID", cookie: cookie}, "DELETE /v1/sessions/{id}|DELETE|404"},
		{"unknown path", req{method: "GET", path: "/alice@example.com/secret"}, "/|GET|404"},
		{"odd method", req{method: "BREW", path: "/v1/session"}, "/|BREW|405"},
		{"cross-origin refused", req{method: "POST", path: "/v1/session", body: `{}`,
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, "POST /v1/session|POST|403"},
	} {
		resp := h.do(tt.r)
		resp.Body.Close()
		if got := fm.last(); got != tt.want {
			t.Errorf("%s: reported %q, want %q", tt.name, got, tt.want)
		}
	}
	if want := []string{"success"}; !slices.Equal(fm.logins, want) {
		t.Errorf("logins = %q, want %q", fm.logins, want)
	}
	// Two registrations' and logins' requests plus the table: one report
	// per request.
	if got, want := len(fm.requests), 2+7; got != want {
		t.Errorf("%d requests reported, want %d: %q", got, want, fm.requests)
	}
}

// TestMetricsGrantsAndThrottle: token grants by outcome and throttle
// refusals.
func TestMetricsGrantsAndThrottle(t *testing.T) {
	fm := &fakeMetrics{}
	h := newHarness(t, options{metrics: fm, grace: -1})
	h.register("alice@example.com")
	tp := h.passwordToken("alice@example.com")
	resp := h.refresh(tp.RefreshToken)
	resp.Body.Close()
	resp = h.refresh(tp.RefreshToken) // reused
	resp.Body.Close()
	resp = h.postForm("/oauth2/token", "grant_type=password&username=alice@example.com&password=nope", nil)
	resp.Body.Close()
	want := []string{"password|success", "refresh_token|success", "refresh_token|invalid_grant", "password|invalid_grant"}
	if !slices.Equal(fm.grants, want) {
		t.Errorf("grants = %q, want %q", fm.grants, want)
	}
	for range 10 {
		resp := h.do(req{method: "POST", path: "/v1/session", body: `{"email":"bob@example.com","password":"wrong password"}`})
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			break
		}
	}
	if want := []string{"account"}; !slices.Equal(fm.refused, want) {
		t.Errorf("refused = %q, want %q", fm.refused, want)
	}
	if n := len(fm.logins); n == 0 || fm.logins[n-1] != "throttled" {
		t.Errorf("logins = %q, want the last throttled", fm.logins)
	}
}

// The Prometheus implementation satisfies the interface.
var _ server.Metrics = (*metrics.Metrics)(nil)
