package main

import (
	"bytes"
	"container/heap"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"watan"
	"watan/internal/cpustat"
	"watan/internal/engine"
	"watan/internal/jobs"
	"watan/internal/providers"
	"watan/internal/providertest"
	"watan/internal/store"
)

// benchConfig is everything "watan bench" can be told.
type benchConfig struct {
	mix      string // monitor: completion-time distribution
	db       dbConfig
	scenario string
	rate     float64
	e2eRate  float64
	idle     time.Duration
	idleProf string
	orders   int
	duration time.Duration
	clients  int
	workers  int
	simBound time.Duration
	median   time.Duration
	sigma    float64
	pending  int
	seed     uint64
	poller   bool
	json     bool
	capacity capacityConfig
}

func cmdBench(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "bench", "bench [flags]\n\nRuns the whole system in-process against simulated providers on loopback and\nmeasures it. Scenarios: intake (API order creation at a fixed and at the maximum\nrate, and at the maximum rate into one account), e2e (created to approved with an\ninstant provider, at a fixed and at the maximum rate), monitor (a simulated day on\nan accelerated clock, per polling policy, plus barakat batching), idle (the CPU an\nidle serve uses, then River's 50 ms completer ticker alone, its floor), capacity (how many orders providers may hold pending while\nchecks keep to a fixed interval; real clock, steps of P). Every phase reports CPU per order, of the whole machine and of\nthis process (Linux).\nUse an empty database: the bench adds tenants and orders to it.")
	var cfg benchConfig
	fs.StringVar(&cfg.db.URL, "database-url", envDefault(env, "WATAN_BENCH_DATABASE_URL", ""),
		`database: "sqlite:PATH" or "postgres://..."; default a temporary SQLite file removed afterwards [$WATAN_BENCH_DATABASE_URL]`)
	fs.StringVar(&cfg.scenario, "scenario", "all", "intake, e2e, monitor, idle, capacity, or all")
	fs.Float64Var(&cfg.rate, "rate", 200, "intake: offered orders per second in the fixed-rate phase")
	fs.Float64Var(&cfg.e2eRate, "e2e-rate", 100, "e2e: offered orders per second in the fixed-rate phase")
	fs.DurationVar(&cfg.idle, "idle-duration", 30*time.Second, "idle: how long to measure an idle serve after it has settled")
	fs.StringVar(&cfg.idleProf, "idle-cpuprofile", "", "idle: write a CPU profile of the measurement window to this file")
	fs.IntVar(&cfg.orders, "orders", 2000, "orders per phase at most (intake, e2e) or per policy (monitor)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "wall-clock bound of each phase")
	fs.IntVar(&cfg.clients, "clients", 8, "concurrent HTTP clients (intake, e2e)")
	fs.IntVar(&cfg.workers, "workers", 100, "jobs each queue runs at once (e2e)")
	fs.DurationVar(&cfg.simBound, "monitor-duration", 3*time.Minute, "monitor: wall-clock bound of each policy's simulated day")
	fs.DurationVar(&cfg.median, "median", 20*time.Second, "monitor: median provider completion time (log-normal)")
	fs.Float64Var(&cfg.sigma, "sigma", 1, "monitor: sigma of the log-normal completion time; 0 makes it fixed at the median")
	fs.StringVar(&cfg.mix, "monitor-mix", "lognormal", "monitor: completion times: lognormal (--median, --sigma), bimodal (70 % log-normal around 5 s, 30 % around 5 min), or slowdown (lognormal, 5 times slower from noon)")
	fs.IntVar(&cfg.pending, "batch-pending", 500, "monitor: barakat orders pending at once in the batching run")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of simulators, arrivals and jitter")
	fs.BoolVar(&cfg.poller, "check-poller", true, "e2e, capacity: run the check poller as serve does; false leaves every check to the order's check job")
	fs.BoolVar(&cfg.json, "json", false, "print the results as JSON instead of a table")
	cfg.capacity.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.orders <= 0 || cfg.duration <= 0 || cfg.simBound <= 0 || cfg.clients <= 0 || cfg.rate <= 0 || cfg.e2eRate <= 0 || cfg.idle <= 0 {
		return fmt.Errorf("bench: --orders, --duration, --monitor-duration, --clients, --rate, --e2e-rate and --idle-duration must be positive")
	}
	if cfg.db.URL == "" {
		dir, err := os.MkdirTemp("", "watan-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.db.URL = "sqlite:" + filepath.Join(dir, "bench.db")
	}
	scenarios := map[string]func(context.Context, *Env, benchConfig) ([]benchResult, error){
		"intake": benchIntake, "e2e": benchE2E, "monitor": benchMonitor, "idle": benchIdle, "capacity": benchCapacity,
	}
	names := []string{cfg.scenario}
	if cfg.scenario == "all" {
		names = []string{"idle", "intake", "e2e", "monitor", "capacity"} // capacity last: it leaves its orders pending
	}
	var results []benchResult
	for _, name := range names {
		fn, ok := scenarios[name]
		if !ok {
			return fmt.Errorf("bench: unknown scenario %q (want intake, e2e, monitor, idle, capacity or all)", name)
		}
		rs, err := fn(ctx, env, cfg)
		results = append(results, rs...)
		if err != nil {
			printBenchResults(env.Stdout, results, cfg.json)
			return fmt.Errorf("bench %s: %w", name, err)
		}
	}
	return printBenchResults(env.Stdout, results, cfg.json)
}

// benchResult is one row of the final table. Durations are in milliseconds so that
// the JSON reads the same as the table.
type benchResult struct {
	Scenario  string  `json:"scenario"`
	Phase     string  `json:"phase"`
	Database  string  `json:"database"`
	Orders    int     `json:"orders"`
	Errors    int     `json:"errors"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"orders_per_second,omitempty"`
	// What the percentiles measure, e.g. "API latency" or "detection delay".
	Measure string  `json:"measure"`
	P50ms   float64 `json:"p50_ms"`
	P95ms   float64 `json:"p95_ms"`
	P99ms   float64 `json:"p99_ms"`
	// Provider requests (placements and status checks) per order, for monitor.
	RequestsPerOrder float64 `json:"provider_requests_per_order,omitempty"`
	// CPU per order over the phase, in milliseconds: the whole machine's (every
	// process, the database included; busy time from /proc/stat) and this
	// process's own. Null where unknown (off Linux, or no orders).
	MachineCPUms *float64 `json:"machine_cpu_ms_per_order"`
	ProcessCPUms *float64 `json:"process_cpu_ms_per_order"`
	// For the idle scenario: CPU used as a percentage of one core.
	MachineCPUPercent *float64 `json:"machine_cpu_percent_of_core,omitempty"`
	ProcessCPUPercent *float64 `json:"process_cpu_percent_of_core,omitempty"`
	Note              string   `json:"note,omitempty"`
	// Capacity holds the capacity scenario's figures of one step.
	Capacity *capacityFigures `json:"capacity,omitempty"`
}

// cpu records the CPU a phase of orders used.
func (r *benchResult) cpu(u cpustat.Use, orders int) {
	r.MachineCPUms, r.ProcessCPUms = u.PerOp(orders)
}

// fmtOpt prints an optional figure, "n/a" when it is unknown (off Linux).
func fmtOpt(v *float64, format string) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf(format, *v)
}

