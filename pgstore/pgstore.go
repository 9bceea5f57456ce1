// Package pgstore is authd's PostgreSQL backend. It implements
// session.Store, user.Store, refresh.Store, jwks.Store, client.Store and
// client.ConsentStore and authcode.Store over one pgxpool connection
// pool, so several authd instances can share one database.
//
// # Queries
//
// Every method is one statement sent with pgx directly (the pool's default
// QueryExecModeCacheStatement prepares each statement once per connection
// and reuses it), except where the reference backend, sqlitestore, needs a
// follow-up read: TouchSession runs a conditional UPDATE and reads the row
// only when it matched nothing; RotateRefresh is one transaction of two
// pipelined batches (see its doc). The hot path, SessionByHash, is
// a single lookup on the UNIQUE index of sessions.secret_hash with the
// liveness test in its WHERE clause.
//
// Semantics follow sqlitestore exactly: RotateRefresh decides with
// refresh.Decide inside its transaction, RetireSigningKey only moves
// retire_at earlier, RevokeUserSessions is one UPDATE … RETURNING id, and a
// zero time in a nullable column is stored as NULL.
//
// # Times
//
// Times are TIMESTAMPTZ, which keeps microseconds: callers' times round-trip
// exactly at microsecond precision (finer parts are truncated) and are
// returned in UTC.
//
// # Errors
//
// A cancelled or expired context gives an error matching ctx.Err() with
// errors.Is; a unique violation (SQLSTATE 23505) gives authd.ErrConflict;
// no row, or a row referring to one that does not exist (a foreign-key
// violation, 23503), gives authd.ErrNotFound. A lost connection (the server went away,
// was restarted or terminated the backend) is reported as a wrapped error
// that also matches authd.ErrUnavailable, and makes the pool drop its idle
// connections, so the next call dials afresh instead of drawing another dead
// connection. Every other failure is wrapped as "pgstore: <op>: <cause>".
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/authd/authd"
	"github.com/authd/authd/client"
	"github.com/authd/authd/internal/migrate"
	"github.com/authd/authd/internal/redact"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/session"
	"github.com/authd/authd/user"
)

var (
	_ session.Store = (*Store)(nil)
	_ user.Store    = (*Store)(nil)
	_ refresh.Store = (*Store)(nil)
	_ jwks.Store    = (*Store)(nil)
	_ client.Store  = (*Store)(nil)
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations returns the schema migrations this package embeds, in order.
func Migrations() ([]migrate.Migration, error) {
	return migrate.Load(migrationFS, "migrations")
}

// Options configures Open. The zero value is ready to use.
type Options struct {
	// SkipMigrations makes Open leave the schema alone; call Migrate (or
	// run the migrations elsewhere) before using the store.
	SkipMigrations bool
	// MaxConns is the most connections the pool opens. Default 16.
	MaxConns int32
	// ConnectTimeout bounds dialling and authenticating one connection.
	// Default: the DSN's connect_timeout if it sets one, else 5s.
	ConnectTimeout time.Duration
}

// Store is a PostgreSQL-backed store. It is safe for concurrent use. Create
// it with Open and release it with Close.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to the PostgreSQL database named by dsn (a URL such as
// postgres://user@host:5432/db?sslmode=disable, or keyword=value pairs) and,
// unless opts.SkipMigrations is set, applies pending migrations. It fails if
// the database cannot be reached within the connect timeout.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn's redaction of the string it quotes is best effort (a
		// password holding "@" or ":" partly survives it): hide every
		// credential (ASVS 5.0 16.2.5).
		return nil, fmt.Errorf("pgstore: open %s: %w", redact.URL(dsn), redact.Err(err, dsn))
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 16
	}
	cfg.MaxConns = opts.MaxConns
	switch {
	case opts.ConnectTimeout > 0:
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	case cfg.ConnConfig.ConnectTimeout <= 0:
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "authd"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: %w", redact.Err(err, dsn))
	}
	s := &Store{pool: pool}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, s.fail(ctx, "open", err)
	}
	if opts.SkipMigrations {
		return s, nil
	}
	if err := s.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// migrationLock is the key of the session-level advisory lock Migrate holds
// while it runs (advisory locks are per database).
const migrationLock int64 = 0x61757468645f6d67 // "authd_mg"

