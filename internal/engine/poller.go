package engine

import (
	"context"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"watan"
	"watan/internal/breaker"
)

// The check poller makes the routine status checks of the orders providers hold.
//
// With a check job per order, every check of a pending order was a job run: a
// fetch, a snooze and the order read twice, besides the check itself, and a
// barakat order checked in another order's batch still had its own job wake up
// to find it not due. Tens of thousands of pending orders made that churn, not
// the checks, the limit. The poller instead claims due orders in batches by
// their next check (Store.ClaimDueChecks, one statement for many orders), asks
// each provider account about its share (barakat up to a batch per request,
// znet one request each, within the account's limits) and saves each answer as
// the check job would. Each order keeps its check job, which then wakes only
// every Backstop: a safety net should the poller stop, and the one that carries
// what the poller leaves alone (orders whose placement is not settled, after-care).
//
// Pollers of several processes share the work: a claim takes orders no other
// claim holds and moves their next check past the claim's window, so an order
// is asked about once per due time; a poller that dies leaves its claim to lapse.

// PollerConfig tunes the check poller. The zero value takes the defaults.
type PollerConfig struct {
	// Batch is how many due orders one round claims. Default 500.
	Batch int
	// Parallel is how many provider requests a round has in flight at once (each
	// account's own limits still apply). Default 32; 1 makes them one after another.
	Parallel int
	// Claim is how long claimed orders are left to this poller before they are due
	// again, where the claim cannot plan their next check (planCheck) and the
	// poller has not seen their provider account yet: longer than a round's calls
	// take. Of an account it has seen, it holds them for the account's request
	// timeout and the lease margin, at most Claim (claimSpan). Default 1 minute.
	Claim time.Duration
	// MaxWait is the longest the poller sleeps between rounds when no check is due
	// sooner: checks scheduled by other processes are noticed within it. Default 5 s.
	MaxWait time.Duration
	// Lookahead is how soon an order must be due to be claimed with those due
	// now: a batch-answering account's due orders go in fuller requests, and the
	// poller wakes at most about once per Lookahead, at the cost of checks up
	// to Lookahead early. Default 1 s; negative claims only what is due.
	Lookahead time.Duration
	// IdleWait is how long the poller sleeps when no order at all waits for a
	// check: an idle node then costs next to nothing, and a check this process
	// schedules still wakes it at once. Default 30 s.
	IdleWait time.Duration
	// Backstop is how long a polled order's check job sleeps between wakes.
	// Default 10 minutes.
	Backstop time.Duration
}

func (c PollerConfig) withDefaults() PollerConfig {
	if c.Batch <= 0 {
		c.Batch = 500
	}
	if c.Parallel <= 0 {
		c.Parallel = 32
	}
	if c.Claim <= 0 {
		c.Claim = time.Minute
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 5 * time.Second
	}
	switch {
	case c.Lookahead == 0:
		c.Lookahead = time.Second
	case c.Lookahead < 0:
		c.Lookahead = 0
	}
	if c.IdleWait <= 0 {
		c.IdleWait = 30 * time.Second
	}
	if c.Backstop <= 0 {
		c.Backstop = 10 * time.Minute
	}
	return c
}

// routine is how long the check job of an order its provider holds sleeps when
// the order's next check is d away: d, or the backstop when a poller makes the
// checks.
func (e *Engine) routine(d time.Duration) time.Duration {
	if !e.cfg.CheckPoller {
		return d
	}
	return max(d, e.cfg.Poller.Backstop)
}

// PollReport is what one round of the check poller did.
type PollReport struct {
	Claimed int // orders claimed
	Asked   int // orders asked about, in answered or failed calls
}

