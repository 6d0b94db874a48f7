package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
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
// answer 10 % of requests each with an empty body, an HTML page, HTTP 500, an
// answer slower than the request timeout, and a dropped connection, and checks the
// same invariants as the crash test once every order is final. Empty bodies and
// HTML pages pause a provider account (the misconfiguration signal), so the probe
// and the paused-retry run every few hundred milliseconds here instead of every
// minute.
//
// Not covered: PostgreSQL restarting mid-load.
func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("fault matrix takes tens of seconds")
	}
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		// Most of the run is waiting out retry backoffs, so the engines overlap.
		t.Parallel()
		ctx := t.Context()
		st := storetest.OpenWith(t, storetest.Options{Engine: e})
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

		opts := providertest.Options{Seed: 11, Delay: providertest.UniformDelay(0, time.Second), CancelRate: 0.1,
			SlowDelay: 1500 * time.Millisecond,
			Faults:    providertest.FaultRates{Empty: 0.1, HTML: 0.1, Status500: 0.1, Slow: 0.1, Drop: 0.1}}
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

		const orders = 100
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
		for _, f := range []providertest.Fault{providertest.FaultEmpty, providertest.FaultHTML, providertest.Fault500, providertest.FaultSlow, providertest.FaultDrop} {
			if faults[f] == 0 {
				t.Errorf("no request got fault %s: the matrix did not exercise it", f)
			}
		}
		t.Logf("%d orders final; requests by fault: %v", orders, faults)
	})
}
