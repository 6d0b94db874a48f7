package store

import (
	"context"
	"fmt"
	"time"
)

// Cluster-wide limits per provider account (migration 0017). The engine takes a
// lease on one of an account's max_in_flight slots before each call and gives it
// back after; on PostgreSQL every node takes them from the same table, so the limit
// holds across the cluster. Times come from the database's clock on PostgreSQL, so
// that nodes whose clocks differ still agree on when a lease expires.

// AcquireCallLease takes a free or expired slot of the account's slots for holder
// until ttl from now. ok is false when all slots are held; the caller waits and
// tries again. holder must be unique per call.
func (s *Store) AcquireCallLease(ctx context.Context, accountID int64, slots int, holder string, ttl time.Duration) (slot int, ok bool, err error) {
	var q string
	args := []any{accountID, holder, slots}
	if s.engine == EnginePostgres {
		q = `INSERT INTO provider_call_leases AS l (provider_account_id, slot, holder, expires_at)
			SELECT $1, g.slot, $2, clock_timestamp() + make_interval(secs => $4)
			FROM generate_series(0, $3::integer - 1) AS g(slot)
			WHERE NOT EXISTS (SELECT 1 FROM provider_call_leases x
				WHERE x.provider_account_id = $1 AND x.slot = g.slot AND x.expires_at > clock_timestamp())
			ORDER BY random() LIMIT 1
			ON CONFLICT (provider_account_id, slot) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
				WHERE l.expires_at <= clock_timestamp()
			RETURNING slot`
		args = append(args, ttl.Seconds())
	} else {
		now := s.now()
		q = `WITH RECURSIVE g(slot) AS (SELECT 0 UNION ALL SELECT slot + 1 FROM g WHERE slot + 1 < $3)
			INSERT INTO provider_call_leases (provider_account_id, slot, holder, expires_at)
			SELECT $1, g.slot, $2, $4 FROM g
			WHERE NOT EXISTS (SELECT 1 FROM provider_call_leases x
				WHERE x.provider_account_id = $1 AND x.slot = g.slot AND x.expires_at > $5)
			ORDER BY random() LIMIT 1
			ON CONFLICT (provider_account_id, slot) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
				WHERE provider_call_leases.expires_at <= $5
			RETURNING slot`
		args = append(args, s.ts(now.Add(ttl)), s.ts(now))
	}
	err = s.db.QueryRowContext(ctx, q, args...).Scan(&slot)
	if isNoRows(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: acquire call lease of provider account %d: %w", accountID, err)
	}
	return slot, true, nil
}

// ReleaseCallLease gives back a slot holder took. A lease that expired and was
// taken by another call meanwhile is not touched.
func (s *Store) ReleaseCallLease(ctx context.Context, accountID int64, slot int, holder string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM provider_call_leases WHERE provider_account_id = $1 AND slot = $2 AND holder = $3`,
		accountID, slot, holder); err != nil {
		return fmt.Errorf("store: release call lease of provider account %d: %w", accountID, err)
	}
	return nil
}

// ReserveCallRate reserves the next moment a call to the account may start, one
// interval after the previous reservation, and returns how long to wait for it
// (zero or less: at once).
func (s *Store) ReserveCallRate(ctx context.Context, accountID int64, interval time.Duration) (time.Duration, error) {
	if s.engine == EnginePostgres {
		var secs float64
		err := s.db.QueryRowContext(ctx, `INSERT INTO provider_call_rates AS r (provider_account_id, next_at)
			VALUES ($1, clock_timestamp() + make_interval(secs => $2))
			ON CONFLICT (provider_account_id) DO UPDATE SET next_at = GREATEST(r.next_at, clock_timestamp()) + make_interval(secs => $2)
			RETURNING EXTRACT(EPOCH FROM (r.next_at - clock_timestamp()))::float8 - $2`, accountID, interval.Seconds()).Scan(&secs)
		if err != nil {
			return 0, fmt.Errorf("store: reserve a call to provider account %d: %w", accountID, err)
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	now := s.now()
	var next int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO provider_call_rates (provider_account_id, next_at) VALUES ($1, $2 + $3)
		ON CONFLICT (provider_account_id) DO UPDATE SET next_at = max(provider_call_rates.next_at, $2) + $3
		RETURNING next_at`, accountID, now.UnixMicro(), interval.Microseconds()).Scan(&next)
	if err != nil {
		return 0, fmt.Errorf("store: reserve a call to provider account %d: %w", accountID, err)
	}
	return time.UnixMicro(next).Sub(now) - interval, nil
}
