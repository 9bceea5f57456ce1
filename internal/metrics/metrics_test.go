package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRouteLabels(t *testing.T) {
	for _, tt := range []struct {
		pattern, method     string
		wantRoute, wantMeth string
	}{
		{"GET /v1/session", "GET", "/v1/session", "GET"},
		{"GET /v1/session", "HEAD", "/v1/session", "GET"},
		{"DELETE /v1/sessions/{id}", "DELETE", "/v1/sessions/{id}", "DELETE"},
		{"/", "GET", "unmatched", "GET"},
		{"", "POST", "unmatched", "POST"},
		{"/", "other", "unmatched", "other"},
	} {
		r, m := routeLabels(tt.pattern, tt.method)
		if r != tt.wantRoute || m != tt.wantMeth {
			t.Errorf("routeLabels(%q, %q) = %q, %q, want %q, %q", tt.pattern, tt.method, r, m, tt.wantRoute, tt.wantMeth)
		}
	}
	if got := normMethod("BREW"); got != "other" {
		t.Errorf("normMethod(BREW) = %q, want other", got)
	}
}

func TestRequest(t *testing.T) {
	m := New()
	m.Request("GET /v1/session", "GET", 200, time.Millisecond)
	m.Request("GET /v1/session", "HEAD", 200, time.Millisecond)
	m.Request("/", "BREW", 404, time.Millisecond)
	m.Request("", "POST", 403, time.Millisecond)
	want := `
# HELP authd_http_requests_total HTTP requests served, by route pattern ("unmatched": no route), method and status code.
# TYPE authd_http_requests_total counter
authd_http_requests_total{code="200",method="GET",route="/v1/session"} 2
authd_http_requests_total{code="403",method="POST",route="unmatched"} 1
authd_http_requests_total{code="404",method="other",route="unmatched"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "authd_http_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.httpDuration); n != 3 {
		t.Errorf("%d duration series, want 3", n)
	}
	m.Rotation("wider scope")
	m.Rotation("reused")
	if got := testutil.ToFloat64(m.rotations.WithLabelValues("wider_scope")); got != 1 {
		t.Errorf("wider_scope rotations = %v", got)
	}
	if got := testutil.ToFloat64(m.reuse); got != 1 {
		t.Errorf("reuse = %v, want 1", got)
	}
}

// BenchmarkRequest is what the middleware adds to a request once its
// route's children are resolved.
func BenchmarkRequest(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.Request("GET /v1/session", "GET", 200, time.Millisecond)
	}
}
