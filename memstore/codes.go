package memstore

import (
	"context"
	"slices"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/authcode"
)

var _ authcode.Store = (*Store)(nil)

// storedCode is an authorization code and whether it was replayed: the
// mark a replay leaves for the winner's ConfirmCode (the handshake of the
// authcode package doc).
type storedCode struct {
	code     authcode.Code
	replayed bool
}

func copyCode(c *authcode.Code) *authcode.Code {
	d := *c
	d.Hash = slices.Clone(c.Hash)
	return &d
}

// CreateCode implements authcode.Store. c.Hash must be 32 bytes.
func (s *Store) CreateCode(ctx context.Context, c *authcode.Code) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h, ok := key32(c.Hash)
	if !ok {
		return authd.Invalid("hash", "invalid", "authorization code hash must be 32 bytes")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.codes[h]; ok {
		return authd.ErrConflict
	}
	s.codes[h] = &storedCode{code: *copyCode(c)}
	return nil
}

// RedeemCode implements authcode.Store under the write lock: the first
// call marks the code redeemed, every later one marks it replayed (RFC
// 6749 §4.1.2: a code is used once; RFC 9700 §4.5: its replay revokes
// what the first use issued).
func (s *Store) RedeemCode(ctx context.Context, hash []byte, at time.Time) (*authcode.Code, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, ok := key32(hash)
	if !ok {
		return nil, authd.ErrNotFound
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.codes[h]
	if !ok {
		return nil, authd.ErrNotFound
	}
	if sc.code.RedeemedAt.IsZero() {
		sc.code.RedeemedAt = at
		return copyCode(&sc.code), nil
	}
	sc.replayed = true
	return copyCode(&sc.code), authd.ErrTokenReused
}

// ConfirmCode implements authcode.Store under the write lock. A code not
// redeemed yet has no redemption to confirm: authd.ErrNotFound.
func (s *Store) ConfirmCode(ctx context.Context, hash []byte, sessionID string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	h, ok := key32(hash)
	if !ok {
		return false, authd.ErrNotFound
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.codes[h]
	if !ok || sc.code.RedeemedAt.IsZero() {
		return false, authd.ErrNotFound
	}
	sc.code.SessionID = sessionID
	return sc.replayed, nil
}

// DeleteExpiredCodes implements authcode.Store.
func (s *Store) DeleteExpiredCodes(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for h, sc := range s.codes {
		if sc.code.ExpiresAt.Before(before) {
			delete(s.codes, h)
			n++
		}
	}
	return n, nil
}
