package engine_test

import (
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"watan"
	"watan/internal/engine"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
	"watan/internal/znet"
)

func TestRefusalFallsBackOnceThenRejects(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		b.znet.SetBalance(0) // znet refuses: out of balance

		// With a fallback the order goes to barakat under a new reference.
		o := b.order(pkgFB)
		b.dispatch(o.ID)
		got := b.want(o.ID, watan.StatusPending, watan.StateSent)
		if got.ProviderAccountID != b.barakatAcc.ID || !got.FallbackUsed || !b.hasEvent(o.ID, engine.EventFallback) {
			t.Fatalf("order did not fall back to barakat: %+v\n%s", got, b.timeline(o.ID))
		}
		if len(b.znet.Orders()) != 0 || len(b.barakat.Orders()) != 1 {
			t.Fatalf("znet has %d orders, barakat %d; want 0 and 1", len(b.znet.Orders()), len(b.barakat.Orders()))
		}

		// The fallback is tried once: when it refuses too, the order is rejected.
		b.barakat.SetBalance(0)
		o2 := b.order(pkgFB)
		b.dispatch(o2.ID)
		b.want(o2.ID, watan.StatusRejected, watan.StateFailed)

		// Without a fallback, znet's ambiguous "8|connection error or insufficient
		// balance" makes the order wait rather than fail: it is not the order's
		// fault. It is not placed again at once either; the account's circuit
		// breaker counts the refusal.
		o3 := b.order(pkgZnet)
		if next := b.dispatch(o3.ID); next.After <= 0 {
			t.Fatalf("order for a paused account does not wait: %+v", next)
		}
		b.want(o3.ID, watan.StatusPending, watan.StateNotFound)
		if !b.hasEvent(o3.ID, engine.EventWaiting) {
			t.Fatalf("no waiting event:\n%s", b.timeline(o3.ID))
		}

		if n := len(b.znet.Requests()); n > 8 {
			t.Fatalf("%d requests to znet: a refused account was asked again at once", n)
		}

		// A plain refusal without a fallback rejects and refunds at once.
		b.znet.SetBalance(10000_00)
		pkg, err := b.st.FindPackage(b.ctx, b.tenant.ID, pkgZnet)
		b.must(err)
		_, err = b.st.PutMapping(b.ctx, watan.Mapping{TenantID: b.tenant.ID, PackageID: pkg.ID, ProviderAccountID: b.znetAcct.ID,
			ProductID: "3", Params: map[string]string{"oyun": "1", "kupur": "999"}})
		b.must(err)
		o4 := b.order(pkgZnet)
		b.dispatch(o4.ID)
		b.want(o4.ID, watan.StatusRejected, watan.StateFailed)
		if a := b.money(); a.Balance != 1000_00-2*price {
			t.Fatalf("balance %s: the order at barakat and the waiting one are paid, the others refunded", a.Balance)
		}
	})
}

func TestCodesUnderConcurrencyNeverShareACode(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		pins := make([]string, 20)
		for i := range pins {
			pins[i] = fmt.Sprintf("CODE-%02d", i)
		}
		_, err := b.st.ImportCodes(b.ctx, b.tenant.ID, b.codes.ID, pins)
		b.must(err)
		orders := make([]watan.Order, 50)
		for i := range orders {
			orders[i] = b.order(pkgCodes)
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(orders))
		for _, o := range orders {
			wg.Go(func() {
				if _, err := b.eng.Dispatch(b.ctx, b.tenant.ID, o.ID); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		seen := map[string]int64{}
		approved, manual := 0, 0
		for _, o := range orders {
			got := b.get(o.ID)
			switch {
			case got.Status == watan.StatusApproved && got.ProviderState == watan.StateDelivered:
				approved++
				if prev, dup := seen[got.PIN]; dup {
					t.Fatalf("code %s went to orders %d and %d", got.PIN, prev, got.ID)
				}
				seen[got.PIN] = got.ID
			case got.Status == watan.StatusPending && got.ProviderState == watan.StateManual:
				manual++
			default:
				t.Fatalf("order %d ended %s/%s", got.ID, got.Status, got.ProviderState)
			}
		}
		if approved != 20 || manual != 30 {
			t.Fatalf("approved %d, manual %d; want 20 and 30", approved, manual)
		}
		b.money()
	})
}

func TestCodesEmptyStockFallsBackToProvider(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		o := b.order(pkgCodesFB)
		b.dispatch(o.ID)
		if got := b.want(o.ID, watan.StatusPending, watan.StateSent); got.ProviderAccountID != b.znetAcct.ID {
			t.Fatalf("sent to account %d, want znet", got.ProviderAccountID)
		}
	})
}

