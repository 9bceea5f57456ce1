package user

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/event"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/password"
)

// Errors of the emailed flows.
var (
	// ErrInvalidLink: an emailed token is malformed, unknown, used,
	// expired, voided by a newer one, or no longer matches the account
	// (the password or the address changed since it was sent). One error
	// for all, so a link tells nothing about why it failed.
	ErrInvalidLink = errors.New("invalid or expired link")
	// ErrEmailUnverified: sign-in refused until the address is verified
	// (--require-verified-email).
	ErrEmailUnverified = errors.New("email address not verified")
)

// EmailConfig enables the emailed flows of a Service. The zero value
// (no Tokens) leaves them off: every emailed operation answers
// ErrInvalidLink or does nothing.
type EmailConfig struct {
	// Tokens stores the emailed tokens with their mails.
	Tokens TokenStore
	// Outbox queues notices that carry no token.
	Outbox mail.Outbox
	// BaseURL is authd's public address (the issuer); links point to its
	// pages: BaseURL + "/reset-password?token=…".
	BaseURL string
	// Wake is called after a mail is queued, so the sender does not wait
	// for its next poll; nil: nothing.
	Wake func()
	// TTLs; zero takes the default.
	ResetTTL  time.Duration // default 30 min (issue 10)
	VerifyTTL time.Duration // default 48 h
	ChangeTTL time.Duration // default 1 h
	UndoTTL   time.Duration // default 7 days: the old owner may read mail late
	// RequireVerified refuses sign-in with ErrEmailUnverified until the
	// address is verified.
	RequireVerified bool
}

func (c *EmailConfig) defaults() {
	if c.ResetTTL <= 0 {
		c.ResetTTL = 30 * time.Minute
	}
	if c.VerifyTTL <= 0 {
		c.VerifyTTL = 48 * time.Hour
	}
	if c.ChangeTTL <= 0 {
		c.ChangeTTL = time.Hour
	}
	if c.UndoTTL <= 0 {
		c.UndoTTL = 7 * 24 * time.Hour
	}
}

// EmailEnabled reports whether the emailed flows are on.
func (s *Service) EmailEnabled() bool { return s.email.Tokens != nil }

// RequireVerified reports whether sign-in needs a verified address.
func (s *Service) RequireVerified() bool { return s.email.RequireVerified }

// newSecret returns a link token (256 random bits, base64url) and its
// SHA-256, which is all the store keeps.
func newSecret() (string, []byte) {
	b := make([]byte, 32)
	rand.Read(b)
	h := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(b), h[:]
}

