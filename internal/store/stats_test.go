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

// TestRefreshStatistics: a connection that planned the order lookup while orders
// was empty keeps that plan until the table is analyzed; once KeepStatistics has
// analyzed it, the lookup is planned on the order's id, not as a scan of the
// tenant's orders through another index. A table analyzed a moment ago is left
// alone for autovacuum's naptime.
func TestRefreshStatistics(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		if b.s.Engine() != store.EnginePostgres {
			if tables, err := b.s.RefreshStatistics(b.ctx); err != nil || tables != nil {
				t.Fatalf("RefreshStatistics on SQLite = %v, %v; want nothing to do", tables, err)
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
		waitForStatistics(t, b, "orders")
		ctx, cancel := context.WithCancel(b.ctx)
		analyzed := make(chan []string, 1)
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			b.s.KeepStatistics(ctx, 10*time.Millisecond, func(tables []string, err error) {
				if err != nil {
					t.Errorf("KeepStatistics: %v", err)
				}
				if slices.Contains(tables, "orders") {
					select {
					case analyzed <- tables:
					default:
					}
				}
			})
		}()
		select {
		case <-analyzed:
		case <-time.After(30 * time.Second):
			t.Fatal("KeepStatistics did not analyze orders")
		}
		cancel()
		<-stopped
		plan := explainLookup(t, b.ctx, conn)
		if !strings.Contains(plan, "id = $2") {
			t.Fatalf("plan after analyzing: %s; want an index condition on the order's id", plan)
		}

		// Analyzed a moment ago, orders waits for autovacuum's pace however much
		// it changes meanwhile.
		for range 200 {
			b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c1"})
		}
		waitForStatistics(t, b, "orders")
		if tables, err := b.s.RefreshStatistics(b.ctx); err != nil || slices.Contains(tables, "orders") {
			t.Fatalf("RefreshStatistics right after = %v, %v; want orders left until a naptime has passed", tables, err)
		}
	})
}

// waitForStatistics waits until PostgreSQL's statistics count the changes made to
// table: backends report them at the end of a transaction at most once a second,
// and at the latest when they have been idle a while.
func waitForStatistics(t *testing.T, b *bundle, table string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		var mods int64
		err := b.s.DB().QueryRowContext(b.ctx, `SELECT n_mod_since_analyze FROM pg_stat_user_tables
			WHERE schemaname = current_schema() AND relname = $1`, table).Scan(&mods)
		if err != nil {
			t.Fatal(err)
		}
		if mods >= 100 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("statistics count %d changes to %s", mods, table)
		}
		time.Sleep(50 * time.Millisecond)
	}
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
