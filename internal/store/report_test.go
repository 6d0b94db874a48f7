package store_test

import (
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"watan"
)

// halfUp is the rounding rule computed independently of watan.Convert.
func halfUp(num, den int64) watan.Amount {
	r := new(big.Rat).SetFrac(big.NewInt(num), big.NewInt(den))
	r.Add(r, big.NewRat(1, 2))
	q := new(big.Int).Quo(r.Num(), r.Denom()) // non-negative here: floor
	return watan.Amount(q.Int64())
}

// TestReportTotals: many small orders in a currency converted at an awkward rate,
// created around midnight in the tenant's time zone (Istanbul, UTC+3), some
// approved with a cost, some rejected, some pending. The report's rows and totals
// must equal the sums of the frozen order figures computed here, per local day,
// to the minor unit; a later rate change must not move them.
func TestReportTotals(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		tid := b.tenant.ID
		if _, err := b.s.SetTenantSettings(b.ctx, tid, watan.TenantSettings{BaseCurrency: "USD", TimeZone: "Europe/Istanbul"}); err != nil {
			t.Fatal(err)
		}
		const rate = 3_487_650_000 // 1 USD = 34.8765 TRY
		if _, err := b.s.SetExchangeRate(b.ctx, tid, "TRY", rate, "test"); err != nil {
			t.Fatal(err)
		}
		for _, code := range []string{"c1", "c2"} {
			if _, err := b.s.CreateAccount(b.ctx, tid, watan.NewAccount{Code: code, Currency: "TRY"}); err != nil {
				t.Fatal(err)
			}
			if _, err := b.s.TopUp(b.ctx, tid, code, 1_000_000_00, "float"); err != nil {
				t.Fatal(err)
			}
		}
		for i, code := range []string{"p1", "p2", "p3"} {
			if _, err := b.s.CreatePackage(b.ctx, watan.Package{TenantID: tid, Code: code, Name: code, Price: watan.Amount(7 + 13*i), Currency: "TRY", Active: true}); err != nil {
				t.Fatal(err)
			}
		}
		// Start at 20:00 UTC on 14 March: 23:00 in Istanbul. Orders every 3 minutes
		// cross local midnight (21:00 UTC) after 20 orders.
		b.clock.Advance(time.Date(2025, 3, 14, 20, 0, 0, 0, time.UTC).Sub(b.clock.Now()))
		ist := time.FixedZone("UTC+3", 3*3600)
		rng := rand.New(rand.NewPCG(1, 2))
		type want struct {
			orders, approved, rejected, pending int
			sales, cost                         watan.Amount
		}
		days := map[string]*want{}
		var total want
		var ids []int64
		for i := range 60 {
			pkg := []string{"p1", "p2", "p3"}[rng.IntN(3)]
			acct := []string{"c1", "c2"}[rng.IntN(2)]
			o := b.order(t, watan.NewOrder{PackageCode: pkg, AccountCode: acct, Quantity: 1 + rng.IntN(3)})
			ids = append(ids, o.ID)
			day := o.CreatedAt.In(ist).Format(time.DateOnly)
			if days[day] == nil {
				days[day] = &want{}
			}
			w := days[day]
			w.orders++
			total.orders++
			switch i % 4 {
			case 0, 1:
				cost := watan.Amount(rng.IntN(int(o.Price) + 1))
				b.setCost(t, o.ID, cost, "TRY", watan.CostProvider)
				b.clock.Advance(time.Duration(1+rng.IntN(20)) * time.Second)
				got := b.decide(t, o.ID, watan.StatusApproved)
				sell, c := halfUp(int64(o.Price)*watan.RateScale.Int(), rate), halfUp(int64(cost)*watan.RateScale.Int(), rate)
				if got.Profit == nil || got.Profit.Sell != sell || got.Profit.Cost != c {
					t.Fatalf("order %d: frozen %+v, want sell %s cost %s", o.ID, got.Profit, sell, c)
				}
				w.approved++
				total.approved++
				w.sales += sell
				w.cost += c
				total.sales += sell
				total.cost += c
			case 2:
				b.decide(t, o.ID, watan.StatusRejected)
				w.rejected++
				total.rejected++
			default:
				w.pending++
				total.pending++
			}
			b.clock.Advance(3 * time.Minute)
		}
		if len(days) != 2 {
			t.Fatalf("orders fell on %d local days, want 2 (the test must cross midnight)", len(days))
		}
		// A later rate changes nothing in the report.
		if _, err := b.s.SetExchangeRate(b.ctx, tid, "TRY", 4_000_000_000, "test"); err != nil {
			t.Fatal(err)
		}
		from, to := watan.Date{Y: 2025, M: 3, D: 14}, watan.Date{Y: 2025, M: 3, D: 16}
		rep, err := b.s.Report(b.ctx, watan.ReportQuery{TenantID: tid, From: from, To: to, By: watan.ReportByDay})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Rows) != 3 || rep.Rows[0].Key != "2025-03-14" || rep.Rows[2].Key != "2025-03-16" || rep.Rows[2].Orders != 0 {
			t.Fatalf("rows %+v", rep.Rows)
		}
		check := func(name string, r watan.ReportRow, w want) {
			t.Helper()
			if r.Orders != w.orders || r.Approved != w.approved || r.Rejected != w.rejected || r.Pending != w.pending ||
				r.Sales != w.sales || r.Cost != w.cost || r.Profit != w.sales-w.cost || r.Unfrozen != 0 {
				t.Errorf("%s: %+v, want %+v", name, r, w)
			}
		}
		for _, r := range rep.Rows[:2] {
			check(r.Key, r, *days[r.Key])
		}
		check("total", rep.Total, total)
		if rep.Total.AvgSecondsToPIN == "" || rep.Total.MarginPct == "" || rep.BaseCurrency != "USD" {
			t.Errorf("total %+v", rep.Total)
		}
		// Every grouping adds up to the same total.
		for _, by := range []watan.ReportBy{watan.ReportByProvider, watan.ReportByPackage, watan.ReportByAccount} {
			rep, err := b.s.Report(b.ctx, watan.ReportQuery{TenantID: tid, From: from, To: to, By: by})
			if err != nil {
				t.Fatal(err)
			}
			var sum want
			for _, r := range rep.Rows {
				sum.orders += r.Orders
				sum.approved += r.Approved
				sum.rejected += r.Rejected
				sum.pending += r.Pending
				sum.sales += r.Sales
				sum.cost += r.Cost
			}
			if sum != total {
				t.Errorf("by %s: rows sum to %+v, want %+v", by, sum, total)
			}
		}
		// One local day: the orders before local midnight only.
		one, err := b.s.Report(b.ctx, watan.ReportQuery{TenantID: tid, From: from, To: from})
		if err != nil {
			t.Fatal(err)
		}
		check("14 March alone", one.Total, *days["2025-03-14"])
		if _, err := b.s.Report(b.ctx, watan.ReportQuery{TenantID: tid, From: to, To: from}); watan.ErrorCode(err) != watan.ECodeValidation {
			t.Errorf("reversed range: %v", err)
		}
		_ = ids
	})
}

