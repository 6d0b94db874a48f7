package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"watan"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// BenchmarkMove measures watan move on an embedded install of WATAN_MOVE_ORDERS
// orders (default 10,000) in one tenant: nine in ten approved by an operator, the
// rest never sent (each needs a dispatch job on PostgreSQL). Building the source
// takes longer than the move; only the move is timed:
//
//	WATAN_MOVE_ORDERS=100000 WATAN_TEST_DATABASE_URL=... go test -run '^$' -bench Move -benchtime 1x ./cmd/watan/
func BenchmarkMove(b *testing.B) {
	if os.Getenv(storetest.EnvDatabaseURL) == "" {
		b.Skipf("%s is not set: move copies into PostgreSQL", storetest.EnvDatabaseURL)
	}
	orders := 10_000
	if v := os.Getenv("WATAN_MOVE_ORDERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("WATAN_MOVE_ORDERS=%q: want a positive number", v)
		}
		orders = n
	}
	ctx := b.Context()
	srcURL := storetest.URL(b, store.EngineSQLite)
	sys, err := openBenchSystem(ctx, srcURL, watan.SystemClock{}, 1, 1)
	must(b, err)
	w, err := sys.newWorld(ctx, "big", providertest.Options{}, watan.ProviderSettings{})
	must(b, err)
	b.Cleanup(w.close)
	_, err = sys.st.CreatePackage(ctx, watan.Package{TenantID: w.tenant.ID, Code: proofPkgManual, Name: "manual", Price: 1_00,
		Currency: "TRY", Active: true, Routing: watan.Routing{Mode: watan.RouteManual}})
	must(b, err)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Go(func() {
			for i := c; i < orders; i += 4 {
				o, _, err := sys.st.CreateOrderWith(ctx, watan.NewOrder{TenantID: w.tenant.ID, PackageCode: proofPkgManual,
					AccountCode: w.accounts[i%len(w.accounts)], Quantity: 1, PlayerID: "5123456789", ClientOrderID: fmt.Sprintf("m-%d", i)}, nil)
				if err != nil {
					b.Error(err)
					return
				}
				if i%10 != 0 {
					if _, err := sys.eng.Approve(ctx, w.tenant.ID, o.ID, watan.OperatorActor("sara"), fmt.Sprintf("PIN-%d", i), ""); err != nil {
						b.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	sys.close()
	if b.Failed() {
		return
	}
	b.Logf("built a source of %d orders in %s", orders, time.Since(start).Round(time.Second))
	for b.Loop() {
		dstURL := storetest.URL(b, store.EnginePostgres)
		env := fpEnv(nil, &fpBuffer{}, &fpBuffer{})
		rep, err := runMove(ctx, env, srcURL, dstURL, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(rep.Elapsed.Seconds(), "s/move")
		b.ReportMetric(float64(rep.Orders)/rep.Elapsed.Seconds(), "orders/s")
		var rows int64
		for _, t := range rep.Tables {
			rows += t.Rows
		}
		b.ReportMetric(float64(rows), "rows")
	}
}
