package store_test

import (
	"database/sql"
	"testing"
	"time"

	"watan"
)

// decide moves the order to status to as an operator would, in one transaction.
func (b *bundle) decide(t *testing.T, id int64, to watan.Status) watan.Order {
	t.Helper()
	var out watan.Order
	err := b.s.InTx(b.ctx, func(tx *sql.Tx) error {
		o, err := b.s.LockOrderTx(b.ctx, tx, b.tenant.ID, id)
		if err != nil {
			return err
		}
		if out, err = b.s.SetOrderStatusTx(b.ctx, tx, o, to, watan.OperatorActor("test"), ""); err != nil {
			return err
		}
		return b.s.SaveOrderTx(b.ctx, tx, out)
	})
	if err != nil {
		t.Fatalf("decide(%d, %s): %v", id, to, err)
	}
	return out
}

// setCost gives the order a cost as a placement would.
func (b *bundle) setCost(t *testing.T, id int64, cost watan.Amount, currency string, src watan.CostSource) {
	t.Helper()
	err := b.s.InTx(b.ctx, func(tx *sql.Tx) error {
		o, err := b.s.LockOrderTx(b.ctx, tx, b.tenant.ID, id)
		if err != nil {
			return err
		}
		o.Cost, o.CostCurrency, o.CostSource = &cost, currency, src
		return b.s.SaveOrderTx(b.ctx, tx, o)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPriceGroups(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		b.pkg(t, b.tenant.ID, "p", 1000)
		b.pkg(t, b.tenant.ID, "q", 500)
		b.account(t, b.tenant.ID, "walkin", 100000, 0)
		b.account(t, b.tenant.ID, "dealer", 100000, 0)
		g, err := b.s.CreatePriceGroup(b.ctx, b.tenant.ID, "dealers")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.s.CreatePriceGroup(b.ctx, b.tenant.ID, "dealers"); watan.ErrorCode(err) != watan.ECodeConflict {
			t.Errorf("duplicate group: %v", err)
		}
		if _, err := b.s.SetPackagePrice(b.ctx, b.tenant.ID, "p", "dealers", 850); err != nil {
			t.Fatal(err)
		}
		if _, err := b.s.SetPackagePrice(b.ctx, b.tenant.ID, "p", "nobody", 1); !watan.IsNotFound(err) {
			t.Errorf("price for an unknown group: %v", err)
		}
		a, err := b.s.SetAccountPriceGroup(b.ctx, b.tenant.ID, "dealer", "dealers")
		if err != nil || a.PriceGroup != "dealers" || a.PriceGroupID != g.ID {
			t.Fatalf("SetAccountPriceGroup = %+v, %v", a, err)
		}
		// Another tenant's group is not found.
		other := b.newTenant(t, "other")
		if _, err := b.s.CreateAccount(b.ctx, other.ID, watan.NewAccount{Code: "x", Currency: "USD", PriceGroup: "dealers"}); !watan.IsNotFound(err) {
			t.Errorf("account in another tenant's group: %v", err)
		}

		walk := b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "walkin", Quantity: 2})
		deal := b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "dealer", Quantity: 2})
		fallback := b.order(t, watan.NewOrder{PackageCode: "q", AccountCode: "dealer"})
		if walk.Price != 2000 || walk.PriceGroupID != 0 {
			t.Errorf("walk-in order: price %s group %d, want 20.00 and the default price", walk.Price, walk.PriceGroupID)
		}
		if deal.Price != 1700 || deal.UnitPrice != 850 || deal.PriceGroupID != g.ID {
			t.Errorf("dealer order: price %s unit %s group %d, want 17.00, 8.50, %d", deal.Price, deal.UnitPrice, deal.PriceGroupID, g.ID)
		}
		if fallback.Price != 500 || fallback.PriceGroupID != 0 {
			t.Errorf("package without a group price: %s group %d, want the default 5.00", fallback.Price, fallback.PriceGroupID)
		}
		// A later price change leaves the orders as they were created.
		if _, err := b.s.SetPackagePrice(b.ctx, b.tenant.ID, "p", "dealers", 10); err != nil {
			t.Fatal(err)
		}
		if got, _ := b.s.FindOrder(b.ctx, b.tenant.ID, deal.ID); got.Price != 1700 || got.UnitPrice != 850 {
			t.Errorf("order after a price change: %s, %s", got.Price, got.UnitPrice)
		}
		if o := b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "dealer"}); o.Price != 10 {
			t.Errorf("new order after the price change: %s", o.Price)
		}
		prices, err := b.s.ListPackagePrices(b.ctx, b.tenant.ID, "p")
		if err != nil || len(prices) != 1 || prices[0].Price != 10 || prices[0].Group != "dealers" {
			t.Errorf("ListPackagePrices = %+v, %v", prices, err)
		}
		b.checkLedger(t, b.tenant.ID, "dealer")
	})
}

