package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/user"
)

const userCols = `id, email, password_hash, created_at, updated_at, disabled, email_verified_at`

func scanUser(sc scanner) (*user.User, error) {
	var (
		u                user.User
		created, updated int64
		verified         sql.NullInt64
	)
	if err := sc.Scan(&u.ID, &u.Email, &u.PasswordHash, &created, &updated, &u.Disabled, &verified); err != nil {
		return nil, err
	}
	u.EmailVerified = verified.Valid
	u.CreatedAt = fromMicros(created)
	u.UpdatedAt = fromMicros(updated)
	return &u, nil
}

// CreateUser implements user.Store.
func (s *Store) CreateUser(ctx context.Context, u *user.User) error {
	_, err := s.exec(ctx, "create user",
		`INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.PasswordHash, micros(u.CreatedAt), micros(u.UpdatedAt), u.Disabled, verifiedAt(u))
	return err
}

// UserByEmail implements user.Store.
func (s *Store) UserByEmail(ctx context.Context, email string) (*user.User, error) {
	return s.oneUser(ctx, "user by email", `SELECT `+userCols+` FROM users WHERE email = ?`, email)
}

// UserByID implements user.Store.
func (s *Store) UserByID(ctx context.Context, id string) (*user.User, error) {
	return s.oneUser(ctx, "user by id", `SELECT `+userCols+` FROM users WHERE id = ?`, id)
}

func (s *Store) oneUser(ctx context.Context, op, query string, arg string) (*user.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	u, err := scanUser(s.r.QueryRowContext(ctx, query, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, authd.ErrNotFound
	}
	if err != nil {
		return nil, fail(ctx, op, err)
	}
	return u, nil
}

// ListUsers implements user.Store. A limit of zero or less means no limit.
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]*user.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+userCols+` FROM users WHERE email > ? ORDER BY email LIMIT ?`, after, limit)
	if err != nil {
		return nil, fail(ctx, "list users", err)
	}
	defer rows.Close()
	out := []*user.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fail(ctx, "list users", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, "list users", err)
	}
	return out, nil
}

// SetPasswordHash implements user.Store.
func (s *Store) SetPasswordHash(ctx context.Context, id, hash string, at time.Time) error {
	return s.execOne(ctx, "set password hash",
		`UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`, hash, micros(at), id)
}

// SetUserDisabled implements user.Store.
func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool, at time.Time) error {
	return s.execOne(ctx, "set user disabled",
		`UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?`, disabled, micros(at), id)
}

// DeleteUser implements user.Store. The user's sessions are left alone;
// revoke them first (they expire and are deleted in time).
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete user", `DELETE FROM users WHERE id = ?`, id)
}

// verifiedAt is the email_verified_at of a new user: its creation time
// when the address is verified, NULL when not.
func verifiedAt(u *user.User) any {
	if !u.EmailVerified {
		return nil
	}
	return micros(u.CreatedAt)
}

// SetEmailVerified implements user.Store.
func (s *Store) SetEmailVerified(ctx context.Context, id, email string, at time.Time) error {
	return s.execOne(ctx, "set email verified",
		`UPDATE users SET email_verified_at = COALESCE(email_verified_at, ?), updated_at = ? WHERE id = ? AND email = ?`,
		micros(at), micros(at), id, email)
}

// ChangeEmail implements user.Store: one UPDATE conditioned on the old
// address; the UNIQUE email makes a taken address authd.ErrConflict.
func (s *Store) ChangeEmail(ctx context.Context, id, from, to string, verified bool, at time.Time) error {
	var v any
	if verified {
		v = micros(at)
	}
	return s.execOne(ctx, "change email",
		`UPDATE users SET email = ?, email_verified_at = ?, updated_at = ? WHERE id = ? AND email = ?`,
		to, v, micros(at), id, from)
}
