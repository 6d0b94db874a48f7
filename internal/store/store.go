// Package store keeps watan's state in a SQL database through database/sql: SQLite
// (modernc.org/sqlite, embedded, single node) or PostgreSQL (pgx, several nodes). One
// implementation serves both engines; the few differences (time representation,
// error codes, migration locking) live in small engine switches next to the code
// that needs them.
//
// Store implements watan.TenantService, watan.AccountService, watan.CatalogService
// and watan.OrderService. Every query is scoped by tenant, and the schema backs that
// up with composite foreign keys (tenant_id, id), so a row can only ever reference
// rows of its own tenant.
//
// Timestamps are stored in UTC with microsecond precision: TIMESTAMPTZ on PostgreSQL,
// INTEGER microseconds since the Unix epoch on SQLite (compact, sortable and exact).
// Go values are truncated to microseconds before they are written, so what is read
// back equals what was written on both engines.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"os"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver

	"watan"
)

// Engine names a database engine.
type Engine string

// Supported engines.
const (
	EngineSQLite   Engine = "sqlite"
	EnginePostgres Engine = "postgres"
)

// DefaultURL is the database used when Config.URL is empty: a SQLite file in the
// working directory.
const DefaultURL = "sqlite:watan.db"

// DefaultMaxOpenConns is the PostgreSQL pool's size when Config.MaxOpenConns is zero.
const DefaultMaxOpenConns = 20

// Config configures Open.
type Config struct {
	// URL selects the engine and the database: "sqlite:path/to/file.db" (also
	// "sqlite:///abs/path.db" and "sqlite::memory:") or "postgres://..." /
	// "postgresql://..." (any pgx connection URL; runtime parameters such as
	// search_path may be given as query parameters). Default DefaultURL.
	URL string
	// Logger receives the store's few log lines (migrations applied). Default: discard.
	Logger *slog.Logger
	// Clock stamps created/updated times. Default watan.SystemClock{}.
	Clock watan.Clock
	// MaxOpenConns bounds the PostgreSQL pool. Default DefaultMaxOpenConns; at least 2, because
	// Migrate holds one connection for its lock while River migrates on another.
	// SQLite always uses exactly one connection: SQLite allows one writer at a time,
	// and queuing in the pool is cheaper and safer than SQLITE_BUSY retries.
	MaxOpenConns int
	// Sealer encrypts provider credentials and webhook secrets at rest
	// (*seal.Keyring). Default nil: they are written in plain text (tests), and a
	// sealed value read back is an error.
	Sealer Sealer
	// APIKeyCacheTTL is how long AuthenticateAPIKey may answer from memory for a
	// key it accepted, instead of reading the row on every request. A key revoked
	// or rotated through this Store is refused at once; one revoked through
	// another process (another node, the CLI) is refused once its entry expires,
	// so at most this long after. Default 0: every call reads the row. watan
	// serve uses one second (DefaultAPIKeyCacheTTL).
	APIKeyCacheTTL time.Duration
}

// DefaultAPIKeyCacheTTL is the APIKeyCacheTTL of watan serve: a revocation is
// honoured on every node within a second.
const DefaultAPIKeyCacheTTL = time.Second

// Sealer encrypts secrets at rest; *seal.Keyring implements it.
type Sealer interface {
	Seal(purpose string, plain []byte) (string, error)
	Open(purpose, sealed string) ([]byte, error)
	// Current reports whether sealed was sealed under the newest key.
	Current(sealed string) bool
}

// Store is watan's database. It is safe for concurrent use.
type Store struct {
	db     *sql.DB
	engine Engine
	path   string // the SQLite file; empty on PostgreSQL and for ":memory:"
	url    string // the PostgreSQL URL, for connections of its own (ListenChanges)
	logger *slog.Logger
	clock  watan.Clock
	sealer Sealer
	keys   *apiKeyCache // nil: not cached
	// commitBarrier: on PostgreSQL, order creation may commit asynchronously and
	// then wait for a barrier (see createOrderPostgres), because the role may call
	// pg_logical_emit_message.
	commitBarrier bool
	// events holds the timeline entries of open transactions on PostgreSQL
	// (txevents.go).
	events txEvents
}

// Compile-time checks that Store provides the domain's services.
var (
	_ watan.TenantService  = (*Store)(nil)
	_ watan.AccountService = (*Store)(nil)
	_ watan.CatalogService = (*Store)(nil)
	_ watan.OrderService   = (*Store)(nil)
)

