package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/authd/authd/internal/migrate"
	"github.com/authd/authd/sqlitestore"
)

// Backups cover the SQLite store only (docs/operations.md, "Backups"):
// PostgreSQL has its own tools, and what --redis holds is Redis's to keep.

// backupSQLitePath resolves --database for backup and restore: the SQLite
// file, or a usage error naming the right tool for the other stores.
func backupSQLitePath(cmd string, c *config) (string, error) {
	what := map[string]string{"backup": "nothing to back up", "restore": "nothing to restore into"}[cmd]
	kind, loc, err := c.databaseKind()
	if err != nil {
		return "", usageError{err.Error()}
	}
	switch kind {
	case "sqlite":
		return loc, nil
	case "memory":
		return "", usageError{cmd + ": --database memory:// lives inside one serve process: " + what}
	case "postgres":
		return "", usageError{cmd + ": --database is PostgreSQL: use PostgreSQL's own tools (pg_dump/pg_restore, or pg_basebackup with WAL archiving for point-in-time recovery); see docs/operations.md#backups"}
	}
	return "", usageError{fmt.Sprintf("%s: unsupported store %q", cmd, kind)}
}

// redisNote says what a backup or restore of the SQL store leaves out when
// the hot data is in Redis.
func redisNote(c *config, w io.Writer) {
	if c.Redis == "" {
		return
	}
	fmt.Fprintln(w, "note: with --redis, sessions, refresh tokens, revocations and authorization codes are in Redis, not in the SQLite file: "+
		"this covers users, signing keys, clients, consents, emailed tokens and the mail outbox only; "+
		"keep Redis's own persistence (AOF), or users sign in again after a restore")
}

func backupCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, flags, err := adminFlags("backup", args, 1, getenv, stderr, nil)
	if err != nil {
		return err
	}
	src, err := backupSQLitePath("backup", c)
	if err != nil {
		return err
	}
	target, err := filepath.Abs(flags.Arg(0))
	if err != nil {
		return err
	}
	// Before opening anything: a missing database must not be created
	// (Open would) just to be copied, and an existing target is never
	// overwritten.
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: no database at %s (is --data-dir or --database right?): %w", src, err)
	}
	if _, err := os.Lstat(target); err == nil {
		return fmt.Errorf("backup: %s already exists: refusing to overwrite it (choose a new name)", target)
	}
	redisNote(c, stderr)
	// No migrations: a backup must not change the database it copies
	// (nor race a serving instance's start), and it works while `authd
	// serve` runs on the same file: WAL lets a reader copy a snapshot
	// while the server writes.
	st, err := sqlitestore.Open(ctx, src, sqlitestore.Options{SkipMigrations: true})
	if err != nil {
		return fmt.Errorf("backup: open %s: %w", src, err)
	}
	defer st.Close()
	if v, err := st.SchemaVersion(ctx); err != nil {
		return fmt.Errorf("backup: %w", err)
	} else if v == 0 {
		return fmt.Errorf("backup: %s has no authd schema (nothing to back up)", src)
	}
	start := time.Now()
	if err := st.Backup(ctx, target); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("backup: %s already exists: refusing to overwrite it", target)
		}
		return fmt.Errorf("backup: %w", err)
	}
	took := time.Since(start)
	// Read back what was written: a backup that fails its check is worse
	// than none (someone might trust it), so it goes.
	v, err := sqlitestore.CheckBackup(ctx, target)
	if err != nil {
		os.Remove(target)
		return fmt.Errorf("backup: the copy failed its check and was removed: %w", err)
	}
	fi, err := os.Stat(target)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up sqlite:%s to %s: %d bytes, schema version %d, in %v\n", src, target, fi.Size(), v, took.Round(time.Millisecond))
	fmt.Fprintln(stdout, "it holds password hashes, session and token hashes and signing keys sealed with the key-encryption key: keep it as safe as the database; "+
		"the key-encryption key is not in it (back it up separately)")
	return nil
}

func restoreCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, flags, err := adminFlags("restore", args, 1, getenv, stderr, nil)
	if err != nil {
		return err
	}
	target, err := backupSQLitePath("restore", c)
	if err != nil {
		return err
	}
	backup := flags.Arg(0)
	if _, err := os.Stat(backup); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := ensureDataDir(c.DataDir); err != nil {
		return err
	}
	redisNote(c, stderr)
	res, err := sqlitestore.Restore(ctx, backup, target, time.Now())
	switch {
	case errors.Is(err, sqlitestore.ErrInUse):
		return fmt.Errorf("restore: %s is open in another process: stop authd (every serve and admin command on it) first; nothing was changed", target)
	case errors.Is(err, sqlitestore.ErrNotABackup), errors.Is(err, migrate.ErrSchemaTooNew):
		return fmt.Errorf("restore: %s cannot be restored, nothing was changed: %w", backup, err)
	case err != nil:
		return fmt.Errorf("restore: %w", err)
	}
	if res.OldUnreadable != nil {
		fmt.Fprintf(stderr, "warning: the database that was at %s could not be read as SQLite (%v); it was moved aside all the same\n", target, res.OldUnreadable)
	}
	for _, f := range res.Aside {
		fmt.Fprintf(stdout, "moved the previous database aside: %s\n", f)
	}
	fmt.Fprintf(stdout, "restored %s to sqlite:%s (schema version %d)\n", backup, target, res.Version)
	if ms, err := sqlitestore.Migrations(); err == nil && res.Version < len(ms) {
		fmt.Fprintf(stdout, "its schema is older than this binary's (%d): `authd serve` migrates it at start (or run `authd migrate`)\n", len(ms))
	}
	// The signing keys in the backup are sealed with the key-encryption
	// key of the deployment it came from, which is never in the backup.
	if c.KeyEncryptionKey == "" {
		kek := filepath.Join(c.DataDir, "kek")
		if _, err := os.Stat(kek); err != nil {
			fmt.Fprintf(stderr, "warning: no key-encryption key: %s is absent and neither --key-encryption-key nor AUTHD_KEY_ENCRYPTION_KEY is set. "+
				"The signing keys in the backup are sealed with the key-encryption key of the deployment it came from: "+
				"copy its kek file to %s, or start authd with its --key-encryption-key; "+
				"a new one would not open them\n", kek, kek)
		}
	}
	return nil
}
