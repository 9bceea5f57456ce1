package clienttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/client"
	"github.com/authd/authd/user"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ConsentBackend is what RunConsents needs: consents refer to users and
// clients, which must exist, and go when either is deleted.
type ConsentBackend interface {
	client.Store
	client.ConsentStore
	user.Store
}

// RunConsents runs the client.ConsentStore suite. newStore must return an
// empty store for each call; it is called once per subtest and should
// register its own cleanup.
func RunConsents(t *testing.T, newStore func(t *testing.T) ConsentBackend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st ConsentBackend)
	}{
		{"PutAndGet", testConsentPutAndGet},
		{"Replace", testConsentReplace},
		{"Missing", testConsentMissing},
		{"UnknownUserOrClient", testConsentUnknownParent},
		{"List", testConsentList},
		{"Delete", testConsentDelete},
		{"CascadeClient", testConsentCascadeClient},
		{"CascadeUser", testConsentCascadeUser},
		{"CancelledContext", testConsentCancelled},
		{"ConcurrentPut", testConsentConcurrentPut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// mustUser creates a user and returns its ID.
func mustUser(t *testing.T, st ConsentBackend, email string) string {
	t.Helper()
	u := &user.User{ID: "u_" + email, Email: email, PasswordHash: "$argon2id$test", CreatedAt: t0, UpdatedAt: t0}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%s) = %v", email, err)
	}
	return u.ID
}

// mustClient creates a client and returns its ID.
func mustClient(t *testing.T, st ConsentBackend, name string) string {
	t.Helper()
	c := New(name)
	mustCreate(t, st, c)
	return c.ID
}

func mustPut(t *testing.T, st ConsentBackend, c *client.Consent) {
	t.Helper()
	if err := st.PutConsent(context.Background(), c); err != nil {
		t.Fatalf("PutConsent(%s, %s) = %v", c.UserID, c.ClientID, err)
	}
}

func consentKeys(cs []*client.Consent) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.UserID+"/"+c.ClientID)
	}
	return out
}

func testConsentPutAndGet(t *testing.T, st ConsentBackend) {
	ctx := context.Background()
	uid, cid := mustUser(t, st, "ann@example.com"), mustClient(t, st, "app")
	// Scopes a separator-based encoding would mangle.
	c := &client.Consent{UserID: uid, ClientID: cid, Scopes: []string{"a,b", "email", "openid", `q"`, "x]", "é"},
		GrantedAt: t0.Add(time.Microsecond)}
	want := *c
	want.Scopes = slices.Clone(c.Scopes)
	mustPut(t, st, c)
	c.Scopes[0] = "admin" // the store copied its input

	got, err := st.ConsentOf(ctx, uid, cid)
	if err != nil {
		t.Fatalf("ConsentOf = %v", err)
	}
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("ConsentOf (-want +got):\n%s", diff)
	}
	got.Scopes[0] = "admin" // and returns copies
	list, err := st.ListConsents(ctx, uid)
	if err != nil {
		t.Fatalf("ListConsents = %v", err)
	}
	if diff := cmp.Diff([]*client.Consent{&want}, list); diff != "" {
		t.Errorf("ListConsents (-want +got):\n%s", diff)
	}

	// A consent to no scope (the client itself) is a consent too.
	other := mustClient(t, st, "other")
	mustPut(t, st, &client.Consent{UserID: uid, ClientID: other, GrantedAt: t0})
	got, err = st.ConsentOf(ctx, uid, other)
	if err != nil {
		t.Fatalf("ConsentOf(no scopes) = %v", err)
	}
	if diff := cmp.Diff(&client.Consent{UserID: uid, ClientID: other, GrantedAt: t0}, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("ConsentOf(no scopes) (-want +got):\n%s", diff)
	}
}

func testConsentReplace(t *testing.T, st ConsentBackend) {
	ctx := context.Background()
	uid, cid := mustUser(t, st, "ann@example.com"), mustClient(t, st, "app")
	mustPut(t, st, &client.Consent{UserID: uid, ClientID: cid, Scopes: []string{"email", "openid", "profile"}, GrantedAt: t0})
	second := &client.Consent{UserID: uid, ClientID: cid, Scopes: []string{"openid"}, GrantedAt: t0.Add(time.Hour)}
	mustPut(t, st, second)
	got, err := st.ConsentOf(ctx, uid, cid)
	if err != nil {
		t.Fatalf("ConsentOf = %v", err)
	}
	if diff := cmp.Diff(second, got); diff != "" {
		t.Errorf("ConsentOf after replace (-want +got):\n%s", diff)
	}
	if list, err := st.ListConsents(ctx, uid); err != nil || len(list) != 1 {
		t.Errorf("ListConsents after replace = %v, %v; want one consent", consentKeys(list), err)
	}
}

