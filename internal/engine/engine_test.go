package engine_test

import (
	"testing"
	"time"

	"watan"
	"watan/internal/engine"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

func TestZnetHappyPath(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		b.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeDeliver, After: 25 * time.Second, PIN: "AB12-CD34"})
		o := b.order(pkgZnet)

		if next := b.dispatch(o.ID); next != (engine.Next{}) {
			t.Fatalf("dispatch asked to run again: %+v", next)
		}
		sent := b.want(o.ID, watan.StatusPending, watan.StateSent)
		if sent.ProviderReferans == "" || sent.SentAt == nil || sent.Deadline == nil {
			t.Fatalf("sent order lacks referans, sent time or deadline: %+v", sent)
		}
		if got := b.znet.Placements(sent.ProviderReferans); got != 1 {
			t.Fatalf("placements = %d, want 1", got)
		}
		if n := b.liveJobs(engine.KindCheck, o.ID); n != 1 {
			t.Fatalf("live check jobs = %d, want 1", n)
		}
		if want := b.clock.Now().Add(10 * time.Second); !sent.NextCheckAt.Equal(want) {
			t.Fatalf("first check due %v, want %v (the fixture's 10 s)", sent.NextCheckAt, want)
		}

		b.clock.Advance(10 * time.Second)
		next := b.check(o.ID)
		if next.After < 27*time.Second || next.After > 33*time.Second {
			t.Fatalf("pending answer: next check in %v, want 30 s ± 10%%", next.After)
		}
		b.want(o.ID, watan.StatusPending, watan.StateSent)

		b.clock.Advance(next.After)
		if next := b.check(o.ID); next != (engine.Next{}) {
			t.Fatalf("delivered answer asked to run again: %+v", next)
		}
		got := b.want(o.ID, watan.StatusApproved, watan.StateDelivered)
		if got.PIN != "AB12-CD34" || got.CompletedAt == nil || got.CheckCount != 2 {
			t.Fatalf("approved order: pin %q completed %v checks %d", got.PIN, got.CompletedAt, got.CheckCount)
		}
		if a := b.money(); a.Balance != 1000_00-price {
			t.Fatalf("balance %s, want %s", a.Balance, 1000_00-price)
		}
	})
}

func TestBarakatHappyPathAndDeliveredAtPlacement(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		b.barakat.ScriptNext(
			providertest.Fate{Outcome: providertest.OutcomeDeliver, After: 5 * time.Second},
			providertest.Fate{Outcome: providertest.OutcomeDeliver, AtPlacement: true, PIN: "NOW-PIN"},
		)
		slow, fast := b.order(pkgBarakat), b.order(pkgBarakat)
		b.dispatch(slow.ID)
		b.dispatch(fast.ID)
		b.want(slow.ID, watan.StatusPending, watan.StateSent)
		if got := b.want(fast.ID, watan.StatusApproved, watan.StateDelivered); got.PIN != "NOW-PIN" {
			t.Fatalf("delivered at placement: pin %q", got.PIN)
		}
		if n := b.liveJobs(engine.KindCheck, fast.ID); n != 0 {
			t.Fatalf("order delivered at placement has %d check jobs", n)
		}
		b.clock.Advance(10 * time.Second)
		b.check(slow.ID)
		if got := b.want(slow.ID, watan.StatusApproved, watan.StateDelivered); got.PIN == "" {
			t.Fatal("delivered without a PIN")
		}
		b.money()
	})
}

func TestProviderCancelRejectsAndRefundsOnce(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		b.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeCancel})
		o := b.order(pkgZnet)
		b.dispatch(o.ID)
		b.clock.Advance(10 * time.Second)
		b.check(o.ID)
		b.want(o.ID, watan.StatusRejected, watan.StateFailed)
		// A second check (a duplicate job, a late retry) changes nothing.
		b.check(o.ID)
		if a := b.money(); a.Balance != 1000_00 {
			t.Fatalf("balance after refund %s, want 1000.00", a.Balance)
		}
	})
}
