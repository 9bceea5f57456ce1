package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/event"
)

// SecretLen is the length of an encoded session secret: 32 random bytes
// (256 bits, ASVS 5.0 7.2.3 asks for at least 128) as unpadded base64url.
const SecretLen = 43

// MinIdleTimeout is the shortest idle timeout a deployment should
// configure (cmd/authd refuses less): below it no person keeps a session
// alive, and every use writes "last seen" (see Config.TouchInterval).
const MinIdleTimeout = 10 * time.Second

// Policy is the time limits of one kind of session.
type Policy struct {
	// IdleTimeout ends a session that has not been used for this long.
	IdleTimeout time.Duration
	// Lifetime ends a session this long after login, whatever its use.
	Lifetime time.Duration
}

// Config configures a Manager. Zero fields take the documented defaults.
type Config struct {
	// Cookie is the policy of cookie sessions. Default: 30 min idle, 24 h
	// absolute (NIST SP 800-63B-4 §2.2.3, AAL2 reauthentication).
	Cookie Policy
	// Token is the policy of token sessions (refresh-token chains).
	// Default: 7 days idle, 30 days absolute.
	Token Policy
	// TouchInterval bounds how often a check writes "last seen". Default 1 min:
	// a session check is a read, not a write, on the hot path. It is capped
	// at a quarter of each kind's idle timeout, so activity always moves
	// the idle expiry before it is reached, whatever the timeout.
	TouchInterval time.Duration
	// CacheTTL keeps successful look-ups in memory this long (at most 1 s;
	// 0 means no cache). Revocations made through this Manager take effect
	// at once; others (another instance or process) within CacheTTL.
	CacheTTL time.Duration
	// Events receives an event.SessionRevoked for every session ended
	// through this Manager (with its cause, its owner and the OAuth client
	// it was opened for, as far as they are known: see End and
	// RevokeUser), and for every session another instance or process
	// ended, once WatchRevocations reads it from the store (cause
	// event.CauseElsewhere, session ID only). The access-token revocation
	// set, the revocation feed and back-channel logout subscribe to it.
	// Default: event.Discard.
	Events event.Publisher
	// Now is the clock; default time.Now. Tests inject a fake.
	Now func() time.Time
}

// Manager creates, checks, lists and revokes sessions on a Store.
type Manager struct {
	store Store
	cfg   Config
	cache *cache

	localMu sync.Mutex
	local   map[string]time.Time // recently revoked through this Manager
}

