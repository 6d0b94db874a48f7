package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"watan"
	"watan/internal/balanceprobe"
	"watan/internal/dashboard"
	"watan/internal/dbhealth"
	"watan/internal/demo"
	"watan/internal/egress"
	"watan/internal/engine"
	"watan/internal/httpapi"
	"watan/internal/jobs"
	"watan/internal/metrics"
	"watan/internal/providers"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/webhooks"

	"riverqueue.com/riverui"
)

// workerConfig is what both "serve" and "worker" can be told about running jobs.
type workerConfig struct {
	db              dbConfig
	log             logConfig
	allowPrivate    bool
	allowTargets    string
	workers         int
	sweepInterval   time.Duration
	rescueAfter     time.Duration
	shutdownTimeout time.Duration
}

func (c *workerConfig) register(fs *flag.FlagSet) {
	c.db.register(fs)
	c.log.register(fs)
	fs.IntVar(&c.workers, "workers", 100,
		"jobs each of the dispatch and check queues runs at once in this process [$WATAN_WORKERS]")
	fs.DurationVar(&c.sweepInterval, "sweep-interval", 5*time.Minute,
		"how often the leader sweeps for orders that lost their job or passed their deadline [$WATAN_SWEEP_INTERVAL]")
	fs.DurationVar(&c.rescueAfter, "rescue-after", 3*time.Minute,
		"how long a job may run before it is presumed lost with its process and run again; longer than any provider call [$WATAN_RESCUE_AFTER]")
	fs.BoolVar(&c.allowPrivate, "allow-private-targets", false,
		"let webhooks and provider requests reach private, loopback and link-local addresses (a closed network) [$WATAN_ALLOW_PRIVATE_TARGETS]")
	fs.StringVar(&c.allowTargets, "allow-targets", "",
		"comma-separated CIDR prefixes that webhooks and provider requests may reach although they are not public [$WATAN_ALLOW_TARGETS]")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second,
		"how long to wait for requests and jobs in flight when stopping; jobs still running then return to the queue [$WATAN_SHUTDOWN_TIMEOUT]")
}

// serveConfig is everything "watan serve" can be told.
type serveConfig struct {
	workerConfig
	rateLimit      float64
	rateBurst      int
	secureCookies  bool
	httpAddr       string
	demo           bool
	demoDelay      string
	demoFirstCheck time.Duration
	balanceProbe   time.Duration
}

func cmdServe(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "serve", "serve [flags]\n\nServes the API and runs the workers until interrupted. On an empty database it\ncreates a demo tenant wired to in-process simulated providers and prints its API key.")
	var cfg serveConfig
	cfg.register(fs)
	fs.StringVar(&cfg.httpAddr, "http-addr", defaultHTTPAddr,
		"address to serve HTTP on; port 0 picks a free port [$WATAN_HTTP_ADDR]")
	fs.Float64Var(&cfg.rateLimit, "rate-limit", httpapi.DefaultRatePerSecond,
		"API requests a second one client address may make (beyond its burst it gets 429 with Retry-After); 0 turns the limit off [$WATAN_RATE_LIMIT]")
	fs.IntVar(&cfg.rateBurst, "rate-burst", httpapi.DefaultRateBurst,
		"API requests one client address may make at once before --rate-limit applies [$WATAN_RATE_BURST]")
	fs.BoolVar(&cfg.secureCookies, "secure-cookies", false,
		"mark dashboard cookies Secure even on plain HTTP, for a node behind a TLS-terminating proxy [$WATAN_SECURE_COOKIES]")
	fs.BoolVar(&cfg.demo, "demo", true,
		"on an empty database, seed a demo tenant, catalog and funded account; run its simulated providers in-process [$WATAN_DEMO]")
	fs.StringVar(&cfg.demoDelay, "demo-delay", "uniform:2s..8s",
		`how long the demo's simulated providers take to complete an order: "fixed:D", "uniform:A..B" or "lognormal:MEDIAN[,SIGMA]" [$WATAN_DEMO_DELAY]`)
	fs.DurationVar(&cfg.demoFirstCheck, "demo-first-check", 10*time.Second,
		"first-check delay of the demo's provider accounts when they are created; 0 checks at once [$WATAN_DEMO_FIRST_CHECK]")
	fs.DurationVar(&cfg.balanceProbe, "balance-probe-interval", balanceprobe.DefaultInterval,
		"how often serve reads every provider account's balance, records it and checks it against the account's low-balance threshold; 0 turns it off [$WATAN_BALANCE_PROBE_INTERVAL]")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	logger, err := cfg.log.logger(env.Stderr)
	if err != nil {
		return err
	}
	return runNode(ctx, env, cfg, logger, true)
}

