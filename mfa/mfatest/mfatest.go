// Package mfatest is the conformance suite for mfa.Store. Every backend
// runs it from its own tests:
//
//	mfatest.Run(t, func(t *testing.T) mfatest.Store { return newStore(t) })
//
// The suite creates the users it needs through the backend's user.Store
// (the SQL stores keep second factors in tables that refer to users), and
// deletes one of them to prove that a user's factors go with the user.
//
// Times given to the store are UTC with microsecond precision, which every
// backend must round-trip exactly and return in UTC.
//
// A backend is done when the suite passes unchanged.
package mfatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/authd/authd"
	"github.com/authd/authd/mfa"
	"github.com/authd/authd/user"
	"github.com/authd/authd/user/usertest"
)

// Store is what the suite needs: the second factors and the users they
// belong to.
type Store interface {
	mfa.Store
	user.Store
}

// t0 is the suite's clock origin.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// Run runs the suite. newStore must return an empty store for each call; it
// is called once per subtest and should register its own cleanup.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st Store)
	}{
		{"TOTPPutAndGet", testTOTPPutAndGet},
		{"TOTPConfirm", testTOTPConfirm},
		{"TOTPSteps", testTOTPSteps},
		{"TOTPDelete", testTOTPDelete},
		{"Factors", testFactors},
		{"RecoveryCodes", testRecoveryCodes},
		{"RecoveryCodeHashLength", testCodeHashLength},
		{"Challenges", testChallenges},
		{"ChallengeData", testChallengeData},
		{"ChallengeConflict", testChallengeConflict},
		{"FailChallenge", testFailChallenge},
		{"DeleteExpiredChallenges", testDeleteExpired},
		{"Credentials", testCredentials},
		{"CredentialConflict", testCredentialConflict},
		{"CredentialList", testCredentialList},
		{"UseCredential", testUseCredential},
		{"CredentialOwnership", testCredentialOwnership},
		{"DeleteFactors", testDeleteFactors},
		{"DeleteUser", testDeleteUser},
		{"Copies", testCopies},
		{"CancelledContext", testCancelled},
		{"ParallelTOTPStep", testParallelTOTPStep},
		{"ParallelRecoveryCode", testParallelRecoveryCode},
		{"ParallelTakeChallenge", testParallelTakeChallenge},
		{"ParallelConfirmTOTP", testParallelConfirmTOTP},
		{"ParallelFailChallenge", testParallelFailChallenge},
		{"ParallelUseCredential", testParallelUseCredential},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// --- helpers ---

// newUser creates a user through the user store and returns its ID.
func newUser(t *testing.T, st Store) string {
	t.Helper()
	u := usertest.New(strings.ToLower(rand.Text()) + "@example.com")
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser = %v", err)
	}
	return u.ID
}

// hash32 returns a fresh random 32-byte hash.
func hash32() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

func sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// codes returns n fresh recovery code hashes.
func codes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = hash32()
	}
	return out
}

func pending(userID string) *mfa.TOTP {
	return &mfa.TOTP{UserID: userID, Secret: []byte("sealed:" + userID), CreatedAt: t0}
}

func mustPut(t *testing.T, st Store, userID string) {
	t.Helper()
	if err := st.PutTOTP(context.Background(), pending(userID)); err != nil {
		t.Fatalf("PutTOTP = %v", err)
	}
}

// mustConfirm gives the user a confirmed TOTP secret, last used at step,
// with the recovery codes cs.
func mustConfirm(t *testing.T, st Store, userID string, step int64, cs [][]byte) {
	t.Helper()
	mustPut(t, st, userID)
	if err := st.ConfirmTOTP(context.Background(), userID, step, cs, t0.Add(time.Minute)); err != nil {
		t.Fatalf("ConfirmTOTP = %v", err)
	}
}

func newChallenge(userID, kind string) *mfa.Challenge {
	return &mfa.Challenge{
		Hash:      hash32(),
		Kind:      kind,
		UserID:    userID,
		Data:      []byte(`{"challenge":"` + rand.Text() + `"}`),
		CreatedAt: t0,
		ExpiresAt: t0.Add(5 * time.Minute),
	}
}

func mustChallenge(t *testing.T, st Store, c *mfa.Challenge) {
	t.Helper()
	if err := st.CreateChallenge(context.Background(), c); err != nil {
		t.Fatalf("CreateChallenge = %v", err)
	}
}

func newCred(userID string, at time.Time) *mfa.Credential {
	aaguid := make([]byte, 16)
	rand.Read(aaguid)
	return &mfa.Credential{
		ID:              hash32(),
		UserID:          userID,
		PublicKey:       []byte("cose-key:" + rand.Text()),
		SignCount:       1,
		Transports:      []string{"usb", "nfc"},
		AAGUID:          aaguid,
		AttestationType: "packed",
		BackupEligible:  true,
		UserVerified:    true,
		Name:            "Security key",
		CreatedAt:       at,
	}
}

func mustAdd(t *testing.T, st Store, c *mfa.Credential) {
	t.Helper()
	if err := st.AddCredential(context.Background(), c); err != nil {
		t.Fatalf("AddCredential = %v", err)
	}
}

func want(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

func wantNil(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s = %v, want nil", what, err)
	}
}

func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	if _, ok := errors.AsType[*authd.ValidationError](err); !ok {
		t.Errorf("%s: err = %v, want an *authd.ValidationError", what, err)
	}
}

func wantFactors(t *testing.T, st Store, what, userID string, f mfa.Factors) {
	t.Helper()
	got, err := st.Factors(context.Background(), userID)
	if err != nil {
		t.Errorf("%s: Factors = %v", what, err)
		return
	}
	if got != f {
		t.Errorf("%s: Factors = %+v, want %+v", what, got, f)
	}
}

// wantUTC checks that every time is UTC and whole microseconds.
func wantUTC(t *testing.T, what string, times ...time.Time) {
	t.Helper()
	for _, tm := range times {
		if tm.Location() != time.UTC || !tm.Equal(tm.Truncate(time.Microsecond)) {
			t.Errorf("%s: time %v is not UTC with microsecond precision", what, tm)
		}
	}
}

func getTOTP(t *testing.T, st Store, userID string) *mfa.TOTP {
	t.Helper()
	got, err := st.GetTOTP(context.Background(), userID)
	if err != nil {
		t.Fatalf("GetTOTP = %v", err)
	}
	wantUTC(t, "GetTOTP", got.CreatedAt, got.ConfirmedAt)
	return got
}

func getCred(t *testing.T, st Store, id []byte) *mfa.Credential {
	t.Helper()
	got, err := st.Credential(context.Background(), id)
	if err != nil {
		t.Fatalf("Credential = %v", err)
	}
	wantUTC(t, "Credential", got.CreatedAt, got.LastUsedAt)
	return got
}

// parallel runs f(0) … f(n-1) at once and returns their errors.
func parallel(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// tally checks that exactly one of errs is nil and every other one is
// loser; any other error fails the test.
func tally(t *testing.T, what string, errs []error, loser error) {
	t.Helper()
	var won, lost int
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, loser):
			lost++
		default:
			t.Errorf("%s: unexpected error %v", what, err)
		}
	}
	if won != 1 || lost != len(errs)-1 {
		t.Errorf("%s: %d succeeded, %d got %v; want 1 and %d", what, won, lost, loser, len(errs)-1)
	}
}

// --- TOTP ---

