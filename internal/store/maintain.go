package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultMaintenanceInterval is how often KeepTables looks for tables to analyze
// or vacuum while there is work: a look costs the database about a millisecond,
// and a table growing from empty should not be planned as empty for long.
const DefaultMaintenanceInterval = time.Second

// maxMaintenanceWait bounds how far KeepTables backs off while it finds nothing
// to do: autovacuum's default naptime.
const maxMaintenanceWait = time.Minute

// tablesDue lists the tables of watan's schema (watan's own and River's) that
// autovacuum would analyze or vacuum now but will not: it is off, or (for the
// analysis) it has not yet come round to a table never analyzed. The thresholds
// are autovacuum's own: changed rows past autovacuum_analyze_threshold +
// autovacuum_analyze_scale_factor × rows since the last analysis, dead rows past
// autovacuum_vacuum_threshold + autovacuum_vacuum_scale_factor × rows. So is its
// pace: a table analyzed (vacuumed) before is analyzed (vacuumed) again at most
// once per autovacuum_naptime, so that a table whose rows churn (the orders under
// checks) is not worked on every few seconds; except that a table holding more
// than twice the rows of its last analysis is analyzed at once, because plans
// made for a table a fraction of its size can cost in proportion to its size
// (see KeepTables), and a doubling table is analyzed only logarithmically often.
// Only tables this role may maintain
// (its own) are listed: PostgreSQL skips the others with a warning, and they would
// be listed again every time.
const tablesDue = `SELECT s.relname,
	s.n_mod_since_analyze >= current_setting('autovacuum_analyze_threshold')::float8
		+ current_setting('autovacuum_analyze_scale_factor')::float8 * greatest(c.reltuples, 0)
	AND (NOT current_setting('autovacuum')::bool OR (s.last_analyze IS NULL AND s.last_autoanalyze IS NULL))
	AND (s.last_analyze IS NULL OR s.last_analyze < now() - current_setting('autovacuum_naptime')::interval
		OR s.n_live_tup > 2 * greatest(c.reltuples, 0)),
	s.n_dead_tup >= current_setting('autovacuum_vacuum_threshold')::float8
		+ current_setting('autovacuum_vacuum_scale_factor')::float8 * greatest(c.reltuples, 0)
	AND NOT current_setting('autovacuum')::bool
	AND (s.last_vacuum IS NULL OR s.last_vacuum < now() - current_setting('autovacuum_naptime')::interval)
	FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
	WHERE s.schemaname = current_schema()
	AND (pg_has_role(c.relowner, 'USAGE') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))
	ORDER BY s.relname`

// Maintenance is what one look of MaintainTables did.
type Maintenance struct {
	Analyzed []string // tables analyzed
	Vacuumed []string // tables vacuumed
}

// Empty reports whether nothing was done.
func (m Maintenance) Empty() bool { return len(m.Analyzed) == 0 && len(m.Vacuumed) == 0 }

// MaintainTables analyzes and vacuums the tables that need it and that autovacuum
// leaves alone (see KeepTables), and reports what it did. It does nothing on
// SQLite, whose planner finds an order by its rowid whatever it knows of the
// tables, and whose file reuses its free pages.
func (s *Store) MaintainTables(ctx context.Context) (Maintenance, error) {
	var m Maintenance
	if s.engine != EnginePostgres {
		return m, nil
	}
	rows, err := s.db.QueryContext(ctx, tablesDue)
	if err != nil {
		return m, fmt.Errorf("store: find tables to maintain: %w", err)
	}
	for rows.Next() {
		var name string
		var analyze, vacuum bool
		if err := rows.Scan(&name, &analyze, &vacuum); err != nil {
			rows.Close()
			return m, fmt.Errorf("store: find tables to maintain: %w", err)
		}
		if analyze {
			m.Analyzed = append(m.Analyzed, name)
		}
		if vacuum {
			m.Vacuumed = append(m.Vacuumed, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return m, fmt.Errorf("store: find tables to maintain: %w", err)
	}
	// SKIP_LOCKED: another node working on the same table meanwhile is as good.
	if len(m.Vacuumed) > 0 {
		if _, err := s.db.ExecContext(ctx, `VACUUM (SKIP_LOCKED) `+quoteTables(m.Vacuumed)); err != nil {
			return Maintenance{}, fmt.Errorf("store: vacuum %s: %w", strings.Join(m.Vacuumed, ", "), err)
		}
	}
	if len(m.Analyzed) > 0 {
		if _, err := s.db.ExecContext(ctx, `ANALYZE (SKIP_LOCKED) `+quoteTables(m.Analyzed)); err != nil {
			return Maintenance{Vacuumed: m.Vacuumed}, fmt.Errorf("store: analyze %s: %w", strings.Join(m.Analyzed, ", "), err)
		}
	}
	return m, nil
}

func quoteTables(tables []string) string {
	quoted := make([]string, len(tables))
	for i, t := range tables {
		quoted[i] = pgx.Identifier{t}.Sanitize()
	}
	return strings.Join(quoted, ", ")
}

// KeepTables does on PostgreSQL what autovacuum does, for watan's tables and for
// as long as autovacuum does not: on a server with autovacuum off, and on a fresh
// database in the minute or so before autovacuum first analyzes it. It looks every
// interval (DefaultMaintenanceInterval when zero or less; twice as long after
// each look that found nothing to do, up to a minute) until ctx ends. It returns
// at once on SQLite.
//
// Without statistics PostgreSQL plans for empty tables, and each connection keeps
// the plans of its prepared statements, and of the foreign key checks, until a
// table is analyzed: looking up an order by (tenant, id) was then planned as a
// scan of all the tenant's orders through another index that starts with the
// tenant, so each transition, and each timeline entry's foreign key check, cost
// time in proportion to the tenant's orders. End to end on a fresh database, 12,000
// orders ran at 74 orders/s without statistics and at 259 with them
// (BenchmarkEndToEnd, internal/engine). Analyzing invalidates those plans in every
// connection. Without vacuuming, every update of an order leaves its old version
// and its index entries in place for good: with 20,000 orders under checks,
// orders grew by 364 MB an hour.
//
// report, which may be nil, gets what each look did, and its error; the keeping
// goes on after an error.
func (s *Store) KeepTables(ctx context.Context, interval time.Duration, report func(Maintenance, error)) {
	if s.engine != EnginePostgres {
		return
	}
	if interval <= 0 {
		interval = DefaultMaintenanceInterval
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
		m, err := s.MaintainTables(ctx)
		if ctx.Err() != nil {
			return
		}
		if report != nil && (err != nil || !m.Empty()) {
			report(m, err)
		}
		// An idle server has nothing to maintain: look less often, up to
		// autovacuum's own pace, until something changes again.
		if m.Empty() {
			wait = min(2*wait, max(interval, maxMaintenanceWait))
		} else {
			wait = interval
		}
		t.Reset(wait)
	}
}
