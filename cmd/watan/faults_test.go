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
	"watan/internal/breaker"
	"watan/internal/engine"
	"watan/internal/jobs"
	"watan/internal/providers"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// TestFaultMatrix runs the whole engine with its queue against simulators that
// answer a share of requests with faults (an empty body, an HTML page, HTTP 500, an
// answer slower than the request timeout, a dropped connection, a reply lost after
// the provider acted), on each engine, and checks the same invariants as the crash
// test once every order is final, with no operator action. One row per fault at
// 10 %, and the combined row, the real case: all six at 5 % each, so that 30 % of
// requests fail in every way at once.
//
// The circuit breakers open at their production thresholds: an empty body or HTML
// page is a misconfiguration signal, and a provider answering 70 % of requests well
// must keep serving; the test reports how often a breaker opened (a loaded machine
// can make the simulators slower than the request timeout, which is a real fault).
// Time runs faster than in production, so that the run is bounded (every order
// final within faultDrainBound): job retries back off from 100 ms instead of 5 s,
// and a breaker cools down for 1 s instead of 30 s (at most 5 s instead of 5 min).
//
// The database going away mid-load is TestDatabaseOutage's.
func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("fault matrix takes tens of seconds")
	}
	rows := []struct {
		fault  providertest.Fault
		rates  providertest.FaultRates
		orders int
	}{
		{providertest.FaultEmpty, providertest.FaultRates{Empty: 0.1}, 60},
		{providertest.FaultHTML, providertest.FaultRates{HTML: 0.1}, 60},
		{providertest.Fault500, providertest.FaultRates{Status500: 0.1}, 60},
		{providertest.FaultSlow, providertest.FaultRates{Slow: 0.1}, 60},
		{providertest.FaultDrop, providertest.FaultRates{Drop: 0.1}, 60},
		{"combined", providertest.FaultRates{Empty: 0.05, HTML: 0.05, Status500: 0.05, Slow: 0.05, Drop: 0.05, LostReply: 0.05}, 300},
	}
	// Every row runs at once: a run mostly waits out retry backoffs, and subtests
	// started from goroutines (not t.Parallel) are not held to -parallel, which is
	// the number of cores.
	var wg sync.WaitGroup
	for _, e := range storetest.Engines() {
		for i, row := range rows {
			wg.Go(func() {
				t.Run(string(e)+"/"+string(row.fault), func(t *testing.T) {
					faultRun(t, e, uint64(11+i), row.fault, row.rates, row.orders)
				})
			})
		}
	}
	wg.Wait()
}

// faultDrainBound is how long a fault run may take to bring every order to a final
// state.
const faultDrainBound = 150 * time.Second

// faultRetryDelay is the job backoff of the fault runs: 100 ms doubling to 2 s.
func faultRetryDelay(failures int) time.Duration {
	return min(100*time.Millisecond<<min(failures-1, 5), 2*time.Second)
}

// faultKinds are the faults a row of the matrix may name.
var faultKinds = []providertest.Fault{providertest.FaultEmpty, providertest.FaultHTML, providertest.Fault500,
	providertest.FaultSlow, providertest.FaultDrop, providertest.FaultLostReply}

func faultRun(t *testing.T, e store.Engine, seed uint64, fault providertest.Fault, rates providertest.FaultRates, orders int) {
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
		SweepInterval: time.Second, RetryDelay: faultRetryDelay})
	must(t, err)
	eng, err := engine.New(engine.Config{Store: st, Queue: q, Logger: logger, PausedRetry: 300 * time.Millisecond,
		Breaker:      breaker.Config{CoolDown: time.Second, MaxCoolDown: 5 * time.Second},
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
	// The rates draw from the stream the orders' fates come from, in the order the
	// requests arrive, so a row could (rarely) draw none of its fault: one of each
	// is also injected up front, so that every row exercises what it names.
	for _, f := range faultKinds {
		if rates.Of(f) > 0 {
			w.znet.InjectFault(providertest.OpAny, f, 1)
			w.barakat.InjectFault(providertest.OpAny, f, 1)
		}
	}

	jobCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	must(t, q.Start(jobCtx, eng))
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		q.Stop(sctx)
	}()

	start := time.Now()
	for i := range orders {
		_, _, err := st.CreateOrderWith(ctx, watan.NewOrder{TenantID: w.tenant.ID, PackageCode: proofPackages[i%len(proofPackages)],
			AccountCode: w.accounts[i%len(w.accounts)], Quantity: 1, PlayerID: "5123456789",
			ClientOrderID: fmt.Sprintf("f-%d", i), Actor: watan.ActorAPI},
			func(ctx context.Context, tx *sql.Tx, o watan.Order) error { return q.EnqueueDispatchTx(ctx, tx, o) })
		must(t, err)
	}
	awaitFinal(t, st, w.tenant.ID, faultDrainBound)
	drained := time.Since(start)
	checkInvariants(t, st, w, orders)

	faults := map[providertest.Fault]int{}
	requests := append(w.znet.Requests(), w.barakat.Requests()...)
	for _, r := range requests {
		faults[r.Fault]++
	}
	for _, f := range faultKinds {
		if rate := rates.Of(f); rate > 0 && faults[f] == 0 {
			t.Errorf("no request got fault %s: the row did not exercise it", f)
		}
	}
	opened := 0
	for _, c := range eng.Circuits() {
		opened += c.Counts.Opened
	}
	t.Logf("%s: %d orders final in %s; %d requests, by fault: %v; circuit breakers opened %d times",
		e, orders, drained.Round(100*time.Millisecond), len(requests), faults, opened)
}
