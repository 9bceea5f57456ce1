package pgstore

import (
	"context"

	"github.com/authd/authd/client"
)

const clientCols = `id, name, secret_hash, created_at`

func scanClient(sc scanner) (*client.Client, error) {
	var c client.Client
	if err := sc.Scan(&c.ID, &c.Name, &c.SecretHash, &c.CreatedAt); err != nil {
		return nil, err
	}
	c.CreatedAt = utc(c.CreatedAt)
	return &c, nil
}

// CreateClient implements client.Store. The primary key and the UNIQUE
// name both map to authd.ErrConflict.
func (s *Store) CreateClient(ctx context.Context, c *client.Client) error {
	_, err := s.exec(ctx, "create client", `INSERT INTO clients (`+clientCols+`) VALUES ($1, $2, $3, $4)`,
		c.ID, c.Name, nonNil(c.SecretHash), c.CreatedAt)
	return err
}

// ClientByID implements client.Store.
func (s *Store) ClientByID(ctx context.Context, id string) (*client.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return one(ctx, s, "client by id",
		s.pool.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id), scanClient)
}

// ListClients implements client.Store: ordered by name byte-wise (the
// column's "C" collation, as SQLite's BINARY and memstore).
func (s *Store) ListClients(ctx context.Context) ([]*client.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+clientCols+` FROM clients ORDER BY name`)
	return collect(ctx, s, "list clients", rows, err, scanClient)
}

// DeleteClient implements client.Store.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete client", `DELETE FROM clients WHERE id = $1`, id)
}
