package sqlitestore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
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
	if err := insertMessage(ctx, s.w, m); err != nil {
		return fail(ctx, "enqueue mail", err)
	}
	return nil
}

// Claim implements mail.Outbox with one UPDATE … RETURNING on the writer
// connection: the statement holds SQLite's write lock from its first
// read, so of concurrent claims (in this process or another on the same
// file) each message goes to exactly one.
func (s *Store) Claim(ctx context.Context, now time.Time, lease time.Duration, n int) ([]*mail.Message, error) {
	const op = "claim mail"
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return []*mail.Message{}, nil
	}
	rows, err := s.w.QueryContext(ctx, `UPDATE mail_outbox SET next_at = ?, attempts = attempts + 1
		WHERE id IN (SELECT id FROM mail_outbox WHERE next_at <= ? ORDER BY next_at, created_at, id LIMIT ?)
		RETURNING id, recipient, template, data, created_at, next_at, attempts`,
		micros(now.Add(lease)), micros(now), n)
	if err != nil {
		return nil, fail(ctx, op, err)
	}
	defer rows.Close()
	out := []*mail.Message{}
	for rows.Next() {
		var (
			m           mail.Message
			data        string
			created, nx int64
		)
		if err := rows.Scan(&m.ID, &m.To, &m.Template, &data, &created, &nx, &m.Attempts); err != nil {
			return nil, fail(ctx, op, err)
		}
		if err := json.Unmarshal([]byte(data), &m.Data); err != nil {
			return nil, fail(ctx, op, fmt.Errorf("decode data of %s: %w", m.ID, err))
		}
		m.CreatedAt, m.NextAt = fromMicros(created), fromMicros(nx)
		out = append(out, &m)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, op, err)
	}
	if err := rows.Close(); err != nil {
		return nil, fail(ctx, op, err)
	}
	// RETURNING gives no order; the claimed ones are the oldest due.
	slices.SortFunc(out, func(a, b *mail.Message) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Sent implements mail.Outbox.
func (s *Store) Sent(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete sent mail", `DELETE FROM mail_outbox WHERE id = ?`, id)
}

// Retry implements mail.Outbox.
func (s *Store) Retry(ctx context.Context, id string, next time.Time, reason string) error {
	return s.execOne(ctx, "reschedule mail", `UPDATE mail_outbox SET next_at = ?, last_error = ? WHERE id = ?`,
		micros(next), reason, id)
}

// Drop implements mail.Outbox.
func (s *Store) Drop(ctx context.Context, id string) error {
	return s.execOne(ctx, "drop mail", `DELETE FROM mail_outbox WHERE id = ?`, id)
}
