// Package clienttest is the conformance suite for client.Store. Every
// backend runs it from its own tests:
//
//	func TestClientConformance(t *testing.T) {
//		clienttest.Run(t, func(t *testing.T) client.Store { return newStore(t) })
//	}
//
// A backend that also implements client.ConsentStore runs RunConsents.
//
// A backend is done when the suites pass unchanged.
package clienttest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/client"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// t0 is the suite's clock origin; times are UTC with microsecond precision,
// which every backend must round-trip exactly.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// Run runs the suite. newStore must return an empty store for each call; it
// is called once per subtest and should register its own cleanup.
func Run(t *testing.T, newStore func(t *testing.T) client.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st client.Store)
	}{
		{"CreateAndGet", testCreateAndGet},
		{"Registration", testRegistration},
		{"PublicNoSecret", testPublic},
		{"EmptyLists", testEmptyLists},
		{"Missing", testMissing},
		{"Conflict", testConflict},
		{"List", testList},
		{"Delete", testDelete},
		{"CancelledContext", testCancelled},
		{"ConcurrentSameName", testConcurrentSameName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// New returns a client named name with a fresh ID and the hash of a fresh
// random secret, created at t0.
func New(name string) *client.Client {
	var secret [32]byte
	rand.Read(secret[:])
	h := sha256.Sum256(secret[:])
	return &client.Client{
		ID:         rand.Text(),
		Name:       name,
		SecretHash: h[:],
		CreatedAt:  t0,
	}
}

// NewRegistered returns New(name) with every registration field set, to
// values a naive encoding would mangle: separators, quotes, brackets,
// backslashes, non-ASCII, lists out of order.
func NewRegistered(name string) *client.Client {
	c := New(name)
	c.FirstParty = true
	c.RedirectURIs = []string{
		"https://app.example/cb?a=1,2&b=%22q%22",
		"http://127.0.0.1/cb",
		"com.example.app:/oauth2redirect/example-provider",
		"https://app.example/a;b|c\\d\"e'f[g]{h} ✓",
	}
	c.PostLogoutRedirectURIs = []string{"https://app.example/bye", "https://app.example/", ""}
	c.Scopes = []string{"openid", "profile", "a,b", `x"y`, "z]", "email"}
	c.GrantTypes = []string{client.GrantRefreshToken, client.GrantAuthorizationCode}
	c.BackchannelLogoutURI = "https://app.example/backchannel?x=[1]"
	c.IDTokenAlg = "EdDSA"
	return c
}

func mustCreate(t *testing.T, st client.Store, c *client.Client) {
	t.Helper()
	if err := st.CreateClient(context.Background(), c); err != nil {
		t.Fatalf("CreateClient(%s) = %v, want nil", c.Name, err)
	}
}

func want(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s = %v, want %v", what, err, target)
	}
}

func names(cs []*client.Client) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func testCreateAndGet(t *testing.T, st client.Store) {
	ctx := context.Background()
	c := New("résumé service ✓ 'quoted'")
	c.CreatedAt = t0.Add(time.Microsecond)
	c.SecretHash[0], c.SecretHash[31] = 0x00, 0xff
	wantC := *c
	wantC.SecretHash = slices.Clone(c.SecretHash)
	mustCreate(t, st, c)
	// The store copied its input.
	c.SecretHash[1] ^= 0xff
	c.Name = "changed"

	got, err := st.ClientByID(ctx, wantC.ID)
	if err != nil {
		t.Fatalf("ClientByID = %v", err)
	}
	if diff := cmp.Diff(&wantC, got); diff != "" {
		t.Errorf("ClientByID (-want +got):\n%s", diff)
	}
	// And returns copies.
	got.SecretHash[2] ^= 0xff
	got.Name = "changed"
	again, err := st.ClientByID(ctx, wantC.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&wantC, again); diff != "" {
		t.Errorf("ClientByID returned shared memory (-want +got):\n%s", diff)
	}
	list, err := st.ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*client.Client{&wantC}, list); diff != "" {
		t.Errorf("ListClients (-want +got):\n%s", diff)
	}
}

