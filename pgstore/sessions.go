package pgstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/authd/authd"
	"github.com/authd/authd/session"
)

// sessionCols are the columns scanSession reads. revoked_at is not among
// them: every query that returns sessions returns only live ones.
const sessionCols = `id, user_id, kind, created_at, last_seen_at, idle_expires_at, expires_at, ip, user_agent, client_id, amr, auth_at`

// live is the SQL form of session.Live; $2 is now.
const live = `revoked_at IS NULL AND expires_at > $2 AND idle_expires_at > $2`

const sessionByHashSQL = `SELECT ` + sessionCols + ` FROM sessions WHERE secret_hash = $1 AND ` + live

func scanSession(sc scanner) (*session.Session, error) {
	var (
		s    session.Session
		kind string
		amr  string
		auth *time.Time
	)
	if err := sc.Scan(&s.ID, &s.UserID, &kind, &s.CreatedAt, &s.LastSeenAt, &s.IdleExpiresAt, &s.ExpiresAt,
		&s.IP, &s.UserAgent, &s.ClientID, &amr, &auth); err != nil {
		return nil, err
	}
	if auth != nil {
		s.AuthTime = auth.UTC()
	}
	if amr != "" {
		s.AMR = strings.Fields(amr)
	}
	s.Kind = session.Kind(kind)
	s.CreatedAt = utc(s.CreatedAt)
	s.LastSeenAt = utc(s.LastSeenAt)
	s.IdleExpiresAt = utc(s.IdleExpiresAt)
	s.ExpiresAt = utc(s.ExpiresAt)
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
	_, err := s.exec(ctx, "create session", `INSERT INTO sessions
		(id, secret_hash, user_id, kind, created_at, last_seen_at, idle_expires_at, expires_at, ip, user_agent, client_id, amr, auth_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		ss.ID, secretHash, ss.UserID, string(ss.Kind), ss.CreatedAt, ss.LastSeenAt,
		ss.IdleExpiresAt, ss.ExpiresAt, ss.IP, ss.UserAgent, ss.ClientID, strings.Join(ss.AMR, " "), nullTime(ss.AuthTime), nullTime(ss.RevokedAt))
	return err
}

// SessionByHash implements session.Store: one lookup on the UNIQUE index of
// secret_hash, prepared once per pooled connection by pgx.
func (s *Store) SessionByHash(ctx context.Context, hash []byte, now time.Time) (*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(hash) != 32 {
		return nil, authd.ErrNotFound
	}
	return one(ctx, s, "session by hash", s.pool.QueryRow(ctx, sessionByHashSQL, hash, now), scanSession)
}

// SessionByID implements session.Store.
func (s *Store) SessionByID(ctx context.Context, id string, now time.Time) (*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return one(ctx, s, "session by id",
		s.pool.QueryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = $1 AND `+live, id, now), scanSession)
}

// TouchSession implements session.Store. The update is conditional on
// last_seen_at being older, so concurrent touches never move it backwards;
// only when that update matches nothing does a second query tell an older
// touch of a live session (nil) from a missing or revoked one (ErrNotFound).
//
// Like memstore and sqlitestore, it does not check expiry: the store is not
// given the current time, and a session past its idle limit stays dead to
// lookups.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	n, err := s.exec(ctx, "touch session", `UPDATE sessions SET last_seen_at = $1, idle_expires_at = $2
		WHERE id = $3 AND revoked_at IS NULL AND last_seen_at < $1`,
		lastSeen, idleExpires, id)
	if err != nil || n > 0 {
		return err
	}
	var one int
	err = s.pool.QueryRow(ctx, `SELECT 1 FROM sessions WHERE id = $1 AND revoked_at IS NULL`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return authd.ErrNotFound
	}
	if err != nil {
		return s.fail(ctx, "touch session", err)
	}
	return nil
}

// ListSessions implements session.Store: live sessions, newest first (ties
// by ID).
func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+sessionCols+` FROM sessions
		WHERE user_id = $1 AND `+live+` ORDER BY created_at DESC, id ASC`, userID, now)
	return collect(ctx, s, "list sessions", rows, err, scanSession)
}

// RevokeSession implements session.Store with one conditional UPDATE, so of
// concurrent revokes exactly one succeeds.
func (s *Store) RevokeSession(ctx context.Context, id string, at time.Time) error {
	return s.execOne(ctx, "revoke session",
		`UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, at, id)
}

// RevokeUserSessions implements session.Store with one UPDATE … RETURNING id.
func (s *Store) RevokeUserSessions(ctx context.Context, userID, except string, at time.Time) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx,
		`UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL RETURNING id`,
		at, userID, except)
	return collect(ctx, s, "revoke user sessions", rows, err, func(sc scanner) (string, error) {
		var id string
		err := sc.Scan(&id)
		return id, err
	})
}

// RevokedSessions implements session.Store. It reads the partial index
// sessions_revoked_at.
func (s *Store) RevokedSessions(ctx context.Context, since time.Time) ([]session.Revocation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx,
		`SELECT id, revoked_at, expires_at FROM sessions WHERE revoked_at >= $1 ORDER BY revoked_at, id`, since)
	return collect(ctx, s, "revoked sessions", rows, err, func(sc scanner) (session.Revocation, error) {
		var r session.Revocation
		var rev pgtype.Timestamptz
		if err := sc.Scan(&r.ID, &rev, &r.ExpiresAt); err != nil {
			return r, err
		}
		r.RevokedAt = utc(rev.Time)
		r.ExpiresAt = utc(r.ExpiresAt)
		return r, nil
	})
}

// DeleteExpiredSessions implements session.Store.
func (s *Store) DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, "delete expired sessions", `DELETE FROM sessions WHERE expires_at < $1`, before)
	return int(n), err
}
