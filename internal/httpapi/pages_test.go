package httpapi_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"watan"
	"watan/internal/httpapi"
	"watan/internal/store"
	"watan/internal/store/storetest"
	"watan/internal/webhooks"
)

// in returns the client reporting to t, for use in a subtest.
func (c *client) in(t *testing.T) *client {
	c2 := *c
	c2.t = t
	return &c2
}

// page is one page of any listing: its rows as they came, and the cursor.
type page struct {
	rows []json.RawMessage
	next string
}

// getPage reads one page of the listing at path (which may carry a query) and
// returns the rows of its field array.
func (c *client) getPage(path, field string, limit int, cursor string) page {
	c.t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	q := fmt.Sprintf("%s%slimit=%d", path, sep, limit)
	if cursor != "" {
		q += "&cursor=" + url.QueryEscape(cursor)
	}
	var body map[string]json.RawMessage
	c.call("GET", q, "", 200, &body)
	var p page
	if err := json.Unmarshal(body[field], &p.rows); err != nil || p.rows == nil {
		c.t.Fatalf("GET %s: field %q is not an array: %s (%v)", q, field, body[field], err)
	}
	if raw, ok := body["next_cursor"]; ok {
		if err := json.Unmarshal(raw, &p.next); err != nil || p.next == "" {
			c.t.Fatalf("GET %s: next_cursor %s: present, so it must be a cursor", q, raw)
		}
	}
	return p
}

// walk follows next_cursor through the API from cursor to the end in pages of
// limit, and returns each row's key in the order read. Every page but the last is
// full, the last one has no next_cursor, and the walk ends.
func (c *client) walk(path, field string, limit int, cursor string, key func(json.RawMessage) string) []string {
	c.t.Helper()
	var keys []string
	for pages := 0; ; pages++ {
		if pages > 500 {
			c.t.Fatalf("%s: the walk does not end", path)
		}
		p := c.getPage(path, field, limit, cursor)
		if len(p.rows) > limit || p.next != "" && len(p.rows) != limit {
			c.t.Fatalf("%s, limit %d: a page of %d rows with next_cursor %q", path, limit, len(p.rows), p.next)
		}
		for _, r := range p.rows {
			keys = append(keys, key(r))
		}
		if p.next == "" {
			return keys
		}
		cursor = p.next
	}
}

// keyField returns a key function reading one field of a row: numbers are padded
// to a fixed width, so that sorting keys as text sorts them as numbers.
func keyField(name string) func(json.RawMessage) string {
	return func(r json.RawMessage) string {
		var m map[string]any
		if err := json.Unmarshal(r, &m); err != nil {
			return "?" + string(r)
		}
		switch v := m[name].(type) {
		case float64:
			return fmt.Sprintf("%012d", int64(v))
		case string:
			return v
		}
		return fmt.Sprintf("?%v", m[name])
	}
}