func testConsentMissing(t *testing.T, st ConsentBackend) {
	ctx := context.Background()
	uid, cid := mustUser(t, st, "ann@example.com"), mustClient(t, st, "app")
	_, err := st.ConsentOf(ctx, uid, cid)
	want(t, "ConsentOf(none given)", err, authd.ErrNotFound)
	_, err = st.ConsentOf(ctx, "no-such-user", cid)
	want(t, "ConsentOf(unknown user)", err, authd.ErrNotFound)
	_, err = st.ConsentOf(ctx, uid, "' OR 1=1 --")
	want(t, "ConsentOf(sql-looking)", err, authd.ErrNotFound)
	_, err = st.ConsentOf(ctx, "", "")
	want(t, "ConsentOf(empty)", err, authd.ErrNotFound)
	want(t, "DeleteConsent(none given)", st.DeleteConsent(ctx, uid, cid), authd.ErrNotFound)
	want(t, "DeleteConsent(unknown)", st.DeleteConsent(ctx, "no-such-user", "no-such-client"), authd.ErrNotFound)
	for _, u := range []string{uid, "no-such-user", ""} {
		list, err := st.ListConsents(ctx, u)
		if err != nil || list == nil || len(list) != 0 {
			t.Errorf("ListConsents(%q) = %v, %v; want empty non-nil slice, nil", u, list, err)
		}
	}
}

// testConsentUnknownParent: a consent needs its user and its client.
func testConsentUnknownParent(t *testing.T, st ConsentBackend) {
	ctx := context.Background()
	uid, cid := mustUser(t, st, "ann@example.com"), mustClient(t, st, "app")
	want(t, "PutConsent(unknown user)", st.PutConsent(ctx,
		&client.Consent{UserID: "no-such-user", ClientID: cid, Scopes: []string{"openid"}, GrantedAt: t0}), authd.ErrNotFound)
	want(t, "PutConsent(unknown client)", st.PutConsent(ctx,
		&client.Consent{UserID: uid, ClientID: "no-such-client", Scopes: []string{"openid"}, GrantedAt: t0}), authd.ErrNotFound)
	if list, err := st.ListConsents(ctx, uid); err != nil || len(list) != 0 {
		t.Errorf("ListConsents after refused puts = %v, %v; want none", consentKeys(list), err)
	}
}

func testConsentList(t *testing.T, st ConsentBackend) {
	ctx := context.Background()
	ann, bob := mustUser(t, st, "ann@example.com"), mustUser(t, st, "bob@example.com")
	var ids []string
	for _, n := range []string{"charlie", "alpha", "delta", "bravo"} {
		c := New(n)
		c.ID = "c_" + n // ClientID order differs from creation order
		mustCreate(t, st, c)
		ids = append(ids, c.ID)
		mustPut(t, st, &client.Consent{UserID: ann, ClientID: c.ID, Scopes: []string{"openid"}, GrantedAt: t0})
	}
	mustPut(t, st, &client.Consent{UserID: bob, ClientID: ids[0], Scopes: []string{"email"}, GrantedAt: t0})
	list, err := st.ListConsents(ctx, ann)
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{ann + "/c_alpha", ann + "/c_bravo", ann + "/c_charlie", ann + "/c_delta"}
	if diff := cmp.Diff(wantKeys, consentKeys(list)); diff != "" {
		t.Errorf("ListConsents(ann) (-want +got):\n%s", diff)
	}
	list, err = st.ListConsents(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*client.Consent{{UserID: bob, ClientID: ids[0], Scopes: []string{"email"}, GrantedAt: t0}}, list); diff != "" {
		t.Errorf("ListConsents(bob) (-want +got):\n%s", diff)
	}
}

func testConsentDelete(t *testing.T, st ConsentBackend) {
	ctx := context.Background()
	ann, bob := mustUser(t, st, "ann@example.com"), mustUser(t, st, "bob@example.com")
	app, other := mustClient(t, st, "app"), mustClient(t, st, "other")
	for _, u := range []string{ann, bob} {
		for _, c := range []string{app, other} {
			mustPut(t, st, &client.Consent{UserID: u, ClientID: c, Scopes: []string{"openid"}, GrantedAt: t0})
		}
	}
	if err := st.DeleteConsent(ctx, ann, app); err != nil {
		t.Fatalf("DeleteConsent = %v", err)
	}
	_, err := st.ConsentOf(ctx, ann, app)
	want(t, "ConsentOf after delete", err, authd.ErrNotFound)
	want(t, "second DeleteConsent", st.DeleteConsent(ctx, ann, app), authd.ErrNotFound)
	for _, k := range [][2]string{{ann, other}, {bob, app}, {bob, other}} {
		if _, err := st.ConsentOf(ctx, k[0], k[1]); err != nil {
			t.Errorf("ConsentOf(%s, %s) = %v; want untouched", k[0], k[1], err)
		}
	}
	// It can be given again.
	mustPut(t, st, &client.Consent{UserID: ann, ClientID: app, Scopes: []string{"email"}, GrantedAt: t0})
}

