package memstore

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/user"
)

var _ user.TokenStore = (*Store)(nil)

// SetEmailVerified implements user.Store.
func (s *Store) SetEmailVerified(ctx context.Context, id, email string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok || u.Email != email {
		return authd.ErrNotFound
	}
	u.EmailVerified, u.UpdatedAt = true, at
	return nil
}

// ChangeEmail implements user.Store.
func (s *Store) ChangeEmail(ctx context.Context, id, from, to string, verified bool, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok || u.Email != from {
		return authd.ErrNotFound
	}
	if other, taken := s.emails[to]; taken && other != id {
		return authd.ErrConflict
	}
	delete(s.emails, from)
	s.emails[to] = id
	u.Email, u.EmailVerified, u.UpdatedAt = to, verified, at
	return nil
}

// insertMessage adds m to the outbox; the caller holds s.mu.
func (s *Store) insertMessage(m *mail.Message) error {
	if _, ok := s.outbox[m.ID]; ok {
		return authd.ErrConflict
	}
	c := *m
	c.Data = maps.Clone(m.Data)
	if c.NextAt.IsZero() {
		c.NextAt = c.CreatedAt
	}
	c.Attempts = 0
	s.outbox[m.ID] = &c
	return nil
}

// IssueTokens implements user.TokenStore under one lock.
func (s *Store) IssueTokens(ctx context.Context, ts []*user.Token, ms []*mail.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, t := range ts {
		if len(t.Hash) != 32 {
			return authd.Invalid("hash", "invalid", "token hash must be 32 bytes")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range ms {
		if _, ok := s.outbox[m.ID]; ok {
			return authd.ErrConflict
		}
	}
	for _, t := range ts {
		if _, ok := s.emailTokens[[32]byte(t.Hash)]; ok {
			return authd.ErrConflict
		}
	}
	for _, t := range ts {
		if t.Purpose != user.PurposeUndo {
			s.deleteTokens(t.UserID, t.Purpose)
		}
		c := *t
		c.Hash = slices.Clone(t.Hash)
		s.emailTokens[[32]byte(t.Hash)] = &c
	}
	for _, m := range ms {
		s.insertMessage(m)
	}
	return nil
}

// deleteTokens voids the user's tokens of the purposes (all when none);
// the caller holds s.mu.
func (s *Store) deleteTokens(userID string, purposes ...user.Purpose) {
	for h, t := range s.emailTokens {
		if t.UserID == userID && (len(purposes) == 0 || slices.Contains(purposes, t.Purpose)) {
			delete(s.emailTokens, h)
		}
	}
}

// UseToken implements user.TokenStore.
func (s *Store) UseToken(ctx context.Context, purpose user.Purpose, hash []byte, now time.Time) (*user.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(hash) != 32 {
		return nil, authd.ErrNotFound
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.emailTokens[[32]byte(hash)]
	if !ok || t.Purpose != purpose {
		return nil, authd.ErrNotFound
	}
	delete(s.emailTokens, [32]byte(hash))
	if !now.Before(t.ExpiresAt) {
		return nil, authd.ErrNotFound
	}
	c := *t
	return &c, nil
}

// DeleteUserTokens implements user.TokenStore.
func (s *Store) DeleteUserTokens(ctx context.Context, userID string, purposes ...user.Purpose) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteTokens(userID, purposes...)
	return nil
}

// DeleteExpiredTokens implements user.TokenStore.
func (s *Store) DeleteExpiredTokens(ctx context.Context, before time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for h, t := range s.emailTokens {
		if !t.ExpiresAt.After(before) {
			delete(s.emailTokens, h)
			n++
		}
	}
	return n, nil
}
