package pgstore

import (
	"context"
	"time"

	"github.com/authd/authd/user"
)

const userCols = `id, email, password_hash, created_at, updated_at, disabled, email_verified_at`

func scanUser(sc scanner) (*user.User, error) {
	var (
		u        user.User
		verified *time.Time
	)
	if err := sc.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.CreatedAt, &u.UpdatedAt, &u.Disabled, &verified); err != nil {
		return nil, err
	}
	u.EmailVerified = verified != nil
	u.CreatedAt = utc(u.CreatedAt)
	u.UpdatedAt = utc(u.UpdatedAt)
	return &u, nil
}

// CreateUser implements user.Store. The primary key and the UNIQUE email
// both map to authd.ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u *user.User) error {
	_, err := s.exec(ctx, "create user",
		`INSERT INTO users (`+userCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		u.ID, u.Email, u.PasswordHash, u.CreatedAt, u.UpdatedAt, u.Disabled, verifiedAt(u))
	return err
}

// UserByEmail implements user.Store.
func (s *Store) UserByEmail(ctx context.Context, email string) (*user.User, error) {
	return s.oneUser(ctx, "user by email", `SELECT `+userCols+` FROM users WHERE email = $1`, email)
}

// UserByID implements user.Store.
func (s *Store) UserByID(ctx context.Context, id string) (*user.User, error) {
	return s.oneUser(ctx, "user by id", `SELECT `+userCols+` FROM users WHERE id = $1`, id)
}

func (s *Store) oneUser(ctx context.Context, op, query string, arg string) (*user.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return one(ctx, s, op, s.pool.QueryRow(ctx, query, arg), scanUser)
}

// ListUsers implements user.Store: ordered by email byte-wise (the column's
// "C" collation, as SQLite's BINARY and memstore). A limit of zero or less
// means no limit.
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]*user.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var lim any // NULL: no limit
	if limit > 0 {
		lim = int64(limit)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+userCols+` FROM users WHERE email > $1 ORDER BY email LIMIT $2`, after, lim)
	return collect(ctx, s, "list users", rows, err, scanUser)
}

// SetPasswordHash implements user.Store.
func (s *Store) SetPasswordHash(ctx context.Context, id, hash string, at time.Time) error {
	return s.execOne(ctx, "set password hash",
		`UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3`, hash, at, id)
}

// SetUserDisabled implements user.Store.
func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool, at time.Time) error {
	return s.execOne(ctx, "set user disabled",
		`UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3`, disabled, at, id)
}

// DeleteUser implements user.Store. The user's sessions are left alone;
// revoke them first (they expire and are deleted in time).
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete user", `DELETE FROM users WHERE id = $1`, id)
}

// verifiedAt is the email_verified_at of a new user: its creation time
// when the address is verified, NULL when not.
func verifiedAt(u *user.User) any {
	if !u.EmailVerified {
		return nil
	}
	return u.CreatedAt
}

// SetEmailVerified implements user.Store.
func (s *Store) SetEmailVerified(ctx context.Context, id, email string, at time.Time) error {
	return s.execOne(ctx, "set email verified",
		`UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1), updated_at = $1 WHERE id = $2 AND email = $3`,
		at, id, email)
}

// ChangeEmail implements user.Store: one UPDATE conditioned on the old
// address; the UNIQUE email makes a taken address authd.ErrConflict.
func (s *Store) ChangeEmail(ctx context.Context, id, from, to string, verified bool, at time.Time) error {
	var v any
	if verified {
		v = at
	}
	return s.execOne(ctx, "change email",
		`UPDATE users SET email = $1, email_verified_at = $2, updated_at = $3 WHERE id = $4 AND email = $5`,
		to, v, at, id, from)
}
