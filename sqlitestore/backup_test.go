package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/internal/migrate"
	"github.com/authd/authd/sqlitestore"
)

// TestBackupWhileWriting: a backup taken while another goroutine commits
// rows one transaction at a time holds a consistent snapshot (a prefix of
// the rows, none half-written), passes CheckBackup at the current schema
// version, has mode 0600 and leaves no temporary file behind.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := open(t, filepath.Join(dir, "authd.db"))
	var written atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			q := fmt.Sprintf(`INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ('u%07d', 'u%07d@example.com', 'x', 1, 1)`, i, i)
			if err := sqlitestore.Exec(ctx, st, q); err != nil {
				t.Error(err)
				return
			}
			written.Store(int64(i))
		}
	})
	for written.Load() < 200 { // let some rows in first
		time.Sleep(time.Millisecond)
	}
	backup := filepath.Join(dir, "backups", "b.db")
	os.Mkdir(filepath.Dir(backup), 0o700)
	err := st.Backup(ctx, backup)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup = %v", err)
	}
	fi, err := os.Stat(backup)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(filepath.Dir(backup)); len(ents) != 1 {
		t.Errorf("backup dir holds %d entries, want only the backup (no temporary file)", len(ents))
	}
	v, err := sqlitestore.CheckBackup(ctx, backup)
	ms, _ := sqlitestore.Migrations()
	if err != nil || v != len(ms) {
		t.Fatalf("CheckBackup = %d, %v; want %d, nil", v, err, len(ms))
	}
	db, err := sql.Open("sqlite", "file:"+backup+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	var maxID string
	if err := db.QueryRow(`SELECT count(*), max(id) FROM users`).Scan(&n, &maxID); err != nil {
		t.Fatal(err)
	}
	if n < 200 || maxID != fmt.Sprintf("u%07d", n) {
		t.Errorf("backup holds %d users up to %s: want a prefix of at least 200", n, maxID)
	}
	t.Logf("backup holds %d of the %d users written during the test", n, written.Load())

	if err := st.Backup(ctx, backup); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Backup onto an existing file = %v, want fs.ErrExist", err)
	}
}

func TestCheckBackupRefuses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, []byte("this is not a database, just some bytes long enough to look like a header........................................."), 0o600)
	if _, err := sqlitestore.CheckBackup(ctx, garbage); !errors.Is(err, sqlitestore.ErrNotABackup) {
		t.Errorf("CheckBackup(garbage) = %v, want ErrNotABackup", err)
	}
	if _, err := sqlitestore.CheckBackup(ctx, filepath.Join(dir, "missing.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CheckBackup(missing) = %v, want fs.ErrNotExist", err)
	}

	// An SQLite database that is not authd's.
	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := sqlitestore.CheckBackup(ctx, other); !errors.Is(err, sqlitestore.ErrNotABackup) {
		t.Errorf("CheckBackup(other schema) = %v, want ErrNotABackup", err)
	}

	// A backup of a newer authd.
	st := open(t, filepath.Join(dir, "authd.db"))
	if err := sqlitestore.Exec(ctx, st, `INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')`); err != nil {
		t.Fatal(err)
	}
	newer := filepath.Join(dir, "newer.db")
	if err := st.Backup(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if v, err := sqlitestore.CheckBackup(ctx, newer); !errors.Is(err, migrate.ErrSchemaTooNew) || v != 9999 {
		t.Errorf("CheckBackup(newer) = %d, %v; want 9999, ErrSchemaTooNew", v, err)
	}

	// A corrupt one: a good backup with a page overwritten.
	good := filepath.Join(dir, "good.db")
	if err := sqlitestore.Exec(ctx, st, `DELETE FROM schema_migrations WHERE version = 9999`); err != nil {
		t.Fatal(err)
	}
	if err := st.Backup(ctx, good); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(good)
	if len(b) < 3*4096 {
		t.Fatalf("backup only %d bytes", len(b))
	}
	for i := 4096 + 100; i < 3*4096; i++ {
		b[i] = 0x5a
	}
	corrupt := filepath.Join(dir, "corrupt.db")
	os.WriteFile(corrupt, b, 0o600)
	if _, err := sqlitestore.CheckBackup(ctx, corrupt); !errors.Is(err, sqlitestore.ErrNotABackup) {
		t.Errorf("CheckBackup(corrupt) = %v, want ErrNotABackup", err)
	}
	if ents, _ := filepath.Glob(filepath.Join(dir, "*-wal")); len(ents) > 1 {
		t.Errorf("CheckBackup left -wal files: %v", ents)
	}
}

