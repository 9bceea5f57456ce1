// Package metrics is authd's Prometheus exposition: one registry of
// collectors named authd_…, the observer the HTTP server reports to
// (server.Metrics), and the small adapters that count what the domain
// packages report through their hooks (password.Hasher.ObserveWait,
// refresh.Config.Observe, mail.SenderConfig.Observe, the event bus, the
// revocation feed) and time the hot store calls.
//
// The domain packages do not import Prometheus; only this package and
// cmd/authd do. The registry is this package's own, never the global
// default one, and nothing registers in init.
//
// Labels carry only values from fixed sets (route patterns, outcomes,
// causes, store operations): never a user, an address, an IP or a token.
// docs/operations.md lists every metric.
package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Buckets of the histograms, in seconds.
var (
	httpBuckets  = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	waitBuckets  = []float64{.0005, .001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	storeBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}
	lagBuckets   = []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
)

// Metrics owns the registry and every authd_… collector. Its methods are
// safe for concurrent use. Build it with New.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec   // route, method, code
	httpDuration *prometheus.HistogramVec // route, method
	logins       *prometheus.CounterVec   // outcome
	grants       *prometheus.CounterVec   // grant_type, outcome
	rotations    *prometheus.CounterVec   // outcome
	reuse        prometheus.Counter
	revoked      *prometheus.CounterVec // cause
	throttle     *prometheus.CounterVec // throttle
	hashWait     prometheus.Histogram
	storeCalls   *prometheus.HistogramVec // backend, op
	feedLag      prometheus.Histogram
	mails        *prometheus.CounterVec // outcome

	// routes maps (pattern, method, code) to its resolved children:
	// copied on write, so a request reads it without a lock or an
	// allocation.
	routes atomic.Pointer[map[routeKey]*routeObs]
	mu     sync.Mutex // writers of routes
}

type routeKey struct {
	pattern, method string
	code            int
}

type routeObs struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// New returns Metrics with every collector registered, the Go runtime's
// and the process's included.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authd_http_requests_total",
		Help: "HTTP requests served, by route pattern (\"unmatched\": no route), method and status code.",
	}, []string{"route", "method", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "authd_http_request_duration_seconds",
		Help:    "Time to serve an HTTP request, by route pattern and method.",
		Buckets: httpBuckets,
	}, []string{"route", "method"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authd_logins_total",
		Help: "Password sign-ins (API, sign-in page, password grant), by outcome: success, failure, throttled, email_unverified, error.",
	}, []string{"outcome"})
	m.grants = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authd_token_grants_total",
		Help: "Token requests, by grant type and outcome (success or the OAuth error code).",
	}, []string{"grant_type", "outcome"})
	m.rotations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authd_refresh_rotations_total",
		Help: "Refresh-token redemptions decided by the store, by outcome: rotated, sibling, reused, unknown, expired, other_client, wider_scope.",
	}, []string{"outcome"})
	m.reuse = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "authd_refresh_reuse_detected_total",
		Help: "Used refresh tokens presented again (theft suspected: the session was ended).",
	})
	m.revoked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authd_sessions_revoked_total",
		Help: "Sessions ended before their time, by cause (\"elsewhere\": learned from another instance).",
	}, []string{"cause"})
	m.throttle = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authd_throttle_refusals_total",
		Help: "Attempts refused by a throttle, by throttle.",
	}, []string{"throttle"})
	m.hashWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "authd_password_hash_queue_wait_seconds",
		Help:    "Time a password hash waited for a hashing slot.",
		Buckets: waitBuckets,
	})
	m.storeCalls = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "authd_store_call_duration_seconds",
		Help:    "Duration of the timed store calls, by backend and operation.",
		Buckets: storeBuckets,
	}, []string{"backend", "op"})
	m.feedLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "authd_revocation_feed_lag_seconds",
		Help:    "Time from a revocation to its delivery on a live revocation-feed stream.",
		Buckets: lagBuckets,
	})
	m.mails = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authd_mails_total",
		Help: "Mails by outcome: queued, sent, failed (an attempt; retried), dropped.",
	}, []string{"outcome"})
	for _, c := range []prometheus.Collector{m.httpRequests, m.httpDuration, m.logins, m.grants, m.rotations, m.reuse,
		m.revoked, m.throttle, m.hashWait, m.storeCalls, m.feedLag, m.mails} {
		f(c)
	}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The outcomes known in advance start at zero, so a dashboard shows
	// them before the first one happens.
	for _, o := range []string{"success", "failure", "throttled", "email_unverified", "error"} {
		m.logins.WithLabelValues(o)
	}
	for _, o := range []string{"queued", "sent", "failed", "dropped"} {
		m.mails.WithLabelValues(o)
	}
	empty := map[routeKey]*routeObs{}
	m.routes.Store(&empty)
	return m
}

