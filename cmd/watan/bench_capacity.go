package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"watan"
	"watan/internal/cpustat"
	"watan/internal/engine"
	"watan/internal/jobs"
	"watan/internal/providers"
	"watan/internal/providertest"
	"watan/internal/store"
)

// The capacity scenario: how many orders can wait at providers that never finish
// them, each checked at a fixed interval, before the checks fall behind? It keeps P
// orders pending (half znet, one request per check; half barakat, up to 100 per
// request), raises P step by step and, for each step, measures for long enough
// that every order is checked at least twice:
//
//   - the lag of each check, from the moment it was due (the order's
//     next_check_at as the previous check or the placement set it) to the moment
//     it was made (the last_checked_at it wrote);
//   - checks per second, and River job runs per second (a barakat order checked
//     in another order's batch still has its own job wake up, find it not due and
//     snooze again);
//   - CPU per check: the whole machine (/proc/stat, so other load on the machine
//     counts too), this process (getrusage), the database's backends serving this
//     database (PostgreSQL on this machine: /proc/PID/stat of the backends in
//     pg_stat_activity) and the simulators' process;
//   - this process's RSS (VmRSS) and Go heap;
//   - on PostgreSQL, the size, dead tuples and row writes of orders, river_job and
//     order_events before and after, and commits per check; on SQLite the file's
//     growth.
//
// It stops at the first step whose lag p99 exceeds --capacity-max-lag and reports
// the last P that kept up.
//
// Orders are made as the engine makes them, only faster than through the API:
// each is created by the store as the API creates it (order, debit, ledger entry,
// event) but without a dispatch job, and the engine's Dispatch step runs on it at
// once in the bench's own goroutine instead of in a River job. The order row, its
// events and its check job are exactly what the engine writes; what is missing is
// the completed dispatch job River would keep in river_job for a day. Each step's
// new orders are created evenly over one interval, so their checks fall due
// evenly, as they would for orders arriving over time.

// capacityConfig is what the capacity scenario's flags set.
type capacityConfig struct {
	steps     string
	max       int
	interval  time.Duration
	window    time.Duration
	maxLag    time.Duration
	znetShare float64
	sim       string
	inflight  int
	bound     time.Duration
	creators  int
	profile   string
}

func (c *capacityConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.steps, "capacity-steps", "1000,2000,5000,10000,20000,50000,100000", "capacity: the numbers of pending orders to try, in increasing order")
	fs.IntVar(&c.max, "capacity-max", 100_000, "capacity: the largest number of pending orders to try (steps above it are skipped)")
	fs.DurationVar(&c.interval, "capacity-interval", 55*time.Second,
		"capacity: fixed interval between checks of an order (and before its first); the demanded rate is pending orders / interval")
	fs.DurationVar(&c.window, "capacity-window", 0, "capacity: measurement window of each step; 0 means 2.2 intervals, so that every order is checked at least twice")
	fs.DurationVar(&c.maxLag, "capacity-max-lag", 2*time.Second, "capacity: a step keeps up while the p99 of due→checked lag is at most this")
	fs.Float64Var(&c.znetShare, "capacity-znet-share", 0.5, "capacity: share of the orders at znet (one request per check); the rest are at barakat (batches of up to 100)")
	fs.StringVar(&c.sim, "capacity-sim", "process",
		`capacity: run the simulators in a child process ("process", so that this process's RSS and CPU are the engine's alone) or in this process ("inproc")`)
	fs.IntVar(&c.inflight, "capacity-inflight", 0, "capacity: each provider account's limit of concurrent calls; 0 keeps the default (8)")
	fs.DurationVar(&c.bound, "capacity-duration", 10*time.Minute, "capacity: wall-clock bound of the whole scenario; no step starts that would end past it")
	fs.IntVar(&c.creators, "capacity-creators", 32, "capacity: goroutines creating and dispatching each step's new orders")
	fs.StringVar(&c.profile, "capacity-cpuprofile", "", "capacity: write a CPU profile of each step's measurement window to PREFIX-ENGINE-P.pprof")
}

