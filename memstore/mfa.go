package memstore

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/mfa"
)

var _ mfa.Store = (*Store)(nil)

// mfaState holds second factors under its own lock (the sign-in path
// reads it beside the users).
type mfaState struct {
	mu         sync.Mutex
	totp       map[string]*mfa.TOTP             // by user ID
	recovery   map[string]map[[32]byte]struct{} // user ID → code hashes
	challenges map[[32]byte]*mfa.Challenge      // by token hash
	creds      map[string]*mfa.Credential       // by string(credential ID)
}

func newMFAState() mfaState {
	return mfaState{
		totp:       map[string]*mfa.TOTP{},
		recovery:   map[string]map[[32]byte]struct{}{},
		challenges: map[[32]byte]*mfa.Challenge{},
		creds:      map[string]*mfa.Credential{},
	}
}

// deleteUser is ON DELETE CASCADE; the caller holds s.mu (not m.mu).
func (m *mfaState) deleteUser(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deleteLocked(id)
}

func (m *mfaState) deleteLocked(id string) {
	delete(m.totp, id)
	delete(m.recovery, id)
	for k, c := range m.creds {
		if c.UserID == id {
			delete(m.creds, k)
		}
	}
	for k, c := range m.challenges {
		if c.UserID == id {
			delete(m.challenges, k)
		}
	}
}

func (s *Store) lockMFA(ctx context.Context) (*mfaState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mfa.mu.Lock()
	return &s.mfa, nil
}

// PutTOTP implements mfa.Store.
func (s *Store) PutTOTP(ctx context.Context, t *mfa.TOTP) error {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	if old, ok := m.totp[t.UserID]; ok && old.Confirmed() {
		return authd.ErrConflict
	}
	c := *t
	c.Secret = bytes.Clone(t.Secret)
	c.ConfirmedAt, c.LastStep = time.Time{}, 0
	m.totp[t.UserID] = &c
	return nil
}

// GetTOTP implements mfa.Store.
func (s *Store) GetTOTP(ctx context.Context, userID string) (*mfa.TOTP, error) {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	t, ok := m.totp[userID]
	if !ok {
		return nil, authd.ErrNotFound
	}
	c := *t
	c.Secret = bytes.Clone(t.Secret)
	return &c, nil
}

// ConfirmTOTP implements mfa.Store.
func (s *Store) ConfirmTOTP(ctx context.Context, userID string, step int64, codes [][]byte, at time.Time) error {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	t, ok := m.totp[userID]
	if !ok || t.Confirmed() {
		return authd.ErrNotFound
	}
	set, err := codeSet(codes)
	if err != nil {
		return err
	}
	t.ConfirmedAt, t.LastStep = at, step
	m.recovery[userID] = set
	return nil
}

func codeSet(codes [][]byte) (map[[32]byte]struct{}, error) {
	set := make(map[[32]byte]struct{}, len(codes))
	for _, c := range codes {
		k, ok := key32(c)
		if !ok {
			return nil, authd.Invalid("code_hash", "invalid", "recovery code hash must be 32 bytes")
		}
		set[k] = struct{}{}
	}
	return set, nil
}

// UseTOTPStep implements mfa.Store.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	t, ok := m.totp[userID]
	if !ok || !t.Confirmed() {
		return authd.ErrNotFound
	}
	if t.LastStep >= step {
		return mfa.ErrReplayed
	}
	t.LastStep = step
	return nil
}

// DeleteTOTP implements mfa.Store.
func (s *Store) DeleteTOTP(ctx context.Context, userID string) error {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.totp[userID]; !ok {
		return authd.ErrNotFound
	}
	delete(m.totp, userID)
	delete(m.recovery, userID)
	return nil
}

// UseRecoveryCode implements mfa.Store.
func (s *Store) UseRecoveryCode(ctx context.Context, userID string, hash []byte) error {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	k, ok := key32(hash)
	if !ok {
		return authd.ErrNotFound
	}
	if _, ok := m.recovery[userID][k]; !ok {
		return authd.ErrNotFound
	}
	delete(m.recovery[userID], k)
	return nil
}

// ReplaceRecoveryCodes implements mfa.Store.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, codes [][]byte) error {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	if t, ok := m.totp[userID]; !ok || !t.Confirmed() {
		return authd.ErrNotFound
	}
	set, err := codeSet(codes)
	if err != nil {
		return err
	}
	m.recovery[userID] = set
	return nil
}

// CreateChallenge implements mfa.Store.
func (s *Store) CreateChallenge(ctx context.Context, c *mfa.Challenge) error {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	k, ok := key32(c.Hash)
	if !ok {
		return authd.Invalid("hash", "invalid", "challenge hash must be 32 bytes")
	}
	if _, ok := m.challenges[k]; ok {
		return authd.ErrConflict
	}
	cp := *c
	cp.Hash, cp.Data = bytes.Clone(c.Hash), bytes.Clone(c.Data)
	m.challenges[k] = &cp
	return nil
}

