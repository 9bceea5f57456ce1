package sqlitestore

import "context"

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