// sqlitePragmas configure every SQLite connection: WAL so that readers never block
// the writer, a busy timeout in case another process touches the file, foreign keys
// (off by default in SQLite), and NORMAL sync, which in WAL mode is durable across
// application crashes and loses at most the last transactions on power loss.
// _txlock=immediate makes every BEGIN take the write lock up front, so a transaction
// never fails half-way when it upgrades from reading to writing.
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// Open connects to the database described by cfg and checks that it answers. It does
// not migrate; call Migrate.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s := &Store{logger: cfg.Logger, clock: cfg.Clock, sealer: cfg.Sealer, keys: newAPIKeyCache(cfg.APIKeyCacheTTL)}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = watan.SystemClock{}
	}
	url := cfg.URL
	if url == "" {
		url = DefaultURL
	}
	var err error
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		s.engine = EnginePostgres
		s.url = withConnectTimeout(url)
		if s.db, err = sql.Open("pgx", s.url); err != nil {
			return nil, fmt.Errorf("store: open postgres: %w", err)
		}
		n := cfg.MaxOpenConns
		if n == 0 {
			n = DefaultMaxOpenConns
		}
		n = max(n, 2)
		s.db.SetMaxOpenConns(n)
		// Keep idle connections, however long they idle: the default of 2 makes
		// a busy pool open and close connections all the time, a new backend is
		// slow on its first statements (see Warm), and an idle one costs no CPU.
		s.db.SetMaxIdleConns(n)
		s.db.SetConnMaxIdleTime(0)
	case strings.HasPrefix(url, "sqlite:"):
		s.engine = EngineSQLite
		path := strings.TrimPrefix(url, "sqlite:")
		path = strings.TrimPrefix(path, "//") // sqlite:///abs/path → /abs/path
		if path == "" {
			return nil, fmt.Errorf("store: sqlite URL %q has no path", url)
		}
		if file, _, _ := strings.Cut(path, "?"); file != ":memory:" && !strings.HasPrefix(file, "file:") {
			s.path = file
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		if s.db, err = openSQLite(path + sep + sqlitePragmas); err != nil {
			return nil, fmt.Errorf("store: open sqlite: %w", err)
		}
		s.db.SetMaxOpenConns(1)
		// Never close the one connection: for ":memory:" it is the database.
		s.db.SetMaxIdleConns(1)
		s.db.SetConnMaxLifetime(0)
		s.db.SetConnMaxIdleTime(0)
	default:
		return nil, fmt.Errorf("store: unsupported database URL (want sqlite:PATH or postgres://...)")
	}
	if err := s.Ping(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	if s.engine == EnginePostgres {
		err := s.db.QueryRowContext(ctx, `SELECT has_function_privilege(
			'pg_catalog.pg_logical_emit_message(boolean, text, text)', 'EXECUTE')`).Scan(&s.commitBarrier)
		if err != nil {
			s.db.Close()
			return nil, fmt.Errorf("store: postgres: %w", err)
		}
	}
	return s, nil
}

// defaultConnectTimeout bounds a connection attempt to PostgreSQL when the URL (or
// PGCONNECT_TIMEOUT) does not: without a bound, a database host that drops packets
// instead of refusing holds every request that needs a new connection for the
// operating system's connect timeout (minutes), where an answer of 503 is due.
const defaultConnectTimeout = "5"

// withConnectTimeout adds connect_timeout=defaultConnectTimeout to a PostgreSQL URL
// that sets none.
func withConnectTimeout(raw string) string {
	if os.Getenv("PGCONNECT_TIMEOUT") != "" {
		return raw
	}
	u, err := neturl.Parse(raw)
	if err != nil {
		return raw // pgx reports the bad URL
	}
	q := u.Query()
	if q.Has("connect_timeout") {
		return raw
	}
	q.Set("connect_timeout", defaultConnectTimeout)
	u.RawQuery = q.Encode()
	return u.String()
}

// Close closes the pool. Anything sharing it (River) must be stopped first.
func (s *Store) Close() error { return s.db.Close() }

// DB returns the pool, for River's driver. On SQLite it has one connection: never
// use it directly while holding a transaction from the same pool.
func (s *Store) DB() *sql.DB { return s.db }

// Engine reports which engine the store runs on.
func (s *Store) Engine() Engine { return s.engine }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.engine, err)
	}
	return nil
}

// InTx runs fn in a transaction and commits it if fn returns nil; otherwise, or if fn
// panics, it rolls back. On SQLite the transaction takes the write lock at BEGIN.
// Nothing is retried. fn's error is returned as is so that *watan.Error codes reach
// the caller; a PostgreSQL deadlock, which only writers that change the same order
// in different lock orders meet, also wraps watan.ErrOrderChanged, for the engine
// to redo its change from a fresh reading. fn must not use the pool (s.DB() or non-Tx store methods): on SQLite
// the transaction holds the only connection.
func (s *Store) InTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if s.engine == EnginePostgres {
		s.events.begin(tx)
	}
	defer func() {
		s.events.end(tx)
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		if isDeadlock(err) {
			return fmt.Errorf("%w: %w", watan.ErrOrderChanged, err)
		}
		return err
	}
	if s.engine == EnginePostgres {
		if err := s.flushEvents(ctx, tx, s.events.end(tx)); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Analyze refreshes PostgreSQL's statistics of the tables orders are created in
// (ANALYZE; nothing on SQLite) at once. A running system has KeepTables (or
// autovacuum) do it; a benchmark of a few seconds on a fresh database calls it
// after a warm-up so as not to measure plans made for empty tables, which each
// connection keeps until the tables are analyzed (the foreign key checks on
// orders, for one, then scan all of a tenant's orders).
func (s *Store) Analyze(ctx context.Context) error {
	if s.engine != EnginePostgres {
		return nil
	}
	// Unqualified, the tables resolve through search_path like every query's.
	if _, err := s.db.ExecContext(ctx, `ANALYZE orders, order_events, ledger_entries, accounts, packages, api_keys, river_job`); err != nil {
		return fmt.Errorf("store: analyze: %w", err)
	}
	return nil
}

// now is the store's clock truncated to what both engines can store.
func (s *Store) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

// errNotFound is the error for a row that does not exist for the tenant.
func errNotFound(what string, key any) error {
	return watan.Errorf(watan.ECodeNotFound, "%s %v not found", what, key)
}

// isNoRows reports whether err means that a query matched no row.
func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
