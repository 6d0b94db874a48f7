package store_test

import (
	"reflect"
	"testing"
	"time"

	"watan"
)

func ids(os []watan.Order) []int64 {
	out := []int64{}
	for _, o := range os {
		out = append(out, o.ID)
	}
	return out
}

func TestListOrders(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		b.account(t, b.tenant.ID, "c1", 100000, 0)
		b.pkg(t, b.tenant.ID, "p", 100)
		prov := b.provider(t, b.tenant.ID, "znet")
		var os []watan.Order // os[i] is order number i+1
		for i, player := range []string{"p-a", "p-b", "p-a", "p-c", "p-d", "p-e", "p-f", "p-a"} {
			// Orders 4, 5 and 6 share a creation time, so that pages must break
			// ties by id.
			if i != 4 && i != 5 {
				b.clock.Advance(time.Second)
			}
			n := watan.NewOrder{PackageCode: "p", AccountCode: "c1", PlayerID: player}
			if i == 1 {
				n.ClientOrderID = "coid-2"
			}
			os = append(os, b.order(t, n))
		}
		// What the engine will do later, done by hand.
		if _, err := b.s.DB().ExecContext(b.ctx, `UPDATE orders SET status = 'approved', provider_account_id = $1, provider_referans = '7001' WHERE id = $2`, prov.ID, os[2].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := b.s.DB().ExecContext(b.ctx, `UPDATE orders SET status = 'rejected' WHERE id = $1`, os[6].ID); err != nil {
			t.Fatal(err)
		}
		other := b.newTenant(t, "other")
		b.account(t, other.ID, "c1", 1000, 0)
		b.pkg(t, other.ID, "p", 100)
		b.order(t, watan.NewOrder{TenantID: other.ID, PackageCode: "p", AccountCode: "c1", PlayerID: "p-a"})

		newestFirst := []int64{os[7].ID, os[6].ID, os[5].ID, os[4].ID, os[3].ID, os[2].ID, os[1].ID, os[0].ID}
		page, err := b.s.ListOrders(b.ctx, watan.OrderFilter{TenantID: b.tenant.ID})
		if err != nil || !reflect.DeepEqual(ids(page.Orders), newestFirst) || page.NextCursor != "" {
			t.Fatalf("ListOrders = %v (next %q), %v; want %v", ids(page.Orders), page.NextCursor, err, newestFirst)
		}
		if found, _ := b.s.FindOrder(b.ctx, b.tenant.ID, os[2].ID); !reflect.DeepEqual(page.Orders[5], found) {
			t.Errorf("listed order =\n%+v\nfound\n%+v", page.Orders[5], found)
		}

		// Pages of 3 and of 4 (which divides the total evenly).
		for _, limit := range []int{1, 3, 4} {
			var all []int64
			f := watan.OrderFilter{TenantID: b.tenant.ID, Limit: limit}
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatalf("limit %d: pagination does not end", limit)
				}
				p, err := b.s.ListOrders(b.ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Orders) > limit {
					t.Fatalf("limit %d: page of %d", limit, len(p.Orders))
				}
				all = append(all, ids(p.Orders)...)
				if p.NextCursor == "" {
					break
				}
				f.Cursor = p.NextCursor
			}
			if !reflect.DeepEqual(all, newestFirst) {
				t.Errorf("limit %d: pages give %v, want %v", limit, all, newestFirst)
			}
		}

		for _, c := range []struct {
			name string
			f    watan.OrderFilter
			want []int64
		}{
			{"approved", watan.OrderFilter{Status: watan.StatusApproved}, []int64{os[2].ID}},
			{"rejected", watan.OrderFilter{Status: watan.StatusRejected}, []int64{os[6].ID}},
			{"pending", watan.OrderFilter{Status: watan.StatusPending}, []int64{os[7].ID, os[5].ID, os[4].ID, os[3].ID, os[1].ID, os[0].ID}},
			{"provider account", watan.OrderFilter{ProviderAccountID: prov.ID}, []int64{os[2].ID}},
			{"referans", watan.OrderFilter{Query: "7001"}, []int64{os[2].ID}},
			{"player", watan.OrderFilter{Query: "p-a"}, []int64{os[7].ID, os[2].ID, os[0].ID}},
			{"player and status", watan.OrderFilter{Query: "p-a", Status: watan.StatusPending}, []int64{os[7].ID, os[0].ID}},
			{"client order id", watan.OrderFilter{Query: "coid-2"}, []int64{os[1].ID}},
			{"number", watan.OrderFilter{Query: " 5 "}, []int64{os[4].ID}},
			{"no match", watan.OrderFilter{Query: "nobody"}, []int64{}},
			{"from", watan.OrderFilter{From: os[6].CreatedAt}, []int64{os[7].ID, os[6].ID}},
			{"to", watan.OrderFilter{To: os[1].CreatedAt}, []int64{os[0].ID}},
			{"from to", watan.OrderFilter{From: os[2].CreatedAt, To: os[6].CreatedAt}, []int64{os[5].ID, os[4].ID, os[3].ID, os[2].ID}},
		} {
			c.f.TenantID = b.tenant.ID
			p, err := b.s.ListOrders(b.ctx, c.f)
			if err != nil || !reflect.DeepEqual(ids(p.Orders), c.want) {
				t.Errorf("%s: ListOrders = %v, %v; want %v", c.name, ids(p.Orders), err, c.want)
			}
		}
		// A filtered listing pages too.
		p, err := b.s.ListOrders(b.ctx, watan.OrderFilter{TenantID: b.tenant.ID, Status: watan.StatusPending, Limit: 4})
		if err != nil || len(p.Orders) != 4 || p.NextCursor == "" {
			t.Fatalf("pending, limit 4 = %v, %q, %v", ids(p.Orders), p.NextCursor, err)
		}
		p, err = b.s.ListOrders(b.ctx, watan.OrderFilter{TenantID: b.tenant.ID, Status: watan.StatusPending, Limit: 4, Cursor: p.NextCursor})
		if want := []int64{os[1].ID, os[0].ID}; err != nil || !reflect.DeepEqual(ids(p.Orders), want) || p.NextCursor != "" {
			t.Fatalf("pending, page 2 = %v, %q, %v; want %v", ids(p.Orders), p.NextCursor, err, want)
		}

		for _, bad := range []watan.OrderFilter{{Cursor: "%%%"}, {Cursor: "bm9wZQ"}, {Status: "lost"}} {
			bad.TenantID = b.tenant.ID
			_, err := b.s.ListOrders(b.ctx, bad)
			wantCode(t, err, watan.ECodeValidation)
		}
	})
}
