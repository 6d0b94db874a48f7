package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"watan"
)

// moveTable is one table of the schema as a move sees it. Every table watan's
// migrations create must be listed here, copied or skipped with the reason, and
// TestMoveCoversEveryTable fails otherwise: a table added later cannot be forgotten
// by the move. Copied tables are listed parents first, so that each row's foreign
// keys point at rows already copied.
type moveTable struct {
	name string
	// skip says why the table is not copied row by row; "" copies it.
	skip string
}

var moveTables = []moveTable{
	{name: "tenants"},
	{name: "api_keys"},
	{name: "price_groups"},
	{name: "exchange_rates"},
	{name: "accounts"},
	{name: "provider_accounts"},
	{name: "provider_balances"},
	{name: "provider_account_events"},
	{name: "code_groups"},
	{name: "packages"},
	{name: "package_prices"},
	{name: "mappings"},
	{name: "orders"},
	{name: "ledger_entries"},
	{name: "order_events"},
	{name: "code_items"},
	{name: "webhook_endpoints"},
	{name: "webhook_deliveries"},
	{name: "webhook_attempts"},
	{name: "users"},
	{name: "user_sessions"},
	{name: "signin_throttle"},
	{name: "signin_events"},
	{name: "order_counters", skip: "PostgreSQL numbers orders with one sequence per tenant, continued after the counter"},
	{name: "provider_call_leases", skip: "leases of provider calls in flight; none outlive the source's stopped processes"},
	{name: "provider_call_rates", skip: "when the next rate-limited call may start; starts afresh"},
	{name: "watan_migrations", skip: "the target is migrated by this binary before the copy"},
}

// moveSkipsPrefix: River's tables are not copied; the pending work is re-created
// from the orders' states (MoveConfig.Enqueue), so that no queue internals of one
// engine are carried into the other.
const moveSkipsPrefix = "river_"

// MoveConfig configures Move.
type MoveConfig struct {
	// Enqueue is called, in the target's transaction, with every piece of work
	// the copied data still needs, in batches of at most moveEnqueueBatch: a
	// dispatch for each pending order no provider holds yet, a check for each
	// order a provider may hold (due at its NextCheckAt), a delivery for each
	// pending webhook. Required.
	Enqueue func(ctx context.Context, tx *sql.Tx, w []PendingWork) error
	// Progress, if set, is told how far the copy is after every batch of rows.
	Progress func(p MoveProgress)
	// AfterTable, if set, runs after each table is copied, inside the target's
	// transaction; an error aborts the move and rolls the target back. Tests
	// inject failures here. Default nil.
	AfterTable func(table string) error
}

// PendingWork is one job the moved data needs.
type PendingWork struct {
	Kind       PendingKind
	Order      watan.Order // Dispatch and Check
	Delay      time.Duration
	TenantID   int64 // Webhook
	DeliveryID int64 // Webhook
}

// PendingKind names what a PendingWork is.
type PendingKind string

// Kinds of pending work.
const (
	PendingDispatch PendingKind = "dispatch"
	PendingCheck    PendingKind = "check"
	PendingWebhook  PendingKind = "webhook"
)

// MoveProgress is how far a move is.
type MoveProgress struct {
	Table      string
	Rows       int64 // rows of Table copied so far
	TableRows  int64
	Done       int64 // rows of every table copied so far
	Total      int64
	Verifying  bool
	Enqueueing bool
}

// MoveReport is what a move copied and checked.
type MoveReport struct {
	Tables     []MoveTableCount
	Tenants    int64
	Orders     int64
	Accounts   int // every one's balance equals its ledger on both sides
	Dispatches int
	Checks     int
	Webhooks   int
	Sequences  int // identity and order-number sequences continued
	Elapsed    time.Duration
}

// MoveTableCount is one table's row count, equal on both sides.
type MoveTableCount struct {
	Name string
	Rows int64
}

// ErrTargetNotEmpty is returned by Move when the target already holds data.
var ErrTargetNotEmpty = errors.New("the target database is not empty")

