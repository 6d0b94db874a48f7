package httpapi_test

import (
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"watan"
	"watan/internal/httpapi"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// TestDatabaseDownIs503: when the connection to PostgreSQL is cut, requests get
// 503 unavailable with Retry-After — a client retries — never 500 internal.
func TestDatabaseDownIs503(t *testing.T) {
	if os.Getenv(storetest.EnvDatabaseURL) == "" {
		t.Log("needs PostgreSQL (" + storetest.EnvDatabaseURL + "); the SQLite file cannot go away")
		return
	}
	proxy, viaProxy := storetest.NewProxy(t, storetest.URL(t, store.EnginePostgres))
	st, err := store.Open(t.Context(), store.Config{URL: viaProxy})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, st, httpapi.Config{Unavailable: store.IsUnavailable})
	c := e.newTenant("shop")
	c.seed("pubg60", "cust1")

	proxy.Cut()
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/v1/orders", ""},
		{"POST", "/api/v1/orders", orderBody("pubg60", "cust1", 1, "5123", "during-outage")},
		{"GET", "/api/v1/accounts/cust1", ""},
	} {
		req := httptest.NewRequest(r.method, "http://watan.test"+r.path, strings.NewReader(r.body))
		if r.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+c.key)
		res := c.serve(req)
		wantError(t, r.method+" "+r.path, res, 503, watan.ECodeUnavailable)
		if res.header.Get("Retry-After") == "" {
			t.Errorf("%s %s: no Retry-After", r.method, r.path)
		}
	}
}
