package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/authd/authd/internal/migrate"
)

// Backup writes a consistent copy of the database to path while the store
// (and any other process on the same file, such as a running `authd
// serve`) goes on reading and writing.
//
// It runs VACUUM INTO on a connection of the reader pool: under WAL the
// statement reads one snapshot of the database (the last transaction
// committed when it began) without blocking writers or being blocked by
// them, and writes a compact, self-contained file with no -wal of its own.
// (query_only does not stop it: the one file it writes is the new one.)
//
// Backup refuses a path that exists (fs.ErrExist). It writes to a
// temporary file in the same directory, mode 0600, syncs it and renames it
// to path, so path either does not exist or holds a complete backup; on
// error the temporary file is removed.
func (s *Store) Backup(ctx context.Context, path string) (err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("sqlitestore: backup: %w", err)
	}
	if _, err := os.Lstat(abs); err == nil {
		return fmt.Errorf("sqlitestore: backup: %s: %w", abs, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sqlitestore: backup: %w", err)
	}
	dir, base := filepath.Split(abs)
	// VACUUM INTO writes into an empty file: create it ourselves so that
	// it has mode 0600 from the start (CreateTemp: 0600, a fresh name).
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("sqlitestore: backup: %w", err)
	}
	tmpName := tmp.Name()
	if err := tmp.Close(); err != nil {
		os.Remove(tmpName)
		return fmt.Errorf("sqlitestore: backup: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmpName)
			os.Remove(tmpName + "-journal")
		}
	}()
	// A connection of its own: the reader pool's are query_only, which
	// refuses VACUUM INTO, and the writer's would hold up every write for
	// the length of the copy. mode=ro: it cannot change the database.
	q := url.Values{}
	q.Set("mode", "ro")
	q["_pragma"] = []string{"busy_timeout(" + strconv.FormatInt(s.busy.Milliseconds(), 10) + ")"}
	u := url.URL{Scheme: "file", Path: s.path}
	db, err := sql.Open("sqlite", "file:"+u.EscapedPath()+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("sqlitestore: backup: %w", err)
	}
	_, err = db.ExecContext(ctx, `VACUUM INTO ?`, tmpName)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(ctx, "backup", err)
	}
	if err := syncFile(tmpName); err != nil {
		return fmt.Errorf("sqlitestore: backup: %w", err)
	}
	// Link, not rename: link fails if path appeared meanwhile, where a
	// rename would silently replace it.
	if err := os.Link(tmpName, abs); errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("sqlitestore: backup: %s: %w", abs, fs.ErrExist)
	} else if err != nil {
		// A file system without hard links: check again, then rename.
		if _, err := os.Lstat(abs); err == nil {
			return fmt.Errorf("sqlitestore: backup: %s: %w", abs, fs.ErrExist)
		}
		if err := os.Rename(tmpName, abs); err != nil {
			return fmt.Errorf("sqlitestore: backup: %w", err)
		}
	} else {
		os.Remove(tmpName)
	}
	if err := syncFile(dir); err != nil {
		return fmt.Errorf("sqlitestore: backup: %w", err)
	}
	return nil
}

// syncFile flushes a file (or a directory's entries) to stable storage.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	serr := f.Sync()
	cerr := f.Close()
	if serr != nil {
		return serr
	}
	return cerr
}

// ErrNotABackup is returned (wrapped) by CheckBackup when a file is not a
// sound authd SQLite database: not SQLite at all, corrupt, or without
// authd's schema.
var ErrNotABackup = errors.New("not a sound authd SQLite database")

// CheckBackup opens the database file at path read-only, runs PRAGMA
// integrity_check and returns its schema version (the number of the last
// migration applied to it).
//
// It fails with ErrNotABackup when the file is not an SQLite database, is
// corrupt, or has no authd schema, and with migrate.ErrSchemaTooNew when
// its schema is newer than this binary's migrations. It is meant for
// backups (files no process has open): it reads the file as it is,
// ignoring any -wal next to it, and creates no file.
func CheckBackup(ctx context.Context, path string) (version int, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: check backup %s: %w", path, err)
	}
	return checkBackup(ctx, abs, abs)
}

// checkBackup is CheckBackup of the file abs, called name in errors (a
// temporary copy is named after its original).
func checkBackup(ctx context.Context, abs, name string) (version int, err error) {
	fi, err := os.Stat(abs)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: check backup %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("sqlitestore: check backup: %s is not a regular file: %w", name, ErrNotABackup)
	}
	// immutable=1: no locks, no -wal or -shm created next to the file,
	// which may be in a read-only place.
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("immutable", "1")
	u := url.URL{Scheme: "file", Path: abs}
	db, err := sql.Open("sqlite", "file:"+u.EscapedPath()+"?"+q.Encode())
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: check backup %s: %w", name, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: check backup %s: %w: %w", name, ErrNotABackup, err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlitestore: check backup %s: %w", name, err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, fmt.Errorf("sqlitestore: check backup %s: %w: %w", name, ErrNotABackup, err)
	}
	rows.Close()
	if len(problems) > 0 {
		if len(problems) > 5 {
			problems = append(problems[:5], fmt.Sprintf("(%d more)", len(problems)-5))
		}
		return 0, fmt.Errorf("sqlitestore: check backup %s: %w: integrity_check: %s", name, ErrNotABackup, strings.Join(problems, "; "))
	}

	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlitestore: check backup %s: %w", name, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("sqlitestore: check backup %s: %w: no schema_migrations table", name, ErrNotABackup)
	}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return 0, fmt.Errorf("sqlitestore: check backup %s: %w", name, err)
	}
	if version < 1 {
		return 0, fmt.Errorf("sqlitestore: check backup %s: %w: no migration applied", name, ErrNotABackup)
	}
	ms, err := Migrations()
	if err != nil {
		return version, fmt.Errorf("sqlitestore: %w", err)
	}
	if version > len(ms) {
		return version, fmt.Errorf("sqlitestore: check backup %s: %w: it is at version %d, this binary knows up to %d", name, migrate.ErrSchemaTooNew, version, len(ms))
	}
	return version, nil
}