func (c *capacityConfig) ladder() ([]int, error) {
	var out []int
	for _, f := range strings.Split(c.steps, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 || (len(out) > 0 && n <= out[len(out)-1]) {
			return nil, fmt.Errorf("--capacity-steps %q: want increasing positive numbers", c.steps)
		}
		if n <= c.max {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--capacity-steps %q: no step at or below --capacity-max %d", c.steps, c.max)
	}
	if c.interval < watan.MinPollInterval || c.maxLag <= 0 || c.znetShare < 0 || c.znetShare > 1 || c.creators <= 0 || c.bound <= 0 {
		return nil, fmt.Errorf("capacity: --capacity-interval must be at least %s, --capacity-znet-share between 0 and 1, and --capacity-max-lag, --capacity-creators, --capacity-duration positive", watan.MinPollInterval)
	}
	if c.sim != "process" && c.sim != "inproc" {
		return nil, fmt.Errorf(`--capacity-sim %q: want "process" or "inproc"`, c.sim)
	}
	return out, nil
}

func (c *capacityConfig) windowLen() time.Duration {
	if c.window > 0 {
		return c.window
	}
	return c.interval * 22 / 10
}

// capacityFigures is what one step of the capacity scenario measured.
type capacityFigures struct {
	Pending         int     `json:"pending"`
	IntervalSeconds float64 `json:"interval_seconds"`
	WindowSeconds   float64 `json:"window_seconds"`
	Kept            bool    `json:"kept_up"`
	// Creation of this step's new orders.
	Created       int     `json:"created"`
	CreateSeconds float64 `json:"create_seconds"`
	CreateErrors  int     `json:"create_errors"`
	// After creation: the tenant's orders pending at a provider ("sent"), and
	// their live check jobs; both equal Pending when the orders are as the
	// engine makes them.
	Sent             int     `json:"sent"`
	LiveCheckJobs    int     `json:"live_check_jobs"`
	DemandPerSecond  float64 `json:"demand_checks_per_second"` // pending / interval
	Checks           int     `json:"checks"`
	ChecksPerSecond  float64 `json:"checks_per_second"`
	JobRunsPerSecond float64 `json:"job_runs_per_second"`
	// Provider requests per second (status checks), by kind.
	ZnetRequestsPerSecond    float64 `json:"znet_requests_per_second"`
	BarakatRequestsPerSecond float64 `json:"barakat_requests_per_second"`
	CheckErrors              int     `json:"check_errors"`
	// Checks made before they were due (barakat orders riding in another
	// order's batch); their lag counts as zero.
	Early int `json:"early"`
	// Checks made less than a quarter interval after the order's previous check:
	// concurrent batch checks of one account that took the same due orders along.
	Repeats  int     `json:"repeats"`
	LagMaxMs float64 `json:"lag_max_ms"`
	// How long the checks took, after creation, to have none more than a
	// second overdue (at most one interval): the window starts then.
	SettleSeconds float64 `json:"settle_seconds"`
	// The largest lag among the checks made in each 10 s of the window, in
	// order: a tail at the start is the catch-up after creation, one spread
	// through the window is not.
	LagMaxBySliceMs []float64 `json:"lag_max_by_10s_ms"`
	ZnetP99Ms       float64   `json:"znet_lag_p99_ms"`
	BarakatP99      float64   `json:"barakat_lag_p99_ms"`
	// Orders whose check was more than --capacity-max-lag overdue at the
	// window's end.
	Overdue int `json:"overdue_at_end"`
	// CPU per check in milliseconds; -1 where it could not be read.
	CPUMachineMs  float64 `json:"cpu_machine_ms_per_check"`
	CPUProcessMs  float64 `json:"cpu_process_ms_per_check"`
	CPUDatabaseMs float64 `json:"cpu_database_ms_per_check"`
	CPUSimMs      float64 `json:"cpu_simulator_ms_per_check"`
	LoadAverage   float64 `json:"load_average_1m"`
	RSSMB         float64 `json:"rss_mb"`
	PeakRSSMB     float64 `json:"peak_rss_mb"`
	HeapMB        float64 `json:"go_heap_mb"`
	// PostgreSQL: transactions committed per check (statements outside a
	// transaction count one each), and per table.
	CommitsPerCheck float64                  `json:"commits_per_check,omitempty"`
	Tables          map[string]capacityTable `json:"tables,omitempty"`
	// SQLite: the database file with its WAL.
	FileMB        float64 `json:"file_mb,omitempty"`
	FileMBPerHour float64 `json:"file_mb_per_hour,omitempty"`

	lags []time.Duration // every check's lag, for the result's percentiles
}

// capacityTable is one PostgreSQL table at the end of a step's window, with its
// growth during the window extrapolated to an hour of checking at the same rate.
type capacityTable struct {
	HeapMB          float64 `json:"heap_mb"`
	IndexMB         float64 `json:"index_mb"`
	HeapMBPerHour   float64 `json:"heap_mb_per_hour"`
	IndexMBPerHour  float64 `json:"index_mb_per_hour"`
	LiveTuples      int64   `json:"live_tuples"`
	DeadTuples      int64   `json:"dead_tuples"`
	DeadTuplesStart int64   `json:"dead_tuples_start"`
	InsertsPerCheck float64 `json:"inserts_per_check"`
	UpdatesPerCheck float64 `json:"updates_per_check"`
	HOTPerCheck     float64 `json:"hot_updates_per_check"`
	DeletesPerCheck float64 `json:"deletes_per_check"`
	Autovacuums     int64   `json:"autovacuums"`
}

// lagRecorder sees every order the engine reads and saves, through capStore, and
// records each check's lag: last_checked_at written minus the next_check_at the
// order had when read (the engine saves a change computed from a reading only if
// the order is still at that reading's version).
type lagRecorder struct {
	mu     sync.Mutex
	before map[int64]watan.Order // order ID → the engine's latest reading
	on     bool
	kinds  map[int64]watan.ProviderKind // provider account → kind
	lags   map[watan.ProviderKind][]time.Duration
	early  int
	// A check made less than repeatWithin after the order's previous one is a
	// repeat: concurrent batches that took the same due orders along.
	repeatWithin time.Duration
	repeats      int
	checks       atomic.Int64 // every recorded check, in or out of a window
	errSeen      atomic.Int64
	// The window's start, and the largest lag of the checks made in each
	// lagSlice of it: when in the window the late checks were made.
	began    time.Time
	sliceMax []time.Duration
}

// lagSlice is the span of the window each entry of the lag profile covers.
const lagSlice = 10 * time.Second

func newLagRecorder() *lagRecorder {
	return &lagRecorder{before: map[int64]watan.Order{}, kinds: map[int64]watan.ProviderKind{}, lags: map[watan.ProviderKind][]time.Duration{}}
}

func (r *lagRecorder) read(orders ...watan.Order) {
	r.mu.Lock()
	for _, o := range orders {
		if b, ok := r.before[o.ID]; !ok || b.Version <= o.Version {
			r.before[o.ID] = o
		}
	}
	r.mu.Unlock()
}

// saved records o, saved from the reading at o.Version.
func (r *lagRecorder) saved(o watan.Order) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.before[o.ID]
	if !ok || b.Version != o.Version {
		return
	}
	delete(r.before, o.ID)
	if o.LastCheckedAt == nil || b.NextCheckAt == nil || o.ID != b.ID {
		return
	}
	if b.LastCheckedAt != nil && !o.LastCheckedAt.After(*b.LastCheckedAt) {
		return // not a check
	}
	r.checks.Add(1)
	if !r.on {
		return
	}
	if b.LastCheckedAt != nil && o.LastCheckedAt.Sub(*b.LastCheckedAt) < r.repeatWithin {
		r.repeats++
	}
	lag := o.LastCheckedAt.Sub(*b.NextCheckAt)
	if lag < 0 {
		r.early++
		lag = 0
	}
	k := r.kinds[o.ProviderAccountID]
	r.lags[k] = append(r.lags[k], lag)
	if i := int(o.LastCheckedAt.Sub(r.began) / lagSlice); i >= 0 {
		for len(r.sliceMax) <= i {
			r.sliceMax = append(r.sliceMax, 0)
		}
		r.sliceMax[i] = max(r.sliceMax[i], lag)
	}
}

