package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"watan"
	"watan/internal/store/storetest"
)

// BenchmarkCreateOrder measures the store's cost of taking one order (idempotency
// check, package lookup, debit, number, order, ledger entry, event, commit) with
// concurrent clients spread over several accounts, per engine:
//
//	WATAN_TEST_DATABASE_URL=postgres://... go test -run '^$' -bench CreateOrder ./internal/store/
func BenchmarkCreateOrder(b *testing.B) {
	for _, e := range storetest.Engines() {
		b.Run(string(e), func(b *testing.B) {
			ctx := context.Background()
			s := storetest.OpenWith(b, storetest.Options{Engine: e})
			tn, err := s.CreateTenant(ctx, "bench")
			if err != nil {
				b.Fatal(err)
			}
			const accounts = 8
			for i := range accounts {
				code := fmt.Sprintf("acct-%d", i)
				if _, err := s.CreateAccount(ctx, tn.ID, watan.NewAccount{Code: code, Currency: "USD"}); err != nil {
					b.Fatal(err)
				}
				if _, err := s.TopUp(ctx, tn.ID, code, watan.MaxAmount, ""); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := s.CreatePackage(ctx, watan.Package{TenantID: tn.ID, Code: "p", Price: 100, Currency: "USD", Active: true}); err != nil {
				b.Fatal(err)
			}
			var seq atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					_, created, err := s.CreateOrder(ctx, watan.NewOrder{TenantID: tn.ID, PackageCode: "p",
						AccountCode: fmt.Sprintf("acct-%d", n%accounts), Quantity: 1, PlayerID: "bench",
						ClientOrderID: fmt.Sprintf("bench-%d", n), Actor: watan.ActorAPI})
					if err != nil || !created {
						b.Errorf("CreateOrder: %v (created %v)", err, created)
						return
					}
				}
			})
			b.StopTimer()
			if b.Elapsed() > 0 {
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
			}
		})
	}
}
