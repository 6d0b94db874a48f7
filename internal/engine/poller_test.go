package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"watan"
	"watan/internal/engine"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// poll runs one round of the check poller.
func (b *bundle) poll() engine.PollReport {
	b.t.Helper()
	rep, err := b.eng.PollChecks(b.ctx)
	b.must(err)
	return rep
}

func TestCheckPollerChecksDueOrdersByAccountInBatches(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{poller: true})
		var zs, bs []watan.Order
		for range 2 {
			b.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeDeliver, After: 25 * time.Second})
			o := b.order(pkgZnet)
			b.dispatch(o.ID)
			zs = append(zs, o)
		}
		for range 3 {
			b.barakat.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeDeliver, After: 25 * time.Second})
			o := b.order(pkgBarakat)
			b.dispatch(o.ID)
			bs = append(bs, o)
		}
		all := append(append([]watan.Order(nil), zs...), bs...)
		for _, o := range all {
			if n := b.liveJobs(engine.KindCheck, o.ID); n != 1 {
				t.Fatalf("order %d has %d live check jobs, want its backstop", o.ID, n)
			}
		}
		if rep := b.poll(); rep.Claimed != 0 {
			t.Fatalf("nothing is due yet, but the poller claimed %d", rep.Claimed)
		}

		b.clock.Advance(10 * time.Second)
		zBefore, bBefore := countOps(b.znet.Requests(), providertest.OpCheck), countOps(b.barakat.Requests(), providertest.OpCheck)
		if rep := b.poll(); rep.Claimed != 5 || rep.Asked != 5 {
			t.Fatalf("first round: %+v, want 5 claimed and asked", rep)
		}
		if got := countOps(b.barakat.Requests(), providertest.OpCheck) - bBefore; got != 1 {
			t.Fatalf("3 due barakat orders took %d requests, want 1", got)
		}
		if got := countOps(b.znet.Requests(), providertest.OpCheck) - zBefore; got != 2 {
			t.Fatalf("2 due znet orders took %d requests, want 2", got)
		}
		for _, o := range all {
			got := b.want(o.ID, watan.StatusPending, watan.StateSent)
			if got.CheckCount != 1 || !got.NextCheckAt.After(b.clock.Now().Add(20*time.Second)) {
				t.Fatalf("order %d after the round: %d checks, next at %v", o.ID, got.CheckCount, got.NextCheckAt)
			}
		}
		// Asked once per due time: a second round at once finds nothing due, and
		// an order's own job, woken early, leaves the check to the poller and
		// sleeps for the backstop.
		if rep := b.poll(); rep.Claimed != 0 {
			t.Fatalf("second round at once claimed %d", rep.Claimed)
		}
		if next := b.check(zs[0].ID); next.After < 10*time.Minute {
			t.Fatalf("check job of a polled order sleeps %v, want the 10 min backstop", next.After)
		}

		b.clock.Advance(35 * time.Second)
		if rep := b.poll(); rep.Claimed != 5 {
			t.Fatalf("second due time: %+v, want 5 claimed", rep)
		}
		for _, o := range all {
			if got := b.want(o.ID, watan.StatusApproved, watan.StateDelivered); got.PIN == "" {
				t.Fatalf("order %d approved without a PIN", o.ID)
			}
		}
		if rep := b.poll(); rep.Claimed != 0 {
			t.Fatalf("decided orders are not polled, but %d were claimed", rep.Claimed)
		}
		// The backstop jobs end once they see the orders decided.
		for _, o := range all {
			if next := b.check(o.ID); next != (engine.Next{}) {
				t.Fatalf("check job of decided order %d asked to run again: %+v", o.ID, next)
			}
		}
		b.money()
	})
}

// claimRecorder records the next check each poller claim sets, and the first
// time each order's claim was released to.
type claimRecorder struct {
	engine.Store
	mu       sync.Mutex
	until    map[int64]time.Time
	released map[int64]time.Time
}