// start begins a window: lags from now on are kept, earlier ones dropped.
func (r *lagRecorder) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on, r.early, r.repeats = true, 0, 0
	r.began, r.sliceMax = time.Now(), nil
	clear(r.lags)
	clear(r.before) // transactions that rolled back never reached saved
}

// stop ends the window and returns its lags by provider kind.
func (r *lagRecorder) stop() (lags map[watan.ProviderKind][]time.Duration, early, repeats int, sliceMax []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = false
	out := r.lags
	r.lags = map[watan.ProviderKind][]time.Duration{}
	return out, r.early, r.repeats, r.sliceMax
}

// capStore is the store as the engine sees it, with the lag recorder listening.
type capStore struct {
	engine.Store
	rec *lagRecorder
}

func (s capStore) FindOrder(ctx context.Context, tenantID, id int64) (watan.Order, error) {
	o, err := s.Store.FindOrder(ctx, tenantID, id)
	if err == nil {
		s.rec.read(o)
	}
	return o, err
}

func (s capStore) DueChecks(ctx context.Context, tenantID, providerAccountID int64, now time.Time, excludeOrderID int64, limit int) ([]watan.Order, error) {
	os, err := s.Store.DueChecks(ctx, tenantID, providerAccountID, now, excludeOrderID, limit)
	if err == nil {
		s.rec.read(os...)
	}
	return os, err
}

func (s capStore) ClaimDueChecks(ctx context.Context, now time.Time, limit int, until func(watan.Order) time.Time) ([]watan.Order, error) {
	os, err := s.Store.ClaimDueChecks(ctx, now, limit, until)
	if err == nil {
		s.rec.read(os...)
	}
	return os, err
}

func (s capStore) LockOrderTx(ctx context.Context, tx *sql.Tx, tenantID, id int64) (watan.Order, error) {
	o, err := s.Store.LockOrderTx(ctx, tx, tenantID, id)
	if err == nil {
		s.rec.read(o)
	}
	return o, err
}

func (s capStore) SaveOrderTx(ctx context.Context, tx *sql.Tx, o watan.Order) error {
	err := s.Store.SaveOrderTx(ctx, tx, o)
	if err == nil {
		s.rec.saved(o)
	}
	return err
}

// countingRunner counts check job runs.
type countingRunner struct {
	jobs.Runner
	checkRuns atomic.Int64
}

func (r *countingRunner) CheckGeneration(ctx context.Context, tenantID, orderID int64, gen int) (engine.Next, error) {
	r.checkRuns.Add(1)
	return r.Runner.CheckGeneration(ctx, tenantID, orderID, gen)
}

// callCounter counts status check requests by provider kind.
type callCounter struct {
	znet, barakat, errs atomic.Int64
}

type countedProvider struct {
	watan.Provider
	n    *atomic.Int64
	errs *atomic.Int64
}

func (p countedProvider) Check(ctx context.Context, refs []watan.CheckRef) ([]watan.CheckResult, error) {
	per := max(p.Capabilities().MaxBatch, 1)
	p.n.Add(int64((len(refs) + per - 1) / per))
	res, err := p.Provider.Check(ctx, refs)
	if err != nil {
		p.errs.Add(1)
	}
	return res, err
}

func (c *callCounter) wrap(acct watan.ProviderAccount, p watan.Provider) watan.Provider {
	n := &c.znet
	if acct.Kind == watan.ProviderBarakat {
		n = &c.barakat
	}
	return countedProvider{Provider: p, n: n, errs: &c.errs}
}

// capacitySims are the simulators' base URLs, and the child process serving them
// if they run in one.
type capacitySims struct {
	znetURL, barakatURL string
	cmd                 *exec.Cmd
	inproc              []interface{ Close() error }
}

