package sqlitestore

import (
	"context"
	"database/sql"

	"github.com/authd/authd/audit"
)

// enqueueDeliveries queues e's webhook deliveries in tx (none yet: the
// webhook outbox comes with package webhook).
func (s *Store) enqueueDeliveries(ctx context.Context, tx *sql.Tx, e *audit.Event) error { return nil }
