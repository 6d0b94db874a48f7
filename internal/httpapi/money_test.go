package httpapi_test

import (
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"watan"
)

// TestMoneyAPI drives price groups, rates, conversion, a report and a statement
// through the HTTP API.
func TestMoneyAPI(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		c := e.newTenant("shop")
		c.call("PATCH", "/api/v1/settings", `{"base_currency":"USD","time_zone":"Mars/Base"}`, 422, nil)
		var ts watan.TenantSettings
		c.call("PATCH", "/api/v1/settings", `{"base_currency":"USD","time_zone":"Europe/Istanbul"}`, 200, &ts)
		if ts.BaseCurrency != "USD" || ts.TimeZone != "Europe/Istanbul" {
			t.Fatalf("settings %+v", ts)
		}
		c.call("POST", "/api/v1/exchange-rates", `{"currency":"TRY","rate":"34.876543219"}`, 400, nil)
		c.call("POST", "/api/v1/exchange-rates", `{"currency":"TRY","rate":"34.8765"}`, 201, nil)
		var rates struct {
			Rates   map[string]string    `json:"rates"`
			History []watan.ExchangeRate `json:"history"`
		}
		c.call("GET", "/api/v1/exchange-rates", "", 200, &rates)
		if rates.Rates["TRY"] != "34.8765" || len(rates.History) != 1 || !strings.HasPrefix(rates.History[0].SetBy, "operator:api-key:") {
			t.Fatalf("rates %+v", rates)
		}

		c.call("POST", "/api/v1/packages", `{"code":"p","name":"P","price":"45.50","currency":"TRY"}`, 201, nil)
		c.call("POST", "/api/v1/price-groups", `{"name":"dealers"}`, 201, nil)
		c.call("POST", "/api/v1/price-groups", `{"name":"dealers"}`, 409, nil)
		c.call("PUT", "/api/v1/packages/p/prices/dealers", `{"price":"40.00"}`, 200, nil)
		c.call("PUT", "/api/v1/packages/p/prices/nobody", `{"price":"40.00"}`, 404, nil)
		c.call("POST", "/api/v1/accounts", `{"code":"d","currency":"USD","price_group":"dealers"}`, 201, nil)
		c.call("POST", "/api/v1/accounts", `{"code":"w","currency":"TRY"}`, 201, nil)
		c.call("POST", "/api/v1/accounts/d/topups", `{"amount":"100.00"}`, 201, nil)
		c.call("POST", "/api/v1/accounts/w/topups", `{"amount":"1000.00"}`, 201, nil)

		var o watan.Order
		c.call("POST", "/api/v1/orders", orderBody("p", "d", 2, "x", "o1"), 201, &o)
		// 2 × 40.00 TRY = 80.00 TRY at 34.8765 = 2.2938... USD → 2.29.
		if o.Price != 229 || o.Currency != "USD" || o.ListPrice != 8000 || o.ListCurrency != "TRY" || o.PriceGroupID == 0 {
			t.Fatalf("dealer order %+v", o)
		}
		o = watan.Order{}
		c.call("POST", "/api/v1/orders", orderBody("p", "w", 1, "x", "o2"), 201, &o)
		if o.Price != 4550 || o.Currency != "TRY" || o.PriceGroupID != 0 {
			t.Fatalf("walk-in order %+v", o)
		}

		today := time.Now().In(mustLoc(t, "Europe/Istanbul")).Format(time.DateOnly)
		var rep watan.Report
		c.call("GET", "/api/v1/reports?by=account&from="+today+"&to="+today, "", 200, &rep)
		if rep.Total.Orders != 2 || rep.Total.Pending != 2 || len(rep.Rows) != 2 || rep.BaseCurrency != "USD" {
			t.Fatalf("report %+v", rep)
		}
		c.call("GET", "/api/v1/reports?by=nothing", "", 422, nil)
		c.call("GET", "/api/v1/reports?from=yesterday", "", 422, nil)
		res := c.call("GET", "/api/v1/reports?format=csv", "", 200, nil)
		rows, err := csv.NewReader(strings.NewReader(string(res.body))).ReadAll()
		if err != nil || len(rows) != 1+30+1 || rows[0][6] != "sales_USD" || rows[31][0] != "total" || rows[31][2] != "2" {
			t.Fatalf("report CSV %q: %v", res.body, err)
		}
		if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Errorf("content type %q", ct)
		}

		var st watan.Statement
		c.call("GET", "/api/v1/accounts/d/statement", "", 200, &st)
		if st.Opening != 0 || len(st.Entries) != 2 || st.Closing != 10000-229 || st.Balance != st.Closing {
			t.Fatalf("statement %+v", st)
		}
		res = c.call("GET", "/api/v1/accounts/d/statement?format=csv&from="+today, "", 200, nil)
		rows, err = csv.NewReader(strings.NewReader(string(res.body))).ReadAll()
		if err != nil || len(rows) != 5 || rows[1][1] != "opening" || rows[4][1] != "closing" || rows[4][4] != "97.71" {
			t.Fatalf("statement CSV %q: %v", res.body, err)
		}
		c.call("GET", "/api/v1/accounts/nobody/statement", "", 404, nil)

		// Another tenant sees none of it.
		other := e.newTenant("other")
		other.call("GET", "/api/v1/packages/p/prices", "", 404, nil)
		var groups struct {
			PriceGroups []watan.PriceGroup `json:"price_groups"`
		}
		other.call("GET", "/api/v1/price-groups", "", 200, &groups)
		if len(groups.PriceGroups) != 0 {
			t.Errorf("another tenant sees price groups %+v", groups)
		}
	})
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
