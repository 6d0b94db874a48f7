package engine_test

import (
	"context"
	"testing"
	"time"

	"watan"
	"watan/internal/engine"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

func TestBarakatChecksDueOrdersInOneRequest(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		const n = 5
		var orders []watan.Order
		for range n {
			b.barakat.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeDeliver, After: 5 * time.Second})
			o := b.order(pkgBarakat)
			b.dispatch(o.ID)
			orders = append(orders, o)
		}
		b.clock.Advance(10 * time.Second)
		before := countOps(b.barakat.Requests(), providertest.OpCheck)
		b.check(orders[0].ID)
		if got := countOps(b.barakat.Requests(), providertest.OpCheck) - before; got != 1 {
			t.Fatalf("checking %d due orders took %d requests, want 1", n, got)
		}
		for _, o := range orders {
			b.want(o.ID, watan.StatusApproved, watan.StateDelivered)
		}
		// The other orders' own jobs find them final and call nobody.
		for _, o := range orders[1:] {
			if next := b.check(o.ID); next != (engine.Next{}) {
				t.Fatalf("final order asked to be checked again: %+v", next)
			}
		}
		if got := countOps(b.barakat.Requests(), providertest.OpCheck) - before; got != 1 {
			t.Fatalf("%d check requests in all, want 1", got)
		}
		b.money()
	})
}

func countOps(reqs []providertest.Request, op providertest.Op) int {
	n := 0
	for _, r := range reqs {
		if r.Op == op {
			n++
		}
	}
	return n
}

// TestWorkerCancelledDuringPlacementNeverPlacesTwice cancels the dispatch job's
// context while the provider holds the placement request, as a shutdown or a crash
// does; the job's next run resolves the order without a second placement.
func TestWorkerCancelledDuringPlacementNeverPlacesTwice(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{znet: providertest.ZnetOptions{Options: providertest.Options{SlowDelay: time.Hour}}})
		b.znet.InjectFault(providertest.OpPlace, providertest.FaultSlow, 1)
		o := b.order(pkgZnet)

		ctx, cancel := context.WithCancel(b.ctx)
		done := make(chan error, 1)
		go func() {
			_, err := b.eng.Dispatch(ctx, b.tenant.ID, o.ID)
			done <- err
		}()
		waitFor(t, func() bool { return countOps(b.znet.Requests(), providertest.OpPlace) == 1 })
		cancel()
		<-done // the run ends however it ends; what it left behind matters
		if got := b.get(o.ID); got.ProviderState != watan.StateSending && got.ProviderState != watan.StateUnknown {
			t.Fatalf("after the cancelled call the order is %s, want sending or unknown", got.ProviderState)
		}

		// While the placement's lease lasts, nobody asks the provider about it.
		checks := countOps(b.znet.Requests(), providertest.OpCheck)
		if next := b.dispatch(o.ID); next.After <= 0 {
			t.Fatalf("dispatch during the lease = %+v, want to come back later", next)
		}
		if countOps(b.znet.Requests(), providertest.OpCheck) != checks {
			t.Fatal("a check was sent while the placement was on the wire")
		}
		b.clock.Advance(time.Minute) // River rescues the job after the lease has run out
		b.dispatch(o.ID)
		got := b.want(o.ID, watan.StatusPending, watan.StateSent)
		if n := len(b.znet.Orders()); n != 1 || b.znet.Orders()[0].Ref != got.ProviderReferans {
			t.Fatalf("provider holds %d orders, want one under %s", n, got.ProviderReferans)
		}
	})
}

// waitFor waits for cond, which another goroutine makes true, checking it as often as
// the scheduler allows; it fails the test after a generous bound.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}
