package backchannel_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/backchannel"
	"github.com/authd/authd/event"
	"github.com/authd/authd/jwk"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/session"
	"github.com/authd/authd/token"
)

// TestDelivers: one ended session, one POST (Back-Channel Logout 1.0
// §2.5) of a form with exactly logout_token, a logout token (§2.4) signed
// with the client's ID-token algorithm and verified with the published
// key, with exactly the claims §2.4 lists; then nothing more.
func TestDelivers(t *testing.T) {
	f := newFixture(t, []string{jwk.EdDSA, jwk.ES256, jwk.RS256}, nil)
	rc := newReceiver(t, f.clk, nil)
	tests := []struct {
		name, clientAlg, wantAlg string
		userID                   string
	}{
		{"default algorithm", "", jwk.RS256, "user-1"},
		{"ES256 client", jwk.ES256, jwk.ES256, "user-1"},
		{"EdDSA client", jwk.EdDSA, jwk.EdDSA, "user-2"},
		{"owner unknown: sid only", jwk.EdDSA, jwk.EdDSA, ""},
	}
	f.run(t)
	jtis := map[string]bool{}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.register(t, fmt.Sprintf("app %d", i), rc.URL+"/logout", tt.clientAlg)
			sid := fmt.Sprintf("session-%d", i)
			before := rc.N()
			f.n.Handle(context.Background(), ended(tt.userID, sid, c.ID))
			waitFor(t, "the delivery", func() bool { return f.n.Len() == 0 })
			hits := rc.Hits()[before:]
			if len(hits) != 1 {
				t.Fatalf("%d requests; want 1", len(hits))
			}
			h := hits[0]
			if h.method != http.MethodPost || h.header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
				h.header.Get("Cache-Control") != "no-store" {
				t.Errorf("request %s, Content-Type %q, Cache-Control %q; want a form POST with no-store",
					h.method, h.header.Get("Content-Type"), h.header.Get("Cache-Control"))
			}
			if got := slices.Sorted(maps.Keys(h.form)); !slices.Equal(got, []string{"logout_token"}) || len(h.form["logout_token"]) != 1 {
				t.Fatalf("form %v; want exactly one logout_token", h.form)
			}
			hdr, claims := f.verify(t, h.form.Get("logout_token"), h.at)
			if hdr["typ"] != token.TypeLogoutToken || hdr["alg"] != tt.wantAlg {
				t.Errorf("header %v; want typ %s, alg %s", hdr, token.TypeLogoutToken, tt.wantAlg)
			}
			iat := float64(clockStart.Unix())
			want := map[string]any{"iss": issuerURL, "aud": c.ID, "sid": sid, "iat": iat,
				"exp":    iat + token.LogoutTokenTTL.Seconds(),
				"events": map[string]any{token.BackchannelLogoutEvent: map[string]any{}}}
			if tt.userID != "" {
				want["sub"] = tt.userID
			}
			jti, _ := claims["jti"].(string)
			if jti == "" || jtis[jti] {
				t.Errorf("jti %q: want a fresh one", jti)
			}
			jtis[jti] = true
			delete(claims, "jti")
			if fmt.Sprint(map[string]any(claims)) != fmt.Sprint(want) {
				t.Errorf("claims %v (and jti); want exactly %v", claims, want)
			}
		})
	}
	// Delivered means done: time passes, nothing is sent again.
	n := rc.N()
	for range 5 {
		f.clk.Advance(time.Hour)
	}
	time.Sleep(20 * time.Millisecond)
	if rc.N() != n {
		t.Errorf("%d more requests after every delivery succeeded; want none", rc.N()-n)
	}
}

