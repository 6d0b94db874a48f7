package engine_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
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

// BenchmarkCapacity measures the check path at saturation: N orders (default
// 1,000; WATAN_BENCH_PENDING sets it) wait at a provider that never completes them,
// each checked at a fixed 1 s interval, with the queue running as serve runs it
// (River check jobs snoozing between checks). N per second is more than this kind
// of machine can check, so the checks per second reported are the check path's
// throughput; ns/op is the wall time per check. Run per provider: znet asks about
// one order per request; barakat about up to 100 (the job's order and others due
// within half an interval), so its checks also count the orders that rode along.
//
//	go test -run x -bench Capacity -benchtime 5000x ./internal/engine/
//	WATAN_TEST_DATABASE_URL=postgres://... go test -run x -bench Capacity -benchtime 5000x ./internal/engine/
//
// "watan bench --scenario capacity" measures the same path at the production
// interval instead, with the lag of every check.
func BenchmarkCapacity(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("WATAN_BENCH_PENDING")); err == nil && v > 0 {
		n = v
	}
	for _, e := range storetest.Engines() {
		for _, kind := range []watan.ProviderKind{watan.ProviderZnet, watan.ProviderBarakat} {
			b.Run(fmt.Sprintf("%s/%s", e, kind), func(b *testing.B) { benchCapacity(b, e, kind, n) })
		}
	}
}

// checkCounter is an engine.Observer that counts status answers and check calls
// that failed.
type checkCounter struct {
	answers, errors atomic.Int64
}

func (c *checkCounter) Checked(_ watan.ProviderKind, _ int64, outcome string) {
	if outcome == "error" {
		c.errors.Add(1)
		return
	}
	c.answers.Add(1)
}

func (c *checkCounter) StatusChanged(watan.Status, watan.Status)                 {}
func (c *checkCounter) Placed(watan.ProviderKind, int64, string)                 {}
func (c *checkCounter) CircuitChanged(watan.ProviderKind, int64, string, string) {}

// jobCounter counts check job runs.
type jobCounter struct {
	jobs.Runner
	runs atomic.Int64
}

func (r *jobCounter) CheckGeneration(ctx context.Context, tenantID, orderID int64, gen int) (engine.Next, error) {
	r.runs.Add(1)
	return r.Runner.CheckGeneration(ctx, tenantID, orderID, gen)
}

func benchCapacity(b *testing.B, e store.Engine, kind watan.ProviderKind, pending int) {
	never := providertest.Options{StuckRate: 1, MaxRequests: 1000}
	bb := setup(b, e, setupOpts{listen: true, realClock: true,
		znet: providertest.ZnetOptions{Options: never}, barakat: providertest.BarakatOptions{Options: never}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	acct, pkg := bb.znetAcct, pkgZnet
	if kind == watan.ProviderBarakat {
		acct, pkg = bb.barakatAcc, pkgBarakat
	}
	acct.Settings = watan.ProviderSettings{FirstCheckDelay: time.Second, Policy: watan.PollFixed, PollInterval: time.Second}
	acct.Credentials = nil // keep the stored ones
	_, err := bb.st.UpdateProviderAccount(ctx, acct)
	bb.must(err)
	_, err = bb.st.CreateAccount(ctx, bb.tenant.ID, watan.NewAccount{Code: "cap", Name: "cap", Currency: "TRY"})
	bb.must(err)
	_, err = bb.st.TopUp(ctx, bb.tenant.ID, "cap", watan.Amount(pending+1)*price, "bench")
	bb.must(err)
	bb.znet.SetBalance(watan.MaxAmount / 10)
	bb.barakat.SetBalance(watan.MaxAmount / 10)

	counter := &checkCounter{}
	eng, err := engine.New(engine.Config{Store: bb.st, Queue: bb.q, Providers: providers.New(providers.Config{}), Observer: counter})
	bb.must(err)
	// The orders, as the API and the dispatch job make them (without the
	// dispatch job's row: the dispatch step runs here).
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= int64(pending) {
				o, _, err := bb.st.CreateOrderWith(ctx, watan.NewOrder{TenantID: bb.tenant.ID, PackageCode: pkg, AccountCode: "cap",
					Quantity: 1, PlayerID: "5123456789", Actor: watan.ActorAPI}, nil)
				if err == nil {
					_, err = eng.Dispatch(ctx, bb.tenant.ID, o.ID)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	runner := &jobCounter{Runner: eng}
	bb.must(bb.q.Start(ctx, runner))
	b.Cleanup(func() {
		stopCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		bb.q.Stop(stopCtx)
	})
	// Warm up until the first checks come in (River's scheduler and the first
	// check delay), then measure.
	for counter.answers.Load() < int64(min(pending, 100)) {
		time.Sleep(10 * time.Millisecond)
	}
	b.ResetTimer()
	start, answers0, runs0 := time.Now(), counter.answers.Load(), runner.runs.Load()
	for counter.answers.Load()-answers0 < int64(b.N) {
		if time.Since(start) > 10*time.Minute {
			b.Fatalf("%d checks in 10 minutes", counter.answers.Load()-answers0)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	checks := float64(counter.answers.Load() - answers0)
	b.ReportMetric(checks/elapsed.Seconds(), "checks/s")
	b.ReportMetric(float64(runner.runs.Load()-runs0)/checks, "job-runs/check")
	b.ReportMetric(float64(counter.errors.Load()), "failed-calls")
}
