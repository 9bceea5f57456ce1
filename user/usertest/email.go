package usertest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/user"
)

func testEmailVerified(t *testing.T, st user.Store) {
	ctx := context.Background()
	u := New("alice@example.com")
	mustCreate(t, st, u)
	v := New("bob@example.com")
	v.EmailVerified = true // an operator vouched for it (authd user add --verified)
	mustCreate(t, st, v)
	if got, _ := st.UserByID(ctx, u.ID); got.EmailVerified {
		t.Error("a new user's address is verified")
	}
	if got, _ := st.UserByID(ctx, v.ID); !got.EmailVerified {
		t.Error("CreateUser lost EmailVerified")
	}
	at := t0.Add(time.Minute)
	// A link sent to an address the user no longer has verifies nothing.
	want(t, "SetEmailVerified(other address)", st.SetEmailVerified(ctx, u.ID, "old@example.com", at), authd.ErrNotFound)
	want(t, "SetEmailVerified(unknown user)", st.SetEmailVerified(ctx, "nobody", u.Email, at), authd.ErrNotFound)
	if got, _ := st.UserByID(ctx, u.ID); got.EmailVerified {
		t.Error("verified by a link for another address")
	}
	if err := st.SetEmailVerified(ctx, u.ID, u.Email, at); err != nil {
		t.Fatalf("SetEmailVerified = %v", err)
	}
	got, err := st.UserByEmail(ctx, u.Email)
	if err != nil || !got.EmailVerified {
		t.Fatalf("after SetEmailVerified: %+v, %v", got, err)
	}
	// Twice is fine.
	if err := st.SetEmailVerified(ctx, u.ID, u.Email, at.Add(time.Second)); err != nil {
		t.Errorf("second SetEmailVerified = %v", err)
	}
	if list, _ := st.ListUsers(ctx, "", 0); len(list) != 2 || !list[0].EmailVerified || !list[1].EmailVerified {
		t.Errorf("ListUsers = %+v, want both verified", list)
	}
}

func testChangeEmail(t *testing.T, st user.Store) {
	ctx := context.Background()
	u := New("alice@example.com")
	mustCreate(t, st, u)
	other := New("taken@example.com")
	mustCreate(t, st, other)
	at := t0.Add(time.Hour)
	want(t, "ChangeEmail(wrong from)", st.ChangeEmail(ctx, u.ID, "stale@example.com", "new@example.com", true, at), authd.ErrNotFound)
	want(t, "ChangeEmail(unknown user)", st.ChangeEmail(ctx, "nobody", u.Email, "new@example.com", true, at), authd.ErrNotFound)
	want(t, "ChangeEmail(taken)", st.ChangeEmail(ctx, u.ID, u.Email, other.Email, true, at), authd.ErrConflict)
	if got, _ := st.UserByID(ctx, u.ID); got.Email != u.Email {
		t.Fatalf("a refused change moved the address to %q", got.Email)
	}
	if err := st.ChangeEmail(ctx, u.ID, u.Email, "new@example.com", true, at); err != nil {
		t.Fatalf("ChangeEmail = %v", err)
	}
	got, err := st.UserByEmail(ctx, "new@example.com")
	if err != nil || got.ID != u.ID || !got.EmailVerified || !got.UpdatedAt.Equal(at) {
		t.Fatalf("UserByEmail(new) = %+v, %v", got, err)
	}
	_, err = st.UserByEmail(ctx, u.Email)
	want(t, "UserByEmail(old) after the change", err, authd.ErrNotFound)
	// The old address is free for someone else; the unverified flag sticks.
	mustCreate(t, st, New(u.Email))
	if err := st.ChangeEmail(ctx, u.ID, "new@example.com", "third@example.com", false, at); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.UserByID(ctx, u.ID); got.Email != "third@example.com" || got.EmailVerified {
		t.Errorf("after an unverified change: %+v", got)
	}
}

