package engine_test

import (
	"testing"
	"time"

	"watan"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// setZnetSettings replaces the znet account's settings.
func (b *bundle) setZnetSettings(s watan.ProviderSettings) {
	b.t.Helper()
	acct, err := b.st.FindProviderAccount(b.ctx, b.tenant.ID, b.znetAcct.ID)
	b.must(err)
	acct.Settings, acct.Credentials = s, nil
	b.znetAcct, err = b.st.UpdateProviderAccount(b.ctx, acct)
	b.must(err)
}

// runToFinal dispatches o and runs its checks on the manual clock until it is
// final, returning the waits the engine asked for between checks.
func (b *bundle) runToFinal(o watan.Order) []time.Duration {
	b.t.Helper()
	b.dispatch(o.ID)
	var waits []time.Duration
	for i := 0; i < 100; i++ {
		cur := b.get(o.ID)
		if cur.Status.Final() {
			return waits
		}
		wait := cur.NextCheckAt.Sub(b.clock.Now())
		waits = append(waits, wait)
		b.clock.Advance(wait)
		b.check(o.ID)
	}
	b.t.Fatalf("order %d not final after 100 checks", o.ID)
	return nil
}

// An adaptive account checks as steady does until it has seen 50 completions,
// then learns that its orders take about 3 minutes and stops asking before.
func TestAdaptivePolicyLearnsAndSkips(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		const d = 20 * time.Second
		b.setZnetSettings(watan.ProviderSettings{Policy: watan.PollAdaptive, PollInterval: d, FirstCheckDelay: d})
		checks := func(o watan.Order) int { return len(b.runToFinal(o)) }

		var before int
		for i := range 50 {
			b.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeDeliver, After: 3 * time.Minute})
			n := checks(b.order(pkgZnet))
			if i == 0 {
				before = n
			}
		}
		if before < 9 {
			t.Fatalf("before learning an order took %d checks; steady every 20 s needs at least 9 for 3 minutes", before)
		}
		learned := b.eng.Completion(b.znetAcct.ID)
		if !learned.Ready || learned.Samples != 50 || learned.P50 < 2*time.Minute+30*time.Second || learned.P50 > 3*time.Minute+20*time.Second {
			t.Fatalf("learned %+v, want about 3 minutes from 50 completions", learned)
		}

		b.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeDeliver, After: 3 * time.Minute})
		waits := b.runToFinal(b.order(pkgZnet))
		if len(waits) > 4 || waits[0] > d || waits[1] < time.Minute {
			t.Fatalf("after learning: waits %v; want the first check at about D, then a skip to near 3 minutes", waits)
		}
		b.money()
	})
}
