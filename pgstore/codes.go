package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/authd/authd"
	"github.com/authd/authd/authcode"
)

var _ authcode.Store = (*Store)(nil)

const codeCols = `hash, client_id, redirect_uri, challenge, user_id, scope, nonce, auth_time, amr, browser_session,
	created_at, expires_at, redeemed_at, session_id`

// redeemedCode is a code as RedeemCode's RETURNING reads it.
type redeemedCode struct {
	code     *authcode.Code
	replayed bool
}

// scanCode reads codeCols and then replayed.
func scanCode(sc scanner) (redeemedCode, error) {
	var (
		c        authcode.Code
		redeemed pgtype.Timestamptz
		replayed bool
	)
	if err := sc.Scan(&c.Hash, &c.ClientID, &c.RedirectURI, &c.Challenge, &c.UserID, &c.Scope, &c.Nonce,
		&c.AuthTime, &c.AMR, &c.BrowserSession, &c.CreatedAt, &c.ExpiresAt, &redeemed, &c.SessionID, &replayed); err != nil {
		return redeemedCode{}, err
	}
	c.AuthTime = utc(c.AuthTime)
	c.CreatedAt = utc(c.CreatedAt)
	c.ExpiresAt = utc(c.ExpiresAt)
	if redeemed.Valid {
		c.RedeemedAt = utc(redeemed.Time)
	}
	return redeemedCode{&c, replayed}, nil
}

// CreateCode implements authcode.Store. c.Hash must be 32 bytes.
func (s *Store) CreateCode(ctx context.Context, c *authcode.Code) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(c.Hash) != 32 {
		return authd.Invalid("hash", "invalid", "authorization code hash must be 32 bytes")
	}
	_, err := s.exec(ctx, "create authorization code",
		`INSERT INTO auth_codes (`+codeCols+`, replayed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, FALSE)`,
		c.Hash, c.ClientID, c.RedirectURI, c.Challenge, c.UserID, c.Scope, c.Nonce, c.AuthTime,
		c.AMR, c.BrowserSession, c.CreatedAt, c.ExpiresAt, nullTime(c.RedeemedAt), c.SessionID)
	return err
}

// RedeemCode implements authcode.Store with one UPDATE … RETURNING: it
// reads and marks the code at once, under the row's lock, so of concurrent
// redemptions exactly one sets redeemed_at and every other sets replayed
// (RFC 6749 §4.1.2 single use; RFC 9700 §4.5 replay). A redeemer that
// waited for the lock re-reads the row as the holder committed it (READ
// COMMITTED), and SET reads that row as it was before this update, so
// replayed comes back true exactly for the replays.
func (s *Store) RedeemCode(ctx context.Context, hash []byte, at time.Time) (*authcode.Code, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(hash) != 32 {
		return nil, authd.ErrNotFound
	}
	r, err := one(ctx, s, "redeem authorization code", s.pool.QueryRow(ctx, `UPDATE auth_codes
		SET redeemed_at = COALESCE(redeemed_at, $2), replayed = (replayed OR redeemed_at IS NOT NULL)
		WHERE hash = $1 RETURNING `+codeCols+`, replayed`, hash, at), scanCode)
	if err != nil {
		return nil, err
	}
	if r.replayed {
		return r.code, authd.ErrTokenReused
	}
	return r.code, nil
}

// ConfirmCode implements authcode.Store with one UPDATE … RETURNING: it
// records the session and reads the replay mark at once. A code not
// redeemed yet is authd.ErrNotFound.
func (s *Store) ConfirmCode(ctx context.Context, hash []byte, sessionID string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if len(hash) != 32 {
		return false, authd.ErrNotFound
	}
	var replayed bool
	err := s.pool.QueryRow(ctx, `UPDATE auth_codes SET session_id = $2
		WHERE hash = $1 AND redeemed_at IS NOT NULL RETURNING replayed`, hash, sessionID).Scan(&replayed)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, authd.ErrNotFound
	}
	if err != nil {
		return false, s.fail(ctx, "confirm authorization code", err)
	}
	return replayed, nil
}

// DeleteExpiredCodes implements authcode.Store.
func (s *Store) DeleteExpiredCodes(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, "delete expired authorization codes",
		`DELETE FROM auth_codes WHERE expires_at < $1`, before)
	return int(n), err
}
