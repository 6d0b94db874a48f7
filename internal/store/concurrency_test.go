package store_test

import (
	"database/sql"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"

	"watan"
	"watan/internal/store"
)

// TestConcurrentCreateOrders checks invariant 4 under contention: 40 concurrent
// orders against one account whose balance and overdraft cover 15 of them.
func TestConcurrentCreateOrders(t *testing.T) {
	run(t, concurrentCreateOrders)
}

// TestConcurrentCreateOrdersCommitSync: the same on PostgreSQL when order
// creation commits synchronously, as it does when the role may not write the
// barrier's WAL message (see Store.CreateOrderWith).
func TestConcurrentCreateOrdersCommitSync(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		if b.s.Engine() != store.EnginePostgres {
			t.Skip("PostgreSQL only")
		}
		if !b.s.CommitBarrier() {
			t.Error("the test database's role cannot write the commit barrier: creation commits synchronously")
		}
		b.s.SetCommitBarrier(false)
		concurrentCreateOrders(t, b)
	})
}

func concurrentCreateOrders(t *testing.T, b *bundle) {
	{
		b.account(t, b.tenant.ID, "c1", 1000, 500)
		b.pkg(t, b.tenant.ID, "p", 100)
		const workers = 40
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			orders  []watan.Order
			refused int
		)
		start := make(chan struct{})
		for i := range workers {
			wg.Go(func() {
				<-start
				o, created, err := b.s.CreateOrder(b.ctx, watan.NewOrder{TenantID: b.tenant.ID, PackageCode: "p", AccountCode: "c1",
					Quantity: 1, PlayerID: "x", ClientOrderID: fmt.Sprintf("req-%d", i)})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && created:
					orders = append(orders, o)
				case watan.ErrorCode(err) == watan.ECodeInsufficientBalance:
					refused++
				default:
					t.Errorf("CreateOrder = %+v, %v, %v", o, created, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(orders) != 15 || refused != 25 {
			t.Fatalf("%d accepted, %d refused; want 15 and 25", len(orders), refused)
		}
		a := b.checkLedger(t, b.tenant.ID, "c1")
		if a.Balance != -500 {
			t.Errorf("balance = %s, want -5.00", a.Balance)
		}
		if n := b.count(t, `SELECT COUNT(*) FROM orders`); n != 15 {
			t.Errorf("%d orders stored, want 15", n)
		}
		if n := b.count(t, `SELECT COUNT(*) FROM ledger_entries`); n != 16 {
			t.Errorf("%d ledger entries, want the top-up and 15 debits", n)
		}
		if n := b.count(t, `SELECT COUNT(*) FROM order_events`); n != 15 {
			t.Errorf("%d order events, want 15", n)
		}
		numbers := map[int64]bool{}
		for _, o := range orders {
			numbers[o.Number] = true
		}
		for n := int64(1); n <= 15; n++ {
			if !numbers[n] {
				t.Errorf("order numbers %v: %d missing; want 1..15, each once", numbers, n)
			}
		}
	}
}

// TestConcurrentSameClientOrderID checks idempotency under contention: 20
// simultaneous requests with one client order id make one order and one debit.
func TestConcurrentSameClientOrderID(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		b.account(t, b.tenant.ID, "c1", 10000, 0)
		b.pkg(t, b.tenant.ID, "p", 100)
		const workers = 20
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			created int
			seen    = map[int64]int{}
		)
		start := make(chan struct{})
		for range workers {
			wg.Go(func() {
				<-start
				o, c, err := b.s.CreateOrder(b.ctx, watan.NewOrder{TenantID: b.tenant.ID, PackageCode: "p", AccountCode: "c1",
					Quantity: 1, PlayerID: "x", ClientOrderID: "the-one"})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("CreateOrder: %v", err)
					return
				}
				seen[o.ID]++
				if c {
					created++
				}
			})
		}
		close(start)
		wg.Wait()
		if created != 1 || len(seen) != 1 {
			t.Fatalf("created %d times, order ids %v; want one order, created once", created, seen)
		}
		if a := b.checkLedger(t, b.tenant.ID, "c1"); a.Balance != 9900 {
			t.Errorf("balance = %s, want 99.00", a.Balance)
		}
	})
}

// TestCreateOrderLeavesSessionsAsFound: on PostgreSQL creation commits
// asynchronously with a barrier after it, in a pipeline; the connections it
// returns to the pool must be idle, outside any transaction, and commit
// synchronously again, or the engine's transactions that share them would not be
// durable when they report success.
func TestCreateOrderLeavesSessionsAsFound(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		if b.s.Engine() != store.EnginePostgres {
			t.Skip("PostgreSQL only")
		}
		b.account(t, b.tenant.ID, "c1", 100_000, 0)
		b.account(t, b.tenant.ID, "c2", 100, 0)
		b.pkg(t, b.tenant.ID, "p", 100)
		var wg sync.WaitGroup
		for i := range 24 {
			wg.Go(func() {
				// c2 covers one order: the others are refused by the lookup or by the
				// debit, so both ends of the pipeline are exercised.
				acct := "c1"
				if i%3 == 0 {
					acct = "c2"
				}
				_, _, err := b.s.CreateOrder(b.ctx, watan.NewOrder{TenantID: b.tenant.ID, PackageCode: "p",
					AccountCode: acct, Quantity: 1, PlayerID: "x"})
				if err != nil && watan.ErrorCode(err) != watan.ECodeInsufficientBalance {
					t.Errorf("CreateOrder: %v", err)
				}
			})
		}
		wg.Wait()
		n := b.s.DB().Stats().OpenConnections
		var conns []*sql.Conn
		for range n {
			c, err := b.s.DB().Conn(b.ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			// The session's setting must be back at its default, which is the
			// database's (CI sets synchronous_commit off for its test database).
			var sync, dflt string
			if err := c.QueryRowContext(b.ctx, `SELECT setting, reset_val FROM pg_settings WHERE name = 'synchronous_commit'`).Scan(&sync, &dflt); err != nil {
				t.Fatal(err)
			}
			var status byte
			if err := c.Raw(func(dc any) error {
				status = dc.(*stdlib.Conn).Conn().PgConn().TxStatus()
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if sync != dflt || status != 'I' {
				t.Errorf("a pooled connection has synchronous_commit %s (default %s), transaction status %c", sync, dflt, status)
			}
		}
		for _, c := range conns {
			c.Close()
		}
		b.checkLedger(t, b.tenant.ID, "c1")
		if a := b.checkLedger(t, b.tenant.ID, "c2"); a.Balance != 0 {
			t.Errorf("c2 balance %s, want 0.00", a.Balance)
		}
	})
}