// PollChecks runs one round of the check poller: it claims up to Batch orders
// due within Lookahead and checks them, grouped by provider account. Orders of
// an account whose circuit is open, or whose call fails, are due again at their
// routine check or when the circuit half-opens, whichever is later
// (releaseClaims). Errors about single orders are logged, not returned: the
// round goes on.
func (e *Engine) PollChecks(ctx context.Context) (PollReport, error) {
	pc := e.cfg.Poller
	now := e.now()
	plans, until := map[int64]time.Time{}, map[int64]time.Time{}
	claimed, err := e.store.ClaimDueChecks(ctx, now.Add(pc.Lookahead), pc.Batch, func(o watan.Order) time.Time {
		next, ok := e.planCheck(o, now)
		if ok {
			plans[o.ID] = next
		} else {
			next = now.Add(e.claimSpan(o))
		}
		until[o.ID] = next
		return next
	})
	if err != nil || len(claimed) == 0 {
		return PollReport{}, err
	}
	for i, o := range claimed {
		// The orders as they are now: a failed call saved on one must leave it
		// due when its claim lapses, not when it was due before the claim.
		next := until[o.ID]
		claimed[i].NextCheckAt = &next
	}
	type key struct{ tenant, acct int64 }
	var keys []key
	groups := map[key][]watan.Order{}
	for _, o := range claimed {
		k := key{o.TenantID, o.ProviderAccountID}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], o)
	}
	var (
		g     errgroup.Group
		mu    sync.Mutex
		asked int
	)
	g.SetLimit(pc.Parallel)
	spawn := func(f func()) {
		if pc.Parallel == 1 {
			f() // in the caller's goroutine: the interleaving explorer schedules it
			return
		}
		g.Go(func() error { f(); return nil })
	}
	for _, k := range keys {
		acct, client, err := e.provider(ctx, k.tenant, k.acct)
		if err != nil {
			e.log.Warn("check poller", "tenant_id", k.tenant, "provider_account_id", k.acct, "err", err)
			continue
		}
		if first := e.polled.remember(acct); first {
			e.shortenClaims(ctx, groups[k], plans, acct)
		}
		if e.breakers.of(acct).Snapshot().State == breaker.Open {
			e.releaseClaims(ctx, groups[k], plans, acct) // due when the circuit lets a trial through
			continue
		}
		size := 1
		if caps := client.Capabilities(); caps.BatchCheck && caps.MaxBatch > 1 {
			size = caps.MaxBatch
		}
		for chunk := range slices.Chunk(e.settleDue(ctx, groups[k]), size) {
			spawn(func() {
				st := e.steps(chunk[0], "poll")
				if _, err := e.ask(ctx, st, chunk, plans, acct, client); err != nil && ctx.Err() == nil {
					e.log.Warn("check poller", "provider_account_id", acct.ID, "orders", len(chunk), "err", err)
				}
				mu.Lock()
				asked += len(chunk)
				mu.Unlock()
			})
		}
	}
	_ = g.Wait() // every call's error is logged where it happens
	return PollReport{Claimed: len(claimed), Asked: asked}, ctx.Err()
}

// planCheck returns when o, claimed at now for a check, is to be checked next
// should the provider answer that it is still pending: what that answer would
// set (nextDelay, counting this check), planned now so that the claim writes it
// and the answer's save leaves the order's indexed columns as they are (a
// heap-only update on PostgreSQL; otherwise each pending answer adds an entry to
// each of the order's indexes, which made most of a check's cost). It plans from
// the account as this poller last saw it (the claim's transaction may hold
// SQLite's only connection, so nothing is read here), at most a round old while
// the account has orders under checks; a settings change reaches the plans of
// the round after. It plans only a time far enough ahead that the claim outlasts
// the call, and returns false otherwise, as for an account not seen yet: the
// claim then lapses after PollerConfig.Claim.
func (e *Engine) planCheck(o watan.Order, now time.Time) (time.Time, bool) {
	acct, ok := e.polled.account(o.TenantID, o.ProviderAccountID)
	if !ok {
		return time.Time{}, false
	}
	seen := o
	seen.CheckCount++
	seen.LastCheckedAt = &now
	next := now.Add(e.nextDelay(acct, seen))
	if next.Before(now.Add(acct.Settings.RequestTimeout + leaseMargin)) {
		return time.Time{}, false
	}
	return next, true
}

