package httpapi_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"watan"
	"watan/internal/egress"
	"watan/internal/httpapi"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// TestHostileText sends the probes of an attacker and of a careless client: NUL
// bytes, invalid UTF-8, lone surrogates, duplicate and case-variant keys, control
// and text-direction characters. Each gets a 4xx with a stable code on both
// engines (a NUL once answered 500 on PostgreSQL and was stored on SQLite), and
// nothing is written.
func TestHostileText(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		c := e.newTenant("shop")
		c.seed("pubg60", "cust1")
		var pa struct {
			ID int64 `json:"id"`
		}
		c.call("POST", "/api/v1/provider-accounts", `{"kind":"znet","name":"z","base_url":"https://znet.example","credentials":{"kod":"k","sifre":"s"}}`, 201, &pa)
		before := c.state("cust1")
		order := func(field, raw string) string {
			vals := map[string]string{"package": `"pubg60"`, "account": `"cust1"`, "player_id": `"5123"`, "client_order_id": `"cid"`}
			vals[field] = raw
			return fmt.Sprintf(`{"package":%s,"account":%s,"quantity":1,"player_id":%s,"client_order_id":%s}`,
				vals["package"], vals["account"], vals["player_id"], vals["client_order_id"])
		}
		tests := []struct {
			name, method, path, body string
			status                   int
			code                     string
		}{
			{"NUL in player_id", "POST", "/api/v1/orders", order("player_id", `"12\u000034"`), 400, watan.ECodeBadRequest},
			{"NUL in client_order_id", "POST", "/api/v1/orders", order("client_order_id", `"c\u0000"`), 400, watan.ECodeBadRequest},
			{"NUL in package", "POST", "/api/v1/orders", order("package", `"pubg\u000060"`), 400, watan.ECodeBadRequest},
			{"NUL in a key", "POST", "/api/v1/orders", `{"package\u0000":"pubg60"}`, 400, watan.ECodeBadRequest},
			{"NUL in top-up note", "POST", "/api/v1/accounts/cust1/topups", `{"amount":"1","note":"a\u0000b"}`, 400, watan.ECodeBadRequest},
			{"NUL in a credential", "PATCH", fmt.Sprintf("/api/v1/provider-accounts/%d", pa.ID), `{"credentials":{"kod":"k\u0000","sifre":"s"}}`, 400, watan.ECodeBadRequest},
			{"invalid UTF-8 in player_id", "POST", "/api/v1/orders", order("player_id", "\"\xff\xfe\xc3(\""), 400, watan.ECodeBadRequest},
			{"invalid UTF-8 in account name", "POST", "/api/v1/accounts", "{\"code\":\"c2\",\"name\":\"\xff\",\"currency\":\"TRY\"}", 400, watan.ECodeBadRequest},
			{"invalid UTF-8 in package name", "POST", "/api/v1/packages", "{\"code\":\"p2\",\"name\":\"\xc3(\",\"price\":\"1\",\"currency\":\"TRY\"}", 400, watan.ECodeBadRequest},
			{"lone surrogate", "POST", "/api/v1/orders", order("player_id", `"\ud800"`), 400, watan.ECodeBadRequest},
			{"duplicate key", "POST", "/api/v1/orders", `{"package":"pubg60","account":"cust1","quantity":1,"quantity":1000,"player_id":"5123","client_order_id":"cid"}`, 400, watan.ECodeBadRequest},
			{"case-variant key", "POST", "/api/v1/orders", `{"Package":"pubg60","account":"cust1","quantity":1,"player_id":"5123","client_order_id":"cid"}`, 400, watan.ECodeBadRequest},
			{"keys differing in case", "POST", "/api/v1/orders", `{"package":"pubg60","PACKAGE":"x","account":"cust1","quantity":1,"player_id":"5123","client_order_id":"cid"}`, 400, watan.ECodeBadRequest},
			{"nested duplicate key", "PATCH", fmt.Sprintf("/api/v1/provider-accounts/%d", pa.ID), `{"credentials":{"kod":"a","kod":"b","sifre":"s"}}`, 400, watan.ECodeBadRequest},
			{"newline in player_id", "POST", "/api/v1/orders", order("player_id", `"51\n23"`), 422, watan.ECodeValidation},
			{"carriage return in player_id", "POST", "/api/v1/orders", order("player_id", `"51\r23"`), 422, watan.ECodeValidation},
			{"escape in player_id", "POST", "/api/v1/orders", order("player_id", `"\u001b[31m5123"`), 422, watan.ECodeValidation},
			{"right-to-left override in player_id", "POST", "/api/v1/orders", order("player_id", `"\u202e5123"`), 422, watan.ECodeValidation},
			{"isolate in client_order_id", "POST", "/api/v1/orders", order("client_order_id", `"c\u2066id"`), 422, watan.ECodeValidation},
			{"override in a package code", "POST", "/api/v1/packages", `{"code":"p\u202e2","name":"n","price":"1","currency":"TRY"}`, 422, watan.ECodeValidation},
			{"NUL in the search query", "GET", "/api/v1/orders?q=a%00b", "", 400, watan.ECodeBadRequest},
			{"invalid UTF-8 in the search query", "GET", "/api/v1/orders?q=%ff", "", 400, watan.ECodeBadRequest},
			{"NUL in an account path", "GET", "/api/v1/accounts/a%00b", "", 400, watan.ECodeBadRequest},
			{"NUL in a package path", "GET", "/api/v1/packages/a%00b", "", 400, watan.ECodeBadRequest},
		}
		for _, tt := range tests {
			var res *response
			if tt.body == "" {
				r := httptest.NewRequest(tt.method, "http://watan.test"+tt.path, nil)
				r.Header.Set("Authorization", "Bearer "+c.key)
				res = c.serve(r)
			} else {
				res = c.send(tt.method, tt.path, "", tt.body)
			}
			wantError(t, tt.name, res, tt.status, tt.code)
		}
		if after := c.state("cust1"); after != before {
			t.Errorf("a refused request wrote something: before %+v, after %+v", before, after)
		}
		var pkgs struct {
			Packages []struct {
				Code string `json:"code"`
			} `json:"packages"`
		}
		c.call("GET", "/api/v1/packages", "", 200, &pkgs)
		for _, p := range pkgs.Packages {
			if p.Code != "pubg60" {
				t.Errorf("a refused request created package %q", p.Code)
			}
		}
		// Text that is merely unusual still goes through: Arabic, emoji, a space.
		var o struct {
			PlayerID string `json:"player_id"`
		}
		c.call("POST", "/api/v1/orders", order("player_id", `"لاعب 5123 🎮"`), 201, &o)
		if o.PlayerID != "لاعب 5123 🎮" {
			t.Errorf("player_id stored as %q", o.PlayerID)
		}
	})
}

