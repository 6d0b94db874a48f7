package httpapi_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"watan/internal/engine"
	"watan/internal/httpapi"
	"watan/internal/jobs"
	"watan/internal/providers"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
	"watan/internal/webhooks"
)

func TestWebhookEndpointAndDeliveries(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, kind store.Engine) {
		ctx := context.Background()
		clock := providertest.NewManualClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
		st := storetest.OpenWith(t, storetest.Options{Engine: kind, Clock: clock})
		q, err := jobs.New(ctx, jobs.Config{DB: st.DB(), Postgres: kind == store.EnginePostgres})
		if err != nil {
			t.Fatal(err)
		}
		hooks, err := webhooks.New(webhooks.Config{Store: st, Queue: q, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		eng, err := engine.New(engine.Config{Store: st, Queue: q, Clock: clock, Notifier: hooks, Providers: providers.New(providers.Config{})})
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, st, httpapi.Config{Operator: eng, Webhooks: hooks})
		c := e.newTenant("shop")
		other := e.newTenant("other")
		type delivery struct {
			header http.Header
			body   []byte
		}
		var (
			mu  sync.Mutex
			got []delivery
		)
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			defer mu.Unlock()
			got = append(got, delivery{r.Header.Clone(), body})
		}))
		defer recv.Close()
		// verifyLast checks the latest delivery with the official Standard Webhooks
		// library. The timestamp is compared with the test's clock, not the real one
		// the library would use.
		verifyLast := func(whsec string) {
			t.Helper()
			mu.Lock()
			defer mu.Unlock()
			wh, err := standardwebhooks.NewWebhook(whsec)
			if err != nil {
				t.Fatal(err)
			}
			d := got[len(got)-1]
			if err := wh.VerifyIgnoringTimestamp(d.body, d.header); err != nil {
				t.Fatalf("delivery does not verify with %s: %v", whsec, err)
			}
			if ts := d.header.Get("webhook-timestamp"); ts != strconv.FormatInt(clock.Now().Unix(), 10) {
				t.Fatalf("webhook-timestamp %s, want the clock's Unix seconds", ts)
			}
		}

		wantError(t, "endpoint before one is set", c.send("GET", "/api/v1/webhook-endpoint", "", ""), 404, "not_found")
		wantError(t, "endpoint without a secret", c.send("PUT", "/api/v1/webhook-endpoint", "", `{"url":"`+recv.URL+`"}`), 422, "validation_failed")
		for _, bad := range []string{"whsec_not base64!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("fifteen bytes!!"))} {
			msg := wantError(t, "whsec_ secret "+bad, c.send("PUT", "/api/v1/webhook-endpoint", "", `{"url":"`+recv.URL+`","secret":"`+bad+`"}`), 422, "validation_failed")
			if !strings.HasPrefix(msg, "secret ") || strings.Contains(msg, bad) {
				t.Fatalf("error %q should name the secret field and not echo it", msg)
			}
		}
		const plain = "whsec-0123456789abcdef" // not the whsec_ form: its bytes are the key
		res := c.call("PUT", "/api/v1/webhook-endpoint", `{"url":"`+recv.URL+`","secret":"`+plain+`"}`, 200, nil)
		ep := c.call("GET", "/api/v1/webhook-endpoint", "", 200, nil)
		for _, r := range []*response{res, ep} {
			if strings.Contains(string(r.body), plain) || !strings.Contains(string(r.body), `"active":true`) {
				t.Fatalf("endpoint response %s", r)
			}
		}
		whsec := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a 24-byte key of bytes.."))
		c.call("PUT", "/api/v1/webhook-endpoint", `{"url":"`+recv.URL+`","secret":"`+whsec+`"}`, 200, nil)

		c.seed("manual", "cust1")
		var o struct {
			ID int64 `json:"id"`
		}
		c.call("POST", "/api/v1/orders", orderBody("manual", "cust1", 1, "p1", "w1"), 201, &o)
		if _, err := eng.Dispatch(ctx, c.tenant.ID, o.ID); err != nil {
			t.Fatal(err)
		}
		c.call("POST", fmt.Sprintf("/api/v1/orders/%d/approve", o.ID), `{"pin":"PIN-1"}`, 200, nil)

		var list struct {
			Deliveries []struct {
				ID       int64  `json:"id"`
				Event    string `json:"event"`
				Seq      int    `json:"seq"`
				State    string `json:"state"`
				Attempts int    `json:"attempts"`
				History  []struct {
					Attempt    int `json:"attempt"`
					StatusCode int `json:"status_code"`
				} `json:"history"`
			} `json:"deliveries"`
		}
		path := fmt.Sprintf("/api/v1/orders/%d/webhooks", o.ID)
		c.call("GET", path, "", 200, &list)
		if len(list.Deliveries) != 1 || list.Deliveries[0].Event != "order.approved" || list.Deliveries[0].State != "pending" {
			t.Fatalf("deliveries: %+v", list)
		}
		d := list.Deliveries[0]
		if err := hooks.Deliver(ctx, c.tenant.ID, d.ID, false); err != nil {
			t.Fatal(err)
		}
		verifyLast(whsec)
		c.call("GET", path, "", 200, &list)
		if d := list.Deliveries[0]; d.State != "delivered" || d.Attempts != 1 || len(d.History) != 1 || d.History[0].StatusCode != 200 {
			t.Fatalf("after delivery: %+v", d)
		}

		// A PUT without a secret keeps the whsec_ secret.
		c.call("PUT", "/api/v1/webhook-endpoint", `{"url":"`+recv.URL+`"}`, 200, nil)
		resend := fmt.Sprintf("/api/v1/webhook-deliveries/%d/resend", d.ID)
		c.call("POST", resend, "", 200, nil)
		c.call("GET", path, "", 200, &list)
		if list.Deliveries[0].State != "pending" {
			t.Fatalf("after resend: %+v", list.Deliveries[0])
		}
		clock.Advance(time.Minute)
		if err := hooks.Deliver(ctx, c.tenant.ID, d.ID, false); err != nil {
			t.Fatal(err)
		}
		verifyLast(whsec)

		wantError(t, "another tenant's order deliveries", other.send("GET", path, "", ""), 404, "not_found")
		wantError(t, "another tenant's resend", other.send("POST", resend, "", ""), 404, "not_found")
		wantError(t, "another tenant's endpoint", other.send("GET", "/api/v1/webhook-endpoint", "", ""), 404, "not_found")
	})
}
