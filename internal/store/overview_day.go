package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"watan"
)

// Day is how the tenant's day (UTC) went so far, what an operator starts the day
// with: orders taken, how many of them were decided which way, how long a PIN
// took, how long pending orders have waited, and the same per provider account.
type Day struct {
	Since    time.Time // midnight UTC
	Orders   int       // created since midnight
	Approved int       // of those, approved
	Rejected int       // of those, rejected
	// PIN50 and PIN95 are the median and 95th percentile of creation to
	// approval of the day's approved orders; zero without any.
	PIN50, PIN95 time.Duration
	// PendingByAge counts pending orders (of any day) by how long they have
	// waited: under 1 min, 1-5 min, 5-15 min, 15-60 min, over an hour.
	PendingByAge [5]int
	Providers    map[int64]ProviderDay
}

// ProviderDay is one provider account's share of the Day.
type ProviderDay struct {
	Approved, Rejected int
	PIN50              time.Duration
}

// PendingAgeBounds are the upper bounds of Day.PendingByAge's first four buckets.
var PendingAgeBounds = [4]time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour}

// maxDayRows bounds the decided orders the day's percentiles are taken over (the
// latest ones); the counts are exact.
const maxDayRows = 50000

// Day gathers the tenant's day up to now.
func (s *Store) Day(ctx context.Context, tenantID int64, now time.Time) (Day, error) {
	now = now.UTC()
	d := Day{Since: time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC), Providers: map[int64]ProviderDay{}}
	since := s.ts(d.Since)
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN status = 'approved' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END), 0)
		FROM orders WHERE tenant_id = $1 AND created_at >= $2`, tenantID, since).Scan(&d.Orders, &d.Approved, &d.Rejected)
	if err != nil {
		return d, fmt.Errorf("store: day counts: %w", err)
	}
	b := PendingAgeBounds
	err = s.db.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN created_at >= $2 THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN created_at < $2 AND created_at >= $3 THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN created_at < $3 AND created_at >= $4 THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN created_at < $4 AND created_at >= $5 THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN created_at < $5 THEN 1 ELSE 0 END), 0)
		FROM orders WHERE tenant_id = $1 AND status = 'pending'`, tenantID,
		s.ts(now.Add(-b[0])), s.ts(now.Add(-b[1])), s.ts(now.Add(-b[2])), s.ts(now.Add(-b[3]))).
		Scan(&d.PendingByAge[0], &d.PendingByAge[1], &d.PendingByAge[2], &d.PendingByAge[3], &d.PendingByAge[4])
	if err != nil {
		return d, fmt.Errorf("store: day pending by age: %w", err)
	}

	rows, err := s.db.QueryContext(ctx, `SELECT provider_account_id, status, created_at, completed_at FROM orders
		WHERE tenant_id = $1 AND created_at >= $2 AND status <> 'pending' ORDER BY id DESC LIMIT $3`, tenantID, since, maxDayRows)
	if err != nil {
		return d, fmt.Errorf("store: day orders: %w", err)
	}
	defer rows.Close()
	var all []time.Duration
	per := map[int64][]time.Duration{}
	for rows.Next() {
		var pa sql.NullInt64
		var st watan.Status
		var created time.Time
		var completed *time.Time
		if err := rows.Scan(&pa, &st, timeCol{&created}, nullTimeCol{&completed}); err != nil {
			return d, fmt.Errorf("store: day orders: %w", err)
		}
		p := d.Providers[pa.Int64]
		if st == watan.StatusApproved {
			p.Approved++
			if completed != nil {
				took := completed.Sub(created)
				all = append(all, took)
				if pa.Valid {
					per[pa.Int64] = append(per[pa.Int64], took)
				}
			}
		} else {
			p.Rejected++
		}
		if pa.Valid {
			d.Providers[pa.Int64] = p
		}
	}
	if err := rows.Err(); err != nil {
		return d, fmt.Errorf("store: day orders: %w", err)
	}
	d.PIN50, d.PIN95 = percentile(all, 50), percentile(all, 95)
	for id, ds := range per {
		p := d.Providers[id]
		p.PIN50 = percentile(ds, 50)
		d.Providers[id] = p
	}
	return d, nil
}

// percentile is the nearest-rank p-th percentile of ds (sorted in place); 0 for none.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := (len(ds)*p + 99) / 100
	return ds[max(i-1, 0)]
}
