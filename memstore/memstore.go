// Package memstore is an in-memory implementation of authd's stores, for
// `--database memory://`, tests and examples. Nothing survives a restart.
package memstore

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/audit"
	"github.com/authd/authd/client"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/session"
	"github.com/authd/authd/user"
	"github.com/authd/authd/webhook"
)

var (
	_ session.Store = (*Store)(nil)
	_ user.Store    = (*Store)(nil)
)

// Store holds users and sessions in maps under one RWMutex. The zero value
// is not usable; call New.
type Store struct {
	mu       sync.RWMutex
	users    map[string]*user.User // by ID
	emails   map[string]string     // email → ID
	sessions map[string]*session.Session
	byHash   map[[32]byte]string // secret hash → session ID
	hashOf   map[string][32]byte // session ID → secret hash

	tokens      refreshTokens
	keys        map[string]*jwks.StoredKey            // by KID
	clients     map[string]*client.Client             // by ID
	clientNames map[string]string                     // name → ID
	consents    map[string]map[string]*client.Consent // user ID → client ID → consent
	codes       map[[32]byte]*storedCode              // authorization codes by hash
	emailTokens map[[32]byte]*user.Token              // emailed tokens by hash
	outbox      map[string]*mail.Message              // queued mails by ID
	mailErrors  map[string]string                     // outbox ID → why its last attempt failed (Retry)
	events      []*audit.Event                        // the audit trail, in recording order
	hookSubs    map[string]*webhook.Subscription      // webhook subscriptions by ID
	hookOutbox  map[string]*hookDelivery              // queued webhook deliveries by ID
	mfa         mfaState                              // second factors (mfa.go)
}

// New returns an empty Store.
func New() *Store {
	return &Store{
		users:    map[string]*user.User{},
		emails:   map[string]string{},
		sessions: map[string]*session.Session{},
		byHash:   map[[32]byte]string{},
		hashOf:   map[string][32]byte{},

		tokens:      newRefreshTokens(),
		emailTokens: map[[32]byte]*user.Token{},
		outbox:      map[string]*mail.Message{},
		mailErrors:  map[string]string{},
		keys:        map[string]*jwks.StoredKey{},
		clients:     map[string]*client.Client{},
		clientNames: map[string]string{},
		consents:    map[string]map[string]*client.Consent{},
		codes:       map[[32]byte]*storedCode{},
		hookSubs:    map[string]*webhook.Subscription{},
		hookOutbox:  map[string]*hookDelivery{},
		mfa:         newMFAState(),
	}
}

// Close does nothing; it exists so every backend closes the same way.
func (s *Store) Close() error { return nil }

// Ping reports the store as reachable unless ctx is done.
func (s *Store) Ping(ctx context.Context) error { return ctx.Err() }

// --- users ---

func (s *Store) CreateUser(ctx context.Context, u *user.User) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.ID]; ok {
		return authd.ErrConflict
	}
	if _, ok := s.emails[u.Email]; ok {
		return authd.ErrConflict
	}
	c := *u
	s.users[u.ID] = &c
	s.emails[u.Email] = u.ID
	return nil
}

func (s *Store) UserByEmail(ctx context.Context, email string) (*user.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.emails[email]
	if !ok {
		return nil, authd.ErrNotFound
	}
	c := *s.users[id]
	return &c, nil
}

func (s *Store) UserByID(ctx context.Context, id string) (*user.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[id]
	if !ok {
		return nil, authd.ErrNotFound
	}
	c := *u
	return &c, nil
}

func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]*user.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []*user.User{}
	for _, u := range s.users {
		if u.Email > after {
			c := *u
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *user.User) int { return strings.Compare(a.Email, b.Email) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *Store) SetPasswordHash(ctx context.Context, id, hash string, at time.Time) error {
	return s.updateUser(ctx, id, func(u *user.User) { u.PasswordHash, u.UpdatedAt = hash, at })
}

func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool, at time.Time) error {
	return s.updateUser(ctx, id, func(u *user.User) { u.Disabled, u.UpdatedAt = disabled, at })
}

