package store_test

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"watan"
	"watan/internal/store"
)

// count runs a COUNT query; tests use it to see what was (not) written.
func (b *bundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := b.s.DB().QueryRowContext(b.ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// checkLedger verifies invariant 4 for an account: its ledger sums to its balance,
// every entry's balance_after is the running sum, and every order of the account
// has exactly one debit of its price.
func (b *bundle) checkLedger(t *testing.T, tenantID int64, code string) watan.Account {
	t.Helper()
	a, err := b.s.FindAccount(b.ctx, tenantID, code)
	if err != nil {
		t.Fatal(err)
	}
	page, err := b.s.Ledger(b.ctx, tenantID, code, watan.LedgerQuery{Limit: 1000})
	l := page.Entries
	if err != nil {
		t.Fatal(err)
	}
	var sum watan.Amount
	for i := len(l) - 1; i >= 0; i-- {
		sum += l[i].Amount
		if l[i].BalanceAfter != sum {
			t.Errorf("ledger entry %d: balance_after %s, running sum %s", l[i].ID, l[i].BalanceAfter, sum)
		}
	}
	if sum != a.Balance {
		t.Errorf("account %s: ledger sums to %s, balance is %s", code, sum, a.Balance)
	}
	if a.Balance < -a.OverdraftLimit {
		t.Errorf("account %s: balance %s is past the overdraft limit %s", code, a.Balance, a.OverdraftLimit)
	}
	if n := b.count(t, `SELECT COUNT(*) FROM orders o WHERE o.account_id = $1 AND
		(SELECT COUNT(*) FROM ledger_entries l WHERE l.order_id = o.id AND l.kind = 'debit' AND l.amount = -o.price) <> 1`, a.ID); n != 0 {
		t.Errorf("account %s: %d orders without exactly one debit of their price", code, n)
	}
	if n := b.count(t, `SELECT COUNT(*) FROM ledger_entries WHERE account_id = $1 AND kind = 'debit'`, a.ID); n != b.count(t, `SELECT COUNT(*) FROM orders WHERE account_id = $1`, a.ID) {
		t.Errorf("account %s: %d debits for %d orders", code, n, b.count(t, `SELECT COUNT(*) FROM orders WHERE account_id = $1`, a.ID))
	}
	return a
}

func TestCreateOrder(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		b.account(t, b.tenant.ID, "c1", 10000, 0)
		p := b.pkg(t, b.tenant.ID, "pubg-60", 199)
		n := watan.NewOrder{TenantID: b.tenant.ID, PackageCode: "pubg-60", AccountCode: "c1", Quantity: 3,
			PlayerID: "5123456789", Extra: "server=eu", ClientOrderID: "shop-1", Actor: watan.ActorAPI}
		o, created, err := b.s.CreateOrder(b.ctx, n)
		if err != nil || !created {
			t.Fatalf("CreateOrder = %+v, %v, %v", o, created, err)
		}
		now := b.clock.Now().Truncate(time.Microsecond)
		want := watan.Order{ID: o.ID, TenantID: b.tenant.ID, Number: 1, AccountID: o.AccountID, AccountCode: "c1",
			PackageID: p.ID, PackageCode: "pubg-60", Quantity: 3, PlayerID: "5123456789", Extra: "server=eu",
			ClientOrderID: "shop-1", UnitPrice: 199, Price: 597, Currency: "USD", ListPrice: 597, ListCurrency: "USD", Status: watan.StatusPending,
			ProviderState: watan.StateNotSent, CreatedAt: now, UpdatedAt: now}
		if !reflect.DeepEqual(o, want) {
			t.Fatalf("CreateOrder =\n%+v\nwant\n%+v", o, want)
		}
		got, err := b.s.FindOrder(b.ctx, b.tenant.ID, o.ID)
		if err != nil || !reflect.DeepEqual(got, o) {
			t.Fatalf("FindOrder =\n%+v, %v\nwant\n%+v", got, err, o)
		}
		a := b.checkLedger(t, b.tenant.ID, "c1")
		if a.Balance != 10000-597 {
			t.Errorf("balance = %s, want 94.03", a.Balance)
		}
		page, _ := b.s.Ledger(b.ctx, b.tenant.ID, "c1", watan.LedgerQuery{Limit: 1})
		l := page.Entries
		if l[0].Kind != watan.LedgerDebit || l[0].OrderID != o.ID || l[0].Amount != -597 || l[0].BalanceAfter != a.Balance {
			t.Errorf("debit entry = %+v", l[0])
		}
		ev, err := b.s.OrderEvents(b.ctx, b.tenant.ID, o.ID)
		if err != nil || len(ev) != 1 || ev[0].Kind != watan.EventCreated || ev[0].Actor != watan.ActorAPI ||
			ev[0].OrderID != o.ID || !ev[0].At.Equal(now) || ev[0].Message == "" {
			t.Fatalf("OrderEvents = %+v, %v", ev, err)
		}

		// Numbers are a per-tenant sequence; no client order id is fine, twice.
		for i, wantNum := range []int64{2, 3} {
			o := b.order(t, watan.NewOrder{PackageCode: "pubg-60", AccountCode: "c1", Actor: watan.OperatorActor("sara")})
			if o.Number != wantNum || o.ClientOrderID != "" {
				t.Errorf("order %d: number %d, client id %q", i, o.Number, o.ClientOrderID)
			}
			if ev, _ := b.s.OrderEvents(b.ctx, b.tenant.ID, o.ID); ev[0].Actor != "operator:sara" {
				t.Errorf("event actor = %q", ev[0].Actor)
			}
		}
		other := b.newTenant(t, "other")
		b.account(t, other.ID, "c1", 1000, 0)
		b.pkg(t, other.ID, "pubg-60", 100)
		if o := b.order(t, watan.NewOrder{TenantID: other.ID, PackageCode: "pubg-60", AccountCode: "c1", ClientOrderID: "shop-1"}); o.Number != 1 {
			t.Errorf("other tenant's first order has number %d, want 1", o.Number)
		}

		_, err = b.s.FindOrder(b.ctx, b.tenant.ID, 999999)
		wantCode(t, err, watan.ECodeNotFound)
		_, err = b.s.OrderEvents(b.ctx, b.tenant.ID, 999999)
		wantCode(t, err, watan.ECodeNotFound)
	})
}

