package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"regexp"

	"modernc.org/sqlite"
)

// SQLite parses every query anew unless it is prepared, and under load parsing took
// about 40 % of the process's CPU (the profile of BenchmarkEndToEnd). Both watan's
// queries and River's are a small fixed set, so each connection keeps its prepared
// statements, keyed by query text, for as long as it lives.

// A LIMIT or OFFSET given as a parameter undoes the cache: SQLite reads the bound
// value while planning and so prepares the statement again whenever it is bound
// again. River's job fetch ("LIMIT ?5") was parsed anew on every fetch, about 0.8 ms
// each and more than half of an idle process's CPU. Written as an expression the
// value is read when the statement runs, as before SQLite 3.47, and the prepared
// statement is reused.
var limitParam = regexp.MustCompile(`(?i)\b(LIMIT|OFFSET)\s+([?$:@][0-9A-Za-z_]*)`)

// runtimeLimits rewrites "LIMIT $3" as "LIMIT ($3 + 0)", and OFFSET alike.
func runtimeLimits(query string) string {
	if !limitParam.MatchString(query) {
		return query
	}
	return limitParam.ReplaceAllString(query, "$1 ($2 + 0)")
}

// maxCachedStmts bounds a connection's cache; queries built at run time (IN lists of
// varying length) could otherwise grow it without end.
const maxCachedStmts = 512

// openSQLite opens a pool whose connections cache their prepared statements.
func openSQLite(dsn string) (*sql.DB, error) {
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite connector: %w", err)
	}
	return sql.OpenDB(stmtCachingConnector{base}), nil
}

type stmtCachingConnector struct{ driver.Connector }

func (c stmtCachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &stmtCachingConn{conn: conn, stmts: map[string]*cachedStmt{}}, nil
}

// baseConn is what the wrapper needs of modernc's connection.
type baseConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// stmtCachingConn is used by one goroutine at a time, as database/sql guarantees for
// a driver connection, so its cache needs no lock.
type stmtCachingConn struct {
	conn  driver.Conn
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	stmt driver.Stmt
	busy bool // rows from it are still open: another use would reset them
}

func (c *stmtCachingConn) base() (baseConn, error) {
	b, ok := c.conn.(baseConn)
	if !ok {
		return nil, errors.New("store: sqlite connection lacks the expected interfaces")
	}
	return b, nil
}

// cached returns the connection's statement for query, or nil when it cannot be
// used now (in use by open rows, a multi-statement script, or the cache is full).
func (c *stmtCachingConn) cached(ctx context.Context, query string) *cachedStmt {
	if cs, ok := c.stmts[query]; ok {
		if cs.busy {
			return nil
		}
		return cs
	}
	if len(c.stmts) >= maxCachedStmts {
		return nil
	}
	b, err := c.base()
	if err != nil {
		return nil
	}
	st, err := b.PrepareContext(ctx, runtimeLimits(query))
	if err != nil {
		return nil // let the uncached path report the error
	}
	cs := &cachedStmt{stmt: st}
	c.stmts[query] = cs
	return cs
}

func (c *stmtCachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	b, err := c.base()
	if err != nil {
		return nil, err
	}
	cs := c.cached(ctx, query)
	q, ok := stmtQuerier(cs)
	if len(args) == 0 || !ok {
		return b.QueryContext(ctx, query, args)
	}
	rows, err := q.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	return &releasingRows{Rows: rows, release: func() { cs.busy = false }}, nil
}

func (c *stmtCachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	b, err := c.base()
	if err != nil {
		return nil, err
	}
	if len(args) == 0 {
		// Scripts (migrations) run without arguments and may hold several statements.
		return b.ExecContext(ctx, query, args)
	}
	cs := c.cached(ctx, query)
	if cs == nil {
		return b.ExecContext(ctx, query, args)
	}
	e, ok := cs.stmt.(driver.StmtExecContext)
	if !ok {
		return b.ExecContext(ctx, query, args)
	}
	return e.ExecContext(ctx, args)
}

func stmtQuerier(cs *cachedStmt) (driver.StmtQueryContext, bool) {
	if cs == nil {
		return nil, false
	}
	q, ok := cs.stmt.(driver.StmtQueryContext)
	return q, ok
}

func (c *stmtCachingConn) Prepare(query string) (driver.Stmt, error) { return c.conn.Prepare(query) }

func (c *stmtCachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	b, err := c.base()
	if err != nil {
		return nil, err
	}
	return b.PrepareContext(ctx, query)
}

func (c *stmtCachingConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *stmtCachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	b, err := c.base()
	if err != nil {
		return nil, err
	}
	return b.BeginTx(ctx, opts)
}

func (c *stmtCachingConn) Ping(ctx context.Context) error {
	b, err := c.base()
	if err != nil {
		return err
	}
	return b.Ping(ctx)
}

func (c *stmtCachingConn) ResetSession(ctx context.Context) error {
	b, err := c.base()
	if err != nil {
		return err
	}
	return b.ResetSession(ctx)
}

func (c *stmtCachingConn) IsValid() bool {
	b, err := c.base()
	return err == nil && b.IsValid()
}

func (c *stmtCachingConn) Close() error {
	var errs []error
	for q, cs := range c.stmts {
		errs = append(errs, cs.stmt.Close())
		delete(c.stmts, q)
	}
	return errors.Join(append(errs, c.conn.Close())...)
}

// releasingRows marks its statement free again once closed.
type releasingRows struct {
	driver.Rows
	release func()
}

func (r *releasingRows) Close() error {
	err := r.Rows.Close()
	if r.release != nil {
		r.release()
		r.release = nil
	}
	return err
}
