package engine_test

import (
	"strings"
	"testing"
	"time"

	"watan"
	"watan/internal/breaker"
	"watan/internal/engine"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// providerTimeline returns the kinds of a provider account's timeline, oldest first.
func (b *bundle) providerTimeline(acctID int64) []string {
	b.t.Helper()
	evs, _, err := b.st.ProviderEvents(b.ctx, b.tenant.ID, acctID, 100, "")
	b.must(err)
	kinds := make([]string, len(evs))
	for i, ev := range evs {
		kinds[len(evs)-1-i] = ev.Kind
	}
	return kinds
}

func TestSingleBadAnswerNeverStopsDispatch(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		b.znet.InjectFault(providertest.OpAny, providertest.FaultHTML, 2) // the placement and the check that resolves it
		first := b.order(pkgZnet)
		b.dispatch(first.ID)
		b.want(first.ID, watan.StatusPending, watan.StateUnknown)

		second := b.order(pkgZnet)
		b.dispatch(second.ID)
		b.want(second.ID, watan.StatusPending, watan.StateSent)
		if s := b.eng.Circuit(b.znetAcct.ID); s.State != breaker.Closed || s.Counts.Misconfigured != 2 {
			t.Fatalf("after one bad placement and its check: %+v", s)
		}
		if acct, _ := b.st.FindProviderAccount(b.ctx, b.tenant.ID, b.znetAcct.ID); acct.Paused {
			t.Fatal("one bad answer paused the account")
		}
		b.money()
	})
}

func TestCircuitOpensHoldsPlacementsHalfOpensAndCloses(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{breaker: breaker.Config{MisconfiguredInARow: 2, CoolDown: 30 * time.Second, Trials: 1}})
		b.znet.InjectFault(providertest.OpAny, providertest.FaultEmpty, 2) // placement and resolving check
		first := b.order(pkgZnet)
		b.dispatch(first.ID)
		b.want(first.ID, watan.StatusPending, watan.StateUnknown)
		snap := b.eng.Circuit(b.znetAcct.ID)
		if snap.State != breaker.Open || !snap.Until.Equal(b.clock.Now().Add(30*time.Second)) {
			t.Fatalf("after two misconfiguration signals: %+v", snap)
		}

		// Open: a placement waits, with an event saying why and until when, and
		// nothing reaches the provider.
		requests := len(b.znet.Requests())
		second := b.order(pkgZnet)
		next := b.dispatch(second.ID)
		if next.After < 30*time.Second {
			t.Fatalf("dispatch while open comes back after %s, before the circuit half-opens", next.After)
		}
		got := b.want(second.ID, watan.StatusPending, watan.StateNotSent)
		if !b.hasEvent(second.ID, engine.EventWaiting) || !strings.Contains(got.ProviderMessage, "circuit open until "+snap.Until.Format(time.RFC3339)) {
			t.Fatalf("waiting order says %q; timeline:\n%s", got.ProviderMessage, b.timeline(second.ID))
		}
		if n := len(b.znet.Requests()); n != requests {
			t.Fatalf("%d requests reached the provider while the circuit was open", n-requests)
		}
		// Status checks still go out: only the provider can settle the first order.
		b.clock.Advance(10 * time.Second)
		b.check(first.ID) // not found: the empty answer placed nothing; it is placed again later
		if n := len(b.znet.Requests()); n != requests+1 {
			t.Fatalf("the check of an order with an unknown outcome did not go out while open (%d requests)", n-requests)
		}

		// After the cool-down one trial goes out and its success closes the circuit.
		b.clock.Advance(20 * time.Second)
		b.dispatch(second.ID)
		b.want(second.ID, watan.StatusPending, watan.StateSent)
		if s := b.eng.Circuit(b.znetAcct.ID); s.State != breaker.Closed {
			t.Fatalf("after a good trial: %+v", s)
		}
		b.dispatch(first.ID)
		b.want(first.ID, watan.StatusPending, watan.StateSent)
		if len(b.znet.Orders()) != 2 {
			t.Fatalf("provider holds %d orders, want 2", len(b.znet.Orders()))
		}
		want := []string{watan.ProviderEventCircuitOpen, watan.ProviderEventCircuitHalfOpen, watan.ProviderEventCircuitClosed}
		if got := b.providerTimeline(b.znetAcct.ID); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("provider timeline %v, want %v", got, want)
		}
		b.money()
	})
}

