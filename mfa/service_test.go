package mfa_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/mfa"
	"github.com/pquerna/otp/totp"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newService(t testing.TB) (*mfa.Service, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)}
	var kek [32]byte
	kek[0] = 7
	return mfa.New(mfa.Config{Store: memstore.New(), KEK: kek, Issuer: "authd test", Now: c.Now}), c
}

func code(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enroll turns TOTP on for user u and returns its secret and recovery codes.
func enroll(t *testing.T, s *mfa.Service, c *clock, u string) (string, []string) {
	t.Helper()
	ctx := context.Background()
	e, err := s.BeginTOTP(ctx, u, u+"@example.com")
	if err != nil {
		t.Fatalf("BeginTOTP = %v", err)
	}
	codes, err := s.ConfirmTOTP(ctx, u, code(t, e.Secret, c.Now()))
	if err != nil {
		t.Fatalf("ConfirmTOTP = %v", err)
	}
	c.Add(mfa.Period) // the confirming code's step is used
	return e.Secret, codes
}

func TestEnrollment(t *testing.T) {
	s, c := newService(t)
	ctx := context.Background()
	e, err := s.BeginTOTP(ctx, "u1", "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(e.URI)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("URI = %q, %v", e.URI, err)
	}
	q := u.Query()
	if q.Get("secret") != e.Secret || q.Get("issuer") != "authd test" || q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Errorf("URI parameters = %v", q)
	}
	if len(e.Secret) != 32 { // 20 bytes, base32 without padding
		t.Errorf("secret %q: %d characters, want 32", e.Secret, len(e.Secret))
	}
	if png, err := e.QRCode(200); err != nil || len(png) < 100 || string(png[1:4]) != "PNG" {
		t.Errorf("QRCode = %d bytes, %v", len(png), err)
	}
	// Not on yet: a code does not verify.
	if err := s.VerifyTOTP(ctx, "u1", code(t, e.Secret, c.Now())); !errors.Is(err, mfa.ErrNoTOTP) {
		t.Errorf("VerifyTOTP before confirmation = %v, want ErrNoTOTP", err)
	}
	if _, err := s.ConfirmTOTP(ctx, "u1", "000000"); !errors.Is(err, mfa.ErrInvalidCode) && code(t, e.Secret, c.Now()) != "000000" {
		t.Errorf("ConfirmTOTP(wrong) = %v, want ErrInvalidCode", err)
	}
	codes, err := s.ConfirmTOTP(ctx, "u1", code(t, e.Secret, c.Now()))
	if err != nil || len(codes) != mfa.RecoveryCodes {
		t.Fatalf("ConfirmTOTP = %d codes, %v", len(codes), err)
	}
	seen := map[string]bool{}
	for _, rc := range codes {
		if len(rc) != 19 || strings.Count(rc, "-") != 3 || seen[rc] {
			t.Errorf("recovery code %q: want 4 groups of 4, unique", rc)
		}
		seen[rc] = true
	}
	if _, err := s.BeginTOTP(ctx, "u1", "a@example.com"); !errors.Is(err, mfa.ErrTOTPOn) {
		t.Errorf("BeginTOTP when on = %v, want ErrTOTPOn", err)
	}
	if f, err := s.Factors(ctx, "u1"); err != nil || !f.TOTP || f.RecoveryCodes != 10 || !f.Any() {
		t.Errorf("Factors = %+v, %v", f, err)
	}
	// The confirming code was this step: it is not accepted again.
	if err := s.VerifyTOTP(ctx, "u1", code(t, e.Secret, c.Now())); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("VerifyTOTP(confirming code) = %v, want ErrInvalidCode (replay)", err)
	}
}

// TestTOTPWindow: a code of the previous or next step is accepted (clock
// skew of one step either way), two steps away is not, and each step is
// accepted once.
func TestTOTPWindow(t *testing.T) {
	tests := []struct {
		name   string
		offset time.Duration
		ok     bool
	}{
		{"now", 0, true},
		{"previous step", -mfa.Period, true},
		{"next step", mfa.Period, true},
		{"two steps back", -2 * mfa.Period, false},
		{"two steps ahead", 2 * mfa.Period, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := newService(t)
			secret, _ := enroll(t, s, c, "u")
			c.Add(5 * mfa.Period)
			err := s.VerifyTOTP(context.Background(), "u", code(t, secret, c.Now().Add(tt.offset)))
			if tt.ok != (err == nil) {
				t.Fatalf("VerifyTOTP = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok {
				if err := s.VerifyTOTP(context.Background(), "u", code(t, secret, c.Now().Add(tt.offset))); !errors.Is(err, mfa.ErrInvalidCode) || !errors.Is(err, mfa.ErrReplayed) {
					t.Errorf("the same code again = %v, want ErrInvalidCode (replayed)", err)
				}
			}
		})
	}
}

