package pgstore

import (
	"context"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/user"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var _ user.TokenStore = (*Store)(nil)

// execer is what insertMessage needs: the pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// insertMessage adds m to the outbox through ex (a transaction, so a mail
// is queued with the change that causes it).
func insertMessage(ctx context.Context, ex execer, m *mail.Message) error {
	data := m.Data
	if data == nil {
		data = map[string]string{}
	}
	next := m.NextAt
	if next.IsZero() {
		next = m.CreatedAt
	}
	_, err := ex.Exec(ctx, `INSERT INTO mail_outbox (id, recipient, template, data, created_at, next_at, attempts)
		VALUES ($1, $2, $3, $4, $5, $6, 0)`, m.ID, m.To, m.Template, data, m.CreatedAt, next)
	return err
}

// IssueTokens implements user.TokenStore in one transaction.
func (s *Store) IssueTokens(ctx context.Context, ts []*user.Token, ms []*mail.Message) error {
	const op = "issue email tokens"
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, t := range ts {
		if len(t.Hash) != 32 {
			return authd.Invalid("hash", "invalid", "token hash must be 32 bytes")
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, t := range ts {
			if _, err := tx.Exec(ctx, `DELETE FROM email_tokens WHERE user_id = $1 AND purpose = $2 AND purpose <> $3`, t.UserID, string(t.Purpose), string(user.PurposeUndo)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO email_tokens (hash, purpose, user_id, email, stamp, created_at, expires_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, t.Hash, string(t.Purpose), t.UserID, t.Email, t.Stamp, t.CreatedAt, t.ExpiresAt); err != nil {
				return err
			}
		}
		for _, m := range ms {
			if err := insertMessage(ctx, tx, m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// UseToken implements user.TokenStore: one DELETE … RETURNING, so of
// parallel uses exactly one gets the row.
func (s *Store) UseToken(ctx context.Context, purpose user.Purpose, hash []byte, now time.Time) (*user.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, err := one(ctx, s, "use email token", s.pool.QueryRow(ctx, `DELETE FROM email_tokens WHERE hash = $1 AND purpose = $2
		RETURNING hash, purpose, user_id, email, stamp, created_at, expires_at`, nonNil(hash), string(purpose)),
		func(sc scanner) (*user.Token, error) {
			var (
				t user.Token
				p string
			)
			if err := sc.Scan(&t.Hash, &p, &t.UserID, &t.Email, &t.Stamp, &t.CreatedAt, &t.ExpiresAt); err != nil {
				return nil, err
			}
			t.Purpose = user.Purpose(p)
			t.CreatedAt, t.ExpiresAt = utc(t.CreatedAt), utc(t.ExpiresAt)
			return &t, nil
		})
	if err != nil {
		return nil, err
	}
	if !now.Before(t.ExpiresAt) {
		return nil, authd.ErrNotFound
	}
	return t, nil
}

// DeleteUserTokens implements user.TokenStore.
func (s *Store) DeleteUserTokens(ctx context.Context, userID string, purposes ...user.Purpose) error {
	if len(purposes) == 0 {
		_, err := s.exec(ctx, "delete user's email tokens", `DELETE FROM email_tokens WHERE user_id = $1`, userID)
		return err
	}
	ps := make([]string, len(purposes))
	for i, p := range purposes {
		ps[i] = string(p)
	}
	_, err := s.exec(ctx, "delete user's email tokens", `DELETE FROM email_tokens WHERE user_id = $1 AND purpose = ANY($2)`, userID, ps)
	return err
}

// DeleteExpiredTokens implements user.TokenStore.
func (s *Store) DeleteExpiredTokens(ctx context.Context, before time.Time) (int64, error) {
	return s.exec(ctx, "delete expired email tokens", `DELETE FROM email_tokens WHERE expires_at <= $1`, before)
}
