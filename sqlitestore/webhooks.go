package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/audit"
	"github.com/authd/authd/webhook"
)

var _ webhook.Store = (*Store)(nil)

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func scanSubscriptions(ctx context.Context, q querier, query string, args ...any) ([]*webhook.Subscription, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*webhook.Subscription{}
	for rows.Next() {
		var (
			s       webhook.Subscription
			events  string
			created int64
		)
		if err := rows.Scan(&s.ID, &s.URL, &events, &s.Secret, &created); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(events), &s.Events); err != nil {
			return nil, fmt.Errorf("decode events of %s: %w", s.ID, err)
		}
		s.CreatedAt = fromMicros(created)
		out = append(out, &s)
	}
	return out, rows.Err()
}

const subCols = `id, url, events, secret, created_at`

// enqueueDeliveries queues e's webhook deliveries in tx, RecordEvent's
// transaction: an event is recorded exactly when its deliveries are.
func (s *Store) enqueueDeliveries(ctx context.Context, tx *sql.Tx, e *audit.Event) error {
	subs, err := scanSubscriptions(ctx, tx, `SELECT `+subCols+` FROM webhook_subscriptions`)
	if err != nil || len(subs) == 0 {
		return err
	}
	ds, err := webhook.Deliveries(subs, e)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, subscription_id, event_type, payload, created_at, next_at)
			VALUES (?, ?, ?, ?, ?, ?)`, d.ID, d.SubscriptionID, d.EventType, d.Payload, micros(d.CreatedAt), micros(d.NextAt)); err != nil {
			return err
		}
	}
	return nil
}

// AddSubscription implements webhook.Store.
func (s *Store) AddSubscription(ctx context.Context, sub *webhook.Subscription) error {
	events, err := json.Marshal(sub.Events)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, "add webhook subscription", `INSERT INTO webhook_subscriptions (`+subCols+`) VALUES (?, ?, ?, ?, ?)`,
		sub.ID, sub.URL, string(events), nonNilBytes(sub.Secret), micros(sub.CreatedAt))
	return err
}

// Subscriptions implements webhook.Store.
func (s *Store) Subscriptions(ctx context.Context) ([]*webhook.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := scanSubscriptions(ctx, s.r, `SELECT `+subCols+` FROM webhook_subscriptions ORDER BY created_at, id`)
	if err != nil {
		return nil, fail(ctx, "list webhook subscriptions", err)
	}
	return out, nil
}

// DeleteSubscription implements webhook.Store; its deliveries go with it
// (ON DELETE CASCADE, and explicitly, whatever the foreign_keys pragma).
func (s *Store) DeleteSubscription(ctx context.Context, id string) error {
	const op = "delete webhook subscription"
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(ctx, op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE subscription_id = ?`, id); err != nil {
		return fail(ctx, op, err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM webhook_subscriptions WHERE id = ?`, id)
	if err != nil {
		return fail(ctx, op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fail(ctx, op, err)
	} else if n == 0 {
		return authd.ErrNotFound
	}
	if err := tx.Commit(); err != nil {
		return fail(ctx, op, err)
	}
	return nil
}

// ClaimDeliveries implements webhook.Store with one UPDATE … RETURNING in
// a transaction on the writer connection (which holds SQLite's write lock
// from its first read: of concurrent claims each delivery goes to exactly
// one), then reads the claimed ones' subscriptions in the same
// transaction.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, n int) ([]*webhook.Claimed, error) {
	const op = "claim webhook deliveries"
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return []*webhook.Claimed{}, nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fail(ctx, op, err)
	}
	defer tx.Rollback()
	out, err := claimDeliveries(ctx, tx, now, lease, n)
	if err != nil {
		return nil, fail(ctx, op, err)
	}
	if len(out) > 0 {
		subs, err := scanSubscriptions(ctx, tx, `SELECT `+subCols+` FROM webhook_subscriptions`)
		if err != nil {
			return nil, fail(ctx, op, err)
		}
		for _, d := range out {
			for _, sub := range subs {
				if sub.ID == d.SubscriptionID {
					d.URL, d.Secret = sub.URL, sub.Secret
				}
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fail(ctx, op, err)
	}
	// RETURNING gives no order; the claimed ones are the oldest due.
	slices.SortFunc(out, func(a, b *webhook.Claimed) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func claimDeliveries(ctx context.Context, tx *sql.Tx, now time.Time, lease time.Duration, n int) ([]*webhook.Claimed, error) {
	rows, err := tx.QueryContext(ctx, `UPDATE webhook_deliveries SET next_at = ?, attempts = attempts + 1
		WHERE id IN (SELECT id FROM webhook_deliveries WHERE next_at <= ? ORDER BY next_at, created_at, id LIMIT ?)
		RETURNING id, subscription_id, event_type, payload, created_at, next_at, attempts`,
		micros(now.Add(lease)), micros(now), n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*webhook.Claimed{}
	for rows.Next() {
		var (
			d           webhook.Claimed
			created, nx int64
		)
		if err := rows.Scan(&d.ID, &d.SubscriptionID, &d.EventType, &d.Payload, &created, &nx, &d.Attempts); err != nil {
			return nil, err
		}
		d.CreatedAt, d.NextAt = fromMicros(created), fromMicros(nx)
		out = append(out, &d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, rows.Close()
}

// Delivered implements webhook.Store.
func (s *Store) Delivered(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete delivered webhook", `DELETE FROM webhook_deliveries WHERE id = ?`, id)
}

// RetryDelivery implements webhook.Store.
func (s *Store) RetryDelivery(ctx context.Context, id string, next time.Time, reason string) error {
	return s.execOne(ctx, "reschedule webhook", `UPDATE webhook_deliveries SET next_at = ?, last_error = ? WHERE id = ?`,
		micros(next), reason, id)
}

// DropDelivery implements webhook.Store.
func (s *Store) DropDelivery(ctx context.Context, id string) error {
	return s.execOne(ctx, "drop webhook", `DELETE FROM webhook_deliveries WHERE id = ?`, id)
}

// nonNilBytes keeps a nil slice out of a NOT NULL BLOB column.
func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
