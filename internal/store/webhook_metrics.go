package store

import (
	"context"
	"fmt"
	"time"
)

// This file holds the read-only queries behind the metrics collectors (queue depth,
// oldest pending order, undelivered webhooks). It lives next to the webhook store
// code only because that is the part of the store the metrics work owns; nothing
// here writes.

// JobCount is the number of River jobs in one queue and state.
type JobCount struct {
	Queue string
	State string
	Count int64
}

// QueueDepth counts River's jobs by queue and state, leaving out completed,
// cancelled and discarded jobs, which River keeps for a while but which are no
// longer work.
func (s *Store) QueueDepth(ctx context.Context) ([]JobCount, error) {
	return list(ctx, s.db, "queue depth", func(r rowScanner) (JobCount, error) {
		var c JobCount
		err := r.Scan(&c.Queue, &c.State, &c.Count)
		return c, err
	}, `SELECT queue, state, COUNT(*) FROM river_job
		WHERE state IN ('available', 'pending', 'running', 'retryable', 'scheduled')
		GROUP BY queue, state ORDER BY queue, state`)
}

// OldestPendingOrder returns the creation time of the oldest pending order of any
// tenant; ok is false when no order is pending.
func (s *Store) OldestPendingOrder(ctx context.Context) (at time.Time, ok bool, err error) {
	var t *time.Time
	if err := s.db.QueryRowContext(ctx, `SELECT MIN(created_at) FROM orders WHERE status = 'pending'`).Scan(nullTimeCol{&t}); err != nil {
		return time.Time{}, false, fmt.Errorf("store: oldest pending order: %w", err)
	}
	if t == nil {
		return time.Time{}, false, nil
	}
	return *t, true, nil
}
