package sqlitestore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/authd/authd/audit"
)

var _ audit.Store = (*Store)(nil)

const auditCols = `id, at, type, user_id, session_id, client_id, key_id, ip, user_agent, actor, reason, email`

// RecordEvent implements audit.Store. The insert goes through
// recordEvent so that webhook deliveries can join its transaction.
func (s *Store) RecordEvent(ctx context.Context, e *audit.Event) error {
	const op = "record audit event"
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(ctx, op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_events (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, micros(e.At), e.Type, e.UserID, e.SessionID, e.ClientID, e.KeyID, e.IP, e.UserAgent, e.Actor, e.Reason, e.Email); err != nil {
		return fail(ctx, op, err)
	}
	if err := s.afterEvent(ctx, tx, e); err != nil {
		return fail(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return fail(ctx, op, err)
	}
	return nil
}

// afterEvent runs in RecordEvent's transaction: the webhook deliveries of
// the event are queued with it (webhooks.go), so an event is recorded
// exactly when its deliveries are.
func (s *Store) afterEvent(ctx context.Context, tx *sql.Tx, e *audit.Event) error {
	return s.enqueueDeliveries(ctx, tx, e)
}

// Events implements audit.Store.
func (s *Store) Events(ctx context.Context, f audit.Filter) ([]*audit.Event, error) {
	const op = "list audit events"
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	if f.UserID != "" {
		where = append(where, "user_id = ?")
		args = append(args, f.UserID)
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, micros(f.Since))
	}
	if len(f.Types) > 0 {
		where = append(where, "type IN (?"+strings.Repeat(", ?", len(f.Types)-1)+")")
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	if f.Before != nil {
		where = append(where, "(at < ? OR (at = ? AND id < ?))")
		args = append(args, micros(f.Before.At), micros(f.Before.At), f.Before.ID)
	}
	q := `SELECT ` + auditCols + ` FROM audit_events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ?`
	args = append(args, f.Lim())
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fail(ctx, op, err)
	}
	defer rows.Close()
	out := []*audit.Event{}
	for rows.Next() {
		var e audit.Event
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Type, &e.UserID, &e.SessionID, &e.ClientID, &e.KeyID, &e.IP, &e.UserAgent, &e.Actor, &e.Reason, &e.Email); err != nil {
			return nil, fail(ctx, op, err)
		}
		e.At = fromMicros(at)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, op, err)
	}
	return out, nil
}

// DeleteEventsBefore implements audit.Store.
func (s *Store) DeleteEventsBefore(ctx context.Context, before time.Time) (int64, error) {
	return s.exec(ctx, "delete old audit events", `DELETE FROM audit_events WHERE at < ?`, micros(before))
}