func TestCreateOrderRefusals(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		b.account(t, b.tenant.ID, "c1", 500, 200)
		b.pkg(t, b.tenant.ID, "p", 300)
		if _, err := b.s.CreatePackage(b.ctx, watan.Package{TenantID: b.tenant.ID, Code: "off", Price: 1, Currency: "USD", Active: false}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.s.CreatePackage(b.ctx, watan.Package{TenantID: b.tenant.ID, Code: "eur", Price: 1, Currency: "EUR", Active: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.s.CreatePackage(b.ctx, watan.Package{TenantID: b.tenant.ID, Code: "max", Price: watan.MaxAmount, Currency: "USD", Active: true}); err != nil {
			t.Fatal(err)
		}
		valid := watan.NewOrder{TenantID: b.tenant.ID, PackageCode: "p", AccountCode: "c1", Quantity: 1, PlayerID: "x"}
		for _, c := range []struct {
			name string
			edit func(*watan.NewOrder)
			code string
		}{
			{"no package", func(n *watan.NewOrder) { n.PackageCode = "" }, watan.ECodeValidation},
			{"zero quantity", func(n *watan.NewOrder) { n.Quantity = 0 }, watan.ECodeValidation},
			{"no player", func(n *watan.NewOrder) { n.PlayerID = "" }, watan.ECodeValidation},
			{"unknown package", func(n *watan.NewOrder) { n.PackageCode = "nope" }, watan.ECodeUnknownPackage},
			{"inactive package", func(n *watan.NewOrder) { n.PackageCode = "off" }, watan.ECodePackageInactive},
			{"unknown account", func(n *watan.NewOrder) { n.AccountCode = "nope" }, watan.ECodeUnknownAccount},
			{"currency without a rate", func(n *watan.NewOrder) { n.PackageCode = "eur" }, watan.ECodeNoExchangeRate},
			{"price overflow", func(n *watan.NewOrder) { n.PackageCode, n.Quantity = "max", 2 }, watan.ECodeValidation},
			// 5.00 + 2.00 overdraft covers two orders of 3.00 but not three.
			{"insufficient balance", func(n *watan.NewOrder) { n.Quantity = 3 }, watan.ECodeInsufficientBalance},
		} {
			n := valid
			c.edit(&n)
			o, created, err := b.s.CreateOrder(b.ctx, n)
			if watan.ErrorCode(err) != c.code || created || o.ID != 0 {
				t.Errorf("%s: CreateOrder = %+v, %v, %v; want code %s", c.name, o, created, err, c.code)
			}
		}
		if n := b.count(t, `SELECT COUNT(*) FROM orders`); n != 0 {
			t.Errorf("refused orders wrote %d orders", n)
		}
		if a := b.checkLedger(t, b.tenant.ID, "c1"); a.Balance != 500 {
			t.Errorf("refused orders changed the balance to %s", a.Balance)
		}
		// Down to exactly the overdraft limit is allowed; one cent further is not.
		valid.Quantity = 2
		b.order(t, valid)
		if a := b.checkLedger(t, b.tenant.ID, "c1"); a.Balance != -100 {
			t.Errorf("balance = %s, want -1.00", a.Balance)
		}
		b.pkg(t, b.tenant.ID, "p100", 100)
		b.order(t, watan.NewOrder{PackageCode: "p100", AccountCode: "c1"})
		_, _, err := b.s.CreateOrder(b.ctx, watan.NewOrder{TenantID: b.tenant.ID, PackageCode: "p100", AccountCode: "c1", Quantity: 1, PlayerID: "x"})
		wantCode(t, err, watan.ECodeInsufficientBalance)
		if a := b.checkLedger(t, b.tenant.ID, "c1"); a.Balance != -200 {
			t.Errorf("balance = %s, want -2.00", a.Balance)
		}
	})
}

func TestCreateOrderIdempotent(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		b.account(t, b.tenant.ID, "c1", 1000, 0)
		b.pkg(t, b.tenant.ID, "p", 100)
		n := watan.NewOrder{TenantID: b.tenant.ID, PackageCode: "p", AccountCode: "c1", Quantity: 1, PlayerID: "x", ClientOrderID: "abc"}
		first := b.order(t, n)
		b.clock.Advance(time.Minute)
		hookRan := false
		// A replay returns the first order even if the rest of the request differs,
		// and neither debits nor runs the hook.
		n.Quantity = 5
		again, created, err := b.s.CreateOrderWith(b.ctx, n, func(context.Context, *sql.Tx, watan.Order) error {
			hookRan = true
			return nil
		})
		if err != nil || created || !reflect.DeepEqual(again, first) || hookRan {
			t.Fatalf("replay = %+v, %v, %v (hook ran: %v); want %+v, false", again, created, err, hookRan, first)
		}
		if a := b.checkLedger(t, b.tenant.ID, "c1"); a.Balance != 900 {
			t.Errorf("balance = %s after a replay, want 9.00", a.Balance)
		}
		if n := b.count(t, `SELECT COUNT(*) FROM orders`); n != 1 {
			t.Errorf("%d orders, want 1", n)
		}
	})
}

