package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"watan"
	"watan/internal/httpapi"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// env is the test bundle: the real store on one engine, the handler under test, and
// what the handler logged.
type env struct {
	t    *testing.T
	st   *store.Store
	h    *httpapi.Handler
	logs *syncBuffer
}

// forEachEngine runs fn once per engine (SQLite always, PostgreSQL when
// WATAN_TEST_DATABASE_URL is set), each with a fresh migrated store.
func forEachEngine(t *testing.T, fn func(t *testing.T, e *env)) {
	storetest.Run(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		fn(t, newEnv(t, open(t), httpapi.Config{}))
	})
}

func newEnv(t *testing.T, st *store.Store, cfg httpapi.Config) *env {
	logs := &syncBuffer{}
	cfg.Tenants, cfg.Accounts, cfg.Catalog, cfg.Orders, cfg.Money = st, st, st, st, st
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &env{t: t, st: st, h: httpapi.New(cfg), logs: logs}
}

// client calls the API as one tenant and keeps every response body it saw, so that
// tests can check what never appears in any of them.
type client struct {
	t      *testing.T
	h      http.Handler
	tenant watan.Tenant
	key    string
	bodies *[]string
}

func (e *env) newTenant(name string) *client {
	e.t.Helper()
	ctx := context.Background()
	ten, err := e.st.CreateTenant(ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	_, key, err := e.st.CreateAPIKey(ctx, ten.ID, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	return &client{t: e.t, h: e.h, tenant: ten, key: key, bodies: new([]string)}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// send performs one request through the handler. An empty contentType with a body
// means application/json.
func (c *client) send(method, path, contentType, body string) *response {
	c.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		if contentType == "" {
			contentType = "application/json"
		}
		r.Header.Set("Content-Type", contentType)
	}
	if c.key != "" {
		r.Header.Set("Authorization", "Bearer "+c.key)
	}
	return c.serve(r)
}

func (c *client) serve(r *http.Request) *response {
	c.t.Helper()
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, r)
	res := &response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	*c.bodies = append(*c.bodies, rec.Body.String())
	if ct := res.header.Get("Content-Type"); ct != "application/json; charset=utf-8" && !(res.status == 200 && r.URL.Query().Get("format") == "csv" && ct == "text/csv; charset=utf-8") {
		c.t.Errorf("%s %s: Content-Type %q", r.Method, r.URL, ct)
	}
	return res
}

// call sends a JSON request and checks the status; out, if not nil, receives the body.
func (c *client) call(method, path, body string, status int, out any) *response {
	c.t.Helper()
	res := c.send(method, path, "", body)
	if res.status != status {
		c.t.Fatalf("%s %s: got %s, want status %d", method, path, res, status)
	}
	if out != nil {
		if err := json.Unmarshal(res.body, out); err != nil {
			c.t.Fatalf("%s %s: decoding %s: %v", method, path, res.body, err)
		}
	}
	return res
}

// wantError checks that res is the JSON error code with status.
func wantError(t *testing.T, what string, res *response, status int, code string) string {
	t.Helper()
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(res.body, &body); err != nil {
		t.Errorf("%s: body %s is not a JSON error: %v", what, res.body, err)
		return ""
	}
	if res.status != status || body.Error.Code != code {
		t.Errorf("%s: got %s, want %d %s", what, res, status, code)
	}
	if body.Error.Message == "" {
		t.Errorf("%s: error without a message", what)
	}
	return body.Error.Message
}

// order is what the tests read of an order response.
type order struct {
	ID            int64  `json:"id"`
	Number        int64  `json:"number"`
	Account       string `json:"account"`
	Package       string `json:"package"`
	Quantity      int    `json:"quantity"`
	PlayerID      string `json:"player_id"`
	ClientOrderID string `json:"client_order_id"`
	UnitPrice     string `json:"unit_price"`
	Price         string `json:"price"`
	Currency      string `json:"currency"`
	Status        string `json:"status"`
	ProviderState string `json:"provider_state"`
}

type account struct {
	Code    string `json:"code"`
	Balance string `json:"balance"`
}

type ledger struct {
	Entries []struct {
		Kind         string `json:"kind"`
		Amount       string `json:"amount"`
		BalanceAfter string `json:"balance_after"`
		OrderID      int64  `json:"order_id"`
	} `json:"entries"`
}

type orderList struct {
	Orders     []order `json:"orders"`
	NextCursor string  `json:"next_cursor"`
}

// seed creates, over the API, a package pkg at 12.50 TRY and an account acct with a
// balance of 100.00.
func (c *client) seed(pkg, acct string) {
	c.t.Helper()
	c.call("POST", "/api/v1/packages", fmt.Sprintf(`{"code":%q,"name":"PUBG 60 UC","price":"12.50","currency":"TRY"}`, pkg), 201, nil)
	c.call("POST", "/api/v1/accounts", fmt.Sprintf(`{"code":%q,"name":"Customer","currency":"TRY"}`, acct), 201, nil)
	c.call("POST", "/api/v1/accounts/"+acct+"/topups", `{"amount":"100.00","note":"opening"}`, 201, nil)
}

func orderBody(pkg, acct string, qty int, player, clientID string) string {
	return fmt.Sprintf(`{"package":%q,"account":%q,"quantity":%d,"player_id":%q,"client_order_id":%q}`, pkg, acct, qty, player, clientID)
}

// state is what "nothing was written" compares: the balance, the ledger and the orders.
type state struct {
	balance string
	ledger  int
	orders  int
}

func (c *client) state(acct string) state {
	c.t.Helper()
	var a account
	c.call("GET", "/api/v1/accounts/"+acct, "", 200, &a)
	var l ledger
	c.call("GET", "/api/v1/accounts/"+acct+"/ledger?limit=1000", "", 200, &l)
	var os orderList
	c.call("GET", "/api/v1/orders?limit=500", "", 200, &os)
	return state{balance: a.Balance, ledger: len(l.Entries), orders: len(os.Orders)}
}

func TestCreateOrderAndReplay(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		c := e.newTenant("shop")
		c.seed("pubg60", "cust1")

		var o order
		res := c.call("POST", "/api/v1/orders", orderBody("pubg60", "cust1", 2, "5551234", "sf-1"), 201, &o)
		if o.ID == 0 || o.Number != 1 || o.Status != "pending" || o.ProviderState != "not_sent" ||
			o.UnitPrice != "12.50" || o.Price != "25.00" || o.Currency != "TRY" || o.Quantity != 2 ||
			o.PlayerID != "5551234" || o.Package != "pubg60" || o.Account != "cust1" || o.ClientOrderID != "sf-1" {
			t.Errorf("created order: %+v", o)
		}
		if loc := res.header.Get("Location"); loc != fmt.Sprintf("/api/v1/orders/%d", o.ID) {
			t.Errorf("Location %q", loc)
		}
		if res.header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q", res.header.Get("Cache-Control"))
		}

		// The same client_order_id again, even with another body: the first order, 200.
		var again order
		res = c.call("POST", "/api/v1/orders", orderBody("pubg60", "cust1", 3, "other", "sf-1"), 200, &again)
		if again != o {
			t.Errorf("replay returned %+v, want %+v", again, o)
		}
		if res.header.Get("Idempotent-Replayed") != "true" {
			t.Error("replay without Idempotent-Replayed header")
		}
		if got := c.state("cust1"); got != (state{balance: "75.00", ledger: 2, orders: 1}) {
			t.Errorf("after create and replay: %+v", got)
		}

		var got order
		c.call("GET", fmt.Sprintf("/api/v1/orders/%d", o.ID), "", 200, &got)
		if got != o {
			t.Errorf("GET order %+v, want %+v", got, o)
		}
		var evs struct {
			Events []struct {
				OrderID int64  `json:"order_id"`
				Actor   string `json:"actor"`
				Kind    string `json:"kind"`
			} `json:"events"`
		}
		c.call("GET", fmt.Sprintf("/api/v1/orders/%d/events", o.ID), "", 200, &evs)
		if len(evs.Events) != 1 || evs.Events[0].Kind != "created" || evs.Events[0].Actor != "api" || evs.Events[0].OrderID != o.ID {
			t.Errorf("events %+v", evs)
		}
		var l ledger
		c.call("GET", "/api/v1/accounts/cust1/ledger", "", 200, &l)
		if len(l.Entries) != 2 || l.Entries[0].Kind != "debit" || l.Entries[0].Amount != "-25.00" ||
			l.Entries[0].BalanceAfter != "75.00" || l.Entries[0].OrderID != o.ID {
			t.Errorf("ledger %+v", l)
		}

		// Without a client_order_id every request is a new order; numbers go on.
		var o2 order
		c.call("POST", "/api/v1/orders", `{"package":"pubg60","account":"cust1","quantity":1,"player_id":"p"}`, 201, &o2)
		if o2.Number != 2 || o2.ID == o.ID {
			t.Errorf("second order %+v", o2)
		}
		// Amounts may come as JSON numbers too, parsed exactly.
		var a struct {
			BalanceAfter string `json:"balance_after"`
		}
		c.call("POST", "/api/v1/accounts/cust1/topups", `{"amount":0.1}`, 201, &a)
		if a.BalanceAfter != "62.60" {
			t.Errorf("balance after 0.1 top-up: %s", a.BalanceAfter)
		}
	})
}