func (s *capacitySims) pid() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *capacitySims) close() {
	for _, c := range s.inproc {
		_ = c.Close()
	}
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	}
}

// startCapacitySims starts simulators whose orders never finish: in a child
// process running this binary's "fakeprovider" command, or in this process.
func startCapacitySims(ctx context.Context, mode string, seed uint64) (*capacitySims, error) {
	const keepRequests = 1000 // nobody reads them; keep memory flat
	if mode == "inproc" {
		opts := providertest.Options{Seed: seed, StuckRate: 1, MaxRequests: keepRequests}
		bopts := opts
		bopts.Seed = seed + 1000
		z := providertest.NewZnet(providertest.ZnetOptions{Options: opts})
		b := providertest.NewBarakat(providertest.BarakatOptions{Options: bopts})
		s := &capacitySims{inproc: []interface{ Close() error }{z, b}}
		for _, sim := range []interface{ Start(net.Listener) }{z, b} {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				s.close()
				return nil, err
			}
			sim.Start(ln)
		}
		z.SetBalance(watan.MaxAmount / 10)
		b.SetBalance(watan.MaxAmount / 10)
		s.znetURL, s.barakatURL = z.URL(), b.URL()
		return s, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("capacity: find this binary for the simulators' process: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "fakeprovider", "--addr", "127.0.0.1:0", "--seed", strconv.FormatUint(seed, 10),
		"--delay", "0s", "--stuck-rate", "1", "--cancel-rate", "0", "--pin-at-placement-rate", "0",
		"--balance", "1000000000.00", "--max-requests", strconv.Itoa(keepRequests))
	cmd.Stderr = nil // its per-placement log lines go nowhere
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("capacity: start the simulators' process: %w", err)
	}
	s := &capacitySims{cmd: cmd}
	// The banner names the base URL: "... simulated providers on http://127.0.0.1:PORT (seed ...".
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "simulated providers on "); ok && !sent {
				base, _, _ := strings.Cut(rest, " ")
				found <- base
				sent = true
			}
		}
		if !sent {
			close(found)
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case base, ok := <-found:
		if !ok {
			s.close()
			return nil, errors.New("capacity: the simulators' process did not print its address")
		}
		s.znetURL, s.barakatURL = base+fakeZnetPrefix, base+fakeBarakatPrefix
		return s, nil
	case <-time.After(30 * time.Second):
		s.close()
		return nil, errors.New("capacity: the simulators' process did not start within 30 s")
	}
}

// capacityWorld is the capacity scenario's tenant: funded customer accounts and
// one znet and one barakat provider account polling at a fixed interval.
type capacityWorld struct {
	tenant   watan.Tenant
	accounts []string
	znet     watan.ProviderAccount
	barakat  watan.ProviderAccount
}