func testTOTPPutAndGet(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	_, err := st.GetTOTP(ctx, uid)
	want(t, "GetTOTP(none)", err, authd.ErrNotFound)
	_, err = st.GetTOTP(ctx, "nobody")
	want(t, "GetTOTP(unknown user)", err, authd.ErrNotFound)

	tests := []struct {
		name string
		put  mfa.TOTP
		want mfa.TOTP
	}{
		{
			name: "pending",
			put:  mfa.TOTP{UserID: uid, Secret: []byte("sealed-1\x00\xff"), CreatedAt: t0},
			want: mfa.TOTP{UserID: uid, Secret: []byte("sealed-1\x00\xff"), CreatedAt: t0},
		},
		{
			name: "replace pending",
			put:  mfa.TOTP{UserID: uid, Secret: []byte("sealed-2"), CreatedAt: t0.Add(time.Minute)},
			want: mfa.TOTP{UserID: uid, Secret: []byte("sealed-2"), CreatedAt: t0.Add(time.Minute)},
		},
		{
			// PutTOTP stores a pending secret, whatever the caller set.
			name: "confirmation fields ignored",
			put: mfa.TOTP{UserID: uid, Secret: []byte("sealed-3"), CreatedAt: t0.Add(2 * time.Minute),
				ConfirmedAt: t0.Add(3 * time.Minute), LastStep: 99},
			want: mfa.TOTP{UserID: uid, Secret: []byte("sealed-3"), CreatedAt: t0.Add(2 * time.Minute)},
		},
	}
	for _, tt := range tests {
		if err := st.PutTOTP(ctx, &tt.put); err != nil {
			t.Fatalf("%s: PutTOTP = %v", tt.name, err)
		}
		got := getTOTP(t, st, uid)
		if diff := cmp.Diff(&tt.want, got); diff != "" {
			t.Errorf("%s: GetTOTP (-want +got):\n%s", tt.name, diff)
		}
		if got.Confirmed() {
			t.Errorf("%s: a put secret is confirmed", tt.name)
		}
	}
	wantFactors(t, st, "pending secret", uid, mfa.Factors{})
}

func testTOTPConfirm(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	at := t0.Add(time.Minute)
	want(t, "ConfirmTOTP(no secret)", st.ConfirmTOTP(ctx, uid, 1, codes(1), at), authd.ErrNotFound)
	want(t, "ConfirmTOTP(unknown user)", st.ConfirmTOTP(ctx, "nobody", 1, codes(1), at), authd.ErrNotFound)

	mustPut(t, st, uid)
	cs := codes(3)
	if err := st.ConfirmTOTP(ctx, uid, 100, cs, at); err != nil {
		t.Fatalf("ConfirmTOTP = %v", err)
	}
	wantTOTP := &mfa.TOTP{UserID: uid, Secret: pending(uid).Secret, CreatedAt: t0, ConfirmedAt: at, LastStep: 100}
	got := getTOTP(t, st, uid)
	if diff := cmp.Diff(wantTOTP, got); diff != "" {
		t.Errorf("GetTOTP after ConfirmTOTP (-want +got):\n%s", diff)
	}
	if !got.Confirmed() {
		t.Error("Confirmed() = false after ConfirmTOTP")
	}
	wantFactors(t, st, "confirmed", uid, mfa.Factors{TOTP: true, RecoveryCodes: 3})

	// A second confirmation finds no pending secret and changes nothing:
	// neither the step nor the codes.
	other := codes(2)
	want(t, "second ConfirmTOTP", st.ConfirmTOTP(ctx, uid, 200, other, at.Add(time.Minute)), authd.ErrNotFound)
	if diff := cmp.Diff(wantTOTP, getTOTP(t, st, uid)); diff != "" {
		t.Errorf("GetTOTP after a second ConfirmTOTP (-want +got):\n%s", diff)
	}
	wantFactors(t, st, "after a second confirm", uid, mfa.Factors{TOTP: true, RecoveryCodes: 3})
	want(t, "code of the refused confirmation", st.UseRecoveryCode(ctx, uid, other[0]), authd.ErrNotFound)

	// A confirmed secret is not replaced by a new enrolment.
	want(t, "PutTOTP over a confirmed secret",
		st.PutTOTP(ctx, &mfa.TOTP{UserID: uid, Secret: []byte("new"), CreatedAt: at}), authd.ErrConflict)
	if diff := cmp.Diff(wantTOTP, getTOTP(t, st, uid)); diff != "" {
		t.Errorf("GetTOTP after a refused PutTOTP (-want +got):\n%s", diff)
	}
	for i, c := range cs {
		wantNil(t, fmt.Sprintf("UseRecoveryCode(code %d of the confirmation)", i), st.UseRecoveryCode(ctx, uid, c))
	}
}

func testTOTPSteps(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	mustConfirm(t, st, uid, 100, codes(1))
	steps := []struct {
		step int64
		err  error
		last int64
	}{
		{100, mfa.ErrReplayed, 100}, // the confirming code
		{99, mfa.ErrReplayed, 100},
		{0, mfa.ErrReplayed, 100},
		{101, nil, 101},
		{101, mfa.ErrReplayed, 101},
		{105, nil, 105},
		{103, mfa.ErrReplayed, 105},
		{105, mfa.ErrReplayed, 105},
		{106, nil, 106},
		{math.MaxInt64 / 2, nil, math.MaxInt64 / 2},
	}
	for _, s := range steps {
		err := st.UseTOTPStep(ctx, uid, s.step)
		if s.err == nil {
			wantNil(t, fmt.Sprintf("UseTOTPStep(%d)", s.step), err)
		} else {
			want(t, fmt.Sprintf("UseTOTPStep(%d)", s.step), err, s.err)
		}
		if got := getTOTP(t, st, uid); got.LastStep != s.last {
			t.Errorf("after UseTOTPStep(%d): LastStep = %d, want %d", s.step, got.LastStep, s.last)
		}
	}

	want(t, "UseTOTPStep(unknown user)", st.UseTOTPStep(ctx, "nobody", 1), authd.ErrNotFound)
	noTOTP := newUser(t, st)
	want(t, "UseTOTPStep(user without a secret)", st.UseTOTPStep(ctx, noTOTP, 1), authd.ErrNotFound)
	pend := newUser(t, st)
	mustPut(t, st, pend)
	want(t, "UseTOTPStep(pending secret)", st.UseTOTPStep(ctx, pend, 1), authd.ErrNotFound)
	if got := getTOTP(t, st, pend); got.LastStep != 0 || got.Confirmed() {
		t.Errorf("pending secret after UseTOTPStep: %+v, want pending at step 0", got)
	}
}