func (r *claimRecorder) ReleaseChecks(ctx context.Context, tenantID int64, ids []int64, claimed, at time.Time) ([]int64, error) {
	got, err := r.Store.ReleaseChecks(ctx, tenantID, ids, claimed, at)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range got {
		if _, ok := r.released[id]; !ok {
			r.released[id] = at
		}
	}
	return got, err
}

func (r *claimRecorder) ClaimDueChecks(ctx context.Context, now time.Time, limit int, until func(watan.Order) time.Time) ([]watan.Order, error) {
	return r.Store.ClaimDueChecks(ctx, now, limit, func(o watan.Order) time.Time {
		t := until(o)
		r.mu.Lock()
		r.until[o.ID] = t
		r.mu.Unlock()
		return t
	})
}

// stuckAtZnetWithClaims sets up a poller whose claims are recorded and a znet
// order sent and left pending.
func stuckAtZnetWithClaims(t *testing.T, e store.Engine) (*bundle, *claimRecorder, watan.Order) {
	rec := &claimRecorder{until: map[int64]time.Time{}, released: map[int64]time.Time{}}
	b := setup(t, e, setupOpts{poller: true, wrap: func(s engine.Store) engine.Store { rec.Store = s; return rec }})
	b.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeStuck})
	o := b.order(pkgZnet)
	b.dispatch(o.ID)
	return b, rec, o
}

// From its second round on, the poller claims an order until the check its
// pending answer schedules, so that saving the answer leaves the order's indexed
// columns as they were; in its first round it has not seen the account yet and
// claims for PollerConfig.Claim.
func TestCheckPollerPlansThePendingAnswersNextCheckAtTheClaim(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b, rec, o := stuckAtZnetWithClaims(t, e)

		b.clock.Advance(10 * time.Second)
		if rep := b.poll(); rep.Asked != 1 {
			t.Fatalf("first round: %+v, want the order asked about", rep)
		}
		first := b.want(o.ID, watan.StatusPending, watan.StateSent)
		if want := b.clock.Now().Add(time.Minute); !rec.until[o.ID].Equal(want) {
			t.Fatalf("first claim until %v, want the poller's claim of a minute (%v)", rec.until[o.ID], want)
		}
		if first.NextCheckAt.Equal(rec.until[o.ID]) {
			t.Fatalf("first answer kept the claim's lapse %v as the next check", first.NextCheckAt)
		}

		b.clock.Advance(first.NextCheckAt.Sub(b.clock.Now()))
		claimedAt := b.clock.Now()
		if rep := b.poll(); rep.Asked != 1 {
			t.Fatalf("second round: %+v, want the order asked about", rep)
		}
		second := b.want(o.ID, watan.StatusPending, watan.StateSent)
		plan := rec.until[o.ID]
		if d := plan.Sub(claimedAt); d < 30*time.Second || d > 2*time.Minute {
			t.Fatalf("second claim until %v after the claim, want about the 55 s interval", d)
		}
		if second.CheckCount != 2 || !second.NextCheckAt.Equal(plan.Truncate(time.Microsecond)) {
			t.Fatalf("second answer: %d checks, next check %v, want 2 and the claim's plan %v", second.CheckCount, second.NextCheckAt, plan)
		}
	})
}

func TestCheckPollerSettlesThePassedDeadline(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{poller: true})
		b.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeStuck})
		o := b.order(pkgZnet)
		b.dispatch(o.ID)
		b.clock.Advance(10 * time.Second)
		b.poll()
		b.want(o.ID, watan.StatusPending, watan.StateSent)

		b.clock.Advance(25 * time.Hour)
		if rep := b.poll(); rep.Claimed != 1 {
			t.Fatalf("overdue order: %+v, want it claimed", rep)
		}
		b.want(o.ID, watan.StatusRejected, watan.StateExpired)
		if a := b.money(); a.Balance != 1000_00 {
			t.Fatalf("balance after the deadline %s, want the price refunded", a.Balance)
		}
	})
}