func TestConversionAtCreation(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		if _, err := b.s.SetTenantSettings(b.ctx, b.tenant.ID, watan.TenantSettings{BaseCurrency: "usd", TimeZone: "Europe/Istanbul"}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.s.SetTenantSettings(b.ctx, b.tenant.ID, watan.TenantSettings{BaseCurrency: "USD", TimeZone: "Mars/Olympus"}); watan.ErrorCode(err) != watan.ECodeValidation {
			t.Errorf("bad time zone: %v", err)
		}
		if _, err := b.s.CreatePackage(b.ctx, watan.Package{TenantID: b.tenant.ID, Code: "try", Name: "t", Price: 4550, Currency: "TRY", Active: true}); err != nil {
			t.Fatal(err)
		}
		b.account(t, b.tenant.ID, "c", 100000, 0) // USD
		if _, _, err := b.s.CreateOrder(b.ctx, watan.NewOrder{TenantID: b.tenant.ID, PackageCode: "try", AccountCode: "c", Quantity: 1, PlayerID: "x"}); watan.ErrorCode(err) != watan.ECodeNoExchangeRate {
			t.Fatalf("order without a rate: %v", err)
		}
		if _, err := b.s.SetExchangeRate(b.ctx, b.tenant.ID, "USD", watan.RateScale, "op"); watan.ErrorCode(err) != watan.ECodeValidation {
			t.Errorf("rate of the base currency: %v", err)
		}
		if _, err := b.s.SetExchangeRate(b.ctx, b.tenant.ID, "TRY", 3_400_000_000, "sara"); err != nil {
			t.Fatal(err)
		}
		b.clock.Advance(time.Minute)
		if _, err := b.s.SetExchangeRate(b.ctx, b.tenant.ID, "try", 3_487_650_000, "omar"); err != nil {
			t.Fatal(err)
		}
		o := b.order(t, watan.NewOrder{PackageCode: "try", AccountCode: "c", Quantity: 3})
		// 3 × 45.50 TRY = 136.50 TRY = 3.9138... USD, rounded once: 3.91.
		if o.ListPrice != 13650 || o.ListCurrency != "TRY" || o.Price != 391 || o.Currency != "USD" || o.UnitPrice != 130 {
			t.Errorf("converted order: list %s %s, price %s %s, unit %s; want 136.50 TRY, 3.91 USD, 1.30",
				o.ListPrice, o.ListCurrency, o.Price, o.Currency, o.UnitPrice)
		}
		if a := b.checkLedger(t, b.tenant.ID, "c"); a.Balance != 100000-391 {
			t.Errorf("balance %s", a.Balance)
		}
		// History: newest first, who and when, nothing edited.
		h, err := b.s.ExchangeRateHistory(b.ctx, b.tenant.ID, 10)
		if err != nil || len(h) != 2 || h[0].SetBy != "omar" || h[0].Rate != 3_487_650_000 || h[1].SetBy != "sara" || !h[0].SetAt.After(h[1].SetAt) || h[0].BaseCurrency != "USD" {
			t.Errorf("history = %+v, %v", h, err)
		}
		// A later rate changes nothing on the order.
		if _, err := b.s.SetExchangeRate(b.ctx, b.tenant.ID, "TRY", 5_000_000_000, "omar"); err != nil {
			t.Fatal(err)
		}
		if got, _ := b.s.FindOrder(b.ctx, b.tenant.ID, o.ID); got.Price != 391 || got.ListPrice != 13650 {
			t.Errorf("order after a rate change: %+v", got)
		}
	})
}

// TestProfitFrozenAtApproval: approval freezes sell, cost and profit in the base
// currency with the rates of that moment; a later rate changes nothing;
// rejection clears cost and profit; re-approval freezes again at the new rates.
func TestProfitFrozenAtApproval(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		if _, err := b.s.SetTenantSettings(b.ctx, b.tenant.ID, watan.TenantSettings{BaseCurrency: "TRY", TimeZone: "UTC"}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.s.SetExchangeRate(b.ctx, b.tenant.ID, "USD", 2_857_142, "op"); err != nil { // 1 TRY = 0.02857142 USD
			t.Fatal(err)
		}
		b.account(t, b.tenant.ID, "c", 100000, 0) // USD
		b.pkg(t, b.tenant.ID, "p", 150)           // 1.50 USD
		o := b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c"})
		b.setCost(t, o.ID, 4000, "TRY", watan.CostProvider)
		got := b.decide(t, o.ID, watan.StatusApproved)
		// 1.50 USD / 0.02857142 = 52.5000... TRY → 52.50; cost 40.00 TRY.
		want := watan.ProfitSnapshot{BaseCurrency: "TRY", Sell: 5250, Cost: 4000, Profit: 1250, SellRate: 2_857_142, CostRate: watan.RateScale}
		if p := got.Profit; p == nil || p.Sell != want.Sell || p.Cost != want.Cost || p.Profit != want.Profit || p.SellRate != want.SellRate || p.CostRate != want.CostRate || p.BaseCurrency != "TRY" {
			t.Fatalf("snapshot = %+v, want %+v", got.Profit, want)
		}
		if _, err := b.s.SetExchangeRate(b.ctx, b.tenant.ID, "USD", 2_000_000, "op"); err != nil {
			t.Fatal(err)
		}
		read, _ := b.s.FindOrder(b.ctx, b.tenant.ID, o.ID)
		if read.Profit == nil || read.Profit.Sell != 5250 || read.Profit.SellRate != 2_857_142 {
			t.Errorf("snapshot after a rate change: %+v", read.Profit)
		}
		rej := b.decide(t, o.ID, watan.StatusRejected)
		read, _ = b.s.FindOrder(b.ctx, b.tenant.ID, o.ID)
		if rej.Cost != nil || rej.Profit != nil || read.Cost != nil || read.CostSource != "" || read.Profit != nil {
			t.Errorf("rejected order keeps cost or profit: %+v", read)
		}
		again := b.decide(t, o.ID, watan.StatusApproved)
		// Re-approved at 0.02: 1.50 USD = 75.00 TRY, no cost any more (source none).
		if p := again.Profit; p == nil || p.Sell != 7500 || p.Cost != 0 || p.Profit != 7500 || p.SellRate != 2_000_000 || again.CostSource != watan.CostNone {
			t.Errorf("re-approval: %+v, cost source %q", again.Profit, again.CostSource)
		}
	})
}
