package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"

	"watan"
	"watan/internal/jobs"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// BenchmarkCreateOrder measures the store's cost of taking one order as serve does
// (idempotency check, package lookup, debit, number, order, ledger entry, event,
// the dispatch job inserted by River in the same transaction, commit) with 8
// concurrent clients of one tenant, per engine: spread over 8 accounts, and all
// debiting one account (a sub-dealer's storefront, where every create waits for
// the one account row):
//
//	WATAN_TEST_DATABASE_URL=postgres://... go test -run '^$' -bench CreateOrder ./internal/store/
func BenchmarkCreateOrder(b *testing.B) {
	for _, e := range storetest.Engines() {
		for _, accounts := range []int{8, 1} {
			b.Run(fmt.Sprintf("%s/accounts=%d", e, accounts), func(b *testing.B) {
				benchCreateOrder(b, e, accounts)
			})
		}
	}
}

func benchCreateOrder(b *testing.B, e store.Engine, accounts int) {
	ctx := context.Background()
	s := storetest.OpenWith(b, storetest.Options{Engine: e})
	q, err := jobs.New(ctx, jobs.Config{DB: s.DB(), Postgres: e == store.EnginePostgres})
	if err != nil {
		b.Fatal(err)
	}
	tn, err := s.CreateTenant(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
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
	enqueue := func(ctx context.Context, tx *sql.Tx, o watan.Order) error { return q.EnqueueDispatchTx(ctx, tx, o) }
	var seq atomic.Int64
	create := func() error {
		n := seq.Add(1)
		_, created, err := s.CreateOrderWith(ctx, watan.NewOrder{TenantID: tn.ID, PackageCode: "p",
			AccountCode: fmt.Sprintf("acct-%d", n%int64(accounts)), Quantity: 1, PlayerID: "bench",
			ClientOrderID: fmt.Sprintf("bench-%d", n), Actor: watan.ActorAPI}, enqueue)
		if err == nil && !created {
			err = fmt.Errorf("order %d not created", n)
		}
		return err
	}
	storetest.WarmUp(b, s, 300, create)
	b.SetParallelism(4) // 8 clients on this machine's 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := create(); err != nil {
				b.Errorf("CreateOrder: %v", err)
				return
			}
		}
	})
	b.StopTimer()
	if b.Elapsed() > 0 {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
	}
}