func testTOTPDelete(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	want(t, "DeleteTOTP(none)", st.DeleteTOTP(ctx, uid), authd.ErrNotFound)
	want(t, "DeleteTOTP(unknown user)", st.DeleteTOTP(ctx, "nobody"), authd.ErrNotFound)

	cs := codes(4)
	mustConfirm(t, st, uid, 7, cs)
	keep := newUser(t, st)
	keepCodes := codes(2)
	mustConfirm(t, st, keep, 7, keepCodes)

	wantNil(t, "DeleteTOTP", st.DeleteTOTP(ctx, uid))
	_, err := st.GetTOTP(ctx, uid)
	want(t, "GetTOTP after DeleteTOTP", err, authd.ErrNotFound)
	want(t, "DeleteTOTP again", st.DeleteTOTP(ctx, uid), authd.ErrNotFound)
	want(t, "UseTOTPStep after DeleteTOTP", st.UseTOTPStep(ctx, uid, 8), authd.ErrNotFound)
	for i, c := range cs {
		want(t, fmt.Sprintf("UseRecoveryCode(%d) after DeleteTOTP", i), st.UseRecoveryCode(ctx, uid, c), authd.ErrNotFound)
	}
	wantFactors(t, st, "after DeleteTOTP", uid, mfa.Factors{})
	wantFactors(t, st, "other user after DeleteTOTP", keep, mfa.Factors{TOTP: true, RecoveryCodes: 2})

	// Enrolling again starts afresh; the old codes stay gone.
	mustConfirm(t, st, uid, 9, codes(1))
	wantFactors(t, st, "re-enrolled", uid, mfa.Factors{TOTP: true, RecoveryCodes: 1})
	want(t, "old code after re-enrolment", st.UseRecoveryCode(ctx, uid, cs[0]), authd.ErrNotFound)

	// A pending secret is deleted too.
	pend := newUser(t, st)
	mustPut(t, st, pend)
	wantNil(t, "DeleteTOTP(pending)", st.DeleteTOTP(ctx, pend))
	_, err = st.GetTOTP(ctx, pend)
	want(t, "GetTOTP after DeleteTOTP(pending)", err, authd.ErrNotFound)
}

func testFactors(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	other := newUser(t, st)
	mustConfirm(t, st, other, 1, codes(5))
	mustAdd(t, st, newCred(other, t0))

	steps := []struct {
		name string
		do   func(t *testing.T)
		want mfa.Factors
	}{
		{"nothing", func(t *testing.T) {}, mfa.Factors{}},
		{"pending TOTP", func(t *testing.T) { mustPut(t, st, uid) }, mfa.Factors{}},
		{"passkey without TOTP", func(t *testing.T) { mustAdd(t, st, newCred(uid, t0)) }, mfa.Factors{Passkeys: 1}},
		{"confirmed TOTP", func(t *testing.T) {
			wantNil(t, "ConfirmTOTP", st.ConfirmTOTP(ctx, uid, 1, codes(10), t0))
		}, mfa.Factors{TOTP: true, RecoveryCodes: 10, Passkeys: 1}},
		{"second passkey", func(t *testing.T) { mustAdd(t, st, newCred(uid, t0.Add(time.Second))) },
			mfa.Factors{TOTP: true, RecoveryCodes: 10, Passkeys: 2}},
		{"replaced codes", func(t *testing.T) {
			wantNil(t, "ReplaceRecoveryCodes", st.ReplaceRecoveryCodes(ctx, uid, codes(8)))
		}, mfa.Factors{TOTP: true, RecoveryCodes: 8, Passkeys: 2}},
		{"TOTP deleted", func(t *testing.T) { wantNil(t, "DeleteTOTP", st.DeleteTOTP(ctx, uid)) },
			mfa.Factors{Passkeys: 2}},
	}
	for _, s := range steps {
		s.do(t)
		wantFactors(t, st, s.name, uid, s.want)
		if got, _ := st.Factors(ctx, uid); got.Any() != s.want.TOTP {
			t.Errorf("%s: Any() = %v, want %v", s.name, got.Any(), s.want.TOTP)
		}
	}
	wantFactors(t, st, "other user", other, mfa.Factors{TOTP: true, RecoveryCodes: 5, Passkeys: 1})
	wantFactors(t, st, "unknown user", "nobody", mfa.Factors{})
}

// --- recovery codes ---

func testRecoveryCodes(t *testing.T, st Store) {
	ctx := context.Background()
	u1, u2 := newUser(t, st), newUser(t, st)
	c1, c2 := codes(5), codes(2)
	mustConfirm(t, st, u1, 1, c1)
	mustConfirm(t, st, u2, 1, c2)

	uses := []struct {
		name string
		user string
		hash []byte
		err  error
	}{
		{"own code", u1, c1[0], nil},
		{"same code again", u1, c1[0], authd.ErrNotFound},
		{"another user's code", u2, c1[1], authd.ErrNotFound},
		{"own code the other user tried", u1, c1[1], nil},
		{"unknown code", u1, hash32(), authd.ErrNotFound},
		{"unknown user", "nobody", c1[2], authd.ErrNotFound},
		{"second user's own code", u2, c2[0], nil},
	}
	for _, u := range uses {
		err := st.UseRecoveryCode(ctx, u.user, u.hash)
		if u.err == nil {
			wantNil(t, "UseRecoveryCode("+u.name+")", err)
		} else {
			want(t, "UseRecoveryCode("+u.name+")", err, u.err)
		}
	}
	wantFactors(t, st, "u1 after uses", u1, mfa.Factors{TOTP: true, RecoveryCodes: 3})
	wantFactors(t, st, "u2 after uses", u2, mfa.Factors{TOTP: true, RecoveryCodes: 1})

	// Replacing needs a confirmed secret.
	noTOTP := newUser(t, st)
	pend := newUser(t, st)
	mustPut(t, st, pend)
	for _, who := range []struct{ name, id string }{{"no TOTP", noTOTP}, {"pending TOTP", pend}, {"unknown user", "nobody"}} {
		want(t, "ReplaceRecoveryCodes("+who.name+")", st.ReplaceRecoveryCodes(ctx, who.id, codes(3)), authd.ErrNotFound)
		wantFactors(t, st, "after ReplaceRecoveryCodes("+who.name+")", who.id, mfa.Factors{})
	}

	// Replacing drops every old code and touches no one else's.
	fresh := codes(3)
	wantNil(t, "ReplaceRecoveryCodes", st.ReplaceRecoveryCodes(ctx, u1, fresh))
	wantFactors(t, st, "u1 after replace", u1, mfa.Factors{TOTP: true, RecoveryCodes: 3})
	for i := 2; i < len(c1); i++ {
		want(t, fmt.Sprintf("old code %d after replace", i), st.UseRecoveryCode(ctx, u1, c1[i]), authd.ErrNotFound)
	}
	wantNil(t, "new code after replace", st.UseRecoveryCode(ctx, u1, fresh[2]))
	wantFactors(t, st, "u2 after u1's replace", u2, mfa.Factors{TOTP: true, RecoveryCodes: 1})
	wantNil(t, "u2's code after u1's replace", st.UseRecoveryCode(ctx, u2, c2[1]))

	// No codes at all is a valid replacement.
	wantNil(t, "ReplaceRecoveryCodes(none)", st.ReplaceRecoveryCodes(ctx, u1, nil))
	wantFactors(t, st, "u1 after replace with none", u1, mfa.Factors{TOTP: true})
	want(t, "code after replace with none", st.UseRecoveryCode(ctx, u1, fresh[0]), authd.ErrNotFound)
}