func printBenchResults(w io.Writer, rs []benchResult, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rs)
	}
	tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tphase\tdb\torders\terrors\tseconds\torders/s\tmeasure\tp50\tp95\tp99\treq/order\tCPU ms/order machine\tprocess\tnote")
	for _, r := range rs {
		rate, rpo := "-", "-"
		if r.PerSecond > 0 {
			rate = fmt.Sprintf("%.0f", r.PerSecond)
		}
		if r.RequestsPerOrder > 0 {
			rpo = fmt.Sprintf("%.2f", r.RequestsPerOrder)
		}
		p50, p95, p99 := fmtMS(r.P50ms), fmtMS(r.P95ms), fmtMS(r.P99ms)
		machine, process := fmtOpt(r.MachineCPUms, "%.2f"), fmtOpt(r.ProcessCPUms, "%.2f")
		if r.Scenario == "idle" {
			// No orders: the CPU columns give the percentage of one core instead.
			p50, p95, p99, machine, process = "-", "-", "-", fmtOpt(r.MachineCPUPercent, "%.2f%%"), fmtOpt(r.ProcessCPUPercent, "%.2f%%")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, r.Phase, r.Database, r.Orders, r.Errors,
			r.Seconds, rate, r.Measure, p50, p95, p99, rpo, machine, process, r.Note)
	}
	return tw.Flush()
}

func fmtMS(ms float64) string {
	switch {
	case ms >= 10_000:
		return fmt.Sprintf("%.0fs", ms/1000)
	case ms >= 1000:
		return fmt.Sprintf("%.1fs", ms/1000)
	case ms >= 10:
		return fmt.Sprintf("%.0fms", ms)
	}
	return fmt.Sprintf("%.1fms", ms)
}

// percentiles fills p50/p95/p99 of ds (sorted in place).
func (r *benchResult) percentiles(measure string, ds []time.Duration) {
	r.Measure = measure
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		i := min(int(q*float64(len(ds))), len(ds)-1)
		return float64(ds[i].Microseconds()) / 1000
	}
	r.P50ms, r.P95ms, r.P99ms = at(0.50), at(0.95), at(0.99)
}