// checkWalk walks a listing with several page sizes and wants exactly want, in its
// order; it also wants the stable refusals of malformed cursors and limits, and
// of foreign, a cursor of another listing.
func (c *client) checkWalk(name, path, field string, key func(json.RawMessage) string, want []string, foreign string) {
	c.t.Helper()
	for _, limit := range []int{1, 3, 4, len(want), 1000} {
		if got := c.walk(path, field, limit, "", key); !slices.Equal(got, want) {
			c.t.Errorf("%s, limit %d: the walk read\n%v\nwant\n%v", name, limit, got, want)
		}
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	for _, bad := range []string{"bm9wZQ", "not a cursor", foreign} {
		wantError(c.t, name+" with cursor "+bad, c.send("GET", path+sep+"cursor="+url.QueryEscape(bad), "", ""), 422, watan.ECodeValidation)
	}
	wantError(c.t, name+" with limit 0", c.send("GET", path+sep+"limit=0", "", ""), 422, watan.ECodeValidation)
	wantError(c.t, name+" with limit 1001", c.send("GET", path+sep+"limit=1001", "", ""), 422, watan.ECodeValidation)
	wantError(c.t, name+" with limit x", c.send("GET", path+sep+"limit=x", "", ""), 400, watan.ECodeBadRequest)
}

// listing is one list endpoint under test: how to add a row to it, and how its
// rows are ordered.
type listing struct {
	name, path, field, key string
	add                    func(c *client, i int) // adds row i
	n                      int                    // rows to add, more than one page
	desc                   bool                   // newest first
}

// TestListingsWalk walks each listing of the catalog, accounts and API keys
// through the API, page by page to the end: every row once, in the listing's order,
// none of another tenant's; another tenant given a cursor sees only its own rows.
func TestListingsWalk(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		a, b := e.newTenant("shop"), e.newTenant("other")
		for _, c := range []*client{a, b} {
			c.call("POST", "/api/v1/packages", `{"code":"mapped","name":"Mapped","price":"1.00","currency":"TRY"}`, 201, nil)
		}
		providerN := 0
		newProvider := func(c *client) int64 {
			providerN++
			var p struct {
				ID int64 `json:"id"`
			}
			c.call("POST", "/api/v1/provider-accounts", fmt.Sprintf(`{"kind":"znet","name":"znet %d","base_url":"https://znet.example/api",
				"credentials":{"kod":"k","sifre":"s"}}`, providerN), 201, &p)
			return p.ID
		}
		// i*7%23 visits 0..22 out of order, so that codes are not created in the
		// order they list in.
		listings := []listing{
			{name: "packages", path: "/api/v1/packages", field: "packages", key: "code", n: 23, add: func(c *client, i int) {
				c.call("POST", "/api/v1/packages", fmt.Sprintf(`{"code":"pkg-%03d","name":"P","price":"1.00","currency":"TRY"}`, i*7%23+i/23*100), 201, nil)
			}},
			{name: "accounts", path: "/api/v1/accounts", field: "accounts", key: "code", n: 23, add: func(c *client, i int) {
				c.call("POST", "/api/v1/accounts", fmt.Sprintf(`{"code":"acct-%03d","currency":"TRY"}`, i*7%23+i/23*100), 201, nil)
			}},
			{name: "provider accounts", path: "/api/v1/provider-accounts", field: "provider_accounts", key: "id", n: 9, add: func(c *client, i int) {
				newProvider(c)
			}},
			{name: "mappings", path: "/api/v1/packages/mapped/mappings", field: "mappings", key: "provider_account_id", n: 9, add: func(c *client, i int) {
				c.call("PUT", fmt.Sprintf("/api/v1/packages/mapped/mappings/%d", newProvider(c)), `{"product_id":"1"}`, 200, nil)
			}},
			{name: "code groups", path: "/api/v1/code-groups", field: "code_groups", key: "id", n: 9, add: func(c *client, i int) {
				c.call("POST", "/api/v1/code-groups", fmt.Sprintf(`{"name":"group %d"}`, i), 201, nil)
			}},
			{name: "api keys", path: "/api/v1/api-keys", field: "api_keys", key: "id", n: 9, add: func(c *client, i int) {
				c.call("POST", "/api/v1/api-keys", fmt.Sprintf(`{"name":"key %d"}`, i), 201, nil)
			}},
		}
		firstCursors := map[string]string{}
		// A cursor of the other tenant's API keys, for the first listing to refuse.
		b.call("POST", "/api/v1/api-keys", `{"name":"second"}`, 201, nil)
		keyCursor := b.getPage("/api/v1/api-keys", "api_keys", 1, "").next
		for li, l := range listings {
			t.Run(strings.ReplaceAll(l.name, " ", "_"), func(t *testing.T) {
				a, b := a.in(t), b.in(t)
				key := keyField(l.key)
				for i := range l.n {
					l.add(a, i)
				}
				for i := range 3 {
					l.add(b, 23+i) // other codes than a's
				}
				// What the listing holds, from one page, sorted the listing's way.
				var want []string
				for _, r := range a.getPage(l.path, l.field, 1000, "").rows {
					want = append(want, key(r))
				}
				slices.Sort(want)
				if len(want) < l.n {
					t.Fatalf("%s: %d rows, added %d", l.name, len(want), l.n)
				}
				foreign := firstCursors[listings[(li+len(listings)-1)%len(listings)].name]
				if li == 0 {
					foreign = keyCursor
				}
				a.checkWalk(l.name, l.path, l.field, key, want, foreign)
				first := a.getPage(l.path, l.field, 1, "").next
				firstCursors[l.name] = first

				var bKeys []string
				for _, r := range b.getPage(l.path, l.field, 1000, "").rows {
					bKeys = append(bKeys, key(r))
				}
				for _, k := range b.walk(l.path, l.field, 2, first, key) {
					if !slices.Contains(bKeys, k) {
						t.Errorf("%s: the other tenant, given a cursor of shop's, read %s, not its own", l.name, k)
					}
				}
			})
		}
	})
}