// TestRetries: a delivery that fails (5xx, 400, a timeout, a redirect,
// which is not followed) is attempted again, with a fresh token each
// time, until the app answers 2xx, then never again.
func TestRetries(t *testing.T) {
	const timeout = -1 // the receiver does not answer within the HTTP timeout
	const redirect = -2
	tests := []struct {
		name    string
		answers []int
	}{
		{"500 then 200", []int{500, 200}},
		{"5xx three times then 204", []int{500, 503, 502, 204}},
		{"400 then 200", []int{400, 200}},
		{"timeouts then 200", []int{timeout, timeout, 200}},
		{"redirect not followed, then 200", []int{redirect, 200}},
		{"refused then 202", []int{429, 202}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil, func(c *backchannel.Config) { c.HTTP = &http.Client{Timeout: 100 * time.Millisecond} })
			elsewhere := newReceiver(t, f.clk, nil)
			rc := newReceiver(t, f.clk, func(n int, r *http.Request, w http.ResponseWriter) int {
				switch a := tt.answers[min(n, len(tt.answers)-1)]; a {
				case timeout:
					select {
					case <-r.Context().Done():
					case <-time.After(5 * time.Second):
					}
					return 0
				case redirect:
					w.Header().Set("Location", elsewhere.URL+"/logout")
					return http.StatusFound
				default:
					return a
				}
			})
			c := f.register(t, "app", rc.URL+"/logout", "")
			f.run(t)
			f.n.Handle(context.Background(), ended("u", "s1", c.ID))
			for i := 1; i < len(tt.answers); i++ {
				waitFor(t, fmt.Sprintf("attempt %d", i), func() bool { return rc.N() == i })
				waitFor(t, "the retry timer", func() bool { _, ok := f.clk.Next(); return ok })
				if f.n.Len() != 1 {
					t.Fatalf("after failed attempt %d, Len = %d; want the delivery pending", i, f.n.Len())
				}
				f.clk.Advance(5 * time.Minute)
			}
			waitFor(t, "the delivery", func() bool { return f.n.Len() == 0 })
			for range 5 {
				f.clk.Advance(time.Hour)
			}
			time.Sleep(20 * time.Millisecond)
			hits := rc.Hits()
			if len(hits) != len(tt.answers) {
				t.Fatalf("%d attempts; want %d", len(hits), len(tt.answers))
			}
			jtis := map[string]bool{}
			for _, h := range hits {
				_, claims := f.verify(t, h.form.Get("logout_token"), h.at)
				jti := claims["jti"].(string)
				if jtis[jti] {
					t.Errorf("jti %s sent twice; want a fresh token per attempt", jti)
				}
				jtis[jti] = true
				if claims["sid"] != "s1" || claims["iat"] != float64(h.at.Unix()) {
					t.Errorf("attempt at %v: claims %v; want sid s1 issued then", h.at, claims)
				}
			}
			if n := elsewhere.N(); n != 0 {
				t.Errorf("the redirect target got %d requests; want none", n)
			}
			if logs := f.logs.String(); !strings.Contains(logs, "level=INFO msg=\"back-channel logout failed; retrying\"") {
				t.Errorf("no info line for the first failure in\n%s", logs)
			}
		})
	}
}

