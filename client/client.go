// Package client manages the OAuth confidential clients that may call
// authd's introspection endpoint and revocation feed. A client's secret is
// 256 random bits, shown once at creation; only its SHA-256 is stored (a
// secret with that much entropy needs no slow hash).
package client

import (
	"context"
	"time"
)

// Client is a confidential OAuth client.
type Client struct {
	ID         string
	Name       string
	SecretHash []byte // SHA-256 of the secret, 32 bytes
	CreatedAt  time.Time
}

// Store persists clients. Every method honours ctx.
type Store interface {
	// CreateClient stores c. authd.ErrConflict when the ID or the Name is
	// taken.
	CreateClient(ctx context.Context, c *Client) error
	// ClientByID returns authd.ErrNotFound when there is none.
	ClientByID(ctx context.Context, id string) (*Client, error)
	// ListClients returns all clients ordered by Name; empty, not nil.
	ListClients(ctx context.Context) ([]*Client, error)
	// DeleteClient returns authd.ErrNotFound when there is none.
	DeleteClient(ctx context.Context, id string) error
}
