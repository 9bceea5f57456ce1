package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/authd/authd/pgstore"
	"github.com/authd/authd/pgstore/pgtest"
	"github.com/authd/authd/redisstore"
	"github.com/authd/authd/redisstore/redistest"
	"github.com/authd/authd/throttle"
)

// throttleBackends are the login throttles a deployment can run: in
// memory (SQLite and single instances), PostgreSQL and Redis.
var throttleBackends = []struct {
	name string
	mk   func(t *testing.T, name string, cfg throttle.Config) throttle.Throttler
}{
	{"memory", nil},
	{"postgres", func(t *testing.T, name string, cfg throttle.Config) throttle.Throttler {
		st, err := pgstore.Open(context.Background(), pgDSN(t), pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return pgstore.NewThrottle(st, name, cfg)
	}},
	{"redis", func(t *testing.T, name string, cfg throttle.Config) throttle.Throttler {
		st := redistest.NewStore(t, redistest.Standalone(t), redisstore.Options{Prefix: redisPrefix(t)})
		return redisstore.NewThrottle(st, name, cfg)
	}},
}

// pgDSN and redisPrefix give one fresh database / key space per test, so
// the account and IP throttles of one harness share it.
var (
	backendMu  sync.Mutex
	pgDSNs     = map[*testing.T]string{}
	redisPrefs = map[*testing.T]string{}
)

func pgDSN(t *testing.T) string {
	backendMu.Lock()
	defer backendMu.Unlock()
	if d, ok := pgDSNs[t]; ok {
		return d
	}
	d := pgtest.NewDatabase(t)
	pgDSNs[t] = d
	return d
}

func redisPrefix(t *testing.T) string {
	backendMu.Lock()
	defer backendMu.Unlock()
	if p, ok := redisPrefs[t]; ok {
		return p
	}
	p := redistest.Prefix()
	redisPrefs[t] = p
	return p
}

// TestParallelGuesses is the attack of issue 13 #1: 199 wrong guesses for
// one account sent at once, then the right password. Attempts are counted
// before the hash, so only the free ones and the one that starts the first
// delay are evaluated; the rest, and then the right password, get 429.
// Before, all 199 were evaluated and the right password got in.
func TestParallelGuesses(t *testing.T) {
	const free = 5 // the harness' account budget
	endpoints := []struct {
		name  string
		guess func(h *harness, cookie, pw string) *http.Response
	}{
		{"POST /v1/session", func(h *harness, _, pw string) *http.Response {
			return h.do(req{method: "POST", path: "/v1/session", body: creds("alice@example.com", pw)})
		}},
		{"password grant", func(h *harness, _, pw string) *http.Response {
			return h.postForm("/oauth2/token", form("grant_type", "password", "username", "alice@example.com", "password", pw), nil)
		}},
		{"password change with a stolen cookie", func(h *harness, cookie, pw string) *http.Response {
			return h.do(req{method: "PUT", path: "/v1/user/password", cookie: cookie,
				body: js(map[string]string{"current_password": pw, "new_password": newPassword})})
		}},
	}
	for _, be := range throttleBackends {
		for _, ep := range endpoints {
			t.Run(be.name+"/"+ep.name, func(t *testing.T) {
				h := newHarness(t, options{throttle: be.mk})
				h.register("alice@example.com")
				cookie := h.login("alice@example.com") // resets the account's count
				var mu sync.Mutex
				statuses := map[int]int{}
				var wg sync.WaitGroup
				gate := make(chan struct{})
				for i := range 199 {
					wg.Go(func() {
						<-gate
						resp := ep.guess(h, cookie, fmt.Sprintf("wrong guess number %d", i))
						mu.Lock()
						statuses[resp.StatusCode]++
						mu.Unlock()
					})
				}
				close(gate)
				wg.Wait()
				evaluated := 199 - statuses[http.StatusTooManyRequests]
				if evaluated > free+1 || statuses[http.StatusTooManyRequests] < 199-(free+1) {
					t.Errorf("199 parallel wrong guesses: statuses %v; want at most %d evaluated, the rest 429", statuses, free+1)
				}
				for code := range statuses {
					if code >= 500 {
						t.Errorf("statuses %v: a %d", statuses, code)
					}
				}
				// Some of the burst may have been refused for being in flight
				// together (not counted); guesses sent one by one then find
				// what is left of the same budget, and no more.
				for range free + 1 - evaluated {
					resp := ep.guess(h, cookie, "one more wrong guess")
					if resp.StatusCode == http.StatusTooManyRequests {
						t.Fatalf("a sequential guess was refused with budget left (%d evaluated in the burst)", evaluated)
					}
				}
				resp := ep.guess(h, cookie, testPassword)
				wantStatus(t, "the right password once the budget is spent", resp, http.StatusTooManyRequests)
				if resp.Header.Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
			})
		}
	}
}

// TestKnownDeviceNotLockedOut is issue 13 #2: failures from elsewhere
// cannot keep the owner out. A client that signed in before (it holds the
// device cookie, also after signing out) is counted under its own budget.
func TestKnownDeviceNotLockedOut(t *testing.T) {
	for _, be := range throttleBackends {
		t.Run(be.name, func(t *testing.T) {
			h := newHarness(t, options{throttle: be.mk})
			h.register("alice@example.com")
			h.register("bob@example.com")
			resp := h.do(req{method: "POST", path: "/v1/session", body: creds("alice@example.com", testPassword), remote: "192.0.2.1:1"})
			wantStatus(t, "first sign-in", resp, http.StatusCreated)
			device := cookieNamed(resp, "__Host-authd_device")
			if device == nil || !device.HttpOnly || !device.Secure || device.SameSite != http.SameSiteStrictMode || device.MaxAge < 300*24*3600 {
				t.Fatalf("device cookie = %+v, want a long-lived HttpOnly Secure SameSite=Strict cookie", device)
			}
			s := sessionCookie(resp).Value
			wantStatus(t, "sign out", h.do(req{method: "DELETE", path: "/v1/session", cookie: s}), http.StatusNoContent)

			// An attacker elsewhere exhausts the account's budget.
			for range 10 {
				h.do(req{method: "POST", path: "/v1/session", body: creds("alice@example.com", "attacker's guess"), remote: "203.0.113.5:1"})
			}
			withDevice := func(email, pw, dev, remote string) *http.Response {
				return h.do(req{method: "POST", path: "/v1/session", body: creds(email, pw), remote: remote,
					header: map[string]string{"Cookie": "__Host-authd_device=" + dev}})
			}
			wantStatus(t, "the owner from a new place, no device cookie", h.do(req{method: "POST", path: "/v1/session",
				body: creds("alice@example.com", testPassword), remote: "198.51.100.1:1"}), http.StatusTooManyRequests)
			wantStatus(t, "the owner's known device, after signing out", withDevice("alice@example.com", testPassword, device.Value, "198.51.100.2:1"), http.StatusCreated)
			// The same works for the password grant.
			resp = h.do(req{method: "POST", path: "/oauth2/token", body: form("grant_type", "password", "username", "alice@example.com", "password", testPassword),
				header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Cookie": "__Host-authd_device=" + device.Value}})
			wantStatus(t, "password grant from the known device", resp, http.StatusOK)

			// The entry is bound to alice: for bob it is an unknown source.
			for range 10 {
				h.do(req{method: "POST", path: "/v1/session", body: creds("bob@example.com", "attacker's guess"), remote: "203.0.113.6:1"})
			}
			wantStatus(t, "alice's device entry used for bob", withDevice("bob@example.com", testPassword, device.Value, "198.51.100.3:1"), http.StatusTooManyRequests)
			// A forged or mangled entry is an unknown source too.
			forged := strings.Repeat("A", 22) + "." + strings.Repeat("B", 22)
			wantStatus(t, "forged device cookie", withDevice("bob@example.com", testPassword, forged, "198.51.100.4:1"), http.StatusTooManyRequests)
			mangled := device.Value[:len(device.Value)-1] + "x"
			wantStatus(t, "mangled device cookie", withDevice("bob@example.com", testPassword, mangled, "198.51.100.4:1"), http.StatusTooManyRequests)

			// A stolen device cookie is itself throttled: it buys its
			// holder no more guesses than any other source.
			for range 6 {
				wantStatus(t, "guess with a stolen device cookie", withDevice("alice@example.com", "thief's guess", device.Value, "203.0.113.7:1"), http.StatusUnauthorized)
			}
			wantStatus(t, "stolen device cookie past its budget", withDevice("alice@example.com", testPassword, device.Value, "203.0.113.7:1"), http.StatusTooManyRequests)
		})
	}
}

// TestDeviceCookieKeepsAccounts: one client that signs in to several
// accounts keeps an entry for each (up to five), the newest first.
func TestDeviceCookieKeepsAccounts(t *testing.T) {
	h := newHarness(t, options{})
	dev := ""
	for i := range 7 {
		email := fmt.Sprintf("user%d@example.com", i)
		h.register(email)
		resp := h.do(req{method: "POST", path: "/v1/session", body: creds(email, testPassword),
			header: map[string]string{"Cookie": "__Host-authd_device=" + dev}})
		wantStatus(t, "sign in", resp, http.StatusCreated)
		dev = cookieNamed(resp, "__Host-authd_device").Value
	}
	if n := len(strings.Split(dev, "~")); n != 5 {
		t.Fatalf("device cookie holds %d entries, want 5: %q", n, dev)
	}
	// The newest five are known: user2..user6. user6 keeps its entry when
	// it signs in again (no duplicate).
	resp := h.do(req{method: "POST", path: "/v1/session", body: creds("user6@example.com", testPassword),
		header: map[string]string{"Cookie": "__Host-authd_device=" + dev}})
	if again := cookieNamed(resp, "__Host-authd_device").Value; again != dev {
		t.Errorf("signing in again changed the cookie:\n%q\n%q", dev, again)
	}
}

// TestIPv6Bucketing is issue 13 #3: the addresses of one /64 share a
// per-IP budget; another /64 has its own.
func TestIPv6Bucketing(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	for i := range 21 {
		// A different account each time, so only the IP budget fills.
		body := creds(fmt.Sprintf("spray%d@example.com", i), "wrong password here")
		remote := fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1)
		wantStatus(t, "spray from one /64", h.do(req{method: "POST", path: "/v1/session", body: body, remote: remote}), http.StatusUnauthorized)
	}
	tests := []struct {
		remote string
		want   int
	}{
		{"[2001:db8:1:2:ffff:ffff:ffff:ffff]:1", http.StatusTooManyRequests},
		{"[2001:db8:1:2::dead:beef]:1", http.StatusTooManyRequests},
		{"[2001:db8:1:3::1]:1", http.StatusCreated},
		{"192.0.2.1:1", http.StatusCreated},
	}
	for _, tt := range tests {
		resp := h.do(req{method: "POST", path: "/v1/session", body: creds("alice@example.com", testPassword), remote: tt.remote})
		wantStatus(t, "login from "+tt.remote, resp, tt.want)
	}
}

// TestParallelRegistrations: the registration budget per IP is reserved
// before the hash as well.
func TestParallelRegistrations(t *testing.T) {
	h := newHarness(t, options{})
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range 100 {
		wg.Go(func() {
			<-gate
			resp := h.do(req{method: "POST", path: "/v1/users", remote: "192.0.2.9:1",
				body: creds(fmt.Sprintf("new%d@example.com", i), testPassword)})
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		})
	}
	close(gate)
	wg.Wait()
	if statuses[http.StatusCreated] > 21 || statuses[http.StatusCreated]+statuses[http.StatusTooManyRequests] != 100 {
		t.Errorf("100 parallel registrations from one IP: %v; want at most 21 created, the rest 429", statuses)
	}
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}