func TestCircuitOpenSendsOrdersToTheFallback(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{breaker: breaker.Config{TransientInARow: 2, FailureRatio: 1}})
		b.znet.InjectFault(providertest.OpAny, providertest.Fault500, 2)
		first := b.order(pkgZnet)
		b.dispatch(first.ID) // placement 500 → unknown → check 500
		if s := b.eng.Circuit(b.znetAcct.ID); s.State != breaker.Open {
			t.Fatalf("after two 500s in a row: %+v", s)
		}
		withFallback := b.order(pkgFB)
		b.dispatch(withFallback.ID)
		got := b.want(withFallback.ID, watan.StatusPending, watan.StateSent)
		if got.ProviderAccountID != b.barakatAcc.ID || !b.hasEvent(withFallback.ID, engine.EventFallback) {
			t.Fatalf("order with a fallback went to account %d; timeline:\n%s", got.ProviderAccountID, b.timeline(withFallback.ID))
		}
		without := b.order(pkgZnet)
		if next := b.dispatch(without.ID); next.After <= 0 {
			t.Fatalf("order without a fallback did not wait: %+v", next)
		}
		b.want(without.ID, watan.StatusPending, watan.StateNotSent)

		// An operator's resume closes an open circuit: they have looked at the
		// account and want it used.
		b.must(b.eng.ResumeProvider(b.ctx, b.tenant.ID, b.znetAcct.ID, watan.OperatorActor("sara")))
		b.dispatch(without.ID)
		b.want(without.ID, watan.StatusPending, watan.StateSent)
		b.money()
	})
}

func TestFailedTrialReopensTheCircuit(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{breaker: breaker.Config{TransientInARow: 1, FailureRatio: 1, CoolDown: 10 * time.Second, Trials: 1}})
		b.znet.InjectFault(providertest.OpPlace, providertest.Fault500, 2)
		first := b.order(pkgZnet)
		b.dispatch(first.ID)
		b.clock.Advance(10 * time.Second)
		second := b.order(pkgZnet)
		b.dispatch(second.ID) // the trial fails: open again, for twice as long
		s := b.eng.Circuit(b.znetAcct.ID)
		if s.State != breaker.Open || s.Until.Sub(b.clock.Now()) != 20*time.Second {
			t.Fatalf("after a failed trial: %+v", s)
		}
		b.clock.Advance(20 * time.Second)
		third := b.order(pkgZnet)
		b.dispatch(third.ID)
		b.want(third.ID, watan.StatusPending, watan.StateSent)
		if s := b.eng.Circuit(b.znetAcct.ID); s.State != breaker.Closed {
			t.Fatalf("after a good trial: %+v", s)
		}
		b.money()
	})
}

func TestOperatorPauseAndResume(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		op := watan.OperatorActor("sara")
		b.must(b.eng.PauseProvider(b.ctx, b.tenant.ID, b.znetAcct.ID, "provider maintenance tonight", op))
		o := b.order(pkgZnet)
		if next := b.dispatch(o.ID); next.After <= 0 {
			t.Fatalf("dispatch to a paused account did not wait: %+v", next)
		}
		got := b.want(o.ID, watan.StatusPending, watan.StateNotSent)
		if !strings.Contains(got.ProviderMessage, "provider maintenance tonight") {
			t.Fatalf("waiting order says %q", got.ProviderMessage)
		}
		b.must(b.eng.ResumeProvider(b.ctx, b.tenant.ID, b.znetAcct.ID, op))
		b.dispatch(o.ID)
		b.want(o.ID, watan.StatusPending, watan.StateSent)
		want := []string{watan.ProviderEventPaused, watan.ProviderEventResumed}
		if got := b.providerTimeline(b.znetAcct.ID); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("provider timeline %v, want %v", got, want)
		}
		b.money()
	})
}

// TestCircuitOpenedOnAnotherNode: a breaker that opened on another node (told
// through CircuitOpened) holds this node's placements to the account until then,
// also when this node had made no call to it yet, and no event is recorded twice.
func TestCircuitOpenedOnAnotherNode(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{breaker: breaker.Config{Trials: 1}})
		until := b.clock.Now().Add(30 * time.Second)
		b.eng.CircuitOpened(b.znetAcct.ID, until, "10 failures in a row on node 2")
		o := b.order(pkgZnet)
		if next := b.dispatch(o.ID); next.After <= 0 {
			t.Fatalf("dispatch with the circuit open elsewhere comes back after %s", next.After)
		}
		got := b.want(o.ID, watan.StatusPending, watan.StateNotSent)
		if !strings.Contains(got.ProviderMessage, "circuit open until "+until.Format(time.RFC3339)) {
			t.Fatalf("waiting order says %q", got.ProviderMessage)
		}
		if n := len(b.znet.Requests()); n != 0 {
			t.Fatalf("%d requests reached the provider while its circuit was open on another node", n)
		}
		// An older announcement does not shorten it; a later one of the same opening is a no-op.
		b.eng.CircuitOpened(b.znetAcct.ID, until.Add(-10*time.Second), "older")
		if s := b.eng.Circuit(b.znetAcct.ID); s.State != breaker.Open || !s.Until.Equal(until) {
			t.Fatalf("after an older announcement: %+v", s)
		}
		b.clock.Advance(30 * time.Second)
		b.dispatch(o.ID)
		b.want(o.ID, watan.StatusPending, watan.StateSent)
		if got := b.providerTimeline(b.znetAcct.ID); len(got) != 2 || got[0] != watan.ProviderEventCircuitHalfOpen {
			// The opening is the other node's event; this node records what it does.
			t.Fatalf("provider timeline %v", got)
		}
	})
}
