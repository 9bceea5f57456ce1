package memstore

import (
	"context"
	"slices"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/refresh"
)

var _ refresh.Store = (*Store)(nil)

// refreshTokens holds the refresh-token chains: every token by hash, and
// each session's token hashes, so a rotation reads one chain (a few
// tokens), not every token.
type refreshTokens struct {
	byHash    map[[32]byte]*refresh.Refresh
	bySession map[string]map[[32]byte]struct{}
}

func newRefreshTokens() refreshTokens {
	return refreshTokens{byHash: map[[32]byte]*refresh.Refresh{}, bySession: map[string]map[[32]byte]struct{}{}}
}

func (t *refreshTokens) put(h [32]byte, rt *refresh.Refresh) {
	t.byHash[h] = rt
	chain := t.bySession[rt.SessionID]
	if chain == nil {
		chain = map[[32]byte]struct{}{}
		t.bySession[rt.SessionID] = chain
	}
	chain[h] = struct{}{}
}

func (t *refreshTokens) del(h [32]byte) {
	rt, ok := t.byHash[h]
	if !ok {
		return
	}
	delete(t.byHash, h)
	chain := t.bySession[rt.SessionID]
	delete(chain, h)
	if len(chain) == 0 {
		delete(t.bySession, rt.SessionID)
	}
}

// maxUsed is the highest generation among the session's used tokens, -1
// if none.
func (t *refreshTokens) maxUsed(sessionID string) int {
	m := -1
	for h := range t.bySession[sessionID] {
		if rt := t.byHash[h]; !rt.UsedAt.IsZero() && rt.Generation > m {
			m = rt.Generation
		}
	}
	return m
}

func copyRefresh(rt *refresh.Refresh) *refresh.Refresh {
	c := *rt
	c.Hash = slices.Clone(rt.Hash)
	return &c
}

// CreateRefresh implements refresh.Store. rt.Hash must be 32 bytes.
func (s *Store) CreateRefresh(ctx context.Context, rt *refresh.Refresh) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h, ok := key32(rt.Hash)
	if !ok {
		return authd.Invalid("hash", "invalid", "refresh token hash must be 32 bytes")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tokens.byHash[h]; ok {
		return authd.ErrConflict
	}
	s.tokens.put(h, copyRefresh(rt))
	return nil
}

// RotateRefresh implements refresh.Store: the read, refresh.Decide and the
// writes happen under one write lock.
func (s *Store) RotateRefresh(ctx context.Context, rot *refresh.Rotation) (*refresh.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	child, ok := key32(rot.ChildHash)
	if !ok {
		return nil, authd.Invalid("child_hash", "invalid", "refresh token hash must be 32 bytes")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var stored *refresh.Refresh
	h, ok := key32(rot.Hash)
	if ok {
		stored = s.tokens.byHash[h]
	}
	res := refresh.Decide(rot, stored, s.tokens.maxUsed(rot.SessionID))
	if res.Child == nil {
		return res, nil
	}
	if _, ok := s.tokens.byHash[child]; ok {
		return nil, authd.ErrConflict
	}
	stored.UsedAt = res.Token.UsedAt
	s.tokens.put(child, copyRefresh(res.Child))
	below := res.PruneBelow()
	for ch := range s.tokens.bySession[rot.SessionID] {
		if rt := s.tokens.byHash[ch]; rt.Generation < below && !rt.UsedAt.IsZero() {
			s.tokens.del(ch)
		}
	}
	return res, nil
}

// RefreshByHash implements refresh.Store.
func (s *Store) RefreshByHash(ctx context.Context, sessionID string, hash []byte) (*refresh.Refresh, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, ok := key32(hash)
	if !ok {
		return nil, authd.ErrNotFound
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	rt, ok := s.tokens.byHash[h]
	if !ok || rt.SessionID != sessionID {
		return nil, authd.ErrNotFound
	}
	return copyRefresh(rt), nil
}

// DeleteExpiredRefresh implements refresh.Store.
func (s *Store) DeleteExpiredRefresh(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for h, rt := range s.tokens.byHash {
		if rt.ExpiresAt.Before(before) {
			s.tokens.del(h)
			n++
		}
	}
	return n, nil
}