func newCapacityWorld(ctx context.Context, st *store.Store, sims *capacitySims, settings watan.ProviderSettings) (*capacityWorld, error) {
	w := &capacityWorld{}
	var err error
	if w.tenant, err = st.CreateTenant(ctx, fmt.Sprintf("bench-capacity-%d", time.Now().UnixNano())); err != nil {
		return nil, err
	}
	tid := w.tenant.ID
	for i := range 8 {
		code := fmt.Sprintf("cap-%d", i)
		if _, err := st.CreateAccount(ctx, tid, watan.NewAccount{Code: code, Name: code, Currency: "TRY"}); err != nil {
			return nil, err
		}
		if _, err := st.TopUp(ctx, tid, code, 100_000_000_00, "bench"); err != nil {
			return nil, err
		}
		w.accounts = append(w.accounts, code)
	}
	if w.znet, err = st.CreateProviderAccount(ctx, watan.ProviderAccount{
		TenantID: tid, Name: "znet", Kind: watan.ProviderZnet, BaseURL: sims.znetURL, Active: true, Settings: settings,
		Credentials: map[string]watan.Secret{"kod": providertest.DefaultZnetKod, "sifre": providertest.DefaultZnetSifre},
	}); err != nil {
		return nil, err
	}
	if w.barakat, err = st.CreateProviderAccount(ctx, watan.ProviderAccount{
		TenantID: tid, Name: "barakat", Kind: watan.ProviderBarakat, BaseURL: sims.barakatURL, Active: true, Settings: settings,
		Credentials: map[string]watan.Secret{"token": providertest.DefaultBarakatToken},
	}); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		code string
		acct int64
	}{{benchPkgZnet, w.znet.ID}, {benchPkgBarakat, w.barakat.ID}} {
		pkg, err := st.CreatePackage(ctx, watan.Package{TenantID: tid, Code: p.code, Name: p.code, Price: 10_00, Currency: "TRY", Active: true,
			Routing: watan.Routing{Mode: watan.RouteAuto, PrimaryProviderID: p.acct}})
		if err != nil {
			return nil, err
		}
		if _, err := st.PutMapping(ctx, watan.Mapping{TenantID: tid, PackageID: pkg.ID, ProviderAccountID: w.znet.ID,
			ProductID: "3", Params: map[string]string{"oyun": "1", "kupur": "60"}}); err != nil {
			return nil, err
		}
		if _, err := st.PutMapping(ctx, watan.Mapping{TenantID: tid, PackageID: pkg.ID, ProviderAccountID: w.barakat.ID,
			ProductID: "12345", Params: map[string]string{"server": "eu"}}); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// capacityCreate creates n orders evenly over span (or as fast as they can be
// made, if slower), each dispatched by the engine at once. seq numbers the
// orders across steps; an order goes to znet when the running share says so,
// which keeps the split exact at every count.
func capacityCreate(ctx context.Context, env *Env, st *store.Store, eng *engine.Engine, w *capacityWorld, seq *atomic.Int64,
	n int, span time.Duration, creators int, znetShare float64, label string) (created, errs int, firstErr error, elapsed time.Duration) {
	var made, failed atomic.Int64
	var errOnce sync.Once
	stop := progress(env, label, func() string { return fmt.Sprintf("created and sent %d of %d", made.Load(), n) })
	defer stop()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range creators {
		wg.Go(func() {
			for {
				k := next.Add(1) - 1
				if k >= int64(n) || ctx.Err() != nil {
					return
				}
				if wait := time.Until(start.Add(time.Duration(float64(span) * float64(k) / float64(n)))); wait > 0 {
					select {
					case <-time.After(wait):
					case <-ctx.Done():
						return
					}
				}
				i := seq.Add(1)
				pkg := benchPkgBarakat
				if math.Floor(float64(i)*znetShare) > math.Floor(float64(i-1)*znetShare) {
					pkg = benchPkgZnet
				}
				err := func() error {
					o, _, err := st.CreateOrderWith(ctx, watan.NewOrder{TenantID: w.tenant.ID, PackageCode: pkg,
						AccountCode: w.accounts[int(i)%len(w.accounts)], Quantity: 1, PlayerID: "5123456789",
						ClientOrderID: fmt.Sprintf("cap-%d", i), Actor: watan.ActorAPI}, nil)
					if err != nil {
						return err
					}
					if _, err := eng.Dispatch(ctx, w.tenant.ID, o.ID); err != nil {
						return err
					}
					return nil
				}()
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				made.Add(1)
			}
		})
	}
	wg.Wait()
	return int(made.Load()), int(failed.Load()), firstErr, time.Since(start)
}

// capacityCensus counts the tenant's orders pending at a provider and their live
// check jobs.
func capacityCensus(ctx context.Context, st *store.Store, tenantID int64) (sent, live int, err error) {
	db := st.DB()
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE tenant_id = $1 AND status = 'pending' AND provider_state = 'sent'`,
		tenantID).Scan(&sent); err != nil {
		return 0, 0, err
	}
	match := `(args->>'tenant_id')::bigint = $2`
	if st.Engine() == store.EngineSQLite {
		match = `json_extract(args, '$.tenant_id') = $2`
	}
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND `+match+`
		AND state IN ('available', 'pending', 'running', 'retryable', 'scheduled')`, engine.KindCheck, tenantID).Scan(&live)
	return sent, live, err
}

// capSample is what the scenario reads at each end of a window.
type capSample struct {
	at        time.Time
	busy      float64 // machine CPU seconds, all cores, not idle
	proc      float64 // this process's CPU seconds
	sim       float64 // the simulators' process's CPU seconds
	db        map[int]float64
	jobRuns   int64
	znetReqs  int64
	barReqs   int64
	callErrs  int64
	tables    map[string]pgTableStats
	commits   int64
	fileBytes int64
}

type pgTableStats struct {
	heap, index                            int64
	live, dead, ins, upd, hot, del, autovc int64
}

// capacityProbe reads the machine, the process and the database.
type capacityProbe struct {
	st       *store.Store
	sqlPath  string
	simPID   int
	runner   *countingRunner
	calls    *callCounter
	dbOnHost bool
}

func (p *capacityProbe) sample(ctx context.Context) (capSample, error) {
	cpu := cpustat.Take()
	s := capSample{at: cpu.At, busy: secondsOr(cpu.Machine, cpu.MachineOK), proc: secondsOr(cpu.Process, cpu.ProcessOK),
		jobRuns: p.runner.checkRuns.Load(), znetReqs: p.calls.znet.Load(), barReqs: p.calls.barakat.Load(), callErrs: p.calls.errs.Load()}
	if p.simPID > 0 {
		s.sim = pidCPUSeconds(p.simPID)
	}
	if p.st.Engine() != store.EnginePostgres {
		for _, suffix := range []string{"", "-wal"} {
			if fi, err := os.Stat(p.sqlPath + suffix); err == nil {
				s.fileBytes += fi.Size()
			}
		}
		return s, nil
	}
	db := p.st.DB()
	s.db = map[int]float64{}
	rows, err := db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		return s, err
	}
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			rows.Close()
			return s, err
		}
		if cpu := pidCPUSeconds(pid); cpu >= 0 {
			s.db[pid] = cpu
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s, err
	}
	if len(s.db) > 0 {
		p.dbOnHost = true
	}
	s.tables = map[string]pgTableStats{}
	rows, err = db.QueryContext(ctx, `SELECT s.relname, pg_relation_size(s.relid), pg_indexes_size(s.relid),
		s.n_live_tup, s.n_dead_tup, s.n_tup_ins, s.n_tup_upd, s.n_tup_hot_upd, s.n_tup_del, s.autovacuum_count
		FROM pg_stat_user_tables s WHERE s.schemaname = current_schema() AND s.relname IN ('orders', 'river_job', 'order_events')`)
	if err != nil {
		return s, err
	}
	for rows.Next() {
		var name string
		var t pgTableStats
		if err := rows.Scan(&name, &t.heap, &t.index, &t.live, &t.dead, &t.ins, &t.upd, &t.hot, &t.del, &t.autovc); err != nil {
			rows.Close()
			return s, err
		}
		s.tables[name] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s, err
	}
	err = db.QueryRowContext(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&s.commits)
	return s, err
}