// TestProviderSettingsBounds sends settings and credentials that no provider
// account can use: each is refused with validation_failed and nothing is stored.
func TestProviderSettingsBounds(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		c := e.newTenant("shop")
		var pa struct {
			ID int64 `json:"id"`
		}
		c.call("POST", "/api/v1/provider-accounts", `{"kind":"znet","name":"z","base_url":"https://znet.example","credentials":{"kod":"k","sifre":"s"}}`, 201, &pa)
		create := func(settings, creds string) string {
			return `{"kind":"znet","name":"new","base_url":"https://znet.example","credentials":` + creds + `,"settings":` + settings + `}`
		}
		const creds = `{"kod":"k","sifre":"s"}`
		for name, body := range map[string]string{
			"poll interval 1ns":        create(`{"poll_interval":"1ns"}`, creds),
			"100000000 in flight":      create(`{"max_in_flight":100000000}`, creds),
			"request timeout 1000h":    create(`{"request_timeout":"1000h"}`, creds),
			"connect timeout 2m":       create(`{"connect_timeout":"2m"}`, creds),
			"deadline 1s":              create(`{"deadline":"1s"}`, creds),
			"no credentials":           `{"kind":"znet","name":"new","base_url":"https://znet.example"}`,
			"unknown credential key":   create(`{}`, `{"kod":"k","sifre":"s","password":"p"}`),
			"missing credential key":   create(`{}`, `{"kod":"k"}`),
			"barakat keys on znet":     create(`{}`, `{"token":"t"}`),
			"first check past default": create(`{"first_check_delay":"25h"}`, creds),
		} {
			wantError(t, name, c.send("POST", "/api/v1/provider-accounts", "", body), 422, watan.ECodeValidation)
		}
		path := fmt.Sprintf("/api/v1/provider-accounts/%d", pa.ID)
		for name, body := range map[string]string{
			"patch poll interval":    `{"settings":{"poll_interval":"10ms"}}`,
			"patch in flight":        `{"settings":{"max_in_flight":257}}`,
			"patch request timeout":  `{"settings":{"request_timeout":"61s"}}`,
			"patch deadline":         `{"settings":{"deadline":"9m"}}`,
			"patch unknown key":      `{"credentials":{"sifree":"x"}}`,
			"patch removes required": `{"credentials":{"sifre":null}}`,
		} {
			wantError(t, name, c.send("PATCH", path, "", body), 422, watan.ECodeValidation)
		}
		var list struct {
			ProviderAccounts []struct {
				Name     string `json:"name"`
				Settings struct {
					PollInterval string `json:"poll_interval"`
					MaxInFlight  int    `json:"max_in_flight"`
				} `json:"settings"`
			} `json:"provider_accounts"`
		}
		c.call("GET", "/api/v1/provider-accounts", "", 200, &list)
		if len(list.ProviderAccounts) != 1 || list.ProviderAccounts[0].Settings.MaxInFlight != watan.DefaultMaxInFlight {
			t.Errorf("refused requests changed the provider accounts: %+v", list)
		}
		// The bounds themselves are accepted.
		c.call("PATCH", path, `{"settings":{"poll_interval":"1s","max_in_flight":256,"request_timeout":"60s","deadline":"10m"}}`, 200, nil)
	})
}

