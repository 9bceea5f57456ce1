package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/token"
)

var _ token.RefreshStore = (*Store)(nil)

const refreshCols = `hash, session_id, user_id, client_id, scope, generation, issued_at, expires_at, used_at`

func scanRefresh(sc scanner) (*token.Refresh, error) {
	var (
		rt              token.Refresh
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

// CreateRefresh implements token.RefreshStore. rt.Hash must be 32 bytes.
func (s *Store) CreateRefresh(ctx context.Context, rt *token.Refresh) error {
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

// UseRefresh implements token.RefreshStore.
//
// The mark is one conditional UPDATE … RETURNING on the writer pool: SQLite
// runs it atomically, so of concurrent callers exactly one matches the
// unused row and gets first == true. Only a caller whose UPDATE matched
// nothing reads the row (from the reader pool, which sees every committed
// write): it is then either used (first == false, UsedAt = the winner's) or
// absent (ErrNotFound).
func (s *Store) UseRefresh(ctx context.Context, hash []byte, at time.Time) (*token.Refresh, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if len(hash) != 32 {
		return nil, false, authd.ErrNotFound
	}
	// Two rounds cover a token inserted between the UPDATE and the SELECT:
	// the SELECT then finds it unused, and the second UPDATE settles it.
	for range 2 {
		rt, err := scanRefresh(s.w.QueryRowContext(ctx,
			`UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL RETURNING `+refreshCols,
			micros(at), hash))
		if err == nil {
			return rt, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, false, fail(ctx, "use refresh token", err)
		}
		rt, err = s.refreshByHash(ctx, hash)
		if err != nil {
			return nil, false, err
		}
		if !rt.UsedAt.IsZero() {
			return rt, false, nil
		}
	}
	return nil, false, fail(ctx, "use refresh token", errors.New("token neither used nor usable"))
}

// RefreshByHash implements token.RefreshStore.
func (s *Store) RefreshByHash(ctx context.Context, hash []byte) (*token.Refresh, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(hash) != 32 {
		return nil, authd.ErrNotFound
	}
	return s.refreshByHash(ctx, hash)
}

func (s *Store) refreshByHash(ctx context.Context, hash []byte) (*token.Refresh, error) {
	rt, err := scanRefresh(s.r.QueryRowContext(ctx, `SELECT `+refreshCols+` FROM refresh_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, authd.ErrNotFound
	}
	if err != nil {
		return nil, fail(ctx, "refresh token by hash", err)
	}
	return rt, nil
}

// MaxUsedGeneration implements token.RefreshStore. It reads one entry of
// the partial index refresh_tokens_session_used.
func (s *Store) MaxUsedGeneration(ctx context.Context, sessionID string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var max int
	err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(generation), -1) FROM refresh_tokens
		WHERE session_id = ? AND used_at IS NOT NULL`, sessionID).Scan(&max)
	if err != nil {
		return 0, fail(ctx, "max used generation", err)
	}
	return max, nil
}

// DeleteExpiredRefresh implements token.RefreshStore.
func (s *Store) DeleteExpiredRefresh(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, "delete expired refresh tokens",
		`DELETE FROM refresh_tokens WHERE expires_at < ?`, micros(before))
	return int(n), err
}

// PruneRefresh implements token.RefreshStore.
func (s *Store) PruneRefresh(ctx context.Context, sessionID string, below int) (int, error) {
	n, err := s.exec(ctx, "prune refresh",
		`DELETE FROM refresh_tokens WHERE session_id = ? AND generation < ? AND used_at IS NOT NULL`, sessionID, below)
	return int(n), err
}