// benchCapacity runs the capacity scenario.
func benchCapacity(ctx context.Context, env *Env, cfg benchConfig) ([]benchResult, error) {
	cc := cfg.capacity
	ladder, err := cc.ladder()
	if err != nil {
		return nil, err
	}
	began := time.Now()
	sims, err := startCapacitySims(ctx, cc.sim, cfg.seed)
	if err != nil {
		return nil, err
	}
	defer sims.close()
	sys, err := openBenchSystem(ctx, cfg.db.URL, watan.SystemClock{}, cfg.workers, cfg.seed)
	if err != nil {
		return nil, err
	}
	defer sys.close()
	settings := watan.ProviderSettings{FirstCheckDelay: cc.interval, Policy: watan.PollFixed, PollInterval: cc.interval, MaxInFlight: cc.inflight}
	w, err := newCapacityWorld(ctx, sys.st, sims, settings)
	if err != nil {
		return nil, fmt.Errorf("seed capacity: %w", err)
	}
	defer sys.dropJobs(context.WithoutCancel(ctx), w.tenant.ID)

	rec := newLagRecorder()
	rec.kinds[w.znet.ID], rec.kinds[w.barakat.ID] = watan.ProviderZnet, watan.ProviderBarakat
	rec.repeatWithin = cc.interval / 4
	calls := &callCounter{}
	eng, err := engine.New(engine.Config{Store: capStore{Store: sys.st, rec: rec}, Queue: sys.queue, Logger: sys.log, Seed: cfg.seed, CheckPoller: cfg.poller,
		Providers: providers.New(providers.Config{Logger: sys.log, Wrap: calls.wrap})})
	if err != nil {
		return nil, err
	}
	runner := &countingRunner{Runner: eng}
	jobCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	if err := sys.queue.Start(jobCtx, runner); err != nil {
		return nil, err
	}
	if cfg.poller {
		go eng.RunPoller(jobCtx)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sys.queue.Stop(sctx)
	}()
	probe := &capacityProbe{st: sys.st, simPID: sims.pid(), runner: runner, calls: calls, sqlPath: sqlitePath(cfg.db.URL)}
	dbName := string(sys.st.Engine())

	var out []benchResult
	var seq atomic.Int64
	pending, lastGood := 0, 0
	createRate := 0.0 // orders per second the last creation reached when it could not keep to its pace
	stopNote := ""
	window := cc.windowLen()
	for _, target := range ladder {
		n := target - pending
		estimate := cc.interval + window
		if createRate > 0 {
			estimate = max(cc.interval, time.Duration(float64(n)/createRate*float64(time.Second))) + window
		}
		if pending > 0 && time.Since(began)+estimate > cc.bound {
			stopNote = fmt.Sprintf("P=%d not tried: it would end past --capacity-duration %s", target, cc.bound)
			break
		}
		label := fmt.Sprintf("capacity %s P=%d", dbName, target)
		created, cerrs, cerr, took := capacityCreate(ctx, env, sys.st, eng, w, &seq, n, cc.interval, cc.creators, cc.znetShare, label+" create")
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		pending += created
		if took > cc.interval*11/10 { // slower than its pace: as fast as orders can be made
			createRate = float64(created) / took.Seconds()
		}
		if cerrs > 0 && created == 0 {
			return out, fmt.Errorf("capacity: no order created: %w", cerr)
		}
		sent, live, err := capacityCensus(ctx, sys.st, w.tenant.ID)
		if err != nil {
			return out, err
		}
		settled, err := capacitySettle(ctx, sys.st, w.tenant.ID, cc.interval)
		if err != nil {
			return out, err
		}
		fig, err := capacityMeasure(ctx, env, probe, rec, w, cc, window, pending, label)
		if err != nil {
			return out, err
		}
		fig.SettleSeconds = settled.Seconds()
		fig.Created, fig.CreateSeconds, fig.CreateErrors, fig.Sent, fig.LiveCheckJobs = created, took.Seconds(), cerrs, sent, live
		res := capacityResult(dbName, fig, cc)
		if cerr != nil {
			res.Note += "; first create error: " + cerr.Error()
		}
		out = append(out, res)
		fmt.Fprintf(env.Stderr, "%s: %s\n", label, res.Note)
		if !res.Capacity.Kept {
			stopNote = fmt.Sprintf("P=%d fell behind: lag p99 %s > %s", pending, fmtMS(res.P99ms), cc.maxLag)
			break
		}
		lastGood = pending
	}
	sum := benchResult{Scenario: "capacity", Phase: "reached", Database: dbName, Orders: lastGood, Seconds: time.Since(began).Seconds(),
		Measure: "orders kept watched", Note: fmt.Sprintf("largest P whose checks kept up (lag p99 ≤ %s) at a fixed %s interval", cc.maxLag, cc.interval)}
	if stopNote != "" {
		sum.Note += "; " + stopNote
	}
	return append(out, sum), nil
}

