package engine_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"watan"
	"watan/internal/breaker"
	"watan/internal/engine"
	"watan/internal/jobs"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/webhooks"
)

// This file is the explorer's world: the real store and River's job table, one
// engine per actor (each actor is a process of its own), a scripted in-process
// upstream whose calls yield, and the invariants checked after every schedule.

// placeFate is what the upstream does with one placement request.
type placeFate int

const (
	fateAccept      placeFate = iota // pending at the provider
	fateDeliver                      // delivered at placement
	fateRefuse                       // refused: product unavailable (fallback allowed)
	fateLostReply                    // accepted, but the reply never arrives
	fateLostRequest                  // never arrives; the caller sees a failed call
)

// upOrder is an order at the upstream.
type upOrder struct {
	acct    int64
	ref     string
	sale    int64
	outcome watan.CheckOutcome // pending, delivered or failed
	pin     string
}

// upstream is the provider side of every account of one schedule.
type upstream struct {
	clock   *providertest.ManualClock
	mu      sync.Mutex
	orders  map[string]*upOrder   // by account and reference
	fates   map[int64][]placeFate // per account, consumed in order; then accept
	created map[int64]int         // provider orders created per sale, over all accounts
	// failChecks is how many of an account's next status calls fail in transit,
	// until the actors are done.
	failChecks map[int64]int
}

func newUpstream(clock *providertest.ManualClock) *upstream {
	return &upstream{clock: clock, orders: map[string]*upOrder{}, fates: map[int64][]placeFate{}, created: map[int64]int{}, failChecks: map[int64]int{}}
}

func upKey(acct int64, ref string) string { return fmt.Sprintf("%d/%s", acct, ref) }

// saleOf reads the order id back from a reference ("1", 12 digits of order id, 2
// digits of placement).
func saleOf(ref string) int64 {
	id, _ := strconv.ParseInt(ref[1:13], 10, 64)
	return id
}

// complete finishes every pending upstream order of the sale with outcome.
func (u *upstream) complete(sale int64, outcome watan.CheckOutcome) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, o := range u.orders {
		if o.sale == sale && o.outcome == watan.CheckPending {
			o.outcome = outcome
			if outcome == watan.CheckDelivered {
				o.pin = fmt.Sprintf("PIN-%d-%s", o.acct, o.ref)
			}
		}
	}
}

// upClient is one provider account's client of the upstream.
type upClient struct {
	u     *upstream
	acct  int64
	batch bool
}

func (c upClient) Place(ctx context.Context, req watan.PlaceRequest) (watan.PlaceResult, error) {
	yieldPoint(ctx, "placement request on the wire")
	if err := ctx.Err(); err != nil {
		return watan.PlaceResult{Outcome: watan.PlaceUnknown}, &watan.ProviderError{Kind: watan.FailTransport, Op: "place", Err: err}
	}
	// Another actor may have moved the clock past the call's deadline while this
	// one waited at the yield point: the request does not leave, as a real
	// connection's context would not let it.
	if by, ok := engine.CallDeadline(ctx); ok && !c.u.clock.Now().Before(by) {
		return watan.PlaceResult{Outcome: watan.PlaceUnknown}, &watan.ProviderError{Kind: watan.FailTransport, Op: "place", Err: context.DeadlineExceeded}
	}
	res, err := c.place(req)
	yieldPoint(ctx, "placement reply on the wire")
	return res, err
}

