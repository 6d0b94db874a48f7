package engine_test

import (
	"testing"

	"watan"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

func amt(a watan.Amount) *watan.Amount { return &a }

func costOf(o watan.Order) string {
	if o.Cost == nil {
		return "nil/" + string(o.CostSource)
	}
	return o.Cost.String() + " " + o.CostCurrency + "/" + string(o.CostSource)
}

// TestCostAtPlacement: the provider's reported cost (znet OK|cost|balance, barakat
// price) overrides the mapping's configured cost; a placement whose answer is lost
// keeps the configured cost; a fallback placement replaces the cost; a rejected
// order has none; codes carry their own; an approval freezes the profit.
func TestCostAtPlacement(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{})
		tid := b.tenant.ID
		mapCost := func(pkg string, acct int64, params map[string]string, product string, cost *watan.Amount) {
			p, err := b.st.FindPackage(b.ctx, tid, pkg)
			b.must(err)
			_, err = b.st.PutMapping(b.ctx, watan.Mapping{TenantID: tid, PackageID: p.ID, ProviderAccountID: acct,
				ProductID: product, Params: params, Cost: cost})
			b.must(err)
		}
		znetParams := map[string]string{"oyun": "1", "kupur": "60"}
		mapCost(pkgZnet, b.znetAcct.ID, znetParams, "3", amt(5_00))
		mapCost(pkgFB, b.znetAcct.ID, znetParams, "3", amt(5_00))

		// The provider's answer wins over the configured cost.
		b.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeDeliver, PIN: "P-1"})
		o := b.order(pkgZnet)
		b.dispatch(o.ID)
		if got := b.get(o.ID); costOf(got) != "7.30 TRY/provider" {
			t.Fatalf("accepted by znet: cost %s, want 7.30 TRY/provider", costOf(got))
		}
		b.clock.Advance(10e9)
		b.check(o.ID)
		got := b.want(o.ID, watan.StatusApproved, watan.StateDelivered)
		if p := got.Profit; p == nil || p.Sell != price || p.Cost != 7_30 || p.Profit != price-7_30 || p.BaseCurrency != "TRY" {
			t.Fatalf("profit frozen at approval: %+v", got.Profit)
		}

		// A lost reply: the status check finds the order, the configured cost stays.
		b.znet.InjectFault(providertest.OpPlace, providertest.FaultLostReply, 1)
		lost := b.order(pkgZnet)
		b.dispatch(lost.ID)
		if got := b.get(lost.ID); costOf(got) != "5.00 TRY/configured" {
			t.Fatalf("placement with a lost reply: state %s, cost %s, want 5.00 TRY/configured\n%s", got.ProviderState, costOf(got), b.timeline(lost.ID))
		}

		// znet refuses; the fallback's placement replaces the cost with barakat's.
		b.znet.SetBalance(0)
		fb := b.order(pkgFB)
		b.dispatch(fb.ID)
		if got := b.want(fb.ID, watan.StatusPending, watan.StateSent); got.ProviderAccountID != b.barakatAcc.ID || costOf(got) != "45.50 TRY/provider" {
			t.Fatalf("fallback placement: account %d cost %s, want barakat's 45.50 TRY/provider", got.ProviderAccountID, costOf(got))
		}

		// A rejected order has no cost.
		b.znet.SetBalance(1000_00)
		b.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeCancel})
		rej := b.order(pkgZnet)
		b.dispatch(rej.ID)
		b.clock.Advance(10e9)
		b.check(rej.ID)
		if got := b.want(rej.ID, watan.StatusRejected, watan.StateFailed); got.Cost != nil || got.CostSource != "" || got.Profit != nil {
			t.Fatalf("rejected order keeps a cost: %s %+v", costOf(got), got.Profit)
		}

		// Codes carry their own cost; a manual order has none.
		_, err := b.st.ImportCodesCost(b.ctx, tid, b.codes.ID, []string{"CODE-1"}, amt(6_00))
		b.must(err)
		c := b.order(pkgCodes)
		b.dispatch(c.ID)
		if got := b.want(c.ID, watan.StatusApproved, watan.StateDelivered); costOf(got) != "6.00 TRY/code" || got.Profit == nil || got.Profit.Profit != price-6_00 {
			t.Fatalf("code order: cost %s profit %+v", costOf(got), got.Profit)
		}
		m := b.order(pkgManual)
		b.dispatch(m.ID)
		got, err = b.eng.Approve(b.ctx, tid, m.ID, watan.OperatorActor("sara"), "MANUAL-PIN", "")
		b.must(err)
		if got.CostSource != watan.CostNone || got.Cost != nil || got.Profit == nil || got.Profit.Profit != price {
			t.Fatalf("manual order: cost %s profit %+v", costOf(got), got.Profit)
		}
		if read := b.get(m.ID); read.CostSource != watan.CostNone || read.Profit == nil {
			t.Fatalf("manual order as stored: cost %s profit %+v", costOf(read), read.Profit)
		}
		b.money()
	})
}