// Registry is the registry every collector is in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Gauge registers a gauge read from fn at each scrape (the hasher's
// in-flight count, the feed's followers).
func (m *Metrics) Gauge(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// Request implements server.Metrics.
func (m *Metrics) Request(pattern, method string, code int, d time.Duration) {
	k := routeKey{pattern: pattern, method: normMethod(method), code: code}
	o, ok := (*m.routes.Load())[k]
	if !ok {
		o = m.route(k)
	}
	o.count.Inc()
	o.duration.Observe(d.Seconds())
}

// route resolves (and remembers) the children of k.
func (m *Metrics) route(k routeKey) *routeObs {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.routes.Load()
	if o, ok := old[k]; ok {
		return o
	}
	route, method := routeLabels(k.pattern, k.method)
	o := &routeObs{
		count:    m.httpRequests.WithLabelValues(route, method, strconv.Itoa(k.code)),
		duration: m.httpDuration.WithLabelValues(route, method),
	}
	next := make(map[routeKey]*routeObs, len(old)+1)
	for kk, v := range old {
		next[kk] = v
	}
	next[k] = o
	m.routes.Store(&next)
	return o
}

// routeLabels splits a ServeMux pattern ("GET /v1/session") into the
// route and method labels. The catch-all "/" and no pattern at all are
// "unmatched", so a client cannot mint label values with its paths.
func routeLabels(pattern, method string) (route, meth string) {
	if m, p, ok := strings.Cut(pattern, " "); ok {
		pattern, method = strings.TrimSpace(p), m
	}
	if pattern == "" || pattern == "/" {
		return "unmatched", method
	}
	return pattern, method
}

// normMethod bounds the method label to the methods authd serves.
func normMethod(m string) string {
	switch m {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodOptions:
		return http.MethodOptions
	}
	return "other"
}

// Login implements server.Metrics.
func (m *Metrics) Login(outcome string) { m.logins.WithLabelValues(outcome).Inc() }

// Grant implements server.Metrics.
func (m *Metrics) Grant(grantType, outcome string) {
	m.grants.WithLabelValues(grantType, outcome).Inc()
}

// ThrottleRefused implements server.Metrics.
func (m *Metrics) ThrottleRefused(name string) { m.throttle.WithLabelValues(name).Inc() }

// HashWait observes a password hash's wait for a slot
// (password.Hasher.ObserveWait).
func (m *Metrics) HashWait(d time.Duration) { m.hashWait.Observe(d.Seconds()) }

// FeedLag observes a revocation's delivery on a live feed stream
// (server.Feed.ObserveLag).
func (m *Metrics) FeedLag(d time.Duration) { m.feedLag.Observe(d.Seconds()) }

// Revoked counts a session ended for cause (a subscriber of the event
// bus).
func (m *Metrics) Revoked(cause string) { m.revoked.WithLabelValues(cause).Inc() }

// Rotation counts a refresh-token redemption by its outcome
// (refresh.Outcome's name, spaces as underscores); "reused" also counts a
// reuse detection.
func (m *Metrics) Rotation(outcome string) {
	outcome = strings.ReplaceAll(outcome, " ", "_")
	m.rotations.WithLabelValues(outcome).Inc()
	if outcome == "reused" {
		m.reuse.Inc()
	}
}

// Mail counts a mail by outcome: queued, sent, failed, dropped.
func (m *Metrics) Mail(outcome string) { m.mails.WithLabelValues(outcome).Inc() }

// mailsQueued counts n mails queued.
func (m *Metrics) mailsQueued(n int) { m.mails.WithLabelValues("queued").Add(float64(n)) }

// storeTimer returns the observer of one backend's operation.
func (m *Metrics) storeTimer(backend, op string) prometheus.Observer {
	return m.storeCalls.WithLabelValues(backend, op)
}
