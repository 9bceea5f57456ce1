package pgstore

import (
	"context"

	"github.com/authd/authd/audit"
	"github.com/jackc/pgx/v5"
)

// enqueueDeliveries queues e's webhook deliveries in tx (none yet: the
// webhook outbox comes with package webhook).
func (s *Store) enqueueDeliveries(ctx context.Context, tx pgx.Tx, e *audit.Event) error { return nil }