// TestBackoffAndGiveUp: failed attempts are retried after 1 s doubling
// to the cap (each wait shortened by at most a quarter, the jitter), the
// last one exactly at the give-up time; then the delivery is dropped with
// a warning.
func TestBackoffAndGiveUp(t *testing.T) {
	retry := backchannel.Retry{First: time.Second, Max: 5 * time.Minute, GiveUpAfter: time.Hour}
	f := newFixture(t, nil, func(c *backchannel.Config) { c.Retry = retry })
	rc := newReceiver(t, f.clk, func(int, *http.Request, http.ResponseWriter) int { return http.StatusServiceUnavailable })
	c := f.register(t, "app", rc.URL+"/logout", "")
	f.run(t)
	f.n.Handle(context.Background(), ended("u", "s1", c.ID))
	base := time.Second
	for attempt := 1; ; attempt++ {
		waitFor(t, fmt.Sprintf("attempt %d", attempt), func() bool { return rc.N() == attempt })
		var wait time.Duration
		var ok bool
		waitFor(t, "the retry timer or the give-up", func() bool {
			wait, ok = f.clk.Next()
			return ok || f.n.Len() == 0
		})
		if !ok {
			break
		}
		elapsed := f.clk.Now().Sub(clockStart)
		if left := retry.GiveUpAfter - elapsed; left < base*3/4 {
			if wait != left {
				t.Errorf("attempt %d: the last retry in %v; want it at the give-up time, in %v", attempt, wait, left)
			}
		} else if wait <= base*3/4-time.Nanosecond || wait > base {
			t.Errorf("attempt %d: retry in %v; want in (%v, %v]", attempt, wait, base*3/4, base)
		}
		base = min(2*base, retry.Max)
		f.clk.Advance(wait)
		if attempt > 100 {
			t.Fatal("still retrying after 100 attempts")
		}
	}
	hits := rc.Hits()
	if last := hits[len(hits)-1].at; !last.Equal(clockStart.Add(retry.GiveUpAfter)) {
		t.Errorf("last attempt at %v; want at the give-up time %v", last, clockStart.Add(retry.GiveUpAfter))
	}
	if logs := f.logs.String(); !strings.Contains(logs, "level=WARN msg=\"back-channel logout given up") ||
		!strings.Contains(logs, "attempts="+fmt.Sprint(len(hits))) {
		t.Errorf("no warning for the delivery given up after %d attempts in\n%s", len(hits), logs)
	}
	f.clk.Advance(24 * time.Hour)
	time.Sleep(20 * time.Millisecond)
	if rc.N() != len(hits) {
		t.Errorf("%d attempts after giving up; want none", rc.N()-len(hits))
	}
}

// TestIgnored: only sessions of a client that registered a back-channel
// logout URI, ended on this instance and handed out, are told (§2.2);
// everything else sends nothing. A marker delivery to the same receiver
// shows the Notifier was working.
func TestIgnored(t *testing.T) {
	tests := []struct {
		name  string
		event func(withURI, withoutURI string) event.Event
	}{
		{"another kind", func(app, _ string) event.Event {
			e := ended("u", "s1", app)
			e.Kind = event.KeyRevoked
			return e
		}},
		{"remote", func(app, _ string) event.Event {
			e := ended("u", "s1", app)
			e.Cause = event.CauseElsewhere
			return e
		}},
		{"aborted sign-in", func(app, _ string) event.Event {
			e := ended("u", "s1", app)
			e.Cause = event.CauseAborted
			return e
		}},
		{"authd's own session", func(string, string) event.Event { return ended("u", "s1", "") }},
		{"no session ID", func(app, _ string) event.Event { return ended("u", "", app) }},
		{"client without a URI", func(_, noURI string) event.Event { return ended("u", "s1", noURI) }},
		{"unknown client", func(string, string) event.Event { return ended("u", "s1", "c_gone") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil, nil)
			rc := newReceiver(t, f.clk, nil)
			app := f.register(t, "app", rc.URL+"/logout", "")
			noURI := f.register(t, "no uri", "", "")
			f.run(t)
			f.n.Handle(context.Background(), tt.event(app.ID, noURI.ID))
			f.n.Handle(context.Background(), ended("u", "marker", app.ID))
			waitFor(t, "every delivery settled", func() bool { return f.n.Len() == 0 && rc.N() >= 1 })
			time.Sleep(10 * time.Millisecond)
			hits := rc.Hits()
			if len(hits) != 1 {
				t.Fatalf("%d requests; want only the marker's", len(hits))
			}
			if _, claims := f.verify(t, hits[0].form.Get("logout_token"), hits[0].at); claims["sid"] != "marker" {
				t.Errorf("delivered sid %v; want only the marker", claims["sid"])
			}
		})
	}
}

// TestClientKnownWithoutURINotQueued: once a look-up found a client has no
// back-channel logout URI, its events are not even queued (for a
// minute), so they cannot crowd out deliveries that matter.
func TestClientKnownWithoutURINotQueued(t *testing.T) {
	f := newFixture(t, nil, nil)
	noURI := f.register(t, "no uri", "", "")
	f.run(t)
	f.n.Handle(context.Background(), ended("u", "s1", noURI.ID))
	waitFor(t, "the look-up", func() bool { return f.n.Len() == 0 })
	f.n.Handle(context.Background(), ended("u", "s2", noURI.ID))
	if n := f.n.Len(); n != 0 {
		t.Errorf("Len = %d after an event of a client known to have no URI; want 0", n)
	}
}

