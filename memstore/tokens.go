package memstore

import (
	"context"
	"slices"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/token"
)

var _ token.RefreshStore = (*Store)(nil)

func copyRefresh(rt *token.Refresh) *token.Refresh {
	c := *rt
	c.Hash = slices.Clone(rt.Hash)
	return &c
}

// CreateRefresh implements token.RefreshStore. rt.Hash must be 32 bytes.
func (s *Store) CreateRefresh(ctx context.Context, rt *token.Refresh) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h, ok := key32(rt.Hash)
	if !ok {
		return authd.Invalid("hash", "invalid", "refresh token hash must be 32 bytes")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.refresh[h]; ok {
		return authd.ErrConflict
	}
	s.refresh[h] = copyRefresh(rt)
	return nil
}

// UseRefresh implements token.RefreshStore. The check and the mark happen
// under one write lock, so of concurrent callers exactly one is first.
func (s *Store) UseRefresh(ctx context.Context, hash []byte, at time.Time) (*token.Refresh, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	h, ok := key32(hash)
	if !ok {
		return nil, false, authd.ErrNotFound
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refresh[h]
	if !ok {
		return nil, false, authd.ErrNotFound
	}
	first := rt.UsedAt.IsZero()
	if first {
		rt.UsedAt = at
	}
	return copyRefresh(rt), first, nil
}

// RefreshByHash implements token.RefreshStore.
func (s *Store) RefreshByHash(ctx context.Context, hash []byte) (*token.Refresh, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, ok := key32(hash)
	if !ok {
		return nil, authd.ErrNotFound
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	rt, ok := s.refresh[h]
	if !ok {
		return nil, authd.ErrNotFound
	}
	return copyRefresh(rt), nil
}

// MaxUsedGeneration implements token.RefreshStore. It scans every token:
// memstore is for tests and small deployments.
func (s *Store) MaxUsedGeneration(ctx context.Context, sessionID string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	max := -1
	for _, rt := range s.refresh {
		if rt.SessionID == sessionID && !rt.UsedAt.IsZero() && rt.Generation > max {
			max = rt.Generation
		}
	}
	return max, nil
}

// DeleteExpiredRefresh implements token.RefreshStore.
func (s *Store) DeleteExpiredRefresh(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for h, rt := range s.refresh {
		if rt.ExpiresAt.Before(before) {
			delete(s.refresh, h)
			n++
		}
	}
	return n, nil
}

// PruneRefresh implements token.RefreshStore.
func (s *Store) PruneRefresh(ctx context.Context, sessionID string, below int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for h, rt := range s.refresh {
		if rt.SessionID == sessionID && rt.Generation < below && !rt.UsedAt.IsZero() {
			delete(s.refresh, h)
			n++
		}
	}
	return n, nil
}
