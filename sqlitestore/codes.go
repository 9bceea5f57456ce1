package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/authcode"
)

var _ authcode.Store = (*Store)(nil)

const codeCols = `hash, client_id, redirect_uri, challenge, user_id, scope, nonce, auth_time, amr, browser_session,
	created_at, expires_at, redeemed_at, session_id`

// scanCode reads codeCols and then replayed.
func scanCode(sc scanner) (*authcode.Code, bool, error) {
	var (
		c                      authcode.Code
		authTime, created, exp int64
		redeemed               sql.NullInt64
		replayed               bool
	)
	if err := sc.Scan(&c.Hash, &c.ClientID, &c.RedirectURI, &c.Challenge, &c.UserID, &c.Scope, &c.Nonce,
		&authTime, &c.AMR, &c.BrowserSession, &created, &exp, &redeemed, &c.SessionID, &replayed); err != nil {
		return nil, false, err
	}
	c.AuthTime = fromMicros(authTime)
	c.CreatedAt = fromMicros(created)
	c.ExpiresAt = fromMicros(exp)
	c.RedeemedAt = fromNullMicros(redeemed)
	return &c, replayed, nil
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
		`INSERT INTO auth_codes (`+codeCols+`, replayed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
		c.Hash, c.ClientID, c.RedirectURI, c.Challenge, c.UserID, c.Scope, c.Nonce, micros(c.AuthTime),
		c.AMR, c.BrowserSession, micros(c.CreatedAt), micros(c.ExpiresAt), nullMicros(c.RedeemedAt), c.SessionID)
	return err
}

// RedeemCode implements authcode.Store with one UPDATE … RETURNING on the
// writer connection, so it reads and marks the code at once: the first
// redemption sets redeemed_at, every later one sets replayed (RFC 6749
// §4.1.2 single use; RFC 9700 §4.5 replay). SET reads the row as it was,
// so replayed comes back true exactly for the replays: a code is never
// marked replayed before its first redemption.
func (s *Store) RedeemCode(ctx context.Context, hash []byte, at time.Time) (*authcode.Code, error) {
	const op = "redeem authorization code"
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(hash) != 32 {
		return nil, authd.ErrNotFound
	}
	c, replayed, err := scanCode(s.w.QueryRowContext(ctx, `UPDATE auth_codes
		SET redeemed_at = COALESCE(redeemed_at, ?), replayed = (replayed OR redeemed_at IS NOT NULL)
		WHERE hash = ? RETURNING `+codeCols+`, replayed`, micros(at), hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, authd.ErrNotFound
	}
	if err != nil {
		return nil, fail(ctx, op, err)
	}
	if replayed {
		return c, authd.ErrTokenReused
	}
	return c, nil
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
	err := s.w.QueryRowContext(ctx, `UPDATE auth_codes SET session_id = ?
		WHERE hash = ? AND redeemed_at IS NOT NULL RETURNING replayed`, sessionID, hash).Scan(&replayed)
	if errors.Is(err, sql.ErrNoRows) {
		return false, authd.ErrNotFound
	}
	if err != nil {
		return false, fail(ctx, "confirm authorization code", err)
	}
	return replayed, nil
}

// DeleteExpiredCodes implements authcode.Store.
func (s *Store) DeleteExpiredCodes(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, "delete expired authorization codes",
		`DELETE FROM auth_codes WHERE expires_at < ?`, micros(before))
	return int(n), err
}