func TestManualRoutingWaitsForOperator(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		o := b.order(pkgManual)
		b.dispatch(o.ID)
		b.want(o.ID, watan.StatusPending, watan.StateManual)
		got, err := b.eng.Approve(b.ctx, b.tenant.ID, o.ID, watan.OperatorActor("sara"), "HAND-PIN", "delivered by hand")
		b.must(err)
		if got.Status != watan.StatusApproved || got.PIN != "HAND-PIN" {
			t.Fatalf("approved by operator: %+v", got)
		}
		b.money()
	})
}

func TestLostReplyPlacesOnceAndCompletes(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		for _, kind := range []string{"znet", "barakat"} {
			t.Run(kind, func(t *testing.T) {
				b := setup(t, e, setupOpts{})
				var sim simulator = b.znet
				pkg := pkgZnet
				if kind == "barakat" {
					sim, pkg = b.barakat, pkgBarakat
				}
				sim.InjectFault(providertest.OpPlace, providertest.FaultLostReply, 1)
				sim.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeDeliver, After: 5 * time.Second})
				o := b.order(pkg)
				b.dispatch(o.ID)
				got := b.want(o.ID, watan.StatusPending, watan.StateSent)
				if n := len(sim.Orders()); n != 1 {
					t.Fatalf("provider holds %d orders, want 1", n)
				}
				b.clock.Advance(time.Minute)
				b.check(o.ID)
				b.want(o.ID, watan.StatusApproved, watan.StateDelivered)
				if n := len(sim.Orders()); n != 1 || sim.Orders()[0].Ref != got.ProviderReferans {
					t.Fatalf("provider orders %+v, want one under %s", sim.Orders(), got.ProviderReferans)
				}
				b.money()
			})
		}
	})
}

// simulator is what the tests use of either provider simulator.
type simulator interface {
	InjectFault(op providertest.Op, f providertest.Fault, n int)
	ScriptNext(fates ...providertest.Fate)
	Orders() []providertest.Order
}

// crashAfterSending leaves the order as a process that died right after committing
// "sending" would: reference stored, no answer recorded, the dispatch job still
// live (River rescues it and runs it again).
func (b *bundle) crashAfterSending(o watan.Order, acct watan.ProviderAccount, ref string) {
	b.t.Helper()
	b.must(b.st.InTx(b.ctx, func(tx *sql.Tx) error {
		cur, err := b.st.LockOrderTx(b.ctx, tx, b.tenant.ID, o.ID)
		if err != nil {
			return err
		}
		dl := b.clock.Now().Add(24 * time.Hour)
		// River rescues the job only after the placement's lease has run out.
		lease := b.clock.Now()
		cur.ProviderState, cur.ProviderAccountID, cur.ProviderReferans, cur.DispatchCount, cur.Deadline = watan.StateSending, acct.ID, ref, 1, &dl
		cur.Generation, cur.LeaseUntil, cur.LeaseOwner = 1, &lease, "dead-node"
		return b.st.SaveOrderTx(b.ctx, tx, cur)
	}))
}

func TestCrashBetweenSendingAndAnswerNeverPlacesTwice(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		client, err := znet.New(znet.Config{BaseURL: b.znet.URL(), Kod: providertest.DefaultZnetKod, Sifre: providertest.DefaultZnetSifre})
		b.must(err)
		b.znet.ScriptNext(
			providertest.Fate{Outcome: providertest.OutcomeStuck},
			providertest.Fate{Outcome: providertest.OutcomeStuck},
		)

		// The call reached the provider before the crash.
		reached := b.order(pkgZnet)
		ref := fmt.Sprintf("1%012d01", reached.ID)
		b.crashAfterSending(reached, b.znetAcct, ref)
		res, err := client.Place(b.ctx, watan.PlaceRequest{Referans: ref, ProductID: "3", Params: map[string]string{"oyun": "1", "kupur": "60"}, Quantity: 1, PlayerID: "5123456789"})
		if err != nil || res.Outcome != watan.PlaceAccepted {
			t.Fatalf("placing for the crashed process: %+v %v", res, err)
		}
		b.dispatch(reached.ID) // the rescued job
		b.want(reached.ID, watan.StatusPending, watan.StateSent)
		if n := b.znet.Placements(ref); n != 1 {
			t.Fatalf("reference placed %d times, want 1", n)
		}

		// The process died before the call left: the order is placed once, under the
		// same reference.
		lost := b.order(pkgZnet)
		ref2 := fmt.Sprintf("1%012d01", lost.ID)
		b.crashAfterSending(lost, b.znetAcct, ref2)
		b.dispatch(lost.ID)
		got := b.want(lost.ID, watan.StatusPending, watan.StateSent)
		if got.ProviderReferans != ref2 || b.znet.Placements(ref2) != 1 || len(b.znet.Orders()) != 2 {
			t.Fatalf("referans %s (want %s), placements %d, provider orders %d", got.ProviderReferans, ref2, b.znet.Placements(ref2), len(b.znet.Orders()))
		}
	})
}