// parseSecret returns the hash of a link token, or ErrInvalidLink.
func parseSecret(raw string) ([]byte, error) {
	if len(raw) != 43 {
		return nil, ErrInvalidLink
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(raw)
	if err != nil || len(b) != 32 {
		return nil, ErrInvalidLink
	}
	h := sha256.Sum256(b)
	return h[:], nil
}

// PasswordStamp fingerprints a password hash: a reset token and a sign-in
// waiting for its second factor carry it
// and are void once the password changes.
func PasswordStamp(hash string) string {
	h := sha256.Sum256([]byte("authd reset stamp\x00" + hash))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

func (s *Service) link(page, token string) string {
	return s.email.BaseURL + page + "?" + url.Values{"token": {token}}.Encode()
}

func (s *Service) message(to, tmpl string, data map[string]string, at time.Time) *mail.Message {
	return &mail.Message{ID: rand.Text(), To: to, Template: tmpl, Data: data, CreatedAt: at}
}

func (s *Service) wake() {
	if s.email.Wake != nil {
		s.email.Wake()
	}
}

// Notify queues a notice (a template without a token) to the user's
// address. Errors are the store's; callers that must not fail on a
// notice log them.
func (s *Service) Notify(ctx context.Context, u *User, tmpl string, data map[string]string) error {
	if s.email.Outbox == nil || u == nil {
		return nil
	}
	if err := s.email.Outbox.Enqueue(ctx, s.message(u.Email, tmpl, data, s.now().UTC())); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	s.wake()
	return nil
}

// notice queues a notice after a change that already happened: a failure
// is logged, not returned (the change stands). It names the IP the
// request came from when the template asks for one.
func (s *Service) notice(ctx context.Context, u *User, tmpl string, data map[string]string) {
	if _, ok := data["IP"]; !ok {
		data["IP"] = cmp.Or(event.RequestFrom(ctx).IP, "an unknown address")
	}
	if err := s.Notify(ctx, u, tmpl, data); err != nil {
		s.log.ErrorContext(ctx, "security notice not queued", "user_id", u.ID, "template", tmpl, "err", err)
	}
}

// SendVerification sends a link that verifies u's address, voiding
// earlier ones. Nothing is sent for a verified address.
func (s *Service) SendVerification(ctx context.Context, u *User) error {
	if !s.EmailEnabled() || u.EmailVerified || u.Disabled {
		return nil
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	raw, h := newSecret()
	t := &Token{Hash: h, Purpose: PurposeVerify, UserID: u.ID, Email: u.Email, CreatedAt: now, ExpiresAt: now.Add(s.email.VerifyTTL)}
	m := s.message(u.Email, mail.TemplateVerifyEmail, map[string]string{"Link": s.link("/verify-email", raw)}, now)
	if err := s.email.Tokens.IssueTokens(ctx, []*Token{t}, []*mail.Message{m}); err != nil {
		return fmt.Errorf("send verification: %w", err)
	}
	s.wake()
	return nil
}

// MarkVerified marks the user's current address verified (an operator
// vouches for it: authd user add --verified).
func (s *Service) MarkVerified(ctx context.Context, id string) error {
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return fmt.Errorf("mark verified: %w", err)
	}
	if err := s.store.SetEmailVerified(ctx, u.ID, u.Email, s.now().UTC()); err != nil {
		return fmt.Errorf("mark verified: %w", err)
	}
	s.publish(ctx, event.EmailVerified, u.ID, u.Email)
	return nil
}

// VerifyEmail uses a verification token: the address it was sent to is
// verified if it is still the user's.
func (s *Service) VerifyEmail(ctx context.Context, raw string) (*User, error) {
	t, err := s.useToken(ctx, PurposeVerify, raw)
	if err != nil {
		return nil, err
	}
	err = s.store.SetEmailVerified(ctx, t.UserID, t.Email, s.now().UTC())
	if errors.Is(err, authd.ErrNotFound) {
		return nil, ErrInvalidLink // the address changed, or the user is gone
	}
	if err != nil {
		return nil, fmt.Errorf("verify email: %w", err)
	}
	s.publish(ctx, event.EmailVerified, t.UserID, t.Email)
	return s.Get(ctx, t.UserID)
}

func (s *Service) useToken(ctx context.Context, p Purpose, raw string) (*Token, error) {
	if !s.EmailEnabled() {
		return nil, ErrInvalidLink
	}
	h, err := parseSecret(raw)
	if err != nil {
		return nil, err
	}
	t, err := s.email.Tokens.UseToken(ctx, p, h, s.now().UTC())
	if errors.Is(err, authd.ErrNotFound) {
		return nil, ErrInvalidLink
	}
	if err != nil {
		return nil, fmt.Errorf("use %s token: %w", p, err)
	}
	return t, nil
}

// RequestPasswordReset sends a reset link to the account with that
// address, if there is an enabled one; otherwise it does nothing. Its
// result tells the caller nothing about the account: callers answer the
// same whatever happens (they run it after answering, see the server).
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	if !s.EmailEnabled() {
		return nil
	}
	norm, err := NormalizeEmail(email)
	if err != nil {
		return nil
	}
	u, err := s.store.UserByEmail(ctx, norm)
	if errors.Is(err, authd.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	if u.Disabled {
		return nil
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	raw, h := newSecret()
	t := &Token{Hash: h, Purpose: PurposeReset, UserID: u.ID, Email: u.Email, Stamp: PasswordStamp(u.PasswordHash),
		CreatedAt: now, ExpiresAt: now.Add(s.email.ResetTTL)}
	m := s.message(u.Email, mail.TemplatePasswordReset, map[string]string{
		"Link": s.link("/reset-password", raw), "Minutes": fmt.Sprint(int(s.email.ResetTTL.Minutes())),
	}, now)
	if err := s.email.Tokens.IssueTokens(ctx, []*Token{t}, []*mail.Message{m}); err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	s.wake()
	return nil
}

// CheckNewPassword applies the password policy, so a caller can refuse a
// weak password before it uses a single-use token.
func (s *Service) CheckNewPassword(pw string) error { return s.checkPassword("new_password", pw) }

// ResetPassword sets a new password with a reset token and ends every
// session of the user: cookies, refresh chains and, through the
// revocation set, access tokens (ASVS 5.0 7.4.3). The new password is
// checked and hashed before the token is used, so a refused password
// leaves the link working. The token is void if the password changed
// since it was sent, or the address it was sent to is no longer the
// user's.
func (s *Service) ResetPassword(ctx context.Context, raw, next string) (*User, error) {
	if _, err := parseSecret(raw); err != nil {
		return nil, err
	}
	if err := s.CheckNewPassword(next); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return nil, fmt.Errorf("reset password: %w", err)
	}
	t, err := s.useToken(ctx, PurposeReset, raw)
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, t.UserID)
	if errors.Is(err, authd.ErrNotFound) {
		return nil, ErrInvalidLink
	}
	if err != nil {
		return nil, fmt.Errorf("reset password: %w", err)
	}
	if u.Disabled || u.Email != t.Email ||
		subtle.ConstantTimeCompare([]byte(PasswordStamp(u.PasswordHash)), []byte(t.Stamp)) != 1 {
		return nil, ErrInvalidLink
	}
	if err := s.store.SetPasswordHash(ctx, u.ID, hash, s.now().UTC()); err != nil {
		return nil, fmt.Errorf("reset password: %w", err)
	}
	// The link proved the address: the user read mail sent to it.
	if !u.EmailVerified {
		if err := s.store.SetEmailVerified(ctx, u.ID, u.Email, s.now().UTC()); err == nil {
			u.EmailVerified = true
		}
	}
	if err := s.sessions.RevokeUser(ctx, u.ID, "", event.CausePasswordReset); err != nil {
		return nil, fmt.Errorf("reset password: %w", err)
	}
	// Other reset links, and an address change requested before (perhaps
	// from a session the reset just ended), are void.
	if err := s.email.Tokens.DeleteUserTokens(ctx, u.ID, PurposeReset, PurposeChange); err != nil {
		s.log.WarnContext(ctx, "reset tokens not voided", "user_id", u.ID, "err", err)
	}
	s.notice(ctx, u, mail.TemplatePasswordChanged, map[string]string{"How": "reset"})
	s.publish(ctx, event.PasswordReset, u.ID, u.Email)
	return u, nil
}

// RequestEmailChange starts moving the user's address to newEmail after
// checking the current password: a confirmation link goes to the new
// address and a notice with a link that undoes the change to the old
// one, in one transaction. The address changes only when the link is
// followed. A wrong password is authd.ErrUnauthenticated; a taken address
// authd.ErrConflict.
func (s *Service) RequestEmailChange(ctx context.Context, userID, newEmail, current string) error {
	if !s.EmailEnabled() {
		return authd.Invalid("new_email", "unavailable", "changing the address needs mail delivery, which is not configured")
	}
	if len(current) > s.policy.MaxLen() {
		return authd.Invalid("current_password", "too_long", "password is too long")
	}
	norm, err := NormalizeEmail(newEmail)
	if err == nil {
		err = CheckNewEmail(norm)
	}
	if err != nil {
		var ve *authd.ValidationError
		if errors.As(err, &ve) {
			for i := range ve.Fields {
				ve.Fields[i].Field = "new_email"
			}
		}
		return err
	}
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return fmt.Errorf("change email: %w", err)
	}
	if err := s.verifyCurrent(ctx, u, current); err != nil {
		return err
	}
	if norm == u.Email {
		return authd.Invalid("new_email", "unchanged", "this is already your address")
	}
	if _, err := s.store.UserByEmail(ctx, norm); err == nil {
		return fmt.Errorf("change email: %w", authd.ErrConflict)
	} else if !errors.Is(err, authd.ErrNotFound) {
		return fmt.Errorf("change email: %w", err)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	rawC, hC := newSecret()
	rawU, hU := newSecret()
	ts := []*Token{
		{Hash: hC, Purpose: PurposeChange, UserID: u.ID, Email: norm, Stamp: u.Email, CreatedAt: now, ExpiresAt: now.Add(s.email.ChangeTTL)},
		{Hash: hU, Purpose: PurposeUndo, UserID: u.ID, Email: u.Email, CreatedAt: now, ExpiresAt: now.Add(s.email.UndoTTL)},
	}
	ms := []*mail.Message{
		s.message(norm, mail.TemplateConfirmEmail, map[string]string{"Link": s.link("/confirm-email", rawC), "OldEmail": u.Email}, now),
		s.message(u.Email, mail.TemplateEmailChanging, map[string]string{"Link": s.link("/undo-email-change", rawU), "NewEmail": norm}, now),
	}
	if err := s.email.Tokens.IssueTokens(ctx, ts, ms); err != nil {
		return fmt.Errorf("change email: %w", err)
	}
	s.wake()
	s.publish(ctx, event.EmailChangeRequested, u.ID, norm)
	return nil
}

// verifyCurrent checks the user's current password
// (authd.ErrUnauthenticated when wrong).
func (s *Service) verifyCurrent(ctx context.Context, u *User, pw string) error {
	ok, _, err := s.hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil && !errors.Is(err, password.ErrMalformedHash) {
		return fmt.Errorf("check password: %w", err)
	}
	if !ok {
		return authd.ErrUnauthenticated
	}
	return nil
}

// ConfirmEmailChange uses a confirmation token: the address moves to the
// new one (verified: the link was read there) if it is still the one the
// change started from.
func (s *Service) ConfirmEmailChange(ctx context.Context, raw string) (*User, error) {
	t, err := s.useToken(ctx, PurposeChange, raw)
	if err != nil {
		return nil, err
	}
	err = s.store.ChangeEmail(ctx, t.UserID, t.Stamp, t.Email, true, s.now().UTC())
	if errors.Is(err, authd.ErrNotFound) {
		return nil, ErrInvalidLink
	}
	if err != nil {
		return nil, fmt.Errorf("confirm email change: %w", err)
	}
	// Links sent to the old address (verification, reset) are void.
	if err := s.email.Tokens.DeleteUserTokens(ctx, t.UserID, PurposeVerify, PurposeReset); err != nil {
		s.log.WarnContext(ctx, "old address's tokens not voided", "user_id", t.UserID, "err", err)
	}
	// The old address is told it happened, with one more way back.
	now := s.now().UTC().Truncate(time.Microsecond)
	rawU, hU := newSecret()
	undo := &Token{Hash: hU, Purpose: PurposeUndo, UserID: t.UserID, Email: t.Stamp, CreatedAt: now, ExpiresAt: now.Add(s.email.UndoTTL)}
	m := s.message(t.Stamp, mail.TemplateEmailChanged, map[string]string{"Link": s.link("/undo-email-change", rawU), "NewEmail": t.Email}, now)
	if err := s.email.Tokens.IssueTokens(ctx, []*Token{undo}, []*mail.Message{m}); err != nil {
		s.log.ErrorContext(ctx, "address-changed notice not queued", "user_id", t.UserID, "err", err)
	} else {
		s.wake()
	}
	s.publish(ctx, event.EmailChanged, t.UserID, t.Email)
	return s.Get(ctx, t.UserID)
}

// UndoEmailChange uses the token sent to the old address: the account
// goes back to it (verified), a change not yet confirmed is voided, and
// every session of the user ends — whoever changed the address may be
// signed in.
func (s *Service) UndoEmailChange(ctx context.Context, raw string) (*User, error) {
	t, err := s.useToken(ctx, PurposeUndo, raw)
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, t.UserID)
	if errors.Is(err, authd.ErrNotFound) {
		return nil, ErrInvalidLink
	}
	if err != nil {
		return nil, fmt.Errorf("undo email change: %w", err)
	}
	if err := s.email.Tokens.DeleteUserTokens(ctx, u.ID, PurposeChange, PurposeVerify, PurposeReset); err != nil {
		return nil, fmt.Errorf("undo email change: %w", err)
	}
	if u.Email != t.Email {
		if err := s.store.ChangeEmail(ctx, u.ID, u.Email, t.Email, true, s.now().UTC()); err != nil {
			// authd.ErrConflict: someone registered the old address since.
			return nil, fmt.Errorf("undo email change: %w", err)
		}
	} else if err := s.store.SetEmailVerified(ctx, u.ID, u.Email, s.now().UTC()); err != nil && !errors.Is(err, authd.ErrNotFound) {
		return nil, fmt.Errorf("undo email change: %w", err)
	}
	if err := s.sessions.RevokeUser(ctx, u.ID, "", event.CauseEmailChangeUndone); err != nil {
		return nil, fmt.Errorf("undo email change: %w", err)
	}
	s.publish(ctx, event.EmailChangeUndone, u.ID, t.Email)
	return s.Get(ctx, u.ID)
}