// testConcurrentChangeEmail: 50 users race for one address; exactly one
// gets it.
func testConcurrentChangeEmail(t *testing.T, st user.Store) {
	ctx := context.Background()
	const n = 50
	us := make([]*user.User, n)
	for i := range us {
		us[i] = New(fmt.Sprintf("u%d@example.com", i))
		mustCreate(t, st, us[i])
	}
	var won, conflict atomic.Int32
	var wg sync.WaitGroup
	for _, u := range us {
		wg.Go(func() {
			err := st.ChangeEmail(ctx, u.ID, u.Email, "prize@example.com", true, t0)
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, authd.ErrConflict):
				conflict.Add(1)
			default:
				t.Errorf("ChangeEmail = %v", err)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 || conflict.Load() != n-1 {
		t.Errorf("%d won, %d conflicts; want 1 and %d", won.Load(), conflict.Load(), n-1)
	}
}

// TokenStore is what RunTokens proves: the emailed tokens and the outbox
// their mails go to, in one store.
type TokenStore interface {
	user.TokenStore
	mail.Outbox
}

// RunTokens runs the conformance suite of user.TokenStore; newStore
// returns an empty store per subtest.
func RunTokens(t *testing.T, newStore func(t *testing.T) TokenStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st TokenStore)
	}{
		{"IssueAndUse", testIssueAndUse},
		{"MailQueuedWithToken", testMailQueuedWithToken},
		{"NewerVoidsOlder", testNewerVoidsOlder},
		{"Expired", testTokenExpired},
		{"WrongPurpose", testWrongPurpose},
		{"DeleteUserTokens", testDeleteUserTokens},
		{"DeleteExpired", testDeleteExpiredTokens},
		{"FailedIssueWritesNothing", testFailedIssue},
		{"CancelledContext", testTokensCancelled},
		{"ConcurrentUse", testConcurrentUse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

func newToken(p user.Purpose, userID string) (*user.Token, []byte) {
	secret := make([]byte, 32)
	rand.Read(secret)
	h := sha256.Sum256(secret)
	return &user.Token{Hash: h[:], Purpose: p, UserID: userID, Email: userID + "@example.com", Stamp: "stamp-" + userID,
		CreatedAt: t0, ExpiresAt: t0.Add(30 * time.Minute)}, h[:]
}

func newMessage(to string) *mail.Message {
	return &mail.Message{ID: rand.Text(), To: to, Template: mail.TemplatePasswordReset,
		Data: map[string]string{"Link": "https://auth.example.com/reset-password?token=x"}, CreatedAt: t0}
}

func testIssueAndUse(t *testing.T, st TokenStore) {
	ctx := context.Background()
	tok, h := newToken(user.PurposeReset, "u1")
	if err := st.IssueTokens(ctx, []*user.Token{tok}, nil); err != nil {
		t.Fatalf("IssueTokens = %v", err)
	}
	got, err := st.UseToken(ctx, user.PurposeReset, h, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("UseToken = %v", err)
	}
	if string(got.Hash) != string(h) || got.Purpose != tok.Purpose || got.UserID != tok.UserID || got.Email != tok.Email ||
		got.Stamp != tok.Stamp || !got.CreatedAt.Equal(tok.CreatedAt) || !got.ExpiresAt.Equal(tok.ExpiresAt) {
		t.Errorf("UseToken = %+v, want %+v", got, tok)
	}
	_, err = st.UseToken(ctx, user.PurposeReset, h, t0.Add(time.Minute))
	want(t, "second UseToken", err, authd.ErrNotFound)
	_, err = st.UseToken(ctx, user.PurposeReset, make([]byte, 32), t0)
	want(t, "UseToken(unknown)", err, authd.ErrNotFound)
}

func testMailQueuedWithToken(t *testing.T, st TokenStore) {
	ctx := context.Background()
	tok, _ := newToken(user.PurposeChange, "u1")
	undo, _ := newToken(user.PurposeUndo, "u1")
	m1, m2 := newMessage("new@example.com"), newMessage("old@example.com")
	if err := st.IssueTokens(ctx, []*user.Token{tok, undo}, []*mail.Message{m1, m2}); err != nil {
		t.Fatal(err)
	}
	got, err := st.Claim(ctx, t0, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Claim = %d messages, want the 2 issued with the tokens", len(got))
	}
	ids := map[string]bool{got[0].ID: true, got[1].ID: true}
	if !ids[m1.ID] || !ids[m2.ID] {
		t.Errorf("Claim = %v, want %s and %s", ids, m1.ID, m2.ID)
	}
	for _, m := range got {
		if m.Data["Link"] != m1.Data["Link"] {
			t.Errorf("message data = %v", m.Data)
		}
	}
}

func testNewerVoidsOlder(t *testing.T, st TokenStore) {
	ctx := context.Background()
	old, hOld := newToken(user.PurposeReset, "u1")
	verify, hVerify := newToken(user.PurposeVerify, "u1")
	otherUser, hOther := newToken(user.PurposeReset, "u2")
	for _, tk := range []*user.Token{old, verify, otherUser} {
		if err := st.IssueTokens(ctx, []*user.Token{tk}, nil); err != nil {
			t.Fatal(err)
		}
	}
	newer, hNew := newToken(user.PurposeReset, "u1")
	if err := st.IssueTokens(ctx, []*user.Token{newer}, nil); err != nil {
		t.Fatal(err)
	}
	_, err := st.UseToken(ctx, user.PurposeReset, hOld, t0)
	want(t, "UseToken(older reset)", err, authd.ErrNotFound)
	for name, h := range map[string][]byte{"newer reset": hNew, "other user's reset": hOther} {
		if _, err := st.UseToken(ctx, user.PurposeReset, h, t0); err != nil {
			t.Errorf("UseToken(%s) = %v", name, err)
		}
	}
	if _, err := st.UseToken(ctx, user.PurposeVerify, hVerify, t0); err != nil {
		t.Errorf("a reset voided the verification token: %v", err)
	}
	// Undo tokens are the exception: each undoes its own change.
	undo1, h1 := newToken(user.PurposeUndo, "u1")
	undo2, h2 := newToken(user.PurposeUndo, "u1")
	for _, tk := range []*user.Token{undo1, undo2} {
		if err := st.IssueTokens(ctx, []*user.Token{tk}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i, h := range [][]byte{h1, h2} {
		if _, err := st.UseToken(ctx, user.PurposeUndo, h, t0); err != nil {
			t.Errorf("undo token %d after a newer one: %v", i+1, err)
		}
	}
}

func testTokenExpired(t *testing.T, st TokenStore) {
	ctx := context.Background()
	tok, h := newToken(user.PurposeVerify, "u1")
	if err := st.IssueTokens(ctx, []*user.Token{tok}, nil); err != nil {
		t.Fatal(err)
	}
	_, err := st.UseToken(ctx, user.PurposeVerify, h, tok.ExpiresAt)
	want(t, "UseToken at expiry", err, authd.ErrNotFound)
	// An expired token is gone, not waiting for a clock going back.
	_, err = st.UseToken(ctx, user.PurposeVerify, h, t0)
	want(t, "UseToken after an expired use", err, authd.ErrNotFound)
}

func testWrongPurpose(t *testing.T, st TokenStore) {
	ctx := context.Background()
	tok, h := newToken(user.PurposeUndo, "u1")
	if err := st.IssueTokens(ctx, []*user.Token{tok}, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range []user.Purpose{user.PurposeReset, user.PurposeVerify, user.PurposeChange} {
		_, err := st.UseToken(ctx, p, h, t0)
		want(t, "UseToken("+string(p)+") of an undo token", err, authd.ErrNotFound)
	}
	if _, err := st.UseToken(ctx, user.PurposeUndo, h, t0); err != nil {
		t.Errorf("a use for the wrong purpose spent the token: %v", err)
	}
}

func testDeleteUserTokens(t *testing.T, st TokenStore) {
	ctx := context.Background()
	reset, hReset := newToken(user.PurposeReset, "u1")
	verify, hVerify := newToken(user.PurposeVerify, "u1")
	change, hChange := newToken(user.PurposeChange, "u1")
	other, hOther := newToken(user.PurposeReset, "u2")
	if err := st.IssueTokens(ctx, []*user.Token{reset, verify, change, other}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteUserTokens(ctx, "u1", user.PurposeReset, user.PurposeVerify); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		p  user.Purpose
		h  []byte
		ok bool
	}{"reset": {user.PurposeReset, hReset, false}, "verify": {user.PurposeVerify, hVerify, false},
		"change": {user.PurposeChange, hChange, true}, "other user's": {user.PurposeReset, hOther, true}} {
		_, err := st.UseToken(ctx, c.p, c.h, t0)
		if (err == nil) != c.ok {
			t.Errorf("after DeleteUserTokens(u1, reset, verify): UseToken(%s) = %v", name, err)
		}
	}
	again, h := newToken(user.PurposeChange, "u1")
	if err := st.IssueTokens(ctx, []*user.Token{again}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteUserTokens(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	_, err := st.UseToken(ctx, user.PurposeChange, h, t0)
	want(t, "UseToken after DeleteUserTokens(u1)", err, authd.ErrNotFound)
}

func testDeleteExpiredTokens(t *testing.T, st TokenStore) {
	ctx := context.Background()
	short, _ := newToken(user.PurposeReset, "u1")
	long, hLong := newToken(user.PurposeVerify, "u1")
	long.ExpiresAt = t0.Add(48 * time.Hour)
	if err := st.IssueTokens(ctx, []*user.Token{short, long}, nil); err != nil {
		t.Fatal(err)
	}
	n, err := st.DeleteExpiredTokens(ctx, t0.Add(time.Hour))
	if err != nil || n != 1 {
		t.Errorf("DeleteExpiredTokens = %d, %v; want 1", n, err)
	}
	if _, err := st.UseToken(ctx, user.PurposeVerify, hLong, t0); err != nil {
		t.Errorf("the sweep took a live token: %v", err)
	}
}

// testFailedIssue: a token and its mail are one transaction; a refused
// issue (a message ID already queued) leaves neither.
func testFailedIssue(t *testing.T, st TokenStore) {
	ctx := context.Background()
	m := newMessage("a@example.com")
	if err := st.Enqueue(ctx, m); err != nil {
		t.Fatal(err)
	}
	tok, h := newToken(user.PurposeReset, "u1")
	dup := *m
	if err := st.IssueTokens(ctx, []*user.Token{tok}, []*mail.Message{&dup}); err == nil {
		t.Fatal("IssueTokens with a message ID already queued succeeded")
	}
	_, err := st.UseToken(ctx, user.PurposeReset, h, t0)
	want(t, "UseToken of a token whose issue failed", err, authd.ErrNotFound)
	got, err := st.Claim(ctx, t0, time.Minute, 10)
	if err != nil || len(got) != 1 {
		t.Errorf("Claim after a failed issue = %d messages, %v; want only the first", len(got), err)
	}
}

func testTokensCancelled(t *testing.T, st TokenStore) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tok, h := newToken(user.PurposeReset, "u1")
	want(t, "IssueTokens", st.IssueTokens(ctx, []*user.Token{tok}, nil), context.Canceled)
	_, err := st.UseToken(ctx, user.PurposeReset, h, t0)
	want(t, "UseToken", err, context.Canceled)
	want(t, "DeleteUserTokens", st.DeleteUserTokens(ctx, "u1"), context.Canceled)
	_, err = st.DeleteExpiredTokens(ctx, t0)
	want(t, "DeleteExpiredTokens", err, context.Canceled)
}

// testConcurrentUse: 100 parallel uses of one token; exactly one gets it.
func testConcurrentUse(t *testing.T, st TokenStore) {
	ctx := context.Background()
	tok, h := newToken(user.PurposeReset, "u1")
	if err := st.IssueTokens(ctx, []*user.Token{tok}, nil); err != nil {
		t.Fatal(err)
	}
	const n = 100
	var won, lost atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			_, err := st.UseToken(ctx, user.PurposeReset, h, t0)
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, authd.ErrNotFound):
				lost.Add(1)
			default:
				t.Errorf("UseToken = %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if won.Load() != 1 || lost.Load() != n-1 {
		t.Errorf("%d uses won, %d lost; want exactly 1 and %d", won.Load(), lost.Load(), n-1)
	}
}
