package pgstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/authd/authd/audit"
	"github.com/jackc/pgx/v5"
)

var _ audit.Store = (*Store)(nil)

const auditCols = `id, at, type, user_id, session_id, client_id, key_id, ip, user_agent, actor, reason, email`

// RecordEvent implements audit.Store, in one transaction with the
// event's webhook deliveries (webhooks.go).
func (s *Store) RecordEvent(ctx context.Context, e *audit.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO audit_events (`+auditCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			e.ID, e.At, e.Type, e.UserID, e.SessionID, e.ClientID, e.KeyID, e.IP, e.UserAgent, e.Actor, e.Reason, e.Email); err != nil {
			return err
		}
		return s.enqueueDeliveries(ctx, tx, e)
	})
	if err != nil {
		return s.fail(ctx, "record audit event", err)
	}
	return nil
}

// Events implements audit.Store.
func (s *Store) Events(ctx context.Context, f audit.Filter) ([]*audit.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.UserID != "" {
		where = append(where, "user_id = "+arg(f.UserID))
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= "+arg(f.Since))
	}
	if len(f.Types) > 0 {
		where = append(where, "type = ANY("+arg(f.Types)+")")
	}
	if f.Before != nil {
		at, id := arg(f.Before.At), arg(f.Before.ID)
		where = append(where, "(at < "+at+" OR (at = "+at+" AND id < "+id+"))")
	}
	q := `SELECT ` + auditCols + ` FROM audit_events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ` + arg(f.Lim())
	rows, err := s.pool.Query(ctx, q, args...)
	return collect(ctx, s, "list audit events", rows, err, func(sc scanner) (*audit.Event, error) {
		var e audit.Event
		if err := sc.Scan(&e.ID, &e.At, &e.Type, &e.UserID, &e.SessionID, &e.ClientID, &e.KeyID, &e.IP, &e.UserAgent, &e.Actor, &e.Reason, &e.Email); err != nil {
			return nil, err
		}
		e.At = utc(e.At)
		return &e, nil
	})
}

// DeleteEventsBefore implements audit.Store.
func (s *Store) DeleteEventsBefore(ctx context.Context, before time.Time) (int64, error) {
	return s.exec(ctx, "delete old audit events", `DELETE FROM audit_events WHERE at < $1`, before)
}