func cmdWorker(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "worker", "worker [flags]\n\nRuns the dispatch and monitoring workers without the API, as an extra node\nsharing a PostgreSQL database with \"watan serve\".")
	var cfg serveConfig
	cfg.register(fs)
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	logger, err := cfg.log.logger(env.Stderr)
	if err != nil {
		return err
	}
	return runNode(ctx, env, cfg, logger, false)
}

// node is one running process: the store, the queue with its workers, the engine
// and, for serve, the HTTP server.
type node struct {
	st        *store.Store
	health    *dbhealth.Monitor
	queue     *jobs.Queue
	engine    *engine.Engine
	metrics   *metrics.Metrics
	webhooks  *webhooks.Service
	providers *providers.Registry
	jobsUI    http.Handler // River's UI; nil on worker nodes
	sims      *demoSims

	secureCookies bool
	rateLimit     float64 // API requests a second per client address; 0: none
	rateBurst     int
	egress        *egress.Policy // where webhooks and provider requests may go
	rescueAfter   time.Duration
}

// runNode starts a node and runs it until ctx ends, then stops it in order: no new
// requests, running jobs finish (or return to the queue at the shutdown timeout),
// then the database closes.
func runNode(ctx context.Context, env *Env, cfg serveConfig, logger *slog.Logger, api bool) error {
	// The database monitor logs an outage twice (down, back); every component that
	// talks to the database logs through quiet, which turns the errors an outage
	// causes into reports to the monitor and DEBUG lines instead of one ERROR per
	// failed poll. Provider and simulator logs keep the plain logger: their
	// network errors are not the database's.
	n := &node{secureCookies: cfg.secureCookies, rateLimit: cfg.rateLimit, rateBurst: cfg.rateBurst, rescueAfter: cfg.rescueAfter}
	dbLog := logger.With("component", "database")
	n.health = dbhealth.New(dbhealth.Config{
		Ping:   func(ctx context.Context) error { return n.st.Ping(ctx) },
		Logger: dbLog,
		OnUp:   func(since, back time.Time) { n.afterOutage(ctx, dbLog, since, back) },
	})
	quiet := slog.New(n.health.Quiet(logger.Handler()))

	st, err := openStore(ctx, env, cfg.db, quiet, true)
	if err != nil {
		return err
	}
	defer st.Close()
	n.st = st
	// One serve per embedded file; and a move in progress keeps serve off it.
	unlock, err := st.LockFile()
	if err != nil {
		return err
	}
	defer unlock() //nolint:errcheck // the lock goes with the process anyway
	// Secrets an older version stored in plain text are sealed now. Re-sealing under
	// a newer key waits for `watan secrets rotate`, run once every node has it.
	if sealed, err := st.SealPlainSecrets(ctx); err != nil {
		return fmt.Errorf("sealing secrets: %w", err)
	} else if sealed > 0 {
		logger.Info("sealed secrets at rest", "count", sealed)
	}
	allow, err := egress.ParsePrefixes(cfg.allowTargets)
	if err != nil {
		return fmt.Errorf("--allow-targets: %w", err)
	}
	n.egress = &egress.Policy{AllowPrivate: cfg.allowPrivate, Allow: allow}
	// Open the pool's connections now rather than under the first orders. A
	// failure only costs that latency, so it is logged, not fatal.
	if err := st.Warm(ctx); err != nil {
		logger.Warn("warming the database pool", "err", err)
	}
	// Plans made for empty tables make every transition scan a tenant's orders
	// until the tables are analyzed, and dead rows pile up until they are
	// vacuumed: do both wherever autovacuum does not.
	go st.KeepTables(ctx, 0, func(m store.Maintenance, err error) {
		if err != nil {
			quiet.Warn("maintaining the database's tables", "err", err)
			return
		}
		quiet.Debug("maintained tables", "analyzed", m.Analyzed, "vacuumed", m.Vacuumed)
	})

	var seeded *demo.Result
	if api && cfg.demo {
		if n.sims, seeded, err = startDemo(ctx, st, cfg, logger); err != nil {
			return err
		}
		defer n.sims.close()
		// The demo's simulators listen on loopback.
		n.egress.Allow = append(n.egress.Allow, egress.Loopback...)
	}
	if !api && st.Engine() == store.EngineSQLite {
		return errors.New("worker: extra nodes need PostgreSQL (WATAN_DATABASE_URL=postgres://...); on SQLite, serve runs the workers itself")
	}

	listen := ""
	if st.Engine() == store.EnginePostgres {
		listen = cfg.db.URL
	}
	n.queue, err = jobs.New(ctx, jobs.Config{
		DB: st.DB(), Postgres: st.Engine() == store.EnginePostgres, ListenURL: listen,
		Logger: quieter(quiet, slog.LevelWarn).With("component", "river"), Workers: cfg.workers, SweepInterval: cfg.sweepInterval, RescueAfter: cfg.rescueAfter,
	})
	if err != nil {
		return err
	}
	healthCtx, stopHealth := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHealth()
	go n.health.Run(healthCtx)
	n.metrics = metrics.New()
	n.metrics.WatchStore(st, nil, 2*time.Second)
	n.webhooks, err = webhooks.New(webhooks.Config{Store: st, Queue: n.queue, Observer: n.metrics, Egress: n.egress,
		Logger: quiet.With("component", "webhooks")})
	if err != nil {
		return err
	}
	// Every node works webhook jobs: a node without the handler would fail them.
	n.queue.HandleWebhooks(n.webhooks)
	n.providers = providers.New(providers.Config{Logger: logger.With("component", "provider"), Wrap: n.metrics.WrapProvider, Egress: n.egress})
	ecfg := engine.Config{
		Store: st, Queue: n.queue, Logger: quiet.With("component", "engine"),
		Observer: n.metrics, Notifier: n.webhooks, Providers: n.providers,
		// Every node polls: the claim shares the due checks among them.
		CheckPoller: true,
	}
	if st.Engine() == store.EnginePostgres {
		// Several nodes may share the database: provider limits, breakers opening
		// and catalog changes (pauses among them) hold across them.
		ecfg.Leases, ecfg.Circuits = st, st
	}
	n.engine, err = engine.New(ecfg)
	if err != nil {
		return err
	}
	listenCtx, stopListening := context.WithCancel(context.WithoutCancel(ctx))
	defer stopListening()
	go st.ListenChanges(listenCtx, store.Changes{Catalog: n.engine.CatalogChanged, CircuitOpen: n.engine.CircuitOpened})
	n.metrics.WatchCircuits(n.engine.Circuits)
	if api && cfg.balanceProbe > 0 {
		probe := balanceprobe.New(balanceprobe.Config{Store: st, Providers: n.providers, Observer: n.metrics,
			Interval: cfg.balanceProbe, Logger: quiet.With("component", "balanceprobe")})
		probeCtx, stopProbe := context.WithCancel(ctx)
		defer stopProbe()
		go probe.Run(probeCtx)
	}
	n.metrics.WatchCompletions(n.engine.Completions)

	// Jobs stop on their own context so that a shutdown lets running jobs finish
	// instead of cancelling them at once.
	jobCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	if api {
		ui, err := riverui.NewHandler(&riverui.HandlerOpts{
			Endpoints: riverui.NewEndpoints(n.queue.Client(), nil),
			Logger:    quieter(quiet, slog.LevelWarn).With("component", "riverui"),
			Prefix:    dashboard.JobsPrefix,
		})
		if err != nil {
			return fmt.Errorf("job UI: %w", err)
		}
		n.jobsUI = &startOnFirstRequest{ui: ui, ctx: jobCtx}
	}

	var srv *http.Server
	errc := make(chan error, 1)
	if api {
		ln, err := net.Listen("tcp", cfg.httpAddr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.httpAddr, err)
		}
		srv = newHTTPServer(n.routes(quiet), logger)
		go func() { errc <- srv.Serve(ln) }()
		tenants, _ := st.ListTenants(ctx)
		printBanner(env, "http://"+ln.Addr().String(), st.Engine(), seeded, n.jobsUI != nil && len(tenants) == 1, tenants)
		logger.Info("serving", "addr", ln.Addr().String(), "database", string(st.Engine()))
	} else {
		fmt.Fprintf(env.Stdout, "watan worker running (database: %s)\n", st.Engine())
	}

	if err := n.queue.Start(jobCtx, n.engine); err != nil {
		return err
	}
	go n.engine.RunPoller(jobCtx)

	var runErr error
	select {
	case err := <-errc:
		runErr = fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
	defer cancel()
	if srv != nil {
		if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			runErr = errors.Join(runErr, fmt.Errorf("http shutdown: %w", err))
		}
	}
	if err := n.queue.Stop(shutCtx); err != nil {
		runErr = errors.Join(runErr, err)
	}
	return runErr
}