// testConsentCascadeClient: deleting a client withdraws every consent to
// it, and only those.
func testConsentCascadeClient(t *testing.T, st ConsentBackend) {
	ctx := context.Background()
	ann, bob := mustUser(t, st, "ann@example.com"), mustUser(t, st, "bob@example.com")
	app, other := mustClient(t, st, "app"), mustClient(t, st, "other")
	for _, u := range []string{ann, bob} {
		for _, c := range []string{app, other} {
			mustPut(t, st, &client.Consent{UserID: u, ClientID: c, Scopes: []string{"openid"}, GrantedAt: t0})
		}
	}
	if err := st.DeleteClient(ctx, app); err != nil {
		t.Fatalf("DeleteClient = %v", err)
	}
	for _, u := range []string{ann, bob} {
		_, err := st.ConsentOf(ctx, u, app)
		want(t, "ConsentOf(deleted client)", err, authd.ErrNotFound)
		list, err := st.ListConsents(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{u + "/" + other}, consentKeys(list)); diff != "" {
			t.Errorf("ListConsents after DeleteClient (-want +got):\n%s", diff)
		}
	}
	// A client created again under the same ID starts without consents.
	again := New("app")
	again.ID = app
	mustCreate(t, st, again)
	_, err := st.ConsentOf(ctx, ann, app)
	want(t, "ConsentOf(re-created client)", err, authd.ErrNotFound)
}

// testConsentCascadeUser: deleting a user withdraws their consents, and
// only theirs.
func testConsentCascadeUser(t *testing.T, st ConsentBackend) {
	ctx := context.Background()
	ann, bob := mustUser(t, st, "ann@example.com"), mustUser(t, st, "bob@example.com")
	app := mustClient(t, st, "app")
	for _, u := range []string{ann, bob} {
		mustPut(t, st, &client.Consent{UserID: u, ClientID: app, Scopes: []string{"openid"}, GrantedAt: t0})
	}
	if err := st.DeleteUser(ctx, ann); err != nil {
		t.Fatalf("DeleteUser = %v", err)
	}
	_, err := st.ConsentOf(ctx, ann, app)
	want(t, "ConsentOf(deleted user)", err, authd.ErrNotFound)
	if list, err := st.ListConsents(ctx, ann); err != nil || len(list) != 0 {
		t.Errorf("ListConsents(deleted user) = %v, %v; want none", consentKeys(list), err)
	}
	if _, err := st.ConsentOf(ctx, bob, app); err != nil {
		t.Errorf("ConsentOf(other user) = %v; want untouched", err)
	}
	if _, err := st.ClientByID(ctx, app); err != nil {
		t.Errorf("ClientByID after DeleteUser = %v; want untouched", err)
	}
}

func testConsentCancelled(t *testing.T, st ConsentBackend) {
	uid, cid := mustUser(t, st, "ann@example.com"), mustClient(t, st, "app")
	c := &client.Consent{UserID: uid, ClientID: cid, Scopes: []string{"openid"}, GrantedAt: t0}
	mustPut(t, st, c)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	checks := map[string]error{}
	checks["PutConsent"] = st.PutConsent(ctx, &client.Consent{UserID: uid, ClientID: cid, Scopes: []string{"admin"}, GrantedAt: t0})
	_, checks["ConsentOf"] = st.ConsentOf(ctx, uid, cid)
	_, checks["ListConsents"] = st.ListConsents(ctx, uid)
	checks["DeleteConsent"] = st.DeleteConsent(ctx, uid, cid)
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", name, err)
		}
	}
	got, err := st.ConsentOf(context.Background(), uid, cid)
	if err != nil {
		t.Fatalf("ConsentOf after cancelled calls = %v", err)
	}
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("after cancelled calls (-want +got):\n%s", diff)
	}
}

// testConsentConcurrentPut: 50 puts for the same user and client at once
// all succeed (an upsert, not an insert that may conflict), and the
// consent left is one of them, whole.
func testConsentConcurrentPut(t *testing.T, st ConsentBackend) {
	uid, cid := mustUser(t, st, "ann@example.com"), mustClient(t, st, "app")
	const n = 50
	written := make([]*client.Consent, n)
	for i := range written {
		written[i] = &client.Consent{UserID: uid, ClientID: cid,
			Scopes:    []string{fmt.Sprintf("s%02d", i), fmt.Sprintf("t%02d", i)},
			GrantedAt: t0.Add(time.Duration(i) * time.Second)}
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, c := range written {
		wg.Go(func() {
			<-start
			if err := st.PutConsent(context.Background(), c); err != nil {
				t.Errorf("PutConsent(%v) = %v, want nil", c.Scopes, err)
			}
		})
	}
	close(start)
	wg.Wait()
	got, err := st.ConsentOf(context.Background(), uid, cid)
	if err != nil {
		t.Fatalf("ConsentOf = %v", err)
	}
	if !slices.ContainsFunc(written, func(c *client.Consent) bool { return cmp.Equal(c, got) }) {
		t.Errorf("ConsentOf after concurrent puts = %+v, want one of the written consents", got)
	}
	if list, err := st.ListConsents(context.Background(), uid); err != nil || len(list) != 1 {
		t.Errorf("ListConsents = %v, %v; want exactly one consent", consentKeys(list), err)
	}
}
