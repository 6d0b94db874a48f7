package store_test

import (
	"testing"

	"watan"
)

// TestTenantIsolation checks invariant 6: tenant A reaches none of tenant B's rows,
// by id or by code, for reading or writing; each attempt reads as "not found".
func TestTenantIsolation(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		a := b.tenant
		bt := b.newTenant(t, "tenant B")

		// Tenant B's world.
		bAcct := b.account(t, bt.ID, "b-acct", 1000, 0)
		bPkg := b.pkg(t, bt.ID, "b-pkg", 100)
		bProv := b.provider(t, bt.ID, "b-znet")
		bGroup := b.codeGroup(t, bt.ID, "b-pins")
		if _, err := b.s.PutMapping(b.ctx, watan.Mapping{TenantID: bt.ID, PackageID: bPkg.ID, ProviderAccountID: bProv.ID, ProductID: "1"}); err != nil {
			t.Fatal(err)
		}
		bOrder := b.order(t, watan.NewOrder{TenantID: bt.ID, PackageCode: "b-pkg", AccountCode: "b-acct", ClientOrderID: "same"})

		// Tenant A's own, to reference B's from.
		b.account(t, a.ID, "a-acct", 1000, 0)
		aPkg := b.pkg(t, a.ID, "a-pkg", 100)
		aProv := b.provider(t, a.ID, "a-znet")

		notFound := func(what string, err error) {
			t.Helper()
			if !watan.IsNotFound(err) {
				t.Errorf("%s: err = %v, want not found", what, err)
			}
		}
		_, err := b.s.FindOrder(b.ctx, a.ID, bOrder.ID)
		notFound("FindOrder", err)
		_, err = b.s.OrderEvents(b.ctx, a.ID, bOrder.ID)
		notFound("OrderEvents", err)
		_, err = b.s.FindAccount(b.ctx, a.ID, "b-acct")
		notFound("FindAccount", err)
		_, err = b.s.TopUp(b.ctx, a.ID, "b-acct", 100, "")
		notFound("TopUp", err)
		_, err = b.s.Ledger(b.ctx, a.ID, "b-acct", watan.LedgerQuery{Limit: 10})
		notFound("Ledger", err)
		_, err = b.s.FindPackage(b.ctx, a.ID, "b-pkg")
		notFound("FindPackage", err)
		stolen := bPkg
		stolen.TenantID, stolen.Price = a.ID, 1
		_, err = b.s.UpdatePackage(b.ctx, stolen)
		notFound("UpdatePackage", err)
		_, err = b.s.SetRouting(b.ctx, a.ID, "b-pkg", watan.Routing{Mode: watan.RouteManual})
		notFound("SetRouting", err)
		_, err = b.s.FindProviderAccount(b.ctx, a.ID, bProv.ID)
		notFound("FindProviderAccount", err)
		stolenProv := bProv
		stolenProv.TenantID, stolenProv.BaseURL = a.ID, "https://evil.example"
		_, err = b.s.UpdateProviderAccount(b.ctx, stolenProv)
		notFound("UpdateProviderAccount", err)
		_, err = b.s.FindCodeGroup(b.ctx, a.ID, bGroup.ID)
		notFound("FindCodeGroup", err)
		_, err = b.s.ImportCodes(b.ctx, a.ID, bGroup.ID, []string{"X"})
		notFound("ImportCodes", err)
		_, err = b.s.FindMapping(b.ctx, a.ID, bPkg.ID, bProv.ID)
		notFound("FindMapping", err)
		_, err = b.s.ListMappings(b.ctx, a.ID, bPkg.ID)
		notFound("ListMappings", err)
		_, err = b.s.PutMapping(b.ctx, watan.Mapping{TenantID: a.ID, PackageID: bPkg.ID, ProviderAccountID: aProv.ID, ProductID: "1"})
		notFound("PutMapping with B's package", err)
		_, err = b.s.PutMapping(b.ctx, watan.Mapping{TenantID: a.ID, PackageID: aPkg.ID, ProviderAccountID: bProv.ID, ProductID: "1"})
		notFound("PutMapping with B's provider account", err)

		// A's routing cannot point at B's provider accounts or code groups.
		for _, r := range []watan.Routing{
			{Mode: watan.RouteAuto, PrimaryProviderID: bProv.ID},
			{Mode: watan.RouteAuto, PrimaryProviderID: aProv.ID, FallbackProviderID: bProv.ID},
			{Mode: watan.RouteCodes, CodeGroupID: bGroup.ID},
		} {
			_, err := b.s.SetRouting(b.ctx, a.ID, "a-pkg", r)
			wantCode(t, err, watan.ECodeValidation)
		}
		// A's orders cannot use B's package or account.
		_, _, err = b.s.CreateOrder(b.ctx, watan.NewOrder{TenantID: a.ID, PackageCode: "b-pkg", AccountCode: "a-acct", Quantity: 1, PlayerID: "x"})
		wantCode(t, err, watan.ECodeUnknownPackage)
		_, _, err = b.s.CreateOrder(b.ctx, watan.NewOrder{TenantID: a.ID, PackageCode: "a-pkg", AccountCode: "b-acct", Quantity: 1, PlayerID: "x"})
		wantCode(t, err, watan.ECodeUnknownAccount)
		// B's client order id means nothing to A.
		aOrder, created, err := b.s.CreateOrder(b.ctx, watan.NewOrder{TenantID: a.ID, PackageCode: "a-pkg", AccountCode: "a-acct", Quantity: 1, PlayerID: "x", ClientOrderID: "same"})
		if err != nil || !created || aOrder.ID == bOrder.ID {
			t.Fatalf("A's order with B's client order id = %+v, %v, %v", aOrder, created, err)
		}

		// A's listings hold only A's rows.
		page, _ := b.s.ListOrders(b.ctx, watan.OrderFilter{TenantID: a.ID})
		if got := ids(page.Orders); len(got) != 1 || got[0] != aOrder.ID {
			t.Errorf("A's orders = %v, want only %d", got, aOrder.ID)
		}
		if page, _ := b.s.ListOrders(b.ctx, watan.OrderFilter{TenantID: a.ID, Query: "1"}); len(page.Orders) != 1 || page.Orders[0].ID != aOrder.ID {
			t.Errorf("A's order number 1 = %v, want only %d", ids(page.Orders), aOrder.ID)
		}
		if as, _ := b.s.ListAccounts(b.ctx, a.ID); len(as) != 1 || as[0].Code != "a-acct" {
			t.Errorf("A's accounts = %+v", as)
		}
		if ps, _ := b.s.ListPackages(b.ctx, a.ID); len(ps) != 1 || ps[0].ID != aPkg.ID {
			t.Errorf("A's packages = %+v", ps)
		}
		if ps, _ := b.s.ListProviderAccounts(b.ctx, a.ID); len(ps) != 1 || ps[0].ID != aProv.ID {
			t.Errorf("A's provider accounts = %+v", ps)
		}
		if gs, _ := b.s.ListCodeGroups(b.ctx, a.ID); len(gs) != 0 {
			t.Errorf("A's code groups = %+v", gs)
		}

		// Nothing of B's changed.
		if got := b.checkLedger(t, bt.ID, "b-acct"); got.Balance != bAcct.Balance-100 {
			t.Errorf("B's balance = %s", got.Balance)
		}
		if got, _ := b.s.FindProviderAccount(b.ctx, bt.ID, bProv.ID); got.BaseURL != bProv.BaseURL {
			t.Errorf("B's provider account changed: %+v", got)
		}
		if got, _ := b.s.FindPackage(b.ctx, bt.ID, "b-pkg"); got.Price != bPkg.Price {
			t.Errorf("B's package changed: %+v", got)
		}
	})
}
