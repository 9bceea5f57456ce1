package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/authd/authd"
	"github.com/authd/authd/token"
)

const refreshCols = `hash, session_id, user_id, client_id, scope, generation, issued_at, expires_at, used_at`

func scanRefresh(sc scanner) (*token.Refresh, error) {
	var (
		rt   token.Refresh
		used pgtype.Timestamptz
	)
	if err := sc.Scan(&rt.Hash, &rt.SessionID, &rt.UserID, &rt.ClientID, &rt.Scope, &rt.Generation,
		&rt.IssuedAt, &rt.ExpiresAt, &used); err != nil {
		return nil, err
	}
	rt.IssuedAt = utc(rt.IssuedAt)
	rt.ExpiresAt = utc(rt.ExpiresAt)
	if used.Valid {
		rt.UsedAt = utc(used.Time)
	}
	return &rt, nil
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
		`INSERT INTO refresh_tokens (`+refreshCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		rt.Hash, rt.SessionID, rt.UserID, rt.ClientID, rt.Scope, rt.Generation,
		rt.IssuedAt, rt.ExpiresAt, nullTime(rt.UsedAt))
	return err
}

// UseRefresh implements token.RefreshStore.
//
// The mark is one conditional UPDATE … RETURNING. PostgreSQL row-locks the
// token; a concurrent caller's UPDATE waits for the lock, re-evaluates
// used_at IS NULL against the committed row and matches nothing, so of
// concurrent callers exactly one gets first == true. Only a caller whose
// UPDATE matched nothing reads the row: it is then either used
// (first == false, UsedAt = the winner's) or absent (ErrNotFound).
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
		rt, err := scanRefresh(s.pool.QueryRow(ctx,
			`UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2 AND used_at IS NULL RETURNING `+refreshCols,
			at, hash))
		if err == nil {
			return rt, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, false, s.fail(ctx, "use refresh token", err)
		}
		rt, err = s.refreshByHash(ctx, hash)
		if err != nil {
			return nil, false, err
		}
		if !rt.UsedAt.IsZero() {
			return rt, false, nil
		}
	}
	return nil, false, s.fail(ctx, "use refresh token", errors.New("token neither used nor usable"))
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
	return one(ctx, s, "refresh token by hash",
		s.pool.QueryRow(ctx, `SELECT `+refreshCols+` FROM refresh_tokens WHERE hash = $1`, hash), scanRefresh)
}

// MaxUsedGeneration implements token.RefreshStore. It reads one entry of
// the partial index refresh_tokens_session_used.
func (s *Store) MaxUsedGeneration(ctx context.Context, sessionID string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var max int
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(generation), -1) FROM refresh_tokens
		WHERE session_id = $1 AND used_at IS NOT NULL`, sessionID).Scan(&max)
	if err != nil {
		return 0, s.fail(ctx, "max used generation", err)
	}
	return max, nil
}

// DeleteExpiredRefresh implements token.RefreshStore.
func (s *Store) DeleteExpiredRefresh(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, "delete expired refresh tokens",
		`DELETE FROM refresh_tokens WHERE expires_at < $1`, before)
	return int(n), err
}

// PruneRefresh implements token.RefreshStore.
func (s *Store) PruneRefresh(ctx context.Context, sessionID string, below int) (int, error) {
	n, err := s.exec(ctx, "prune refresh",
		`DELETE FROM refresh_tokens WHERE session_id = $1 AND generation < $2 AND used_at IS NOT NULL`, sessionID, below)
	return int(n), err
}
