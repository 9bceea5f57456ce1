// Package sqlitestore is authd's SQLite backend: one file holds users,
// sessions, refresh tokens, signing keys, clients, consents and
// authorization codes (session.Store, user.Store, refresh.Store,
// jwks.Store, client.Store, client.ConsentStore and authcode.Store; each
// is asserted next to its methods).
//
// # Two pools, one file
//
// SQLite allows many readers but only one writer at a time. Left to a single
// database/sql pool, concurrent logins open several connections that each try
// to write; they collide on the file lock and, depending on timing, fail with
// SQLITE_BUSY ("database is locked") even with a busy timeout, because a
// deferred transaction that read first cannot always upgrade to a write.
//
// Store therefore opens the file twice:
//
//   - a writer pool limited to one connection (SetMaxOpenConns(1)), whose
//     transactions begin IMMEDIATE. Every INSERT, UPDATE and DELETE goes
//     through it, so in-process writers queue in database/sql instead of
//     fighting over the SQLite lock;
//   - a reader pool of Options.ReadConns connections, marked query_only, for
//     every lookup. The database is in WAL journal mode, where readers see
//     the last committed state without blocking the writer or being blocked
//     by it.
//
// Every connection of both pools gets its pragmas from the DSN
// (busy_timeout, journal_mode=WAL, synchronous=NORMAL, foreign_keys=ON), so a
// connection the pool opens later is configured exactly like the first.
//
// The hot path, SessionByHash (one lookup per authenticated request), is a
// statement prepared once on the reader pool.
//
// Times are stored as INTEGER unix microseconds in UTC, so they round-trip
// exactly at microsecond precision and liveness is filtered in SQL with
// integer comparisons.
package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/authd/authd"
	"github.com/authd/authd/internal/migrate"
	"github.com/authd/authd/session"
	"github.com/authd/authd/user"
)

var (
	_ session.Store = (*Store)(nil)
	_ user.Store    = (*Store)(nil)
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations returns the schema migrations this package embeds, in order.
func Migrations() ([]migrate.Migration, error) {
	return migrate.Load(migrationFS, "migrations")
}

// Options configures Open. The zero value is ready to use.
type Options struct {
	// BusyTimeout is how long a connection waits for a lock held by another
	// connection (for example another process) before failing. Default 5s.
	BusyTimeout time.Duration
	// ReadConns is the size of the reader pool. Default 4.
	ReadConns int
	// SkipMigrations makes Open leave the schema alone; call Migrate (or
	// run the migrations elsewhere) before using the store.
	SkipMigrations bool
}

// Store is a SQLite-backed session.Store and user.Store. It is safe for
// concurrent use. Create it with Open and release it with Close.
type Store struct {
	w *sql.DB // writer pool: exactly one connection
	r *sql.DB // reader pool: query_only connections

	byHash atomic.Pointer[sql.Stmt] // prepared SessionByHash; nil until the schema exists

	path string        // absolute path of the database file (for Backup)
	busy time.Duration // Options.BusyTimeout
}

// Open opens (creating it with mode 0600 if absent) the SQLite database at
// path and, unless opts.SkipMigrations is set, applies pending migrations.
// path is a file system path, not a URI; ":memory:" is refused because the
// two pools must share one file.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("sqlitestore: open: need a file path, got %q", path)
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open: %w", err)
	}
	if err := createFile(abs); err != nil {
		return nil, fmt.Errorf("sqlitestore: open: %w", err)
	}

	s := &Store{path: abs, busy: opts.BusyTimeout}
	s.w, err = sql.Open("sqlite", dsn(abs, opts, true))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open writer: %w", err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	// Connect the writer first: it switches the file to WAL before any
	// reader (which is query_only) opens it.
	if err := s.w.PingContext(ctx); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("sqlitestore: open writer: %w", err)
	}
	s.r, err = sql.Open("sqlite", dsn(abs, opts, false))
	if err != nil {
		s.w.Close()
		return nil, fmt.Errorf("sqlitestore: open reader: %w", err)
	}
	s.r.SetMaxOpenConns(opts.ReadConns)
	s.r.SetMaxIdleConns(opts.ReadConns)
	s.r.SetConnMaxLifetime(0)
	s.r.SetConnMaxIdleTime(0)
	if err := s.r.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlitestore: open reader: %w", err)
	}
	if opts.SkipMigrations {
		// Prepare now if the schema is already there; Migrate prepares
		// otherwise, and SessionByHash falls back to an unprepared query.
		_ = s.prepare(ctx)
		return s, nil
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// createFile creates path with mode 0600 if it does not exist. An existing
// file is left as it is.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil { // in case the umask was odd
		f.Close()
		return err
	}
	return f.Close()
}