// TestMalformedOrders sends each kind of bad order and checks the exact status and
// code, and that nothing was written: balance, ledger and orders are unchanged, and
// the client_order_id used is still free.
func TestMalformedOrders(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		c := e.newTenant("shop")
		c.seed("pubg60", "cust1")
		c.call("POST", "/api/v1/packages", `{"code":"off","name":"Retired","price":"1","currency":"TRY","active":false}`, 201, nil)
		c.call("POST", "/api/v1/packages", `{"code":"usd","name":"Priced in dollars","price":"1","currency":"USD"}`, 201, nil)
		before := c.state("cust1")

		valid := orderBody("pubg60", "cust1", 1, "p1", "cid")
		big := `{"package":"pubg60","account":"cust1","quantity":1,"player_id":"` + strings.Repeat("x", httpapi.DefaultMaxBodyBytes) + `","client_order_id":"cid"}`
		tests := []struct {
			name, contentType, body string
			status                  int
			code                    string
			mentions                string // the message names the culprit
		}{
			{"unknown field", "", `{"package":"pubg60","account":"cust1","quantity":1,"player_id":"p1","client_order_id":"cid","colour":"red"}`, 400, watan.ECodeBadRequest, "colour"},
			{"quantity as string", "", `{"package":"pubg60","account":"cust1","quantity":"1","player_id":"p1","client_order_id":"cid"}`, 400, watan.ECodeBadRequest, "quantity"},
			{"quantity fractional", "", `{"package":"pubg60","account":"cust1","quantity":1.5,"player_id":"p1","client_order_id":"cid"}`, 400, watan.ECodeBadRequest, "quantity"},
			{"player_id as number", "", `{"package":"pubg60","account":"cust1","quantity":1,"player_id":5551234,"client_order_id":"cid"}`, 400, watan.ECodeBadRequest, "player_id"},
			{"trailing garbage", "", valid + ` garbage`, 400, watan.ECodeBadRequest, "single JSON value"},
			{"two objects", "", valid + valid, 400, watan.ECodeBadRequest, "single JSON value"},
			{"array", "", `[` + valid + `]`, 400, watan.ECodeBadRequest, "object"},
			{"not JSON", "", `package=pubg60&quantity=1`, 400, watan.ECodeBadRequest, "JSON"},
			{"form content type", "application/x-www-form-urlencoded", `package=pubg60`, 400, watan.ECodeBadRequest, "Content-Type"},
			{"empty body", "", ``, 400, watan.ECodeBadRequest, "empty"},
			{"oversized", "", big, 413, watan.ECodeTooLarge, "1 MiB"},
			{"quantity 0", "", orderBody("pubg60", "cust1", 0, "p1", "cid"), 422, watan.ECodeValidation, "quantity"},
			{"quantity -1", "", orderBody("pubg60", "cust1", -1, "p1", "cid"), 422, watan.ECodeValidation, "quantity"},
			{"quantity over the limit", "", orderBody("pubg60", "cust1", 1001, "p1", "cid"), 422, watan.ECodeValidation, "quantity"},
			{"quantity missing", "", `{"package":"pubg60","account":"cust1","player_id":"p1","client_order_id":"cid"}`, 422, watan.ECodeValidation, "quantity"},
			{"player_id missing", "", `{"package":"pubg60","account":"cust1","quantity":1,"client_order_id":"cid"}`, 422, watan.ECodeValidation, "player_id"},
			{"player_id blank", "", orderBody("pubg60", "cust1", 1, "   ", "cid"), 422, watan.ECodeValidation, "player_id"},
			{"package missing", "", `{"account":"cust1","quantity":1,"player_id":"p1","client_order_id":"cid"}`, 422, watan.ECodeValidation, "package"},
			{"unknown package", "", orderBody("nope", "cust1", 1, "p1", "cid"), 422, watan.ECodeUnknownPackage, "nope"},
			{"inactive package", "", orderBody("off", "cust1", 1, "p1", "cid"), 422, watan.ECodePackageInactive, "off"},
			{"unknown account", "", orderBody("pubg60", "ghost", 1, "p1", "cid"), 422, watan.ECodeUnknownAccount, "ghost"},
			{"insufficient balance", "", orderBody("pubg60", "cust1", 9, "p1", "cid"), 422, watan.ECodeInsufficientBalance, ""},
		}
		for _, tt := range tests {
			res := c.send("POST", "/api/v1/orders", tt.contentType, tt.body)
			msg := wantError(t, tt.name, res, tt.status, tt.code)
			if !strings.Contains(msg, tt.mentions) {
				t.Errorf("%s: message %q does not mention %q", tt.name, msg, tt.mentions)
			}
		}

		// The oversized body again without a declared length, as a chunked upload
		// arrives: the reader's limit catches it.
		r := httptest.NewRequest("POST", "/api/v1/orders", io.MultiReader(strings.NewReader(big)))
		r.ContentLength = -1
		r.Header.Set("Authorization", "Bearer "+c.key)
		wantError(t, "oversized chunked", c.serve(r), 413, watan.ECodeTooLarge)

		if after := c.state("cust1"); after != before {
			t.Errorf("a refused order wrote something: before %+v, after %+v", before, after)
		}
		// The client_order_id of every refused request is still unused.
		var o order
		c.call("POST", "/api/v1/orders", valid, 201, &o)
		if o.ClientOrderID != "cid" || o.Number != 1 {
			t.Errorf("order after the refusals: %+v", o)
		}
	})
}