func (m *mfaState) live(hash []byte, kind string, now time.Time) (*mfa.Challenge, [32]byte, bool) {
	k, ok := key32(hash)
	if !ok {
		return nil, k, false
	}
	c, ok := m.challenges[k]
	if !ok || c.Kind != kind || !now.Before(c.ExpiresAt) {
		return nil, k, false
	}
	return c, k, true
}

// GetChallenge implements mfa.Store.
func (s *Store) GetChallenge(ctx context.Context, hash []byte, kind string, now time.Time) (*mfa.Challenge, error) {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	c, _, ok := m.live(hash, kind, now)
	if !ok {
		return nil, authd.ErrNotFound
	}
	cp := *c
	cp.Hash, cp.Data = bytes.Clone(c.Hash), bytes.Clone(c.Data)
	return &cp, nil
}

// TakeChallenge implements mfa.Store.
func (s *Store) TakeChallenge(ctx context.Context, hash []byte, kind string, now time.Time) (*mfa.Challenge, error) {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	c, k, ok := m.live(hash, kind, now)
	if !ok {
		return nil, authd.ErrNotFound
	}
	delete(m.challenges, k)
	return c, nil
}

// FailChallenge implements mfa.Store.
func (s *Store) FailChallenge(ctx context.Context, hash []byte, max int) (int, error) {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	k, ok := key32(hash)
	if !ok {
		return 0, authd.ErrNotFound
	}
	c, ok := m.challenges[k]
	if !ok {
		return 0, authd.ErrNotFound
	}
	c.Attempts++
	if c.Attempts >= max {
		delete(m.challenges, k)
		return 0, nil
	}
	return max - c.Attempts, nil
}

// DeleteExpiredChallenges implements mfa.Store.
func (s *Store) DeleteExpiredChallenges(ctx context.Context, before time.Time) (int64, error) {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	var n int64
	for k, c := range m.challenges {
		if !before.Before(c.ExpiresAt) {
			delete(m.challenges, k)
			n++
		}
	}
	return n, nil
}

func cloneCred(c *mfa.Credential) *mfa.Credential {
	cp := *c
	cp.ID, cp.PublicKey, cp.AAGUID = bytes.Clone(c.ID), bytes.Clone(c.PublicKey), bytes.Clone(c.AAGUID)
	cp.Transports = slices.Clone(c.Transports)
	return &cp
}

// AddCredential implements mfa.Store.
func (s *Store) AddCredential(ctx context.Context, c *mfa.Credential) error {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.creds[string(c.ID)]; ok {
		return authd.ErrConflict
	}
	m.creds[string(c.ID)] = cloneCred(c)
	return nil
}

// Credential implements mfa.Store.
func (s *Store) Credential(ctx context.Context, id []byte) (*mfa.Credential, error) {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	c, ok := m.creds[string(id)]
	if !ok {
		return nil, authd.ErrNotFound
	}
	return cloneCred(c), nil
}

// Credentials implements mfa.Store.
func (s *Store) Credentials(ctx context.Context, userID string) ([]*mfa.Credential, error) {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []*mfa.Credential
	for _, c := range m.creds {
		if c.UserID == userID {
			out = append(out, cloneCred(c))
		}
	}
	slices.SortFunc(out, func(a, b *mfa.Credential) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID, b.ID)
	})
	return out, nil
}

// UseCredential implements mfa.Store.
func (s *Store) UseCredential(ctx context.Context, id []byte, signCount uint32, backupState bool, at time.Time) error {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	c, ok := m.creds[string(id)]
	if !ok {
		return authd.ErrNotFound
	}
	if (c.SignCount != 0 || signCount != 0) && signCount <= c.SignCount {
		return mfa.ErrReplayed
	}
	c.SignCount, c.BackupState, c.LastUsedAt = signCount, backupState, at
	return nil
}

func (m *mfaState) owned(userID string, id []byte) (*mfa.Credential, bool) {
	c, ok := m.creds[string(id)]
	if !ok || c.UserID != userID {
		return nil, false
	}
	return c, true
}

// RenameCredential implements mfa.Store.
func (s *Store) RenameCredential(ctx context.Context, userID string, id []byte, name string) error {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	c, ok := m.owned(userID, id)
	if !ok {
		return authd.ErrNotFound
	}
	c.Name = name
	return nil
}

// DeleteCredential implements mfa.Store.
func (s *Store) DeleteCredential(ctx context.Context, userID string, id []byte) error {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.owned(userID, id); !ok {
		return authd.ErrNotFound
	}
	delete(m.creds, string(id))
	return nil
}

// Factors implements mfa.Store.
func (s *Store) Factors(ctx context.Context, userID string) (mfa.Factors, error) {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return mfa.Factors{}, err
	}
	defer m.mu.Unlock()
	var f mfa.Factors
	if t, ok := m.totp[userID]; ok && t.Confirmed() {
		f.TOTP = true
		f.RecoveryCodes = len(m.recovery[userID])
	}
	for _, c := range m.creds {
		if c.UserID == userID {
			f.Passkeys++
		}
	}
	return f, nil
}

// DeleteFactors implements mfa.Store.
func (s *Store) DeleteFactors(ctx context.Context, userID string) error {
	m, err := s.lockMFA(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.deleteLocked(userID)
	return nil
}
