package engine_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
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

// bundle is the engine under test with everything around it: a real store, River as
// the queue (not started unless a test starts it, so steps run when the test says),
// simulated providers, and one manual clock shared by the engine, the store and the
// simulators.
type bundle struct {
	t       testing.TB
	ctx     context.Context
	st      *store.Store
	q       *jobs.Queue
	eng     *engine.Engine
	clock   *providertest.ManualClock
	znet    *providertest.Znet
	barakat *providertest.Barakat

	tenant     watan.Tenant
	account    watan.Account
	znetAcct   watan.ProviderAccount
	barakatAcc watan.ProviderAccount
	codes      watan.CodeGroup
}

// Package codes of the test catalog.
const (
	pkgZnet    = "pubg-60"      // auto → znet
	pkgBarakat = "pubg-60-b"    // auto → barakat
	pkgFB      = "pubg-60-fb"   // auto → znet, fallback barakat
	pkgCodes   = "steam-10"     // codes, no fallback
	pkgCodesFB = "steam-10-fb"  // codes, fallback znet
	pkgManual  = "manual-topup" // manual
	price      = watan.Amount(10_00)
)

type setupOpts struct {
	znet    providertest.ZnetOptions
	barakat providertest.BarakatOptions
	// firstCheckDelay for both provider accounts; 0 means 10 s and a negative
	// value checks at once.
	firstCheckDelay time.Duration
	// listen gives River a LISTEN/NOTIFY connection on PostgreSQL, as serve does;
	// without it River polls.
	listen bool
	// realClock runs the engine, store and simulators on the system clock, for
	// runs with the queue started.
	realClock bool
	// breaker sets the provider accounts' circuit breaker thresholds.
	breaker breaker.Config
	// poller leaves routine checks to the check poller, as serve does; the test
	// runs its rounds (PollChecks).
	poller bool
	// wrap, if set, stands between the engine and the store.
	wrap func(engine.Store) engine.Store
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("WATAN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func setup(t testing.TB, engineKind store.Engine, o setupOpts) *bundle {
	t.Helper()
	ctx := context.Background()
	clock := providertest.NewManualClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	b := &bundle{t: t, ctx: ctx, clock: clock}
	var engineClock watan.Clock = clock
	if o.realClock {
		engineClock = watan.SystemClock{}
	}
	url := storetest.URL(t, engineKind)
	var err error
	b.st, err = store.Open(ctx, store.Config{URL: url, Clock: engineClock})
	b.must(err)
	t.Cleanup(func() { b.st.Close() })
	b.must(b.st.Migrate(ctx))
	listen := ""
	if o.listen && engineKind == store.EnginePostgres {
		listen = url
	}
	b.q, err = jobs.New(ctx, jobs.Config{DB: b.st.DB(), Postgres: engineKind == store.EnginePostgres, ListenURL: listen, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	o.znet.Clock, o.barakat.Clock = engineClock, engineClock
	// Tests change the catalog behind the engine's back; only runs on the real
	// clock (benchmarks) keep the engine's catalog cache.
	catalogTTL := time.Duration(-1)
	if o.realClock {
		catalogTTL = 0
	}
	b.znet = providertest.StartZnet(t, o.znet)
	b.barakat = providertest.StartBarakat(t, o.barakat)
	var st engine.Store = b.st
	if o.wrap != nil {
		st = o.wrap(b.st)
	}
	b.eng, err = engine.New(engine.Config{
		Store: st, Queue: b.q, Clock: engineClock, Logger: testLogger(t), CatalogTTL: catalogTTL,
		Providers: providers.New(providers.Config{Logger: testLogger(t)}), Breaker: o.breaker,
		CheckPoller: o.poller,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.seed(o)
	return b
}

func (b *bundle) must(err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
}

func (b *bundle) seed(o setupOpts) {
	t, ctx, st := b.t, b.ctx, b.st
	t.Helper()
	var err error
	b.tenant, err = st.CreateTenant(ctx, "test")
	b.must(err)
	tid := b.tenant.ID
	_, err = st.CreateAccount(ctx, tid, watan.NewAccount{Code: "c1", Name: "Customer", Currency: "TRY"})
	b.must(err)
	_, err = st.TopUp(ctx, tid, "c1", 1000_00, "test balance")
	b.must(err)
	// The fixtures poll as the replaced system did (10 s, then 30 s, 1 m, ...), which
	// the tests below step through; the production default is the steady policy.
	settings := watan.ProviderSettings{FirstCheckDelay: o.firstCheckDelay, Policy: watan.PollExponential}
	if settings.FirstCheckDelay == 0 {
		settings.FirstCheckDelay = 10 * time.Second
	}
	b.znetAcct, err = st.CreateProviderAccount(ctx, watan.ProviderAccount{
		TenantID: tid, Name: "znet main", Kind: watan.ProviderZnet, BaseURL: b.znet.URL(), Active: true, Settings: settings,
		Credentials: map[string]watan.Secret{"kod": providertest.DefaultZnetKod, "sifre": providertest.DefaultZnetSifre},
	})
	b.must(err)
	b.barakatAcc, err = st.CreateProviderAccount(ctx, watan.ProviderAccount{
		TenantID: tid, Name: "barakat main", Kind: watan.ProviderBarakat, BaseURL: b.barakat.URL(), Active: true, Settings: settings,
		Credentials: map[string]watan.Secret{"token": providertest.DefaultBarakatToken},
	})
	b.must(err)
	b.codes, err = st.CreateCodeGroup(ctx, tid, "steam")
	b.must(err)

	pkgs := []struct {
		code    string
		routing watan.Routing
	}{
		{pkgZnet, watan.Routing{Mode: watan.RouteAuto, PrimaryProviderID: b.znetAcct.ID}},
		{pkgBarakat, watan.Routing{Mode: watan.RouteAuto, PrimaryProviderID: b.barakatAcc.ID}},
		{pkgFB, watan.Routing{Mode: watan.RouteAuto, PrimaryProviderID: b.znetAcct.ID, FallbackProviderID: b.barakatAcc.ID}},
		{pkgCodes, watan.Routing{Mode: watan.RouteCodes, CodeGroupID: b.codes.ID}},
		{pkgCodesFB, watan.Routing{Mode: watan.RouteCodes, CodeGroupID: b.codes.ID, FallbackProviderID: b.znetAcct.ID}},
		{pkgManual, watan.Routing{Mode: watan.RouteManual}},
	}
	for _, p := range pkgs {
		created, err := st.CreatePackage(ctx, watan.Package{TenantID: tid, Code: p.code, Name: p.code, Price: price, Currency: "TRY", Active: true, Routing: p.routing})
		b.must(err)
		_, err = st.PutMapping(ctx, watan.Mapping{TenantID: tid, PackageID: created.ID, ProviderAccountID: b.znetAcct.ID,
			ProductID: "3", Params: map[string]string{"oyun": "1", "kupur": "60"}})
		b.must(err)
		_, err = st.PutMapping(ctx, watan.Mapping{TenantID: tid, PackageID: created.ID, ProviderAccountID: b.barakatAcc.ID,
			ProductID: "12345", Params: map[string]string{"server": "eu"}})
		b.must(err)
	}
}

var orderSeq int

// order creates an order for pkg with its dispatch job, as the API does.
func (b *bundle) order(pkg string) watan.Order {
	b.t.Helper()
	orderSeq++
	o, created, err := b.st.CreateOrderWith(b.ctx, watan.NewOrder{
		TenantID: b.tenant.ID, PackageCode: pkg, AccountCode: "c1", Quantity: 1,
		PlayerID: "5123456789", ClientOrderID: fmt.Sprintf("t-%d", orderSeq), Actor: watan.ActorAPI,
	}, func(ctx context.Context, tx *sql.Tx, o watan.Order) error { return b.q.EnqueueDispatchTx(ctx, tx, o) })
	b.must(err)
	if !created {
		b.t.Fatalf("order %s was not created", pkg)
	}
	return o
}

func (b *bundle) get(id int64) watan.Order {
	b.t.Helper()
	o, err := b.st.FindOrder(b.ctx, b.tenant.ID, id)
	b.must(err)
	return o
}

func (b *bundle) dispatch(id int64) engine.Next {
	b.t.Helper()
	next, err := b.eng.Dispatch(b.ctx, b.tenant.ID, id)
	b.must(err)
	return next
}

func (b *bundle) check(id int64) engine.Next {
	b.t.Helper()
	next, err := b.eng.Check(b.ctx, b.tenant.ID, id)
	b.must(err)
	return next
}

// want asserts the order's status and provider state.
func (b *bundle) want(id int64, status watan.Status, state watan.ProviderState) watan.Order {
	b.t.Helper()
	o := b.get(id)
	if o.Status != status || o.ProviderState != state {
		b.t.Fatalf("order %d is %s/%s (%s), want %s/%s\nevents:\n%s", id, o.Status, o.ProviderState, o.ProviderMessage, status, state, b.timeline(id))
	}
	return o
}

func (b *bundle) timeline(id int64) string {
	evs, err := b.st.OrderEvents(b.ctx, b.tenant.ID, id)
	if err != nil {
		return err.Error()
	}
	s := ""
	for _, e := range evs {
		s += fmt.Sprintf("  %s %-16s %s\n", e.Actor, e.Kind, e.Message)
	}
	return s
}

func (b *bundle) hasEvent(id int64, kind watan.EventKind) bool {
	evs, err := b.st.OrderEvents(b.ctx, b.tenant.ID, id)
	b.must(err)
	for _, e := range evs {
		if e.Kind == kind {
			return true
		}
	}
	return false
}

// liveJobs counts live River jobs of kind for the order.
func (b *bundle) liveJobs(kind string, orderID int64) int {
	b.t.Helper()
	match := `j.args @> jsonb_build_object('order_id', $2::bigint)`
	if b.st.Engine() == store.EngineSQLite {
		match = `json_extract(j.args, '$.order_id') = $2`
	}
	var n int
	b.must(b.st.DB().QueryRowContext(b.ctx, `SELECT count(*) FROM river_job j WHERE j.kind = $1 AND `+match+`
		AND j.state IN ('available', 'pending', 'running', 'retryable', 'scheduled')`, kind, orderID).Scan(&n))
	return n
}

// completeJobs marks every live job of kind for the order completed, as River does
// once a worker returns; tests that run steps by hand use it in place of the worker.
func (b *bundle) completeJobs(kind string, orderID int64) {
	b.t.Helper()
	match := `args @> jsonb_build_object('order_id', $2::bigint)`
	now := any(time.Now().UTC())
	if b.st.Engine() == store.EngineSQLite {
		match = `json_extract(args, '$.order_id') = $2`
		now = time.Now().UTC().Format("2006-01-02 15:04:05.000")
	}
	_, err := b.st.DB().ExecContext(b.ctx, `UPDATE river_job SET state = 'completed', finalized_at = $3
		WHERE kind = $1 AND `+match+` AND state IN ('available', 'pending', 'running', 'retryable', 'scheduled')`, kind, orderID, now)
	b.must(err)
}

// money asserts invariant 4 for the account: the ledger sums to the balance, every
// order has exactly one debit, and each rejected order is refunded exactly once
// more than it was re-debited.
func (b *bundle) money() watan.Account {
	b.t.Helper()
	a, err := b.st.FindAccount(b.ctx, b.tenant.ID, "c1")
	b.must(err)
	var sum int64
	b.must(b.st.DB().QueryRowContext(b.ctx, `SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE account_id = $1`, a.ID).Scan(&sum))
	if watan.Amount(sum) != a.Balance {
		b.t.Fatalf("ledger sums to %s but balance is %s", watan.Amount(sum), a.Balance)
	}
	rows, err := b.st.DB().QueryContext(b.ctx, `SELECT o.id, o.status,
		(SELECT count(*) FROM ledger_entries l WHERE l.order_id = o.id AND l.kind = 'debit'),
		(SELECT count(*) FROM ledger_entries l WHERE l.order_id = o.id AND l.kind = 'refund'),
		(SELECT count(*) FROM ledger_entries l WHERE l.order_id = o.id AND l.kind = 'redebit')
		FROM orders o WHERE o.account_id = $1`, a.ID)
	b.must(err)
	defer rows.Close()
	for rows.Next() {
		var id int64
		var status watan.Status
		var debits, refunds, redebits int
		b.must(rows.Scan(&id, &status, &debits, &refunds, &redebits))
		if debits != 1 {
			b.t.Errorf("order %d has %d debits", id, debits)
		}
		want := 0
		if status == watan.StatusRejected {
			want = 1
		}
		if refunds-redebits != want {
			b.t.Errorf("order %d (%s) has %d refunds and %d re-debits", id, status, refunds, redebits)
		}
	}
	b.must(rows.Err())
	return a
}

func (b *bundle) balance() watan.Amount {
	b.t.Helper()
	a, err := b.st.FindAccount(b.ctx, b.tenant.ID, "c1")
	b.must(err)
	return a.Balance
}