func TestAuthentication(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		c := e.newTenant("shop")
		c.seed("pubg60", "cust1")
		// A key of the right shape that differs in its last character.
		last := "a"
		if strings.HasSuffix(c.key, "a") {
			last = "b"
		}
		wrong := c.key[:len(c.key)-1] + last
		for name, auth := range map[string]string{
			"missing":       "",
			"empty bearer":  "Bearer ",
			"unknown key":   "Bearer " + wrong,
			"garbage":       "Bearer not-a-key",
			"basic":         "Basic " + c.key,
			"key alone":     c.key,
			"deleted chars": "Bearer " + c.key[:10],
		} {
			for _, path := range []string{"/api/v1/orders", "/api/v1/accounts/cust1", "/api/v1/packages"} {
				r := httptest.NewRequest("GET", path, nil)
				if auth != "" {
					r.Header.Set("Authorization", auth)
				}
				wantError(t, name+" "+path, c.serve(r), 401, watan.ECodeUnauthorized)
			}
		}
		// The scheme is case-insensitive, as RFC 9110 says.
		r := httptest.NewRequest("GET", "/api/v1/accounts/cust1", nil)
		r.Header.Set("Authorization", "bearer "+c.key)
		if res := c.serve(r); res.status != 200 {
			t.Errorf("lower-case bearer: %s", res)
		}
		// The document is public.
		if res := c.serve(httptest.NewRequest("GET", "/api/v1/openapi.json", nil)); res.status != 200 {
			t.Errorf("openapi.json without a key: %d", res.status)
		}
		if logs := e.logs.String(); strings.Contains(logs, c.key) || strings.Contains(logs, c.key[8:24]) {
			t.Errorf("an API key reached the log:\n%s", logs)
		}
		if !strings.Contains(e.logs.String(), "status=401") {
			t.Errorf("requests are not logged:\n%s", e.logs.String())
		}
	})
}

