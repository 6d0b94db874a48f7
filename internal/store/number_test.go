package store_test

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"watan"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// Order numbers: per tenant 1, 2, 3… on both engines, with no number taken by a
// refused order; on PostgreSQL they come from a sequence per tenant, on SQLite from
// a counter row (see Store.CreateOrderWith).

// numbers returns the tenant's order numbers in ascending order.
func (b *bundle) numbers(t *testing.T, tenantID int64) []int64 {
	t.Helper()
	rows, err := b.s.DB().QueryContext(b.ctx, `SELECT number FROM orders WHERE tenant_id = $1 ORDER BY number`, tenantID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ns []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		ns = append(ns, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ns
}

// oneTo returns 1, 2, …, n.
func oneTo(n int) []int64 {
	ns := make([]int64, n)
	for i := range ns {
		ns[i] = int64(i + 1)
	}
	return ns
}

func TestOrderNumbersSequential(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		a, other := b.tenant, b.newTenant(t, "other")
		b.account(t, a.ID, "c1", 1000, 0)
		b.pkg(t, a.ID, "p", 100)
		if _, err := b.s.CreatePackage(b.ctx, watan.Package{TenantID: a.ID, Code: "off", Price: 1, Currency: "USD", Active: false}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.s.CreatePackage(b.ctx, watan.Package{TenantID: a.ID, Code: "eur", Price: 1, Currency: "EUR", Active: true}); err != nil {
			t.Fatal(err)
		}
		b.account(t, other.ID, "c1", 1000, 0)
		b.pkg(t, other.ID, "p", 100)

		valid := watan.NewOrder{TenantID: a.ID, PackageCode: "p", AccountCode: "c1", Quantity: 1, PlayerID: "x"}
		refusals := []func(*watan.NewOrder){
			func(n *watan.NewOrder) { n.PackageCode = "nope" },  // unknown package
			func(n *watan.NewOrder) { n.PackageCode = "off" },   // inactive package
			func(n *watan.NewOrder) { n.AccountCode = "nope" },  // unknown account
			func(n *watan.NewOrder) { n.PackageCode = "eur" },   // currency mismatch
			func(n *watan.NewOrder) { n.Quantity = 11 },         // insufficient balance
			func(n *watan.NewOrder) { n.PlayerID = "" },         // validation
			func(n *watan.NewOrder) { n.ClientOrderID = "k-1" }, // a replay of order 1
		}
		var got, gotOther []int64
		for i, refuse := range refusals {
			n := valid
			n.ClientOrderID = fmt.Sprintf("k-%d", i+1)
			got = append(got, b.order(t, n).Number)

			r := valid
			refuse(&r)
			if o, created, err := b.s.CreateOrder(b.ctx, r); created || (err == nil) != (r.ClientOrderID != "") {
				t.Fatalf("refusal %d: CreateOrder = %+v, %v, %v; want a refusal or a replay", i, o, created, err)
			}

			// The other tenant's orders, interleaved, have numbers of their own.
			gotOther = append(gotOther, b.order(t, watan.NewOrder{TenantID: other.ID, PackageCode: "p", AccountCode: "c1"}).Number)
		}
		if want := oneTo(len(refusals)); !slices.Equal(got, want) {
			t.Errorf("tenant %d numbers = %v, want %v: refused orders and replays take no number", a.ID, got, want)
		}
		if want := oneTo(len(refusals)); !slices.Equal(gotOther, want) {
			t.Errorf("tenant %d numbers = %v, want %v", other.ID, gotOther, want)
		}
		// What was returned is what was stored.
		if ns := b.numbers(t, a.ID); !slices.Equal(ns, got) {
			t.Errorf("stored numbers = %v, returned %v", ns, got)
		}
	})
}

// TestOrderNumbersConcurrent: concurrent creates of two tenants get distinct
// numbers, and since none fails, each tenant's are exactly 1..n.
func TestOrderNumbersConcurrent(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		tenants := []watan.Tenant{b.tenant, b.newTenant(t, "other")}
		const accounts, perTenant = 4, 48
		for _, tn := range tenants {
			for i := range accounts {
				b.account(t, tn.ID, fmt.Sprintf("c%d", i), 1_000_000, 0)
			}
			b.pkg(t, tn.ID, "p", 100)
		}
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			taken = map[int64][]int64{}
		)
		start := make(chan struct{})
		for _, tn := range tenants {
			for i := range perTenant {
				wg.Go(func() {
					<-start
					o, created, err := b.s.CreateOrder(b.ctx, watan.NewOrder{TenantID: tn.ID, PackageCode: "p",
						AccountCode: fmt.Sprintf("c%d", i%accounts), Quantity: 1, PlayerID: "x", ClientOrderID: fmt.Sprintf("r-%d", i)})
					if err != nil || !created {
						t.Errorf("CreateOrder: %+v, %v, %v", o, created, err)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					taken[tn.ID] = append(taken[tn.ID], o.Number)
				})
			}
		}
		close(start)
		wg.Wait()
		for _, tn := range tenants {
			got := taken[tn.ID]
			slices.Sort(got)
			if want := oneTo(perTenant); !slices.Equal(got, want) {
				t.Errorf("tenant %d: numbers %v, want each of 1..%d once", tn.ID, got, perTenant)
			}
			if ns := b.numbers(t, tn.ID); !slices.Equal(ns, got) {
				t.Errorf("tenant %d: stored numbers %v, returned %v", tn.ID, ns, got)
			}
		}
	})
}

