package pgstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/authd/authd/mail"
)

var _ mail.Outbox = (*Store)(nil)

// Enqueue implements mail.Outbox.
func (s *Store) Enqueue(ctx context.Context, m *mail.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := insertMessage(ctx, s.pool, m); err != nil {
		return s.fail(ctx, "enqueue mail", err)
	}
	return nil
}

// Claim implements mail.Outbox with one UPDATE … RETURNING whose WITH
// query (evaluated once) locks the due rows it picks FOR UPDATE SKIP
// LOCKED: concurrent claims
// take disjoint sets instead of waiting for (and then re-reading) each
// other's rows, and a row claimed by a committed claim is no longer due.
func (s *Store) Claim(ctx context.Context, now time.Time, lease time.Duration, n int) ([]*mail.Message, error) {
	const op = "claim mail"
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return []*mail.Message{}, nil
	}
	rows, err := s.pool.Query(ctx, `WITH due AS (
			SELECT id FROM mail_outbox WHERE next_at <= $2 ORDER BY next_at, created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
		UPDATE mail_outbox m SET next_at = $1, attempts = m.attempts + 1 FROM due WHERE m.id = due.id
		RETURNING m.id, m.recipient, m.template, m.data, m.created_at, m.next_at, m.attempts`,
		now.Add(lease), now, n)
	out, err := collect(ctx, s, op, rows, err, func(sc scanner) (*mail.Message, error) {
		var m mail.Message
		if err := sc.Scan(&m.ID, &m.To, &m.Template, &m.Data, &m.CreatedAt, &m.NextAt, &m.Attempts); err != nil {
			return nil, err
		}
		m.CreatedAt, m.NextAt = utc(m.CreatedAt), utc(m.NextAt)
		return &m, nil
	})
	if err != nil {
		return nil, err
	}
	// RETURNING gives no order; the claimed ones are the oldest due.
	slices.SortFunc(out, func(a, b *mail.Message) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Sent implements mail.Outbox.
func (s *Store) Sent(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete sent mail", `DELETE FROM mail_outbox WHERE id = $1`, id)
}

// Retry implements mail.Outbox.
func (s *Store) Retry(ctx context.Context, id string, next time.Time, reason string) error {
	return s.execOne(ctx, "reschedule mail", `UPDATE mail_outbox SET next_at = $1, last_error = $2 WHERE id = $3`,
		next, reason, id)
}

// Drop implements mail.Outbox.
func (s *Store) Drop(ctx context.Context, id string) error {
	return s.execOne(ctx, "drop mail", `DELETE FROM mail_outbox WHERE id = $1`, id)
}