// TestTenantIsolation checks that tenant A's key sees none of tenant B's rows: every
// lookup is a 404 (or, in an order, an unknown package or account), and nothing of
// B's changes.
func TestTenantIsolation(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		a, b := e.newTenant("a"), e.newTenant("b")
		a.seed("a-pkg", "a-cust")
		b.seed("b-pkg", "b-cust")
		var bo order
		b.call("POST", "/api/v1/orders", orderBody("b-pkg", "b-cust", 1, "b-player", "b-1"), 201, &bo)
		var bg, bpa struct {
			ID int64 `json:"id"`
		}
		b.call("POST", "/api/v1/code-groups", `{"name":"b codes"}`, 201, &bg)
		b.call("POST", "/api/v1/provider-accounts", `{"kind":"znet","name":"b znet","base_url":"https://znet.example","credentials":{"kod":"bk","sifre":"bs"}}`, 201, &bpa)
		var apa struct {
			ID int64 `json:"id"`
		}
		a.call("POST", "/api/v1/provider-accounts", `{"kind":"znet","name":"a znet","base_url":"https://znet.example","credentials":{"kod":"ak","sifre":"as"}}`, 201, &apa)
		bBefore := b.state("b-cust")

		for _, tt := range []struct{ method, path, ct, body string }{
			{"GET", fmt.Sprintf("/api/v1/orders/%d", bo.ID), "", ""},
			{"GET", fmt.Sprintf("/api/v1/orders/%d/events", bo.ID), "", ""},
			{"GET", "/api/v1/packages/b-pkg", "", ""},
			{"PATCH", "/api/v1/packages/b-pkg", "", `{"price":"0.01"}`},
			{"PUT", "/api/v1/packages/b-pkg", "", `{"name":"x","price":"0.01","active":true}`},
			{"PUT", "/api/v1/packages/b-pkg/routing", "", `{"mode":"manual"}`},
			{"GET", "/api/v1/packages/b-pkg/mappings", "", ""},
			{"PUT", fmt.Sprintf("/api/v1/packages/b-pkg/mappings/%d", apa.ID), "", `{"product_id":"1"}`},
			{"PUT", fmt.Sprintf("/api/v1/packages/a-pkg/mappings/%d", bpa.ID), "", `{"product_id":"1"}`},
			{"GET", fmt.Sprintf("/api/v1/packages/a-pkg/mappings/%d", bpa.ID), "", ""},
			{"GET", "/api/v1/accounts/b-cust", "", ""},
			{"GET", "/api/v1/accounts/b-cust/ledger", "", ""},
			{"POST", "/api/v1/accounts/b-cust/topups", "", `{"amount":"1000"}`},
			{"GET", fmt.Sprintf("/api/v1/code-groups/%d", bg.ID), "", ""},
			{"POST", fmt.Sprintf("/api/v1/code-groups/%d/codes", bg.ID), "text/csv", "STOLEN\n"},
			{"GET", fmt.Sprintf("/api/v1/provider-accounts/%d", bpa.ID), "", ""},
			{"PATCH", fmt.Sprintf("/api/v1/provider-accounts/%d", bpa.ID), "", `{"base_url":"https://evil.example"}`},
		} {
			wantError(t, "A: "+tt.method+" "+tt.path, a.send(tt.method, tt.path, tt.ct, tt.body), 404, watan.ECodeNotFound)
		}
		wantError(t, "A orders B's package", a.send("POST", "/api/v1/orders", "", orderBody("b-pkg", "a-cust", 1, "p", "")), 422, watan.ECodeUnknownPackage)
		wantError(t, "A orders on B's account", a.send("POST", "/api/v1/orders", "", orderBody("a-pkg", "b-cust", 1, "p", "")), 422, watan.ECodeUnknownAccount)
		wantError(t, "A routes to B's provider", a.send("PUT", "/api/v1/packages/a-pkg/routing", "", fmt.Sprintf(`{"mode":"auto","primary_provider_id":%d}`, bpa.ID)), 422, watan.ECodeValidation)
		wantError(t, "A routes to B's codes", a.send("PUT", "/api/v1/packages/a-pkg/routing", "", fmt.Sprintf(`{"mode":"codes","code_group_id":%d}`, bg.ID)), 422, watan.ECodeValidation)
		// B's client_order_id is B's: A using it creates A's own order.
		var ao order
		a.call("POST", "/api/v1/orders", orderBody("a-pkg", "a-cust", 1, "a-player", "b-1"), 201, &ao)
		if ao.ID == bo.ID {
			t.Error("A's order with B's client_order_id returned B's order")
		}

		// Listings show only A's rows.
		var os orderList
		a.call("GET", "/api/v1/orders", "", 200, &os)
		if len(os.Orders) != 1 || os.Orders[0].ID != ao.ID {
			t.Errorf("A's orders: %+v", os.Orders)
		}
		a.call("GET", "/api/v1/orders?q=b-player", "", 200, &os)
		if len(os.Orders) != 0 {
			t.Errorf("A finds B's order by player id: %+v", os.Orders)
		}
		for path, field := range map[string]string{
			"/api/v1/packages": "packages", "/api/v1/accounts": "accounts",
			"/api/v1/code-groups": "code_groups", "/api/v1/provider-accounts": "provider_accounts",
		} {
			var m map[string][]map[string]any
			a.call("GET", path, "", 200, &m)
			for _, row := range m[field] {
				s := fmt.Sprint(row)
				if strings.Contains(s, "b-") || strings.Contains(s, "b codes") || strings.Contains(s, "b znet") {
					t.Errorf("A's %s list shows B's row %v", field, row)
				}
			}
		}
		if after := b.state("b-cust"); after != bBefore {
			t.Errorf("A changed B's state: %+v → %+v", bBefore, after)
		}
		var g struct{ Available int }
		b.call("GET", fmt.Sprintf("/api/v1/code-groups/%d", bg.ID), "", 200, &g)
		if g.Available != 0 {
			t.Errorf("A imported into B's code group: %+v", g)
		}
		var pa struct {
			BaseURL string `json:"base_url"`
		}
		b.call("GET", fmt.Sprintf("/api/v1/provider-accounts/%d", bpa.ID), "", 200, &pa)
		if pa.BaseURL != "https://znet.example" {
			t.Errorf("A changed B's provider account: %+v", pa)
		}
	})
}

func TestListOrders(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		c := e.newTenant("shop")
		c.seed("pubg60", "cust1")
		c.call("POST", "/api/v1/accounts/cust1/topups", `{"amount":"1000"}`, 201, nil)
		const n = 7
		created := make([]order, n)
		for i := range n {
			c.call("POST", "/api/v1/orders", orderBody("pubg60", "cust1", 1, fmt.Sprintf("player-%d", i), fmt.Sprintf("c-%d", i)), 201, &created[i])
		}

		// Pages of 3, newest first, each order once, cursor empty on the last page.
		var seen []int64
		cursor, pages := "", 0
		for {
			var page orderList
			c.call("GET", "/api/v1/orders?limit=3&cursor="+cursor, "", 200, &page)
			pages++
			for _, o := range page.Orders {
				seen = append(seen, o.Number)
			}
			if page.NextCursor == "" {
				break
			}
			if len(page.Orders) != 3 || pages > n {
				t.Fatalf("page %d has %d orders and a cursor", pages, len(page.Orders))
			}
			cursor = page.NextCursor
		}
		if want := []int64{7, 6, 5, 4, 3, 2, 1}; !slices.Equal(seen, want) || pages != 3 {
			t.Errorf("pages gave numbers %v in %d pages, want %v in 3", seen, pages, want)
		}

		count := func(query string) int {
			t.Helper()
			var page orderList
			c.call("GET", "/api/v1/orders?"+query, "", 200, &page)
			return len(page.Orders)
		}
		past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		for query, want := range map[string]int{
			"":                                   n,
			"status=pending":                     n,
			"status=approved":                    0,
			"status=rejected":                    0,
			"q=player-3":                         1,
			"q=c-5":                              1,
			"q=4":                                1,
			"q=nobody":                           0,
			"provider=12345":                     0,
			"from=" + past:                       n,
			"from=" + future:                     0,
			"to=" + past:                         0,
			"to=" + future:                       n,
			"from=" + past + "&to=" + future:     n,
			"status=pending&q=player-6&limit=50": 1,
		} {
			if got := count(query); got != want {
				t.Errorf("?%s: %d orders, want %d", query, got, want)
			}
		}
		for query, code := range map[string]string{
			"status=done":                    watan.ECodeValidation,
			"limit=0":                        watan.ECodeValidation,
			"limit=501":                      watan.ECodeValidation,
			"limit=ten":                      watan.ECodeBadRequest,
			"from=yesterday":                 watan.ECodeBadRequest,
			"to=2026-13-01":                  watan.ECodeBadRequest,
			"provider=abc":                   watan.ECodeBadRequest,
			"cursor=not-a-cursor":            watan.ECodeValidation,
			"status=%zz":                     watan.ECodeBadRequest,
			"from=" + future + "&to=" + past: watan.ECodeValidation,
		} {
			res := c.send("GET", "/api/v1/orders?"+query, "", "")
			wantError(t, "?"+query, res, map[string]int{watan.ECodeValidation: 422, watan.ECodeBadRequest: 400}[code], code)
		}
		wantError(t, "order id not a number", c.send("GET", "/api/v1/orders/abc", "", ""), 404, watan.ECodeNotFound)
		wantError(t, "no such order", c.send("GET", "/api/v1/orders/99999", "", ""), 404, watan.ECodeNotFound)
		wantError(t, "no such order's events", c.send("GET", "/api/v1/orders/99999/events", "", ""), 404, watan.ECodeNotFound)
	})
}