// TestOrderNumbersAfterUpgrade starts from a database as a binary from before the
// order number sequences left it (migrated up to version 2, numbers in
// order_counters) and checks that numbering continues after each tenant's counter.
func TestOrderNumbersAfterUpgrade(t *testing.T) {
	const beforeSequences = 2
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		t.Parallel()
		ctx := t.Context()
		s, err := store.Open(ctx, store.Config{URL: storetest.URL(t, e)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.MigrateTo(ctx, beforeSequences); err != nil {
			t.Fatal(err)
		}
		b := &bundle{s: s, ctx: ctx}

		// What the old binary wrote: tenants with their counters, and orders.
		now := time.Now().UTC().Truncate(time.Microsecond)
		var at any = now
		if e == store.EngineSQLite {
			at = now.UnixMicro()
		}
		oldTenant := func(name string, counter int64) watan.Tenant {
			t.Helper()
			tn := watan.Tenant{Name: name}
			if err := s.DB().QueryRowContext(ctx, `INSERT INTO tenants (name, created_at) VALUES ($1, $2) RETURNING id`,
				name, at).Scan(&tn.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.DB().ExecContext(ctx, `INSERT INTO order_counters (tenant_id, last_number) VALUES ($1, $2)`,
				tn.ID, counter); err != nil {
				t.Fatal(err)
			}
			// The account and the package as the old binary wrote them, too: the
			// store's readers expect the current schema.
			var acct, p watan.Account
			if err := s.DB().QueryRowContext(ctx, `INSERT INTO accounts (tenant_id, code, name, currency, balance,
				overdraft_limit, created_at, updated_at) VALUES ($1, 'c1', 'c1', 'USD', 1000, 0, $2, $2) RETURNING id`,
				tn.ID, at).Scan(&acct.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.DB().ExecContext(ctx, `INSERT INTO ledger_entries (tenant_id, account_id, kind, amount,
				balance_after, created_at) VALUES ($1, $2, 'topup', 1000, 1000, $3)`, tn.ID, acct.ID, at); err != nil {
				t.Fatal(err)
			}
			if err := s.DB().QueryRowContext(ctx, `INSERT INTO packages (tenant_id, code, name, price, currency,
				active, created_at, updated_at) VALUES ($1, 'p', 'p', 100, 'USD', TRUE, $2, $2) RETURNING id`,
				tn.ID, at).Scan(&p.ID); err != nil {
				t.Fatal(err)
			}
			if counter > 0 {
				if _, err := s.DB().ExecContext(ctx, `INSERT INTO orders (tenant_id, number, account_id, package_id,
					quantity, player_id, unit_price, price, currency, status, provider_state, created_at, updated_at)
					VALUES ($1, $2, $3, $4, 1, 'x', 100, 100, 'USD', 'approved', 'delivered', $5, $5)`,
					tn.ID, counter, acct.ID, p.ID, at); err != nil {
					t.Fatal(err)
				}
			}
			return tn
		}
		busy, idle := oldTenant("busy", 41), oldTenant("idle", 0)

		next := func(tn watan.Tenant) int64 {
			t.Helper()
			o, created, err := s.CreateOrder(ctx, watan.NewOrder{TenantID: tn.ID, PackageCode: "p", AccountCode: "c1", Quantity: 1, PlayerID: "x"})
			if err != nil || !created {
				t.Fatalf("CreateOrder(tenant %q) = %+v, %v, %v", tn.Name, o, created, err)
			}
			return o.Number
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if got := next(busy); got != 42 {
			t.Errorf("busy tenant: first order after the upgrade is #%d, want #42", got)
		}
		if got := next(idle); got != 1 {
			t.Errorf("idle tenant: first order after the upgrade is #%d, want #1", got)
		}
		fresh, err := s.CreateTenant(ctx, "fresh")
		if err != nil {
			t.Fatal(err)
		}
		b.account(t, fresh.ID, "c1", 1000, 0)
		b.pkg(t, fresh.ID, "p", 100)
		if got := next(fresh); got != 1 {
			t.Errorf("tenant created after the upgrade: first order is #%d, want #1", got)
		}

		// Migrating again changes nothing.
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if got := next(busy); got != 43 {
			t.Errorf("busy tenant after a second Migrate: #%d, want #43", got)
		}
		if e != store.EnginePostgres {
			return
		}

		// The counters are gone, the sequences are in the tables' schema, and the
		// migration's SQL run once more by hand neither fails nor moves a sequence
		// backwards.
		var counters, sequences int
		if err := s.DB().QueryRowContext(ctx, `SELECT (to_regclass('order_counters') IS NOT NULL)::int,
			(SELECT COUNT(*) FROM pg_sequences WHERE schemaname = current_schema() AND sequencename LIKE 'order\_number\_%')`).
			Scan(&counters, &sequences); err != nil {
			t.Fatal(err)
		}
		if counters != 0 || sequences != 3 {
			t.Errorf("order_counters exists: %d, order number sequences in current_schema(): %d; want 0 and 3", counters, sequences)
		}
		script, err := os.ReadFile("migrations/postgres/0003_order_number_sequences.sql")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB().ExecContext(ctx, string(script)); err != nil {
			t.Fatalf("migration 0003 run again: %v", err)
		}
		if got := next(busy); got != 44 {
			t.Errorf("busy tenant after migration 0003 ran again: #%d, want #44", got)
		}
		if got := next(idle); got != 2 {
			t.Errorf("idle tenant after migration 0003 ran again: #%d, want #2", got)
		}
	})
}