// benchSystem is the whole program as serve wires it: store, River queue, engine
// and the HTTP handler, minus the listener and signals.
type benchSystem struct {
	st         *store.Store
	queue      *jobs.Queue
	eng        *engine.Engine
	log        *slog.Logger
	stopKeeper context.CancelFunc
}

func openBenchSystem(ctx context.Context, url string, clock watan.Clock, workers int, seed uint64) (*benchSystem, error) {
	return openBenchSystemWith(ctx, url, clock, workers, seed, false)
}

// openBenchSystemWith is openBenchSystem whose engine, with poller set, leaves
// routine checks to the check poller, as serve's does; startPoller runs it.
func openBenchSystemWith(ctx context.Context, url string, clock watan.Clock, workers int, seed uint64, poller bool) (*benchSystem, error) {
	logger := slog.New(slog.DiscardHandler)
	st, err := store.Open(ctx, store.Config{URL: url, Clock: clock, APIKeyCacheTTL: store.DefaultAPIKeyCacheTTL})
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	// As serve does.
	if err := st.Warm(ctx); err != nil {
		st.Close()
		return nil, err
	}
	keeperCtx, stopKeeper := context.WithCancel(context.WithoutCancel(ctx))
	go st.KeepTables(keeperCtx, 0, nil)
	listen := ""
	if st.Engine() == store.EnginePostgres {
		listen = url
	}
	q, err := jobs.New(ctx, jobs.Config{DB: st.DB(), Postgres: st.Engine() == store.EnginePostgres, ListenURL: listen, Logger: logger, Workers: workers})
	if err != nil {
		stopKeeper()
		st.Close()
		return nil, err
	}
	eng, err := engine.New(engine.Config{Store: st, Queue: q, Clock: clock, Logger: logger, Seed: seed, CheckPoller: poller,
		Providers: providers.New(providers.Config{Logger: logger})})
	if err != nil {
		stopKeeper()
		st.Close()
		return nil, err
	}
	return &benchSystem{st: st, queue: q, eng: eng, log: logger, stopKeeper: stopKeeper}, nil
}

func (s *benchSystem) close() {
	s.stopKeeper()
	s.st.Close()
}

// dropJobs deletes the jobs a scenario left queued for its tenant (intake runs
// with the workers off; monitor runs the steps itself), so that the next
// scenario's workers do not spend its measurement on them.
func (s *benchSystem) dropJobs(ctx context.Context, tenantID int64) error {
	match := `(args->>'tenant_id')::bigint = $1`
	if s.st.Engine() == store.EngineSQLite {
		match = `json_extract(args, '$.tenant_id') = $1`
	}
	_, err := s.st.DB().ExecContext(ctx, `DELETE FROM river_job WHERE state <> 'running' AND `+match, tenantID)
	return err
}

// serveHTTP serves the API as serve does on a loopback port and returns its base URL.
func (s *benchSystem) serveHTTP() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: (&node{st: s.st, queue: s.queue, engine: s.eng}).routes(s.log), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// benchWorld is one tenant with funded accounts, its own simulators and a catalog
// routed to them.
type benchWorld struct {
	tenant   watan.Tenant
	key      string
	accounts []string
	znet     *providertest.Znet
	barakat  *providertest.Barakat
	// Provider accounts at znet and barakat, for catalogs tests add to.
	znetAcct, barakatAcct watan.ProviderAccount
}

const (
	benchPkgZnet    = "pubg-60"
	benchPkgBarakat = "pubg-60-b"
)