// TestProviderAccountCredentials checks that credentials are written, merged and
// removed through the API, and never appear in any response or log line.
func TestProviderAccountCredentials(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		c := e.newTenant("shop")
		const kod, sifre, newSifre = "KOD-SECRET-4711", "SIFRE-SECRET-0815", "SIFRE-ROTATED-9999"
		type view struct {
			ID             int64    `json:"id"`
			Name           string   `json:"name"`
			Kind           string   `json:"kind"`
			CredentialKeys []string `json:"credential_keys"`
			Paused         bool     `json:"paused"`
			PausedReason   string   `json:"paused_reason"`
			Settings       struct {
				FirstCheckDelay string `json:"first_check_delay"`
				PollPolicy      string `json:"poll_policy"`
				PollInterval    string `json:"poll_interval"`
				MaxInFlight     int    `json:"max_in_flight"`
				RequestTimeout  string `json:"request_timeout"`
				Deadline        string `json:"deadline"`
			} `json:"settings"`
		}
		var pa view
		c.call("POST", "/api/v1/provider-accounts", `{"kind":"znet","name":"znet main","base_url":"https://znet.example/api",
			"credentials":{"kod":"`+kod+`","sifre":"`+sifre+`"},"settings":{"first_check_delay":"5s","max_in_flight":4}}`, 201, &pa)
		if pa.Kind != "znet" || !slices.Equal(pa.CredentialKeys, []string{"kod", "sifre"}) ||
			pa.Settings.FirstCheckDelay != "5s" || pa.Settings.MaxInFlight != 4 ||
			pa.Settings.PollPolicy != "steady" || pa.Settings.RequestTimeout != "20s" || pa.Settings.Deadline != "24h0m0s" {
			t.Errorf("created %+v", pa)
		}
		stored := func() map[string]string {
			p, err := e.st.FindProviderAccount(context.Background(), c.tenant.ID, pa.ID)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for k, v := range p.Credentials {
				out[k] = v.Reveal()
			}
			return out
		}
		if got := stored(); got["kod"] != kod || got["sifre"] != sifre {
			t.Errorf("stored credentials %v", got)
		}

		path := fmt.Sprintf("/api/v1/provider-accounts/%d", pa.ID)
		c.call("GET", path, "", 200, &pa)
		c.call("GET", "/api/v1/provider-accounts", "", 200, nil)
		c.call("PATCH", path, `{"name":"znet primary","credentials":{"sifre":"`+newSifre+`"},
			"settings":{"poll_policy":"fixed","poll_interval":"45s"}}`, 200, &pa)
		if pa.Name != "znet primary" || pa.Settings.PollPolicy != "fixed" || pa.Settings.PollInterval != "45s" ||
			pa.Settings.FirstCheckDelay != "5s" || pa.Settings.MaxInFlight != 4 {
			t.Errorf("patched %+v", pa)
		}
		if got := stored(); got["kod"] != kod || got["sifre"] != newSifre {
			t.Errorf("credentials after merge %v", got)
		}
		c.call("PATCH", path, `{"active":false}`, 200, &pa)
		if got := stored(); got["kod"] != kod || got["sifre"] != newSifre {
			t.Errorf("credentials after an unrelated patch %v", got)
		}
		// A znet account needs exactly kod and sifre: removing one, or adding a
		// misspelt one, is refused and changes nothing.
		c.call("PATCH", path, `{"credentials":{"kod":null}}`, 422, nil)
		c.call("PATCH", path, `{"credentials":{"sifrE":"x"}}`, 422, nil)
		if got := stored(); len(got) != 2 || got["kod"] != kod || got["sifre"] != newSifre {
			t.Errorf("credentials after refused patches: stored %v", got)
		}
		c.call("PATCH", path, `{"paused":true}`, 200, &pa)
		if !pa.Paused || pa.PausedReason == "" {
			t.Errorf("paused %+v", pa)
		}
		pa = view{} // paused_reason is omitted when empty: decode into a clean value
		c.call("PATCH", path, `{"paused":false}`, 200, &pa)
		if pa.Paused || pa.PausedReason != "" {
			t.Errorf("resumed %+v", pa)
		}

		for name, tt := range map[string]struct {
			method, path, body string
			status             int
			code               string
		}{
			"unknown kind":     {"POST", "/api/v1/provider-accounts", `{"kind":"acme","name":"x","base_url":"https://x.example"}`, 422, watan.ECodeValidation},
			"bad base_url":     {"POST", "/api/v1/provider-accounts", `{"kind":"znet","name":"x","base_url":"ftp://x"}`, 422, watan.ECodeValidation},
			"duplicate name":   {"POST", "/api/v1/provider-accounts", `{"kind":"znet","name":"znet primary","base_url":"https://x.example","credentials":{"kod":"k","sifre":"s"}}`, 409, watan.ECodeConflict},
			"numeric duration": {"POST", "/api/v1/provider-accounts", `{"kind":"znet","name":"x","base_url":"https://x.example","settings":{"poll_interval":30}}`, 400, watan.ECodeBadRequest},
			"bad policy":       {"PATCH", path, `{"settings":{"poll_policy":"sometimes"}}`, 422, watan.ECodeValidation},
			"uuid on znet":     {"PATCH", path, `{"settings":{"order_uuid":"uuid"}}`, 422, watan.ECodeValidation},
			"bad order_uuid":   {"PATCH", path, `{"settings":{"order_uuid":"v4"}}`, 422, watan.ECodeValidation},
			"kind is fixed":    {"PATCH", path, `{"kind":"barakat"}`, 400, watan.ECodeBadRequest},
			"no such account":  {"GET", "/api/v1/provider-accounts/999999", "", 404, watan.ECodeNotFound},
		} {
			wantError(t, name, c.send(tt.method, tt.path, "", tt.body), tt.status, tt.code)
		}

		for _, secret := range []string{kod, sifre, newSifre} {
			for _, body := range *c.bodies {
				if strings.Contains(body, secret) {
					t.Errorf("a response contains a credential: %s", body)
				}
			}
			if strings.Contains(e.logs.String(), secret) {
				t.Errorf("the log contains a credential")
			}
		}
	})
}