// TestStatementReconciles: opening + Σ entries = closing = balance, for an
// account with top-ups, debits, refunds and re-debits over several days.
func TestStatementReconciles(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		tid := b.tenant.ID
		b.account(t, tid, "c", 100_00, 0)
		b.pkg(t, tid, "p", 7_25)
		var first watan.Date
		for day := range 4 {
			if day == 0 {
				first = watan.DateOf(b.clock.Now())
			}
			for i := range 3 {
				o := b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c"})
				switch (day + i) % 3 {
				case 0:
					b.decide(t, o.ID, watan.StatusRejected) // refund
					b.decide(t, o.ID, watan.StatusApproved) // re-debit
				case 1:
					b.decide(t, o.ID, watan.StatusRejected)
				}
				b.clock.Advance(time.Hour)
			}
			if _, err := b.s.TopUp(b.ctx, tid, "c", 5_00, "cash"); err != nil {
				t.Fatal(err)
			}
			b.clock.Advance(24 * time.Hour)
		}
		a := b.checkLedger(t, tid, "c")
		last := watan.DateOf(b.clock.Now())
		// The whole history, and from the second day on.
		for _, from := range []watan.Date{first, first.AddDays(1)} {
			st, err := b.s.Statement(b.ctx, tid, "c", from, last)
			if err != nil {
				t.Fatal(err)
			}
			sum := st.Opening
			kinds := map[watan.LedgerKind]int{}
			for _, e := range st.Entries {
				sum += e.Amount
				kinds[e.Kind]++
			}
			if sum != st.Closing || st.Closing != a.Balance || st.Balance != a.Balance {
				t.Errorf("from %s: opening %s + entries = %s, closing %s, balance %s", from, st.Opening, sum, st.Closing, a.Balance)
			}
			if kinds[watan.LedgerRefund] == 0 || kinds[watan.LedgerRedebit] == 0 || kinds[watan.LedgerDebit] == 0 {
				t.Errorf("from %s: entries by kind %v", from, kinds)
			}
			if from == first && st.Opening != 0 {
				t.Errorf("opening of the whole history = %s", st.Opening)
			}
			if from != first && st.Opening == 0 {
				t.Error("opening after the first day is 0")
			}
		}
		// A range in the past closes at the balance of its end.
		st, err := b.s.Statement(b.ctx, tid, "c", first, first)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(st.Entries); n == 0 || st.Entries[n-1].BalanceAfter != st.Closing {
			t.Errorf("first day: closing %s, last entry %+v", st.Closing, st.Entries)
		}
		if _, err := b.s.Statement(b.ctx, tid, "nobody", first, last); !watan.IsNotFound(err) {
			t.Errorf("unknown account: %v", err)
		}
	})
}