func (s *benchSystem) newWorld(ctx context.Context, name string, opts providertest.Options, settings watan.ProviderSettings) (*benchWorld, error) {
	bopts := opts
	bopts.Seed = opts.Seed + 1000 // independent PINs and fates at the two providers
	w := &benchWorld{
		znet:    providertest.NewZnet(providertest.ZnetOptions{Options: opts}),
		barakat: providertest.NewBarakat(providertest.BarakatOptions{Options: bopts}),
	}
	for _, sim := range []interface{ Start(net.Listener) }{w.znet, w.barakat} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			w.close()
			return nil, err
		}
		sim.Start(ln)
	}
	w.znet.SetBalance(watan.MaxAmount / 10)
	w.barakat.SetBalance(watan.MaxAmount / 10)
	err := func() error {
		var err error
		if w.tenant, err = s.st.CreateTenant(ctx, name); err != nil {
			return err
		}
		tid := w.tenant.ID
		if _, w.key, err = s.st.CreateAPIKey(ctx, tid, "bench"); err != nil {
			return err
		}
		for i := range 8 {
			code := fmt.Sprintf("bench-%d", i)
			if _, err := s.st.CreateAccount(ctx, tid, watan.NewAccount{Code: code, Name: code, Currency: "TRY"}); err != nil {
				return err
			}
			if _, err := s.st.TopUp(ctx, tid, code, 100_000_000_00, "bench"); err != nil {
				return err
			}
			w.accounts = append(w.accounts, code)
		}
		w.znetAcct, err = s.st.CreateProviderAccount(ctx, watan.ProviderAccount{
			TenantID: tid, Name: "znet", Kind: watan.ProviderZnet, BaseURL: w.znet.URL(), Active: true, Settings: settings,
			Credentials: map[string]watan.Secret{"kod": providertest.DefaultZnetKod, "sifre": providertest.DefaultZnetSifre},
		})
		if err != nil {
			return err
		}
		w.barakatAcct, err = s.st.CreateProviderAccount(ctx, watan.ProviderAccount{
			TenantID: tid, Name: "barakat", Kind: watan.ProviderBarakat, BaseURL: w.barakat.URL(), Active: true, Settings: settings,
			Credentials: map[string]watan.Secret{"token": providertest.DefaultBarakatToken},
		})
		if err != nil {
			return err
		}
		zacct, bacct := w.znetAcct, w.barakatAcct
		for _, p := range []struct {
			code string
			acct int64
		}{{benchPkgZnet, zacct.ID}, {benchPkgBarakat, bacct.ID}} {
			pkg, err := s.st.CreatePackage(ctx, watan.Package{TenantID: tid, Code: p.code, Name: p.code, Price: 10_00, Currency: "TRY", Active: true,
				Routing: watan.Routing{Mode: watan.RouteAuto, PrimaryProviderID: p.acct}})
			if err != nil {
				return err
			}
			if _, err := s.st.PutMapping(ctx, watan.Mapping{TenantID: tid, PackageID: pkg.ID, ProviderAccountID: zacct.ID,
				ProductID: "3", Params: map[string]string{"oyun": "1", "kupur": "60"}}); err != nil {
				return err
			}
			if _, err := s.st.PutMapping(ctx, watan.Mapping{TenantID: tid, PackageID: pkg.ID, ProviderAccountID: bacct.ID,
				ProductID: "12345", Params: map[string]string{"server": "eu"}}); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		w.close()
		return nil, fmt.Errorf("seed %s: %w", name, err)
	}
	return w, nil
}

func (w *benchWorld) close() {
	w.znet.Close()
	w.barakat.Close()
}

// orderClient posts orders to the API the way a storefront does.
type orderClient struct {
	base, key string
	accounts  []string
	seq       atomic.Int64
	run       string
	http      *http.Client
}