// SchemaVersion returns the number of the last migration applied to the
// store's database (0 for a database without authd's schema).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return 0, fail(ctx, "schema version", err)
	}
	if n == 0 {
		return 0, nil
	}
	var v int
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fail(ctx, "schema version", err)
	}
	return v, nil
}

// ErrInUse is returned (wrapped) by Restore when another connection, in
// this process or another (a running `authd serve`), has the target
// database open.
var ErrInUse = errors.New("the database is in use")

// Restored says what Restore did.
type Restored struct {
	// Version is the schema version of the restored database.
	Version int
	// Aside lists where the files found at the target went: the database
	// and its -wal, -shm or -journal, renamed with the suffix
	// .before-restore-<time>.
	Aside []string
	// OldUnreadable is set when the database found at the target was not
	// a readable SQLite file (so whether something had it open could
	// not be asked of SQLite); it was moved aside all the same.
	OldUnreadable error
}

// Restore replaces the database at path with a copy of the backup file.
//
//  1. It copies backup into a temporary file next to path (mode 0600) and
//     checks the copy with CheckBackup: a corrupt file, one that is not an
//     authd database, or one with a schema newer than this binary is
//     refused, and nothing at path is touched.
//  2. If a database is at path, it makes sure no one has it open: it opens
//     it with locking_mode=EXCLUSIVE and begins an exclusive transaction.
//     In WAL mode every open connection holds a shared lock on the database
//     file for as long as it is open, idle or not, and an exclusive-mode
//     connection needs the file's exclusive lock, so this fails (ErrInUse)
//     while any process has the database open. (A plain BEGIN EXCLUSIVE
//     would not do: under WAL it only takes the write lock, which an idle
//     server does not hold.) Closing that connection, the last one,
//     checkpoints the -wal into the database file, so what is moved aside
//     is complete.
//  3. It renames the database and any -wal, -shm and -journal to
//     <path>.before-restore-<UTC time> (with the same suffixes), so that
//     SQLite never applies the old database's log to the restored one,
//     then renames the copy to path.
//
// A process that opens path between steps 2 and 3 (milliseconds) is not
// detected: stop authd before restoring, and keep it stopped.
func Restore(ctx context.Context, backup, path string, now time.Time) (res Restored, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return res, fmt.Errorf("sqlitestore: restore: %w", err)
	}
	dir, base := filepath.Split(abs)
	tmpName, err := copyTemp(backup, dir, "."+base+".restore-*")
	if err != nil {
		return res, fmt.Errorf("sqlitestore: restore: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmpName)
		}
	}()
	if res.Version, err = checkBackup(ctx, tmpName, backup); err != nil {
		return res, fmt.Errorf("sqlitestore: restore: %w", err)
	}

	if _, err := os.Lstat(abs); err == nil {
		if err := lockIdle(ctx, abs); errors.Is(err, ErrInUse) {
			return res, fmt.Errorf("sqlitestore: restore: %s: %w", abs, err)
		} else if err != nil {
			res.OldUnreadable = err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("sqlitestore: restore: %w", err)
	}
	aside := abs + ".before-restore-" + now.UTC().Format("20060102T150405Z")
	for i := 2; ; i++ {
		if !anyExists(aside, "", "-wal", "-shm", "-journal") {
			break
		}
		aside = abs + ".before-restore-" + now.UTC().Format("20060102T150405Z") + "-" + strconv.Itoa(i)
	}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		err := os.Rename(abs+suffix, aside+suffix)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return res, fmt.Errorf("sqlitestore: restore: move the old database aside: %w (moved so far: %v)", err, res.Aside)
		}
		res.Aside = append(res.Aside, aside+suffix)
	}
	if err := os.Rename(tmpName, abs); err != nil {
		return res, fmt.Errorf("sqlitestore: restore: %w (the old database is at %v)", err, res.Aside)
	}
	if err := syncFile(dir); err != nil {
		return res, fmt.Errorf("sqlitestore: restore: %w", err)
	}
	return res, nil
}

func anyExists(base string, suffixes ...string) bool {
	for _, s := range suffixes {
		if _, err := os.Lstat(base + s); err == nil {
			return true
		}
	}
	return false
}

// copyTemp copies src into a new file (mode 0600) in dir named after
// pattern, synced, and returns its name.
func copyTemp(src, dir, pattern string) (name string, err error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", src)
	}
	out, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(out.Name())
		}
	}()
	if _, err := io.Copy(out, in); err != nil {
		return "", err
	}
	if err := out.Sync(); err != nil {
		return "", err
	}
	return out.Name(), out.Close()
}

// lockIdle fails with ErrInUse when another connection has the database at
// path open (see Restore). On success the database's -wal has been
// checkpointed into it. Other errors mean the file could not be read as a
// database.
func lockIdle(ctx context.Context, path string) error {
	q := url.Values{}
	q.Set("mode", "rw")
	q["_pragma"] = []string{"busy_timeout(500)", "locking_mode(EXCLUSIVE)"}
	u := url.URL{Scheme: "file", Path: path}
	db, err := sql.Open("sqlite", "file:"+u.EscapedPath()+"?"+q.Encode())
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return inUse(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN EXCLUSIVE`); err != nil {
		return inUse(err)
	}
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		return inUse(err)
	}
	return nil
}

func inUse(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED) {
		return fmt.Errorf("%w (%v)", ErrInUse, err)
	}
	return err
}