func TestCrashedDispatchWithoutJobIsSweptAndResolved(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		o := b.order(pkgZnet)
		b.completeJobs(engine.KindDispatch, o.ID) // the job is gone too
		b.crashAfterSending(o, b.znetAcct, fmt.Sprintf("1%012d01", o.ID))

		b.clock.Advance(time.Minute) // within the grace period: left alone
		rep, err := b.eng.Sweep(b.ctx)
		b.must(err)
		if rep.ChecksRestored != 0 {
			t.Fatalf("sweep touched an order still within its grace period: %+v", rep)
		}
		b.clock.Advance(2 * time.Minute)
		rep, err = b.eng.Sweep(b.ctx)
		b.must(err)
		if rep.ChecksRestored != 1 || b.liveJobs(engine.KindCheck, o.ID) != 1 {
			t.Fatalf("sweep report %+v, live check jobs %d", rep, b.liveJobs(engine.KindCheck, o.ID))
		}
		// The check finds nothing at the provider and hands the order to a new
		// dispatch job, which places it under the same reference.
		b.check(o.ID)
		b.want(o.ID, watan.StatusPending, watan.StateNotFound)
		if b.liveJobs(engine.KindDispatch, o.ID) != 1 {
			t.Fatal("no dispatch job after not found")
		}
		b.dispatch(o.ID)
		b.want(o.ID, watan.StatusPending, watan.StateSent)
		if len(b.znet.Orders()) != 1 {
			t.Fatalf("provider holds %d orders", len(b.znet.Orders()))
		}
	})
}

func TestSweeperRestoresLostCheckJobOnce(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		b.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeStuck})
		o := b.order(pkgZnet)
		b.dispatch(o.ID)
		b.completeJobs(engine.KindDispatch, o.ID)
		_, err := b.st.DB().ExecContext(b.ctx, `DELETE FROM river_job WHERE kind = $1`, engine.KindCheck)
		b.must(err)
		b.clock.Advance(5 * time.Minute)

		for i := range 2 {
			rep, err := b.eng.Sweep(b.ctx)
			b.must(err)
			if want := 1 - i; rep.ChecksRestored != want {
				t.Fatalf("sweep %d restored %d checks, want %d", i+1, rep.ChecksRestored, want)
			}
			if n := b.liveJobs(engine.KindCheck, o.ID); n != 1 {
				t.Fatalf("after sweep %d: %d live check jobs, want 1", i+1, n)
			}
		}
	})
}