func (c upClient) place(req watan.PlaceRequest) (watan.PlaceResult, error) {
	c.u.mu.Lock()
	defer c.u.mu.Unlock()
	key := upKey(c.acct, req.Referans)
	if _, ok := c.u.orders[key]; ok {
		return watan.PlaceResult{Outcome: watan.PlaceUnknown, Message: "already sent"}, nil
	}
	fate := fateAccept
	if fs := c.u.fates[c.acct]; len(fs) > 0 {
		fate, c.u.fates[c.acct] = fs[0], fs[1:]
	}
	create := func(outcome watan.CheckOutcome) *upOrder {
		o := &upOrder{acct: c.acct, ref: req.Referans, sale: saleOf(req.Referans), outcome: outcome}
		if outcome == watan.CheckDelivered {
			o.pin = fmt.Sprintf("PIN-%d-%s", c.acct, req.Referans)
		}
		c.u.orders[key] = o
		c.u.created[o.sale]++
		return o
	}
	lost := &watan.ProviderError{Kind: watan.FailTransport, Op: "place", Err: errors.New("connection reset")}
	switch fate {
	case fateDeliver:
		o := create(watan.CheckDelivered)
		return watan.PlaceResult{Outcome: watan.PlaceDelivered, ProviderOrderID: "p" + o.ref, PIN: o.pin}, nil
	case fateRefuse:
		return watan.PlaceResult{Outcome: watan.PlaceRejected, Reason: watan.ReasonProductUnavailable, Message: "out of stock"}, nil
	case fateLostReply:
		create(watan.CheckPending)
		return watan.PlaceResult{Outcome: watan.PlaceUnknown}, lost
	case fateLostRequest:
		return watan.PlaceResult{Outcome: watan.PlaceUnknown}, lost
	}
	o := create(watan.CheckPending)
	return watan.PlaceResult{Outcome: watan.PlaceAccepted, ProviderOrderID: "p" + o.ref}, nil
}

func (c upClient) Check(ctx context.Context, refs []watan.CheckRef) ([]watan.CheckResult, error) {
	yieldPoint(ctx, "status request on the wire")
	if err := ctx.Err(); err != nil {
		return nil, &watan.ProviderError{Kind: watan.FailTransport, Op: "check", Err: err}
	}
	out := make([]watan.CheckResult, len(refs))
	c.u.mu.Lock()
	if c.u.failChecks[c.acct] > 0 {
		c.u.failChecks[c.acct]--
		c.u.mu.Unlock()
		yieldPoint(ctx, "status reply on the wire")
		return nil, &watan.ProviderError{Kind: watan.FailTransport, Op: "check", Err: errors.New("connection reset")}
	}
	for i, r := range refs {
		out[i] = watan.CheckResult{Ref: r, Outcome: watan.CheckNotFound}
		if o, ok := c.u.orders[upKey(c.acct, r.Referans)]; ok {
			out[i] = watan.CheckResult{Ref: r, Outcome: o.outcome, PIN: o.pin, ProviderOrderID: "p" + o.ref}
		}
	}
	c.u.mu.Unlock()
	yieldPoint(ctx, "status reply on the wire")
	return out, nil
}

func (c upClient) Balance(context.Context) (watan.Balance, error) {
	return watan.Balance{Amount: "100.00"}, nil
}
func (c upClient) Catalog(context.Context) ([]watan.Product, error) { return nil, nil }
func (c upClient) Capabilities() watan.Capabilities {
	if c.batch {
		return watan.Capabilities{BatchCheck: true, MaxBatch: 100, CheckByReferans: true}
	}
	return watan.Capabilities{MaxBatch: 1, CheckByReferans: true}
}

// upProviders builds clients of the upstream; account batchAcct answers in batches.
type upProviders struct {
	u         *upstream
	batchAcct int64
}

func (p upProviders) Provider(acct watan.ProviderAccount) (watan.Provider, error) {
	return upClient{u: p.u, acct: acct.ID, batch: acct.ID == p.batchAcct}, nil
}

// yieldingLeases is the store's cluster-wide provider limits with a yield point
// before a call's lease is taken: processes share the lease table, and one that
// dies holding a lease leaves it to expire.
type yieldingLeases struct{ *store.Store }

func (l yieldingLeases) AcquireCallLease(ctx context.Context, accountID int64, slots int, holder string, ttl time.Duration) (int, bool, error) {
	yieldPoint(ctx, "before a provider call's lease")
	return l.Store.AcquireCallLease(ctx, accountID, slots, holder, ttl)
}

