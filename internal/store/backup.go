package store

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// Backup writes a consistent copy of the embedded database to dest while it keeps
// serving. SQLite's VACUUM INTO reads the database in one read transaction, so the
// copy is the database as of one instant, and in WAL mode it holds up no writer.
// The copy is written to dest.partial first and renamed once SQLite has checked
// it, so dest is either absent or whole; dest must not exist yet.
//
// On PostgreSQL it refuses: pg_dump, or a base backup with WAL archiving for
// point-in-time recovery, does this job (see the README).
func (s *Store) Backup(ctx context.Context, dest string) error {
	if s.engine != EngineSQLite {
		return errors.New("store: backup copies the embedded SQLite database; on PostgreSQL use pg_dump or a base backup with WAL archiving (see the README)")
	}
	if s.path == "" {
		return errors.New("store: backup: an in-memory database has no file to copy")
	}
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("store: backup: %s already exists; choose a new file", dest)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: backup: %w", err)
	}
	partial := dest + ".partial"
	if err := os.Remove(partial); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: backup: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO $1`, partial); err != nil {
		_ = os.Remove(partial)
		return fmt.Errorf("store: backup to %s: %w", partial, err)
	}
	if err := checkSQLiteFile(ctx, partial); err != nil {
		_ = os.Remove(partial)
		return err
	}
	if err := os.Rename(partial, dest); err != nil {
		_ = os.Remove(partial)
		return fmt.Errorf("store: backup: %w", err)
	}
	return nil
}

// checkSQLiteFile opens a database file on its own and runs SQLite's quick_check.
func checkSQLiteFile(ctx context.Context, path string) error {
	db, err := openSQLite(path)
	if err != nil {
		return fmt.Errorf("store: backup: check %s: %w", path, err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&res); err != nil {
		return fmt.Errorf("store: backup: check %s: %w", path, err)
	}
	if res != "ok" {
		return fmt.Errorf("store: backup: the copy %s failed SQLite's check: %s", path, res)
	}
	return nil
}
