package user

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/event"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/password"
)

// SessionRevoker ends sessions. session.Manager implements it.
type SessionRevoker interface {
	// RevokeUser ends every session of userID except except (may be
	// empty), for cause.
	RevokeUser(ctx context.Context, userID, except string, cause event.Cause) error
}

// Service implements the user operations on a Store.
type Service struct {
	store    Store
	hasher   *password.Hasher
	policy   password.Policy
	sessions SessionRevoker
	now      func() time.Time
	log      *slog.Logger
	email    EmailConfig
	events   event.Publisher
}

// Config wires a Service. Hasher, Store and Sessions are required.
type Config struct {
	Store    Store
	Hasher   *password.Hasher
	Policy   password.Policy
	Sessions SessionRevoker
	Now      func() time.Time // default time.Now
	Logger   *slog.Logger     // default slog.Default()
	// Email enables verification, resets, address changes and notices
	// (emailflows.go); zero: off.
	Email EmailConfig
	// Events receives the account's security events (the audit trail,
	// webhooks), published after each change succeeded; nil: none.
	Events event.Publisher
}

// NewService returns a Service.
func NewService(c Config) *Service {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Email.defaults()
	if c.Events == nil {
		c.Events = event.Discard
	}
	return &Service{store: c.Store, hasher: c.Hasher, policy: c.Policy, sessions: c.Sessions, now: c.Now, log: c.Logger, email: c.Email, events: c.Events}
}

// publish announces a security event of the user's account.
func (s *Service) publish(ctx context.Context, kind event.Kind, userID, email string) {
	s.events.Publish(ctx, event.Event{Kind: kind, At: s.now().UTC(), UserID: userID, Email: email})
}

// checkPassword applies the policy and turns its verdict into a field error.
func (s *Service) checkPassword(field, pw string) error {
	if err := s.policy.Check(pw); err != nil {
		var pe *password.PolicyError
		if errors.As(err, &pe) {
			return authd.Invalid(field, pe.Reason, pe.Msg)
		}
		return authd.Invalid(field, "invalid", err.Error())
	}
	return nil
}