// yieldingStore is the real store with a yield point before every transaction
// and before the claims of a batch check and of the check poller and the
// poller's release of a claim, which write outside one.
type yieldingStore struct{ *store.Store }

func (s yieldingStore) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	yieldPoint(ctx, "before a transaction")
	return s.Store.InTx(ctx, fn)
}

func (s yieldingStore) ClaimChecks(ctx context.Context, tenantID, self int64, selfNext *time.Time, others []int64, dueBy, until time.Time) ([]int64, error) {
	yieldPoint(ctx, "before a batch check's claim")
	return s.Store.ClaimChecks(ctx, tenantID, self, selfNext, others, dueBy, until)
}

func (s yieldingStore) ClaimDueChecks(ctx context.Context, now time.Time, limit int, until func(watan.Order) time.Time) ([]watan.Order, error) {
	yieldPoint(ctx, "before the check poller's claim")
	return s.Store.ClaimDueChecks(ctx, now, limit, until)
}

func (s yieldingStore) ReleaseChecks(ctx context.Context, tenantID int64, ids []int64, claimed, at time.Time) ([]int64, error) {
	yieldPoint(ctx, "before the check poller moves a claim")
	return s.Store.ReleaseChecks(ctx, tenantID, ids, claimed, at)
}

// explorer holds what every schedule of one engine shares.
type explorer struct {
	t     *testing.T
	ctx   context.Context
	st    *store.Store
	q     *jobs.Queue
	hooks *webhooks.Service
	clock *providertest.ManualClock
	kind  store.Engine
	// worlds counts the schedules played, naming each one's tenant.
	worlds int
}

// world is one schedule's tenant, orders, upstream and engines.
type world struct {
	x        *explorer
	tenant   watan.Tenant
	a, b     watan.ProviderAccount // a answers one reference a call; b in batches
	pkgs     map[string]string     // routing name → package code
	up       *upstream
	orders   []watan.Order
	problems []string // unexpected errors of actors
	breaker  breaker.Config
	mu       sync.Mutex
}

// Packages of every world.
const (
	routeA   = "a"   // auto → a
	routeAB  = "ab"  // auto → a, fallback b
	routeB   = "b"   // auto → b (batch)
	routeMan = "man" // manual
)

func (x *explorer) newWorld() *world {
	ctx, st := x.ctx, x.st
	x.worlds++
	w := &world{x: x, up: newUpstream(x.clock), pkgs: map[string]string{}}
	var err error
	must := func(err error) {
		if err != nil {
			x.t.Fatal(err)
		}
	}
	w.tenant, err = st.CreateTenant(ctx, fmt.Sprintf("explore-%d", x.worlds))
	must(err)
	tid := w.tenant.ID
	_, err = st.CreateAccount(ctx, tid, watan.NewAccount{Code: "c1", Name: "Customer", Currency: "TRY"})
	must(err)
	_, err = st.TopUp(ctx, tid, "c1", 100_00, "explore")
	must(err)
	settings := watan.ProviderSettings{FirstCheckDelay: 10 * time.Second, Policy: watan.PollFixed, PollInterval: 30 * time.Second,
		RequestTimeout: 20 * time.Second, Deadline: 24 * time.Hour}
	w.a, err = st.CreateProviderAccount(ctx, watan.ProviderAccount{TenantID: tid, Name: "a", Kind: watan.ProviderZnet,
		BaseURL: "http://127.0.0.1:9", Active: true, Settings: settings,
		Credentials: map[string]watan.Secret{"kod": "k", "sifre": "s"}})
	must(err)
	w.b, err = st.CreateProviderAccount(ctx, watan.ProviderAccount{TenantID: tid, Name: "b", Kind: watan.ProviderBarakat,
		BaseURL: "http://127.0.0.1:9", Active: true, Settings: settings,
		Credentials: map[string]watan.Secret{"token": "t"}})
	must(err)
	for name, r := range map[string]watan.Routing{
		routeA:   {Mode: watan.RouteAuto, PrimaryProviderID: w.a.ID},
		routeAB:  {Mode: watan.RouteAuto, PrimaryProviderID: w.a.ID, FallbackProviderID: w.b.ID},
		routeB:   {Mode: watan.RouteAuto, PrimaryProviderID: w.b.ID},
		routeMan: {Mode: watan.RouteManual},
	} {
		p, err := st.CreatePackage(ctx, watan.Package{TenantID: tid, Code: "p-" + name, Name: name, Price: 10_00, Currency: "TRY", Active: true, Routing: r})
		must(err)
		w.pkgs[name] = p.Code
		for _, acct := range []watan.ProviderAccount{w.a, w.b} {
			_, err = st.PutMapping(ctx, watan.Mapping{TenantID: tid, PackageID: p.ID, ProviderAccountID: acct.ID, ProductID: "1"})
			must(err)
		}
	}
	_, err = st.PutWebhookEndpoint(ctx, tid, "http://127.0.0.1:9/hook", "whsec-explorer-0123456789", true)
	must(err)
	return w
}