// routes is the process's HTTP surface.
func (n *node) routes(logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	api := httpapi.Config{
		Tenants: n.st, Accounts: n.st, Catalog: n.st, Operator: n.engine, Health: n.engine, Money: n.st,
		Logger:        logger.With("component", "api"),
		Orders:        orderIntake{Store: n.st, queue: n.queue, metrics: n.metrics},
		RatePerSecond: n.rateLimit, RateBurst: n.rateBurst, Egress: n.egress, RescueAfter: n.rescueAfter,
		Unavailable: n.unavailable,
	}
	if n.webhooks != nil {
		api.Webhooks = n.webhooks
	}
	mux.Handle(httpapi.Prefix+"/", httpapi.New(api))
	if n.metrics != nil {
		mux.Handle("GET /metrics", n.metrics.Handler())
	}
	dash := dashboard.Config{
		Store: n.st, Operator: n.engine, Money: n.st, Logger: logger.With("component", "dashboard"), Secure: n.secureCookies,
		JobsAccess: n.singleTenant,
	}
	if n.health != nil {
		dash.DatabaseDown = n.health.Down
	}
	if n.providers != nil {
		dash.Balances = dashboard.ProviderBalances{Accounts: n.st, Providers: n.providers}
	}
	if n.jobsUI != nil {
		dash.Jobs = n.jobsUI
	}
	mux.Handle("/", dashboard.New(dash))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", readyHandler(n.st, n.health))
	return mux
}

