package store_test

import (
	"testing"
	"time"

	"watan"
)

// The day's figures: orders taken today, how they were decided, time to PIN, and
// pending orders by age, per provider account too; yesterday's orders count only
// as pending by age.
func TestDay(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		b.account(t, b.tenant.ID, "c", 100_00, 0)
		b.pkg(t, b.tenant.ID, "p", 1_00)
		old := b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c", ClientOrderID: "old"})
		_ = old
		b.clock.Advance(24 * time.Hour)
		var os []watan.Order
		for _, id := range []string{"a", "b", "c", "d"} {
			os = append(os, b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c", ClientOrderID: id}))
		}
		b.clock.Advance(10 * time.Second)
		b.decide(t, os[0].ID, watan.StatusApproved)
		b.clock.Advance(20 * time.Second)
		b.decide(t, os[1].ID, watan.StatusApproved)
		b.decide(t, os[2].ID, watan.StatusRejected)
		b.clock.Advance(3 * time.Minute)

		d, err := b.s.Day(b.ctx, b.tenant.ID, b.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if d.Orders != 4 || d.Approved != 2 || d.Rejected != 1 {
			t.Errorf("day counts %d orders, %d approved, %d rejected; want 4, 2, 1", d.Orders, d.Approved, d.Rejected)
		}
		if d.PIN50 != 10*time.Second || d.PIN95 != 30*time.Second {
			t.Errorf("time to PIN p50 %s p95 %s, want 10s and 30s", d.PIN50, d.PIN95)
		}
		// Pending: d (3.5 min: 1-5 min) and yesterday's (over an hour).
		if d.PendingByAge != [5]int{0, 1, 0, 0, 1} {
			t.Errorf("pending by age %v", d.PendingByAge)
		}
		if p := d.Providers[0]; len(d.Providers) != 0 || p.Approved != 0 {
			t.Errorf("orders without a provider account counted under one: %+v", d.Providers)
		}
		other := b.newTenant(t, "other")
		if d, err := b.s.Day(b.ctx, other.ID, b.clock.Now()); err != nil || d.Orders != 0 || d.PendingByAge != [5]int{} {
			t.Errorf("another tenant's day: %+v %v", d, err)
		}
	})
}