// claimSpan is how long the poller holds an order it claims without a plan:
// as long as a plan must reach (the account's request timeout and the lease
// margin, which the call cannot outlast), so that the orders of a poller that
// dies mid-call are due again soon; PollerConfig.Claim for an account it has not
// seen yet, whose timeout it does not know.
func (e *Engine) claimSpan(o watan.Order) time.Duration {
	if acct, ok := e.polled.account(o.TenantID, o.ProviderAccountID); ok {
		return min(e.cfg.Poller.Claim, acct.Settings.RequestTimeout+leaseMargin)
	}
	return e.cfg.Poller.Claim
}

// shortenClaims cuts the claims this round made on orders of an account the
// poller had not seen (a minute, PollerConfig.Claim) to what claimSpan gives now
// that it knows the account: a node restarted and killed again within its first
// round then leaves those orders for seconds, not a minute.
func (e *Engine) shortenClaims(ctx context.Context, orders []watan.Order, plans map[int64]time.Time, acct watan.ProviderAccount) {
	if len(orders) > 0 {
		e.moveClaims(ctx, orders, plans, acct, e.now().Add(e.claimSpan(orders[0])))
	}
}

// releaseClaims makes the claimed orders of acct that the claim could not plan
// due again when a pending answer would have made them, or when the account's
// open circuit lets a trial through if that is later, instead of when the claim
// ends. The poller calls it when it could not ask about them: a failed call, or
// a round that found the circuit open. A lost reply then costs the order one poll
// interval, not the claim's minute, and a provider that keeps failing is held off
// by its circuit, not by the claim. The planned orders are due at their plan
// already.
func (e *Engine) releaseClaims(ctx context.Context, orders []watan.Order, plans map[int64]time.Time, acct watan.ProviderAccount) {
	now := e.now()
	var at time.Time
	for _, o := range orders {
		if _, planned := plans[o.ID]; planned {
			continue
		}
		seen := o
		seen.CheckCount++
		seen.LastCheckedAt = &now
		if next := now.Add(e.nextDelay(acct, seen)); at.IsZero() || next.Before(at) {
			at = next
		}
	}
	if snap := e.breakers.of(acct).Snapshot(); snap.State == breaker.Open && snap.Until.After(at) {
		at = snap.Until
	}
	e.moveClaims(ctx, orders, plans, acct, at)
}

// moveClaims makes those of the claimed orders of acct that the claim could not
// plan due at at instead of when the claim ends (Store.ReleaseChecks), and
// updates their next check in orders to match, so that what the round saves on
// them later agrees with the store. at may be later than the claim's end: an
// open circuit's half-open time, which spares a round that would claim them
// again only to skip them.
func (e *Engine) moveClaims(ctx context.Context, orders []watan.Order, plans map[int64]time.Time, acct watan.ProviderAccount, at time.Time) {
	type claim struct {
		until time.Time
		ids   []int64
	}
	claims := map[int64]*claim{} // by the claim's until, to the microsecond the store keeps
	released := map[int64]bool{}
	for _, o := range orders {
		if _, planned := plans[o.ID]; planned || o.NextCheckAt == nil || at.Equal(*o.NextCheckAt) {
			continue
		}
		key := o.NextCheckAt.UnixMicro()
		if claims[key] == nil {
			claims[key] = &claim{until: *o.NextCheckAt}
		}
		claims[key].ids = append(claims[key].ids, o.ID)
	}
	for _, c := range claims {
		moved, err := e.store.ReleaseChecks(ctx, acct.TenantID, c.ids, c.until, at)
		if err != nil {
			e.log.Warn("check poller: move claim", "provider_account_id", acct.ID, "orders", len(c.ids), "err", err)
			continue
		}
		for _, id := range moved {
			released[id] = true
		}
	}
	for i := range orders {
		if released[orders[i].ID] {
			orders[i].NextCheckAt = &at
		}
	}
}

