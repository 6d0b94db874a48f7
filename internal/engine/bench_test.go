package engine_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"watan"
	"watan/internal/cpustat"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// BenchmarkEndToEnd measures orders per second from creation to approved with the
// queue running, an instantly completing simulator and no first-check delay: the
// whole path of create (order, debit, dispatch job in one transaction), dispatch
// (reference committed, provider called, check job scheduled) and check (PIN,
// approval). It also reports the time from an order's creation to its provider
// call, and the CPU time per order of the whole machine (the database
// included) and of this process.
//
//	go test -run '^$' -bench EndToEnd -benchtime 2000x ./internal/engine/
//	WATAN_TEST_DATABASE_URL=postgres://... go test -run '^$' -bench EndToEnd -benchtime 5000x ./internal/engine/
func BenchmarkEndToEnd(b *testing.B) {
	for _, e := range storetest.Engines() {
		b.Run(string(e), func(b *testing.B) { benchEndToEnd(b, e) })
	}
}

func benchEndToEnd(b *testing.B, e store.Engine) {
	bb := setup(b, e, setupOpts{firstCheckDelay: -1, listen: true, realClock: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const accounts = 8
	for i := range accounts {
		code := fmt.Sprintf("bench-%d", i)
		_, err := bb.st.CreateAccount(ctx, bb.tenant.ID, watan.NewAccount{Code: code, Name: code, Currency: "TRY"})
		bb.must(err)
		_, err = bb.st.TopUp(ctx, bb.tenant.ID, code, 10_000_000_00, "bench")
		bb.must(err)
	}
	bb.znet.SetBalance(watan.MaxAmount / 10)
	bb.must(bb.q.Start(ctx, bb.eng))
	go bb.st.KeepTables(ctx, 0, nil) // as serve does
	b.Cleanup(func() {
		stopCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		bb.q.Stop(stopCtx)
	})

	b.ResetTimer()
	start, cpu0 := time.Now(), cpustat.Take()
	var seq atomic.Int64
	var wg sync.WaitGroup
	const clients = 8
	for c := range clients {
		wg.Go(func() {
			for {
				i := seq.Add(1)
				if i > int64(b.N) {
					return
				}
				_, _, err := bb.st.CreateOrderWith(ctx, watan.NewOrder{
					TenantID: bb.tenant.ID, PackageCode: pkgZnet, AccountCode: fmt.Sprintf("bench-%d", c%accounts),
					Quantity: 1, PlayerID: "5123456789", Actor: watan.ActorAPI,
				}, func(ctx context.Context, tx *sql.Tx, o watan.Order) error { return bb.q.EnqueueDispatchTx(ctx, tx, o) })
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	created := time.Since(start)
	for {
		var pending int
		bb.must(bb.st.DB().QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE status = 'pending'`).Scan(&pending))
		if pending == 0 {
			break
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("%d orders still pending after 5 minutes", pending)
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed, cpu := time.Since(start), cpu0.Until(cpustat.Take())
	b.StopTimer()

	var approved int
	bb.must(bb.st.DB().QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE status = 'approved'`).Scan(&approved))
	if approved != b.N {
		b.Fatalf("%d of %d orders approved", approved, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "orders/s")
	b.ReportMetric(float64(b.N)/created.Seconds(), "created/s")
	cpu.Report(b, b.N, "order")

	// Creation to provider call: the simulator stamps each placement.
	placed := map[string]time.Time{}
	for _, o := range bb.znet.Orders() {
		placed[o.Ref] = o.PlacedAt
	}
	page, err := bb.st.ListOrders(ctx, watan.OrderFilter{TenantID: bb.tenant.ID, Limit: 500})
	var lat []time.Duration
	for ; err == nil; page, err = bb.st.ListOrders(ctx, watan.OrderFilter{TenantID: bb.tenant.ID, Limit: 500, Cursor: page.NextCursor}) {
		for _, o := range page.Orders {
			if at, ok := placed[o.ProviderReferans]; ok {
				lat = append(lat, at.Sub(o.CreatedAt))
			}
		}
		if page.NextCursor == "" {
			break
		}
	}
	bb.must(err)
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms-to-provider")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms-to-provider")
	}
	if e == store.EnginePostgres {
		reportRowWrites(b, bb.st.DB(), b.N)
	}
}

// reportRowWrites reports, per order, the rows written to the tables an order
// touches in the benchmark's schema (PostgreSQL's statistics, which backends flush
// about once a second): inserted and updated rows, and the share of updates that
// were HOT (no index touched). With WATAN_BENCH_ROWS set it logs every table.
func reportRowWrites(b *testing.B, db *sql.DB, orders int) {
	time.Sleep(2 * time.Second) // let the backends flush their statistics
	rows, err := db.Query(`SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
		WHERE schemaname = current_schema() AND relname IN ('orders', 'order_events', 'river_job', 'accounts', 'ledger_entries')`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var ins, upd, hot float64
	for rows.Next() {
		var name string
		var i, u, h float64
		if err := rows.Scan(&name, &i, &u, &h); err != nil {
			b.Fatal(err)
		}
		ins, upd, hot = ins+i, upd+u, hot+h
		if os.Getenv("WATAN_BENCH_ROWS") != "" {
			b.Logf("%-15s inserts/order %.2f updates/order %.2f (HOT %.2f)", name, i/float64(orders), u/float64(orders), h/float64(orders))
		}
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	if os.Getenv("WATAN_BENCH_ROWS") != "" {
		logIndexScans(b, db)
	}
	b.ReportMetric(ins/float64(orders), "row-inserts/order")
	b.ReportMetric(upd/float64(orders), "row-updates/order")
}

// logIndexScans logs how often each index of the order tables was used: an index
// nothing scans still costs an insert on every non-HOT update.
func logIndexScans(b *testing.B, db *sql.DB) {
	rows, err := db.Query(`SELECT relname, indexrelname, idx_scan FROM pg_stat_user_indexes
		WHERE schemaname = current_schema() AND relname IN ('orders', 'order_events', 'accounts', 'ledger_entries')
		ORDER BY relname, indexrelname`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, index string
		var scans int64
		if err := rows.Scan(&table, &index, &scans); err != nil {
			b.Fatal(err)
		}
		b.Logf("%-15s %-40s scans %d", table, index, scans)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
}