func testCodeHashLength(t *testing.T, st Store) {
	ctx := context.Background()
	tests := []struct {
		name string
		hash []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"31 bytes", make([]byte, 31)},
		{"33 bytes", make([]byte, 33)},
		{"64 bytes", make([]byte, 64)},
	}
	for _, tt := range tests {
		// ConfirmTOTP refuses the codes and stays pending.
		pend := newUser(t, st)
		mustPut(t, st, pend)
		wantInvalid(t, "ConfirmTOTP("+tt.name+" code)", st.ConfirmTOTP(ctx, pend, 5, [][]byte{hash32(), tt.hash}, t0))
		if got := getTOTP(t, st, pend); got.Confirmed() || got.LastStep != 0 {
			t.Errorf("%s: a refused ConfirmTOTP left %+v, want it pending", tt.name, got)
		}
		wantFactors(t, st, tt.name+": after a refused ConfirmTOTP", pend, mfa.Factors{})

		// ReplaceRecoveryCodes refuses them and keeps the old codes.
		uid := newUser(t, st)
		old := codes(2)
		mustConfirm(t, st, uid, 1, old)
		good := hash32()
		wantInvalid(t, "ReplaceRecoveryCodes("+tt.name+" code)", st.ReplaceRecoveryCodes(ctx, uid, [][]byte{good, tt.hash}))
		wantFactors(t, st, tt.name+": after a refused ReplaceRecoveryCodes", uid, mfa.Factors{TOTP: true, RecoveryCodes: 2})
		want(t, tt.name+": code of a refused replacement", st.UseRecoveryCode(ctx, uid, good), authd.ErrNotFound)
		wantNil(t, tt.name+": old code after a refused replacement", st.UseRecoveryCode(ctx, uid, old[0]))

		// UseRecoveryCode finds nothing of that length.
		want(t, "UseRecoveryCode("+tt.name+")", st.UseRecoveryCode(ctx, uid, tt.hash), authd.ErrNotFound)
		wantFactors(t, st, tt.name+": after UseRecoveryCode", uid, mfa.Factors{TOTP: true, RecoveryCodes: 1})
	}
}

// --- challenges ---

func testChallenges(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	c := newChallenge(uid, mfa.KindSignIn)
	c.Data = []byte("payload\x00\xff")
	c.Attempts = 2
	mustChallenge(t, st, c)

	misses := []struct {
		name string
		hash []byte
		kind string
		now  time.Time
	}{
		{"wrong kind", c.Hash, mfa.KindPasskeyLogin, t0},
		{"empty kind", c.Hash, "", t0},
		{"at expiry", c.Hash, c.Kind, c.ExpiresAt},
		{"after expiry", c.Hash, c.Kind, c.ExpiresAt.Add(time.Hour)},
		{"unknown hash", sum("other"), c.Kind, t0},
		{"nil hash", nil, c.Kind, t0},
		{"short hash", c.Hash[:16], c.Kind, t0},
	}
	for _, m := range misses {
		_, err := st.GetChallenge(ctx, m.hash, m.kind, m.now)
		want(t, "GetChallenge("+m.name+")", err, authd.ErrNotFound)
		_, err = st.TakeChallenge(ctx, m.hash, m.kind, m.now)
		want(t, "TakeChallenge("+m.name+")", err, authd.ErrNotFound)
	}

	// Still there after all those misses; live up to the last microsecond.
	for _, now := range []time.Time{t0.Add(-time.Hour), t0, c.ExpiresAt.Add(-time.Microsecond)} {
		got, err := st.GetChallenge(ctx, c.Hash, c.Kind, now)
		if err != nil {
			t.Fatalf("GetChallenge(now %v) = %v", now, err)
		}
		wantUTC(t, "GetChallenge", got.CreatedAt, got.ExpiresAt)
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("GetChallenge(now %v) (-want +got):\n%s", now, diff)
		}
	}
	got, err := st.TakeChallenge(ctx, c.Hash, c.Kind, c.ExpiresAt.Add(-time.Microsecond))
	if err != nil {
		t.Fatalf("TakeChallenge = %v", err)
	}
	wantUTC(t, "TakeChallenge", got.CreatedAt, got.ExpiresAt)
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("TakeChallenge (-want +got):\n%s", diff)
	}
	_, err = st.GetChallenge(ctx, c.Hash, c.Kind, t0)
	want(t, "GetChallenge after TakeChallenge", err, authd.ErrNotFound)
	_, err = st.TakeChallenge(ctx, c.Hash, c.Kind, t0)
	want(t, "TakeChallenge twice", err, authd.ErrNotFound)
	_, err = st.FailChallenge(ctx, c.Hash, 5)
	want(t, "FailChallenge after TakeChallenge", err, authd.ErrNotFound)
}

func testChallengeData(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	big := make([]byte, 8<<10)
	rand.Read(big)
	tests := []struct {
		name   string
		kind   string
		userID string
		data   []byte
	}{
		{"nil data", mfa.KindSignIn, uid, nil},
		{"empty data", mfa.KindSignIn, uid, []byte{}},
		{"one byte", mfa.KindPasskeyRegister, uid, []byte{0}},
		{"binary", mfa.KindPasskeyRegister, uid, []byte("\x00\x01\xfe\xff'\";--")},
		{"8 KiB", mfa.KindPasskeyLogin, uid, big},
		{"no user yet", mfa.KindPasskeyLogin, "", []byte(`{"challenge":"abc"}`)},
	}
	for _, tt := range tests {
		c := newChallenge(tt.userID, tt.kind)
		c.Data = tt.data
		mustChallenge(t, st, c)
		got, err := st.GetChallenge(ctx, c.Hash, tt.kind, t0)
		if err != nil {
			t.Errorf("%s: GetChallenge = %v", tt.name, err)
			continue
		}
		// nil and empty data are the same thing.
		if diff := cmp.Diff(c, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: GetChallenge (-want +got):\n%s", tt.name, diff)
		}
		got, err = st.TakeChallenge(ctx, c.Hash, tt.kind, t0)
		if err != nil {
			t.Errorf("%s: TakeChallenge = %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(c, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: TakeChallenge (-want +got):\n%s", tt.name, diff)
		}
	}
}

func testChallengeConflict(t *testing.T, st Store) {
	ctx := context.Background()
	u1, u2 := newUser(t, st), newUser(t, st)
	c := newChallenge(u1, mfa.KindSignIn)
	mustChallenge(t, st, c)
	dup := newChallenge(u2, mfa.KindPasskeyLogin)
	dup.Hash = bytes.Clone(c.Hash)
	want(t, "CreateChallenge(same hash)", st.CreateChallenge(ctx, dup), authd.ErrConflict)
	got, err := st.GetChallenge(ctx, c.Hash, c.Kind, t0)
	if err != nil {
		t.Fatalf("GetChallenge after a conflict = %v", err)
	}
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("the conflicting CreateChallenge changed the challenge (-want +got):\n%s", diff)
	}
	_, err = st.GetChallenge(ctx, c.Hash, dup.Kind, t0)
	want(t, "GetChallenge(kind of the refused one)", err, authd.ErrNotFound)

	for _, h := range [][]byte{nil, make([]byte, 16), make([]byte, 33)} {
		bad := newChallenge(u1, mfa.KindSignIn)
		bad.Hash = h
		wantInvalid(t, fmt.Sprintf("CreateChallenge(%d-byte hash)", len(h)), st.CreateChallenge(ctx, bad))
	}
}