// capacityMeasure measures one window with pending orders watched.
func capacityMeasure(ctx context.Context, env *Env, probe *capacityProbe, rec *lagRecorder, w *capacityWorld,
	cc capacityConfig, window time.Duration, pending int, label string) (capacityFigures, error) {
	fig := capacityFigures{Pending: pending, IntervalSeconds: cc.interval.Seconds(), WindowSeconds: window.Seconds(),
		DemandPerSecond: float64(pending) / cc.interval.Seconds()}
	var prof *os.File
	if cc.profile != "" {
		var err error
		if prof, err = os.Create(fmt.Sprintf("%s-%s-%d.pprof", cc.profile, probe.st.Engine(), pending)); err != nil {
			return fig, err
		}
		defer prof.Close()
		if err := pprof.StartCPUProfile(prof); err != nil {
			return fig, err
		}
	}
	a, err := probe.sample(ctx)
	if err != nil {
		return fig, err
	}
	rec.start()
	checks0 := rec.checks.Load()
	stop := progress(env, label+" measure", func() string {
		return fmt.Sprintf("checks %d, job runs %d", rec.checks.Load()-checks0, probe.runner.checkRuns.Load()-a.jobRuns)
	})
	select {
	case <-time.After(window):
	case <-ctx.Done():
	}
	stop()
	lags, early, repeats, sliceMax := rec.stop()
	if prof != nil {
		pprof.StopCPUProfile()
	}
	if ctx.Err() != nil {
		return fig, ctx.Err()
	}
	if probe.st.Engine() == store.EnginePostgres {
		time.Sleep(1500 * time.Millisecond) // backends flush their statistics at most once a second
	}
	b, err := probe.sample(ctx)
	if err != nil {
		return fig, err
	}
	secs := b.at.Sub(a.at).Seconds()
	var all []time.Duration
	for _, ls := range lags {
		all = append(all, ls...)
	}
	fig.Checks, fig.Early, fig.Repeats = len(all), early, repeats
	for _, l := range sliceMax {
		fig.LagMaxBySliceMs = append(fig.LagMaxBySliceMs, float64(l.Microseconds())/1000)
	}
	fig.ChecksPerSecond = float64(len(all)) / window.Seconds()
	fig.JobRunsPerSecond = float64(b.jobRuns-a.jobRuns) / window.Seconds()
	fig.ZnetRequestsPerSecond = float64(b.znetReqs-a.znetReqs) / window.Seconds()
	fig.BarakatRequestsPerSecond = float64(b.barReqs-a.barReqs) / window.Seconds()
	fig.CheckErrors = int(b.callErrs - a.callErrs)
	p99 := func(ds []time.Duration) float64 {
		if len(ds) == 0 {
			return 0
		}
		slices.Sort(ds)
		return float64(ds[min(len(ds)*99/100, len(ds)-1)].Microseconds()) / 1000
	}
	fig.ZnetP99Ms, fig.BarakatP99 = p99(lags[watan.ProviderZnet]), p99(lags[watan.ProviderBarakat])
	if len(all) > 0 {
		fig.LagMaxMs = float64(slices.Max(all).Microseconds()) / 1000
	}
	perCheck := func(seconds float64) float64 {
		if len(all) == 0 || seconds < 0 {
			return -1
		}
		return seconds * 1000 / float64(len(all))
	}
	fig.CPUMachineMs = perCheck(b.busy - a.busy)
	fig.CPUProcessMs = perCheck(b.proc - a.proc)
	fig.CPUSimMs = -1
	if probe.simPID > 0 {
		fig.CPUSimMs = perCheck(b.sim - a.sim)
	}
	fig.CPUDatabaseMs = -1
	if probe.dbOnHost {
		db := 0.0
		for pid, cpu := range b.db {
			db += cpu - a.db[pid] // a backend that started in the window counts whole
		}
		fig.CPUDatabaseMs = perCheck(db)
	}
	fig.LoadAverage = loadAverage()
	fig.RSSMB, fig.PeakRSSMB = procStatusMB("VmRSS"), procStatusMB("VmHWM")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fig.HeapMB = float64(ms.HeapInuse) / (1 << 20)
	perHour := 3600 / secs
	const mb = 1 << 20
	if probe.st.Engine() == store.EnginePostgres {
		if len(all) > 0 {
			fig.CommitsPerCheck = float64(b.commits-a.commits) / float64(len(all))
		}
		fig.Tables = map[string]capacityTable{}
		for name, t := range b.tables {
			t0 := a.tables[name]
			per := func(x int64) float64 {
				if len(all) == 0 {
					return 0
				}
				return float64(x) / float64(len(all))
			}
			fig.Tables[name] = capacityTable{
				HeapMB: float64(t.heap) / mb, IndexMB: float64(t.index) / mb,
				HeapMBPerHour: float64(t.heap-t0.heap) / mb * perHour, IndexMBPerHour: float64(t.index-t0.index) / mb * perHour,
				LiveTuples: t.live, DeadTuples: t.dead, DeadTuplesStart: t0.dead,
				InsertsPerCheck: per(t.ins - t0.ins), UpdatesPerCheck: per(t.upd - t0.upd), HOTPerCheck: per(t.hot - t0.hot),
				DeletesPerCheck: per(t.del - t0.del), Autovacuums: t.autovc - t0.autovc,
			}
		}
	} else {
		fig.FileMB = float64(b.fileBytes) / mb
		fig.FileMBPerHour = float64(b.fileBytes-a.fileBytes) / mb * perHour
	}
	// Orders left overdue: checks that are late now and not yet made.
	if fig.Overdue, err = capacityOverdue(ctx, probe.st, w.tenant.ID, cc.maxLag); err != nil {
		return fig, err
	}
	fig.lags = all
	return fig, nil
}