// TestCodesWalk pages through a code group's codes through the API: every code
// once, in import order, by status; never a PIN, used or not.
func TestCodesWalk(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c, other := e.newTenant("shop"), e.newTenant("other")
		c.seed("pubg60", "cust1")
		var g, og struct {
			ID int64 `json:"id"`
		}
		c.call("POST", "/api/v1/code-groups", `{"name":"stock"}`, 201, &g)
		other.call("POST", "/api/v1/code-groups", `{"name":"stock"}`, 201, &og)
		var pins []string
		var csv strings.Builder
		for i := range 25 {
			pin := fmt.Sprintf("SECRET-PIN-%04d", i)
			pins = append(pins, pin)
			fmt.Fprintln(&csv, pin)
		}
		path := fmt.Sprintf("/api/v1/code-groups/%d/codes", g.ID)
		if res := c.send("POST", path, "text/csv", csv.String()); res.status != 200 {
			t.Fatal(res)
		}
		if res := other.send("POST", fmt.Sprintf("/api/v1/code-groups/%d/codes", og.ID), "text/csv", "OTHER-PIN-1\nOTHER-PIN-2\n"); res.status != 200 {
			t.Fatal(res)
		}
		// Hand four codes to orders, as a dispatch through the stock would.
		usedBy := map[string]int64{}
		for i := range 4 {
			var o struct {
				ID int64 `json:"id"`
			}
			c.call("POST", "/api/v1/orders", orderBody("pubg60", "cust1", 1, "5123", fmt.Sprint("codes-", i)), 201, &o)
			err := e.st.InTx(ctx, func(tx *sql.Tx) error {
				_, err := e.st.TakeCodeTx(ctx, tx, c.tenant.ID, g.ID, o.ID)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			usedBy[fmt.Sprint(i)] = o.ID
		}
		key := keyField("id")
		var all, used, available []string
		for i, r := range c.getPage(path, "codes", 1000, "").rows {
			var code struct {
				ID      int64   `json:"id"`
				GroupID int64   `json:"group_id"`
				Status  string  `json:"status"`
				OrderID int64   `json:"order_id"`
				UsedAt  *string `json:"used_at"`
			}
			if err := json.Unmarshal(r, &code); err != nil {
				t.Fatal(err)
			}
			all = append(all, key(r))
			if i < 4 {
				if code.Status != "used" || code.OrderID != usedBy[fmt.Sprint(i)] || code.UsedAt == nil {
					t.Errorf("code %d: %s, want used by order %d", i, r, usedBy[fmt.Sprint(i)])
				}
				used = append(used, key(r))
			} else {
				if code.Status != "available" || code.OrderID != 0 || code.UsedAt != nil {
					t.Errorf("code %d: %s, want available", i, r)
				}
				available = append(available, key(r))
			}
		}
		if len(all) != 25 || !slices.IsSorted(all) {
			t.Fatalf("codes: %v", all)
		}
		c.call("POST", "/api/v1/code-groups", `{"name":"second"}`, 201, nil)
		foreign := c.getPage("/api/v1/code-groups", "code_groups", 1, "").next
		c.checkWalk("codes", path, "codes", key, all, foreign)
		c.checkWalk("used codes", path+"?status=used", "codes", key, used, foreign)
		c.checkWalk("available codes", path+"?status=available", "codes", key, available, foreign)
		// The default page is 100 codes.
		var p struct {
			Codes      []json.RawMessage `json:"codes"`
			NextCursor *string           `json:"next_cursor"`
		}
		c.call("GET", path, "", 200, &p)
		if len(p.Codes) != 25 || p.NextCursor != nil {
			t.Errorf("default page: %d codes, next_cursor %v", len(p.Codes), p.NextCursor)
		}

		wantError(t, "status sold", c.send("GET", path+"?status=sold", "", ""), 422, watan.ECodeValidation)
		wantError(t, "another tenant's group", other.send("GET", path, "", ""), 404, watan.ECodeNotFound)
		wantError(t, "no such group", c.send("GET", "/api/v1/code-groups/999999/codes", "", ""), 404, watan.ECodeNotFound)
		first := c.getPage(path, "codes", 1, "").next
		if got := other.walk(fmt.Sprintf("/api/v1/code-groups/%d/codes", og.ID), "codes", 1, first, key); len(got) != 2 {
			t.Errorf("the other tenant, given shop's cursor, read %v; want its own 2 codes", got)
		}
		for _, body := range *c.bodies {
			for _, pin := range pins {
				if strings.Contains(body, pin) {
					t.Fatalf("a response carries PIN %s: %s", pin, body)
				}
			}
		}
	})
}