func testFailChallenge(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	_, err := st.FailChallenge(ctx, hash32(), 3)
	want(t, "FailChallenge(unknown)", err, authd.ErrNotFound)
	_, err = st.FailChallenge(ctx, nil, 3)
	want(t, "FailChallenge(nil hash)", err, authd.ErrNotFound)

	tests := []struct {
		name     string
		attempts int // already made
		max      int
		left     []int // what each FailChallenge returns until the challenge is gone
	}{
		{"max 3", 0, 3, []int{2, 1, 0}},
		{"max 1", 0, 1, []int{0}},
		{"two already", 2, 5, []int{2, 1, 0}},
		{"at max already", 5, 5, []int{0}},
	}
	for _, tt := range tests {
		c := newChallenge(uid, mfa.KindSignIn)
		c.Attempts = tt.attempts
		mustChallenge(t, st, c)
		other := newChallenge(uid, mfa.KindSignIn)
		mustChallenge(t, st, other)
		for i, wantLeft := range tt.left {
			left, err := st.FailChallenge(ctx, c.Hash, tt.max)
			if err != nil || left != wantLeft {
				t.Errorf("%s: FailChallenge #%d = %d, %v; want %d", tt.name, i+1, left, err, wantLeft)
			}
			got, err := st.GetChallenge(ctx, c.Hash, c.Kind, t0)
			if wantLeft == 0 {
				want(t, tt.name+": GetChallenge after the last FailChallenge", err, authd.ErrNotFound)
				continue
			}
			if err != nil {
				t.Errorf("%s: GetChallenge after FailChallenge #%d = %v", tt.name, i+1, err)
			} else if got.Attempts != tt.attempts+i+1 {
				t.Errorf("%s: Attempts after FailChallenge #%d = %d, want %d", tt.name, i+1, got.Attempts, tt.attempts+i+1)
			}
		}
		_, err := st.FailChallenge(ctx, c.Hash, tt.max)
		want(t, tt.name+": FailChallenge after deletion", err, authd.ErrNotFound)
		_, err = st.TakeChallenge(ctx, c.Hash, c.Kind, t0)
		want(t, tt.name+": TakeChallenge after deletion", err, authd.ErrNotFound)
		if got, err := st.GetChallenge(ctx, other.Hash, other.Kind, t0); err != nil || got.Attempts != 0 {
			t.Errorf("%s: another challenge = %+v, %v; want untouched", tt.name, got, err)
		}
	}

	// A counted challenge can still be taken, with its count.
	c := newChallenge(uid, mfa.KindSignIn)
	mustChallenge(t, st, c)
	if left, err := st.FailChallenge(ctx, c.Hash, 5); err != nil || left != 4 {
		t.Fatalf("FailChallenge = %d, %v; want 4", left, err)
	}
	got, err := st.TakeChallenge(ctx, c.Hash, c.Kind, t0)
	if err != nil || got.Attempts != 1 {
		t.Errorf("TakeChallenge after a failure = %+v, %v; want Attempts 1", got, err)
	}
}

func testDeleteExpired(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	var cs []*mfa.Challenge
	for i, exp := range []time.Duration{time.Minute, 2 * time.Minute, 2 * time.Minute, 3 * time.Minute} {
		c := newChallenge(uid, []string{mfa.KindSignIn, mfa.KindPasskeyRegister, mfa.KindPasskeyLogin}[i%3])
		c.ExpiresAt = t0.Add(exp)
		mustChallenge(t, st, c)
		cs = append(cs, c)
	}
	steps := []struct {
		before time.Time
		n      int64
		live   []bool // of cs, asked at t0
	}{
		{t0, 0, []bool{true, true, true, true}},
		{t0.Add(time.Minute - time.Microsecond), 0, []bool{true, true, true, true}},
		{t0.Add(2 * time.Minute), 3, []bool{false, false, false, true}}, // at or before
		{t0.Add(2 * time.Minute), 0, []bool{false, false, false, true}},
		{t0.Add(time.Hour), 1, []bool{false, false, false, false}},
	}
	for _, s := range steps {
		n, err := st.DeleteExpiredChallenges(ctx, s.before)
		if err != nil || n != s.n {
			t.Errorf("DeleteExpiredChallenges(%v) = %d, %v; want %d", s.before, n, err, s.n)
		}
		for i, c := range cs {
			_, err := st.GetChallenge(ctx, c.Hash, c.Kind, t0)
			if s.live[i] {
				wantNil(t, fmt.Sprintf("GetChallenge(%d) after DeleteExpiredChallenges(%v)", i, s.before), err)
			} else {
				want(t, fmt.Sprintf("GetChallenge(%d) after DeleteExpiredChallenges(%v)", i, s.before), err, authd.ErrNotFound)
			}
		}
	}
}

// --- credentials ---

func testCredentials(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	_, err := st.Credential(ctx, hash32())
	want(t, "Credential(unknown)", err, authd.ErrNotFound)
	_, err = st.Credential(ctx, nil)
	want(t, "Credential(nil)", err, authd.ErrNotFound)

	tests := []struct {
		name string
		cred mfa.Credential
	}{
		{"every field", mfa.Credential{
			ID: hash32(), UserID: uid, PublicKey: []byte("\xa5\x01\x02\x03\x26 cose"), SignCount: 7,
			Transports:      []string{"usb", "nfc", "ble", "hybrid", "internal"},
			AAGUID:          []byte{0xee, 0x88, 0x28, 0x79, 0x72, 0x1c, 0x49, 0x13, 0x97, 0x75, 0x3d, 0xfc, 0xce, 0x97, 0x07, 0x2a},
			AttestationType: "packed", BackupEligible: true, BackupState: true, UserVerified: true,
			Name: "YubiKey 5 ✓ 'work' \"key\"", CreatedAt: t0,
		}},
		{"no transports, flags off", mfa.Credential{
			ID: hash32(), UserID: uid, PublicKey: []byte("k"), AAGUID: make([]byte, 16),
			AttestationType: "none", CreatedAt: t0.Add(time.Second),
		}},
		{"one transport", mfa.Credential{
			ID: []byte{0x00, 0x01}, UserID: uid, PublicKey: []byte("k2"), SignCount: 1, Transports: []string{"internal"},
			AAGUID: make([]byte, 16), BackupEligible: true, Name: "Phone", CreatedAt: t0.Add(2 * time.Second),
		}},
		{"max counter, used", mfa.Credential{
			ID: bytes.Repeat([]byte{0xff}, 64), UserID: uid, PublicKey: []byte("k3"), SignCount: math.MaxUint32,
			AAGUID: make([]byte, 16), UserVerified: true, Name: "Old key",
			CreatedAt: t0.Add(3 * time.Second), LastUsedAt: t0.Add(time.Hour),
		}},
	}
	for _, tt := range tests {
		mustAdd(t, st, &tt.cred)
		got := getCred(t, st, tt.cred.ID)
		if diff := cmp.Diff(&tt.cred, got); diff != "" {
			t.Errorf("%s: Credential (-want +got):\n%s", tt.name, diff)
		}
	}
	list, err := st.Credentials(ctx, uid)
	if err != nil || len(list) != len(tests) {
		t.Fatalf("Credentials = %d, %v; want %d", len(list), err, len(tests))
	}
	for i, tt := range tests {
		wantUTC(t, "Credentials", list[i].CreatedAt, list[i].LastUsedAt)
		if diff := cmp.Diff(&tt.cred, list[i]); diff != "" {
			t.Errorf("%s: Credentials[%d] (-want +got):\n%s", tt.name, i, diff)
		}
	}
	wantFactors(t, st, "passkeys", uid, mfa.Factors{Passkeys: len(tests)})
}

func testCredentialConflict(t *testing.T, st Store) {
	ctx := context.Background()
	u1, u2 := newUser(t, st), newUser(t, st)
	c := newCred(u1, t0)
	mustAdd(t, st, c)
	for _, who := range []struct{ name, id string }{{"same user", u1}, {"another user", u2}} {
		dup := newCred(who.id, t0.Add(time.Hour))
		dup.ID = bytes.Clone(c.ID)
		want(t, "AddCredential(same ID, "+who.name+")", st.AddCredential(ctx, dup), authd.ErrConflict)
	}
	if diff := cmp.Diff(c, getCred(t, st, c.ID)); diff != "" {
		t.Errorf("a refused AddCredential changed the passkey (-want +got):\n%s", diff)
	}
	wantFactors(t, st, "owner", u1, mfa.Factors{Passkeys: 1})
	wantFactors(t, st, "other user", u2, mfa.Factors{})
}