// engine is a process: an engine of its own over the shared store and queue.
func (w *world) engine() *engine.Engine {
	e, err := engine.New(engine.Config{
		Store: yieldingStore{w.x.st}, Queue: w.x.q, Clock: w.x.clock, CatalogTTL: -1, Leases: yieldingLeases{w.x.st},
		Providers: upProviders{u: w.up, batchAcct: w.b.ID}, Notifier: w.x.hooks,
		SendingGrace: time.Second, Node: "explorer", Breaker: w.breaker,
		// As serve runs: routine checks are the poller's where a scenario has
		// one, and check jobs are its backstop. One call at a time keeps the
		// poller's steps in its actor's goroutine.
		CheckPoller: true, Poller: engine.PollerConfig{Parallel: 1, Batch: 10},
	})
	if err != nil {
		w.x.t.Fatal(err)
	}
	return e
}

// order creates an order of the routing with its dispatch job, as the API does.
func (w *world) order(route string) watan.Order {
	o, _, err := w.x.st.CreateOrderWith(w.x.ctx, watan.NewOrder{
		TenantID: w.tenant.ID, PackageCode: w.pkgs[route], AccountCode: "c1", Quantity: 1, PlayerID: "5000",
		ClientOrderID: fmt.Sprintf("o-%d", len(w.orders)), Actor: watan.ActorAPI,
	}, func(ctx context.Context, tx *sql.Tx, o watan.Order) error { return w.x.q.EnqueueDispatchTx(ctx, tx, o) })
	if err != nil {
		w.x.t.Fatal(err)
	}
	w.orders = append(w.orders, o)
	return o
}

func (w *world) problem(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.problems = append(w.problems, fmt.Sprintf(format, args...))
}

// Jobs: the explorer plays River's part. A worker takes a live job that is not
// running, marks it running, runs the engine's step, and records the result as
// River would: completed, snoozed (scheduled) or retryable.

type jobRow struct {
	id    int64
	kind  string
	order int64
	gen   int
}

func (w *world) jsonField(field string) string {
	if w.x.kind == store.EngineSQLite {
		return "json_extract(args, '$." + field + "')"
	}
	return "(args->>'" + field + "')::bigint"
}