// TestTOTPEarlierStepAfterLater: once a step was used, a code of an
// earlier step within the window is refused too (RFC 6238 §5.2).
func TestTOTPEarlierStepAfterLater(t *testing.T) {
	s, c := newService(t)
	secret, _ := enroll(t, s, c, "u")
	c.Add(5 * mfa.Period)
	ctx := context.Background()
	if err := s.VerifyTOTP(ctx, "u", code(t, secret, c.Now().Add(mfa.Period))); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyTOTP(ctx, "u", code(t, secret, c.Now())); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("earlier step after a later one = %v, want ErrInvalidCode", err)
	}
}

func TestTOTPMalformed(t *testing.T) {
	s, c := newService(t)
	enroll(t, s, c, "u")
	for _, bad := range []string{"", "12345", "1234567", "12345a", "١٢٣٤٥٦", "12 345", strings.Repeat("9", 10000)} {
		if err := s.VerifyTOTP(context.Background(), "u", bad); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Errorf("VerifyTOTP(%.20q) = %v, want ErrInvalidCode", bad, err)
		}
	}
}

// TestTOTPParallel: 100 requests with one valid code at once; one wins.
func TestTOTPParallel(t *testing.T) {
	s, c := newService(t)
	secret, _ := enroll(t, s, c, "u")
	cd := code(t, secret, c.Now())
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if s.VerifyTOTP(context.Background(), "u", cd) == nil {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d of 100 parallel uses of one code succeeded, want 1", wins.Load())
	}
}

func TestRecoveryCodes(t *testing.T) {
	s, c := newService(t)
	ctx := context.Background()
	_, codes := enroll(t, s, c, "u")
	enroll(t, s, c, "other")
	// Typed differently: upper case, spaces, no dashes, confusable letters.
	typed := strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))
	if amr, err := s.Verify(ctx, "u", typed, c.Now()); err != nil || amr != "rc" {
		t.Fatalf("Verify(recovery code as typed %q) = %q, %v", typed, amr, err)
	}
	if _, err := s.Verify(ctx, "u", codes[0], c.Now()); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("a recovery code twice = %v, want ErrInvalidCode", err)
	}
	if _, err := s.Verify(ctx, "other", codes[1], c.Now()); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("another user's recovery code = %v, want ErrInvalidCode", err)
	}
	if f, _ := s.Factors(ctx, "u"); f.RecoveryCodes != 9 {
		t.Errorf("RecoveryCodes = %d, want 9", f.RecoveryCodes)
	}
	fresh, err := s.NewRecoveryCodes(ctx, "u")
	if err != nil || len(fresh) != 10 {
		t.Fatalf("NewRecoveryCodes = %d, %v", len(fresh), err)
	}
	if err := s.UseRecoveryCode(ctx, "u", codes[1]); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("an old code after regeneration = %v, want ErrInvalidCode", err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if s.UseRecoveryCode(ctx, "u", fresh[3]) == nil {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d of 100 parallel uses of one recovery code succeeded, want 1", wins.Load())
	}
	if err := s.DisableTOTP(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if err := s.UseRecoveryCode(ctx, "u", fresh[4]); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("a recovery code after TOTP was turned off = %v, want ErrInvalidCode", err)
	}
	for _, bad := range []string{"", "x", strings.Repeat("a", 17), "aaaa-aaaa-aaaa-aaa!", "ünï"} {
		if err := s.UseRecoveryCode(ctx, "other", bad); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Errorf("UseRecoveryCode(%q) = %v, want ErrInvalidCode", bad, err)
		}
	}
}

func TestChallenges(t *testing.T) {
	s, c := newService(t)
	ctx := context.Background()
	tok, err := s.NewChallenge(ctx, mfa.KindSignIn, "u", []byte(`{"x":1}`), 0)
	if err != nil || len(tok) != mfa.TokenLen {
		t.Fatalf("NewChallenge = %q, %v", tok, err)
	}
	if _, err := s.Challenge(ctx, tok, mfa.KindPasskeyLogin); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("Challenge of another kind = %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"", tok[:42], tok + "A", strings.Repeat("=", 43), tok[:42] + "!"} {
		if _, err := s.TakeChallenge(ctx, bad, mfa.KindSignIn); !errors.Is(err, authd.ErrNotFound) {
			t.Errorf("TakeChallenge(%q) = %v, want ErrNotFound", bad, err)
		}
	}
	for i := range mfa.MaxAttempts - 1 {
		if left, err := s.FailChallenge(ctx, tok); err != nil || left != mfa.MaxAttempts-1-i {
			t.Fatalf("FailChallenge #%d = %d, %v", i+1, left, err)
		}
	}
	got, err := s.TakeChallenge(ctx, tok, mfa.KindSignIn)
	if err != nil || got.UserID != "u" || string(got.Data) != `{"x":1}` {
		t.Fatalf("TakeChallenge = %+v, %v", got, err)
	}
	if _, err := s.TakeChallenge(ctx, tok, mfa.KindSignIn); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("TakeChallenge twice = %v, want ErrNotFound", err)
	}
	tok, _ = s.NewChallenge(ctx, mfa.KindSignIn, "u", nil, 0)
	c.Add(s.ChallengeTTL())
	if _, err := s.TakeChallenge(ctx, tok, mfa.KindSignIn); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("TakeChallenge after its TTL = %v, want ErrNotFound", err)
	}
}