func TestCheckPollerLeavesAnOpenCircuitAlone(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{poller: true})
		b.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeStuck})
		o := b.order(pkgZnet)
		b.dispatch(o.ID)
		halfOpen := b.clock.Now().Add(50 * time.Second)
		b.eng.CircuitOpened(b.znetAcct.ID, halfOpen, "test")
		b.clock.Advance(10 * time.Second)
		before := countOps(b.znet.Requests(), providertest.OpCheck)
		if rep := b.poll(); rep.Claimed != 1 || rep.Asked != 0 {
			t.Fatalf("round with the circuit open: %+v, want 1 claimed, none asked", rep)
		}
		if got := countOps(b.znet.Requests(), providertest.OpCheck) - before; got != 0 {
			t.Fatalf("%d requests to an account whose circuit is open", got)
		}
		// The order is due when the circuit lets a trial through, not when the
		// claim (a minute: the account was not known yet) lapses.
		if got := b.want(o.ID, watan.StatusPending, watan.StateSent); got.NextCheckAt == nil || !got.NextCheckAt.Equal(halfOpen) {
			t.Fatalf("after the round: next check %v, want the circuit's half-open time %v", got.NextCheckAt, halfOpen)
		}
		b.clock.Advance(halfOpen.Sub(b.clock.Now()) - 2*time.Second) // beyond the poller's 1 s lookahead
		if rep := b.poll(); rep.Claimed != 0 {
			t.Fatalf("round before the circuit half-opens: %+v, want nothing claimed", rep)
		}
		b.clock.Advance(2 * time.Second)
		if rep := b.poll(); rep.Asked != 1 {
			t.Fatalf("round once the circuit half-opened: %+v, want the order asked about", rep)
		}
		b.want(o.ID, watan.StatusPending, watan.StateSent)
	})
}

// A failed check call leaves the order it asked about due when a pending answer
// would have made it, not when the poller's claim lapses, and not at once:
// before, the failure was saved on the order as read before the claim, which put
// its next check back in the past, and the next round asked about it again at
// once; then the claim held it for its whole minute.
func TestCheckPollerLeavesAFailedCallsOrdersToTheirRoutineCheck(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b, rec, o := stuckAtZnetWithClaims(t, e)

		b.clock.Advance(10 * time.Second)
		b.znet.InjectFault(providertest.OpCheck, providertest.Fault500, 1)
		if rep := b.poll(); rep.Claimed != 1 || rep.Asked != 1 {
			t.Fatalf("round with a failing call: %+v, want the order claimed and asked about", rep)
		}
		got := b.want(o.ID, watan.StatusPending, watan.StateSent)
		claim := rec.until[o.ID].Truncate(time.Microsecond)
		if got.CheckCount != 1 || got.NextCheckAt == nil || !got.NextCheckAt.After(b.clock.Now()) || !got.NextCheckAt.Before(claim) {
			t.Fatalf("after the failed call: %d checks, next check %v, want 1 and a time after now (%v), before the claim's lapse %v",
				got.CheckCount, got.NextCheckAt, b.clock.Now(), claim)
		}
		before := countOps(b.znet.Requests(), providertest.OpCheck)
		if rep := b.poll(); rep.Claimed != 0 {
			t.Fatalf("round right after the failed call: %+v, want nothing claimed before its next check", rep)
		}
		if n := countOps(b.znet.Requests(), providertest.OpCheck) - before; n != 0 {
			t.Fatalf("%d more check requests right after the failed call", n)
		}
		b.clock.Advance(got.NextCheckAt.Sub(b.clock.Now()))
		if rep := b.poll(); rep.Asked != 1 {
			t.Fatalf("round at the next check: %+v, want the order asked about", rep)
		}
	})
}

