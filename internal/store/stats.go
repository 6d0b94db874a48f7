package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultStatisticsInterval is how often KeepStatistics looks for tables whose
// statistics have gone stale.
const DefaultStatisticsInterval = 5 * time.Second

// staleTables lists the tables of watan's schema (watan's own and River's) that
// changed by more than autovacuum's analyze threshold since they were last
// analyzed, and that autovacuum will not analyze: it is off, or it has not yet
// come round to a table never analyzed. The threshold is autovacuum's own
// (autovacuum_analyze_threshold + autovacuum_analyze_scale_factor × rows), and so
// is its pace: a table analyzed before is analyzed again at most once per
// autovacuum_naptime, so that a table whose rows churn (the orders under checks)
// is not sampled every few seconds. Only tables this role may analyze (its own)
// are listed: PostgreSQL skips the others with a warning, and they would stay
// stale and be listed again every time.
const staleTables = `SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
	WHERE s.schemaname = current_schema()
	AND s.n_mod_since_analyze >= current_setting('autovacuum_analyze_threshold')::float8
		+ current_setting('autovacuum_analyze_scale_factor')::float8 * greatest(c.reltuples, 0)
	AND (NOT current_setting('autovacuum')::bool OR (s.last_analyze IS NULL AND s.last_autoanalyze IS NULL))
	AND (s.last_analyze IS NULL OR s.last_analyze < now() - current_setting('autovacuum_naptime')::interval)
	AND (pg_has_role(c.relowner, 'USAGE') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))
	ORDER BY s.relname`

// RefreshStatistics analyzes the tables whose statistics are stale (see
// KeepStatistics) and reports which it analyzed. It does nothing on SQLite, whose
// planner finds an order by its rowid whatever it knows of the tables.
func (s *Store) RefreshStatistics(ctx context.Context) ([]string, error) {
	if s.engine != EnginePostgres {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, staleTables)
	if err != nil {
		return nil, fmt.Errorf("store: find stale statistics: %w", err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: find stale statistics: %w", err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: find stale statistics: %w", err)
	}
	if len(tables) == 0 {
		return nil, nil
	}
	quoted := make([]string, len(tables))
	for i, t := range tables {
		quoted[i] = pgx.Identifier{t}.Sanitize()
	}
	// SKIP_LOCKED: another node analyzing the same table meanwhile is as good.
	if _, err := s.db.ExecContext(ctx, `ANALYZE (SKIP_LOCKED) `+strings.Join(quoted, ", ")); err != nil {
		return nil, fmt.Errorf("store: analyze %s: %w", strings.Join(tables, ", "), err)
	}
	return tables, nil
}

// KeepStatistics refreshes PostgreSQL's statistics of watan's tables every
// interval (DefaultStatisticsInterval when zero or less; twice as long after each
// look that found nothing to do, up to a minute) until ctx ends, for as
// long as autovacuum does not: on a server with autovacuum off, and on a fresh
// database in the minute or so before autovacuum first analyzes it. It returns
// at once on SQLite.
//
// Without statistics PostgreSQL plans for empty tables, and each connection keeps
// the plans of its prepared statements, and of the foreign key checks, until a
// table is analyzed: looking up an order by (tenant, id) was then planned as a
// scan of all the tenant's orders through another index that starts with the
// tenant, so each transition, and each timeline entry's foreign key check, cost
// time in proportion to the tenant's orders. End to end on a fresh database, 12,000
// orders ran at 74 orders/s without statistics and at 216 with them (BenchmarkEndToEnd,
// internal/engine). Analyzing invalidates those plans in every connection.
//
// Errors are passed to report (which may be nil) and the keeping goes on.
func (s *Store) KeepStatistics(ctx context.Context, interval time.Duration, report func(tables []string, err error)) {
	if s.engine != EnginePostgres {
		return
	}
	if interval <= 0 {
		interval = DefaultStatisticsInterval
	}
	wait := interval
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tables, err := s.RefreshStatistics(ctx)
		if ctx.Err() != nil {
			return
		}
		if report != nil && (err != nil || len(tables) > 0) {
			report(tables, err)
		}
		// An idle server has nothing to analyze: look less often, up to
		// autovacuum's own pace, until something changes again.
		if len(tables) > 0 {
			wait = interval
		} else {
			wait = min(2*wait, max(interval, maxStatisticsWait))
		}
		t.Reset(wait)
	}
}

// maxStatisticsWait bounds how far KeepStatistics backs off while it finds
// nothing to analyze: autovacuum's default naptime.
const maxStatisticsWait = time.Minute
