// Package storetest opens migrated, isolated stores for tests of any package: a
// fresh SQLite file in the test's temporary directory always, and a fresh
// PostgreSQL schema when WATAN_TEST_DATABASE_URL is set, e.g.
//
//	WATAN_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//
// Each PostgreSQL store gets its own schema t_<random>, reached through the
// connection's search_path so that watan's and River's tables both land in it, and
// dropped when the test ends. Tests can therefore run in parallel on one database.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"watan"
	"watan/internal/store"
)

// EnvDatabaseURL names the environment variable holding the PostgreSQL URL tests
// use. Unset, PostgreSQL tests are skipped.
const EnvDatabaseURL = "WATAN_TEST_DATABASE_URL"

// Options tune OpenWith. Zero fields take the defaults documented on each.
type Options struct {
	// Engine to open. Default store.EngineSQLite.
	Engine store.Engine
	// Clock for the store. Default watan.SystemClock{}.
	Clock watan.Clock
	// Logger for the store. Default: discard.
	Logger *slog.Logger
	// APIKeyCacheTTL for the store (see store.Config). Default 0: no cache.
	APIKeyCacheTTL time.Duration
}

// Engines returns the engines tests should run on: SQLite always, PostgreSQL when
// EnvDatabaseURL is set.
func Engines() []store.Engine {
	es := []store.Engine{store.EngineSQLite}
	if os.Getenv(EnvDatabaseURL) != "" {
		es = append(es, store.EnginePostgres)
	}
	return es
}

// Run runs fn as one subtest per engine (named "sqlite" and "postgres"); open
// returns a new migrated, isolated store on that engine each time it is called.
func Run(t *testing.T, fn func(t *testing.T, open func(testing.TB) *store.Store)) {
	t.Helper()
	RunEngines(t, func(t *testing.T, e store.Engine) {
		fn(t, func(tb testing.TB) *store.Store { return OpenWith(tb, Options{Engine: e}) })
	})
}

// RunEngines runs fn as one subtest per engine, for tests that need OpenWith's
// options (a fake clock, say).
func RunEngines(t *testing.T, fn func(t *testing.T, e store.Engine)) {
	t.Helper()
	for _, e := range Engines() {
		t.Run(string(e), func(t *testing.T) { fn(t, e) })
	}
}

// Open returns a migrated SQLite store in a temporary file, closed when tb ends.
func Open(tb testing.TB) *store.Store {
	tb.Helper()
	return OpenWith(tb, Options{})
}

// OpenWith returns a migrated, isolated store as opts say, closed (and on
// PostgreSQL its schema dropped) when tb ends. It skips tb if opts asks for
// PostgreSQL and EnvDatabaseURL is unset.
func OpenWith(tb testing.TB, opts Options) *store.Store {
	tb.Helper()
	ctx := context.Background()
	cfg := store.Config{URL: URL(tb, opts.Engine), Clock: opts.Clock, Logger: opts.Logger, APIKeyCacheTTL: opts.APIKeyCacheTTL}
	s, err := store.Open(ctx, cfg)
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	// Registered after the schema's cleanup, so it runs before it: the pool must
	// be closed before the schema can be dropped without waiting on it.
	tb.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	return s
}

// URL returns the URL of a new, empty, unmigrated database on engine ("" means
// SQLite) for tb alone: a file in tb.TempDir(), or a PostgreSQL schema dropped when
// tb ends. Use it to test migrations or to hand a database to a whole program.
func URL(tb testing.TB, engine store.Engine) string {
	tb.Helper()
	switch engine {
	case store.EngineSQLite, "":
		return "sqlite:" + filepath.Join(tb.TempDir(), "watan.db")
	case store.EnginePostgres:
		return postgresSchema(tb)
	}
	tb.Fatalf("storetest: unknown engine %q", engine)
	return ""
}

// postgresSchema creates a schema for tb and returns a URL whose search_path
// selects it. The schema is dropped when tb ends.
func postgresSchema(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		tb.Skipf("storetest: %s is not set", EnvDatabaseURL)
	}
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("storetest: %s: %v", EnvDatabaseURL, err)
	}
	var b [8]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])

	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		tb.Fatalf("storetest: create schema: %v", err)
	}
	tb.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("storetest: drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// WarmUp prepares s for a benchmark of order creation as a database in service is:
// it calls create n times, then s.Analyze, as autovacuum would soon after a fresh
// database starts taking orders. See store.(*Store).Analyze.
func WarmUp(tb testing.TB, s *store.Store, n int, create func() error) {
	tb.Helper()
	for range n {
		if err := create(); err != nil {
			tb.Fatalf("storetest: warm up: %v", err)
		}
	}
	if err := s.Analyze(context.Background()); err != nil {
		tb.Fatalf("storetest: %v", err)
	}
}