// An account polled more often than a call may take cannot have its next check
// planned at the claim. The poller then holds its orders as long as a call may
// take (the request timeout and the lease margin) once it knows the account
// (from the first round on: that round cuts its minute-long claim), so
// the orders of a poller that dies mid-call are due again within that, and a
// failed call leaves them due one interval later: in a reseller chain, a reply
// lost between two watans cost the order a minute per loss.
func TestCheckPollerHoldsAShortIntervalsOrdersForOneCall(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b, rec, o := stuckAtZnetWithClaims(t, e)
		b.setZnetSettings(watan.ProviderSettings{FirstCheckDelay: 10 * time.Second, Policy: watan.PollFixed,
			PollInterval: time.Second, RequestTimeout: 5 * time.Second})
		b.clock.Advance(10 * time.Second)
		if rep := b.poll(); rep.Asked != 1 {
			t.Fatalf("first round: %+v, want the order asked about", rep)
		}
		if want := b.clock.Now().Add(time.Minute); !rec.until[o.ID].Equal(want) {
			t.Fatalf("first claim until %v, want PollerConfig.Claim's minute (%v): the account was not known", rec.until[o.ID], want)
		}
		// Once the round knew the account, it cut that claim to one call's worth,
		// before the call: a poller killed during its first round holds the order
		// for seconds.
		if want := b.clock.Now().Add(5*time.Second + 10*time.Second); !rec.released[o.ID].Equal(want) {
			t.Fatalf("first claim cut to %v, want the request timeout and the lease margin (%v)", rec.released[o.ID], want)
		}
		// One interval, give or take the policy's 10 % of jitter.
		oneInterval := func(next *time.Time) bool {
			d := next.Sub(b.clock.Now())
			return d >= 900*time.Millisecond && d <= 1100*time.Millisecond
		}
		first := b.want(o.ID, watan.StatusPending, watan.StateSent)
		if !oneInterval(first.NextCheckAt) {
			t.Fatalf("pending answer: next check %v, want one interval after %v", first.NextCheckAt, b.clock.Now())
		}

		b.clock.Advance(first.NextCheckAt.Sub(b.clock.Now()))
		b.znet.InjectFault(providertest.OpCheck, providertest.Fault500, 1)
		if rep := b.poll(); rep.Asked != 1 {
			t.Fatalf("second round: %+v, want the order asked about", rep)
		}
		if want := b.clock.Now().Add(5*time.Second + 10*time.Second); !rec.until[o.ID].Equal(want) {
			t.Fatalf("second claim until %v, want the request timeout and the lease margin (%v)", rec.until[o.ID], want)
		}
		failed := b.want(o.ID, watan.StatusPending, watan.StateSent)
		if !oneInterval(failed.NextCheckAt) {
			t.Fatalf("after the failed call: next check %v, want one interval after %v, not the claim's lapse", failed.NextCheckAt, b.clock.Now())
		}
		b.clock.Advance(failed.NextCheckAt.Sub(b.clock.Now()))
		if rep := b.poll(); rep.Asked != 1 {
			t.Fatalf("round one interval after the failed call: %+v, want the order asked about", rep)
		}
		b.want(o.ID, watan.StatusPending, watan.StateSent)
	})
}

// The same holds for a check job's batch check: the orders it claimed are due
// again when the claim lapses, the job's own order included, however the call
// failed.
func TestFailedBatchCheckLeavesItsOrdersToTheClaim(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		stuck := providertest.Fate{Outcome: providertest.OutcomeStuck}
		b.barakat.ScriptNext(stuck, stuck)
		first, second := b.order(pkgBarakat), b.order(pkgBarakat)
		b.dispatch(first.ID)
		b.dispatch(second.ID)

		b.clock.Advance(time.Minute)
		b.barakat.InjectFault(providertest.OpCheck, providertest.Fault500, 1)
		if _, err := b.eng.Check(b.ctx, b.tenant.ID, first.ID); err == nil {
			t.Fatal("check with a failing call: no error")
		}
		var next *time.Time
		for _, id := range []int64{first.ID, second.ID} {
			o := b.want(id, watan.StatusPending, watan.StateSent)
			if o.NextCheckAt == nil || !o.NextCheckAt.After(b.clock.Now()) {
				t.Fatalf("order %d after the failed batch check: next check %v, want the claim's lapse, after %v", id, o.NextCheckAt, b.clock.Now())
			}
			if next != nil && !o.NextCheckAt.Equal(*next) {
				t.Fatalf("order %d due at %v, the other at %v: want both at the claim's lapse", id, o.NextCheckAt, next)
			}
			next = o.NextCheckAt
		}
	})
}
