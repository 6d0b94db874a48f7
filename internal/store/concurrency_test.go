package store_test

import (
	"fmt"
	"sync"
	"testing"

	"watan"
)

// TestConcurrentCreateOrders checks invariant 4 under contention: 40 concurrent
// orders against one account whose balance and overdraft cover 15 of them.
func TestConcurrentCreateOrders(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
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
	})
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
