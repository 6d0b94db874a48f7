package store

import (
	"context"
	"fmt"
	"time"

	"watan"
)

// Overview is what the dashboard's overview page shows of one tenant.
type Overview struct {
	// Counts has the number of orders in each status.
	Counts map[watan.Status]int
	// PerMinute has the orders created in each of the 60 minutes before Now, oldest
	// first: PerMinute[59] is the last minute.
	PerMinute [60]int
	// StalePending counts pending orders created before Now minus the threshold, and
	// Stale lists the oldest of them.
	StalePending int
	Stale        []watan.Order
	// TimeoutsToday counts orders rejected at their deadline since midnight UTC.
	TimeoutsToday int
	Now           time.Time
}

// timeoutEvent is the engine's event kind for an order rejected at its deadline
// (engine.EventTimeout); the store does not import the engine.
const timeoutEvent = "timeout"

// Overview gathers the tenant's overview at now: counts by status, orders per minute
// over the last hour, pending orders older than staleAfter (the oldest limit of
// them) and today's timeouts.
func (s *Store) Overview(ctx context.Context, tenantID int64, now time.Time, staleAfter time.Duration, limit int) (Overview, error) {
	now = now.UTC().Truncate(time.Microsecond)
	ov := Overview{Counts: map[watan.Status]int{}, Now: now}
	rows, err := s.db.QueryContext(ctx, `SELECT status, COUNT(*) FROM orders WHERE tenant_id = $1 GROUP BY status`, tenantID)
	if err != nil {
		return ov, fmt.Errorf("store: overview counts: %w", err)
	}
	for rows.Next() {
		var st watan.Status
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			rows.Close()
			return ov, fmt.Errorf("store: overview counts: %w", err)
		}
		ov.Counts[st] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return ov, fmt.Errorf("store: overview counts: %w", err)
	}

	// Minutes are numbered from the start of the hour window; grouping in SQL keeps a
	// busy hour (hundreds of thousands of orders) from crossing the wire.
	start := now.Add(-time.Hour)
	minute := `CAST((o.created_at - $2) / 60000000 AS INTEGER)`
	if s.engine == EnginePostgres {
		minute = `CAST(FLOOR(EXTRACT(EPOCH FROM (o.created_at - CAST($2 AS TIMESTAMPTZ))) / 60) AS INTEGER)`
	}
	rows, err = s.db.QueryContext(ctx, `SELECT `+minute+` AS m, COUNT(*) FROM orders o
		WHERE o.tenant_id = $1 AND o.created_at >= $2 AND o.created_at < $3 GROUP BY m`, tenantID, s.ts(start), s.ts(now))
	if err != nil {
		return ov, fmt.Errorf("store: overview per minute: %w", err)
	}
	for rows.Next() {
		var m, n int
		if err := rows.Scan(&m, &n); err != nil {
			rows.Close()
			return ov, fmt.Errorf("store: overview per minute: %w", err)
		}
		if m >= 0 && m < len(ov.PerMinute) {
			ov.PerMinute[m] += n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return ov, fmt.Errorf("store: overview per minute: %w", err)
	}

	before := s.ts(now.Add(-staleAfter))
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders o WHERE o.tenant_id = $1 AND o.status = 'pending' AND o.created_at < $2`,
		tenantID, before).Scan(&ov.StalePending); err != nil {
		return ov, fmt.Errorf("store: overview stale: %w", err)
	}
	if limit <= 0 {
		limit = 20
	}
	rows, err = s.db.QueryContext(ctx, `SELECT `+orderColumns+orderFrom+` WHERE o.tenant_id = $1 AND o.status = 'pending' AND o.created_at < $2
		ORDER BY o.created_at, o.id LIMIT $3`, tenantID, before, limit)
	if err != nil {
		return ov, fmt.Errorf("store: overview stale: %w", err)
	}
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			rows.Close()
			return ov, fmt.Errorf("store: overview stale: %w", err)
		}
		ov.Stale = append(ov.Stale, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return ov, fmt.Errorf("store: overview stale: %w", err)
	}

	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM order_events WHERE tenant_id = $1 AND kind = $2 AND at >= $3`,
		tenantID, timeoutEvent, s.ts(midnight)).Scan(&ov.TimeoutsToday); err != nil {
		return ov, fmt.Errorf("store: overview timeouts: %w", err)
	}
	return ov, nil
}

// PendingByProvider counts the tenant's pending orders per provider account.
func (s *Store) PendingByProvider(ctx context.Context, tenantID int64) (map[int64]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT provider_account_id, COUNT(*) FROM orders
		WHERE tenant_id = $1 AND status = 'pending' AND provider_account_id IS NOT NULL GROUP BY provider_account_id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: pending by provider: %w", err)
	}
	defer rows.Close()
	m := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("store: pending by provider: %w", err)
		}
		m[id] = n
	}
	return m, rows.Err()
}
