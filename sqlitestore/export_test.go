package sqlitestore

import (
	"context"

	"github.com/authd/authd/internal/migrate"
)

// JournalMode reports the journal mode a reader connection sees.
func JournalMode(ctx context.Context, s *Store) (string, error) {
	var mode string
	err := s.r.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode)
	return mode, err
}

// Exec runs a statement on the writer pool.
func Exec(ctx context.Context, s *Store, query string) error {
	_, err := s.w.ExecContext(ctx, query)
	return err
}

// MigrateTo applies the first n migrations only, to build a database as
// an older binary left it.
func MigrateTo(ctx context.Context, s *Store, n int) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	_, err = migrate.Apply(ctx, s.w, ms[:n], migrate.SQLite)
	return err
}