// unavailable classifies an API error as the database being unreachable (503) and
// reports it to the monitor.
func (n *node) unavailable(err error) bool {
	if n.health != nil {
		return n.health.Observe(err)
	}
	return store.IsUnavailable(err)
}

// settleAfterOutage is how long after the database's return the jobs whose fetch
// was lost are released: by then River's completer has recorded what finished
// during the outage (between rounds of retries it sleeps at most about 4 s).
const settleAfterOutage = 10 * time.Second

// afterOutage releases the jobs that this node's fetches took while the connection
// broke but never received, so that they run now rather than after River's
// rescuer (--rescue-after).
func (n *node) afterOutage(ctx context.Context, logger *slog.Logger, since, back time.Time) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(settleAfterOutage):
	}
	if n.queue == nil {
		return
	}
	// A fetch lost at the cut may have run on the server a little before watan saw
	// the first error, and the two clocks may differ: a minute's margin.
	released, err := n.queue.ReleaseUnreceived(ctx, since.Add(-time.Minute), back.Add(time.Second))
	switch {
	case err != nil:
		logger.Warn("releasing jobs fetched while the database connection broke", "err", err)
	case released > 0:
		logger.Info("released jobs whose fetch was lost when the database connection broke", "jobs", released)
	}
}

// singleTenant lets operators into River's UI only while the installation serves one
// tenant: the job UI shows and acts on every tenant's jobs, so with several tenants it
// would cross their boundary.
func (n *node) singleTenant(store.User) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ts, err := n.st.ListTenants(ctx)
	return err == nil && len(ts) == 1
}

