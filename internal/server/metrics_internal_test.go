package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authd/authd/internal/metrics"
)

// BenchmarkMeasure is what the metrics middleware (measure, routed and
// the Prometheus observer) adds to a request: a route that does nothing,
// served with and without it.
func BenchmarkMeasure(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/session", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	r := httptest.NewRequest("GET", "http://authd.test/v1/session", nil)
	w := httptest.NewRecorder()
	b.Run("off", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			mux.ServeHTTP(w, r)
		}
	})
	b.Run("on", func(b *testing.B) {
		s := &Server{mux: mux, cfg: Config{Metrics: metrics.New()}}
		h := s.measure(s.routed(mux))
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, r)
		}
	})
}