// liveJobs lists the tenant's live dispatch and check jobs in one of states, oldest first.
func (w *world) liveJobs(states string, orderID int64) []jobRow {
	q := `SELECT id, kind, ` + w.jsonField("order_id") + `, COALESCE(` + w.jsonField("generation") + `, 0) FROM river_job
		WHERE kind IN ($1, $2) AND state IN (` + states + `) AND ` + w.jsonField("tenant_id") + ` = $3`
	args := []any{engine.KindDispatch, engine.KindCheck, w.tenant.ID}
	if orderID != 0 {
		q += ` AND ` + w.jsonField("order_id") + ` = $4`
		args = append(args, orderID)
	}
	rows, err := w.x.st.DB().QueryContext(w.x.ctx, q+` ORDER BY id`, args...)
	if err != nil {
		w.x.t.Fatal(err)
	}
	defer rows.Close()
	var out []jobRow
	for rows.Next() {
		var j jobRow
		if err := rows.Scan(&j.id, &j.kind, &j.order, &j.gen); err != nil {
			w.x.t.Fatal(err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		w.x.t.Fatal(err)
	}
	return out
}

const waitingStates = `'available', 'scheduled', 'retryable'`

func (w *world) setJobState(id int64, state string) {
	var err error
	if state == "completed" {
		now := any(time.Now().UTC())
		if w.x.kind == store.EngineSQLite {
			now = time.Now().UTC().Format("2006-01-02 15:04:05.000")
		}
		_, err = w.x.st.DB().ExecContext(w.x.ctx, `UPDATE river_job SET state = 'completed', finalized_at = $2 WHERE id = $1`, id, now)
	} else {
		_, err = w.x.st.DB().ExecContext(w.x.ctx, `UPDATE river_job SET state = $2 WHERE id = $1`, id, state)
	}
	if err != nil {
		w.x.t.Fatal(err)
	}
}

// work runs one waiting job of kind for the order with eng, if there is one.
func (w *world) work(ctx context.Context, eng *engine.Engine, kind string, orderID int64) {
	for _, j := range w.liveJobs(waitingStates, orderID) {
		if j.kind == kind {
			w.runJob(ctx, eng, j)
			return
		}
	}
}

func (w *world) runJob(ctx context.Context, eng *engine.Engine, j jobRow) {
	w.setJobState(j.id, "running")
	var next engine.Next
	var err error
	if j.kind == engine.KindDispatch {
		next, err = eng.Dispatch(ctx, w.tenant.ID, j.order)
	} else {
		next, err = eng.CheckGeneration(ctx, w.tenant.ID, j.order, j.gen)
	}
	yieldPoint(ctx, "before the job's result is recorded")
	switch {
	case err != nil:
		if ctx.Err() == nil {
			w.problem("%s job of order %d failed: %v", j.kind, j.order, err)
		}
		w.setJobState(j.id, "retryable")
	case next.After > 0:
		w.setJobState(j.id, "scheduled")
	default:
		w.setJobState(j.id, "completed")
	}
}

// operatorErr notes an operator's error unless it is one an operator can meet when
// the order changed under them.
func (w *world) operatorErr(action string, err error) {
	switch watan.ErrorCode(err) {
	case "", watan.ECodeInvalidTransition, watan.ECodeInsufficientBalance, watan.ECodeUnavailable:
		return
	}
	w.problem("operator %s: %v", action, err)
}

// quiesce runs every job to the end as River would after the schedule: jobs of dead
// actors are rescued, the upstream finishes its pending orders with outcome, and
// time passes a minute a round, until no job is left. The sweeper does not run: an
// order it would have to rescue is a lost job, which the invariants report.
func (w *world) quiesce(outcome watan.CheckOutcome) {
	ctx := w.x.ctx
	// Status calls fail only while the actors race: a failure no actor met would
	// otherwise fail a job here, which reads as a problem.
	w.up.mu.Lock()
	clear(w.up.failChecks)
	w.up.mu.Unlock()
	for _, j := range w.liveJobs(`'running'`, 0) {
		w.setJobState(j.id, "available")
	}
	eng := w.engine()
	for range 120 {
		for _, o := range w.orders {
			w.up.complete(o.ID, outcome)
		}
		js := w.liveJobs(waitingStates, 0)
		if len(js) == 0 {
			return
		}
		for _, j := range js {
			w.runJob(ctx, eng, j)
		}
		w.x.clock.Advance(time.Minute)
	}
	w.problem("jobs still live after 120 rounds")
}

// checkLive is invariant 1 at the end of a schedule: every pending order that is
// not waiting for an operator has a live job (a running job of a dead actor counts:
// the rescuer brings it back).
func (w *world) checkLive() []string {
	var bad []string
	for _, o0 := range w.orders {
		o, err := w.x.st.FindOrder(w.x.ctx, w.tenant.ID, o0.ID)
		if err != nil {
			w.x.t.Fatal(err)
		}
		if o.Status != watan.StatusPending || o.ProviderState == watan.StateManual {
			continue
		}
		if len(w.liveJobs(waitingStates+`, 'running'`, o.ID)) == 0 {
			bad = append(bad, fmt.Sprintf("order %d is pending/%s (generation %d) with no live job", o.ID, o.ProviderState, o.Generation))
		}
	}
	return bad
}

// checkInvariants checks the invariants after quiescence.
func (w *world) checkInvariants() []string {
	ctx, st := w.x.ctx, w.x.st
	bad := append([]string(nil), w.problems...)
	for _, o0 := range w.orders {
		o, err := st.FindOrder(ctx, w.tenant.ID, o0.ID)
		if err != nil {
			w.x.t.Fatal(err)
		}
		evs, err := st.OrderEvents(ctx, w.tenant.ID, o.ID)
		if err != nil {
			w.x.t.Fatal(err)
		}
		// Never placed twice: at most one provider order per sale that its
		// provider did not cancel (an operator may re-dispatch a cancelled one).
		live := 0
		w.up.mu.Lock()
		for _, u := range w.up.orders {
			if u.sale == o.ID && u.outcome != watan.CheckFailed {
				live++
			}
		}
		w.up.mu.Unlock()
		if live > 1 {
			bad = append(bad, fmt.Sprintf("order %d is held by %d provider orders", o.ID, live))
		}
		// Every order reaches a final state, or waits for an operator.
		if o.Status == watan.StatusPending && o.ProviderState != watan.StateManual {
			bad = append(bad, fmt.Sprintf("order %d is still pending/%s after quiescence", o.ID, o.ProviderState))
		}
		// Final only on evidence; a delivered order is approved unless an operator
		// or the deadline decided first, which the timeline shows.
		delivered := ""
		w.up.mu.Lock()
		for _, u := range w.up.orders {
			if u.sale == o.ID && u.outcome == watan.CheckDelivered {
				delivered = u.pin
			}
		}
		w.up.mu.Unlock()
		late, byOperator, byTimeout := false, false, false
		for _, e := range evs {
			switch {
			case e.Kind == engine.EventLateAnswer:
				late = true
			case e.Kind == watan.EventStatusChanged && e.Actor.IsOperator():
				byOperator = true
			case e.Kind == engine.EventTimeout:
				byTimeout = true
			}
		}
		switch {
		case delivered != "" && o.Status != watan.StatusApproved && !(late && (byOperator || byTimeout)):
			bad = append(bad, fmt.Sprintf("order %d was delivered by its provider but is %s/%s without a late answer and an operator's or the deadline's decision", o.ID, o.Status, o.ProviderState))
		case delivered == "" && o.Status == watan.StatusApproved && !byOperator:
			bad = append(bad, fmt.Sprintf("order %d is approved by the system but no provider delivered it", o.ID))
		case delivered != "" && o.Status == watan.StatusApproved && !byOperator && o.PIN != delivered:
			bad = append(bad, fmt.Sprintf("order %d shows PIN %q, its provider delivered %q", o.ID, o.PIN, delivered))
		}
		// The stored PIN of an approved order is the one its last approved webhook carried.
		if o.Status == watan.StatusApproved {
			ds, err := w.x.hooks.OrderWebhookDeliveries(ctx, w.tenant.ID, o.ID)
			if err != nil {
				w.x.t.Fatal(err)
			}
			pin, seen := "", false
			for _, d := range ds {
				if d.Event == engine.NotifyStatus(watan.StatusApproved) {
					var p webhooks.Payload
					if err := json.Unmarshal([]byte(d.Payload), &p); err != nil {
						w.x.t.Fatal(err)
					}
					pin, seen = p.Order.PIN, true
				}
			}
			if !seen || pin != o.PIN {
				bad = append(bad, fmt.Sprintf("order %d is approved with PIN %q, its approved webhook carried %q (sent: %v)", o.ID, o.PIN, pin, seen))
			}
		}
	}
	bad = append(bad, w.checkMoney()...)
	return bad
}

// checkMoney is invariant 4: one debit per order, refunds minus re-debits equal to
// one for a rejected order and zero otherwise, and the ledger summing to the balance.
func (w *world) checkMoney() []string {
	ctx, db := w.x.ctx, w.x.st.DB()
	var bad []string
	a, err := w.x.st.FindAccount(ctx, w.tenant.ID, "c1")
	if err != nil {
		w.x.t.Fatal(err)
	}
	var sum int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE account_id = $1`, a.ID).Scan(&sum); err != nil {
		w.x.t.Fatal(err)
	}
	if watan.Amount(sum) != a.Balance {
		bad = append(bad, fmt.Sprintf("ledger sums to %s, balance is %s", watan.Amount(sum), a.Balance))
	}
	for _, o0 := range w.orders {
		var status watan.Status
		var debits, refunds, redebits int
		err := db.QueryRowContext(ctx, `SELECT o.status,
			(SELECT count(*) FROM ledger_entries l WHERE l.order_id = o.id AND l.kind = 'debit'),
			(SELECT count(*) FROM ledger_entries l WHERE l.order_id = o.id AND l.kind = 'refund'),
			(SELECT count(*) FROM ledger_entries l WHERE l.order_id = o.id AND l.kind = 'redebit')
			FROM orders o WHERE o.id = $1`, o0.ID).Scan(&status, &debits, &refunds, &redebits)
		if err != nil {
			w.x.t.Fatal(err)
		}
		want := 0
		if status == watan.StatusRejected {
			want = 1
		}
		if debits != 1 || refunds-redebits != want {
			bad = append(bad, fmt.Sprintf("order %d (%s): %d debits, %d refunds, %d re-debits", o0.ID, status, debits, refunds, redebits))
		}
		bad = append(bad, w.checkFrozen(o0.ID)...)
	}
	return bad
}

// checkFrozen: the money written with the transitions agrees with the order's
// final status, whatever the interleaving: a rejected order has no cost and no
// profit; an approved one has a cost source and a profit frozen from its price
// and its cost (all in TRY, the base currency here).
func (w *world) checkFrozen(id int64) []string {
	o, err := w.x.st.FindOrder(w.x.ctx, w.tenant.ID, id)
	if err != nil {
		w.x.t.Fatal(err)
	}
	switch o.Status {
	case watan.StatusRejected:
		if o.Cost != nil || o.CostSource != "" || o.Profit != nil {
			return []string{fmt.Sprintf("rejected order %d keeps cost %v (%s) or profit %+v", id, o.Cost, o.CostSource, o.Profit)}
		}
	case watan.StatusApproved:
		var cost watan.Amount
		if o.Cost != nil {
			cost = *o.Cost
		}
		p := o.Profit
		if o.CostSource == "" || p == nil || p.Sell != o.Price || p.Cost != cost || p.Profit != o.Price-cost {
			return []string{fmt.Sprintf("approved order %d: price %s, cost %v (%s), profit %+v", id, o.Price, o.Cost, o.CostSource, p)}
		}
	case watan.StatusPending:
		if o.Profit != nil {
			return []string{fmt.Sprintf("pending order %d has a frozen profit %+v", id, o.Profit)}
		}
	}
	return nil
}

// timelines renders the orders' timelines, for failure reports.
func (w *world) timelines() string {
	s := ""
	for _, o := range w.orders {
		evs, _ := w.x.st.OrderEvents(w.x.ctx, w.tenant.ID, o.ID)
		s += fmt.Sprintf("order %d:\n", o.ID)
		for _, e := range evs {
			s += fmt.Sprintf("    %-10s %-16s %s\n", e.Actor, e.Kind, e.Message)
		}
	}
	return s
}
