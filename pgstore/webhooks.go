package pgstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/webhook"
	"github.com/jackc/pgx/v5"
)

var _ webhook.Store = (*Store)(nil)

const subCols = `id, url, events, secret, created_at`

func scanSubscription(sc scanner) (*webhook.Subscription, error) {
	var s webhook.Subscription
	if err := sc.Scan(&s.ID, &s.URL, &s.Events, &s.Secret, &s.CreatedAt); err != nil {
		return nil, err
	}
	s.CreatedAt = utc(s.CreatedAt)
	return &s, nil
}

// enqueueDeliveries queues e's webhook deliveries in tx, RecordEvent's
// transaction: an event is recorded exactly when its deliveries are.
func (s *Store) enqueueDeliveries(ctx context.Context, tx pgx.Tx, e *audit.Event) error {
	rows, err := tx.Query(ctx, `SELECT `+subCols+` FROM webhook_subscriptions`)
	if err != nil {
		return err
	}
	subs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*webhook.Subscription, error) { return scanSubscription(r) })
	if err != nil || len(subs) == 0 {
		return err
	}
	ds, err := webhook.Deliveries(subs, e)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (id, subscription_id, event_type, payload, created_at, next_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, d.ID, d.SubscriptionID, d.EventType, d.Payload, d.CreatedAt, d.NextAt); err != nil {
			return err
		}
	}
	return nil
}

// AddSubscription implements webhook.Store.
func (s *Store) AddSubscription(ctx context.Context, sub *webhook.Subscription) error {
	_, err := s.exec(ctx, "add webhook subscription", `INSERT INTO webhook_subscriptions (`+subCols+`) VALUES ($1, $2, $3, $4, $5)`,
		sub.ID, sub.URL, sub.Events, nonNil(sub.Secret), sub.CreatedAt)
	return err
}

// Subscriptions implements webhook.Store.
func (s *Store) Subscriptions(ctx context.Context) ([]*webhook.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+subCols+` FROM webhook_subscriptions ORDER BY created_at, id`)
	return collect(ctx, s, "list webhook subscriptions", rows, err, scanSubscription)
}

// DeleteSubscription implements webhook.Store; its deliveries go with it
// (ON DELETE CASCADE).
func (s *Store) DeleteSubscription(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete webhook subscription", `DELETE FROM webhook_subscriptions WHERE id = $1`, id)
}

// ClaimDeliveries implements webhook.Store with one statement: the WITH
// query locks the due rows it picks FOR UPDATE SKIP LOCKED (concurrent
// claims take disjoint sets), the UPDATE leases them, and the outer
// SELECT joins their subscriptions.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, n int) ([]*webhook.Claimed, error) {
	const op = "claim webhook deliveries"
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return []*webhook.Claimed{}, nil
	}
	rows, err := s.pool.Query(ctx, `WITH due AS (
			SELECT id FROM webhook_deliveries WHERE next_at <= $2 ORDER BY next_at, created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED),
		claimed AS (
			UPDATE webhook_deliveries d SET next_at = $1, attempts = d.attempts + 1 FROM due WHERE d.id = due.id
			RETURNING d.id, d.subscription_id, d.event_type, d.payload, d.created_at, d.next_at, d.attempts)
		SELECT c.id, c.subscription_id, c.event_type, c.payload, c.created_at, c.next_at, c.attempts, s.url, s.secret
		FROM claimed c JOIN webhook_subscriptions s ON s.id = c.subscription_id`,
		now.Add(lease), now, n)
	out, err := collect(ctx, s, op, rows, err, func(sc scanner) (*webhook.Claimed, error) {
		var d webhook.Claimed
		if err := sc.Scan(&d.ID, &d.SubscriptionID, &d.EventType, &d.Payload, &d.CreatedAt, &d.NextAt, &d.Attempts, &d.URL, &d.Secret); err != nil {
			return nil, err
		}
		d.CreatedAt, d.NextAt = utc(d.CreatedAt), utc(d.NextAt)
		return &d, nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *webhook.Claimed) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Delivered implements webhook.Store.
func (s *Store) Delivered(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete delivered webhook", `DELETE FROM webhook_deliveries WHERE id = $1`, id)
}

// RetryDelivery implements webhook.Store.
func (s *Store) RetryDelivery(ctx context.Context, id string, next time.Time, reason string) error {
	return s.execOne(ctx, "reschedule webhook", `UPDATE webhook_deliveries SET next_at = $1, last_error = $2 WHERE id = $3`,
		next, reason, id)
}

// DropDelivery implements webhook.Store.
func (s *Store) DropDelivery(ctx context.Context, id string) error {
	return s.execOne(ctx, "drop webhook", `DELETE FROM webhook_deliveries WHERE id = $1`, id)
}
