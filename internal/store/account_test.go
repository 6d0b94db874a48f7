package store_test

import (
	"testing"

	"watan"
)

func TestAccounts(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		a, err := b.s.CreateAccount(b.ctx, b.tenant.ID, watan.NewAccount{Code: "c1", Name: "Ali", Currency: "try", OverdraftLimit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if a.ID == 0 || a.TenantID != b.tenant.ID || a.Currency != "TRY" || a.Balance != 0 || a.OverdraftLimit != 500 {
			t.Errorf("CreateAccount = %+v", a)
		}
		got, err := b.s.FindAccount(b.ctx, b.tenant.ID, "c1")
		if err != nil || got != a {
			t.Fatalf("FindAccount = %+v, %v; want %+v", got, err, a)
		}
		a0, err := b.s.CreateAccount(b.ctx, b.tenant.ID, watan.NewAccount{Code: "c0", Currency: "USD"})
		if err != nil || a0.Name != "c0" {
			t.Fatalf("CreateAccount without name = %+v, %v; want the code as name", a0, err)
		}
		as, err := b.s.ListAccounts(b.ctx, b.tenant.ID)
		if err != nil || len(as) != 2 || as[0].Code != "c0" || as[1].Code != "c1" {
			t.Fatalf("ListAccounts = %+v, %v; want c0, c1", as, err)
		}

		_, err = b.s.CreateAccount(b.ctx, b.tenant.ID, watan.NewAccount{Code: "c1", Currency: "USD"})
		wantCode(t, err, watan.ECodeConflict)
		for _, bad := range []watan.NewAccount{
			{Code: "", Currency: "USD"},
			{Code: " c2", Currency: "USD"},
			{Code: "c2", Currency: "US"},
			{Code: "c2", Currency: "US1"},
			{Code: "c2", Currency: "USD", OverdraftLimit: -1},
		} {
			_, err := b.s.CreateAccount(b.ctx, b.tenant.ID, bad)
			wantCode(t, err, watan.ECodeValidation)
		}
		_, err = b.s.CreateAccount(b.ctx, 999999, watan.NewAccount{Code: "c9", Currency: "USD"})
		wantCode(t, err, watan.ECodeNotFound)
		_, err = b.s.FindAccount(b.ctx, b.tenant.ID, "nope")
		wantCode(t, err, watan.ECodeNotFound)
	})
}

func TestTopUpAndLedger(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		b.account(t, b.tenant.ID, "c1", 0, 0)
		e1, err := b.s.TopUp(b.ctx, b.tenant.ID, "c1", 1000, "cash")
		if err != nil {
			t.Fatal(err)
		}
		if e1.Kind != watan.LedgerTopUp || e1.Amount != 1000 || e1.BalanceAfter != 1000 || e1.Note != "cash" || e1.OrderID != 0 {
			t.Errorf("TopUp = %+v", e1)
		}
		b.clock.Advance(1)
		e2, err := b.s.TopUp(b.ctx, b.tenant.ID, "c1", 250, "")
		if err != nil || e2.BalanceAfter != 1250 {
			t.Fatalf("second TopUp = %+v, %v; want balance 1250", e2, err)
		}
		a, _ := b.s.FindAccount(b.ctx, b.tenant.ID, "c1")
		if a.Balance != 1250 {
			t.Errorf("balance = %s, want 12.50", a.Balance)
		}
		page, err := b.s.Ledger(b.ctx, b.tenant.ID, "c1", watan.LedgerQuery{})
		l := page.Entries
		if err != nil || len(l) != 2 || l[0] != e2 || l[1] != e1 {
			t.Fatalf("Ledger = %+v, %v; want newest first %+v, %+v", l, err, e2, e1)
		}
		if p, err := b.s.Ledger(b.ctx, b.tenant.ID, "c1", watan.LedgerQuery{Limit: 1}); err != nil || len(p.Entries) != 1 || p.Entries[0] != e2 {
			t.Fatalf("Ledger(limit 1) = %+v, %v", l, err)
		}

		for _, amt := range []watan.Amount{0, -1, watan.MaxAmount + 1} {
			_, err := b.s.TopUp(b.ctx, b.tenant.ID, "c1", amt, "")
			wantCode(t, err, watan.ECodeValidation)
		}
		_, err = b.s.TopUp(b.ctx, b.tenant.ID, "nope", 100, "")
		wantCode(t, err, watan.ECodeNotFound)
		_, err = b.s.Ledger(b.ctx, b.tenant.ID, "nope", watan.LedgerQuery{Limit: 10})
		wantCode(t, err, watan.ECodeNotFound)
	})
}
