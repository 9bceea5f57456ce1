package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/authcode"
	"github.com/authd/authd/client"
	"github.com/authd/authd/event"
	"github.com/authd/authd/internal/server"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/mfa"
	"github.com/authd/authd/passkey"
	"github.com/authd/authd/password"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/session"
	"github.com/authd/authd/sqlitestore"
	"github.com/authd/authd/throttle"
	"github.com/authd/authd/token"
	"github.com/authd/authd/user"
)

// clock is the injectable time of every test: expiry tests move it, they
// never sleep.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type backend interface {
	session.Store
	user.Store
	refresh.Store
	jwks.Store
	client.Store
	client.ConsentStore
	authcode.Store
	user.TokenStore
	mail.Outbox
	audit.Store
	mfa.Store
	Ping(context.Context) error
	Close() error
}

// harness is one authd API over a real store.
type harness struct {
	t        testing.TB
	srv      *server.Server
	clock    *clock
	store    backend
	users    *user.Service
	sessions *session.Manager
	ring     *jwks.Ring
	clients  *client.Service
	revoked  *token.RevocationSet
	mfa      *mfa.Service
}

// issuerURL is the iss of the harness' tokens.
const issuerURL = "http://authd.test"

type options struct {
	sqlite             bool
	registrationClosed bool
	noThrottle         bool
	trusted            string
	storeWrap          func(backend) backend
	rs256              bool          // the ring signs RS256 too (ID tokens' default)
	noPasswordGrant    bool          // --password-grant=off (the tests of the grant turn it on)
	grace              time.Duration // refresh grace; 0 means the default 10 s, negative means none
	accessTTL          time.Duration
	// noMail leaves the emailed flows off (no mail delivery configured).
	noMail bool
	// requireVerified: --require-verified-email.
	requireVerified bool
	// notifyNewDevice: --notify-new-device.
	notifyNewDevice bool
	// throttle builds the login throttles (default: throttle.New).
	throttle func(t *testing.T, name string, cfg throttle.Config) throttle.Throttler
	// metrics observes the server (Config.Metrics); nil: none.
	metrics server.Metrics
	// noMFA leaves second factors and passkeys off.
	noMFA bool
}

// cheap Argon2id parameters keep tests fast; the cost itself is tested in
// package password.
var testParams = password.Params{Memory: 64, Time: 1, Threads: 1}