// testRegistration: every registration field round-trips exactly, lists
// in order, and neither the input nor the result shares memory with the
// store.
func testRegistration(t *testing.T, st client.Store) {
	ctx := context.Background()
	c := NewRegistered("web app")
	wantC := *c
	wantC.SecretHash = slices.Clone(c.SecretHash)
	wantC.RedirectURIs = slices.Clone(c.RedirectURIs)
	wantC.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	wantC.Scopes = slices.Clone(c.Scopes)
	wantC.GrantTypes = slices.Clone(c.GrantTypes)
	mustCreate(t, st, c)
	c.RedirectURIs[0] = "https://evil.example/"
	c.PostLogoutRedirectURIs[0] = "https://evil.example/"
	c.Scopes[0] = "admin"
	c.GrantTypes[0] = client.GrantPassword

	got, err := st.ClientByID(ctx, wantC.ID)
	if err != nil {
		t.Fatalf("ClientByID = %v", err)
	}
	if diff := cmp.Diff(&wantC, got); diff != "" {
		t.Errorf("ClientByID (-want +got):\n%s", diff)
	}
	got.RedirectURIs[0] = "https://evil.example/"
	got.PostLogoutRedirectURIs[0] = "https://evil.example/"
	got.Scopes[0] = "admin"
	got.GrantTypes[0] = client.GrantPassword
	list, err := st.ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*client.Client{&wantC}, list); diff != "" {
		t.Errorf("ListClients after changing a returned client (-want +got):\n%s", diff)
	}
}

// testPublic: a public client has no secret hash; the flags round-trip
// independently.
func testPublic(t *testing.T, st client.Store) {
	ctx := context.Background()
	pub := New("spa")
	pub.Public, pub.SecretHash = true, nil
	pub.RedirectURIs = []string{"https://spa.example/cb"}
	conf := New("confidential")
	conf.FirstParty = true
	mustCreate(t, st, pub)
	mustCreate(t, st, conf)
	for _, wantC := range []*client.Client{pub, conf} {
		got, err := st.ClientByID(ctx, wantC.ID)
		if err != nil {
			t.Fatalf("ClientByID(%s) = %v", wantC.Name, err)
		}
		if diff := cmp.Diff(wantC, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("ClientByID(%s) (-want +got):\n%s", wantC.Name, diff)
		}
	}
	got, _ := st.ClientByID(ctx, pub.ID)
	if got != nil && len(got.SecretHash) != 0 {
		t.Errorf("public client's SecretHash = %x, want none", got.SecretHash)
	}
}

// testEmptyLists: nil and empty lists are the same; neither reads back as
// a list with something in it.
func testEmptyLists(t *testing.T, st client.Store) {
	ctx := context.Background()
	empty := New("empty")
	empty.RedirectURIs, empty.PostLogoutRedirectURIs, empty.Scopes, empty.GrantTypes = []string{}, []string{}, []string{}, []string{}
	none := New("nil")
	mustCreate(t, st, empty)
	mustCreate(t, st, none)
	for _, wantC := range []*client.Client{empty, none} {
		got, err := st.ClientByID(ctx, wantC.ID)
		if err != nil {
			t.Fatalf("ClientByID(%s) = %v", wantC.Name, err)
		}
		if diff := cmp.Diff(wantC, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("ClientByID(%s) (-want +got):\n%s", wantC.Name, diff)
		}
	}
}

func testMissing(t *testing.T, st client.Store) {
	ctx := context.Background()
	_, err := st.ClientByID(ctx, "no-such-id")
	want(t, "ClientByID(unknown)", err, authd.ErrNotFound)
	_, err = st.ClientByID(ctx, "' OR 1=1 --")
	want(t, "ClientByID(sql-looking)", err, authd.ErrNotFound)
	_, err = st.ClientByID(ctx, "")
	want(t, "ClientByID(empty)", err, authd.ErrNotFound)
	want(t, "DeleteClient(unknown)", st.DeleteClient(ctx, "no-such-id"), authd.ErrNotFound)
	list, err := st.ListClients(ctx)
	if err != nil || list == nil || len(list) != 0 {
		t.Errorf("ListClients(empty store) = %v, %v; want empty non-nil slice, nil", list, err)
	}
}

