package memstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/jwks"
)

var _ jwks.Store = (*Store)(nil)

func copyKey(k *jwks.StoredKey) *jwks.StoredKey {
	c := *k
	c.Public = slices.Clone(k.Public)
	c.PrivateSealed = slices.Clone(k.PrivateSealed)
	return &c
}

// CreateSigningKey implements jwks.Store.
func (s *Store) CreateSigningKey(ctx context.Context, k *jwks.StoredKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k.KID]; ok {
		return authd.ErrConflict
	}
	s.keys[k.KID] = copyKey(k)
	return nil
}

// SigningKeys implements jwks.Store: oldest CreatedAt first, ties by KID.
func (s *Store) SigningKeys(ctx context.Context) ([]*jwks.StoredKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*jwks.StoredKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, copyKey(k))
	}
	slices.SortFunc(out, func(a, b *jwks.StoredKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.KID, b.KID)
	})
	return out, nil
}

// RetireSigningKey implements jwks.Store. A zero at is refused: it would
// otherwise "retire" the key at the beginning of time, or un-retire it.
func (s *Store) RetireSigningKey(ctx context.Context, kid string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if at.IsZero() {
		return authd.Invalid("retire_at", "required", "retirement time must be set")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[kid]
	if !ok {
		return authd.ErrNotFound
	}
	if k.RetireAt.IsZero() || k.RetireAt.After(at) {
		k.RetireAt = at
	}
	return nil
}

// RevokeSigningKey implements jwks.Store: the first revocation's time
// stays. A zero at is refused (it would mean "not revoked").
func (s *Store) RevokeSigningKey(ctx context.Context, kid string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if at.IsZero() {
		return authd.Invalid("revoked_at", "required", "revocation time must be set")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[kid]
	if !ok {
		return authd.ErrNotFound
	}
	if k.RevokedAt.IsZero() {
		k.RevokedAt = at
	}
	return nil
}

// DeleteSigningKey implements jwks.Store.
func (s *Store) DeleteSigningKey(ctx context.Context, kid string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[kid]; !ok {
		return authd.ErrNotFound
	}
	delete(s.keys, kid)
	return nil
}