// dsn builds a modernc.org/sqlite URI DSN for path. The _pragma and _txlock
// parameters are applied by the driver to every new connection.
func dsn(path string, opts Options, writer bool) string {
	q := url.Values{}
	q.Set("mode", "rw") // the file exists; never let SQLite create it with other permissions
	pragmas := []string{
		"busy_timeout(" + strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10) + ")",
		"journal_mode(WAL)",
		"synchronous(NORMAL)",
		"foreign_keys(ON)",
	}
	if writer {
		q.Set("_txlock", "immediate")
	} else {
		pragmas = append(pragmas, "query_only(1)")
	}
	q["_pragma"] = pragmas
	u := url.URL{Scheme: "file", Path: path}
	return "file:" + u.EscapedPath() + "?" + q.Encode()
}

// Migrate applies pending schema migrations. Open calls it unless
// Options.SkipMigrations is set; rerunning it is a no-op.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := Migrations()
	if err != nil {
		return fmt.Errorf("sqlitestore: %w", err)
	}
	if _, err := migrate.Apply(ctx, s.w, ms, migrate.SQLite); err != nil {
		return fmt.Errorf("sqlitestore: %w", err)
	}
	return s.prepare(ctx)
}

func (s *Store) prepare(ctx context.Context) error {
	if s.byHash.Load() != nil {
		return nil
	}
	st, err := s.r.PrepareContext(ctx, sessionByHashSQL)
	if err != nil {
		return fmt.Errorf("sqlitestore: prepare: %w", err)
	}
	if !s.byHash.CompareAndSwap(nil, st) {
		st.Close()
	}
	return nil
}

// Close releases both pools. The store must not be used afterwards.
func (s *Store) Close() error {
	var errs []error
	if st := s.byHash.Swap(nil); st != nil {
		errs = append(errs, st.Close())
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	// The writer closes last so that the final connection checkpoints the
	// WAL into the main file.
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlitestore: close: %w", err)
	}
	return nil
}

// Ping checks that both pools can reach the database.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fail(ctx, "ping reader", err)
	}
	if err := s.w.PingContext(ctx); err != nil {
		return fail(ctx, "ping writer", err)
	}
	return nil
}

// fail turns a driver error into the package's error vocabulary: context
// errors stay matchable with errors.Is, unique/primary-key violations become
// authd.ErrConflict, foreign-key violations authd.ErrNotFound, and everything else is wrapped with the operation name.
func fail(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		// The driver reports an interrupted statement as its own error.
		return fmt.Errorf("sqlitestore: %s: %w (%w)", op, cerr, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("sqlitestore: %s: %w", op, authd.ErrConflict)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			// A row refers to one that does not exist (a consent's user
			// or client).
			return fmt.Errorf("sqlitestore: %s: %w", op, authd.ErrNotFound)
		}
	}
	return fmt.Errorf("sqlitestore: %s: %w", op, err)
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// exec runs a write on the writer pool and returns the rows it affected.
func (s *Store) exec(ctx context.Context, op, query string, args ...any) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	res, err := s.w.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, fail(ctx, op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fail(ctx, op, err)
	}
	return n, nil
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