func TestCreateOrderWithHook(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		b.account(t, b.tenant.ID, "c1", 1000, 0)
		b.pkg(t, b.tenant.ID, "p", 100)
		n := watan.NewOrder{TenantID: b.tenant.ID, PackageCode: "p", AccountCode: "c1", Quantity: 1, PlayerID: "x", ClientOrderID: "k1"}

		boom := errors.New("enqueue failed")
		o, created, err := b.s.CreateOrderWith(b.ctx, n, func(ctx context.Context, tx *sql.Tx, o watan.Order) error {
			// The hook gets the order as it will be created, with its id: what a job
			// needs. Its row may not be written yet (on PostgreSQL it is not).
			if o.ID == 0 || o.AccountID == 0 || o.PackageID == 0 || o.Price != 100 || o.ClientOrderID != "k1" {
				t.Errorf("inside the hook: order %+v", o)
			}
			return boom
		})
		if !errors.Is(err, boom) || created || o.ID != 0 {
			t.Fatalf("CreateOrderWith failing hook = %+v, %v, %v; want %v", o, created, err, boom)
		}
		for _, table := range []string{"orders", "order_events", "ledger_entries WHERE kind = 'debit'"} {
			if n := b.count(t, `SELECT COUNT(*) FROM `+table); n != 0 {
				t.Errorf("after a failed hook: %d rows in %s", n, table)
			}
		}
		if a := b.checkLedger(t, b.tenant.ID, "c1"); a.Balance != 1000 {
			t.Errorf("after a failed hook: balance %s", a.Balance)
		}
		// Neither the client order id nor, on either engine, the number was used up:
		// on PostgreSQL the number is taken after the hook, with the debit.
		var seen watan.Order
		o, created, err = b.s.CreateOrderWith(b.ctx, n, func(_ context.Context, _ *sql.Tx, o watan.Order) error {
			seen = o
			return nil
		})
		if err != nil || !created || o.Number != 1 {
			t.Fatalf("retry = %+v, %v, %v; want order number 1", o, created, err)
		}
		seen.Number = o.Number
		if !reflect.DeepEqual(seen, o) {
			t.Errorf("the hook saw %+v, CreateOrderWith returned %+v", seen, o)
		}
		if got, err := b.s.FindOrder(b.ctx, b.tenant.ID, o.ID); err != nil || got.Number != 1 || got.ID != o.ID {
			t.Errorf("stored order = %+v, %v", got, err)
		}
	})
}