// A barakat account's order_uuid setting: numeric by default, uuid on request,
// refused on other kinds (above).
func TestProviderAccountOrderUUID(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		c := e.newTenant("shop")
		var pa struct {
			ID       int64 `json:"id"`
			Settings struct {
				OrderUUID string `json:"order_uuid"`
			} `json:"settings"`
		}
		c.call("POST", "/api/v1/provider-accounts", `{"kind":"barakat","name":"b","base_url":"https://b.example",
			"credentials":{"token":"tok-123456"}}`, 201, &pa)
		if pa.Settings.OrderUUID != "numeric" {
			t.Errorf("default order_uuid %q, want numeric", pa.Settings.OrderUUID)
		}
		c.call("PATCH", fmt.Sprintf("/api/v1/provider-accounts/%d", pa.ID), `{"settings":{"order_uuid":"uuid"}}`, 200, &pa)
		if pa.Settings.OrderUUID != "uuid" {
			t.Errorf("patched order_uuid %q, want uuid", pa.Settings.OrderUUID)
		}
		p, err := e.st.FindProviderAccount(context.Background(), c.tenant.ID, pa.ID)
		if err != nil || p.Settings.OrderUUID != watan.RefUUID {
			t.Errorf("stored order_uuid %q (%v)", p.Settings.OrderUUID, err)
		}
	})
}