// settleDue settles those of orders whose deadline has passed, as their check
// job would, and returns the others.
func (e *Engine) settleDue(ctx context.Context, orders []watan.Order) []watan.Order {
	now := e.now()
	rest := orders[:0:0]
	for _, o := range orders {
		if o.Deadline != nil && !now.Before(*o.Deadline) {
			if err := e.settleDeadline(ctx, e.steps(o, "poll"), o); err != nil {
				e.log.Warn("check poller: deadline", "order_id", o.ID, "err", err)
			}
			continue
		}
		rest = append(rest, o)
	}
	return rest
}

// RunPoller runs the check poller until ctx ends: a round, then a sleep until
// the next check is due (at most MaxWait; IdleWait when none is), or at once
// when a round claimed a full batch. A check this process schedules sooner than the poller would wake
// wakes it. It requires Config.CheckPoller.
func (e *Engine) RunPoller(ctx context.Context) {
	pc := e.cfg.Poller
	for ctx.Err() == nil {
		rep, err := e.PollChecks(ctx)
		if err != nil && ctx.Err() == nil {
			e.log.Warn("check poller", "err", err)
		}
		if err == nil && rep.Claimed == pc.Batch {
			continue // more are due
		}
		wait := pc.MaxWait
		if err == nil {
			switch at, ok, err := e.store.NextDueCheck(ctx); {
			case err != nil:
			case ok:
				wait = min(wait, at.Sub(e.now()))
			default:
				wait = pc.IdleWait
			}
		}
		if !e.wake.sleep(ctx, e.now(), wait) {
			return
		}
	}
}

// pollWake lets a process's own check schedules wake its sleeping poller.
type pollWake struct {
	mu    sync.Mutex
	until time.Time // when the sleeping poller wakes; zero while it is awake
	soon  time.Time // the earliest check announced while it was awake
	c     chan struct{}
}

func newPollWake() *pollWake { return &pollWake{c: make(chan struct{}, 1)} }

// at tells the poller of a check due at t.
func (w *pollWake) at(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.until.IsZero():
		if w.soon.IsZero() || t.Before(w.soon) {
			w.soon = t
		}
	case t.Before(w.until):
		select {
		case w.c <- struct{}{}:
		default:
		}
	}
}

// sleep waits d from now (by the engine's clock), less if a check was announced
// for sooner, and reports whether ctx is still live.
func (w *pollWake) sleep(ctx context.Context, now time.Time, d time.Duration) bool {
	w.mu.Lock()
	if !w.soon.IsZero() {
		d = min(d, w.soon.Sub(now))
		w.soon = time.Time{}
	}
	if d <= 0 {
		w.mu.Unlock()
		return ctx.Err() == nil
	}
	w.until = now.Add(d)
	select {
	case <-w.c: // a wake meant for an earlier sleep
	default:
	}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.until = time.Time{}
		w.mu.Unlock()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-w.c:
	}
	return true
}

// polledAccounts keeps each provider account as the check poller last saw it,
// for planCheck.
type polledAccounts struct {
	mu    sync.Mutex
	accts map[acctKey]watan.ProviderAccount
}

// remember keeps acct and reports whether it is the first time.
func (p *polledAccounts) remember(acct watan.ProviderAccount) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.accts == nil {
		p.accts = map[acctKey]watan.ProviderAccount{}
	}
	k := acctKey{acct.TenantID, acct.ID}
	_, seen := p.accts[k]
	p.accts[k] = acct
	return !seen
}

func (p *polledAccounts) account(tenantID, id int64) (watan.ProviderAccount, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	acct, ok := p.accts[acctKey{tenantID, id}]
	return acct, ok
}
