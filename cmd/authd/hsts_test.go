package main

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHSTS: when authd serves HTTPS itself (--tls-cert), every response,
// errors included, carries Strict-Transport-Security (ASVS 5.0 3.4.1);
// over plain HTTP none does.
func TestHSTS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	tlsSrv := startServer(t, nil, serveArgs(filepath.Join(dir, "tls"), "--tls-cert", certFile, "--tls-key", keyFile)...)
	plainSrv := startServer(t, nil, serveArgs(filepath.Join(dir, "plain"))...)
	if !strings.HasPrefix(tlsSrv.URL, "https://") || !strings.HasPrefix(plainSrv.URL, "http://") {
		t.Fatalf("URLs %q, %q: want https and http", tlsSrv.URL, plainSrv.URL)
	}
	tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	requests := []struct {
		method, path string
		body         string
		status       int
	}{
		{"GET", "/healthz", "", http.StatusOK},
		{"GET", "/.well-known/jwks.json", "", http.StatusOK},
		{"GET", "/login", "", http.StatusOK},
		{"GET", "/v1/session", "", http.StatusUnauthorized},
		{"POST", "/v1/session", `{"email":"nobody@example.com","password":"` + goodPW + `"}`, http.StatusUnauthorized},
		{"POST", "/v1/users", `{`, http.StatusBadRequest},
		{"GET", "/no/such/page", "", http.StatusNotFound},
	}
	for _, srv := range []struct {
		base   string
		client *http.Client
		want   string
	}{
		{tlsSrv.URL, tlsClient, hstsValue},
		{plainSrv.URL, testClient, ""},
	} {
		for _, rq := range requests {
			hr, err := http.NewRequest(rq.method, srv.base+rq.path, strings.NewReader(rq.body))
			if err != nil {
				t.Fatal(err)
			}
			if rq.body != "" {
				hr.Header.Set("Content-Type", "application/json")
			}
			resp, err := srv.client.Do(hr)
			if err != nil {
				t.Fatalf("%s %s%s: %v", rq.method, srv.base, rq.path, err)
			}
			resp.Body.Close()
			if resp.StatusCode != rq.status {
				t.Errorf("%s %s%s = %d, want %d", rq.method, srv.base, rq.path, resp.StatusCode, rq.status)
			}
			if got := resp.Header.Values("Strict-Transport-Security"); strings.Join(got, ",") != srv.want {
				t.Errorf("%s %s%s: Strict-Transport-Security = %q, want %q", rq.method, srv.base, rq.path, got, srv.want)
			}
		}
	}
}

// TestHSTSOnlyOverTLS: the wrapper itself never sets the header on a
// request that did not arrive over TLS, whatever the handler behind it.
func TestHSTSOnlyOverTLS(t *testing.T) {
	h := hsts(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	tests := []struct {
		name string
		tls  bool
		want string
	}{
		{"plain", false, ""},
		{"TLS", true, hstsValue},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "http://authd.test/", nil)
		if tt.tls {
			r.TLS = &tls.ConnectionState{HandshakeComplete: true}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Header().Get("Strict-Transport-Security"); got != tt.want || w.Code != http.StatusTeapot {
			t.Errorf("%s: %d, Strict-Transport-Security %q; want 418, %q", tt.name, w.Code, got, tt.want)
		}
	}
}
