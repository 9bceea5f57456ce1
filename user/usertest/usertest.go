// Package usertest is the conformance suite for user.Store. Every backend
// runs it from its own tests:
//
//	usertest.Run(t, func(t *testing.T) user.Store { return newStore(t) })
package usertest

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/user"
	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// Run runs the suite; newStore returns an empty store per subtest.
func Run(t *testing.T, newStore func(t *testing.T) user.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st user.Store)
	}{
		{"CreateAndGet", testCreateAndGet},
		{"Missing", testMissing},
		{"Conflict", testConflict},
		{"List", testList},
		{"Update", testUpdate},
		{"Delete", testDelete},
		{"CancelledContext", testCancelled},
		{"ConcurrentSameEmail", testConcurrentSameEmail},
		{"EmailVerified", testEmailVerified},
		{"ChangeEmail", testChangeEmail},
		{"ConcurrentChangeEmail", testConcurrentChangeEmail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// New returns a user with a fresh ID and the given (already normalised) email.
func New(email string) *user.User {
	return &user.User{
		ID:           rand.Text(),
		Email:        email,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		CreatedAt:    t0,
		UpdatedAt:    t0,
	}
}

func mustCreate(t *testing.T, st user.Store, u *user.User) {
	t.Helper()
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%s) = %v", u.Email, err)
	}
}

func testCreateAndGet(t *testing.T, st user.Store) {
	ctx := context.Background()
	u := New("zoë.ünïcode@example.com")
	mustCreate(t, st, u)
	got, err := st.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(u, got); diff != "" {
		t.Errorf("UserByID (-want +got):\n%s", diff)
	}
	got, err = st.UserByEmail(ctx, u.Email)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(u, got); diff != "" {
		t.Errorf("UserByEmail (-want +got):\n%s", diff)
	}
}

func testMissing(t *testing.T, st user.Store) {
	ctx := context.Background()
	_, err := st.UserByID(ctx, "nope")
	want(t, "UserByID", err, authd.ErrNotFound)
	_, err = st.UserByEmail(ctx, "nobody@example.com")
	want(t, "UserByEmail", err, authd.ErrNotFound)
	_, err = st.UserByEmail(ctx, "x' OR '1'='1")
	want(t, "UserByEmail(sql-looking)", err, authd.ErrNotFound)
	want(t, "SetPasswordHash", st.SetPasswordHash(ctx, "nope", "h", t0), authd.ErrNotFound)
	want(t, "SetUserDisabled", st.SetUserDisabled(ctx, "nope", true, t0), authd.ErrNotFound)
	want(t, "DeleteUser", st.DeleteUser(ctx, "nope"), authd.ErrNotFound)
	list, err := st.ListUsers(ctx, "", 10)
	if err != nil || list == nil || len(list) != 0 {
		t.Errorf("ListUsers(empty store) = %v, %v; want empty non-nil slice", list, err)
	}
}

func testConflict(t *testing.T, st user.Store) {
	ctx := context.Background()
	u := New("alice@example.com")
	mustCreate(t, st, u)
	want(t, "CreateUser(same email)", st.CreateUser(ctx, New("alice@example.com")), authd.ErrConflict)
	sameID := New("bob@example.com")
	sameID.ID = u.ID
	want(t, "CreateUser(same ID)", st.CreateUser(ctx, sameID), authd.ErrConflict)
	if _, err := st.UserByEmail(ctx, "bob@example.com"); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("a refused create left a user behind: %v", err)
	}
}

func testList(t *testing.T, st user.Store) {
	ctx := context.Background()
	for _, e := range []string{"c@example.com", "a@example.com", "b@example.com", "d@example.com"} {
		mustCreate(t, st, New(e))
	}
	page, err := st.ListUsers(ctx, "", 3)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a@example.com", "b@example.com", "c@example.com"}, emails(page)); diff != "" {
		t.Errorf("first page (-want +got):\n%s", diff)
	}
	page, err = st.ListUsers(ctx, "c@example.com", 3)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"d@example.com"}, emails(page)); diff != "" {
		t.Errorf("second page (-want +got):\n%s", diff)
	}
}

func testUpdate(t *testing.T, st user.Store) {
	ctx := context.Background()
	u := New("alice@example.com")
	mustCreate(t, st, u)
	at := t0.Add(time.Hour)
	if err := st.SetPasswordHash(ctx, u.ID, "$argon2id$new", at); err != nil {
		t.Fatal(err)
	}
	if err := st.SetUserDisabled(ctx, u.ID, true, at); err != nil {
		t.Fatal(err)
	}
	got, err := st.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PasswordHash != "$argon2id$new" || !got.Disabled || !got.UpdatedAt.Equal(at) || !got.CreatedAt.Equal(t0) {
		t.Errorf("after update: %+v", got)
	}
	if err := st.SetUserDisabled(ctx, u.ID, false, at); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.UserByEmail(ctx, u.Email); got.Disabled {
		t.Error("re-enable did not stick")
	}
}

func testDelete(t *testing.T, st user.Store) {
	ctx := context.Background()
	u := New("alice@example.com")
	mustCreate(t, st, u)
	if err := st.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	_, err := st.UserByID(ctx, u.ID)
	want(t, "UserByID after delete", err, authd.ErrNotFound)
	_, err = st.UserByEmail(ctx, u.Email)
	want(t, "UserByEmail after delete", err, authd.ErrNotFound)
	want(t, "second DeleteUser", st.DeleteUser(ctx, u.ID), authd.ErrNotFound)
	// The address can be registered again.
	mustCreate(t, st, New("alice@example.com"))
}

func testCancelled(t *testing.T, st user.Store) {
	u := New("alice@example.com")
	mustCreate(t, st, u)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	checks := map[string]error{}
	checks["CreateUser"] = st.CreateUser(ctx, New("bob@example.com"))
	_, checks["UserByID"] = st.UserByID(ctx, u.ID)
	_, checks["UserByEmail"] = st.UserByEmail(ctx, u.Email)
	_, checks["ListUsers"] = st.ListUsers(ctx, "", 10)
	checks["SetPasswordHash"] = st.SetPasswordHash(ctx, u.ID, "x", t0)
	checks["SetUserDisabled"] = st.SetUserDisabled(ctx, u.ID, true, t0)
	checks["DeleteUser"] = st.DeleteUser(ctx, u.ID)
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", name, err)
		}
	}
	got, err := st.UserByID(context.Background(), u.ID)
	if err != nil || got.Disabled || got.PasswordHash != u.PasswordHash {
		t.Errorf("user after cancelled calls = %+v, %v; want unchanged", got, err)
	}
}

func testConcurrentSameEmail(t *testing.T, st user.Store) {
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			err := st.CreateUser(context.Background(), New("race@example.com"))
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, authd.ErrConflict):
				t.Errorf("CreateUser = %v, want nil or ErrConflict", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent registrations of one email succeeded, want 1", wins.Load())
	}
}

func want(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s = %v, want %v", what, err, target)
	}
}

func emails(us []*user.User) []string {
	out := []string{}
	for _, u := range us {
		out = append(out, u.Email)
	}
	return out
}
