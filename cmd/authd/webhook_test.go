package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// hookReceiver is a webhook endpoint for the tests: it verifies every
// request with the Standard Webhooks library and answers status (200, or
// 503 while "down").
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	wh     *standardwebhooks.Webhook
	status int
	hits   []hookHit
}

type hookHit struct {
	ID, Type string
	Status   int
	Err      error // the signature check's
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{status: http.StatusOK}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		h := hookHit{ID: req.Header.Get("webhook-id"), Status: r.status}
		if r.wh == nil {
			h.Err = io.ErrUnexpectedEOF // no secret yet: nothing should arrive
		} else {
			h.Err = r.wh.Verify(body, req.Header)
		}
		var env struct {
			Type string `json:"type"`
			Data struct {
				Type string `json:"type"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &env); err == nil && env.Type == env.Data.Type {
			h.Type = env.Data.Type
		}
		r.hits = append(r.hits, h)
		w.WriteHeader(r.status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) setSecret(t *testing.T, secret string) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("standardwebhooks.NewWebhook(printed secret) = %v", err)
	}
	r.mu.Lock()
	r.wh = wh
	r.mu.Unlock()
}

func (r *hookReceiver) setStatus(s int) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
}

func (r *hookReceiver) got() []hookHit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.hits)
}

// waitHits waits (bounded) until ok holds for the hits so far.
func (r *hookReceiver) waitHits(t *testing.T, what string, ok func([]hookHit) bool) []hookHit {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		hits := r.got()
		if ok(hits) {
			return hits
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook receiver: %s: not within 15s; got %+v", what, hits)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var secretLine = regexp.MustCompile(`(?m)^secret: (whsec_\S+)$`)

// TestWebhookEndToEnd runs the real binary: `authd webhook add`, then
// serve delivers the audit events signed; a delivery pending when authd
// stops is delivered after the restart, with the same webhook-id.
func TestWebhookEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the authd binary; skipped with -short")
	}
	bin := buildAuthd(t, t.TempDir())
	dir := t.TempDir()
	rcv := newHookReceiver(t)

	add := execAuthd(t, bin, "webhook", "add", rcv.URL+"/hook", "--events", "*", "--data-dir", dir)
	if code := add.wait(t); code != 0 {
		t.Fatalf("authd webhook add exited %d\nstderr:\n%s", code, add.stderr.String())
	}
	m := secretLine.FindStringSubmatch(add.stdout.String())
	if m == nil {
		t.Fatalf("authd webhook add printed no secret line:\n%s", add.stdout.String())
	}
	rcv.setSecret(t, m[1])
	list := execAuthd(t, bin, "webhook", "list", "--data-dir", dir)
	if code := list.wait(t); code != 0 || !strings.Contains(list.stdout.String(), rcv.URL+"/hook") || strings.Contains(list.stdout.String(), "whsec_") {
		t.Fatalf("authd webhook list = %d\n%s\nwant the URL, no secret", code, list.stdout.String())
	}

	args := serveArgs(dir, "--webhook-retry-min", "100ms")
	p := startAuthd(t, bin, args...)
	register(t, testClient, p.URL, "hook@example.com", goodPW)
	cookie := login(t, testClient, p.URL, "hook@example.com", goodPW)
	resp, body := call(t, testClient, "DELETE", p.URL+"/v1/session", nil, cookie)
	wantStatus(t, resp, body, http.StatusNoContent)

	hits := rcv.waitHits(t, "signout delivered", func(hs []hookHit) bool {
		return slices.ContainsFunc(hs, func(h hookHit) bool { return h.Type == "signout" })
	})
	seen := map[string]bool{}
	for _, h := range hits {
		t.Logf("delivered %s %s (%d)", h.ID, h.Type, h.Status)
		if h.Err != nil {
			t.Errorf("delivery %s (%s): Standard Webhooks Verify = %v", h.ID, h.Type, h.Err)
		}
		if !slices.Contains([]string{"user.created", "signin.succeeded", "signout"}, h.Type) {
			t.Errorf("delivery %s: data.type %q, want one of what happened (user.created, signin.succeeded, signout)", h.ID, h.Type)
		}
		if seen[h.ID] {
			t.Errorf("webhook-id %s delivered twice while the receiver answered 200", h.ID)
		}
		seen[h.ID] = true
	}

	// The receiver goes down; a sign-out's delivery stays pending while
	// authd stops, and goes out after the restart.
	rcv.setStatus(http.StatusServiceUnavailable)
	before := len(rcv.got())
	cookie = login(t, testClient, p.URL, "hook@example.com", goodPW)
	resp, body = call(t, testClient, "DELETE", p.URL+"/v1/session", nil, cookie)
	wantStatus(t, resp, body, http.StatusNoContent)
	failed := rcv.waitHits(t, "second signout attempted", func(hs []hookHit) bool {
		return slices.ContainsFunc(hs[before:], func(h hookHit) bool { return h.Type == "signout" && h.Status == 503 })
	})
	var pending string
	for _, h := range failed[before:] {
		if h.Type == "signout" {
			pending = h.ID
		}
	}
	p.terminate(t)

	rcv.setStatus(http.StatusOK)
	p = startAuthd(t, bin, args...)
	defer p.terminate(t)
	rcv.waitHits(t, "pending signout delivered after the restart", func(hs []hookHit) bool {
		return slices.ContainsFunc(hs, func(h hookHit) bool { return h.ID == pending && h.Status == 200 })
	})
	for _, h := range rcv.got() {
		if h.Err != nil {
			t.Errorf("delivery %s (%s): Standard Webhooks Verify = %v", h.ID, h.Type, h.Err)
		}
	}
}

// TestWebhookCommand: add refuses a plain-http receiver off loopback and
// unknown event types before touching the store; list and delete.
func TestWebhookCommand(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"webhook", "add", "http://hooks.example.com/x", "--events", "*"},
		{"webhook", "add", "https://hooks.example.com/x", "--events", "nope"},
		{"webhook", "add", "https://hooks.example.com/x"},
		{"webhook", "add", "https://hooks.example.com/x", "--events", "*,signout"},
		{"webhook", "frob"},
		{"webhook"},
	} {
		_, _, err := runCmd(t, nil, "", append(args, "--data-dir", dir+"/never")...)
		if !isUsage(err) {
			t.Errorf("authd %q = %v, want a usage error", args, err)
		}
	}
	out := mustRun(t, "", "webhook", "add", "https://hooks.example.com/x", "--events", "session.revoked, refresh.replayed", "--data-dir", dir)
	m := secretLine.FindStringSubmatch(out)
	idm := regexp.MustCompile(`(?m)^id: +(wh_\S+)$`).FindStringSubmatch(out)
	if m == nil || idm == nil {
		t.Fatalf("webhook add printed:\n%s\nwant id: and secret: lines", out)
	}
	if _, err := standardwebhooks.NewWebhook(m[1]); err != nil {
		t.Errorf("printed secret %q: standardwebhooks.NewWebhook = %v", m[1], err)
	}
	out = mustRun(t, "", "webhook", "list", "--data-dir", dir)
	if !strings.Contains(out, idm[1]) || !strings.Contains(out, "session.revoked,refresh.replayed") || strings.Contains(out, "whsec_") {
		t.Errorf("webhook list:\n%s\nwant %s with its events, no secret", out, idm[1])
	}
	mustRun(t, "", "webhook", "delete", idm[1], "--data-dir", dir)
	if out := mustRun(t, "", "webhook", "list", "--data-dir", dir); strings.Contains(out, idm[1]) {
		t.Errorf("webhook list after delete:\n%s", out)
	}
	if _, _, err := runCmd(t, nil, "", "webhook", "delete", idm[1], "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "no such webhook") {
		t.Errorf("webhook delete twice = %v, want no such webhook", err)
	}
}