// TestCreateOrderRefusedByTheDebit: on PostgreSQL the account is debited after the
// hook (so that its row is locked only at the end), so an order can pass the
// lookup, enqueue its job, and only then find that a concurrent order took the
// balance. It is refused like any order without the money, its job is rolled
// back, and it takes no order number.
func TestCreateOrderRefusedByTheDebit(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		if b.s.Engine() != store.EnginePostgres {
			t.Skip("on SQLite the hook runs after the debit, holding the one connection")
		}
		client := b.riverClient(t)
		b.account(t, b.tenant.ID, "c1", 100, 0)
		b.pkg(t, b.tenant.ID, "p", 100)
		n := watan.NewOrder{TenantID: b.tenant.ID, PackageCode: "p", AccountCode: "c1", Quantity: 1, PlayerID: "x"}
		var first watan.Order
		_, created, err := b.s.CreateOrderWith(b.ctx, n, func(ctx context.Context, tx *sql.Tx, o watan.Order) error {
			if _, err := client.InsertTx(ctx, tx, dispatchArgs{OrderID: o.ID}, nil); err != nil {
				return err
			}
			// Another request takes the whole balance meanwhile, and commits.
			first = b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c1"})
			return nil
		})
		if watan.ErrorCode(err) != watan.ECodeInsufficientBalance || created {
			t.Fatalf("CreateOrderWith = %v, %v; want %s", created, err, watan.ECodeInsufficientBalance)
		}
		if first.Number != 1 {
			t.Errorf("the concurrent order is #%d, want #1", first.Number)
		}
		if jobs := b.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'test_dispatch'`); jobs != 0 {
			t.Errorf("%d jobs of the refused order committed", jobs)
		}
		if a := b.checkLedger(t, b.tenant.ID, "c1"); a.Balance != 0 {
			t.Errorf("balance %s, want 0.00", a.Balance)
		}
		if _, err := b.s.TopUp(b.ctx, b.tenant.ID, "c1", 100, ""); err != nil {
			t.Fatal(err)
		}
		if o := b.order(t, n); o.Number != 2 {
			t.Errorf("next order is #%d, want #2: the refused order took no number", o.Number)
		}
	})
}

type dispatchArgs struct {
	OrderID int64 `json:"order_id"`
}

func (dispatchArgs) Kind() string { return "test_dispatch" }

// TestCreateOrderWithRiverInsertTx checks the design's transactional enqueue on both
// engines: the job commits with the order, and rolls back with it.
func TestCreateOrderWithRiverInsertTx(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		client := b.riverClient(t)
		b.account(t, b.tenant.ID, "c1", 1000, 0)
		b.pkg(t, b.tenant.ID, "p", 100)
		enqueue := func(ctx context.Context, tx *sql.Tx, o watan.Order) error {
			_, err := client.InsertTx(ctx, tx, dispatchArgs{OrderID: o.ID}, nil)
			return err
		}
		n := watan.NewOrder{TenantID: b.tenant.ID, PackageCode: "p", AccountCode: "c1", Quantity: 1, PlayerID: "x"}
		if _, _, err := b.s.CreateOrderWith(b.ctx, n, enqueue); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("later step failed")
		_, _, err := b.s.CreateOrderWith(b.ctx, n, func(ctx context.Context, tx *sql.Tx, o watan.Order) error {
			if err := enqueue(ctx, tx, o); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want %v", err, boom)
		}
		if jobs, orders := b.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'test_dispatch'`), b.count(t, `SELECT COUNT(*) FROM orders`); jobs != 1 || orders != 1 {
			t.Errorf("%d jobs and %d orders, want one of each", jobs, orders)
		}
	})
}

