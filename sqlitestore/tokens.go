package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/refresh"
)

var _ refresh.Store = (*Store)(nil)

const refreshCols = `hash, session_id, user_id, client_id, scope, generation, issued_at, expires_at, used_at`

func scanRefresh(sc scanner) (*refresh.Refresh, error) {
	var (
		rt              refresh.Refresh
		issued, expires int64
		used            sql.NullInt64
	)
	if err := sc.Scan(&rt.Hash, &rt.SessionID, &rt.UserID, &rt.ClientID, &rt.Scope, &rt.Generation,
		&issued, &expires, &used); err != nil {
		return nil, err
	}
	rt.IssuedAt = fromMicros(issued)
	rt.ExpiresAt = fromMicros(expires)
	rt.UsedAt = fromNullMicros(used)
	return &rt, nil
}

// nullMicros is micros for a nullable column: a zero time is NULL.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return micros(t)
}

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

// CreateRefresh implements refresh.Store. rt.Hash must be 32 bytes.
func (s *Store) CreateRefresh(ctx context.Context, rt *refresh.Refresh) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(rt.Hash) != 32 {
		return authd.Invalid("hash", "invalid", "refresh token hash must be 32 bytes")
	}
	_, err := s.exec(ctx, "create refresh token",
		`INSERT INTO refresh_tokens (`+refreshCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rt.Hash, rt.SessionID, rt.UserID, rt.ClientID, rt.Scope, rt.Generation,
		micros(rt.IssuedAt), micros(rt.ExpiresAt), nullMicros(rt.UsedAt))
	return err
}

// RotateRefresh implements refresh.Store as one IMMEDIATE transaction on
// the writer connection: it holds SQLite's write lock from its first read,
// so rotations (of any token, of any session) are serialised, and the
// token, the session's highest used generation, refresh.Decide and the
// writes see and leave one consistent state. Refusals write nothing.
func (s *Store) RotateRefresh(ctx context.Context, rot *refresh.Rotation) (*refresh.Result, error) {
	const op = "rotate refresh token"
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(rot.ChildHash) != 32 {
		return nil, authd.Invalid("child_hash", "invalid", "refresh token hash must be 32 bytes")
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fail(ctx, op, err)
	}
	defer tx.Rollback()
	var maxUsed int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(generation), -1) FROM refresh_tokens
		WHERE session_id = ? AND used_at IS NOT NULL`, rot.SessionID).Scan(&maxUsed); err != nil {
		return nil, fail(ctx, op, err)
	}
	var stored *refresh.Refresh
	if len(rot.Hash) == 32 {
		stored, err = scanRefresh(tx.QueryRowContext(ctx,
			`SELECT `+refreshCols+` FROM refresh_tokens WHERE hash = ? AND session_id = ?`, rot.Hash, rot.SessionID))
		if errors.Is(err, sql.ErrNoRows) {
			stored = nil
		} else if err != nil {
			return nil, fail(ctx, op, err)
		}
	}
	res := refresh.Decide(rot, stored, maxUsed)
	if res.Child == nil {
		return res, nil // nothing to write
	}
	if res.Outcome == refresh.Rotated {
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = ? WHERE hash = ?`, micros(rot.At), rot.Hash); err != nil {
			return nil, fail(ctx, op, err)
		}
	}
	c := res.Child
	if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (`+refreshCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
		c.Hash, c.SessionID, c.UserID, c.ClientID, c.Scope, c.Generation, micros(c.IssuedAt), micros(c.ExpiresAt)); err != nil {
		return nil, fail(ctx, op, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE session_id = ? AND generation < ? AND used_at IS NOT NULL`,
		rot.SessionID, res.PruneBelow()); err != nil {
		return nil, fail(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fail(ctx, op, err)
	}
	return res, nil
}

// RefreshByHash implements refresh.Store.
func (s *Store) RefreshByHash(ctx context.Context, sessionID string, hash []byte) (*refresh.Refresh, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(hash) != 32 {
		return nil, authd.ErrNotFound
	}
	rt, err := scanRefresh(s.r.QueryRowContext(ctx,
		`SELECT `+refreshCols+` FROM refresh_tokens WHERE hash = ? AND session_id = ?`, hash, sessionID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, authd.ErrNotFound
	}
	if err != nil {
		return nil, fail(ctx, "refresh token by hash", err)
	}
	return rt, nil
}

// DeleteExpiredRefresh implements refresh.Store.
func (s *Store) DeleteExpiredRefresh(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, "delete expired refresh tokens",
		`DELETE FROM refresh_tokens WHERE expires_at < ?`, micros(before))
	return int(n), err
}
