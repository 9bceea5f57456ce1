// Package user is registration, credential checks and password changes. It
// defines the Store it needs; backends implement it and prove it with the
// conformance suite in usertest.
package user

import (
	"context"
	"time"
)

// User is an account. PasswordHash is a PHC string (argon2id, or bcrypt for
// imported users until their next login re-hashes it).
type User struct {
	ID           string
	Email        string // normalised, see NormalizeEmail
	PasswordHash string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Disabled     bool
	// EmailVerified is set when the user followed a link sent to Email
	// (or an operator vouched for it); changing Email clears it unless
	// the change itself was confirmed through the new address.
	EmailVerified bool
}

// Store persists users. Every method honours ctx. Errors other than the
// documented sentinels are store failures; callers fail closed.
type Store interface {
	// CreateUser stores u. It returns authd.ErrConflict when u.ID or
	// u.Email (compared exactly; callers normalise) is already taken.
	CreateUser(ctx context.Context, u *User) error
	// UserByEmail and UserByID return authd.ErrNotFound when no user matches.
	UserByEmail(ctx context.Context, email string) (*User, error)
	UserByID(ctx context.Context, id string) (*User, error)
	// ListUsers returns up to limit users ordered by email, starting after
	// the email after (empty: from the start).
	ListUsers(ctx context.Context, after string, limit int) ([]*User, error)
	// SetPasswordHash replaces the user's hash. authd.ErrNotFound when the
	// user does not exist.
	SetPasswordHash(ctx context.Context, id, hash string, at time.Time) error
	// SetUserDisabled sets the disabled flag. authd.ErrNotFound when the
	// user does not exist.
	SetUserDisabled(ctx context.Context, id string, disabled bool, at time.Time) error
	// DeleteUser removes the user. authd.ErrNotFound when there is none.
	DeleteUser(ctx context.Context, id string) error
	// SetEmailVerified marks the user's address verified, only if it is
	// still email (a link sent to an address the user has since left
	// verifies nothing). authd.ErrNotFound when no user has that ID and
	// address.
	SetEmailVerified(ctx context.Context, id, email string, at time.Time) error
	// ChangeEmail replaces the user's address from → to, only if it is
	// still from, with verified as its new flag, in one atomic step.
	// authd.ErrNotFound when no user has that ID and address;
	// authd.ErrConflict when another user has to.
	ChangeEmail(ctx context.Context, id, from, to string, verified bool, at time.Time) error
}
