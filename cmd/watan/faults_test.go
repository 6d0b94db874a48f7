package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"watan"
	"watan/internal/engine"
	"watan/internal/jobs"
	"watan/internal/providers"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// TestFaultMatrix runs the whole engine with its queue against simulators that
// answer 10 % of requests with one fault per row of the matrix (an empty body, an
// HTML page, HTTP 500, an answer slower than the request timeout, a dropped
// connection), on each engine, and checks the same invariants as the crash test
// once every order is final. Empty bodies and HTML pages pause a provider account
// (the misconfiguration signal), so the probe and the paused-retry run every few
// hundred milliseconds here instead of every minute.
//
// One fault per row rather than all five at once: with half of all requests
// failing, runs of failures are long enough that the production retry backoff
// (5 s doubling to 5 minutes) leaves some order waiting minutes, which is the
// intended behaviour but not a bounded test.
//
// The database going away mid-load is TestDatabaseOutage's.
func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("fault matrix takes tens of seconds")
	}
	rows := []struct {
		fault providertest.Fault
		rates providertest.FaultRates
	}{
		{providertest.FaultEmpty, providertest.FaultRates{Empty: 0.1}},
		{providertest.FaultHTML, providertest.FaultRates{HTML: 0.1}},
		{providertest.Fault500, providertest.FaultRates{Status500: 0.1}},
		{providertest.FaultSlow, providertest.FaultRates{Slow: 0.1}},
		{providertest.FaultDrop, providertest.FaultRates{Drop: 0.1}},
	}
	// Every row runs at once: a run mostly waits out retry backoffs, and subtests
	// started from goroutines (not t.Parallel) are not held to -parallel, which is
	// the number of cores.
	var wg sync.WaitGroup
	for _, e := range storetest.Engines() {
		for i, row := range rows {
			wg.Go(func() {
				t.Run(string(e)+"/"+string(row.fault), func(t *testing.T) {
					faultRun(t, e, uint64(11+i), row.fault, row.rates)
				})
			})
		}
	}
	wg.Wait()
}

func faultRun(t *testing.T, e store.Engine, seed uint64, fault providertest.Fault, rates providertest.FaultRates) {
	ctx := t.Context()
	// A small pool: ten rows run at once next to other packages' tests, and
	// PostgreSQL refuses connections past max_connections.
	st, err := store.Open(ctx, store.Config{URL: storetest.URL(t, e), MaxOpenConns: 4})
	must(t, err)
	t.Cleanup(func() { st.Close() })
	must(t, st.Migrate(ctx))
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("WATAN_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	q, err := jobs.New(ctx, jobs.Config{DB: st.DB(), Postgres: e == store.EnginePostgres, Logger: logger, Workers: 20,
		SweepInterval: time.Second, ProbeInterval: 300 * time.Millisecond})
	must(t, err)
	eng, err := engine.New(engine.Config{Store: st, Queue: q, Logger: logger, PausedRetry: 300 * time.Millisecond,
		SendingGrace: 3 * time.Second, Providers: providers.New(providers.Config{Logger: logger})})
	must(t, err)
	sys := &benchSystem{st: st, queue: q, eng: eng, log: logger}

	opts := providertest.Options{Seed: seed, Delay: providertest.UniformDelay(0, time.Second), CancelRate: 0.1,
		SlowDelay: 1500 * time.Millisecond, Faults: rates}
	settings := watan.ProviderSettings{FirstCheckDelay: 200 * time.Millisecond, Policy: watan.PollFixed, PollInterval: 300 * time.Millisecond,
		RequestTimeout: 500 * time.Millisecond}
	w, err := sys.newWorld(ctx, "faults", opts, settings)
	must(t, err)
	defer w.close()
	addProofCatalog(t, st, w, 500)

	jobCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	must(t, q.Start(jobCtx, eng))
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		q.Stop(sctx)
	}()

	const orders = 60
	for i := range orders {
		_, _, err := st.CreateOrderWith(ctx, watan.NewOrder{TenantID: w.tenant.ID, PackageCode: proofPackages[i%len(proofPackages)],
			AccountCode: w.accounts[i%len(w.accounts)], Quantity: 1, PlayerID: "5123456789",
			ClientOrderID: fmt.Sprintf("f-%d", i), Actor: watan.ActorAPI},
			func(ctx context.Context, tx *sql.Tx, o watan.Order) error { return q.EnqueueDispatchTx(ctx, tx, o) })
		must(t, err)
	}
	awaitFinal(t, st, w.tenant.ID, 150*time.Second)
	checkInvariants(t, st, w, orders)

	faults := map[providertest.Fault]int{}
	for _, r := range append(w.znet.Requests(), w.barakat.Requests()...) {
		faults[r.Fault]++
	}
	if faults[fault] == 0 {
		t.Errorf("no request got fault %s: the row did not exercise it", fault)
	}
	t.Logf("%d orders final; requests by fault: %v", orders, faults)
}