func testCredentialList(t *testing.T, st Store) {
	ctx := context.Background()
	u1, u2, u3 := newUser(t, st), newUser(t, st), newUser(t, st)
	// Added out of order.
	var want1 [][]byte
	byAge := map[time.Duration][]byte{}
	for _, d := range []time.Duration{2 * time.Minute, 0, time.Hour, time.Minute} {
		c := newCred(u1, t0.Add(d))
		mustAdd(t, st, c)
		byAge[d] = c.ID
	}
	for _, d := range []time.Duration{0, time.Minute, 2 * time.Minute, time.Hour} {
		want1 = append(want1, byAge[d])
	}
	mustAdd(t, st, newCred(u2, t0.Add(30*time.Second)))

	list, err := st.Credentials(ctx, u1)
	if err != nil {
		t.Fatalf("Credentials = %v", err)
	}
	var got [][]byte
	for _, c := range list {
		if c.UserID != u1 {
			t.Errorf("Credentials(u1) holds a passkey of %s", c.UserID)
		}
		got = append(got, c.ID)
	}
	if diff := cmp.Diff(want1, got); diff != "" {
		t.Errorf("Credentials(u1) IDs, oldest first (-want +got):\n%s", diff)
	}
	if list, err := st.Credentials(ctx, u2); err != nil || len(list) != 1 || list[0].UserID != u2 {
		t.Errorf("Credentials(u2) = %v, %v; want its one passkey", list, err)
	}
	for _, id := range []string{u3, "nobody"} {
		if list, err := st.Credentials(ctx, id); err != nil || len(list) != 0 {
			t.Errorf("Credentials(%s) = %v, %v; want none", id, list, err)
		}
	}
}

func testUseCredential(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	want(t, "UseCredential(unknown)", st.UseCredential(ctx, hash32(), 1, false, t0), authd.ErrNotFound)
	want(t, "UseCredential(unknown, counter 0)", st.UseCredential(ctx, hash32(), 0, false, t0), authd.ErrNotFound)

	tests := []struct {
		name  string
		start uint32
		uses  []struct {
			count  uint32
			backup bool
			err    error
		}
	}{
		{"counter", 10, []struct {
			count  uint32
			backup bool
			err    error
		}{
			{11, true, nil},
			{11, false, mfa.ErrReplayed},
			{5, false, mfa.ErrReplayed},
			{0, false, mfa.ErrReplayed},
			{12, false, nil},
			{math.MaxUint32, true, nil},
			{math.MaxUint32, false, mfa.ErrReplayed},
		}},
		{"counterless", 0, []struct {
			count  uint32
			backup bool
			err    error
		}{
			{0, true, nil},
			{0, false, nil},
			{0, true, nil},
			{3, true, nil}, // it starts counting
			{0, false, mfa.ErrReplayed},
			{3, false, mfa.ErrReplayed},
			{4, false, nil},
		}},
	}
	for _, tt := range tests {
		c := newCred(uid, t0)
		c.SignCount = tt.start
		mustAdd(t, st, c)
		wantCred := *c
		for i, u := range tt.uses {
			at := t0.Add(time.Duration(i+1) * time.Minute)
			err := st.UseCredential(ctx, c.ID, u.count, u.backup, at)
			what := fmt.Sprintf("%s: UseCredential #%d (%d)", tt.name, i+1, u.count)
			if u.err == nil {
				wantNil(t, what, err)
				wantCred.SignCount, wantCred.BackupState, wantCred.LastUsedAt = u.count, u.backup, at
			} else {
				want(t, what, err, u.err)
			}
			if diff := cmp.Diff(&wantCred, getCred(t, st, c.ID)); diff != "" {
				t.Errorf("%s: after it (-want +got):\n%s", what, diff)
			}
		}
	}
}

func testCredentialOwnership(t *testing.T, st Store) {
	ctx := context.Background()
	u1, u2 := newUser(t, st), newUser(t, st)
	c := newCred(u1, t0)
	mustAdd(t, st, c)

	want(t, "RenameCredential(another user's)", st.RenameCredential(ctx, u2, c.ID, "mine now"), authd.ErrNotFound)
	want(t, "DeleteCredential(another user's)", st.DeleteCredential(ctx, u2, c.ID), authd.ErrNotFound)
	want(t, "RenameCredential(unknown ID)", st.RenameCredential(ctx, u1, hash32(), "x"), authd.ErrNotFound)
	want(t, "DeleteCredential(unknown ID)", st.DeleteCredential(ctx, u1, hash32()), authd.ErrNotFound)
	want(t, "RenameCredential(unknown user)", st.RenameCredential(ctx, "nobody", c.ID, "x"), authd.ErrNotFound)
	if diff := cmp.Diff(c, getCred(t, st, c.ID)); diff != "" {
		t.Errorf("refused calls changed the passkey (-want +got):\n%s", diff)
	}
	wantFactors(t, st, "owner after refused calls", u1, mfa.Factors{Passkeys: 1})

	for _, name := range []string{"Laptop ✓ 'x'", ""} {
		wantNil(t, "RenameCredential("+name+")", st.RenameCredential(ctx, u1, c.ID, name))
		c.Name = name
		if diff := cmp.Diff(c, getCred(t, st, c.ID)); diff != "" {
			t.Errorf("after RenameCredential(%q) (-want +got):\n%s", name, diff)
		}
	}

	wantNil(t, "DeleteCredential", st.DeleteCredential(ctx, u1, c.ID))
	_, err := st.Credential(ctx, c.ID)
	want(t, "Credential after DeleteCredential", err, authd.ErrNotFound)
	want(t, "DeleteCredential twice", st.DeleteCredential(ctx, u1, c.ID), authd.ErrNotFound)
	want(t, "RenameCredential after DeleteCredential", st.RenameCredential(ctx, u1, c.ID, "x"), authd.ErrNotFound)
	want(t, "UseCredential after DeleteCredential", st.UseCredential(ctx, c.ID, 100, false, t0), authd.ErrNotFound)
	wantFactors(t, st, "after DeleteCredential", u1, mfa.Factors{})
}

// --- removal ---

// everything gives the user a confirmed TOTP secret, recovery codes, two
// passkeys and two challenges, and returns them.
type everything struct {
	codes      [][]byte
	creds      []*mfa.Credential
	challenges []*mfa.Challenge
}

func giveEverything(t *testing.T, st Store, uid string) everything {
	t.Helper()
	e := everything{codes: codes(4)}
	mustConfirm(t, st, uid, 10, e.codes)
	for i := range 2 {
		c := newCred(uid, t0.Add(time.Duration(i)*time.Second))
		mustAdd(t, st, c)
		e.creds = append(e.creds, c)
	}
	for _, kind := range []string{mfa.KindSignIn, mfa.KindPasskeyRegister} {
		c := newChallenge(uid, kind)
		mustChallenge(t, st, c)
		e.challenges = append(e.challenges, c)
	}
	return e
}