// Migrate applies pending schema migrations. Open calls it unless
// Options.SkipMigrations is set; rerunning it is a no-op. It fails, changing
// nothing, with an error wrapping migrate.ErrSchemaTooNew when the database
// is newer than this binary.
//
// Concurrent migrators (several instances starting at once) are serialised
// by an advisory lock held on a dedicated connection: internal/migrate locks
// schema_migrations for each migration, but its CREATE TABLE IF NOT EXISTS
// schema_migrations is not safe against a concurrent creator in PostgreSQL.
func (s *Store) Migrate(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ms, err := Migrations()
	if err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	lock, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return s.fail(ctx, "migrate: lock", err)
	}
	defer lock.Close(context.WithoutCancel(ctx)) // closing the session releases the lock
	if _, err := lock.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return s.fail(ctx, "migrate: lock", err)
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close() // leaves the pool open
	if _, err := migrate.Apply(ctx, db, ms, migrate.Postgres); err != nil {
		return s.fail(ctx, "migrate", err)
	}
	return nil // the deferred Close releases the lock: no unlock that could fail after success
}

// Close closes every connection of the pool, waiting for connections in use
// to be released. The store must not be used afterwards. It returns nil; the
// error result matches sqlitestore and io.Closer.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks that the database answers: it takes a connection from the pool
// (dialling one if none is idle) and runs an empty statement on it.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.pool.Ping(ctx); err != nil {
		return s.fail(ctx, "ping", err)
	}
	return nil
}

// fail turns a driver error into the package's error vocabulary: context
// errors stay matchable with errors.Is, unique violations become
// authd.ErrConflict, foreign-key violations authd.ErrNotFound, lost connections match authd.ErrUnavailable (and reset
// the pool), and everything else is wrapped with the operation name.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(err, cerr) {
			return fmt.Errorf("pgstore: %s: %w", op, err)
		}
		// pgx may report an interrupted statement as its own error.
		return fmt.Errorf("pgstore: %s: %w (%w)", op, cerr, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		return fmt.Errorf("pgstore: %s: %w", op, authd.ErrConflict)
	}
	if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation: a consent's user or client is gone
		return fmt.Errorf("pgstore: %s: %w", op, authd.ErrNotFound)
	}
	if connLost(err) {
		s.pool.Reset()
		return fmt.Errorf("pgstore: %s: %w: %w", op, authd.ErrUnavailable, err)
	}
	return fmt.Errorf("pgstore: %s: %w", op, err)
}

// connLost reports whether err means the connection (or the server) is
// gone rather than that the statement failed.
func connLost(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) { // could not dial, authenticate or start a session
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case len(pe.Code) == 5 && pe.Code[:2] == "08": // connection_exception
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin/crash shutdown, cannot connect now
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err)
}

// exec runs a statement and returns the rows it affected.
func (s *Store) exec(ctx context.Context, op, query string, args ...any) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return 0, s.fail(ctx, op, err)
	}
	return tag.RowsAffected(), nil
}

// nullTime is a time for a nullable column: a zero time is NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// nonNil keeps a nil slice out of a NOT NULL BYTEA column (pgx sends a nil
// slice as NULL).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// utc returns t in UTC; pgx returns TIMESTAMPTZ values in time.Local.
func utc(t time.Time) time.Time { return t.UTC() }

// scanner is pgx.Row and pgx.Rows.
type scanner interface{ Scan(dest ...any) error }

// collect reads every row of rows with scan into a non-nil slice.
func collect[T any](ctx context.Context, s *Store, op string, rows pgx.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.fail(ctx, op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return out, nil
}

// one reads a single row, mapping no row to authd.ErrNotFound.
func one[T any](ctx context.Context, s *Store, op string, row pgx.Row, scan func(scanner) (T, error)) (T, error) {
	v, err := scan(row)
	if errors.Is(err, pgx.ErrNoRows) {
		var zero T
		return zero, authd.ErrNotFound
	}
	if err != nil {
		var zero T
		return zero, s.fail(ctx, op, err)
	}
	return v, nil
}

// execOne runs a statement that must affect a row: none affected is
// authd.ErrNotFound.
func (s *Store) execOne(ctx context.Context, op, query string, args ...any) error {
	n, err := s.exec(ctx, op, query, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return authd.ErrNotFound
	}
	return nil
}
