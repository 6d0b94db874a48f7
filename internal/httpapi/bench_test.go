package httpapi_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"watan"
	"watan/internal/httpapi"
	"watan/internal/jobs"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// BenchmarkCreateOrder measures POST /api/v1/orders through the whole handler
// (authentication with serve's one-second key cache, decoding, the store's
// transaction with the dispatch job inserted by River as serve does, encoding) on
// each engine, with 8 concurrent clients.
// Reproduce with:
//
//	WATAN_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable go test -run '^$' -bench . ./internal/httpapi/
func BenchmarkCreateOrder(b *testing.B) {
	for _, engine := range storetest.Engines() {
		// One tenant is the common case; several tenants show what the API does when
		// orders do not share one tenant's rows (its accounts, its order numbers);
		// one account is a sub-dealer's storefront, every order debiting one row.
		for _, c := range []struct{ tenants, accounts int }{{1, 16}, {8, 16}, {1, 1}} {
			b.Run(fmt.Sprintf("%s/tenants=%d/accounts=%d", engine, c.tenants, c.accounts), func(b *testing.B) {
				benchCreateOrder(b, engine, c.tenants, c.accounts)
			})
		}
	}
}

// intake creates orders with their dispatch job in one transaction, as serve's
// order intake does.
type intake struct {
	*store.Store
	q *jobs.Queue
}

func (i intake) CreateOrder(ctx context.Context, n watan.NewOrder) (watan.Order, bool, error) {
	return i.CreateOrderWith(ctx, n, func(ctx context.Context, tx *sql.Tx, o watan.Order) error {
		return i.q.EnqueueDispatchTx(ctx, tx, o)
	})
}

func benchCreateOrder(b *testing.B, engine store.Engine, tenants, accounts int) {
	st := storetest.OpenWith(b, storetest.Options{Engine: engine, APIKeyCacheTTL: store.DefaultAPIKeyCacheTTL})
	q, err := jobs.New(context.Background(), jobs.Config{DB: st.DB(), Postgres: engine == store.EnginePostgres})
	if err != nil {
		b.Fatal(err)
	}
	h := httpapi.New(httpapi.Config{Tenants: st, Accounts: st, Catalog: st, Orders: intake{st, q}})
	type buyer struct{ key, account string }
	var buyers []buyer
	for t := range tenants {
		key, codes := benchSeed(b, st, fmt.Sprintf("bench-%d", t), max(1, accounts/tenants))
		for _, a := range codes {
			buyers = append(buyers, buyer{key, a})
		}
	}
	var seq atomic.Int64
	post := func() error {
		n := seq.Add(1)
		by := buyers[int(n)%len(buyers)]
		body := fmt.Sprintf(`{"package":"pubg60","account":%q,"quantity":1,"player_id":"p%d","client_order_id":"bench-%d"}`,
			by.account, n, n)
		r := httptest.NewRequest("POST", "/api/v1/orders", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+by.key)
		r.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != 201 {
			return fmt.Errorf("order %d: %d %s", n, rec.Code, rec.Body)
		}
		return nil
	}
	storetest.WarmUp(b, st, 300, post)
	// Requests wait on the database most of the time, so more clients than cores
	// keep the pool busy; SQLite serialises writers anyway.
	b.SetParallelism(4) // 8 clients on this machine's 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := post(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}

// benchSeed creates a tenant with an API key, a package at 1.00 and accounts whose
// balances no benchmark run can exhaust.
func benchSeed(b *testing.B, st *store.Store, name string, accounts int) (string, []string) {
	b.Helper()
	ctx := context.Background()
	ten, err := st.CreateTenant(ctx, name)
	if err != nil {
		b.Fatal(err)
	}
	_, key, err := st.CreateAPIKey(ctx, ten.ID, "bench")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.CreatePackage(ctx, watan.Package{TenantID: ten.ID, Code: "pubg60", Name: "PUBG 60 UC",
		Price: 1_00, Currency: "TRY", Active: true}); err != nil {
		b.Fatal(err)
	}
	var codes []string
	for i := range accounts {
		code := fmt.Sprintf("cust%d", i)
		if _, err := st.CreateAccount(ctx, ten.ID, watan.NewAccount{Code: code, Name: code, Currency: "TRY"}); err != nil {
			b.Fatal(err)
		}
		if _, err := st.TopUp(ctx, ten.ID, code, 1_000_000_000_00, "bench"); err != nil {
			b.Fatal(err)
		}
		codes = append(codes, code)
	}
	return key, codes
}