func TestDeadlineRejectsAndRefundsOnceAndLateDeliveryIsKept(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		b.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeStuck})
		o := b.order(pkgZnet)
		b.dispatch(o.ID)
		sent := b.get(o.ID)
		for b.clock.Now().Before(*sent.Deadline) {
			next := b.check(o.ID)
			if next.After <= 0 {
				t.Fatalf("pending order stopped being checked at %v", b.clock.Now())
			}
			b.clock.Advance(next.After)
		}
		b.check(o.ID)
		b.want(o.ID, watan.StatusRejected, watan.StateExpired)
		if !b.hasEvent(o.ID, engine.EventTimeout) {
			t.Fatalf("no timeout event:\n%s", b.timeline(o.ID))
		}
		// The sweeper, a duplicate job: nothing more happens.
		rep, err := b.eng.Sweep(b.ctx)
		b.must(err)
		b.check(o.ID)
		if rep.Expired != 0 {
			t.Fatalf("expired twice: %+v", rep)
		}
		if a := b.money(); a.Balance != 1000_00 {
			t.Fatalf("balance %s after timeout refund", a.Balance)
		}
		if got := b.get(o.ID); got.CheckCount < 10 {
			t.Fatalf("only %d checks in 24 h", got.CheckCount)
		}

		// The provider delivers after all: the operator sees it and may approve,
		// which debits again.
		pin, _ := b.znet.Deliver(sent.ProviderReferans)
		if _, err := b.eng.CheckNow(b.ctx, b.tenant.ID, o.ID, watan.OperatorActor("sara")); watan.ErrorCode(err) != watan.ECodeInvalidTransition {
			t.Fatalf("check now on a final order: %v", err)
		}
		got, err := b.eng.Approve(b.ctx, b.tenant.ID, o.ID, watan.OperatorActor("sara"), pin, "provider delivered late")
		b.must(err)
		if got.Status != watan.StatusApproved {
			t.Fatalf("approve after timeout: %s", got.Status)
		}
		if a := b.money(); a.Balance != 1000_00-price {
			t.Fatalf("balance %s after re-debit", a.Balance)
		}
	})
}

func TestOperatorRejectRacingProviderSuccess(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		const n = 12
		orders := make([]watan.Order, n)
		for i := range orders {
			b.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeDeliver})
			orders[i] = b.order(pkgZnet)
			b.dispatch(orders[i].ID)
		}
		b.clock.Advance(10 * time.Second)
		var wg sync.WaitGroup
		rejectErrs := make([]error, n)
		for i, o := range orders {
			wg.Go(func() {
				_, rejectErrs[i] = b.eng.Reject(b.ctx, b.tenant.ID, o.ID, watan.OperatorActor("sara"), "customer cancelled")
			})
			wg.Go(func() {
				if _, err := b.eng.Check(b.ctx, b.tenant.ID, o.ID); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for i, o := range orders {
			got := b.get(o.ID)
			switch got.Status {
			case watan.StatusApproved: // the provider won; the operator was told
				if watan.ErrorCode(rejectErrs[i]) != watan.ECodeInvalidTransition {
					t.Errorf("order %d approved but reject said %v", o.ID, rejectErrs[i])
				}
			case watan.StatusRejected: // the operator won; the delivery is on record
				if rejectErrs[i] != nil {
					t.Errorf("order %d rejected but reject said %v", o.ID, rejectErrs[i])
				}
				if got.ProviderState == watan.StateDelivered && !b.hasEvent(o.ID, engine.EventLateAnswer) {
					t.Errorf("order %d: late delivery not on the timeline:\n%s", o.ID, b.timeline(o.ID))
				}
			default:
				t.Errorf("order %d ended %s", o.ID, got.Status)
			}
		}
		b.money()
	})
}

func TestRedispatchAndSetManualRules(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		op := watan.OperatorActor("sara")
		b.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeCancel})
		o := b.order(pkgZnet)
		b.dispatch(o.ID)
		if _, err := b.eng.SetManual(b.ctx, b.tenant.ID, o.ID, op, "x"); watan.ErrorCode(err) != watan.ECodeInvalidTransition {
			t.Fatalf("set manual while the provider holds the order: %v", err)
		}
		if _, err := b.eng.Redispatch(b.ctx, b.tenant.ID, o.ID, b.barakatAcc.ID, op, "x"); watan.ErrorCode(err) != watan.ECodeInvalidTransition {
			t.Fatalf("re-dispatch while the provider holds the order: %v", err)
		}
		b.clock.Advance(10 * time.Second)
		b.check(o.ID)
		b.want(o.ID, watan.StatusRejected, watan.StateFailed)

		// Failed at znet: the operator sends it to barakat; it is debited again.
		got, err := b.eng.Redispatch(b.ctx, b.tenant.ID, o.ID, b.barakatAcc.ID, op, "try barakat")
		b.must(err)
		if got.Status != watan.StatusPending || got.ProviderState != watan.StateNotSent {
			t.Fatalf("after re-dispatch: %s/%s", got.Status, got.ProviderState)
		}
		b.dispatch(o.ID)
		got = b.want(o.ID, watan.StatusPending, watan.StateSent)
		if got.ProviderAccountID != b.barakatAcc.ID {
			t.Fatal("re-dispatched to the wrong account")
		}
		if a := b.money(); a.Balance != 1000_00-price {
			t.Fatalf("balance %s", a.Balance)
		}
	})
}