// TestQueueBound: a full queue drops its oldest delivery, with a
// warning; the newest are delivered.
func TestQueueBound(t *testing.T) {
	f := newFixture(t, nil, func(c *backchannel.Config) { c.MaxQueue = 3 })
	rc := newReceiver(t, f.clk, nil)
	app := f.register(t, "app", rc.URL+"/logout", "")
	for i := 1; i <= 5; i++ {
		f.n.Handle(context.Background(), ended("u", fmt.Sprintf("s%d", i), app.ID))
		if n, want := f.n.Len(), min(i, 3); n != want {
			t.Fatalf("after %d events Len = %d; want %d", i, n, want)
		}
	}
	if logs := f.logs.String(); !strings.Contains(logs, "level=WARN msg=\"back-channel logout queue full") {
		t.Errorf("no warning for the dropped deliveries in\n%s", logs)
	}
	f.run(t)
	waitFor(t, "the deliveries", func() bool { return f.n.Len() == 0 })
	var sids []string
	for _, h := range rc.Hits() {
		_, claims := f.verify(t, h.form.Get("logout_token"), h.at)
		sids = append(sids, claims["sid"].(string))
	}
	slices.Sort(sids)
	if want := []string{"s3", "s4", "s5"}; !slices.Equal(sids, want) {
		t.Errorf("delivered %v; want the newest %v", sids, want)
	}
}

// TestSlowAppDoesNotDelayOthers: an app that does not answer holds one
// delivery slot at a time, however many of its logouts are queued; other
// apps' logouts go through meanwhile.
func TestSlowAppDoesNotDelayOthers(t *testing.T) {
	f := newFixture(t, nil, func(c *backchannel.Config) { c.Workers = 2 })
	release := make(chan struct{})
	var once sync.Once
	slow := newReceiver(t, f.clk, func(_ int, r *http.Request, _ http.ResponseWriter) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the servers close
	fast := newReceiver(t, f.clk, nil)
	slowApp := f.register(t, "slow", slow.URL+"/logout", "")
	fastApp := f.register(t, "fast", fast.URL+"/logout", "")
	f.run(t)
	for i := range 10 {
		f.n.Handle(context.Background(), ended("u", fmt.Sprintf("slow-%d", i), slowApp.ID))
	}
	waitFor(t, "the slow app's first request", func() bool { return slow.N() == 1 })
	for i := range 5 {
		f.n.Handle(context.Background(), ended("u", fmt.Sprintf("fast-%d", i), fastApp.ID))
	}
	waitFor(t, "the fast app's deliveries", func() bool { return fast.N() == 5 })
	if n := slow.N(); n != 1 {
		t.Errorf("the slow app got %d concurrent requests; want 1 (one per client)", n)
	}
	once.Do(func() { close(release) })
	waitFor(t, "the slow app's deliveries", func() bool { return f.n.Len() == 0 })
	if n := slow.N(); n != 10 {
		t.Errorf("the slow app got %d requests; want 10", n)
	}
}

// TestFiftySessionsRevokedAtOnce: a user with 50 sessions of an app
// (and others, of an app without a URI and of authd itself) is disabled:
// through a real session.Manager and event bus, the app hears of each of
// the 50 exactly once, though a third of the first attempts fail; none is
// lost, none repeated after its success.
func TestFiftySessionsRevokedAtOnce(t *testing.T) {
	f := newFixture(t, nil, nil)
	var mu sync.Mutex
	acked := map[string]int{}    // sid → 2xx answers
	attempts := map[string]int{} // sid → requests
	var rc *receiver
	rc = newReceiver(t, f.clk, func(_ int, r *http.Request, _ http.ResponseWriter) int {
		_, claims, err := f.parse(r.PostForm.Get("logout_token"), f.clk.Now())
		if err != nil {
			t.Errorf("the app got a logout token that does not verify: %v", err)
			return http.StatusBadRequest
		}
		sid, _ := claims["sid"].(string)
		mu.Lock()
		defer mu.Unlock()
		attempts[sid]++
		if attempts[sid] == 1 && len(attempts)%3 == 0 {
			return http.StatusInternalServerError
		}
		acked[sid]++
		return http.StatusOK
	})
	app := f.register(t, "app", rc.URL+"/logout", "")
	other := f.register(t, "other", "", "")

	var bus event.Bus
	bus.Subscribe(f.n.Handle)
	m := session.NewManager(memstore.New(), session.Config{Events: &bus, Now: f.clk.Now})
	ctx := context.Background()
	want := map[string]bool{}
	for range 50 {
		_, s, err := m.Create(ctx, "u1", session.KindToken, session.Meta{ClientID: app.ID})
		if err != nil {
			t.Fatal(err)
		}
		want[s.ID] = true
	}
	for range 5 {
		m.Create(ctx, "u1", session.KindToken, session.Meta{ClientID: other.ID})
		m.Create(ctx, "u1", session.KindCookie, session.Meta{})
	}
	f.run(t)
	if err := m.RevokeUser(ctx, "u1", "", event.CauseUserDisabled); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "50 acknowledged deliveries", func() bool {
		if _, ok := f.clk.Next(); ok {
			f.clk.Advance(5 * time.Minute)
		}
		mu.Lock()
		defer mu.Unlock()
		return len(acked) == 50 && f.n.Len() == 0
	})
	for range 5 {
		f.clk.Advance(time.Hour)
	}
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	retried := 0
	for sid, n := range acked {
		if !want[sid] {
			t.Errorf("delivered sid %s, not one of the app's sessions", sid)
		}
		if n != 1 {
			t.Errorf("sid %s acknowledged %d times; want once", sid, n)
		}
		if attempts[sid] > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Error("no delivery was retried; the test meant some to be")
	}
	for _, h := range rc.Hits() {
		if _, claims := f.verify(t, h.form.Get("logout_token"), h.at); claims["sub"] != "u1" || claims["aud"] != app.ID {
			t.Errorf("claims %v; want sub u1, aud %s", claims, app.ID)
		}
	}
}