func newHarness(t testing.TB, o options) *harness {
	t.Helper()
	c := &clock{t: time.Now().UTC().Truncate(time.Second)}
	var st backend = memstore.New()
	if o.sqlite {
		s, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "authd.db"), sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		st = s
	}
	t.Cleanup(func() { st.Close() })
	if o.storeWrap != nil {
		st = o.storeWrap(st)
	}
	if o.accessTTL == 0 {
		o.accessTTL = 10 * time.Minute
	}
	keep := o.accessTTL + token.MaxLeeway
	revoked := token.NewRevocationSet(c.Now)
	feed := server.NewFeed(keep)
	bus := &event.Bus{}
	bus.Subscribe(func(_ context.Context, e event.Event) {
		if e.Kind == event.SessionRevoked {
			revoked.Add(e.SessionID, e.At.Add(keep))
		}
	})
	bus.Subscribe(feed.Handle)
	bus.Subscribe((&audit.Recorder{Store: st, Now: c.Now}).Handle)
	sessions := session.NewManager(st, session.Config{Now: c.Now, CacheTTL: time.Second, Events: bus})
	var email user.EmailConfig
	if !o.noMail {
		email = user.EmailConfig{Tokens: st, Outbox: st, BaseURL: issuerURL, RequireVerified: o.requireVerified}
	}
	users := user.NewService(user.Config{Store: st, Hasher: password.NewHasher(testParams, 4),
		Sessions: sessions, Now: c.Now, Email: email, Events: bus})
	algs := []string{"EdDSA"}
	if o.rs256 {
		algs = append(algs, "RS256") // an RSA key costs ~100 ms: only for the tests that need one
	}
	ring, err := jwks.NewRing(context.Background(), jwks.RingConfig{Store: st, KEK: jwks.NewKEK(), Algs: algs, Retain: keep, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	grace := o.grace
	switch {
	case grace == 0:
		grace = 10 * time.Second
	case grace < 0:
		grace = 0
	}
	clients := client.NewService(st, st, c.Now)
	cfg := server.Config{Users: users, Sessions: sessions, Store: st, Events: bus, Audit: st, RegistrationClosed: o.registrationClosed, Now: c.Now, Feed: feed,
		Verifier: token.NewVerifier(token.VerifierConfig{Keys: ring, Issuer: issuerURL, Audience: "authd", Revocations: revoked, Now: c.Now}),
		Tokens: &server.TokenConfig{
			Issuer:    &token.Issuer{Keys: ring, URL: issuerURL, Audience: "authd", TTL: o.accessTTL, Now: c.Now},
			Refresher: refresh.New(refresh.Config{Store: st, Sessions: sessions, Grace: grace, Now: c.Now}),
			Keys:      ring, Clients: clients, IssuerURL: issuerURL, Scopes: []string{"read", "write"},
			PublicClientID: "authd", AccessTTL: o.accessTTL,
			Codes: st, PasswordGrant: !o.noPasswordGrant, IDTokenAlgs: ring.Algs(), HintKeys: ring,
		},
	}
	if !o.noThrottle {
		mk := o.throttle
		if mk == nil {
			mk = func(_ *testing.T, _ string, cfg throttle.Config) throttle.Throttler { return throttle.New(cfg) }
		}
		tt, _ := t.(*testing.T) // custom throttles are for tests only
		cfg.AccountThrottle = mk(tt, "acct", throttle.Config{Free: 5, Now: c.Now})
		cfg.IPThrottle = mk(tt, "ip", throttle.Config{Free: 20, Now: c.Now})
		cfg.MailAddrThrottle = mk(tt, "mail", throttle.Config{Free: 2, BaseDelay: 20 * time.Minute, MaxDelay: time.Hour, Now: c.Now})
		cfg.MailIPThrottle = mk(tt, "mailip", throttle.Config{Free: 19, BaseDelay: time.Minute, MaxDelay: time.Hour, Now: c.Now})
	}
	var mf *mfa.Service
	if ms, ok := st.(mfa.Store); ok && !o.noMFA {
		var kek [32]byte
		copy(kek[:], "harness key-encryption key......")
		mf = mfa.New(mfa.Config{Store: ms, KEK: kek, Issuer: "authd.test", Now: c.Now})
		cfg.MFA = mf
		pk, err := passkey.New(passkey.Config{RPID: "authd.test", RPDisplayName: "authd", Origins: []string{issuerURL},
			MFA: cfg.MFA, Users: users, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Passkeys = pk
	}
	cfg.NotifyNewDevice = o.notifyNewDevice
	cfg.Metrics = o.metrics
	if o.trusted != "" {
		cfg.TrustedProxies = mustPrefixes(t, o.trusted)
	}
	return &harness{t: t, srv: server.New(cfg), clock: c, store: st, users: users, sessions: sessions,
		ring: ring, clients: clients, revoked: revoked, mfa: mf}
}

// req describes one request.
type req struct {
	method, path string
	body         string
	cookie       string // session secret
	header       map[string]string
	remote       string
}

func (h *harness) do(r req) *http.Response {
	h.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, "http://authd.test"+r.path, body)
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.cookie != "" {
		hr.Header.Set("Cookie", server.DefaultCookieName+"="+r.cookie)
	}
	for k, v := range r.header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, hr)
	return rec.Result()
}

const testPassword = "correct horse battery staple"

// register creates a user through the API.
func (h *harness) register(email string) string {
	h.t.Helper()
	resp := h.do(req{method: "POST", path: "/v1/users", body: `{"email":"` + email + `","password":"` + testPassword + `"}`})
	if resp.StatusCode != http.StatusCreated {
		h.t.Fatalf("register %s: status %d: %s", email, resp.StatusCode, readBody(resp))
	}
	var u struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&u)
	return u.ID
}

// login returns the session secret.
func (h *harness) login(email string, password ...string) string {
	h.t.Helper()
	pw := testPassword
	if len(password) > 0 {
		pw = password[0]
	}
	resp := h.do(req{method: "POST", path: "/v1/session", body: `{"email":"` + email + `","password":"` + pw + `"}`})
	if resp.StatusCode != http.StatusCreated {
		h.t.Fatalf("login %s: status %d: %s", email, resp.StatusCode, readBody(resp))
	}
	c := sessionCookie(resp)
	if c == nil {
		h.t.Fatal("login set no session cookie")
	}
	return c.Value
}

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == server.DefaultCookieName {
			return c
		}
	}
	return nil
}

func readBody(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func decode[T any](t testing.TB, resp *http.Response) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
	return v
}

func wantStatus(t testing.TB, what string, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s: status = %d, want %d; body %s", what, resp.StatusCode, want, readBody(resp))
	}
}

// touchCounter counts last-seen writes on a real store.
type touchCounter struct {
	backend
	touches atomic.Int32
}

func (c *touchCounter) TouchSession(ctx context.Context, id string, lastSeen, idle time.Time) error {
	c.touches.Add(1)
	return c.backend.TouchSession(ctx, id, lastSeen, idle)
}