// TestRateLimit: one client address gets its burst, then 429 rate_limited with
// Retry-After and nothing written; another address is not affected; the bucket
// refills with time (an injected clock, no waiting).
func TestRateLimit(t *testing.T) {
	storetest.Run(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := providertest.NewManualClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		e := newEnv(t, open(t), httpapi.Config{RatePerSecond: 1, RateBurst: 8, Clock: clock})
		c := e.newTenant("shop")
		c.seed("pubg60", "cust1")  // 3 requests
		before := c.state("cust1") // 3 more
		from := func(addr, method, path, body string) *response {
			r := httptest.NewRequest(method, "http://watan.test"+path, strings.NewReader(body))
			r.RemoteAddr = addr
			r.Header.Set("Authorization", "Bearer "+c.key)
			if body != "" {
				r.Header.Set("Content-Type", "application/json")
			}
			return c.serve(r)
		}
		const me = "192.0.2.1:1234" // httptest's default address, which c uses
		from(me, "GET", "/api/v1/orders", "")
		from(me, "GET", "/api/v1/orders", "") // the burst of 8 is used up
		res := from(me, "POST", "/api/v1/orders", orderBody("pubg60", "cust1", 1, "p1", "limited"))
		wantError(t, "over the limit", res, 429, watan.ECodeRateLimited)
		if got := res.header.Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After = %q, want 1", got)
		}
		if res := from("198.51.100.7:999", "GET", "/api/v1/orders", ""); res.status != 200 {
			t.Errorf("another address was limited: %s", res)
		}
		clock.Advance(5 * time.Second)
		if after := c.state("cust1"); after != before {
			t.Errorf("a limited request wrote something: before %+v, after %+v", before, after)
		}
	})
}

// TestProviderBaseURLPolicy: under the egress policy a provider account cannot be
// pointed at a private or loopback address, on create or by a patch.
func TestProviderBaseURLPolicy(t *testing.T) {
	storetest.Run(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		e := newEnv(t, open(t), httpapi.Config{Egress: &egress.Policy{}})
		c := e.newTenant("shop")
		var pa struct {
			ID int64 `json:"id"`
		}
		c.call("POST", "/api/v1/provider-accounts", `{"kind":"znet","name":"z","base_url":"https://bayi.example.com","credentials":{"kod":"k","sifre":"s"}}`, 201, &pa)
		for _, u := range []string{"http://127.0.0.1:5432", "http://[::1]", "http://localhost", "http://169.254.169.254", "http://10.1.2.3", "http://127.1", "http://2130706433"} {
			body := `{"kind":"znet","name":"internal","base_url":"` + u + `","credentials":{"kod":"k","sifre":"s"}}`
			wantError(t, "create "+u, c.send("POST", "/api/v1/provider-accounts", "", body), 422, watan.ECodeValidation)
			wantError(t, "patch "+u, c.send("PATCH", fmt.Sprintf("/api/v1/provider-accounts/%d", pa.ID), "", `{"base_url":"`+u+`"}`), 422, watan.ECodeValidation)
		}
		var got struct {
			BaseURL string `json:"base_url"`
		}
		c.call("GET", fmt.Sprintf("/api/v1/provider-accounts/%d", pa.ID), "", 200, &got)
		if got.BaseURL != "https://bayi.example.com" {
			t.Errorf("base URL changed to %q", got.BaseURL)
		}
	})
}

// TestRequestTimeoutBelowRescue: with the installation's rescue time known, a
// request timeout that could outlast half of it is refused.
func TestRequestTimeoutBelowRescue(t *testing.T) {
	storetest.Run(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		e := newEnv(t, open(t), httpapi.Config{RescueAfter: 50 * time.Second})
		c := e.newTenant("shop")
		body := func(timeout string) string {
			return `{"kind":"barakat","name":"b` + timeout + `","base_url":"https://b.example","credentials":{"token":"t"},"settings":{"request_timeout":"` + timeout + `"}}`
		}
		wantError(t, "25s of 50s", c.send("POST", "/api/v1/provider-accounts", "", body("25s")), 422, watan.ECodeValidation)
		// The default for barakat (30 s) is too long for this installation as well.
		wantError(t, "default", c.send("POST", "/api/v1/provider-accounts", "", `{"kind":"barakat","name":"d","base_url":"https://b.example","credentials":{"token":"t"}}`), 422, watan.ECodeValidation)
		c.call("POST", "/api/v1/provider-accounts", body("20s"), 201, nil)
	})
}