// TestRestore: a restore is refused while the target is open (in this
// process here; across processes in cmd/authd's test) and for a corrupt
// file, leaving the target alone; otherwise the old database, with its
// -wal, goes aside and the backup's content takes its place.
func TestRestore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	target := filepath.Join(dir, "authd.db")
	st, err := sqlitestore.Open(ctx, target, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	insert := func(id string) {
		t.Helper()
		q := `INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ('` + id + `', '` + id + `@example.com', 'x', 1, 1)`
		if err := sqlitestore.Exec(ctx, st, q); err != nil {
			t.Fatal(err)
		}
	}
	insert("before")
	backup := filepath.Join(dir, "backup.db")
	if err := st.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	insert("after")

	if _, err := sqlitestore.Restore(ctx, backup, target, time.Now()); !errors.Is(err, sqlitestore.ErrInUse) {
		t.Fatalf("Restore onto an open database = %v, want ErrInUse", err)
	}
	corrupt := filepath.Join(dir, "corrupt.db")
	os.WriteFile(corrupt, []byte("SQLite format 3\x00 but not really"), 0o600)
	if _, err := sqlitestore.Restore(ctx, corrupt, target, time.Now()); !errors.Is(err, sqlitestore.ErrNotABackup) {
		t.Fatalf("Restore(corrupt) = %v, want ErrNotABackup", err)
	}

	// Keep a -wal by copying the files as they are while the store is open
	// (as after a crash): the WAL holds "after" and must go aside with its
	// database, never be applied to the restored one.
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(target + suffix)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "crashed.db"+suffix), b, 0o600)
	}
	st.Close()
	crashed := filepath.Join(dir, "crashed.db")
	if _, err := os.Stat(crashed + "-wal"); err != nil {
		t.Fatalf("no -wal to test with: %v", err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	res, err := sqlitestore.Restore(ctx, backup, crashed, now)
	if err != nil {
		t.Fatalf("Restore = %v", err)
	}
	ms, _ := sqlitestore.Migrations()
	aside := crashed + ".before-restore-20260301T120000Z"
	if res.Version != len(ms) || len(res.Aside) == 0 || res.Aside[0] != aside {
		t.Errorf("Restore = %+v, want version %d, aside %s", res, len(ms), aside)
	}
	for _, f := range []string{crashed + "-wal", crashed + "-shm"} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s still there after the restore", f)
		}
	}
	if fi, err := os.Stat(crashed); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("restored file: %v, %v; want mode 0600", fi, err)
	}
	users := func(path string) []string {
		t.Helper()
		st, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var out []string
		for _, id := range []string{"before", "after"} {
			if _, err := st.UserByID(ctx, id); err == nil {
				out = append(out, id)
			}
		}
		return out
	}
	if got := users(crashed); len(got) != 1 || got[0] != "before" {
		t.Errorf("restored database has users %v, want [before]", got)
	}
	if got := users(aside); len(got) != 2 {
		t.Errorf("the database moved aside has users %v, want [before after] (its -wal went with it)", got)
	}
	// A second restore in the same second does not clobber the first aside.
	res, err = sqlitestore.Restore(ctx, backup, crashed, now)
	if err != nil || len(res.Aside) == 0 || res.Aside[0] != aside+"-2" {
		t.Errorf("second Restore = %+v, %v; want aside %s-2", res, err, aside)
	}
}
