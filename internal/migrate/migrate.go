// Package migrate is a small schema-migration runner shared by authd's SQL
// backends. Migrations are plain SQL files embedded in the backend's binary,
// named NNNN_name.sql (for example 0001_init.sql) and numbered from 1 without
// gaps. Apply records what it ran in a schema_migrations table, runs each
// pending migration in its own transaction, is a no-op when everything is
// already applied, and refuses to touch a database whose schema is newer than
// the binary knows.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Migration is one numbered schema change.
type Migration struct {
	Version int    // 1, 2, 3…; unique and contiguous
	Name    string // the file name's part after the version, without .sql
	SQL     string // one or more statements, run in a single transaction
}

// Dialect is the SQL flavour of the database Apply runs against. The
// differences Apply cares about are the bind-parameter style, the column
// type of schema_migrations.applied_at and how it serialises concurrent
// migrators.
type Dialect int

// Supported dialects.
const (
	// SQLite uses ? placeholders. Concurrent migrators are serialised by
	// the database lock: pass a *sql.DB whose transactions begin
	// IMMEDIATE (modernc.org/sqlite DSN parameter _txlock=immediate).
	SQLite Dialect = iota + 1
	// Postgres uses $1 placeholders and TIMESTAMPTZ, and locks
	// schema_migrations inside each migration's transaction.
	Postgres
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// ph returns the n-th (1-based) bind placeholder.
func (d Dialect) ph(n int) string {
	if d == Postgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

func (d Dialect) createTable() string {
	ts := "TEXT"
	if d == Postgres {
		ts = "TIMESTAMPTZ"
	}
	return `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at ` + ts + ` NOT NULL DEFAULT CURRENT_TIMESTAMP
)`
}

// ErrSchemaTooNew is returned (wrapped) by Apply when the database records a
// migration version the binary does not have: an older binary must not run
// against a schema a newer one has changed.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

var fileRE = regexp.MustCompile(`^([0-9]+)_([A-Za-z0-9_\-]+)\.sql$`)

// Load reads the migrations in dir of fsys: every file whose name ends in
// .sql must be named NNNN_name.sql; other files are ignored. The result is in
// version order. Load returns an error when a name does not parse, when two
// files share a version, when the versions do not run 1, 2, 3… without gaps,
// or when a file is empty.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m := fileRE.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migrate: %s: file name must look like 0001_name.sql", e.Name())
		}
		v, err := strconv.Atoi(m[1])
		if err != nil || v < 1 {
			return nil, fmt.Errorf("migrate: %s: bad version %q", e.Name(), m[1])
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		if strings.TrimSpace(string(b)) == "" {
			return nil, fmt.Errorf("migrate: %s: empty migration", e.Name())
		}
		ms = append(ms, Migration{Version: v, Name: m[2], SQL: string(b)})
	}
	slices.SortStableFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if i > 0 && m.Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrate: duplicate version %d (%s and %s)", m.Version, ms[i-1].Name, m.Name)
		}
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrate: version %d (%s) follows %d: versions must start at 1 without gaps", m.Version, m.Name, i)
		}
	}
	return ms, nil
}

// Apply brings db up to date with ms (as returned by Load: sorted,
// contiguous from 1). It creates schema_migrations if needed, then runs each
// migration not yet recorded there in its own transaction, recording it in
// the same transaction, and returns how many it ran. Rerunning it is a no-op.
//
// Apply fails, running nothing, with an error wrapping ErrSchemaTooNew when
// the database records a version above the highest in ms.
func Apply(ctx context.Context, db *sql.DB, ms []Migration, dialect Dialect) (applied int, err error) {
	if dialect != SQLite && dialect != Postgres {
		return 0, fmt.Errorf("migrate: unknown dialect %v", dialect)
	}
	for i, m := range ms {
		if m.Version != i+1 {
			return 0, fmt.Errorf("migrate: migrations must be sorted and contiguous from 1; got version %d at position %d", m.Version, i)
		}
	}
	if _, err := db.ExecContext(ctx, dialect.createTable()); err != nil {
		return 0, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return 0, fmt.Errorf("migrate: read schema version: %w", err)
	}
	if current > len(ms) {
		return 0, fmt.Errorf("migrate: %w: database is at version %d, this binary knows up to %d", ErrSchemaTooNew, current, len(ms))
	}
	for _, m := range ms[current:] {
		ran, err := applyOne(ctx, db, m, dialect)
		if err != nil {
			return applied, err
		}
		if ran {
			applied++
		}
	}
	return applied, nil
}

// applyOne runs m in a transaction unless another migrator got there first.
func applyOne(ctx context.Context, db *sql.DB, m Migration, d Dialect) (ran bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: %04d_%s: begin: %w", m.Version, m.Name, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if d == Postgres {
		if _, err := tx.ExecContext(ctx, `LOCK TABLE schema_migrations IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return false, fmt.Errorf("migrate: %04d_%s: lock: %w", m.Version, m.Name, err)
		}
	}
	// Re-check under the transaction's lock: a concurrent migrator may have
	// applied it (or a later version) since Apply read the version.
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return false, fmt.Errorf("migrate: %04d_%s: read schema version: %w", m.Version, m.Name, err)
	}
	if current >= m.Version {
		return false, tx.Rollback()
	}
	if current != m.Version-1 {
		return false, fmt.Errorf("migrate: %04d_%s: database is at version %d", m.Version, m.Name, current)
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, fmt.Errorf("migrate: %04d_%s: %w", m.Version, m.Name, err)
	}
	q := `INSERT INTO schema_migrations (version, name) VALUES (` + d.ph(1) + `, ` + d.ph(2) + `)`
	if _, err := tx.ExecContext(ctx, q, m.Version, m.Name); err != nil {
		return false, fmt.Errorf("migrate: %04d_%s: record: %w", m.Version, m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate: %04d_%s: commit: %w", m.Version, m.Name, err)
	}
	return true, nil
}
