package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/user"
)

var _ user.TokenStore = (*Store)(nil)

// execer is what insertMessage needs: the writer pool or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// insertMessage adds m to the outbox through ex (a transaction, so a mail
// is queued with the change that causes it).
func insertMessage(ctx context.Context, ex execer, m *mail.Message) error {
	data, err := json.Marshal(m.Data)
	if err != nil {
		return fmt.Errorf("encode mail data: %w", err)
	}
	next := m.NextAt
	if next.IsZero() {
		next = m.CreatedAt
	}
	_, err = ex.ExecContext(ctx, `INSERT INTO mail_outbox (id, recipient, template, data, created_at, next_at, attempts)
		VALUES (?, ?, ?, ?, ?, ?, 0)`, m.ID, m.To, m.Template, string(data), micros(m.CreatedAt), micros(next))
	return err
}

// IssueTokens implements user.TokenStore in one transaction.
func (s *Store) IssueTokens(ctx context.Context, ts []*user.Token, ms []*mail.Message) error {
	const op = "issue email tokens"
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(ctx, op, err)
	}
	defer tx.Rollback()
	for _, t := range ts {
		if len(t.Hash) != 32 {
			return authd.Invalid("hash", "invalid", "token hash must be 32 bytes")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM email_tokens WHERE user_id = ? AND purpose = ? AND purpose != ?`, t.UserID, string(t.Purpose), string(user.PurposeUndo)); err != nil {
			return fail(ctx, op, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO email_tokens (hash, purpose, user_id, email, stamp, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, t.Hash, string(t.Purpose), t.UserID, t.Email, t.Stamp, micros(t.CreatedAt), micros(t.ExpiresAt)); err != nil {
			return fail(ctx, op, err)
		}
	}
	for _, m := range ms {
		if err := insertMessage(ctx, tx, m); err != nil {
			return fail(ctx, op, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(ctx, op, err)
	}
	return nil
}

// UseToken implements user.TokenStore: one DELETE … RETURNING, so of
// parallel uses exactly one gets the row.
func (s *Store) UseToken(ctx context.Context, purpose user.Purpose, hash []byte, now time.Time) (*user.Token, error) {
	const op = "use email token"
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var (
		t                user.Token
		created, expires int64
		p                string
	)
	err := s.w.QueryRowContext(ctx, `DELETE FROM email_tokens WHERE hash = ? AND purpose = ?
		RETURNING hash, purpose, user_id, email, stamp, created_at, expires_at`, hash, string(purpose)).
		Scan(&t.Hash, &p, &t.UserID, &t.Email, &t.Stamp, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, authd.ErrNotFound
	}
	if err != nil {
		return nil, fail(ctx, op, err)
	}
	t.Purpose = user.Purpose(p)
	t.CreatedAt, t.ExpiresAt = fromMicros(created), fromMicros(expires)
	if !now.Before(t.ExpiresAt) {
		return nil, authd.ErrNotFound
	}
	return &t, nil
}

// DeleteUserTokens implements user.TokenStore.
func (s *Store) DeleteUserTokens(ctx context.Context, userID string, purposes ...user.Purpose) error {
	q := `DELETE FROM email_tokens WHERE user_id = ?`
	args := []any{userID}
	if len(purposes) > 0 {
		q += ` AND purpose IN (?` + strings.Repeat(", ?", len(purposes)-1) + `)`
		for _, p := range purposes {
			args = append(args, string(p))
		}
	}
	_, err := s.exec(ctx, "delete user's email tokens", q, args...)
	return err
}

// DeleteExpiredTokens implements user.TokenStore.
func (s *Store) DeleteExpiredTokens(ctx context.Context, before time.Time) (int64, error) {
	return s.exec(ctx, "delete expired email tokens", `DELETE FROM email_tokens WHERE expires_at <= ?`, micros(before))
}