func wantNothing(t *testing.T, st Store, what, uid string, e everything) {
	t.Helper()
	ctx := context.Background()
	wantFactors(t, st, what, uid, mfa.Factors{})
	_, err := st.GetTOTP(ctx, uid)
	want(t, what+": GetTOTP", err, authd.ErrNotFound)
	for _, c := range e.codes {
		want(t, what+": UseRecoveryCode", st.UseRecoveryCode(ctx, uid, c), authd.ErrNotFound)
	}
	for _, c := range e.creds {
		_, err := st.Credential(ctx, c.ID)
		want(t, what+": Credential", err, authd.ErrNotFound)
	}
	if list, err := st.Credentials(ctx, uid); err != nil || len(list) != 0 {
		t.Errorf("%s: Credentials = %v, %v; want none", what, list, err)
	}
}

func wantEverything(t *testing.T, st Store, what, uid string, e everything) {
	t.Helper()
	ctx := context.Background()
	wantFactors(t, st, what, uid, mfa.Factors{TOTP: true, RecoveryCodes: len(e.codes), Passkeys: len(e.creds)})
	for _, c := range e.creds {
		if _, err := st.Credential(ctx, c.ID); err != nil {
			t.Errorf("%s: Credential = %v", what, err)
		}
	}
	for _, c := range e.challenges {
		if _, err := st.GetChallenge(ctx, c.Hash, c.Kind, t0); err != nil {
			t.Errorf("%s: GetChallenge(%s) = %v", what, c.Kind, err)
		}
	}
	wantNil(t, what+": UseRecoveryCode", st.UseRecoveryCode(ctx, uid, e.codes[0]))
	wantNil(t, what+": UseTOTPStep", st.UseTOTPStep(ctx, uid, 11))
}

func testDeleteFactors(t *testing.T, st Store) {
	ctx := context.Background()
	u1, u2 := newUser(t, st), newUser(t, st)
	e1, e2 := giveEverything(t, st, u1), giveEverything(t, st, u2)
	anon := newChallenge("", mfa.KindPasskeyLogin) // a passkey sign-in before the user is known
	mustChallenge(t, st, anon)

	wantNil(t, "DeleteFactors", st.DeleteFactors(ctx, u1))
	wantNothing(t, st, "after DeleteFactors", u1, e1)
	for _, c := range e1.challenges {
		_, err := st.GetChallenge(ctx, c.Hash, c.Kind, t0)
		want(t, "GetChallenge("+c.Kind+") after DeleteFactors", err, authd.ErrNotFound)
	}
	if _, err := st.GetChallenge(ctx, anon.Hash, anon.Kind, t0); err != nil {
		t.Errorf("a challenge of no user after DeleteFactors: %v", err)
	}
	wantEverything(t, st, "other user after DeleteFactors", u2, e2)

	// The user starts afresh: a new enrolment, the same passkey again.
	mustConfirm(t, st, u1, 1, codes(1))
	mustAdd(t, st, e1.creds[0])
	wantFactors(t, st, "re-enrolled", u1, mfa.Factors{TOTP: true, RecoveryCodes: 1, Passkeys: 1})
}

func testDeleteUser(t *testing.T, st Store) {
	ctx := context.Background()
	u1, u2 := newUser(t, st), newUser(t, st)
	e1, e2 := giveEverything(t, st, u1), giveEverything(t, st, u2)

	wantNil(t, "DeleteUser", st.DeleteUser(ctx, u1))
	wantNothing(t, st, "after DeleteUser", u1, e1)
	wantEverything(t, st, "other user after DeleteUser", u2, e2)
	// The deleted user's passkey ID is free again.
	c := e1.creds[0]
	c.UserID = u2
	mustAdd(t, st, c)
	wantFactors(t, st, "other user with the freed passkey", u2,
		mfa.Factors{TOTP: true, RecoveryCodes: len(e2.codes) - 1, Passkeys: len(e2.creds) + 1})
}

// testCopies: what the store keeps is its own; changing what went in or
// came out changes nothing stored.
func testCopies(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	scribble := func(bs ...[]byte) {
		for _, b := range bs {
			for i := range b {
				b[i] ^= 0xff
			}
		}
	}

	in := pending(uid)
	secret := bytes.Clone(in.Secret)
	if err := st.PutTOTP(ctx, in); err != nil {
		t.Fatal(err)
	}
	scribble(in.Secret)
	scribble(getTOTP(t, st, uid).Secret)
	if got := getTOTP(t, st, uid); !bytes.Equal(got.Secret, secret) {
		t.Errorf("stored secret changed with the caller's slice: %q, want %q", got.Secret, secret)
	}

	cs := codes(2)
	kept := bytes.Clone(cs[0])
	wantNil(t, "ConfirmTOTP", st.ConfirmTOTP(ctx, uid, 1, cs, t0))
	scribble(cs[0])
	wantNil(t, "UseRecoveryCode(code the caller changed afterwards)", st.UseRecoveryCode(ctx, uid, kept))

	c := newChallenge(uid, mfa.KindSignIn)
	wantC := *c
	wantC.Hash, wantC.Data = bytes.Clone(c.Hash), bytes.Clone(c.Data)
	mustChallenge(t, st, c)
	scribble(c.Data)
	got, err := st.GetChallenge(ctx, wantC.Hash, wantC.Kind, t0)
	if err != nil {
		t.Fatal(err)
	}
	scribble(got.Hash, got.Data)
	got, err = st.GetChallenge(ctx, wantC.Hash, wantC.Kind, t0)
	if err != nil {
		t.Fatalf("GetChallenge after changing a returned challenge = %v", err)
	}
	if diff := cmp.Diff(&wantC, got); diff != "" {
		t.Errorf("stored challenge changed with the caller's slices (-want +got):\n%s", diff)
	}

	cr := newCred(uid, t0)
	wantCr := *cr
	wantCr.ID, wantCr.PublicKey, wantCr.AAGUID = bytes.Clone(cr.ID), bytes.Clone(cr.PublicKey), bytes.Clone(cr.AAGUID)
	wantCr.Transports = append([]string(nil), cr.Transports...)
	mustAdd(t, st, cr)
	scribble(cr.ID, cr.PublicKey, cr.AAGUID)
	cr.Transports[0] = "changed"
	gotCr := getCred(t, st, wantCr.ID)
	scribble(gotCr.ID, gotCr.PublicKey, gotCr.AAGUID)
	gotCr.Transports[0] = "changed"
	list, err := st.Credentials(ctx, uid)
	if err != nil || len(list) != 1 {
		t.Fatalf("Credentials = %v, %v", list, err)
	}
	scribble(list[0].ID, list[0].PublicKey, list[0].AAGUID)
	list[0].Transports[1] = "changed"
	if diff := cmp.Diff(&wantCr, getCred(t, st, wantCr.ID)); diff != "" {
		t.Errorf("stored passkey changed with the caller's slices (-want +got):\n%s", diff)
	}
}

