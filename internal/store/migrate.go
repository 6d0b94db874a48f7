package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// Migrations are numbered SQL files, one directory per engine, named
// NNNN_description.sql. A migration is never edited once released: changes go in a
// new file. Each is applied in its own transaction together with its row in
// watan_migrations, so a failed migration leaves nothing behind.
//
//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the engine's migrations in version order.
func migrations(engine Engine) ([]migration, error) {
	dir := path.Join("migrations", string(engine))
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("store: migration file %s/%s is not named NNNN_name.sql", dir, e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("store: migrations %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(migrationFS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: read migration: %w", err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

var migrationsTableDDL = map[Engine]string{
	EnginePostgres: `CREATE TABLE IF NOT EXISTS watan_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT        NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
)`,
	EngineSQLite: `CREATE TABLE IF NOT EXISTS watan_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
) STRICT`,
}

// Migrate applies watan's pending migrations, then River's. It is idempotent, and on
// PostgreSQL safe to run from several nodes at once: a transaction-scoped advisory
// lock keyed by the current schema serialises concurrent runs. It needs no privilege
// beyond creating objects in the current schema (the first of search_path).
func (s *Store) Migrate(ctx context.Context) error {
	return s.migrate(ctx, math.MaxInt, true)
}

// migrate applies watan's pending migrations up to version upTo and then, if river
// is set, River's. Tests call it with a lower upTo (through export_test.go) to build
// a database as an older binary left it.
func (s *Store) migrate(ctx context.Context, upTo int, river bool) error {
	ms, err := migrations(s.engine)
	if err != nil {
		return err
	}
	if s.engine == EnginePostgres {
		// The lock is held by an otherwise idle transaction on its own
		// connection, so that River's migrator, which uses the pool, runs under
		// it too. Rolling back releases it.
		lock, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migrate: begin lock: %w", err)
		}
		defer lock.Rollback() //nolint:errcheck // releasing the lock; nothing was written
		if _, err := lock.ExecContext(ctx,
			`SELECT pg_advisory_xact_lock(hashtext('watan.migrate:' || COALESCE(current_schema(), '')))`); err != nil {
			return fmt.Errorf("store: migrate: lock: %w", err)
		}
	}
	if _, err := s.db.ExecContext(ctx, migrationsTableDDL[s.engine]); err != nil {
		return fmt.Errorf("store: migrate: create watan_migrations: %w", err)
	}
	for _, m := range ms {
		if m.version > upTo {
			break
		}
		applied := false
		err := s.InTx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM watan_migrations WHERE version = $1`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO watan_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, s.ts(s.now())); err != nil {
				return err
			}
			applied = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
		if applied {
			s.logger.InfoContext(ctx, "applied migration", "engine", s.engine, "migration", m.name)
		}
	}
	if !river {
		return nil
	}
	rm, err := s.riverMigrator()
	if err != nil {
		return err
	}
	if _, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("store: river migrations: %w", err)
	}
	return nil
}

// riverMigrator returns River's migrator for the store's engine, over the store's pool.
func (s *Store) riverMigrator() (*rivermigrate.Migrator[*sql.Tx], error) {
	cfg := &rivermigrate.Config{Logger: s.logger}
	var (
		m   *rivermigrate.Migrator[*sql.Tx]
		err error
	)
	switch s.engine {
	case EnginePostgres:
		m, err = rivermigrate.New(riverdatabasesql.New(s.db), cfg)
	default:
		m, err = rivermigrate.New(riversqlite.New(s.db), cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("store: river migrator: %w", err)
	}
	return m, nil
}

// MigrationsCurrent reports whether every migration this binary knows, watan's and
// River's, has been applied. A database migrated by a newer binary is current too.
func (s *Store) MigrationsCurrent(ctx context.Context) (bool, error) {
	ms, err := migrations(s.engine)
	if err != nil {
		return false, err
	}
	exists := `SELECT to_regclass('watan_migrations') IS NOT NULL`
	if s.engine == EngineSQLite {
		exists = `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'watan_migrations')`
	}
	var ok bool
	if err := s.db.QueryRowContext(ctx, exists).Scan(&ok); err != nil {
		return false, fmt.Errorf("store: migrations current: %w", err)
	}
	if !ok {
		return false, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT version FROM watan_migrations`)
	if err != nil {
		return false, fmt.Errorf("store: migrations current: %w", err)
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return false, fmt.Errorf("store: migrations current: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("store: migrations current: %w", err)
	}
	for _, m := range ms {
		if !applied[m.version] {
			return false, nil
		}
	}
	rm, err := s.riverMigrator()
	if err != nil {
		return false, err
	}
	res, err := rm.Validate(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("store: river migrations current: %w", err)
	}
	return res.OK, nil
}