func TestOrderEvents(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		b.account(t, b.tenant.ID, "c1", 1000, 0)
		b.pkg(t, b.tenant.ID, "p", 100)
		o := b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c1"})
		b.clock.Advance(time.Second)
		note, err := b.s.AddOrderEvent(b.ctx, watan.OrderEvent{TenantID: b.tenant.ID, OrderID: o.ID, Kind: watan.EventNote,
			Actor: watan.OperatorActor("sara"), Message: "called the customer", Data: map[string]string{"phone": "+90 555"}})
		if err != nil || note.ID == 0 || !note.At.Equal(b.clock.Now().Truncate(time.Microsecond)) {
			t.Fatalf("AddOrderEvent = %+v, %v", note, err)
		}
		sys, err := b.s.AddOrderEvent(b.ctx, watan.OrderEvent{TenantID: b.tenant.ID, OrderID: o.ID, Kind: "dispatch_started"})
		if err != nil || sys.Actor != watan.ActorSystem || sys.Data != nil {
			t.Fatalf("AddOrderEvent without actor = %+v, %v", sys, err)
		}
		ev, err := b.s.OrderEvents(b.ctx, b.tenant.ID, o.ID)
		if err != nil || len(ev) != 3 || ev[0].Kind != watan.EventCreated || !reflect.DeepEqual(ev[1], note) || !reflect.DeepEqual(ev[2], sys) {
			t.Fatalf("OrderEvents = %+v, %v; want created, %+v, %+v", ev, err, note, sys)
		}

		other := b.newTenant(t, "other")
		_, err = b.s.AddOrderEvent(b.ctx, watan.OrderEvent{TenantID: other.ID, OrderID: o.ID, Kind: watan.EventNote})
		wantCode(t, err, watan.ECodeNotFound)
		_, err = b.s.AddOrderEvent(b.ctx, watan.OrderEvent{TenantID: b.tenant.ID, OrderID: o.ID})
		wantCode(t, err, watan.ECodeValidation)
	})
}