func TestPackagesRoutingAndMappings(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		c := e.newTenant("shop")
		c.seed("pubg60", "cust1")
		type pkg struct {
			Code    string `json:"code"`
			Name    string `json:"name"`
			Price   string `json:"price"`
			Active  bool   `json:"active"`
			Routing struct {
				Mode              string `json:"mode"`
				PrimaryProviderID int64  `json:"primary_provider_id"`
				CodeGroupID       int64  `json:"code_group_id"`
			} `json:"routing"`
		}
		var p pkg
		c.call("GET", "/api/v1/packages/pubg60", "", 200, &p)
		if p.Price != "12.50" || !p.Active || p.Routing.Mode != "manual" {
			t.Errorf("package %+v", p)
		}
		c.call("PATCH", "/api/v1/packages/pubg60", `{"price":15}`, 200, &p)
		if p.Price != "15.00" || p.Name != "PUBG 60 UC" || !p.Active {
			t.Errorf("patched price %+v", p)
		}
		c.call("PUT", "/api/v1/packages/pubg60", `{"name":"PUBG 60","price":"14.99","active":true}`, 200, &p)
		if p.Price != "14.99" || p.Name != "PUBG 60" {
			t.Errorf("put %+v", p)
		}
		var list struct{ Packages []pkg }
		c.call("GET", "/api/v1/packages", "", 200, &list)
		if len(list.Packages) != 1 || list.Packages[0].Code != "pubg60" {
			t.Errorf("list %+v", list)
		}

		var pa, g struct {
			ID int64 `json:"id"`
		}
		c.call("POST", "/api/v1/provider-accounts", `{"kind":"znet","name":"znet","base_url":"https://znet.example","credentials":{"kod":"k","sifre":"s"}}`, 201, &pa)
		c.call("POST", "/api/v1/code-groups", `{"name":"stock"}`, 201, &g)
		c.call("PUT", "/api/v1/packages/pubg60/routing", fmt.Sprintf(`{"mode":"auto","primary_provider_id":%d}`, pa.ID), 200, &p)
		if p.Routing.Mode != "auto" || p.Routing.PrimaryProviderID != pa.ID {
			t.Errorf("auto routing %+v", p.Routing)
		}
		// A price change keeps the routing.
		c.call("PATCH", "/api/v1/packages/pubg60", `{"price":"13"}`, 200, &p)
		if p.Routing.Mode != "auto" || p.Routing.PrimaryProviderID != pa.ID {
			t.Errorf("routing after a price change %+v", p.Routing)
		}
		c.call("PUT", "/api/v1/packages/pubg60/routing", fmt.Sprintf(`{"mode":"codes","code_group_id":%d,"fallback_provider_id":%d}`, g.ID, pa.ID), 200, &p)
		if p.Routing.Mode != "codes" || p.Routing.CodeGroupID != g.ID {
			t.Errorf("codes routing %+v", p.Routing)
		}

		mpath := fmt.Sprintf("/api/v1/packages/pubg60/mappings/%d", pa.ID)
		var m struct {
			PackageID         int64             `json:"package_id"`
			ProviderAccountID int64             `json:"provider_account_id"`
			ProductID         string            `json:"product_id"`
			Params            map[string]string `json:"params"`
		}
		c.call("PUT", mpath, `{"product_id":"1042","params":{"oyun":"12","kupur":"60"}}`, 200, &m)
		if m.ProviderAccountID != pa.ID || m.ProductID != "1042" || m.Params["kupur"] != "60" {
			t.Errorf("mapping %+v", m)
		}
		c.call("PUT", mpath, `{"product_id":"1043"}`, 200, &m)
		c.call("GET", mpath, "", 200, &m)
		if m.ProductID != "1043" {
			t.Errorf("mapping after replace %+v", m)
		}
		var ms struct{ Mappings []json.RawMessage }
		c.call("GET", "/api/v1/packages/pubg60/mappings", "", 200, &ms)
		if len(ms.Mappings) != 1 {
			t.Errorf("mappings %s", ms.Mappings)
		}

		for name, tt := range map[string]struct {
			method, path, body string
			status             int
			code               string
		}{
			"duplicate code":      {"POST", "/api/v1/packages", `{"code":"pubg60","name":"x","price":"1","currency":"TRY"}`, 409, watan.ECodeConflict},
			"three decimals":      {"POST", "/api/v1/packages", `{"code":"x","name":"x","price":"1.005","currency":"TRY"}`, 400, watan.ECodeBadRequest},
			"price missing":       {"POST", "/api/v1/packages", `{"code":"x","name":"x","currency":"TRY"}`, 422, watan.ECodeValidation},
			"negative price":      {"POST", "/api/v1/packages", `{"code":"x","name":"x","price":"-1","currency":"TRY"}`, 422, watan.ECodeValidation},
			"bad currency":        {"POST", "/api/v1/packages", `{"code":"x","name":"x","price":"1","currency":"lira"}`, 422, watan.ECodeValidation},
			"put without active":  {"PUT", "/api/v1/packages/pubg60", `{"name":"x","price":"1"}`, 422, watan.ECodeValidation},
			"patch unknown field": {"PATCH", "/api/v1/packages/pubg60", `{"routing":{"mode":"auto"}}`, 400, watan.ECodeBadRequest},
			"no such package":     {"PATCH", "/api/v1/packages/nope", `{"price":"1"}`, 404, watan.ECodeNotFound},
			"bad mode":            {"PUT", "/api/v1/packages/pubg60/routing", `{"mode":"magic"}`, 422, watan.ECodeValidation},
			"auto without id":     {"PUT", "/api/v1/packages/pubg60/routing", `{"mode":"auto"}`, 422, watan.ECodeValidation},
			"routing no package":  {"PUT", "/api/v1/packages/nope/routing", `{"mode":"manual"}`, 404, watan.ECodeNotFound},
			"mapping no provider": {"PUT", "/api/v1/packages/pubg60/mappings/999999", `{"product_id":"1"}`, 404, watan.ECodeNotFound},
			"mapping bad id":      {"PUT", "/api/v1/packages/pubg60/mappings/znet", `{"product_id":"1"}`, 404, watan.ECodeNotFound},
			"mapping no product":  {"PUT", mpath, `{"params":{}}`, 422, watan.ECodeValidation},
			"mapping no package":  {"GET", fmt.Sprintf("/api/v1/packages/nope/mappings/%d", pa.ID), "", 404, watan.ECodeNotFound},
		} {
			wantError(t, name, c.send(tt.method, tt.path, "", tt.body), tt.status, tt.code)
		}

		// Deactivating a package stops orders for it.
		c.call("PATCH", "/api/v1/packages/pubg60", `{"active":false}`, 200, &p)
		wantError(t, "order for a deactivated package", c.send("POST", "/api/v1/orders", "", orderBody("pubg60", "cust1", 1, "p", "")), 422, watan.ECodePackageInactive)
	})
}

func TestAccounts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		c := e.newTenant("shop")
		var a struct {
			Code           string `json:"code"`
			Currency       string `json:"currency"`
			Balance        string `json:"balance"`
			OverdraftLimit string `json:"overdraft_limit"`
		}
		res := c.call("POST", "/api/v1/accounts", `{"code":"cust1","name":"Ali","currency":"try","overdraft_limit":"50"}`, 201, &a)
		if a.Balance != "0.00" || a.OverdraftLimit != "50.00" || a.Currency != "TRY" {
			t.Errorf("created %+v", a)
		}
		if res.header.Get("Location") != "/api/v1/accounts/cust1" {
			t.Errorf("Location %q", res.header.Get("Location"))
		}
		var entry struct {
			Kind         string `json:"kind"`
			Amount       string `json:"amount"`
			BalanceAfter string `json:"balance_after"`
			Note         string `json:"note"`
		}
		c.call("POST", "/api/v1/accounts/cust1/topups", `{"amount":"20.05","note":"cash"}`, 201, &entry)
		if entry.Kind != "topup" || entry.Amount != "20.05" || entry.BalanceAfter != "20.05" || entry.Note != "cash" {
			t.Errorf("top-up %+v", entry)
		}
		c.call("GET", "/api/v1/accounts/cust1", "", 200, &a)
		if a.Balance != "20.05" {
			t.Errorf("balance %s", a.Balance)
		}
		var list struct{ Accounts []json.RawMessage }
		c.call("GET", "/api/v1/accounts", "", 200, &list)
		if len(list.Accounts) != 1 {
			t.Errorf("accounts %s", list.Accounts)
		}
		before := c.state("cust1")
		for name, tt := range map[string]struct {
			method, path, body string
			status             int
			code               string
		}{
			"duplicate":         {"POST", "/api/v1/accounts", `{"code":"cust1","currency":"TRY"}`, 409, watan.ECodeConflict},
			"no code":           {"POST", "/api/v1/accounts", `{"currency":"TRY"}`, 422, watan.ECodeValidation},
			"zero top-up":       {"POST", "/api/v1/accounts/cust1/topups", `{"amount":"0"}`, 422, watan.ECodeValidation},
			"negative top-up":   {"POST", "/api/v1/accounts/cust1/topups", `{"amount":"-5"}`, 422, watan.ECodeValidation},
			"missing amount":    {"POST", "/api/v1/accounts/cust1/topups", `{"note":"x"}`, 422, watan.ECodeValidation},
			"amount not number": {"POST", "/api/v1/accounts/cust1/topups", `{"amount":"lots"}`, 400, watan.ECodeBadRequest},
			"amount as bool":    {"POST", "/api/v1/accounts/cust1/topups", `{"amount":true}`, 400, watan.ECodeBadRequest},
			"top-up nobody":     {"POST", "/api/v1/accounts/ghost/topups", `{"amount":"5"}`, 404, watan.ECodeNotFound},
			"get nobody":        {"GET", "/api/v1/accounts/ghost", "", 404, watan.ECodeNotFound},
			"ledger nobody":     {"GET", "/api/v1/accounts/ghost/ledger", "", 404, watan.ECodeNotFound},
			"ledger limit":      {"GET", "/api/v1/accounts/cust1/ledger?limit=0", "", 422, watan.ECodeValidation},
		} {
			msg := wantError(t, name, c.send(tt.method, tt.path, "", tt.body), tt.status, tt.code)
			if name == "amount not number" && !strings.Contains(msg, `"amount"`) {
				t.Errorf("%s: message %q does not name the field", name, msg)
			}
		}
		if after := c.state("cust1"); after != before {
			t.Errorf("refused requests wrote: %+v → %+v", before, after)
		}
	})
}