// NewManager returns a Manager over store.
func NewManager(store Store, cfg Config) *Manager {
	if cfg.Cookie.IdleTimeout <= 0 {
		cfg.Cookie.IdleTimeout = 30 * time.Minute
	}
	if cfg.Cookie.Lifetime <= 0 {
		cfg.Cookie.Lifetime = 24 * time.Hour
	}
	if cfg.Token.IdleTimeout <= 0 {
		cfg.Token.IdleTimeout = 7 * 24 * time.Hour
	}
	if cfg.Token.Lifetime <= 0 {
		cfg.Token.Lifetime = 30 * 24 * time.Hour
	}
	if cfg.TouchInterval <= 0 {
		cfg.TouchInterval = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Events == nil {
		cfg.Events = event.Discard
	}
	cfg.CacheTTL = min(cfg.CacheTTL, time.Second)
	return &Manager{store: store, cfg: cfg, cache: newCache(cfg.CacheTTL, 100_000, cfg.Now)}
}

// Create starts a new session for userID and returns its secret (for the
// cookie) and the session. The secret is returned once and never stored;
// meta is stored cleaned (Meta.Clean), whatever bytes the client sent.
func (m *Manager) Create(ctx context.Context, userID string, kind Kind, meta Meta) (string, *Session, error) {
	pol := m.policy(kind)
	var raw [32]byte
	rand.Read(raw[:]) // never returns an error (crypto/rand, Go 1.24+)
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	hash := sha256.Sum256([]byte(secret))
	now := m.cfg.Now().UTC().Truncate(time.Microsecond)
	meta = meta.Clean()
	s := &Session{
		ID:         rand.Text(),
		UserID:     userID,
		Kind:       kind,
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(pol.Lifetime),
		IP:         meta.IP,
		UserAgent:  meta.UserAgent,
		ClientID:   meta.ClientID,
		AMR:        meta.AMR,
	}
	if len(s.AMR) == 0 {
		s.AMR = []string{AMRPassword}
	}
	s.AuthTime = now
	if !meta.AuthTime.IsZero() && meta.AuthTime.Before(now) {
		s.AuthTime = meta.AuthTime.UTC().Truncate(time.Microsecond)
	}
	s.IdleExpiresAt = minTime(now.Add(pol.IdleTimeout), s.ExpiresAt)
	if err := m.store.CreateSession(ctx, s, hash[:]); err != nil {
		return "", nil, fmt.Errorf("create session: %w", err)
	}
	return secret, s, nil
}

// hashSecret validates the shape of a presented secret and returns the
// SHA-256 the store is keyed by. Anything that is not exactly 43 canonical
// base64url characters is rejected before touching the store.
func hashSecret(secret string) ([32]byte, bool) {
	if len(secret) != SecretLen {
		return [32]byte{}, false
	}
	var raw [32]byte
	n, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(secret))
	if err != nil || n != len(raw) {
		return [32]byte{}, false
	}
	return sha256.Sum256([]byte(secret)), true
}

// Check returns the live session whose secret is presented. Unknown,
// malformed, expired and revoked secrets all return authd.ErrUnauthenticated;
// store failures are returned wrapped (callers fail closed).
//
// A check is a read: last-seen is written at most once per touch interval
// (TouchInterval, at most a quarter of the idle timeout).
func (m *Manager) Check(ctx context.Context, secret string) (*Session, error) {
	hash, ok := hashSecret(secret)
	if !ok {
		return nil, authd.ErrUnauthenticated
	}
	now := m.cfg.Now()
	s, hit := m.cache.get(hash, now)
	if !hit {
		var err error
		s, err = m.store.SessionByHash(ctx, hash[:], now)
		if errors.Is(err, authd.ErrNotFound) {
			return nil, authd.ErrUnauthenticated
		}
		if err != nil {
			return nil, fmt.Errorf("check session: %w", err)
		}
		m.cache.put(hash, s, now)
	}
	// The store already filters, but the decision is ours: enforce idle
	// and absolute expiry here too, whatever the backend or the cookie say.
	if !s.Live(now) {
		return nil, authd.ErrUnauthenticated
	}
	if now.Sub(s.LastSeenAt) >= m.touchEvery(s.Kind) {
		if err := m.touch(ctx, s, now); err != nil {
			m.cache.drop(s.ID)
			return nil, err
		}
		m.cache.put(hash, s, now)
	}
	return s, nil
}

// ByID returns the live session with that public ID, or authd.ErrNotFound.
func (m *Manager) ByID(ctx context.Context, id string) (*Session, error) {
	now := m.cfg.Now()
	s, err := m.store.SessionByID(ctx, id, now)
	if err != nil {
		return nil, fmt.Errorf("session by id: %w", err)
	}
	// As in Check: the store filters, the decision is ours.
	if !s.Live(now) {
		return nil, fmt.Errorf("session by id: %w", authd.ErrNotFound)
	}
	return s, nil
}

// Seen records activity on s (a refresh, for token sessions): last seen
// and idle expiry move forward, at most once per touch interval. A session
// revoked meanwhile returns authd.ErrUnauthenticated.
func (m *Manager) Seen(ctx context.Context, s *Session) error {
	now := m.cfg.Now()
	if now.Sub(s.LastSeenAt) < m.touchEvery(s.Kind) {
		return nil
	}
	return m.touch(ctx, s, now)
}