// TestOrderReadsEveryField guards the one way an Order is read: every field of
// watan.Order must come back from the database. A field added to the domain but not
// to orderColumns fails here instead of being silently reset by the next save.
func TestOrderReadsEveryField(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		b.account(t, b.tenant.ID, "c1", 1000, 0)
		b.pkg(t, b.tenant.ID, "p", 100)
		if _, err := b.s.CreatePriceGroup(b.ctx, b.tenant.ID, "dealers"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.s.SetPackagePrice(b.ctx, b.tenant.ID, "p", "dealers", 90); err != nil {
			t.Fatal(err)
		}
		if _, err := b.s.SetAccountPriceGroup(b.ctx, b.tenant.ID, "c1", "dealers"); err != nil {
			t.Fatal(err)
		}
		prov := b.provider(t, b.tenant.ID, "znet")
		o := b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c1", Extra: "e", ClientOrderID: "k"})
		cost := watan.Amount(70)
		o.Cost, o.CostCurrency, o.CostSource = &cost, "USD", watan.CostProvider
		o.Profit = &watan.ProfitSnapshot{BaseCurrency: "TRY", Sell: 3000, Cost: 2300, Profit: 700, SellRate: 3 * watan.RateScale,
			CostRate: 3 * watan.RateScale, FrozenAt: b.clock.Now().Truncate(time.Microsecond)}

		at := func(d time.Duration) *time.Time {
			v := b.clock.Now().Add(d).Truncate(time.Microsecond)
			return &v
		}
		o.Status = watan.StatusApproved
		o.ProviderState, o.ProviderAccountID, o.ProviderOrderID, o.ProviderReferans = watan.StateDelivered, prov.ID, "po-1", "9001"
		o.PIN, o.ProviderMessage, o.FallbackUsed = "PIN-1", "ok", true
		o.SentAt, o.LastCheckedAt, o.CompletedAt, o.Deadline, o.NextCheckAt = at(time.Second), at(2*time.Second), at(3*time.Second), at(24*time.Hour), at(time.Minute)
		o.CheckCount, o.DispatchCount, o.Generation, o.LeaseUntil, o.LeaseOwner = 4, 2, 3, at(30*time.Second), "node-1"
		err := b.s.InTx(b.ctx, func(tx *sql.Tx) error {
			locked, err := b.s.LockOrderTx(b.ctx, tx, b.tenant.ID, o.ID)
			if err != nil || locked.ID != o.ID {
				t.Errorf("LockOrderTx = %+v, %v", locked, err)
			}
			stale := o
			stale.Version = 1
			if err := b.s.SaveOrderTx(b.ctx, tx, stale); !errors.Is(err, watan.ErrOrderChanged) {
				t.Errorf("SaveOrderTx of an order read at a version it is not at = %v, want ErrOrderChanged", err)
			}
			if err := b.s.SaveOrderTx(b.ctx, tx, o); err != nil {
				return err
			}
			o.Version++
			_, err = tx.ExecContext(b.ctx, `UPDATE orders SET status = 'approved' WHERE id = $1`, o.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.s.FindOrder(b.ctx, b.tenant.ID, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		v := reflect.ValueOf(got)
		for i := range v.NumField() {
			if v.Field(i).IsZero() {
				t.Errorf("Order.%s is not read back", v.Type().Field(i).Name)
			}
		}
		got.UpdatedAt = o.UpdatedAt
		if !reflect.DeepEqual(got, o) {
			t.Errorf("FindOrder =\n%+v\nwant\n%+v", got, o)
		}
	})
}

// TestTransitionTimelineIsPartOfTheTransaction: the entries a transaction adds to
// an order's timeline (which PostgreSQL receives with the order's save, or just
// before the commit) are written in the order they were added, after the entries
// already there, with their data; a rollback, or a save refused because the order
// changed since it was read, drops them with the rest of the transaction.
func TestTransitionTimelineIsPartOfTheTransaction(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		b.account(t, b.tenant.ID, "c1", 1000, 0)
		b.pkg(t, b.tenant.ID, "p", 100)
		o := b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c1"})
		ev := func(msg string, data map[string]string) watan.OrderEvent {
			return watan.OrderEvent{TenantID: b.tenant.ID, OrderID: o.ID, At: b.clock.Now(), Actor: watan.ActorSystem,
				Kind: watan.EventNote, Message: msg, Data: data}
		}
		messages := func() []string {
			t.Helper()
			evs, err := b.s.OrderEvents(b.ctx, b.tenant.ID, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			var m []string
			for _, e := range evs[1:] { // after "created"
				m = append(m, e.Message)
				if e.Message == "two" && e.Data["pin"] != "P-2" {
					t.Errorf("entry two has data %v, want pin P-2", e.Data)
				}
			}
			return m
		}
		boom := errors.New("boom")

		// Saved with the order.
		err := b.s.InTx(b.ctx, func(tx *sql.Tx) error {
			for _, e := range []watan.OrderEvent{ev("one", nil), ev("two", map[string]string{"pin": "P-2"})} {
				if err := b.s.AddOrderEventTx(b.ctx, tx, e); err != nil {
					return err
				}
			}
			cur := o
			cur.ProviderMessage = "saved"
			if err := b.s.SaveOrderTx(b.ctx, tx, cur); err != nil {
				return err
			}
			return b.s.AddOrderEventTx(b.ctx, tx, ev("three", nil)) // after the save: at the commit
		})
		if err != nil {
			t.Fatal(err)
		}
		o.Version++
		// Without a save.
		if err := b.s.InTx(b.ctx, func(tx *sql.Tx) error { return b.s.AddOrderEventTx(b.ctx, tx, ev("four", nil)) }); err != nil {
			t.Fatal(err)
		}
		// Rolled back.
		err = b.s.InTx(b.ctx, func(tx *sql.Tx) error {
			if err := b.s.AddOrderEventTx(b.ctx, tx, ev("rolled back", nil)); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want %v", err, boom)
		}
		// A save from a stale reading.
		err = b.s.InTx(b.ctx, func(tx *sql.Tx) error {
			if err := b.s.AddOrderEventTx(b.ctx, tx, ev("stale", nil)); err != nil {
				return err
			}
			stale := o
			stale.Version--
			return b.s.SaveOrderTx(b.ctx, tx, stale)
		})
		if !errors.Is(err, watan.ErrOrderChanged) {
			t.Fatalf("saving a stale reading = %v, want ErrOrderChanged", err)
		}
		if got, want := messages(), []string{"one", "two", "three", "four"}; !reflect.DeepEqual(got, want) {
			t.Errorf("timeline after the created entry = %q, want %q", got, want)
		}
		got, err := b.s.FindOrder(b.ctx, b.tenant.ID, o.ID)
		if err != nil || got.ProviderMessage != "saved" || got.Version != o.Version {
			t.Errorf("order = message %q version %d, %v; want %q version %d", got.ProviderMessage, got.Version, err, "saved", o.Version)
		}
	})
}

// A batch check claims the orders it asks about, so that a concurrent batch of
// the same account leaves them out; the claim keeps the version, so the check's
// outcome still saves from the reading taken before it.
func TestClaimChecks(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		b.account(t, b.tenant.ID, "c1", 10000, 0)
		b.pkg(t, b.tenant.ID, "p", 100)
		t0 := b.clock.Now().Truncate(time.Second)
		at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
		order := func(next *time.Time) watan.Order {
			t.Helper()
			o := b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c1"})
			o.NextCheckAt = next
			if err := b.s.InTx(b.ctx, func(tx *sql.Tx) error { return b.s.SaveOrderTx(b.ctx, tx, o) }); err != nil {
				t.Fatal(err)
			}
			o, err := b.s.FindOrder(b.ctx, b.tenant.ID, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			return o
		}
		self, overdue, soon, later := order(at(-time.Second)), order(at(-5*time.Second)), order(at(10*time.Second)), order(at(time.Minute))
		dueBy, until := t0.Add(20*time.Second), t0.Add(40*time.Second)
		claim := func(self watan.Order) []int64 {
			t.Helper()
			got, err := b.s.ClaimChecks(b.ctx, b.tenant.ID, self.ID, self.NextCheckAt, []int64{overdue.ID, soon.ID, later.ID}, dueBy, until)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			return got
		}
		if got, want := claim(self), []int64{self.ID, overdue.ID, soon.ID}; !slices.Equal(got, want) {
			t.Fatalf("first claim = %v, want %v (not %d, due after dueBy)", got, want, later.ID)
		}
		for _, o := range []watan.Order{self, overdue, soon} {
			cur, err := b.s.FindOrder(b.ctx, b.tenant.ID, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if cur.NextCheckAt == nil || !cur.NextCheckAt.Equal(until) || cur.Version != o.Version {
				t.Errorf("order %d after the claim: next check %v version %d, want %v and version %d", o.ID, cur.NextCheckAt, cur.Version, until, o.Version)
			}
		}
		// A second batch that read the same orders before the claim gets none.
		if got := claim(self); len(got) != 0 {
			t.Fatalf("second claim = %v, want none", got)
		}
		// The outcome saves from the reading taken before the claim.
		checked := overdue
		checked.NextCheckAt = at(55 * time.Second)
		if err := b.s.InTx(b.ctx, func(tx *sql.Tx) error { return b.s.SaveOrderTx(b.ctx, tx, checked) }); err != nil {
			t.Fatalf("saving the check's outcome after the claim: %v", err)
		}
		// An order never checked (no next check yet) is claimed as the batch's own.
		fresh := order(nil)
		got, err := b.s.ClaimChecks(b.ctx, b.tenant.ID, fresh.ID, nil, nil, dueBy, until)
		if err != nil || !slices.Equal(got, []int64{fresh.ID}) {
			t.Fatalf("claim of an order without a next check = %v, %v; want [%d]", got, err, fresh.ID)
		}
	})
}