func testConflict(t *testing.T, st client.Store) {
	ctx := context.Background()
	c := New("billing")
	mustCreate(t, st, c)
	sameID := New("reporting")
	sameID.ID = c.ID
	want(t, "CreateClient(same ID)", st.CreateClient(ctx, sameID), authd.ErrConflict)
	want(t, "CreateClient(same name)", st.CreateClient(ctx, New("billing")), authd.ErrConflict)
	// Neither refused create left anything behind.
	list, err := st.ListClients(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListClients after conflicts = %v, %v; want only billing", names(list), err)
	}
	if diff := cmp.Diff(c, list[0]); diff != "" {
		t.Errorf("after conflicts (-want +got):\n%s", diff)
	}
	// The name refused for the ID conflict is still free.
	mustCreate(t, st, New("reporting"))
}

func testList(t *testing.T, st client.Store) {
	ctx := context.Background()
	for _, n := range []string{"charlie", "alpha", "delta", "bravo", "alpha-2"} {
		mustCreate(t, st, New(n))
	}
	list, err := st.ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"alpha", "alpha-2", "bravo", "charlie", "delta"}, names(list)); diff != "" {
		t.Errorf("ListClients names (-want +got):\n%s", diff)
	}
}

func testDelete(t *testing.T, st client.Store) {
	ctx := context.Background()
	c, other := New("billing"), New("reporting")
	mustCreate(t, st, c)
	mustCreate(t, st, other)
	if err := st.DeleteClient(ctx, c.ID); err != nil {
		t.Fatalf("DeleteClient = %v", err)
	}
	_, err := st.ClientByID(ctx, c.ID)
	want(t, "ClientByID after delete", err, authd.ErrNotFound)
	want(t, "second DeleteClient", st.DeleteClient(ctx, c.ID), authd.ErrNotFound)
	if got, err := st.ClientByID(ctx, other.ID); err != nil || got.Name != "reporting" {
		t.Errorf("the other client: %+v, %v; want untouched", got, err)
	}
	list, _ := st.ListClients(ctx)
	if diff := cmp.Diff([]string{"reporting"}, names(list)); diff != "" {
		t.Errorf("ListClients after delete (-want +got):\n%s", diff)
	}
	// The name and the ID can be used again.
	again := New("billing")
	again.ID = c.ID
	mustCreate(t, st, again)
}

func testCancelled(t *testing.T, st client.Store) {
	c := New("billing")
	mustCreate(t, st, c)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	checks := map[string]error{}
	checks["CreateClient"] = st.CreateClient(ctx, New("reporting"))
	_, checks["ClientByID"] = st.ClientByID(ctx, c.ID)
	_, checks["ListClients"] = st.ListClients(ctx)
	checks["DeleteClient"] = st.DeleteClient(ctx, c.ID)
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", name, err)
		}
	}
	// Nothing changed.
	list, err := st.ListClients(context.Background())
	if err != nil || len(list) != 1 {
		t.Fatalf("ListClients after cancelled calls = %v, %v; want only billing", names(list), err)
	}
	if diff := cmp.Diff(c, list[0]); diff != "" {
		t.Errorf("after cancelled calls (-want +got):\n%s", diff)
	}
}

func testConcurrentSameName(t *testing.T, st client.Store) {
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 16 {
		wg.Go(func() {
			c := New("race")
			<-start
			err := st.CreateClient(context.Background(), c)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, authd.ErrConflict):
				t.Errorf("CreateClient = %v, want nil or ErrConflict", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent creations of one name succeeded, want 1", wins.Load())
	}
	if list, err := st.ListClients(context.Background()); err != nil || len(list) != 1 {
		t.Errorf("ListClients = %v, %v; want exactly one client", names(list), err)
	}
}