// touchEvery is how long after the last write of "last seen" a use of a
// session of kind k writes it again: TouchInterval, but at most a quarter
// of the idle timeout. An interval at or above the idle timeout would end
// sessions at login + idle whatever the activity (ASVS 5.0 7.3.1: the idle
// timeout counts from the last activity); with a quarter, a session may
// end at most a quarter of its idle timeout early, never later.
func (m *Manager) touchEvery(k Kind) time.Duration {
	return min(m.cfg.TouchInterval, m.policy(k).IdleTimeout/4)
}

func (m *Manager) touch(ctx context.Context, s *Session, now time.Time) error {
	now = now.UTC().Truncate(time.Microsecond)
	idle := minTime(now.Add(m.policy(s.Kind).IdleTimeout), s.ExpiresAt)
	err := m.store.TouchSession(ctx, s.ID, now, idle)
	if errors.Is(err, authd.ErrNotFound) {
		// Revoked between the read and the write.
		return authd.ErrUnauthenticated
	}
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	s.LastSeenAt, s.IdleExpiresAt = now, idle
	return nil
}

// List returns the user's live sessions, newest first.
func (m *Manager) List(ctx context.Context, userID string) ([]*Session, error) {
	ss, err := m.store.ListSessions(ctx, userID, m.cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return ss, nil
}

// Revoke ends the session id on behalf of its owner userID, from another of
// their sessions (the device list); cause event.CauseRevokedByUser. A
// session of another user is reported as authd.ErrNotFound, exactly like a
// missing one, so IDs of other users' sessions cannot be probed. End is
// for callers that already know the session is the one to end.
func (m *Manager) Revoke(ctx context.Context, userID, id string) error {
	now := m.cfg.Now()
	s, err := m.store.SessionByID(ctx, id, now)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	if s.UserID != userID {
		return fmt.Errorf("revoke session: %w", authd.ErrNotFound)
	}
	// Dropped after the write too (deferred), so a look-up racing with
	// the revocation cannot leave a stale entry behind.
	m.cache.drop(id)
	defer m.cache.drop(id)
	if err := m.store.RevokeSession(ctx, id, now.UTC()); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	m.revoked(ctx, s.UserID, []string{id}, map[string]string{id: s.ClientID}, now.UTC(), event.CauseRevokedByUser)
	return nil
}

// End ends the session id whoever owns it, for cause: a logout of the
// caller's own session, a refresh token replayed, an RFC 7009 revocation.
// Ending a session that is already gone is not an error.
//
// The event names the session's owner and OAuth client, which End reads
// first (from the look-up cache, else the store) so that back-channel
// logout can tell the app. A session the read does not find (already
// revoked, past its expiry) or a failed read leaves them empty: the
// revocation itself does not depend on the read.
func (m *Manager) End(ctx context.Context, id string, cause event.Cause) error {
	now := m.cfg.Now().UTC()
	var userID string
	var clients map[string]string
	s := m.peek(ctx, id, now)
	if s != nil {
		userID, clients = s.UserID, map[string]string{id: s.ClientID}
	}
	m.cache.drop(id)
	defer m.cache.drop(id)
	err := m.store.RevokeSession(ctx, id, now)
	if errors.Is(err, authd.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	if s == nil {
		m.revoked(ctx, userID, []string{id}, clients, now, cause)
		return nil
	}
	// The one session ended is in hand: the event describes it, for the
	// notice that tells its owner (a replayed refresh token).
	m.markLocal([]string{id})
	m.cfg.Events.Publish(ctx, event.Event{Kind: event.SessionRevoked, At: now, UserID: userID, SessionID: id,
		ClientID: s.ClientID, Cause: cause, IP: s.IP, UserAgent: s.UserAgent, SignedInAt: s.CreatedAt})
	return nil
}

// peek returns the session id for its owner and client, or nil when it
// is neither cached nor live in the store, or the read fails. Owner and
// client never change, so a cache entry of any age will do.
func (m *Manager) peek(ctx context.Context, id string, now time.Time) *Session {
	if s, ok := m.cache.byIDAnyAge(id); ok {
		return s
	}
	s, err := m.store.SessionByID(ctx, id, now)
	if err != nil {
		return nil
	}
	return s
}

// RevokeUser ends every session of userID except the one with ID except
// (empty: all of them), for cause. It implements user.SessionRevoker.
//
// Each event names the OAuth client of its session, from a listing of the
// user's live sessions taken just before the revocation. A session the
// listing missed (opened in between, or already past its expiry) or a
// failed listing leaves it empty: the revocation itself does not depend
// on the listing.
func (m *Manager) RevokeUser(ctx context.Context, userID, except string, cause event.Cause) error {
	now := m.cfg.Now().UTC()
	var clients map[string]string
	if ss, err := m.store.ListSessions(ctx, userID, now); err == nil {
		clients = make(map[string]string, len(ss))
		for _, s := range ss {
			clients[s.ID] = s.ClientID
		}
	}
	m.cache.dropUser(userID)
	defer m.cache.dropUser(userID)
	ids, err := m.store.RevokeUserSessions(ctx, userID, except, now)
	if err != nil {
		return fmt.Errorf("revoke user sessions: %w", err)
	}
	m.revoked(ctx, userID, ids, clients, now, cause)
	return nil
}

// revoked publishes the sessions ended through this Manager, and remembers
// them for a while so the revocation watcher does not announce them a
// second time when it reads them back from the store. clients maps
// session IDs to their OAuth client, as far as known (nil: none known).
func (m *Manager) revoked(ctx context.Context, userID string, ids []string, clients map[string]string, at time.Time, cause event.Cause) {
	if len(ids) == 0 {
		return
	}
	m.markLocal(ids)
	m.announce(ctx, userID, ids, clients, at, cause)
}

// markLocal records that ids were revoked through this Manager.
func (m *Manager) markLocal(ids []string) {
	now := m.cfg.Now()
	m.localMu.Lock()
	if m.local == nil {
		m.local = map[string]time.Time{}
	}
	for id, t := range m.local {
		if now.Sub(t) > time.Minute {
			delete(m.local, id)
		}
	}
	for _, id := range ids {
		m.local[id] = now
	}
	m.localMu.Unlock()
}

func (m *Manager) announce(ctx context.Context, userID string, ids []string, clients map[string]string, at time.Time, cause event.Cause) {
	for _, id := range ids {
		m.cfg.Events.Publish(ctx, event.Event{Kind: event.SessionRevoked, At: at, UserID: userID, SessionID: id,
			ClientID: clients[id], Cause: cause})
	}
}

// revokedHere reports whether id was revoked through this Manager in the
// last minute.
func (m *Manager) revokedHere(id string) bool {
	m.localMu.Lock()
	defer m.localMu.Unlock()
	_, ok := m.local[id]
	return ok
}

// RevokedSince lists sessions revoked at or after since (for rebuilding a
// revocation set).
func (m *Manager) RevokedSince(ctx context.Context, since time.Time) ([]Revocation, error) {
	rs, err := m.store.RevokedSessions(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("revoked sessions: %w", err)
	}
	return rs, nil
}

// Sweep deletes sessions whose absolute lifetime ended before now-grace.
func (m *Manager) Sweep(ctx context.Context, grace time.Duration) (int, error) {
	n, err := m.store.DeleteExpiredSessions(ctx, m.cfg.Now().Add(-grace))
	if err != nil {
		return 0, fmt.Errorf("sweep sessions: %w", err)
	}
	return n, nil
}

func (m *Manager) policy(k Kind) Policy {
	if k == KindToken {
		return m.cfg.Token
	}
	return m.cfg.Cookie
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
