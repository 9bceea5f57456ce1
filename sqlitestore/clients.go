package sqlitestore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/authd/authd"
	"github.com/authd/authd/client"
)

var _ client.Store = (*Store)(nil)

const clientCols = `id, name, secret_hash, created_at`

func scanClient(sc scanner) (*client.Client, error) {
	var (
		c       client.Client
		created int64
	)
	if err := sc.Scan(&c.ID, &c.Name, &c.SecretHash, &created); err != nil {
		return nil, err
	}
	c.CreatedAt = fromMicros(created)
	return &c, nil
}

// CreateClient implements client.Store. The primary key and the UNIQUE
// name both map to authd.ErrConflict.
func (s *Store) CreateClient(ctx context.Context, c *client.Client) error {
	_, err := s.exec(ctx, "create client", `INSERT INTO clients (`+clientCols+`) VALUES (?, ?, ?, ?)`,
		c.ID, c.Name, nonNil(c.SecretHash), micros(c.CreatedAt))
	return err
}

// ClientByID implements client.Store.
func (s *Store) ClientByID(ctx context.Context, id string) (*client.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := scanClient(s.r.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, authd.ErrNotFound
	}
	if err != nil {
		return nil, fail(ctx, "client by id", err)
	}
	return c, nil
}

// ListClients implements client.Store: ordered by name (byte-wise, SQLite's
// BINARY collation, as memstore).
func (s *Store) ListClients(ctx context.Context) ([]*client.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+clientCols+` FROM clients ORDER BY name`)
	if err != nil {
		return nil, fail(ctx, "list clients", err)
	}
	defer rows.Close()
	out := []*client.Client{}
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fail(ctx, "list clients", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, "list clients", err)
	}
	return out, nil
}

// DeleteClient implements client.Store.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete client", `DELETE FROM clients WHERE id = ?`, id)
}