// orderIntake creates orders with their dispatch job in the same transaction, so
// that an accepted order is never without one (invariant 1).
type orderIntake struct {
	*store.Store
	queue   *jobs.Queue
	metrics *metrics.Metrics
}

func (o orderIntake) CreateOrder(ctx context.Context, n watan.NewOrder) (watan.Order, bool, error) {
	created, isNew, err := o.Store.CreateOrderWith(ctx, n, func(ctx context.Context, tx *sql.Tx, created watan.Order) error {
		return o.queue.EnqueueDispatchTx(ctx, tx, created)
	})
	if err == nil && isNew && o.metrics != nil {
		o.metrics.OrderCreated()
	}
	return created, isNew, err
}

var _ watan.OrderService = orderIntake{}

// demoSims are the simulated providers of the demo tenant, served in-process.
type demoSims struct {
	znet    *providertest.Znet
	barakat *providertest.Barakat
}

func (d *demoSims) close() {
	d.znet.Close()
	d.barakat.Close()
}

// startDemo starts the simulators, seeds the demo on an empty database and points
// the demo tenant's provider accounts at this run's simulators.
func startDemo(ctx context.Context, st *store.Store, cfg serveConfig, logger *slog.Logger) (*demoSims, *demo.Result, error) {
	delay, err := parseDelay(cfg.demoDelay)
	if err != nil {
		return nil, nil, fmt.Errorf("--demo-delay: %w", err)
	}
	opts := providertest.Options{
		// By default orders complete a few seconds after placement, so the first
		// check (10 s after sending) finds them delivered; a few are cancelled.
		Delay: delay, CancelRate: 0.05,
		Logger: logger.With("component", "demo-provider"),
	}
	d := &demoSims{
		znet:    providertest.NewZnet(providertest.ZnetOptions{Options: opts, Kod: demo.ZnetKod, Sifre: demo.ZnetSifre}),
		barakat: providertest.NewBarakat(providertest.BarakatOptions{Options: opts, Token: demo.BarakatToken, AtPlacementRate: 0.3}),
	}
	for _, s := range []interface{ Start(net.Listener) }{d.znet, d.barakat} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			d.close()
			return nil, nil, fmt.Errorf("demo providers: %w", err)
		}
		s.Start(ln)
	}
	up := demo.Upstreams{ZnetURL: d.znet.URL(), BarakatURL: d.barakat.URL()}
	needed, err := demo.Needed(ctx, st)
	if err != nil {
		d.close()
		return nil, nil, err
	}
	if needed {
		firstCheck := cfg.demoFirstCheck
		if firstCheck == 0 {
			firstCheck = -1 // ProviderSettings: negative checks at once, zero means the default
		}
		r, err := demo.Seed(ctx, st, up, watan.ProviderSettings{FirstCheckDelay: firstCheck})
		if err != nil {
			d.close()
			return nil, nil, err
		}
		return d, &r, nil
	}
	if err := demo.Attach(ctx, st, up); err != nil {
		d.close()
		return nil, nil, err
	}
	return d, nil, nil
}

