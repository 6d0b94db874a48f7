package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"watan"
	"watan/internal/store"
)

// TestMaintainTables: a connection that planned the order lookup while orders
// was empty keeps that plan until the table is analyzed; once KeepTables has
// analyzed it, the lookup is planned on the order's id, not as a scan of the
// tenant's orders through another index. A table analyzed a moment ago is left
// alone for autovacuum's naptime. Where autovacuum is off, a table with many dead
// rows is vacuumed.
func TestMaintainTables(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		if b.s.Engine() != store.EnginePostgres {
			if m, err := b.s.MaintainTables(b.ctx); err != nil || !m.Empty() {
				t.Fatalf("MaintainTables on SQLite = %+v, %v; want nothing to do", m, err)
			}
			return
		}
		b.account(t, b.tenant.ID, "c1", 1_000_000, 0)
		b.pkg(t, b.tenant.ID, "p", 100)
		conn, err := b.s.DB().Conn(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// A generic plan, as a prepared statement gets after five executions.
		mustExec(t, b.ctx, conn, `SET plan_cache_mode = force_generic_plan`)
		mustExec(t, b.ctx, conn, `PREPARE lookup(bigint, bigint) AS SELECT id FROM orders WHERE tenant_id = $1 AND id = $2`)
		t.Logf("plan before: %s", explainLookup(t, b.ctx, conn))

		for range 200 {
			b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c1"})
		}
		// All of them, not just enough to be due: inserts counted only after
		// the analysis would raise the live rows it leaves past twice its count.
		waitFor(t, b, ordersInsertedSQL(200))
		ctx, cancel := context.WithCancel(b.ctx)
		analyzed := make(chan []string, 1)
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			b.s.KeepTables(ctx, 10*time.Millisecond, func(m store.Maintenance, err error) {
				if err != nil {
					t.Errorf("KeepTables: %v", err)
				}
				if slices.Contains(m.Analyzed, "orders") {
					select {
					case analyzed <- m.Analyzed:
					default:
					}
				}
			})
		}()
		select {
		case <-analyzed:
		case <-time.After(30 * time.Second):
			t.Fatal("KeepTables did not analyze orders")
		}
		cancel()
		<-stopped
		plan := explainLookup(t, b.ctx, conn)
		if !strings.Contains(plan, "id = $2") {
			t.Fatalf("plan after analyzing: %s; want an index condition on the order's id", plan)
		}

		// Analyzed a moment ago, orders waits for autovacuum's pace however much
		// it changes meanwhile, as long as it has not doubled.
		for range 150 {
			b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c1"})
		}
		waitFor(t, b, ordersInsertedSQL(350))
		stats := ordersStats(t, b)
		if m, err := b.s.MaintainTables(b.ctx); err != nil || slices.Contains(m.Analyzed, "orders") {
			t.Fatalf("MaintainTables right after = %+v, %v (orders: %s); want orders' analysis left until a naptime has passed", m, err, stats)
		}

		// Dead rows: every update leaves one.
		if _, err := b.s.DB().ExecContext(b.ctx, `UPDATE orders SET updated_at = updated_at`); err != nil {
			t.Fatal(err)
		}
		var autovacuum bool
		if err := b.s.DB().QueryRowContext(b.ctx, `SELECT current_setting('autovacuum')::bool`).Scan(&autovacuum); err != nil {
			t.Fatal(err)
		}
		waitFor(t, b, `SELECT n_dead_tup >= 350 FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = 'orders'`)
		m, err := b.s.MaintainTables(b.ctx)
		if err != nil || slices.Contains(m.Vacuumed, "orders") == autovacuum {
			t.Fatalf("MaintainTables with 350 dead orders and autovacuum %v = %+v, %v; want orders vacuumed only where autovacuum is off", autovacuum, m, err)
		}
		if !autovacuum {
			waitFor(t, b, `SELECT n_dead_tup = 0 FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = 'orders'`)
		}
	})
}

// ordersInsertedSQL answers whether PostgreSQL's statistics count n orders
// inserted.
func ordersInsertedSQL(n int) string {
	return fmt.Sprintf(`SELECT n_tup_ins >= %d FROM pg_stat_user_tables
	WHERE schemaname = current_schema() AND relname = 'orders'`, n)
}

// waitFor waits until query, over PostgreSQL's statistics, answers true: backends
// report their counts at the end of a transaction at most once a second, and at
// the latest when they have been idle a while.
func waitFor(t *testing.T, b *bundle, query string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		var ok bool
		if err := b.s.DB().QueryRowContext(b.ctx, query).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still false after 30 s: %s", query)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ordersStats is what MaintainTables weighs for orders, for a failure's message.
func ordersStats(t *testing.T, b *bundle) string {
	t.Helper()
	var stats string
	err := b.s.DB().QueryRowContext(b.ctx, `SELECT format('%s live, %s rows at the last analysis, %s changed since', s.n_live_tup, c.reltuples, s.n_mod_since_analyze)
		FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
		WHERE s.schemaname = current_schema() AND s.relname = 'orders'`).Scan(&stats)
	if err != nil {
		t.Fatal(err)
	}
	return stats
}

func explainLookup(t *testing.T, ctx context.Context, conn *sql.Conn) string {
	t.Helper()
	rows, err := conn.QueryContext(ctx, `EXPLAIN EXECUTE lookup(1, 1)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, strings.TrimSpace(line))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, " / ")
}

func mustExec(t *testing.T, ctx context.Context, conn *sql.Conn, query string) {
	t.Helper()
	if _, err := conn.ExecContext(ctx, query); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", query, err))
	}
}
