package main

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var metricsLine = regexp.MustCompile(`authd metrics on (http://\S+/metrics)`)

// scrape reads url and parses it with the Prometheus text parser into
// "name{label="value",…}" → value (counters, gauges, and each
// histogram's _count and _sum), labels sorted by name.
func scrape(t *testing.T, u string) (map[string]float64, []*dto.MetricFamily) {
	t.Helper()
	resp, err := testClient.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", u, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", u, err)
	}
	out := map[string]float64{}
	var list []*dto.MetricFamily
	for name, f := range fams {
		list = append(list, f)
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(ls)
			key := name + "{" + strings.Join(ls, ",") + "}"
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[strings.Replace(key, "{", "_count{", 1)] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out, list
}

// TestMetrics runs serve with --metrics-addr, does a known set of things
// and checks that each counter moved by exactly that, that the metrics
// are served only on their own port, and that no label value carries an
// address, an IP or a secret.
func TestMetrics(t *testing.T) {
	dir := t.TempDir()
	_, id, secret := addClient(t, nil, "notes", "--grant-types", "password,refresh_token", "--data-dir", dir)
	s := startServer(t, nil, serveArgs(dir, "--metrics-addr", "127.0.0.1:0", "--password-grant", "on",
		"--refresh-grace", "0", "--throttle-account-free", "1")...)
	m := metricsLine.FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no metrics line in stdout:\n%s", s.stdout.String())
	}
	metricsURL := m[1]
	api, _ := url.Parse(s.URL)
	mu, _ := url.Parse(metricsURL)
	if api.Host == mu.Host {
		t.Fatalf("metrics on the API's address %s", api.Host)
	}
	before, _ := scrape(t, metricsURL)

	// The activity.
	const alice, bob, pw = "alice@example.com", "bob@example.com", "correct horse battery staple"
	register(t, testClient, s.URL, alice, pw)
	register(t, testClient, s.URL, bob, pw)
	aliceCookie := login(t, testClient, s.URL, alice, pw)
	bobCookie := login(t, testClient, s.URL, bob, pw)
	resp, body := call(t, testClient, "POST", s.URL+"/v1/session", creds{alice, "wrong password, clearly"}, "")
	wantStatus(t, resp, body, http.StatusUnauthorized)
	// An unknown account fails twice (one free failure, then one after
	// no delay), then its throttle refuses the next attempt.
	for range 2 {
		resp, body = call(t, testClient, "POST", s.URL+"/v1/session", creds{"ghost@example.com", pw}, "")
		wantStatus(t, resp, body, http.StatusUnauthorized)
	}
	resp, body = call(t, testClient, "POST", s.URL+"/v1/session", creds{"ghost@example.com", pw}, "")
	wantStatus(t, resp, body, http.StatusTooManyRequests)
	for range 2 {
		if code, _ := whoami(t, testClient, s.URL, aliceCookie); code != http.StatusOK {
			t.Fatalf("GET /v1/session = %d", code)
		}
	}
	resp, body = call(t, testClient, "DELETE", s.URL+"/v1/session", nil, aliceCookie)
	wantStatus(t, resp, body, http.StatusNoContent)
	access, rt1 := krTokens(t, s.URL, url.Values{"grant_type": {"password"}, "username": {bob}, "password": {pw},
		"client_id": {id}, "client_secret": {secret}})
	access2, rt2 := krTokens(t, s.URL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1},
		"client_id": {id}, "client_secret": {secret}})
	// rt1 again: reuse, the session ends.
	r, err := testClient.PostForm(s.URL+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1},
		"client_id": {id}, "client_secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusBadRequest {
		t.Fatalf("reused refresh token: %d, want 400", r.StatusCode)
	}
	// Unknown routes, /metrics among them: not served on the API port.
	for _, p := range []string{"/metrics", "/no/such/" + alice} {
		resp, body = call(t, testClient, "GET", s.URL+p, nil, "")
		wantStatus(t, resp, body, http.StatusNotFound)
	}

	// Registrations mail verification links and the replayed refresh
	// token mails bob (queued, then written to <data-dir>/mail): wait
	// for the sender.
	var after map[string]float64
	var fams []*dto.MetricFamily
	deadline := time.Now().Add(10 * time.Second)
	for {
		after, fams = scrape(t, metricsURL)
		if after[`authd_mails_total{outcome="sent"}`]-before[`authd_mails_total{outcome="sent"}`] >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	want := map[string]float64{
		`authd_http_requests_total{code="201",method="POST",route="/v1/users"}`:        2,
		`authd_http_requests_total{code="201",method="POST",route="/v1/session"}`:      2,
		`authd_http_requests_total{code="401",method="POST",route="/v1/session"}`:      3,
		`authd_http_requests_total{code="429",method="POST",route="/v1/session"}`:      1,
		`authd_http_requests_total{code="200",method="GET",route="/v1/session"}`:       2,
		`authd_http_requests_total{code="204",method="DELETE",route="/v1/session"}`:    1,
		`authd_http_requests_total{code="200",method="POST",route="/oauth2/token"}`:    2,
		`authd_http_requests_total{code="400",method="POST",route="/oauth2/token"}`:    1,
		`authd_http_requests_total{code="404",method="GET",route="unmatched"}`:         2,
		`authd_http_request_duration_seconds_count{method="GET",route="/v1/session"}`:  2,
		`authd_logins_total{outcome="success"}`:                                        3, // two cookie sign-ins, one password grant
		`authd_logins_total{outcome="failure"}`:                                        3,
		`authd_logins_total{outcome="throttled"}`:                                      1,
		`authd_token_grants_total{grant_type="password",outcome="success"}`:            1,
		`authd_token_grants_total{grant_type="refresh_token",outcome="success"}`:       1,
		`authd_token_grants_total{grant_type="refresh_token",outcome="invalid_grant"}`: 1,
		`authd_refresh_rotations_total{outcome="rotated"}`:                             1,
		`authd_refresh_rotations_total{outcome="reused"}`:                              1,
		`authd_refresh_reuse_detected_total{}`:                                         1,
		`authd_sessions_revoked_total{cause="logout"}`:                                 1,
		`authd_sessions_revoked_total{cause="refresh_reused"}`:                         1,
		`authd_throttle_refusals_total{throttle="account"}`:                            1,
		// A verification link per registration, the replay notice.
		`authd_mails_total{outcome="queued"}`: 3,
		`authd_mails_total{outcome="sent"}`:   3,
		// Two registrations, five password checks and the password
		// grant's (the unknown account's checks hash a dummy).
		`authd_password_hash_queue_wait_seconds_count{}`:                                8,
		`authd_store_call_duration_seconds_count{backend="sqlite",op="user_create"}`:    2,
		`authd_store_call_duration_seconds_count{backend="sqlite",op="session_create"}`: 3,
		`authd_store_call_duration_seconds_count{backend="sqlite",op="refresh_rotate"}`: 2,
	}
	for k, w := range want {
		if got := after[k] - before[k]; got != w {
			t.Errorf("%s moved by %v, want %v", k, got, w)
		}
	}
	// Nothing else moved among the counters of what was done.
	for k, v := range after {
		for _, p := range []string{"authd_http_requests_total", "authd_logins_total", "authd_token_grants_total",
			"authd_refresh_rotations_total", "authd_sessions_revoked_total", "authd_throttle_refusals_total", "authd_mails_total"} {
			if strings.HasPrefix(k, p+"{") {
				if _, ok := want[k]; !ok && v != before[k] {
					t.Errorf("%s moved by %v, want 0", k, v-before[k])
				}
			}
		}
	}
	for _, k := range []string{`authd_password_hash_in_flight{}`, `authd_revocation_feed_followers{}`, `go_goroutines{}`} {
		if _, ok := after[k]; !ok {
			t.Errorf("%s missing", k)
		}
	}
	if _, ok := after[`process_cpu_seconds_total{}`]; !ok {
		t.Logf("process_cpu_seconds_total missing (no procfs?)")
	}

	// No label value carries an address, an IP or a secret of this test.
	secrets := []string{aliceCookie, bobCookie, access, access2, rt1, rt2, secret, pw, "ghost"}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				v := l.GetValue()
				if strings.Contains(v, "@") {
					t.Errorf("%s{%s=%q}: an address in a label", f.GetName(), l.GetName(), v)
				}
				if _, err := netip.ParseAddr(v); err == nil || strings.Contains(v, "127.0.0.1") || strings.Contains(v, api.Host) {
					t.Errorf("%s{%s=%q}: an IP in a label", f.GetName(), l.GetName(), v)
				}
				for _, sec := range secrets {
					if sec != "" && strings.Contains(v, sec) {
						t.Errorf("%s{%s=%q}: a secret of the test in a label", f.GetName(), l.GetName(), v)
					}
				}
			}
		}
	}
}

// TestMetricsAddrRefused: the metrics are never served on --addr.
func TestMetricsAddrRefused(t *testing.T) {
	for _, tt := range []struct{ addr, metrics string }{
		{"127.0.0.1:18080", "127.0.0.1:18080"},
		{":18080", "127.0.0.1:18080"},
		{"127.0.0.1:18080", "0.0.0.0:18080"},
	} {
		_, stderr, err := runCmd(t, nil, "", append([]string{"serve"},
			serveArgs(t.TempDir(), "--addr", tt.addr, "--metrics-addr", tt.metrics)...)...)
		if err == nil || !strings.Contains(stderr+err.Error(), "--metrics-addr") {
			t.Errorf("serve --addr %s --metrics-addr %s: err %v, stderr %q; want a refusal naming --metrics-addr", tt.addr, tt.metrics, err, stderr)
		}
	}
}
