package watanapi_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"watan"
	"watan/internal/httpapi"
	"watan/internal/store"
	"watan/internal/store/storetest"
	"watan/internal/watanapi"
)

// upstream is a real watan API (handler and store, no engine: its orders stay
// pending) with one tenant, one package and one funded customer account.
type upstream struct {
	st     *store.Store
	srv    *httptest.Server
	tenant watan.Tenant
	key    string
}

func startUpstream(t *testing.T, st *store.Store) *upstream {
	t.Helper()
	ctx := context.Background()
	u := &upstream{st: st}
	var err error
	if u.tenant, err = st.CreateTenant(ctx, "upstream"); err != nil {
		t.Fatal(err)
	}
	if _, u.key, err = st.CreateAPIKey(ctx, u.tenant.ID, "downstream"); err != nil {
		t.Fatal(err)
	}
	if _, err = st.CreatePackage(ctx, watan.Package{TenantID: u.tenant.ID, Code: "pubg-60", Name: "PUBG 60 UC", Price: 40_00,
		Currency: "TRY", Active: true, Routing: watan.Routing{Mode: watan.RouteManual}}); err != nil {
		t.Fatal(err)
	}
	if _, err = st.CreatePackage(ctx, watan.Package{TenantID: u.tenant.ID, Code: "old", Name: "Old", Price: 1_00,
		Currency: "TRY", Active: false, Routing: watan.Routing{Mode: watan.RouteManual}}); err != nil {
		t.Fatal(err)
	}
	if _, err = st.CreateAccount(ctx, u.tenant.ID, watan.NewAccount{Code: "reseller-a", Name: "Reseller A", Currency: "TRY"}); err != nil {
		t.Fatal(err)
	}
	if _, err = st.TopUp(ctx, u.tenant.ID, "reseller-a", 100_00, "opening"); err != nil {
		t.Fatal(err)
	}
	h := httpapi.New(httpapi.Config{Tenants: st, Accounts: st, Catalog: st, Orders: st, Logger: slog.New(slog.DiscardHandler)})
	u.srv = httptest.NewServer(h)
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) client(t *testing.T, key, account string) *watanapi.Client {
	t.Helper()
	c, err := watanapi.New(watanapi.Config{BaseURL: u.srv.URL, APIKey: watan.Secret(key), Account: account})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func place(ref, pkg string) watan.PlaceRequest {
	return watan.PlaceRequest{Referans: ref, ProductID: pkg, Quantity: 1, PlayerID: "5123456789"}
}

// The client against a real watan API: placement, idempotent repeat, check by
// reference and by id, refusals mapped to reject reasons, balance and catalog.
func TestAgainstRealAPI(t *testing.T) {
	storetest.Run(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		ctx := context.Background()
		u := startUpstream(t, open(t))
		c := u.client(t, u.key, "reseller-a")

		res, err := c.Place(ctx, place("100000000000101", "pubg-60"))
		if err != nil || res.Outcome != watan.PlaceAccepted || res.ProviderOrderID == "" {
			t.Fatalf("place: %+v, %v", res, err)
		}
		again, err := c.Place(ctx, place("100000000000101", "pubg-60"))
		if err != nil || again.Outcome != watan.PlaceAccepted || again.ProviderOrderID != res.ProviderOrderID {
			t.Fatalf("repeat: %+v, %v; want the same order %s", again, err, res.ProviderOrderID)
		}
		bal, err := c.Balance(ctx)
		if err != nil || bal.Amount != "60.00" || bal.Currency != "TRY" {
			t.Fatalf("balance after one order (the repeat debits nothing): %+v, %v", bal, err)
		}

		got, err := c.Check(ctx, []watan.CheckRef{
			{Referans: "100000000000101"},
			{Referans: "100000000000101", ProviderOrderID: res.ProviderOrderID},
			{Referans: "100000000000999"},
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []watan.CheckOutcome{watan.CheckPending, watan.CheckPending, watan.CheckNotFound}
		for i, r := range got {
			if r.Outcome != want[i] {
				t.Errorf("check %d: %+v, want %s", i, r, want[i])
			}
		}
		if got[0].ProviderOrderID != res.ProviderOrderID {
			t.Errorf("check by reference found order %q, want %q", got[0].ProviderOrderID, res.ProviderOrderID)
		}

		for _, tt := range []struct {
			name string
			req  watan.PlaceRequest
			acct string
			want watan.RejectReason
		}{
			{"out of balance", watan.PlaceRequest{Referans: "100000000000201", ProductID: "pubg-60", Quantity: 2, PlayerID: "1"}, "reseller-a", watan.ReasonOutOfBalance},
			{"unknown package", place("100000000000301", "nope"), "reseller-a", watan.ReasonProductUnavailable},
			{"inactive package", place("100000000000401", "old"), "reseller-a", watan.ReasonProductUnavailable},
			{"unknown account", place("100000000000501", "pubg-60"), "nobody", watan.ReasonMisconfigured},
			{"bad player id", watan.PlaceRequest{Referans: "100000000000601", ProductID: "pubg-60", Quantity: 1, PlayerID: "a\u202eb"}, "reseller-a", watan.ReasonBadInput},
		} {
			res, err := u.client(t, u.key, tt.acct).Place(ctx, tt.req)
			if err != nil || res.Outcome != watan.PlaceRejected || res.Reason != tt.want {
				t.Errorf("%s: %+v, %v; want rejected %s", tt.name, res, err, tt.want)
			}
			if !tt.want.Fallbackable() && tt.want != watan.ReasonBadInput {
				t.Errorf("%s: reason %s does not allow the fallback", tt.name, tt.want)
			}
		}

		products, err := c.Catalog(ctx)
		if err != nil || len(products) != 2 || products[1].ID != "pubg-60" || products[1].Price != "40.00" || !products[1].Available || products[0].Available {
			t.Fatalf("catalog: %+v, %v", products, err)
		}

		_, err = u.client(t, "wtn_wrong", "reseller-a").Place(ctx, place("100000000000701", "pubg-60"))
		if !watan.IsMisconfigured(err) || !errors.Is(err, watanapi.ErrUnauthorized) || strings.Contains(err.Error(), "wtn_wrong") {
			t.Fatalf("wrong key: %v; want the misconfiguration signal, without the key", err)
		}
	})
}

// Answers the API gives only through an engine (final orders) or through
// infrastructure (503, a web page), as fixtures.
func TestAnswerFixtures(t *testing.T) {
	const approved = `{"id":7,"number":7,"status":"approved","provider_state":"delivered","pin":"AB12-CD34","price":"40.00"}`
	const rejected = `{"id":8,"number":8,"status":"rejected","provider_state":"failed","provider_message":"cancelled","price":"40.00"}`
	cases := []struct {
		name      string
		status    int
		body      string
		place     watan.PlaceOutcome
		check     watan.CheckOutcome
		failure   watan.FailureKind
		pin       string
		orderID   string
		checkFail watan.FailureKind
	}{
		{name: "approved", status: 200, body: approved, place: watan.PlaceDelivered, check: watan.CheckDelivered, pin: "AB12-CD34", orderID: "7"},
		{name: "rejected", status: 200, body: rejected, place: watan.PlaceUnknown, check: watan.CheckFailed, orderID: "8"},
		{name: "unavailable", status: 503, body: `{"error":{"code":"unavailable","message":"database"}}`, place: watan.PlaceUnknown, failure: watan.FailTransport, checkFail: watan.FailTransport},
		{name: "rate limited", status: 429, body: `{"error":{"code":"rate_limited","message":"slow down"}}`, place: watan.PlaceUnknown, failure: watan.FailTransport, checkFail: watan.FailTransport},
		{name: "web page", status: 200, body: `<!DOCTYPE html><html></html>`, place: watan.PlaceUnknown, failure: watan.FailMisconfigured, checkFail: watan.FailMisconfigured},
		{name: "not an order", status: 200, body: `{"id":0}`, place: watan.PlaceUnknown, failure: watan.FailProtocol, checkFail: watan.FailProtocol},
		{name: "nginx 404", status: 404, body: `<html>404</html>`, place: watan.PlaceUnknown, failure: watan.FailMisconfigured, checkFail: watan.FailMisconfigured},
		{name: "conflict", status: 409, body: `{"error":{"code":"conflict","message":"busy"}}`, place: watan.PlaceUnknown, checkFail: watan.FailProtocol},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer wtn_key" {
					t.Errorf("authorization header %q", r.Header.Get("Authorization"))
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, err := watanapi.New(watanapi.Config{BaseURL: srv.URL + "/api/v1/", APIKey: "wtn_key", Account: "a"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Place(context.Background(), place("100000000000101", "p"))
			if res.Outcome != tt.place || failureKind(err) != tt.failure || res.PIN != tt.pin {
				t.Errorf("place: %+v, %v; want %s, failure %q", res, err, tt.place, tt.failure)
			}
			got, err := c.Check(context.Background(), []watan.CheckRef{{Referans: "100000000000101"}})
			if failureKind(err) != tt.checkFail {
				t.Fatalf("check error %v, want failure %q", err, tt.checkFail)
			}
			if err == nil && (got[0].Outcome != tt.check || got[0].PIN != tt.pin || got[0].ProviderOrderID != tt.orderID) {
				t.Errorf("check: %+v, want %s", got[0], tt.check)
			}
		})
	}
}

func failureKind(err error) watan.FailureKind {
	if pe, ok := errors.AsType[*watan.ProviderError](err); ok {
		return pe.Kind
	}
	return ""
}
