package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/authd/authd"
	"github.com/authd/authd/refresh"
)

const refreshCols = `hash, session_id, user_id, client_id, scope, generation, issued_at, expires_at, used_at`

func scanRefresh(sc scanner) (*refresh.Refresh, error) {
	var (
		rt   refresh.Refresh
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

// CreateRefresh implements refresh.Store. rt.Hash must be 32 bytes.
func (s *Store) CreateRefresh(ctx context.Context, rt *refresh.Refresh) error {
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

// refreshLock is the first key of the transaction-level advisory lock
// that serialises the rotations of one session (the second is a hash of
// the session ID). The two-key form never meets Migrate's one-key lock.
const refreshLock int32 = 0x72667368 // "rfsh"

// RotateRefresh implements refresh.Store as one transaction in two round
// trips on one connection: BEGIN, the session's advisory lock, the
// session's highest used generation and the presented token in one
// pipelined batch; then, after refresh.Decide, the writes and COMMIT in a
// second (or a ROLLBACK when there is nothing to write).
//
// The lock is per session, not per token: two grace-window siblings
// redeemed at once must see each other's use (rule 5), which a row lock on
// each token would not give. Every statement after the lock runs on a
// snapshot taken after the previous holder committed (READ COMMITTED).
func (s *Store) RotateRefresh(ctx context.Context, rot *refresh.Rotation) (*refresh.Result, error) {
	const op = "rotate refresh token"
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(rot.ChildHash) != 32 {
		return nil, authd.Invalid("child_hash", "invalid", "refresh token hash must be 32 bytes")
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	// Release destroys a connection left inside a transaction.
	defer conn.Release()
	rollback := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		conn.Exec(rctx, "ROLLBACK")
	}
	var read pgx.Batch
	read.Queue("BEGIN")
	read.Queue(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, refreshLock, rot.SessionID)
	read.Queue(`SELECT COALESCE(MAX(generation), -1) FROM refresh_tokens
		WHERE session_id = $1 AND used_at IS NOT NULL`, rot.SessionID)
	read.Queue(`SELECT `+refreshCols+` FROM refresh_tokens WHERE hash = $1 AND session_id = $2`, nonNil(rot.Hash), rot.SessionID)
	br := conn.SendBatch(ctx, &read)
	var maxUsed int
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		err = br.QueryRow().Scan(&maxUsed)
	}
	var stored *refresh.Refresh
	if err == nil {
		stored, err = scanRefresh(br.QueryRow())
		if errors.Is(err, pgx.ErrNoRows) {
			stored, err = nil, nil
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		rollback()
		return nil, s.fail(ctx, op, err)
	}
	res := refresh.Decide(rot, stored, maxUsed)
	if res.Child == nil {
		rollback() // nothing to write
		return res, nil
	}
	var write pgx.Batch
	if res.Outcome == refresh.Rotated {
		write.Queue(`UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2`, rot.At, rot.Hash)
	}
	c := res.Child
	write.Queue(`INSERT INTO refresh_tokens (`+refreshCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)`,
		c.Hash, c.SessionID, c.UserID, c.ClientID, c.Scope, c.Generation, c.IssuedAt, c.ExpiresAt)
	write.Queue(`DELETE FROM refresh_tokens WHERE session_id = $1 AND generation < $2 AND used_at IS NOT NULL`,
		rot.SessionID, res.PruneBelow())
	write.Queue("COMMIT")
	br = conn.SendBatch(ctx, &write)
	for range write.Len() {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		rollback()
		return nil, s.fail(ctx, op, err)
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
	return one(ctx, s, "refresh token by hash",
		s.pool.QueryRow(ctx, `SELECT `+refreshCols+` FROM refresh_tokens WHERE hash = $1 AND session_id = $2`, hash, sessionID),
		scanRefresh)
}

// DeleteExpiredRefresh implements refresh.Store.
func (s *Store) DeleteExpiredRefresh(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, "delete expired refresh tokens",
		`DELETE FROM refresh_tokens WHERE expires_at < $1`, before)
	return int(n), err
}
