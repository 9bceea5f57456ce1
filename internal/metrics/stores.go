package metrics

import (
	"context"
	"time"

	"github.com/authd/authd/mail"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/session"
	"github.com/authd/authd/user"
	"github.com/prometheus/client_golang/prometheus"
)

// The store wrappers time the calls on the request path (each op below
// is an "op" label of authd_store_call_duration_seconds); every other
// method passes through the embedded store untimed. backend names the
// store's kind: sqlite, postgres, redis or memory.

// Sessions times s's CreateSession, SessionByHash, SessionByID,
// TouchSession, RevokeSession, RevokeUserSessions and ListSessions.
func (m *Metrics) Sessions(backend string, s session.Store) session.Store {
	t := func(op string) prometheus.Observer { return m.storeTimer(backend, op) }
	return &sessionStore{Store: s,
		create: t("session_create"), byHash: t("session_by_hash"), byID: t("session_by_id"), touch: t("session_touch"),
		revoke: t("session_revoke"), revokeUser: t("session_revoke_user"), list: t("session_list")}
}

type sessionStore struct {
	session.Store
	create, byHash, byID, touch, revoke, revokeUser, list prometheus.Observer
}

func since(o prometheus.Observer, start time.Time) { o.Observe(time.Since(start).Seconds()) }

func (s *sessionStore) CreateSession(ctx context.Context, sess *session.Session, secretHash []byte) error {
	defer since(s.create, time.Now())
	return s.Store.CreateSession(ctx, sess, secretHash)
}

func (s *sessionStore) SessionByHash(ctx context.Context, hash []byte, now time.Time) (*session.Session, error) {
	defer since(s.byHash, time.Now())
	return s.Store.SessionByHash(ctx, hash, now)
}

func (s *sessionStore) SessionByID(ctx context.Context, id string, now time.Time) (*session.Session, error) {
	defer since(s.byID, time.Now())
	return s.Store.SessionByID(ctx, id, now)
}

func (s *sessionStore) TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	defer since(s.touch, time.Now())
	return s.Store.TouchSession(ctx, id, lastSeen, idleExpires)
}

func (s *sessionStore) ListSessions(ctx context.Context, userID string, now time.Time) ([]*session.Session, error) {
	defer since(s.list, time.Now())
	return s.Store.ListSessions(ctx, userID, now)
}

func (s *sessionStore) RevokeSession(ctx context.Context, id string, at time.Time) error {
	defer since(s.revoke, time.Now())
	return s.Store.RevokeSession(ctx, id, at)
}

func (s *sessionStore) RevokeUserSessions(ctx context.Context, userID, except string, at time.Time) ([]string, error) {
	defer since(s.revokeUser, time.Now())
	return s.Store.RevokeUserSessions(ctx, userID, except, at)
}

// Refresh times r's CreateRefresh, RotateRefresh and RefreshByHash.
func (m *Metrics) Refresh(backend string, r refresh.Store) refresh.Store {
	t := func(op string) prometheus.Observer { return m.storeTimer(backend, op) }
	return &refreshStore{Store: r, create: t("refresh_create"), rotate: t("refresh_rotate"), byHash: t("refresh_by_hash")}
}

type refreshStore struct {
	refresh.Store
	create, rotate, byHash prometheus.Observer
}

func (s *refreshStore) CreateRefresh(ctx context.Context, rt *refresh.Refresh) error {
	defer since(s.create, time.Now())
	return s.Store.CreateRefresh(ctx, rt)
}

func (s *refreshStore) RotateRefresh(ctx context.Context, rot *refresh.Rotation) (*refresh.Result, error) {
	defer since(s.rotate, time.Now())
	return s.Store.RotateRefresh(ctx, rot)
}

func (s *refreshStore) RefreshByHash(ctx context.Context, sessionID string, hash []byte) (*refresh.Refresh, error) {
	defer since(s.byHash, time.Now())
	return s.Store.RefreshByHash(ctx, sessionID, hash)
}

// Users times u's CreateUser, UserByEmail, UserByID and SetPasswordHash.
func (m *Metrics) Users(backend string, u user.Store) user.Store {
	t := func(op string) prometheus.Observer { return m.storeTimer(backend, op) }
	return &userStore{Store: u, create: t("user_create"), byEmail: t("user_by_email"), byID: t("user_by_id"),
		setHash: t("user_set_password_hash")}
}

type userStore struct {
	user.Store
	create, byEmail, byID, setHash prometheus.Observer
}

func (s *userStore) CreateUser(ctx context.Context, u *user.User) error {
	defer since(s.create, time.Now())
	return s.Store.CreateUser(ctx, u)
}

func (s *userStore) UserByEmail(ctx context.Context, email string) (*user.User, error) {
	defer since(s.byEmail, time.Now())
	return s.Store.UserByEmail(ctx, email)
}

func (s *userStore) UserByID(ctx context.Context, id string) (*user.User, error) {
	defer since(s.byID, time.Now())
	return s.Store.UserByID(ctx, id)
}

func (s *userStore) SetPasswordHash(ctx context.Context, id, hash string, at time.Time) error {
	defer since(s.setHash, time.Now())
	return s.Store.SetPasswordHash(ctx, id, hash, at)
}

// Outbox counts the mails queued through o (authd_mails_total{outcome=
// "queued"}); the sender's outcomes come from mail.SenderConfig.Observe.
func (m *Metrics) Outbox(o mail.Outbox) mail.Outbox { return &outbox{Outbox: o, m: m} }

type outbox struct {
	mail.Outbox
	m *Metrics
}

func (o *outbox) Enqueue(ctx context.Context, msg *mail.Message) error {
	err := o.Outbox.Enqueue(ctx, msg)
	if err == nil {
		o.m.mailsQueued(1)
	}
	return err
}

// Tokens counts the mails queued with emailed tokens (reset,
// verification and address-change links).
func (m *Metrics) Tokens(t user.TokenStore) user.TokenStore { return &tokenStore{TokenStore: t, m: m} }

type tokenStore struct {
	user.TokenStore
	m *Metrics
}

func (t *tokenStore) IssueTokens(ctx context.Context, ts []*user.Token, ms []*mail.Message) error {
	err := t.TokenStore.IssueTokens(ctx, ts, ms)
	if err == nil && len(ms) > 0 {
		t.m.mailsQueued(len(ms))
	}
	return err
}