func TestImportCodes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		c := e.newTenant("shop")
		var g struct {
			ID        int64 `json:"id"`
			Available int   `json:"available"`
			Used      int   `json:"used"`
		}
		c.call("POST", "/api/v1/code-groups", `{"name":"PUBG 60 stock"}`, 201, &g)
		path := fmt.Sprintf("/api/v1/code-groups/%d/codes", g.ID)
		type result struct{ Added, Skipped int }
		imp := func(ct, body string) result {
			t.Helper()
			res := c.send("POST", path, ct, body)
			var r result
			if res.status != 200 || json.Unmarshal(res.body, &r) != nil {
				t.Fatalf("import %s: %s", ct, res)
			}
			return r
		}
		if r := imp("text/csv", "pin,serial\nAAAA-1111,1\nBBBB-2222,2\nAAAA-1111,3\n\nCCCC-3333\n"); r != (result{3, 1}) {
			t.Errorf("first CSV: %+v", r)
		}
		if r := imp("text/csv; charset=utf-8", "AAAA-1111\nCCCC-3333\n"); r != (result{0, 2}) {
			t.Errorf("CSV again: %+v", r)
		}
		if r := imp("application/x-ndjson", "\"DDDD-4444\"\n{\"pin\":\"BBBB-2222\"}\n{\"pin\":\"EEEE-5555\"}\n\"DDDD-4444\"\n"); r != (result{2, 2}) {
			t.Errorf("JSON lines: %+v", r)
		}
		if r := imp("application/jsonl", `{"pin":"FFFF-6666"}`); r != (result{1, 0}) {
			t.Errorf("jsonl: %+v", r)
		}
		c.call("GET", fmt.Sprintf("/api/v1/code-groups/%d", g.ID), "", 200, &g)
		if g.Available != 6 || g.Used != 0 {
			t.Errorf("group counts %+v", g)
		}
		var list struct {
			CodeGroups []struct{ Available int } `json:"code_groups"`
		}
		c.call("GET", "/api/v1/code-groups", "", 200, &list)
		if len(list.CodeGroups) != 1 || list.CodeGroups[0].Available != 6 {
			t.Errorf("list %+v", list)
		}

		wantError(t, "JSON array", c.send("POST", path, "application/json", `["A"]`), 400, watan.ECodeBadRequest)
		wantError(t, "bad JSON line", c.send("POST", path, "application/x-ndjson", "\"OK\"\n[1]\n"), 400, watan.ECodeBadRequest)
		wantError(t, "no codes", c.send("POST", path, "text/csv", "pin\n"), 422, watan.ECodeValidation)
		wantError(t, "no such group", c.send("POST", "/api/v1/code-groups/999999/codes", "text/csv", "A\n"), 404, watan.ECodeNotFound)
		wantError(t, "group id not a number", c.send("GET", "/api/v1/code-groups/stock", "", ""), 404, watan.ECodeNotFound)
		wantError(t, "control characters", c.send("POST", path, "text/csv", "A\x01B\n"), 422, watan.ECodeValidation)

		// A handler with a small import limit refuses a larger upload.
		small := newEnv(t, e.st, httpapi.Config{MaxImportBytes: 64})
		sc := &client{t: t, h: small.h, tenant: c.tenant, key: c.key, bodies: c.bodies}
		wantError(t, "oversized import", sc.send("POST", path, "text/csv", strings.Repeat("GGGG-7777\n", 10)), 413, watan.ECodeTooLarge)
		c.call("GET", fmt.Sprintf("/api/v1/code-groups/%d", g.ID), "", 200, &g)
		if g.Available != 6 {
			t.Errorf("a refused import wrote: %+v", g)
		}
		// PINs are stock: they are never shown by the API.
		for _, body := range *c.bodies {
			if strings.Contains(body, "AAAA-1111") {
				t.Errorf("a response shows a PIN: %s", body)
			}
		}
	})
}

// syncBuffer is a log sink that handlers may write to from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// An order is found by its client order id within its tenant only: the lookup a
// client (another watan) makes when its POST went unanswered.
func TestOrderByClientID(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		a, b := e.newTenant("a"), e.newTenant("b")
		a.seed("pubg-60", "c1")
		b.seed("pubg-60", "c1")
		var created, found watan.Order
		a.call("POST", "/api/v1/orders", orderBody("pubg-60", "c1", 1, "5123456789", "ref/100000000000101"), 201, &created)
		a.call("GET", "/api/v1/client-orders/"+url.PathEscape("ref/100000000000101"), "", 200, &found)
		if found.ID != created.ID || found.ClientOrderID != "ref/100000000000101" {
			t.Fatalf("found %+v, want order %d", found, created.ID)
		}
		wantError(t, "another tenant's", b.send("GET", "/api/v1/client-orders/"+url.PathEscape("ref/100000000000101"), "", ""), 404, watan.ECodeNotFound)
		wantError(t, "unknown", a.send("GET", "/api/v1/client-orders/nope", "", ""), 404, watan.ECodeNotFound)
		wantError(t, "control character", a.send("GET", "/api/v1/client-orders/a%01b", "", ""), 422, watan.ECodeValidation)
	})
}