// Register creates a user. Input problems are *authd.ValidationError (all
// fields reported together); a taken email is authd.ErrConflict.
func (s *Service) Register(ctx context.Context, email, pw string) (*User, error) {
	var verr authd.ValidationError
	norm, err := NormalizeEmail(email)
	if err == nil {
		err = CheckNewEmail(norm)
	}
	var ve *authd.ValidationError
	if errors.As(err, &ve) {
		verr.Fields = append(verr.Fields, ve.Fields...)
	}
	if err := s.checkPassword("password", pw); errors.As(err, &ve) {
		verr.Fields = append(verr.Fields, ve.Fields...)
	}
	if len(verr.Fields) > 0 {
		return nil, &verr
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	u := &User{ID: rand.Text(), Email: norm, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	s.publish(ctx, event.UserCreated, u.ID, u.Email)
	// The account exists; a verification mail that could not be queued
	// is logged, and the user can ask for another.
	if err := s.SendVerification(ctx, u); err != nil {
		s.log.ErrorContext(ctx, "verification mail not queued", "user_id", u.ID, "err", err)
	}
	return u, nil
}

// Authenticate checks an email and password. Every failure a client could
// cause (unknown email, wrong password, disabled account, malformed email)
// returns authd.ErrUnauthenticated after the same hashing work, so neither
// the response nor its timing tells whether the account exists
// (ASVS 5.0 6.3.8). Passwords over the policy's byte limit are refused with
// a ValidationError before any hashing. A hash with outdated parameters (or
// an imported bcrypt hash) is replaced after a successful check.
func (s *Service) Authenticate(ctx context.Context, email, pw string) (*User, error) {
	if len(pw) > s.policy.MaxLen() {
		return nil, authd.Invalid("password", "too_long", fmt.Sprintf("password is too long (at most %d bytes)", s.policy.MaxLen()))
	}
	norm, err := NormalizeEmail(email)
	if err != nil {
		return nil, s.fail(ctx, pw)
	}
	u, err := s.store.UserByEmail(ctx, norm)
	if errors.Is(err, authd.ErrNotFound) {
		return nil, s.fail(ctx, pw)
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	ok, rehash, err := s.hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil && !errors.Is(err, password.ErrMalformedHash) {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "stored password hash is malformed", "user_id", u.ID)
	}
	if !ok || u.Disabled {
		return nil, authd.ErrUnauthenticated
	}
	if rehash {
		if h, err := s.hasher.Hash(ctx, pw); err == nil {
			if err := s.store.SetPasswordHash(ctx, u.ID, h, s.now().UTC()); err != nil {
				s.log.WarnContext(ctx, "re-hash on login failed", "user_id", u.ID, "err", err)
			} else {
				u.PasswordHash = h
			}
		}
	}
	return u, nil
}

// fail does the hashing work of a wrong password and returns the failure.
func (s *Service) fail(ctx context.Context, pw string) error {
	if err := s.hasher.DummyVerify(ctx, pw); err != nil {
		return fmt.Errorf("authenticate: %w", err)
	}
	return authd.ErrUnauthenticated
}

// ChangePassword replaces the password after checking the current one, then
// ends every other session of the user (keep is the caller's own session,
// which survives). A wrong current password is authd.ErrUnauthenticated.
func (s *Service) ChangePassword(ctx context.Context, userID, current, next, keep string) error {
	if len(current) > s.policy.MaxLen() {
		return authd.Invalid("current_password", "too_long", "password is too long")
	}
	if err := s.checkPassword("new_password", next); err != nil {
		return err
	}
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	ok, _, err := s.hasher.Verify(ctx, current, u.PasswordHash)
	if err != nil && !errors.Is(err, password.ErrMalformedHash) {
		return fmt.Errorf("change password: %w", err)
	}
	if !ok {
		return authd.ErrUnauthenticated
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := s.store.SetPasswordHash(ctx, userID, hash, s.now().UTC()); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	// ASVS 5.0 7.4.3: a credential change ends the other sessions.
	if err := s.sessions.RevokeUser(ctx, userID, keep, event.CausePasswordChanged); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if s.EmailEnabled() {
		// A reset link sent before is void (its stamp no longer
		// matches); deleting it too keeps the store tidy.
		if err := s.email.Tokens.DeleteUserTokens(ctx, userID, PurposeReset, PurposeChange); err != nil {
			s.log.WarnContext(ctx, "reset tokens not voided", "user_id", userID, "err", err)
		}
		s.notice(ctx, u, mail.TemplatePasswordChanged, map[string]string{"How": "changed"})
	}
	s.publish(ctx, event.PasswordChanged, userID, "")
	return nil
}

// Get returns the user with that ID.
func (s *Service) Get(ctx context.Context, id string) (*User, error) {
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// Find returns the user with that email (normalised first).
func (s *Service) Find(ctx context.Context, email string) (*User, error) {
	norm, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByEmail(ctx, norm)
	if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	return u, nil
}

// List returns up to limit users after the email after.
func (s *Service) List(ctx context.Context, after string, limit int) ([]*User, error) {
	us, err := s.store.ListUsers(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// SetDisabled disables (or re-enables) a user. Disabling ends all of the
// user's sessions.
func (s *Service) SetDisabled(ctx context.Context, id string, disabled bool) error {
	if err := s.store.SetUserDisabled(ctx, id, disabled, s.now().UTC()); err != nil {
		return fmt.Errorf("disable user: %w", err)
	}
	if disabled {
		if err := s.sessions.RevokeUser(ctx, id, "", event.CauseUserDisabled); err != nil {
			return fmt.Errorf("disable user: %w", err)
		}
		s.publish(ctx, event.UserDisabled, id, "")
		return nil
	}
	s.publish(ctx, event.UserEnabled, id, "")
	return nil
}

// Delete ends all of the user's sessions, then removes the user. The
// revoked sessions stay in the store until they expire, so tokens they
// issued stay refused.
func (s *Service) Delete(ctx context.Context, id string) error {
	if _, err := s.store.UserByID(ctx, id); err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if err := s.sessions.RevokeUser(ctx, id, "", event.CauseUserDeleted); err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if err := s.store.DeleteUser(ctx, id); err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	s.publish(ctx, event.UserDeleted, id, "")
	return nil
}

// Import creates a user with an existing password hash (argon2id PHC or
// bcrypt), for migrations from other systems. The hash is replaced by an
// argon2id hash at the user's first login.
func (s *Service) Import(ctx context.Context, email, hash string) (*User, error) {
	norm, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if err := CheckNewEmail(norm); err != nil {
		return nil, err
	}
	if err := password.CheckEncoded(hash); err != nil {
		return nil, authd.Invalid("password_hash", "invalid", err.Error())
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	u := &User{ID: rand.Text(), Email: norm, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("import user: %w", err)
	}
	s.publish(ctx, event.UserCreated, u.ID, u.Email)
	return u, nil
}
