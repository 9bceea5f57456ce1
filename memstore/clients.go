package memstore

import (
	"context"
	"slices"
	"strings"

	"github.com/authd/authd"
	"github.com/authd/authd/client"
)

var _ client.Store = (*Store)(nil)

func copyClient(c *client.Client) *client.Client {
	cc := *c
	cc.SecretHash = slices.Clone(c.SecretHash)
	return &cc
}

// CreateClient implements client.Store.
func (s *Store) CreateClient(ctx context.Context, c *client.Client) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; ok {
		return authd.ErrConflict
	}
	if _, ok := s.clientNames[c.Name]; ok {
		return authd.ErrConflict
	}
	s.clients[c.ID] = copyClient(c)
	s.clientNames[c.Name] = c.ID
	return nil
}

// ClientByID implements client.Store.
func (s *Store) ClientByID(ctx context.Context, id string) (*client.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, authd.ErrNotFound
	}
	return copyClient(c), nil
}

// ListClients implements client.Store: ordered by Name (byte-wise).
func (s *Store) ListClients(ctx context.Context) ([]*client.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*client.Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, copyClient(c))
	}
	slices.SortFunc(out, func(a, b *client.Client) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteClient implements client.Store.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return authd.ErrNotFound
	}
	delete(s.clientNames, c.Name)
	delete(s.clients, id)
	return nil
}