func newOrderClient(base string, w *benchWorld, clients int) *orderClient {
	tr := &http.Transport{MaxIdleConnsPerHost: clients * 2}
	return &orderClient{base: base, key: w.key, accounts: w.accounts, run: fmt.Sprint(time.Now().UnixNano()),
		http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// create posts one order and reports whether it was created (201).
func (c *orderClient) create(ctx context.Context, pkg string) error {
	n := c.seq.Add(1)
	body := fmt.Sprintf(`{"package":%q,"account":%q,"quantity":1,"player_id":"5123456789","client_order_id":"b-%s-%d"}`,
		pkg, c.accounts[int(n)%len(c.accounts)], c.run, n)
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/api/v1/orders", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// progress prints a line every second until stop is called.
func progress(env *Env, label string, line func() string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		start := time.Now()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(env.Stderr, "%s %4.0fs  %s\n", label, time.Since(start).Seconds(), line())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// loadResult is what a load phase measured.
type loadResult struct {
	ok, errs int
	lat      []time.Duration
	elapsed  time.Duration
	firstErr error
}

// runLoad posts orders with clients goroutines until orders are sent or d passes.
// With rate > 0 each client keeps its share of a fixed schedule and latency counts
// from the scheduled moment, so a slow server cannot hide its queueing (coordinated
// omission); with rate 0 clients send as fast as answers come back.
func runLoad(ctx context.Context, env *Env, label string, c *orderClient, pkg string, clients, orders int, rate float64, d time.Duration) loadResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var res loadResult
	var sent, okN atomic.Int64
	stop := progress(env, label, func() string { return fmt.Sprintf("created %d", okN.Load()) })
	start := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			var lat []time.Duration
			var ok, errs int
			var firstErr error
			for k := 0; ; k++ {
				if sent.Add(1) > int64(orders) {
					break
				}
				from := time.Now()
				if rate > 0 {
					from = start.Add(time.Duration((float64(k*clients+i) / rate) * float64(time.Second)))
					if wait := time.Until(from); wait > 0 {
						select {
						case <-time.After(wait):
						case <-ctx.Done():
						}
					}
				}
				if ctx.Err() != nil {
					break
				}
				err := c.create(ctx, pkg)
				if ctx.Err() != nil {
					break // cut off by the phase's end, not the server's fault
				}
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				ok++
				okN.Add(1)
				lat = append(lat, time.Since(from))
			}
			mu.Lock()
			res.ok += ok
			res.errs += errs
			res.lat = append(res.lat, lat...)
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	stop()
	return res
}

// benchIntake measures order creation through the HTTP API with the workers off,
// so the figure is the API's and the database's alone (the jobs stay queued).
func benchIntake(ctx context.Context, env *Env, cfg benchConfig) ([]benchResult, error) {
	sys, err := openBenchSystem(ctx, cfg.db.URL, watan.SystemClock{}, cfg.workers, cfg.seed)
	if err != nil {
		return nil, err
	}
	defer sys.close()
	w, err := sys.newWorld(ctx, fmt.Sprintf("bench-intake-%d", time.Now().UnixNano()), providertest.Options{Seed: cfg.seed}, watan.ProviderSettings{})
	if err != nil {
		return nil, err
	}
	defer w.close()
	defer sys.dropJobs(context.WithoutCancel(ctx), w.tenant.ID)
	base, stopHTTP, err := sys.serveHTTP()
	if err != nil {
		return nil, err
	}
	defer stopHTTP()
	c := newOrderClient(base, w, cfg.clients)
	// The last phase sends every order to one account (a sub-dealer's storefront):
	// each create then waits for the previous one's lock on that account's row.
	one := newOrderClient(base, w, cfg.clients)
	one.accounts, one.run = w.accounts[:1], c.run+"-one"
	var out []benchResult
	for _, phase := range []struct {
		name string
		rate float64
		c    *orderClient
	}{{fmt.Sprintf("fixed %.0f/s", cfg.rate), cfg.rate, c}, {"max", 0, c}, {"max, one account", 0, one}} {
		cpu0 := cpustat.Take()
		r := runLoad(ctx, env, "intake "+phase.name, phase.c, benchPkgZnet, cfg.clients, cfg.orders, phase.rate, cfg.duration)
		res := benchResult{Scenario: "intake", Phase: phase.name, Database: string(sys.st.Engine()), Orders: r.ok, Errors: r.errs,
			Seconds: r.elapsed.Seconds(), PerSecond: float64(r.ok) / r.elapsed.Seconds(),
			Note: fmt.Sprintf("%d clients, workers off", cfg.clients)}
		res.cpu(cpu0.Until(cpustat.Take()), r.ok)
		res.percentiles("API latency", r.lat)
		if r.firstErr != nil {
			res.Note += "; first error: " + r.firstErr.Error()
		}
		out = append(out, res)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		if phase.rate > 0 {
			// The fixed-rate phase was the warm-up: analyze now, as autovacuum would
			// within a minute, or the maximum-rate phases measure plans made for
			// empty tables (see store.(*Store).Analyze).
			if err := sys.st.Analyze(ctx); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// benchE2E measures orders from creation (over HTTP) to approved with the queue
// running, an instantly completing simulator and no first-check delay: first at a
// fixed offered rate (--e2e-rate), for the latency of a moderately loaded system,
// then as fast as the clients can create orders, for throughput. Each phase has a
// tenant and simulators of its own.
func benchE2E(ctx context.Context, env *Env, cfg benchConfig) ([]benchResult, error) {
	sys, err := openBenchSystemWith(ctx, cfg.db.URL, watan.SystemClock{}, cfg.workers, cfg.seed, cfg.poller)
	if err != nil {
		return nil, err
	}
	defer sys.close()
	base, stopHTTP, err := sys.serveHTTP()
	if err != nil {
		return nil, err
	}
	defer stopHTTP()
	jobCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	if err := sys.queue.Start(jobCtx, sys.eng); err != nil {
		return nil, err
	}
	if cfg.poller {
		go sys.eng.RunPoller(jobCtx)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sys.queue.Stop(sctx)
	}()
	var out []benchResult
	for _, phase := range []struct {
		name string
		rate float64
	}{{fmt.Sprintf("fixed %.0f/s", cfg.e2eRate), cfg.e2eRate}, {"max", 0}} {
		rs, err := e2ePhase(ctx, env, cfg, sys, base, phase.name, phase.rate)
		out = append(out, rs...)
		if err != nil {
			return out, err
		}
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	return out, nil
}

// e2ePhase creates orders at rate (0: as fast as answers come back) for one new
// tenant, waits for them to become final, and reports throughput, latency from
// creation to the provider call and to approval, and CPU per order.
func e2ePhase(ctx context.Context, env *Env, cfg benchConfig, sys *benchSystem, base, name string, rate float64) ([]benchResult, error) {
	w, err := sys.newWorld(ctx, fmt.Sprintf("bench-e2e-%d", time.Now().UnixNano()), providertest.Options{Seed: cfg.seed},
		watan.ProviderSettings{FirstCheckDelay: -1})
	if err != nil {
		return nil, err
	}
	defer w.close()
	c := newOrderClient(base, w, cfg.clients)
	tid := w.tenant.ID
	count := func(where string) int {
		var n int
		_ = sys.st.DB().QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE tenant_id = $1 AND `+where, tid).Scan(&n)
		return n
	}
	cpu0 := cpustat.Take()
	start := time.Now()
	r := runLoad(ctx, env, "e2e "+name+" create", c, benchPkgZnet, cfg.clients, cfg.orders, rate, cfg.duration)
	// Wait for the orders to become final, bounded by the phase's duration again.
	stop := progress(env, "e2e "+name+" drain", func() string { return fmt.Sprintf("final %d of %d", count("status <> 'pending'"), r.ok) })
	deadline := time.Now().Add(cfg.duration)
	var pending int
	for {
		pending = count("status = 'pending'")
		if pending == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		// The bench's own measurement loop: coarse enough that its queries do not
		// weigh in the CPU per order.
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	use := cpu0.Until(cpustat.Take())
	stop()
	approved := count("status = 'approved'")

	placed := map[string]time.Time{}
	for _, o := range w.znet.Orders() {
		placed[o.Ref] = o.PlacedAt
	}
	rows, err := sys.st.DB().QueryContext(ctx, `SELECT provider_referans, created_at, completed_at FROM orders WHERE tenant_id = $1 AND status = 'approved'`, tid)
	if err != nil {
		return nil, err
	}
	var toProvider, toFinal []time.Duration
	for rows.Next() {
		var ref sql.NullString
		var created, completed timeValue
		if err := rows.Scan(&ref, &created, &completed); err != nil {
			rows.Close()
			return nil, err
		}
		if at, ok := placed[ref.String]; ok && created.Valid {
			toProvider = append(toProvider, at.Sub(created.T))
		}
		if created.Valid && completed.Valid {
			toFinal = append(toFinal, completed.T.Sub(created.T))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	note := fmt.Sprintf("%d clients, %d workers", cfg.clients, cfg.workers)
	if rate > 0 {
		note += fmt.Sprintf(", offered %.0f orders/s", rate)
	}
	if pending > 0 {
		note += fmt.Sprintf("; %d still pending at the bound", pending)
	}
	if r.firstErr != nil {
		note += "; first error: " + r.firstErr.Error()
	}
	a := benchResult{Scenario: "e2e", Phase: name + ", created→approved", Database: string(sys.st.Engine()), Orders: approved, Errors: r.errs,
		Seconds: elapsed.Seconds(), PerSecond: float64(approved) / elapsed.Seconds(), Note: note}
	a.cpu(use, approved)
	a.percentiles("created→provider call", toProvider)
	b := a
	b.Phase, b.Note = name+", same run", ""
	b.PerSecond = 0
	b.percentiles("created→approved", toFinal)
	return []benchResult{a, b}, nil
}

// timeValue scans a timestamp from either engine: PostgreSQL returns time.Time,
// SQLite the microseconds since the epoch the store wrote.
type timeValue struct {
	T     time.Time
	Valid bool
}

func (v *timeValue) Scan(src any) error {
	switch x := src.(type) {
	case nil:
		v.Valid = false
		return nil
	case time.Time:
		v.T, v.Valid = x, true
		return nil
	case int64:
		v.T, v.Valid = time.UnixMicro(x).UTC(), true
		return nil
	}
	return fmt.Errorf("timestamp: unexpected %T", src)
}

// monitorPolicy is one polling policy the monitor scenario compares.
type monitorPolicy struct {
	name     string
	settings watan.ProviderSettings
}

var monitorPolicies = []monitorPolicy{
	// The default: steady checks every 55 s, the first 55 s after sending.
	{"steady 55 s (default)", watan.ProviderSettings{}},
	{"exponential (10 s first)", watan.ProviderSettings{FirstCheckDelay: 10 * time.Second, Policy: watan.PollExponential}},
	{"fixed 10 s", watan.ProviderSettings{FirstCheckDelay: 10 * time.Second, Policy: watan.PollFixed, PollInterval: 10 * time.Second}},
	// The system watan replaces: first check after 60 s, then the v1 steps.
	{"old (60 s first)", watan.ProviderSettings{FirstCheckDelay: 60 * time.Second, Policy: watan.PollExponential}},
	// Adaptive at its default target (55 s) and two points of its trade-off curve.
	{"adaptive 55 s", watan.ProviderSettings{Policy: watan.PollAdaptive}},
	{"adaptive 45 s", watan.ProviderSettings{Policy: watan.PollAdaptive, PollInterval: 45 * time.Second}},
	{"adaptive 35 s", watan.ProviderSettings{Policy: watan.PollAdaptive, PollInterval: 35 * time.Second}},
}

// benchMonitor simulates a day of orders on an accelerated clock. The engine's
// steps run directly, as the queue would run them, from a schedule the bench keeps
// from each step's answer: River's snoozes wait on the real clock, which would
// make a simulated day take a day.
func benchMonitor(ctx context.Context, env *Env, cfg benchConfig) ([]benchResult, error) {
	clock := providertest.NewManualClock(time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))
	sys, err := openBenchSystem(ctx, cfg.db.URL, clock, cfg.workers, cfg.seed)
	if err != nil {
		return nil, err
	}
	defer sys.close()
	delay := providertest.LogNormalDelay(cfg.median, cfg.sigma)
	switch cfg.mix {
	case "", "lognormal":
	case "bimodal":
		delay = providertest.MixDelay(0.7, providertest.LogNormalDelay(5*time.Second, 0.5), providertest.LogNormalDelay(5*time.Minute, 0.3))
	case "slowdown":
		noon := clock.Now().Add(12 * time.Hour)
		delay = providertest.ShiftDelay(clock, noon, delay, providertest.LogNormalDelay(5*cfg.median, cfg.sigma))
	default:
		return nil, fmt.Errorf("bench: --monitor-mix %q is not lognormal, bimodal or slowdown", cfg.mix)
	}
	type run = monitorRunSpec
	var runs []run
	for _, p := range monitorPolicies {
		runs = append(runs, run{"znet, " + p.name, benchPkgZnet, p.settings, cfg.orders, 24 * time.Hour})
	}
	if cfg.mix != "" && cfg.mix != "lognormal" {
		for i := range runs {
			runs[i].name += ", " + cfg.mix
		}
		return monitorRuns(ctx, env, cfg, sys, clock, delay, runs)
	}
	runs = append(runs,
		run{fmt.Sprintf("barakat batch, %d at once, default", cfg.pending), benchPkgBarakat, watan.ProviderSettings{}, cfg.pending, 0},
		// Batches make frequent checks cheap: one request covers up to 100 orders.
		run{fmt.Sprintf("barakat batch, %d at once, steady 5 s", cfg.pending), benchPkgBarakat,
			watan.ProviderSettings{FirstCheckDelay: 5 * time.Second, PollInterval: 5 * time.Second}, cfg.pending, 0})
	return monitorRuns(ctx, env, cfg, sys, clock, delay, runs)
}

// monitorRun is one policy's run of the monitor scenario.
type monitorRunSpec struct {
	name     string
	pkg      string
	settings watan.ProviderSettings
	orders   int
	span     time.Duration // arrivals spread evenly over this much simulated time
}

func monitorRuns(ctx context.Context, env *Env, cfg benchConfig, sys *benchSystem, clock *providertest.ManualClock,
	delay providertest.Delay, runs []monitorRunSpec) ([]benchResult, error) {
	var out []benchResult
	for i, r := range runs {
		opts := providertest.Options{Seed: cfg.seed + uint64(i), Clock: clock, Delay: delay, CancelRate: 0.05}
		w, err := sys.newWorld(ctx, fmt.Sprintf("bench-monitor-%d-%d", i, time.Now().UnixNano()), opts, r.settings)
		if err != nil {
			return out, err
		}
		cpu0 := cpustat.Take()
		res, err := monitorRun(ctx, env, sys, w, clock, r.name, r.pkg, r.orders, r.span, cfg.simBound, cfg.seed)
		res.cpu(cpu0.Until(cpustat.Take()), res.Orders)
		w.close()
		if derr := sys.dropJobs(context.WithoutCancel(ctx), w.tenant.ID); err == nil {
			err = derr
		}
		out = append(out, res)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// simEvent is one step the bench's own scheduler runs at a simulated time.
type simEvent struct {
	at      time.Time
	seq     int64 // ties keep insertion order, so runs are reproducible
	kind    string
	orderID int64
	fails   int
}

type eventHeap []simEvent

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(simEvent)) }
func (h *eventHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func monitorRun(ctx context.Context, env *Env, sys *benchSystem, w *benchWorld, clock *providertest.ManualClock,
	name, pkg string, orders int, span, bound time.Duration, seed uint64) (benchResult, error) {
	res := benchResult{Scenario: "monitor", Phase: name, Database: string(sys.st.Engine())}
	tid := w.tenant.ID
	rng := rand.New(rand.NewPCG(seed, 7))
	var h eventHeap
	var seq int64
	push := func(e simEvent) {
		seq++
		e.seq = seq
		heap.Push(&h, e)
	}
	start := clock.Now()
	for i := range orders {
		at := start
		if span > 0 {
			at = start.Add(time.Duration(float64(span) * (float64(i) + rng.Float64()) / float64(orders)))
		}
		push(simEvent{at: at, kind: "create"})
	}
	var steps, created, final atomic.Int64
	stop := progress(env, "monitor "+name, func() string {
		return fmt.Sprintf("created %d, final %d, steps %d, simulated %s", created.Load(), final.Load(), steps.Load(), clock.Now().Sub(start).Round(time.Second))
	})
	defer stop()
	wallStart := time.Now()
	wallEnd := wallStart.Add(bound)
	// Deliberately sequential: one step at a time keeps the simulated clock exact
	// and the run reproducible; the figures measured are about time on that clock.
	n := 0
	for h.Len() > 0 {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if time.Now().After(wallEnd) {
			res.Note = fmt.Sprintf("stopped at the --duration bound with %d steps left", h.Len())
			break
		}
		e := heap.Pop(&h).(simEvent)
		if d := e.at.Sub(clock.Now()); d > 0 {
			clock.Advance(d)
		}
		steps.Add(1)
		switch e.kind {
		case "create":
			n++
			o, _, err := sys.st.CreateOrderWith(ctx, watan.NewOrder{TenantID: tid, PackageCode: pkg, AccountCode: w.accounts[n%len(w.accounts)],
				Quantity: 1, PlayerID: "5123456789", ClientOrderID: fmt.Sprintf("m-%d", n), Actor: watan.ActorAPI},
				func(ctx context.Context, tx *sql.Tx, o watan.Order) error {
					return sys.queue.EnqueueDispatchTx(ctx, tx, o)
				})
			if err != nil {
				return res, err
			}
			created.Add(1)
			push(simEvent{at: clock.Now(), kind: "dispatch", orderID: o.ID})
		case "dispatch", "check":
			step := sys.eng.Check
			if e.kind == "dispatch" {
				step = sys.eng.Dispatch
			}
			next, err := step(ctx, tid, e.orderID)
			if err != nil {
				// A failed step is retried with the queue's backoff.
				res.Errors++
				e.fails++
				push(simEvent{at: clock.Now().Add(engine.RetryDelay(e.fails)), kind: e.kind, orderID: e.orderID, fails: e.fails})
				continue
			}
			if next.After > 0 {
				push(simEvent{at: clock.Now().Add(next.After), kind: e.kind, orderID: e.orderID})
				continue
			}
			// Done: the order is final, or the step left work for another job
			// (dispatch schedules the first check; "not found" dispatches again).
			o, err := sys.st.FindOrder(ctx, tid, e.orderID)
			if err != nil {
				return res, err
			}
			switch {
			case o.Status.Final():
				final.Add(1)
			case o.ProviderState == watan.StateNotFound:
				push(simEvent{at: clock.Now(), kind: "dispatch", orderID: o.ID})
			case o.NextCheckAt != nil:
				push(simEvent{at: *o.NextCheckAt, kind: "check", orderID: o.ID})
			default:
				push(simEvent{at: clock.Now(), kind: "check", orderID: o.ID})
			}
		}
	}
	res.Seconds = time.Since(wallStart).Seconds()

	// Detection delay: from the moment the provider finished the order to the
	// moment the order became final here, both on the simulated clock.
	finished := map[string]time.Time{}
	sims := w.znet.Orders()
	reqs := len(w.znet.Requests())
	if pkg == benchPkgBarakat {
		sims, reqs = w.barakat.Orders(), len(w.barakat.Requests())
	}
	for _, so := range sims {
		if so.State != providertest.StatePending {
			finished[so.Ref] = so.PlacedAt.Add(so.Fate.After)
		}
	}
	rows, err := sys.st.DB().QueryContext(ctx, `SELECT provider_referans, completed_at FROM orders WHERE tenant_id = $1 AND status <> 'pending'`, tid)
	if err != nil {
		return res, err
	}
	var delays []time.Duration
	for rows.Next() {
		var ref sql.NullString
		var completed timeValue
		if err := rows.Scan(&ref, &completed); err != nil {
			rows.Close()
			return res, err
		}
		if at, ok := finished[ref.String]; ok && completed.Valid {
			delays = append(delays, max(completed.T.Sub(at), 0))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, err
	}
	res.Orders = int(final.Load())
	if created.Load() > 0 {
		res.RequestsPerOrder = float64(reqs) / float64(created.Load())
	}
	res.percentiles("detection delay", delays)
	if int(final.Load()) < orders && res.Note == "" {
		res.Note = fmt.Sprintf("%d of %d final", final.Load(), orders)
	}
	return res, nil
}