func (s *Store) updateUser(ctx context.Context, id string, f func(*user.User)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return authd.ErrNotFound
	}
	f(u)
	return nil
}

func (s *Store) DeleteUser(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return authd.ErrNotFound
	}
	delete(s.emails, u.Email)
	delete(s.users, id)
	delete(s.consents, id) // as ON DELETE CASCADE in the SQL stores
	s.mfa.deleteUser(id)
	return nil
}

// --- sessions ---

func (s *Store) CreateSession(ctx context.Context, ss *session.Session, secretHash []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h, ok := key32(secretHash)
	if !ok {
		return authd.Invalid("secret_hash", "invalid", "secret hash must be 32 bytes")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[ss.ID]; ok {
		return authd.ErrConflict
	}
	if _, ok := s.byHash[h]; ok {
		return authd.ErrConflict
	}
	c := *ss
	c.AMR = slices.Clone(ss.AMR)
	s.sessions[ss.ID] = &c
	s.byHash[h] = ss.ID
	s.hashOf[ss.ID] = h
	return nil
}

func (s *Store) SessionByHash(ctx context.Context, hash []byte, now time.Time) (*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, ok := key32(hash)
	if !ok {
		return nil, authd.ErrNotFound
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.byHash[h]
	if !ok {
		return nil, authd.ErrNotFound
	}
	return s.live(id, now)
}

func (s *Store) SessionByID(ctx context.Context, id string, now time.Time) (*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.live(id, now)
}

// live returns a copy of the session if it is live. Callers hold mu.
func (s *Store) live(id string, now time.Time) (*session.Session, error) {
	ss, ok := s.sessions[id]
	if !ok || !ss.Live(now) {
		return nil, authd.ErrNotFound
	}
	c := *ss
	return &c, nil
}

func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok || !ss.RevokedAt.IsZero() {
		return authd.ErrNotFound
	}
	if lastSeen.After(ss.LastSeenAt) {
		ss.LastSeenAt, ss.IdleExpiresAt = lastSeen, idleExpires
	}
	return nil
}

func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []*session.Session{}
	for _, ss := range s.sessions {
		if ss.UserID == userID && ss.Live(now) {
			c := *ss
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *session.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

func (s *Store) RevokeSession(ctx context.Context, id string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok || !ss.RevokedAt.IsZero() {
		return authd.ErrNotFound
	}
	ss.RevokedAt = at
	return nil
}

func (s *Store) RevokeUserSessions(ctx context.Context, userID, except string, at time.Time) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := []string{}
	for _, ss := range s.sessions {
		if ss.UserID == userID && ss.ID != except && ss.RevokedAt.IsZero() {
			ss.RevokedAt = at
			ids = append(ids, ss.ID)
		}
	}
	return ids, nil
}

func (s *Store) RevokedSessions(ctx context.Context, since time.Time) ([]session.Revocation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []session.Revocation{}
	for _, ss := range s.sessions {
		if !ss.RevokedAt.IsZero() && !ss.RevokedAt.Before(since) {
			out = append(out, session.Revocation{ID: ss.ID, RevokedAt: ss.RevokedAt, ExpiresAt: ss.ExpiresAt})
		}
	}
	slices.SortFunc(out, func(a, b session.Revocation) int {
		if c := a.RevokedAt.Compare(b.RevokedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

func (s *Store) DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, ss := range s.sessions {
		if ss.ExpiresAt.Before(before) {
			delete(s.byHash, s.hashOf[id])
			delete(s.hashOf, id)
			delete(s.sessions, id)
			n++
		}
	}
	return n, nil
}

// key32 turns a 32-byte hash into a map key; ok is false for any other
// length.
func key32(b []byte) (k [32]byte, ok bool) {
	if len(b) != len(k) {
		return k, false
	}
	copy(k[:], b)
	return k, true
}
