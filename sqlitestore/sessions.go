package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/session"
)

// sessionCols are the columns scanSession reads. revoked_at is not among
// them: every query that returns sessions returns only live ones.
const sessionCols = `id, user_id, kind, created_at, last_seen_at, idle_expires_at, expires_at, ip, user_agent, client_id, amr, auth_at`

// live is the SQL form of session.Live; its two parameters are now, twice.
const live = `revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ?`

const sessionByHashSQL = `SELECT ` + sessionCols + ` FROM sessions WHERE secret_hash = ? AND ` + live

type scanner interface{ Scan(dest ...any) error }

func scanSession(sc scanner) (*session.Session, error) {
	var (
		s                                  session.Session
		kind                               string
		created, seen, idleExpires, expire int64
		amr                                string
		authAt                             sql.NullInt64
	)
	if err := sc.Scan(&s.ID, &s.UserID, &kind, &created, &seen, &idleExpires, &expire, &s.IP, &s.UserAgent, &s.ClientID, &amr, &authAt); err != nil {
		return nil, err
	}
	if authAt.Valid {
		s.AuthTime = fromMicros(authAt.Int64)
	}
	if amr != "" {
		s.AMR = strings.Fields(amr)
	}
	s.Kind = session.Kind(kind)
	s.CreatedAt = fromMicros(created)
	s.LastSeenAt = fromMicros(seen)
	s.IdleExpiresAt = fromMicros(idleExpires)
	s.ExpiresAt = fromMicros(expire)
	return &s, nil
}

// CreateSession implements session.Store. secretHash must be 32 bytes.
func (s *Store) CreateSession(ctx context.Context, ss *session.Session, secretHash []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(secretHash) != 32 {
		return authd.Invalid("secret_hash", "invalid", "secret hash must be 32 bytes")
	}
	var authAt any // NULL: unknown
	if !ss.AuthTime.IsZero() {
		authAt = micros(ss.AuthTime)
	}
	var revoked any // NULL while live
	if !ss.RevokedAt.IsZero() {
		revoked = micros(ss.RevokedAt)
	}
	_, err := s.exec(ctx, "create session", `INSERT INTO sessions
		(id, secret_hash, user_id, kind, created_at, last_seen_at, idle_expires_at, expires_at, ip, user_agent, client_id, amr, auth_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ss.ID, secretHash, ss.UserID, string(ss.Kind), micros(ss.CreatedAt), micros(ss.LastSeenAt),
		micros(ss.IdleExpiresAt), micros(ss.ExpiresAt), ss.IP, ss.UserAgent, ss.ClientID, strings.Join(ss.AMR, " "), authAt, revoked)
	return err
}

// SessionByHash implements session.Store. It runs a statement prepared on
// the reader pool.
func (s *Store) SessionByHash(ctx context.Context, hash []byte, now time.Time) (*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(hash) != 32 {
		return nil, authd.ErrNotFound
	}
	n := micros(now)
	var row *sql.Row
	if st := s.byHash.Load(); st != nil {
		row = st.QueryRowContext(ctx, hash, n, n)
	} else {
		row = s.r.QueryRowContext(ctx, sessionByHashSQL, hash, n, n)
	}
	return s.oneSession(ctx, "session by hash", row)
}

// SessionByID implements session.Store.
func (s *Store) SessionByID(ctx context.Context, id string, now time.Time) (*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := micros(now)
	row := s.r.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ? AND `+live, id, n, n)
	return s.oneSession(ctx, "session by id", row)
}

func (s *Store) oneSession(ctx context.Context, op string, row *sql.Row) (*session.Session, error) {
	ss, err := scanSession(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, authd.ErrNotFound
	}
	if err != nil {
		return nil, fail(ctx, op, err)
	}
	return ss, nil
}

// TouchSession implements session.Store. The update is conditional on
// last_seen_at being older, so concurrent touches never move it backwards;
// only when that update matches nothing does a second query tell an older
// touch of a live session (nil) from a missing or revoked one (ErrNotFound).
//
// Like memstore, it does not check expiry: the store is not given the
// current time, and a session past its idle limit stays dead to lookups.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	n, err := s.exec(ctx, "touch session", `UPDATE sessions SET last_seen_at = ?, idle_expires_at = ?
		WHERE id = ? AND revoked_at IS NULL AND last_seen_at < ?`,
		micros(lastSeen), micros(idleExpires), id, micros(lastSeen))
	if err != nil || n > 0 {
		return err
	}
	var one int
	err = s.r.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = ? AND revoked_at IS NULL`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return authd.ErrNotFound
	}
	if err != nil {
		return fail(ctx, "touch session", err)
	}
	return nil
}

// ListSessions implements session.Store: live sessions, newest first (ties
// by ID).
func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := micros(now)
	rows, err := s.r.QueryContext(ctx, `SELECT `+sessionCols+` FROM sessions
		WHERE user_id = ? AND `+live+` ORDER BY created_at DESC, id ASC`, userID, n, n)
	if err != nil {
		return nil, fail(ctx, "list sessions", err)
	}
	defer rows.Close()
	out := []*session.Session{}
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, fail(ctx, "list sessions", err)
		}
		out = append(out, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, "list sessions", err)
	}
	return out, nil
}

// RevokeSession implements session.Store with one conditional UPDATE, so of
// concurrent revokes exactly one succeeds.
func (s *Store) RevokeSession(ctx context.Context, id string, at time.Time) error {
	return s.execOne(ctx, "revoke session",
		`UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, micros(at), id)
}

// RevokeUserSessions implements session.Store.
func (s *Store) RevokeUserSessions(ctx context.Context, userID, except string, at time.Time) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.w.QueryContext(ctx,
		`UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND id <> ? AND revoked_at IS NULL RETURNING id`,
		micros(at), userID, except)
	if err != nil {
		return nil, fail(ctx, "revoke user sessions", err)
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fail(ctx, "revoke user sessions", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, "revoke user sessions", err)
	}
	return ids, nil
}

// RevokedSessions implements session.Store.
func (s *Store) RevokedSessions(ctx context.Context, since time.Time) ([]session.Revocation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx,
		`SELECT id, revoked_at, expires_at FROM sessions WHERE revoked_at >= ? ORDER BY revoked_at, id`, micros(since))
	if err != nil {
		return nil, fail(ctx, "revoked sessions", err)
	}
	defer rows.Close()
	out := []session.Revocation{}
	for rows.Next() {
		var id string
		var rev, exp int64
		if err := rows.Scan(&id, &rev, &exp); err != nil {
			return nil, fail(ctx, "revoked sessions", err)
		}
		out = append(out, session.Revocation{ID: id, RevokedAt: fromMicros(rev), ExpiresAt: fromMicros(exp)})
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, "revoked sessions", err)
	}
	return out, nil
}

// DeleteExpiredSessions implements session.Store.
func (s *Store) DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, "delete expired sessions", `DELETE FROM sessions WHERE expires_at < ?`, micros(before))
	return int(n), err
}