// capacityOverdue counts the tenant's pending orders whose check is more than by
// overdue and not yet made (a claimed order's next check has moved past now).
func capacityOverdue(ctx context.Context, st *store.Store, tenantID int64, by time.Duration) (int, error) {
	cutoff := any(time.Now().Add(-by).UTC())
	if st.Engine() == store.EngineSQLite {
		cutoff = time.Now().Add(-by).UnixMicro()
	}
	var n int
	err := st.DB().QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE tenant_id = $1 AND status = 'pending'
		AND next_check_at < $2`, tenantID, cutoff).Scan(&n)
	return n, err
}

// capacitySettle waits, at most bound, until no check of the tenant's orders is
// more than a second overdue, and reports how long that took. Creating a step's
// orders shares the machine with the checks, which fall behind meanwhile and catch
// up once creation ends; the window measures the watching that follows, not that
// catch-up.
func capacitySettle(ctx context.Context, st *store.Store, tenantID int64, bound time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		n, err := capacityOverdue(ctx, st, tenantID, time.Second)
		if err != nil || n == 0 || time.Since(start) >= bound {
			return time.Since(start), err
		}
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// capacityResult turns a step's figures into a result row.
func capacityResult(dbName string, fig capacityFigures, cc capacityConfig) benchResult {
	res := benchResult{Scenario: "capacity", Phase: fmt.Sprintf("P=%d, fixed %s", fig.Pending, cc.interval), Database: dbName,
		Orders: fig.Pending, Errors: fig.CreateErrors + fig.CheckErrors, Seconds: fig.WindowSeconds, PerSecond: fig.ChecksPerSecond}
	res.percentiles("due→checked lag", fig.lags)
	fig.Kept = res.P99ms <= float64(cc.maxLag.Microseconds())/1000 && fig.Checks > 0
	fig.lags = nil
	ms := func(x float64) string {
		if x < 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", x)
	}
	verdict := "kept up"
	if !fig.Kept {
		verdict = "BEHIND"
	}
	note := fmt.Sprintf("%s; %.0f checks/s of %.0f asked (%d early, %d repeats), %.0f job runs/s, requests/s znet %.0f barakat %.0f; CPU ms/check machine %s process %s db %s sim %s (load %.1f); RSS %.0f MB, heap %.0f MB; overdue at end %d",
		verdict, fig.ChecksPerSecond, fig.DemandPerSecond, fig.Early, fig.Repeats, fig.JobRunsPerSecond, fig.ZnetRequestsPerSecond, fig.BarakatRequestsPerSecond,
		ms(fig.CPUMachineMs), ms(fig.CPUProcessMs), ms(fig.CPUDatabaseMs), ms(fig.CPUSimMs), fig.LoadAverage, fig.RSSMB, fig.HeapMB, fig.Overdue)
	note += fmt.Sprintf("; window began %.0fs after creation", fig.SettleSeconds)
	if len(fig.LagMaxBySliceMs) > 0 {
		parts := make([]string, len(fig.LagMaxBySliceMs))
		for i, l := range fig.LagMaxBySliceMs {
			parts[i] = fmtMS(l)
		}
		note += "; max lag by 10 s: " + strings.Join(parts, " ")
	}
	if fig.CommitsPerCheck > 0 {
		note += fmt.Sprintf("; commits/check %.2f", fig.CommitsPerCheck)
	}
	for _, name := range []string{"orders", "river_job", "order_events"} {
		t, ok := fig.Tables[name]
		if !ok {
			continue
		}
		note += fmt.Sprintf("; %s %.1f+%.1f MB (+%.0f MB/h), %d dead, upd/check %.2f (HOT %.2f)", name, t.HeapMB, t.IndexMB,
			t.HeapMBPerHour+t.IndexMBPerHour, t.DeadTuples, t.UpdatesPerCheck, t.HOTPerCheck)
	}
	if fig.FileMB > 0 {
		note += fmt.Sprintf("; file %.1f MB (+%.0f MB/h)", fig.FileMB, fig.FileMBPerHour)
	}
	res.Note = note
	res.Capacity = &fig
	return res
}

// sqlitePath is the file of a "sqlite:PATH" URL, "" for other URLs.
func sqlitePath(url string) string {
	p, ok := strings.CutPrefix(url, "sqlite:")
	if !ok {
		return ""
	}
	p = strings.TrimPrefix(p, "//")
	p, _, _ = strings.Cut(p, "?")
	return p
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on Linux everywhere.
const clockTicks = 100

// secondsOr is d in seconds, or -1 when it is not known.
func secondsOr(d time.Duration, ok bool) float64 {
	if !ok {
		return -1
	}
	return d.Seconds()
}

// pidCPUSeconds is a process's user and system CPU time, or -1.
func pidCPUSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	ut, _ := strconv.ParseFloat(f[11], 64) // field 14 of the whole line
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	x, _ := strconv.ParseFloat(f[0], 64)
	return x
}

// procStatusMB reads a "kB" line of /proc/self/status in MiB, or -1.
func procStatusMB(key string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return -1
}