func testCancelled(t *testing.T, st Store) {
	uid := newUser(t, st)
	e := giveEverything(t, st, uid)
	pend := newUser(t, st)
	mustPut(t, st, pend)
	ch := e.challenges[0]
	cr := e.creds[0]

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	checks := map[string]error{}
	checks["PutTOTP"] = st.PutTOTP(ctx, pending(pend))
	_, checks["GetTOTP"] = st.GetTOTP(ctx, uid)
	checks["ConfirmTOTP"] = st.ConfirmTOTP(ctx, pend, 1, codes(1), t0)
	checks["UseTOTPStep"] = st.UseTOTPStep(ctx, uid, 1000)
	checks["DeleteTOTP"] = st.DeleteTOTP(ctx, uid)
	checks["UseRecoveryCode"] = st.UseRecoveryCode(ctx, uid, e.codes[0])
	checks["ReplaceRecoveryCodes"] = st.ReplaceRecoveryCodes(ctx, uid, codes(1))
	checks["CreateChallenge"] = st.CreateChallenge(ctx, newChallenge(uid, mfa.KindSignIn))
	_, checks["GetChallenge"] = st.GetChallenge(ctx, ch.Hash, ch.Kind, t0)
	_, checks["TakeChallenge"] = st.TakeChallenge(ctx, ch.Hash, ch.Kind, t0)
	_, checks["FailChallenge"] = st.FailChallenge(ctx, ch.Hash, 5)
	_, checks["DeleteExpiredChallenges"] = st.DeleteExpiredChallenges(ctx, t0.Add(time.Hour))
	checks["AddCredential"] = st.AddCredential(ctx, newCred(uid, t0))
	_, checks["Credential"] = st.Credential(ctx, cr.ID)
	_, checks["Credentials"] = st.Credentials(ctx, uid)
	checks["UseCredential"] = st.UseCredential(ctx, cr.ID, 1000, true, t0)
	checks["RenameCredential"] = st.RenameCredential(ctx, uid, cr.ID, "renamed")
	checks["DeleteCredential"] = st.DeleteCredential(ctx, uid, cr.ID)
	_, checks["Factors"] = st.Factors(ctx, uid)
	checks["DeleteFactors"] = st.DeleteFactors(ctx, uid)
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", name, err)
		}
	}

	// Nothing changed.
	bg := context.Background()
	if got := getTOTP(t, st, pend); got.Confirmed() {
		t.Error("the pending secret was confirmed with a cancelled context")
	}
	if got := getTOTP(t, st, uid); got.LastStep != 10 {
		t.Errorf("LastStep = %d after cancelled calls, want 10", got.LastStep)
	}
	if got, err := st.GetChallenge(bg, ch.Hash, ch.Kind, t0); err != nil || got.Attempts != 0 {
		t.Errorf("challenge after cancelled calls = %+v, %v; want untouched", got, err)
	}
	if diff := cmp.Diff(cr, getCred(t, st, cr.ID)); diff != "" {
		t.Errorf("passkey after cancelled calls (-want +got):\n%s", diff)
	}
	wantEverything(t, st, "after cancelled calls", uid, e)
}

// --- parallel single use ---

const racers = 100

func testParallelTOTPStep(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	mustConfirm(t, st, uid, 100, codes(1))
	errs := parallel(racers, func(int) error { return st.UseTOTPStep(ctx, uid, 101) })
	tally(t, "UseTOTPStep(same step)", errs, mfa.ErrReplayed)
	if got := getTOTP(t, st, uid); got.LastStep != 101 {
		t.Errorf("LastStep = %d, want 101", got.LastStep)
	}
}

func testParallelRecoveryCode(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	cs := codes(3)
	mustConfirm(t, st, uid, 1, cs)
	errs := parallel(racers, func(int) error { return st.UseRecoveryCode(ctx, uid, cs[1]) })
	tally(t, "UseRecoveryCode(same code)", errs, authd.ErrNotFound)
	wantFactors(t, st, "after the race", uid, mfa.Factors{TOTP: true, RecoveryCodes: 2})
}

func testParallelTakeChallenge(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	c := newChallenge(uid, mfa.KindSignIn)
	mustChallenge(t, st, c)
	var (
		mu  sync.Mutex
		won []*mfa.Challenge
	)
	errs := parallel(racers, func(int) error {
		got, err := st.TakeChallenge(ctx, c.Hash, c.Kind, t0)
		if err == nil {
			mu.Lock()
			won = append(won, got)
			mu.Unlock()
		}
		return err
	})
	tally(t, "TakeChallenge(same challenge)", errs, authd.ErrNotFound)
	for _, got := range won {
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("the winner's challenge (-want +got):\n%s", diff)
		}
	}
	_, err := st.GetChallenge(ctx, c.Hash, c.Kind, t0)
	want(t, "GetChallenge after the race", err, authd.ErrNotFound)
}

func testParallelConfirmTOTP(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	mustPut(t, st, uid)
	const n = 50
	sets := make([][][]byte, n)
	for i := range sets {
		sets[i] = codes(2)
	}
	errs := parallel(n, func(i int) error {
		return st.ConfirmTOTP(ctx, uid, int64(1000+i), sets[i], t0.Add(time.Duration(i)*time.Second))
	})
	tally(t, "ConfirmTOTP(same secret)", errs, authd.ErrNotFound)
	winner := -1
	for i, err := range errs {
		if err == nil {
			winner = i
		}
	}
	if winner < 0 {
		return
	}
	// The secret and the codes are the winner's, together.
	got := getTOTP(t, st, uid)
	if got.LastStep != int64(1000+winner) || !got.ConfirmedAt.Equal(t0.Add(time.Duration(winner)*time.Second)) {
		t.Errorf("after the race: %+v, want the winner's step %d and time", got, 1000+winner)
	}
	wantFactors(t, st, "after the race", uid, mfa.Factors{TOTP: true, RecoveryCodes: 2})
	loser := (winner + 1) % n
	want(t, "a loser's code", st.UseRecoveryCode(ctx, uid, sets[loser][0]), authd.ErrNotFound)
	for _, c := range sets[winner] {
		wantNil(t, "the winner's code", st.UseRecoveryCode(ctx, uid, c))
	}
}

// testParallelFailChallenge: every wrong answer is counted, exactly up to
// max: the calls get max-1, …, 1, 0 (the one that deleted it) once each,
// and ErrNotFound after. A count past max would mean the challenge lived
// on after its last allowed attempt.
func testParallelFailChallenge(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	const n, max = 60, 5
	c := newChallenge(uid, mfa.KindSignIn)
	mustChallenge(t, st, c)
	lefts := make([]int, n)
	errs := parallel(n, func(i int) error {
		var err error
		lefts[i], err = st.FailChallenge(ctx, c.Hash, max)
		return err
	})
	seen := map[int]int{}
	var notFound int
	for i, err := range errs {
		switch {
		case err == nil:
			seen[lefts[i]]++
		case errors.Is(err, authd.ErrNotFound):
			notFound++
		default:
			t.Errorf("FailChallenge: unexpected error %v", err)
		}
	}
	wantSeen := map[int]int{4: 1, 3: 1, 2: 1, 1: 1, 0: 1}
	if diff := cmp.Diff(wantSeen, seen); diff != "" || notFound != n-max {
		t.Errorf("FailChallenge results: attempts left → calls (-want +got):\n%s\n%d ErrNotFound, want %d", diff, notFound, n-max)
	}
	_, err := st.GetChallenge(ctx, c.Hash, c.Kind, t0)
	want(t, "GetChallenge after the race", err, authd.ErrNotFound)
	_, err = st.TakeChallenge(ctx, c.Hash, c.Kind, t0)
	want(t, "TakeChallenge after the race", err, authd.ErrNotFound)
}

func testParallelUseCredential(t *testing.T, st Store) {
	ctx := context.Background()
	uid := newUser(t, st)
	c := newCred(uid, t0)
	c.SignCount = 5
	mustAdd(t, st, c)
	errs := parallel(racers, func(int) error { return st.UseCredential(ctx, c.ID, 6, true, t0.Add(time.Minute)) })
	tally(t, "UseCredential(same counter)", errs, mfa.ErrReplayed)
	got := getCred(t, st, c.ID)
	if got.SignCount != 6 || !got.BackupState || !got.LastUsedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("after the race: %+v, want counter 6, backed up, used at t0+1m", got)
	}
}
