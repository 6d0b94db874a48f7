package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"watan"
	"watan/internal/httpapi"
	"watan/internal/store/storetest"
)

// FuzzCreateOrder sends arbitrary bodies, content types and authorisation headers
// to POST /api/v1/orders and checks that the API never answers 5xx and never
// writes part of an order: after each input either exactly one order with its one
// debit exists more than before (201), or nothing changed; and the ledger always
// sums to the balance. The store is one SQLite database shared by all inputs, as
// a long-running server's is.
//
//	go test -run '^$' -fuzz FuzzCreateOrder -fuzztime 60s ./internal/httpapi/
func FuzzCreateOrder(f *testing.F) {
	st := storetest.Open(f)
	ctx := context.Background()
	ten, err := st.CreateTenant(ctx, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	_, key, err := st.CreateAPIKey(ctx, ten.ID, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	if _, err := st.CreatePackage(ctx, watan.Package{TenantID: ten.ID, Code: "pubg60", Name: "PUBG 60", Price: 12_50, Currency: "TRY", Active: true,
		Routing: watan.Routing{Mode: watan.RouteManual}}); err != nil {
		f.Fatal(err)
	}
	if _, err := st.CreateAccount(ctx, ten.ID, watan.NewAccount{Code: "cust1", Name: "Customer", Currency: "TRY", OverdraftLimit: 100_00}); err != nil {
		f.Fatal(err)
	}
	if _, err := st.TopUp(ctx, ten.ID, "cust1", 1_000_000_00, "fuzz"); err != nil {
		f.Fatal(err)
	}
	h := httpapi.New(httpapi.Config{Tenants: st, Accounts: st, Catalog: st, Orders: st, Logger: slog.New(slog.DiscardHandler)})

	valid := orderBody("pubg60", "cust1", 1, "p1", "cid")
	for _, seed := range []struct {
		body, contentType string
		auth              uint8
	}{
		{valid, "application/json", 0},
		{orderBody("pubg60", "cust1", 3, "5123456789", "x-1"), "application/json; charset=utf-8", 0},
		{valid, "application/json", 1},
		{valid, "application/json", 2},
		{`{"package":"pubg60","account":"cust1","quantity":1,"player_id":"p1","client_order_id":"cid","colour":"red"}`, "application/json", 0},
		{`{"package":"pubg60","account":"cust1","quantity":"1","player_id":"p1"}`, "application/json", 0},
		{`{"package":"pubg60","account":"cust1","quantity":1e400,"player_id":"p1"}`, "application/json", 0},
		{`{"package":"pubg60","account":"cust1","quantity":1,"player_id":"\u0000\ud800"}`, "application/json", 0},
		{valid + valid, "application/json", 0},
		{`[` + valid + `]`, "application/json", 0},
		{`package=pubg60`, "application/x-www-form-urlencoded", 0},
		{``, "", 0},
		{orderBody("pubg60", "cust1", 1001, "p1", "big"), "application/json", 0},
		{orderBody("pubg60", "cust1", 1, strings.Repeat("x", 5000), "long"), "application/json", 0},
		{orderBody("pubg60", "cust1", 1, "p1", strings.Repeat("c", 300)), "application/json", 0},
		{orderBody("nope", "ghost", 1, "p1", "cid2"), "application/json", 0},
		// Hostile text: each must be refused.
		{`{"package":"pubg60","account":"cust1","quantity":1,"player_id":"12\u000034","client_order_id":"n1"}`, "application/json", 0},
		{"{\"package\":\"pubg60\",\"account\":\"cust1\",\"quantity\":1,\"player_id\":\"\xff\xfe\xc3(\",\"client_order_id\":\"n2\"}", "application/json", 0},
		{`{"package":"pubg60","account":"cust1","quantity":1,"quantity":1000,"player_id":"p1","client_order_id":"n3"}`, "application/json", 0},
		{`{"Package":"pubg60","account":"cust1","quantity":1,"player_id":"p1","client_order_id":"n4"}`, "application/json", 0},
		{`{"package":"pubg60","account":"cust1","quantity":1,"player_id":"\u202e5123","client_order_id":"n5"}`, "application/json", 0},
		{`{"package":"pubg60","account":"cust1","quantity":1,"player_id":"51\n23","client_order_id":"n6"}`, "application/json", 0},
	} {
		f.Add(seed.body, seed.contentType, seed.auth)
	}

	type snapshot struct {
		orders, entries int
		balance, sum    int64
	}
	snap := func(t *testing.T) snapshot {
		var s snapshot
		db := st.DB()
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE tenant_id = $1`, ten.ID).Scan(&s.orders); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `SELECT count(*), COALESCE(SUM(l.amount), 0) FROM ledger_entries l
			JOIN accounts a ON a.id = l.account_id WHERE a.tenant_id = $1`, ten.ID).Scan(&s.entries, &s.sum); err != nil {
			t.Fatal(err)
		}
		a, err := st.FindAccount(ctx, ten.ID, "cust1")
		if err != nil {
			t.Fatal(err)
		}
		s.balance = int64(a.Balance)
		return s
	}

	f.Fuzz(func(t *testing.T, body, contentType string, auth uint8) {
		before := snap(t)
		r := httptest.NewRequest("POST", "/api/v1/orders", strings.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		switch auth % 4 {
		case 0:
			r.Header.Set("Authorization", "Bearer "+key)
		case 1: // no credentials
		case 2:
			r.Header.Set("Authorization", "Bearer "+key+"x")
		case 3:
			r.Header.Set("Authorization", contentType) // arbitrary bytes
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("HTTP %d for %q (%q): %s", rec.Code, body, contentType, rec.Body)
		}
		after := snap(t)
		if after.sum != after.balance {
			t.Fatalf("ledger sums to %d, balance %d after %q", after.sum, after.balance, body)
		}
		switch rec.Code {
		case http.StatusCreated:
			if after.orders != before.orders+1 || after.entries != before.entries+1 || after.balance >= before.balance {
				t.Fatalf("201 but orders %d→%d, ledger %d→%d, balance %d→%d", before.orders, after.orders,
					before.entries, after.entries, before.balance, after.balance)
			}
			// What was stored is what a client can have meant: no NUL, no invalid
			// or replaced bytes, no control or text-direction characters.
			var player, clientID string
			if err := st.DB().QueryRowContext(ctx, `SELECT player_id, COALESCE(client_order_id, '') FROM orders
				WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1`, ten.ID).Scan(&player, &clientID); err != nil {
				t.Fatal(err)
			}
			for _, v := range []string{player, clientID} {
				if err := watan.ValidateIdentifier("stored", v); err != nil || strings.ContainsRune(v, utf8.RuneError) {
					t.Fatalf("201 stored %q from %q", v, body)
				}
			}
		default:
			if after != before {
				t.Fatalf("HTTP %d wrote something: %+v → %+v for %q", rec.Code, before, after, body)
			}
		}
	})
}