// Move copies everything src holds, every tenant and all it owns, into dst, which
// must be a freshly migrated, empty PostgreSQL database. Ids, order numbers, client
// order ids, ledger entries, events, hashed keys and sealed secrets are copied as
// they are; every identity sequence and each tenant's order-number sequence
// continues after the copied maxima. River's tables are not copied: cfg.Enqueue
// re-creates the pending work from the orders' states.
//
// src is read inside one write-locking transaction, so it is a consistent snapshot
// and no other process writes to it meanwhile; it is never written. The whole copy
// into dst is one transaction that is verified (row counts of every table, and
// every account's balance against its ledger, on both sides) before it commits: a
// move that fails at any point leaves dst as empty as it found it, and running it
// again is safe.
func Move(ctx context.Context, src, dst *Store, cfg MoveConfig) (MoveReport, error) {
	start := time.Now()
	var rep MoveReport
	if src.engine != EngineSQLite || dst.engine != EnginePostgres {
		return rep, errors.New("store: move copies an embedded SQLite database into PostgreSQL")
	}
	if cfg.Enqueue == nil {
		return rep, errors.New("store: move: Enqueue is required")
	}
	progress := cfg.Progress
	if progress == nil {
		progress = func(MoveProgress) {}
	}
	if err := checkMoveTables(ctx, src, dst); err != nil {
		return rep, err
	}
	if err := dst.checkEmpty(ctx); err != nil {
		return rep, err
	}

	stx, err := src.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the source's writers wait
	if err != nil {
		return rep, fmt.Errorf("store: move: lock the source: %w", err)
	}
	defer stx.Rollback() //nolint:errcheck // read only

	counts := map[string]int64{}
	var total int64
	for _, t := range moveTables {
		if t.skip != "" {
			continue
		}
		var n int64
		if err := stx.QueryRowContext(ctx, `SELECT count(*) FROM `+t.name).Scan(&n); err != nil {
			return rep, fmt.Errorf("store: move: count %s: %w", t.name, err)
		}
		counts[t.name] = n
		total += n
	}
	srcBalances, err := accountBalances(ctx, stx)
	if err != nil {
		return rep, fmt.Errorf("store: move: source: %w", err)
	}
	for _, b := range srcBalances {
		if b.balance != b.ledger {
			return rep, fmt.Errorf("store: move: the source is inconsistent: account %d has balance %d but its ledger sums to %d; nothing was copied", b.id, b.balance, b.ledger)
		}
	}

	conn, err := dst.db.Conn(ctx)
	if err != nil {
		return rep, fmt.Errorf("store: move: target: %w", err)
	}
	defer conn.Close()
	dtx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return rep, fmt.Errorf("store: move: target: begin: %w", err)
	}
	defer dtx.Rollback() //nolint:errcheck // a no-op after commit

	var done int64
	for _, t := range moveTables {
		if t.skip != "" {
			continue
		}
		n, err := copyTable(ctx, stx, conn, t.name, counts[t.name], func(rows int64) {
			progress(MoveProgress{Table: t.name, Rows: rows, TableRows: counts[t.name], Done: done + rows, Total: total})
		})
		if err != nil {
			return rep, err
		}
		done += n
		if cfg.AfterTable != nil {
			if err := cfg.AfterTable(t.name); err != nil {
				return rep, fmt.Errorf("store: move: after %s: %w", t.name, err)
			}
		}
	}

	progress(MoveProgress{Done: done, Total: total, Verifying: true})
	if rep.Sequences, err = continueSequences(ctx, stx, dtx); err != nil {
		return rep, err
	}
	for _, t := range moveTables {
		if t.skip != "" {
			continue
		}
		var n int64
		if err := dtx.QueryRowContext(ctx, `SELECT count(*) FROM `+t.name).Scan(&n); err != nil {
			return rep, fmt.Errorf("store: move: verify %s: %w", t.name, err)
		}
		if n != counts[t.name] {
			return rep, fmt.Errorf("store: move: verify %s: the source has %d rows, the target %d", t.name, counts[t.name], n)
		}
		rep.Tables = append(rep.Tables, MoveTableCount{Name: t.name, Rows: n})
	}
	dstBalances, err := accountBalances(ctx, dtx)
	if err != nil {
		return rep, fmt.Errorf("store: move: target: %w", err)
	}
	if len(dstBalances) != len(srcBalances) {
		return rep, fmt.Errorf("store: move: verify: %d accounts in the source, %d in the target", len(srcBalances), len(dstBalances))
	}
	for i, b := range dstBalances {
		if b != srcBalances[i] || b.balance != b.ledger {
			return rep, fmt.Errorf("store: move: verify account %d: source balance %d (ledger %d), target balance %d (ledger %d)",
				b.id, srcBalances[i].balance, srcBalances[i].ledger, b.balance, b.ledger)
		}
	}
	rep.Accounts = len(dstBalances)
	rep.Tenants, rep.Orders = counts["tenants"], counts["orders"]

	progress(MoveProgress{Done: done, Total: total, Enqueueing: true})
	if err := dst.enqueueMoved(ctx, dtx, cfg.Enqueue, &rep); err != nil {
		return rep, err
	}
	if err := dtx.Commit(); err != nil {
		return rep, fmt.Errorf("store: move: commit: %w", err)
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// checkMoveTables refuses a move when the schema has a table that moveTables does
// not list, or when a copied table's columns differ between the engines.
func checkMoveTables(ctx context.Context, src, dst *Store) error {
	for _, st := range []*Store{src, dst} {
		unlisted, err := st.unlistedTables(ctx)
		if err != nil {
			return err
		}
		if len(unlisted) > 0 {
			return fmt.Errorf("store: move: tables %v (%s) are not known to move; this binary cannot copy them", unlisted, st.engine)
		}
	}
	for _, t := range moveTables {
		if t.skip != "" {
			continue
		}
		sc, err := src.columns(ctx, t.name)
		if err != nil {
			return err
		}
		dc, err := dst.columns(ctx, t.name)
		if err != nil {
			return err
		}
		if strings.Join(sortedKeys(sc), ",") != strings.Join(sortedKeys(dc), ",") {
			return fmt.Errorf("store: move: table %s has columns %v on SQLite and %v on PostgreSQL", t.name, sortedKeys(sc), sortedKeys(dc))
		}
		for c, typ := range dc {
			if _, err := moveConverter(typ); err != nil {
				return fmt.Errorf("store: move: %s.%s: %w", t.name, c, err)
			}
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// unlistedTables lists the tables of the store's schema that moveTables does not
// name (River's aside).
func (s *Store) unlistedTables(ctx context.Context) ([]string, error) {
	listed := map[string]bool{}
	for _, t := range moveTables {
		listed[t.name] = true
	}
	names, err := s.tableNames(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if !listed[n] && !strings.HasPrefix(n, moveSkipsPrefix) {
			out = append(out, n)
		}
	}
	return out, nil
}

// tableNames lists the tables of the store's schema.
func (s *Store) tableNames(ctx context.Context) ([]string, error) {
	q := `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	if s.engine == EngineSQLite {
		q = `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	}
	return list(ctx, s.db, "table names", func(r rowScanner) (string, error) {
		var n string
		return n, r.Scan(&n)
	}, q)
}

// columns maps a table's column names to their declared types.
func (s *Store) columns(ctx context.Context, table string) (map[string]string, error) {
	q := `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`
	if s.engine == EngineSQLite {
		q = `SELECT name, type FROM pragma_table_info($1)`
	}
	rows, err := s.db.QueryContext(ctx, q, table)
	if err != nil {
		return nil, fmt.Errorf("store: columns of %s: %w", table, err)
	}
	defer rows.Close()
	cols := map[string]string{}
	for rows.Next() {
		var n, t string
		if err := rows.Scan(&n, &t); err != nil {
			return nil, fmt.Errorf("store: columns of %s: %w", table, err)
		}
		cols[n] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: columns of %s: %w", table, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("store: table %s does not exist (%s)", table, s.engine)
	}
	return cols, nil
}

// checkEmpty refuses a target that holds any row of watan's tables or any job.
func (s *Store) checkEmpty(ctx context.Context) error {
	for _, t := range moveTables {
		if t.skip != "" {
			continue
		}
		var any bool
		if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+t.name+`)`).Scan(&any); err != nil {
			return fmt.Errorf("store: move: target: %w", err)
		}
		if any {
			return fmt.Errorf("store: move: table %s has rows: %w; move needs a fresh database", t.name, ErrTargetNotEmpty)
		}
	}
	var jobs bool
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM river_job)`).Scan(&jobs); err != nil {
		return fmt.Errorf("store: move: target: %w", err)
	}
	if jobs {
		return fmt.Errorf("store: move: river_job has rows: %w; move needs a fresh database", ErrTargetNotEmpty)
	}
	return nil
}

// moveEnqueueBatch bounds the jobs handed to MoveConfig.Enqueue at once.
const moveEnqueueBatch = 1000

// copyBatch is how many rows go between two progress reports.
const copyBatch = 5000

// copyTable streams one table from the SQLite transaction into PostgreSQL with COPY,
// on conn, inside the transaction open on it. Values are converted by the target
// column's type: SQLite keeps times as microseconds, booleans as 0/1 and JSON as
// text.
func copyTable(ctx context.Context, stx *sql.Tx, conn *sql.Conn, table string, want int64, progress func(int64)) (int64, error) {
	types := map[string]string{}
	rows, err := conn.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return 0, fmt.Errorf("store: move %s: %w", table, err)
	}
	for rows.Next() {
		var n, t string
		if err := rows.Scan(&n, &t); err != nil {
			rows.Close()
			return 0, fmt.Errorf("store: move %s: %w", table, err)
		}
		types[n] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("store: move %s: %w", table, err)
	}

	srows, err := stx.QueryContext(ctx, `SELECT * FROM `+table)
	if err != nil {
		return 0, fmt.Errorf("store: move: read %s: %w", table, err)
	}
	defer srows.Close()
	cols, err := srows.Columns()
	if err != nil {
		return 0, fmt.Errorf("store: move: read %s: %w", table, err)
	}
	src := &sqliteRows{rows: srows, table: table, cols: cols, progress: progress}
	src.conv = make([]func(any) (any, error), len(cols))
	for i, c := range cols {
		conv, err := moveConverter(types[c])
		if err != nil {
			return 0, fmt.Errorf("store: move %s.%s: %w", table, c, err)
		}
		src.conv[i] = conv
	}
	var n int64
	err = conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("the target connection is %T, not pgx", dc)
		}
		var err error
		n, err = pc.Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, src)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("store: move: copy %s: %w", table, err)
	}
	if n != want {
		return n, fmt.Errorf("store: move: copy %s: %d rows copied of %d", table, n, want)
	}
	progress(n)
	return n, nil
}

// sqliteRows feeds COPY from a SQLite query.
type sqliteRows struct {
	rows     *sql.Rows
	table    string
	cols     []string
	conv     []func(any) (any, error)
	vals     []any
	err      error
	n        int64
	progress func(int64)
}

func (r *sqliteRows) Next() bool {
	if !r.rows.Next() {
		return false
	}
	raw := make([]any, len(r.cols))
	ptrs := make([]any, len(r.cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		r.err = err
		return false
	}
	for i, v := range raw {
		if v == nil {
			continue
		}
		c, err := r.conv[i](v)
		if err != nil {
			r.err = fmt.Errorf("%s.%s: %w", r.table, r.cols[i], err)
			return false
		}
		raw[i] = c
	}
	r.vals = raw
	r.n++
	if r.n%copyBatch == 0 {
		r.progress(r.n)
	}
	return true
}

func (r *sqliteRows) Values() ([]any, error) { return r.vals, nil }

func (r *sqliteRows) Err() error {
	if r.err != nil {
		return r.err
	}
	return r.rows.Err()
}

// moveConverter converts a SQLite value for a PostgreSQL column of type pgType.
func moveConverter(pgType string) (func(any) (any, error), error) {
	switch pgType {
	case "timestamp with time zone":
		return func(v any) (any, error) {
			us, ok := v.(int64)
			if !ok {
				return nil, fmt.Errorf("a time stored as %T", v)
			}
			return time.UnixMicro(us).UTC(), nil
		}, nil
	case "boolean":
		return func(v any) (any, error) {
			i, ok := v.(int64)
			if !ok {
				return nil, fmt.Errorf("a boolean stored as %T", v)
			}
			return i != 0, nil
		}, nil
	case "bigint", "integer", "text", "jsonb":
		return func(v any) (any, error) {
			if b, ok := v.([]byte); ok {
				return string(b), nil
			}
			return v, nil
		}, nil
	}
	return nil, fmt.Errorf("column type %q is not known to move", pgType)
}

type accountBalance struct{ id, balance, ledger int64 }

// accountBalances reads every account's balance and the sum of its ledger, by id.
func accountBalances(ctx context.Context, q querier) ([]accountBalance, error) {
	return list(ctx, q, "account balances", func(r rowScanner) (accountBalance, error) {
		var b accountBalance
		return b, r.Scan(&b.id, &b.balance, &b.ledger)
	}, `SELECT a.id, a.balance, COALESCE((SELECT SUM(l.amount) FROM ledger_entries l WHERE l.account_id = a.id), 0)
		FROM accounts a ORDER BY a.id`)
}

// continueSequences moves every identity sequence past its table's highest id and
// creates each tenant's order-number sequence, continuing after the highest
// number the tenant used (its SQLite counter, or its highest order number should
// the two disagree).
func continueSequences(ctx context.Context, stx *sql.Tx, dtx *sql.Tx) (int, error) {
	n := 0
	for _, t := range moveTables {
		if t.skip != "" {
			continue
		}
		var identity bool
		if err := dtx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 AND column_name = 'id' AND is_identity = 'YES')`, t.name).Scan(&identity); err != nil {
			return n, fmt.Errorf("store: move: sequence of %s: %w", t.name, err)
		}
		if !identity {
			continue
		}
		// setval(seq, max, true): the next id is max + 1; an empty table keeps 1.
		if _, err := dtx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence($1, 'id'), m, true)
			FROM (SELECT MAX(id) AS m FROM `+t.name+`) x WHERE m IS NOT NULL`, t.name); err != nil {
			return n, fmt.Errorf("store: move: sequence of %s: %w", t.name, err)
		}
		n++
	}
	type last struct{ tenant, number int64 }
	lasts, err := list(ctx, stx, "order numbers", func(r rowScanner) (last, error) {
		var l last
		return l, r.Scan(&l.tenant, &l.number)
	}, `SELECT t.id, MAX(COALESCE((SELECT MAX(o.number) FROM orders o WHERE o.tenant_id = t.id), 0),
			COALESCE((SELECT c.last_number FROM order_counters c WHERE c.tenant_id = t.id), 0))
		FROM tenants t ORDER BY t.id`)
	if err != nil {
		return n, fmt.Errorf("store: move: %w", err)
	}
	for _, l := range lasts {
		seq := orderSequence(l.tenant)
		if _, err := dtx.ExecContext(ctx, `CREATE SEQUENCE `+seq+` AS BIGINT CACHE 1`); err != nil {
			return n, fmt.Errorf("store: move: create %s: %w", seq, err)
		}
		if l.number > 0 {
			if _, err := dtx.ExecContext(ctx, `SELECT setval($1::regclass, $2)`, seq, l.number); err != nil {
				return n, fmt.Errorf("store: move: continue %s: %w", seq, err)
			}
		}
		n++
	}
	return n, nil
}

// enqueueMoved hands every piece of work the copied orders and webhook deliveries
// still need to enqueue, inside the target's transaction.
func (s *Store) enqueueMoved(ctx context.Context, tx *sql.Tx, enqueue func(context.Context, *sql.Tx, []PendingWork) error, rep *MoveReport) error {
	var batch []PendingWork
	add := func(w PendingWork) error {
		batch = append(batch, w)
		if len(batch) < moveEnqueueBatch {
			return nil
		}
		err := enqueue(ctx, tx, batch)
		batch = batch[:0]
		return err
	}
	orders, err := list(ctx, tx, "pending orders", scanOrder, `SELECT `+orderColumns+orderFrom+`
		WHERE o.status = 'pending' AND o.provider_state IN ('not_sent', 'not_found', 'sending', 'sent', 'unknown')
		ORDER BY o.id`)
	if err != nil {
		return fmt.Errorf("store: move: %w", err)
	}
	now := s.now()
	for _, o := range orders {
		w := PendingWork{Kind: PendingDispatch, Order: o, TenantID: o.TenantID}
		switch o.ProviderState {
		case watan.StateSending, watan.StateSent, watan.StateUnknown:
			w.Kind = PendingCheck
			if o.NextCheckAt != nil && o.NextCheckAt.After(now) {
				w.Delay = o.NextCheckAt.Sub(now)
			}
			rep.Checks++
		default:
			rep.Dispatches++
		}
		if err := add(w); err != nil {
			return fmt.Errorf("store: move: enqueue: %w", err)
		}
	}
	type delivery struct{ tenant, id int64 }
	ds, err := list(ctx, tx, "pending webhook deliveries", func(r rowScanner) (delivery, error) {
		var d delivery
		return d, r.Scan(&d.tenant, &d.id)
	}, `SELECT tenant_id, id FROM webhook_deliveries WHERE state = 'pending' ORDER BY id`)
	if err != nil {
		return fmt.Errorf("store: move: %w", err)
	}
	for _, d := range ds {
		if err := add(PendingWork{Kind: PendingWebhook, TenantID: d.tenant, DeliveryID: d.id}); err != nil {
			return fmt.Errorf("store: move: enqueue: %w", err)
		}
		rep.Webhooks++
	}
	if len(batch) > 0 {
		if err := enqueue(ctx, tx, batch); err != nil {
			return fmt.Errorf("store: move: enqueue: %w", err)
		}
	}
	return nil
}