// TestClose: Close gives the deliveries due a chance, then stops Run and
// warns about what is lost (pending retries: the queue is in memory);
// events after Close are ignored.
func TestClose(t *testing.T) {
	f := newFixture(t, nil, nil)
	ok := newReceiver(t, f.clk, func(int, *http.Request, http.ResponseWriter) int {
		time.Sleep(30 * time.Millisecond)
		return http.StatusOK
	})
	down := newReceiver(t, f.clk, func(int, *http.Request, http.ResponseWriter) int { return http.StatusBadGateway })
	okApp := f.register(t, "ok", ok.URL+"/logout", "")
	downApp := f.register(t, "down", down.URL+"/logout", "")
	f.run(t)
	f.n.Handle(context.Background(), ended("u", "s-down", downApp.ID))
	waitFor(t, "the first attempt", func() bool { return down.N() == 1 })
	waitFor(t, "the retry timer", func() bool { _, ok := f.clk.Next(); return ok })
	f.n.Handle(context.Background(), ended("u", "s-ok", okApp.ID))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f.n.Close(ctx)
	if n := ok.N(); n != 1 {
		t.Errorf("the due delivery was attempted %d times before Close returned; want 1", n)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "level=WARN msg=\"back-channel logout: undelivered logout tokens lost at shutdown") ||
		!strings.Contains(logs, "pending=1") {
		t.Errorf("no warning about the one pending retry lost in\n%s", logs)
	}
	f.stop() // Run has returned
	f.n.Handle(context.Background(), ended("u", "s-late", okApp.ID))
	if n := f.n.Len(); n != 1 {
		t.Errorf("Len = %d after an event past Close; want 1 (the lost retry only)", n)
	}
}