// readyHandler answers /readyz: 503 while the database monitor says the database is
// unreachable (without asking it again), or when a ping or the migration check
// fails now; 200 "ready" otherwise.
func readyHandler(st *store.Store, health *dbhealth.Monitor) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if health != nil {
			if since, down := health.Down(); down {
				http.Error(w, fmt.Sprintf("database unreachable since %s", since.UTC().Format(time.RFC3339)), http.StatusServiceUnavailable)
				return
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			if health != nil {
				health.Observe(err)
			}
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		current, err := st.MigrationsCurrent(ctx)
		if err != nil || !current {
			http.Error(w, "migrations not current", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	}
}

// printBanner tells a newcomer where things are and, once, the demo's sign-in and
// API key; on later starts, how to get a password again. The job UI's link is
// shown only when it is served (a single tenant).
func printBanner(env *Env, base string, engine store.Engine, seeded *demo.Result, jobs bool, tenants []watan.Tenant) {
	w := env.Stdout
	fmt.Fprintf(w, "watan listening on %s (database: %s)\n", base, engine)
	if jobs {
		fmt.Fprintf(w, "  dashboard: %s/  (jobs: %s%s/)\n", base, base, dashboard.JobsPrefix)
	} else {
		fmt.Fprintf(w, "  dashboard: %s/\n", base)
	}
	fmt.Fprintf(w, "  API:     %s/api/v1  (OpenAPI: %s/api/v1/openapi.json)\n", base, base)
	fmt.Fprintf(w, "  health:  %s/healthz  %s/readyz\n", base, base)
	if seeded == nil {
		tid := "ID"
		if len(tenants) == 1 {
			tid = strconv.FormatInt(tenants[0].ID, 10)
		}
		fmt.Fprintf(w, "  sign-in: tenant %s, a name from `watan user list --tenant %s`; passwords are shown only when set:\n", tid, tid)
		fmt.Fprintf(w, "    watan user reset-password --tenant %s --name NAME   # prints a new one\n", tid)
		return
	}
	fmt.Fprintf(w, "\nDemo tenant %q created (id %d). Shown only now:\n", seeded.Tenant.Name, seeded.Tenant.ID)
	fmt.Fprintf(w, "  dashboard sign-in: tenant %d, name %s, password %s\n", seeded.Tenant.ID, seeded.Operator, seeded.OperatorPassword)
	fmt.Fprintf(w, "  (lost it after a restart? watan user reset-password --tenant %d --name %s)\n", seeded.Tenant.ID, seeded.Operator)
	fmt.Fprintf(w, "  API key:\n  %s\n", seeded.APIKey)
	fmt.Fprintf(w, "Demo account %q holds %s %s. Order a PIN:\n", seeded.Account.Code, seeded.Account.Balance, seeded.Account.Currency)
	fmt.Fprintf(w, "  curl -s -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n", seeded.APIKey)
	fmt.Fprintf(w, "    -d '{\"package\":\"pubg-60\",\"account\":\"%s\",\"quantity\":1,\"player_id\":\"5123456789\",\"client_order_id\":\"demo-1\"}' \\\n", seeded.Account.Code)
	fmt.Fprintf(w, "    %s/api/v1/orders\n", base)
	fmt.Fprintf(w, "then, about 10 seconds later, GET %s/api/v1/orders/{id} shows it approved with its PIN.\n", base)
	fmt.Fprintf(w, "Account %q (USD, price group dealers) pays dealers' prices converted at the demo rate; sales, cost and\n", demo.DealerCode)
	fmt.Fprintf(w, "profit per day are on %s/reports and GET %s/api/v1/reports.\n", base, base)
}

// quieter returns a logger that drops records below min, for chatty dependencies.
func quieter(l *slog.Logger, min slog.Level) *slog.Logger {
	return slog.New(minLevel{Handler: l.Handler(), min: min})
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(as), min: h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(name), min: h.min}
}

// HTTP server timeouts. A client that trickles its headers or body, or never reads
// the answer, holds a connection and a goroutine only this long.
const (
	httpReadHeaderTimeout = 10 * time.Second
	// httpReadTimeout covers the largest body (a bulk code import) on a slow link.
	httpReadTimeout = 60 * time.Second
	// httpWriteTimeout outlasts the longest handler: an operator's "check now" waits
	// for a provider call of up to watan.MaxRequestTimeout.
	httpWriteTimeout = watan.MaxRequestTimeout + 30*time.Second
	httpIdleTimeout  = 2 * time.Minute
)

func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// startOnFirstRequest serves River's UI, starting it on its first request. From
// its Start on, the UI counts River's jobs by state every ten seconds or so,
// whether anyone looks or not; an idle serve whose job pages nobody has opened
// should not pay for that.
type startOnFirstRequest struct {
	ui   *riverui.Handler
	ctx  context.Context
	once sync.Once
	err  error
}

func (s *startOnFirstRequest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.once.Do(func() { s.err = s.ui.Start(s.ctx) })
	if s.err != nil {
		http.Error(w, "the job pages could not start: "+s.err.Error(), http.StatusServiceUnavailable)
		return
	}
	s.ui.ServeHTTP(w, r)
}
