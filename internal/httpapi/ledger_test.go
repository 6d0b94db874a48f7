package httpapi_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"watan"
)

// TestLedgerWalk reads a ledger of 5,000 entries page by page through the API
// while new entries are being added, and gets every entry that existed when the
// walk began exactly once, newest first.
func TestLedgerWalk(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := e.newTenant("shop")
		c.seed("pubg60", "cust1") // one top-up
		for i := range 4999 {
			if _, err := e.st.TopUp(ctx, c.tenant.ID, "cust1", 1, fmt.Sprintf("t%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		type page struct {
			Entries    []watan.LedgerEntry `json:"entries"`
			NextCursor string              `json:"next_cursor"`
		}
		var got []int64
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatal("the walk does not end")
			}
			var p page
			c.call("GET", "/api/v1/accounts/cust1/ledger?limit=333&cursor="+url.QueryEscape(cursor), "", 200, &p)
			for _, en := range p.Entries {
				got = append(got, en.ID)
			}
			// Meanwhile the account keeps moving.
			if _, err := e.st.TopUp(ctx, c.tenant.ID, "cust1", 1, "during the walk"); err != nil {
				t.Fatal(err)
			}
			if p.NextCursor == "" {
				break
			}
			cursor = p.NextCursor
		}
		if len(got) != 5000 {
			t.Fatalf("the walk read %d entries, want 5000", len(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i] >= got[i-1] {
				t.Fatalf("entry %d (id %d) after id %d: not newest first, or read twice", i, got[i], got[i-1])
			}
		}
		res := c.send("GET", "/api/v1/accounts/cust1/ledger?cursor=bm9wZQ", "", "")
		wantError(t, "bad cursor", res, 422, watan.ECodeValidation)
	})
}

// TestOrderEventsWalk pages through an order's timeline: every event once, oldest
// first, including those appended during the walk.
func TestOrderEventsWalk(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := e.newTenant("shop")
		c.seed("pubg60", "cust1")
		var o struct {
			ID int64 `json:"id"`
		}
		c.call("POST", "/api/v1/orders", orderBody("pubg60", "cust1", 1, "5123", "walk"), 201, &o)
		for i := range 24 {
			if _, err := e.st.AddOrderEvent(ctx, watan.OrderEvent{TenantID: c.tenant.ID, OrderID: o.ID, Kind: watan.EventNote, Message: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
		var got []int64
		cursor := ""
		for pages := 0; pages < 50; pages++ {
			var p struct {
				Events     []watan.OrderEvent `json:"events"`
				NextCursor string             `json:"next_cursor"`
			}
			c.call("GET", fmt.Sprintf("/api/v1/orders/%d/events?limit=7&cursor=%s", o.ID, url.QueryEscape(cursor)), "", 200, &p)
			for _, ev := range p.Events {
				got = append(got, ev.ID)
			}
			if pages == 1 { // appended during the walk: read on a later page
				if _, err := e.st.AddOrderEvent(ctx, watan.OrderEvent{TenantID: c.tenant.ID, OrderID: o.ID, Kind: watan.EventNote, Message: "late"}); err != nil {
					t.Fatal(err)
				}
			}
			if p.NextCursor == "" {
				break
			}
			cursor = p.NextCursor
		}
		if len(got) != 26 { // created + 24 notes + the late one
			t.Fatalf("walk read %d events, want 26", len(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Fatalf("events out of order or twice at %d", i)
			}
		}
	})
}