// noQueue stands in for the job queue of webhook deliveries in tests that only
// list them.
type noQueue struct{}

func (noQueue) EnqueueWebhookTx(context.Context, *sql.Tx, int64, int64) error { return nil }

// TestWebhookDeliveriesWalk pages through an order's webhook deliveries and
// through the tenant's, newest first, by state, through the API.
func TestWebhookDeliveriesWalk(t *testing.T) {
	storetest.Run(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		ctx := context.Background()
		st := open(t)
		hooks, err := webhooks.New(webhooks.Config{Store: st, Queue: noQueue{}})
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, st, httpapi.Config{Webhooks: hooks})
		c, other := e.newTenant("shop"), e.newTenant("other")
		newOrder := func(c *client, clientID string) int64 {
			var o struct {
				ID int64 `json:"id"`
			}
			c.call("POST", "/api/v1/orders", orderBody("pubg60", "cust1", 1, "5123", clientID), 201, &o)
			return o.ID
		}
		deliver := func(c *client, order int64) int64 {
			var id int64
			err := st.InTx(ctx, func(tx *sql.Tx) error {
				d, created, err := st.CreateWebhookDeliveryTx(ctx, tx, c.tenant.ID, order, "order.sent", func(seq int) ([]byte, error) {
					return fmt.Appendf(nil, `{"seq":%d}`, seq), nil
				})
				if err == nil && !created {
					err = fmt.Errorf("no delivery created")
				}
				id = d.ID
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		for _, x := range []*client{c, other} {
			x.seed("pubg60", "cust1")
			x.call("PUT", "/api/v1/webhook-endpoint", `{"url":"https://shop.example/hook","secret":"0123456789abcdef"}`, 200, nil)
		}
		o1, o2 := newOrder(c, "o1"), newOrder(c, "o2")
		oo := newOrder(other, "oo")
		byState := map[string][]string{}
		var seqs []string
		for i := range 17 {
			order := o1
			if i%3 == 2 {
				order = o2
			} else {
				seqs = append(seqs, fmt.Sprintf("%012d", len(seqs)+1))
			}
			id := deliver(c, order)
			state := watan.WebhookPending
			switch {
			case i%4 == 0:
				state = watan.WebhookDelivered
				if _, err := st.RecordWebhookAttempt(ctx, c.tenant.ID, id, watan.WebhookAttempt{At: time.Now(), StatusCode: 200}, false); err != nil {
					t.Fatal(err)
				}
			case i%5 == 1:
				state = watan.WebhookFailed
				if _, err := st.RecordWebhookAttempt(ctx, c.tenant.ID, id, watan.WebhookAttempt{At: time.Now(), StatusCode: 503}, true); err != nil {
					t.Fatal(err)
				}
			}
			k := fmt.Sprintf("%012d", id)
			byState[state] = append([]string{k}, byState[state]...) // newest first
			byState[""] = append([]string{k}, byState[""]...)
		}
		for range 3 {
			deliver(other, oo)
		}

		orderPath := fmt.Sprintf("/api/v1/orders/%d/webhooks", o1)
		foreign := c.getPage("/api/v1/webhook-deliveries", "deliveries", 1, "").next
		c.checkWalk("an order's deliveries", orderPath, "deliveries", keyField("seq"), seqs, foreign)
		orderFirst := c.getPage(orderPath, "deliveries", 1, "").next
		// Attempts come with each delivery, on whichever page it falls.
		attempts := 0
		for _, limit := range []int{2, 1000} {
			n, cursor := 0, ""
			for {
				var p struct {
					Deliveries []struct {
						Attempts int               `json:"attempts"`
						History  []json.RawMessage `json:"history"`
					} `json:"deliveries"`
					NextCursor string `json:"next_cursor"`
				}
				c.call("GET", fmt.Sprintf("%s?limit=%d&cursor=%s", orderPath, limit, url.QueryEscape(cursor)), "", 200, &p)
				for _, d := range p.Deliveries {
					if len(d.History) != d.Attempts {
						t.Errorf("limit %d: a delivery with %d attempts lists %d", limit, d.Attempts, len(d.History))
					}
					n += d.Attempts
				}
				if p.NextCursor == "" {
					break
				}
				cursor = p.NextCursor
			}
			if limit == 2 {
				attempts = n
			} else if n != attempts || n == 0 {
				t.Errorf("attempts: %d in pages of 2, %d in one page", attempts, n)
			}
		}

		for _, state := range []string{"", watan.WebhookPending, watan.WebhookDelivered, watan.WebhookFailed} {
			path := "/api/v1/webhook-deliveries"
			if state != "" {
				path += "?status=" + state
			}
			c.checkWalk("deliveries "+state, path, "deliveries", keyField("id"), byState[state], orderFirst)
		}
		wantError(t, "status lost", c.send("GET", "/api/v1/webhook-deliveries?status=lost", "", ""), 422, watan.ECodeValidation)
		wantError(t, "another tenant's order", other.send("GET", orderPath, "", ""), 404, watan.ECodeNotFound)
		// The other tenant's deliveries are newer than all of shop's: given shop's
		// cursor it reads none of shop's, and on its own it reads its three.
		if got := other.walk("/api/v1/webhook-deliveries", "deliveries", 2, foreign, keyField("id")); len(got) != 0 {
			t.Errorf("the other tenant, given shop's cursor, read %v", got)
		}
		if got := other.walk("/api/v1/webhook-deliveries", "deliveries", 2, "", keyField("id")); len(got) != 3 || slices.ContainsFunc(got, func(k string) bool { return slices.Contains(byState[""], k) }) {
			t.Errorf("the other tenant's deliveries: %v", got)
		}
		if got := other.walk(fmt.Sprintf("/api/v1/orders/%d/webhooks", oo), "deliveries", 2, orderFirst, keyField("seq")); len(got) != 2 {
			t.Errorf("the other tenant's order after shop's cursor (seq 1): %v, want seq 2 and 3", got)
		}
	})
}
