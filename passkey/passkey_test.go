package passkey_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/authd/authd"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/mfa"
	"github.com/authd/authd/passkey"
	"github.com/authd/authd/passkey/passkeytest"
	"github.com/authd/authd/user"
)

type users struct {
	mu sync.Mutex
	m  map[string]*user.User
}

func (u *users) Get(_ context.Context, id string) (*user.User, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	x, ok := u.m[id]
	if !ok {
		return nil, authd.ErrNotFound
	}
	c := *x
	return &c, nil
}

type env struct {
	svc   *passkey.Service
	store *memstore.Store
	users *users
	auth  *passkeytest.Authenticator
}

const (
	rpID   = "authd.test"
	origin = "https://authd.test"
	userID = "u_5Fq2xZb8kTr1"
)

func newEnv(t *testing.T) *env {
	t.Helper()
	st := memstore.New()
	t.Cleanup(func() { st.Close() })
	us := &users{m: map[string]*user.User{
		userID:    {ID: userID, Email: "ada@example.com"},
		"u_other": {ID: "u_other", Email: "bob@example.com"},
	}}
	svc, err := passkey.New(passkey.Config{RPID: rpID, RPDisplayName: "authd", Origins: []string{origin},
		MFA: mfa.New(mfa.Config{Store: st}), Users: us})
	if err != nil {
		t.Fatal(err)
	}
	return &env{svc: svc, store: st, users: us, auth: &passkeytest.Authenticator{Origin: origin}}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// register registers a passkey of userID and returns the authenticator's
// credential.
func (e *env) register(t *testing.T, uid string) *passkeytest.Credential {
	t.Helper()
	tok, opts, err := e.svc.BeginRegistration(context.Background(), uid)
	if err != nil {
		t.Fatal(err)
	}
	cred, resp, err := e.auth.Create(mustJSON(t, opts), passkeytest.Ceremony{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.FinishRegistration(context.Background(), uid, tok, resp, "  My\x00 laptop\n ")
	if err != nil {
		t.Fatalf("finish registration: %v", err)
	}
	if c.Name != "My laptop" || c.UserID != uid || !c.UserVerified {
		t.Fatalf("stored %+v", c)
	}
	return cred
}

func (e *env) beginLogin(t *testing.T) (string, []byte) {
	t.Helper()
	tok, opts, err := e.svc.BeginLogin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok, mustJSON(t, opts)
}

func TestRegisterAndLogin(t *testing.T) {
	e := newEnv(t)
	cred := e.register(t, userID)
	list, err := e.store.Credentials(context.Background(), userID)
	if err != nil || len(list) != 1 || list[0].BackupEligible {
		t.Fatalf("credentials %v %v", list, err)
	}
	tok, opts := e.beginLogin(t)
	resp, err := e.auth.Get(opts, cred, passkeytest.Ceremony{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := e.svc.FinishLogin(context.Background(), tok, resp)
	if err != nil {
		t.Fatalf("finish login: %v", err)
	}
	if l.UserID != userID || !slices.Equal(l.AMR, []string{"hwk", "user", "mfa"}) {
		t.Fatalf("login %+v", l)
	}
	c, _ := e.store.Credential(context.Background(), cred.ID)
	if c.SignCount != 1 || c.LastUsedAt.IsZero() {
		t.Fatalf("after use: %+v", c)
	}
	// The ceremony answers once.
	resp, _ = e.auth.Get(opts, cred, passkeytest.Ceremony{})
	if _, err := e.svc.FinishLogin(context.Background(), tok, resp); !errors.Is(err, passkey.ErrCeremony) {
		t.Fatalf("second finish: %v", err)
	}
}

func TestSyncedPasskeyAMR(t *testing.T) {
	e := newEnv(t)
	e.auth.Flags = passkeytest.FlagBE | passkeytest.FlagBS
	cred := e.register(t, userID)
	tok, opts := e.beginLogin(t)
	resp, _ := e.auth.Get(opts, cred, passkeytest.Ceremony{})
	l, err := e.svc.FinishLogin(context.Background(), tok, resp)
	if err != nil || !slices.Equal(l.AMR, []string{"swk", "user", "mfa"}) {
		t.Fatalf("login %+v %v", l, err)
	}
}

func TestExcludesExisting(t *testing.T) {
	e := newEnv(t)
	cred := e.register(t, userID)
	_, opts, err := e.svc.BeginRegistration(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.CredentialExcludeList) != 1 || string(opts.CredentialExcludeList[0].CredentialID) != string(cred.ID) {
		t.Fatalf("exclude list %+v", opts.CredentialExcludeList)
	}
	if opts.AuthenticatorSelection.ResidentKey != "required" || opts.AuthenticatorSelection.UserVerification != "required" {
		t.Fatalf("selection %+v", opts.AuthenticatorSelection)
	}
	if string(mustJSON(t, opts.User.ID)) != `"`+"dV81RnEyeFpiOGtUcjE"+`"` {
		t.Fatalf("user.id %s", mustJSON(t, opts.User.ID))
	}
}

func TestSignCountRegressionRefused(t *testing.T) {
	e := newEnv(t)
	cred := e.register(t, userID)
	for range 2 {
		tok, opts := e.beginLogin(t)
		resp, _ := e.auth.Get(opts, cred, passkeytest.Ceremony{})
		if _, err := e.svc.FinishLogin(context.Background(), tok, resp); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []uint32{1, 2} { // stored counter is 2
		tok, opts := e.beginLogin(t)
		resp, _ := e.auth.Get(opts, cred, passkeytest.Ceremony{Counter: &n})
		_, err := e.svc.FinishLogin(context.Background(), tok, resp)
		if !errors.Is(err, passkey.ErrInvalid) || !errors.Is(err, mfa.ErrReplayed) {
			t.Fatalf("counter %d: %v", n, err)
		}
	}
}

func TestRefusals(t *testing.T) {
	e := newEnv(t)
	cred := e.register(t, userID)
	for _, tc := range []struct {
		name string
		c    passkeytest.Ceremony
	}{
		{"other RP ID", passkeytest.Ceremony{RPID: "evil.example"}},
		{"wrong origin", passkeytest.Ceremony{Origin: "https://evil.example"}},
		{"subdomain origin", passkeytest.Ceremony{Origin: "https://x.authd.test"}},
		{"wrong type", passkeytest.Ceremony{Type: "webauthn.create"}},
		{"no user verification", passkeytest.Ceremony{NoUV: true}},
		{"other challenge", passkeytest.Ceremony{Challenge: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, opts := e.beginLogin(t)
			resp, _ := e.auth.Get(opts, cred, tc.c)
			if _, err := e.svc.FinishLogin(context.Background(), tok, resp); !errors.Is(err, passkey.ErrInvalid) {
				t.Fatalf("got %v", err)
			}
		})
	}
	t.Run("registration for another RP ID", func(t *testing.T) {
		tok, opts, _ := e.svc.BeginRegistration(context.Background(), userID)
		_, resp, _ := e.auth.Create(mustJSON(t, opts), passkeytest.Ceremony{RPID: "evil.example"})
		if _, err := e.svc.FinishRegistration(context.Background(), userID, tok, resp, ""); !errors.Is(err, passkey.ErrInvalid) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("registration from another origin", func(t *testing.T) {
		tok, opts, _ := e.svc.BeginRegistration(context.Background(), userID)
		_, resp, _ := e.auth.Create(mustJSON(t, opts), passkeytest.Ceremony{Origin: "https://evil.example"})
		if _, err := e.svc.FinishRegistration(context.Background(), userID, tok, resp, ""); !errors.Is(err, passkey.ErrInvalid) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("registration ceremony of another user", func(t *testing.T) {
		tok, opts, _ := e.svc.BeginRegistration(context.Background(), userID)
		_, resp, _ := e.auth.Create(mustJSON(t, opts), passkeytest.Ceremony{})
		if _, err := e.svc.FinishRegistration(context.Background(), "u_other", tok, resp, ""); !errors.Is(err, passkey.ErrCeremony) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("registration ceremony used twice", func(t *testing.T) {
		tok, opts, _ := e.svc.BeginRegistration(context.Background(), userID)
		_, resp, _ := e.auth.Create(mustJSON(t, opts), passkeytest.Ceremony{})
		if _, err := e.svc.FinishRegistration(context.Background(), userID, tok, resp, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.FinishRegistration(context.Background(), userID, tok, resp, ""); !errors.Is(err, passkey.ErrCeremony) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("login ceremony token as registration", func(t *testing.T) {
		tok, _ := e.beginLogin(t)
		if _, err := e.svc.FinishRegistration(context.Background(), userID, tok, []byte(`{}`), ""); !errors.Is(err, passkey.ErrCeremony) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		for _, body := range []string{``, `null`, `"x"`, `{}`, `{"id":1}`, `[]`} {
			tok, _ := e.beginLogin(t)
			if _, err := e.svc.FinishLogin(context.Background(), tok, []byte(body)); !errors.Is(err, passkey.ErrInvalid) {
				t.Fatalf("%q: %v", body, err)
			}
		}
	})
	t.Run("user handle of another user", func(t *testing.T) {
		other := &passkeytest.Credential{ID: cred.ID, Key: cred.Key, RPID: cred.RPID, UserHandle: []byte("u_other"), Counter: 50}
		tok, opts := e.beginLogin(t)
		resp, _ := e.auth.Get(opts, other, passkeytest.Ceremony{})
		if _, err := e.svc.FinishLogin(context.Background(), tok, resp); !errors.Is(err, passkey.ErrInvalid) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("disabled user", func(t *testing.T) {
		e.users.mu.Lock()
		e.users.m[userID].Disabled = true
		e.users.mu.Unlock()
		defer func() {
			e.users.mu.Lock()
			e.users.m[userID].Disabled = false
			e.users.mu.Unlock()
		}()
		tok, opts := e.beginLogin(t)
		resp, _ := e.auth.Get(opts, cred, passkeytest.Ceremony{})
		if _, err := e.svc.FinishLogin(context.Background(), tok, resp); !errors.Is(err, passkey.ErrInvalid) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("deleted passkey", func(t *testing.T) {
		c2 := e.register(t, userID)
		if err := e.store.DeleteCredential(context.Background(), userID, c2.ID); err != nil {
			t.Fatal(err)
		}
		tok, opts := e.beginLogin(t)
		resp, _ := e.auth.Get(opts, c2, passkeytest.Ceremony{})
		if _, err := e.svc.FinishLogin(context.Background(), tok, resp); !errors.Is(err, passkey.ErrInvalid) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestParallelFinishOnce(t *testing.T) {
	e := newEnv(t)
	cred := e.register(t, userID)
	tok, opts := e.beginLogin(t)
	var ok, ceremony atomic.Int32
	var wg sync.WaitGroup
	resps := make([][]byte, 50)
	for i := range resps {
		n := uint32(100 + i) // every answer would pass the counter check alone
		resps[i], _ = e.auth.Get(opts, cred, passkeytest.Ceremony{Counter: &n})
	}
	for _, resp := range resps {
		wg.Go(func() {
			_, err := e.svc.FinishLogin(context.Background(), tok, resp)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, passkey.ErrCeremony):
				ceremony.Add(1)
			default:
				t.Errorf("unexpected: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || ceremony.Load() != 49 {
		t.Fatalf("%d succeeded, %d refused", ok.Load(), ceremony.Load())
	}
}

func TestConfig(t *testing.T) {
	id, origins, err := passkey.FromIssuer("https://login.example.com:8443/base", "", nil)
	if err != nil || id != "login.example.com" || !slices.Equal(origins, []string{"https://login.example.com:8443"}) {
		t.Fatalf("%q %q %v", id, origins, err)
	}
	id, origins, _ = passkey.FromIssuer("https://login.example.com", "example.com", []string{"https://a.example.com"})
	if id != "example.com" || !slices.Equal(origins, []string{"https://a.example.com"}) {
		t.Fatalf("%q %q", id, origins)
	}
	st := memstore.New()
	defer st.Close()
	m := mfa.New(mfa.Config{Store: st})
	for _, c := range []passkey.Config{
		{RPID: "127.0.0.1", Origins: []string{"https://127.0.0.1"}},
		{RPID: "example.com", Origins: []string{"https://evil.com"}},
		{RPID: "example.com", Origins: []string{"example.com"}},
		{RPID: "example.com"},
	} {
		c.MFA, c.Users = m, &users{}
		if _, err := passkey.New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"  a\tb  ":                "a b",
		"x\u202ey":                "xy",
		"\x00\x01":                "",
		string(make([]byte, 100)): "",
	} {
		if got := passkey.CleanName(in); got != want {
			t.Errorf("%q: %q", in, got)
		}
	}
	long := ""
	for range 100 {
		long += "é"
	}
	if got := passkey.CleanName(long); len([]rune(got)) != passkey.MaxName {
		t.Errorf("long: %d", len([]rune(got)))
	}
}
