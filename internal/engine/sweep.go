package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"watan"
)

// Job kinds, shared with the queue adapter so the sweeper can find orders that have
// lost their job.
const (
	KindDispatch = "watan_dispatch"
	KindCheck    = "watan_check"
)

// SweepReport counts what one sweep repaired.
type SweepReport struct {
	Expired            int // past the deadline: rejected and refunded
	ChecksRestored     int // dispatched orders that had no check job
	DispatchesRestored int // orders never sent that had no dispatch job
}

// Sweep repairs what crashes and lost jobs leave behind: it enforces deadlines even
// when an order's job vanished, gives every dispatched order without a live check job
// a new one (orders stuck in "sending" are resolved by that check), and gives every
// unsent order without a dispatch job a new one. Each pass touches at most
// Config.SweepLimit orders per repair, oldest first. Enqueueing is unique per order,
// so sweeps running twice never make two jobs.
func (e *Engine) Sweep(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	now := e.now()
	expired, err := e.store.OrdersPastDeadline(ctx, now, e.cfg.SweepLimit)
	if err != nil {
		return rep, fmt.Errorf("sweep: %w", err)
	}
	var errs []error
	for _, o := range expired {
		if err := e.settleDeadline(ctx, e.steps(o, "sweep"), o); err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Expired++
	}

	grace := now.Add(-e.cfg.SendingGrace)
	lost, err := e.store.OrdersWithoutJob(ctx, KindCheck,
		[]watan.ProviderState{watan.StateSending, watan.StateSent, watan.StateUnknown}, grace, e.cfg.SweepLimit, true)
	if err != nil {
		return rep, fmt.Errorf("sweep: %w", err)
	}
	for _, o := range lost {
		_, changed, err := e.apply(ctx, o, watan.TrWatch, nil, func(tx *sql.Tx, cur *watan.Order) error {
			cur.NextCheckAt = &now
			if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventCheck, watan.M("sweep.check", "state", string(cur.ProviderState)))); err != nil {
				return err
			}
			return e.queue.EnqueueCheckTx(ctx, tx, *cur, 0)
		})
		if err != nil {
			errs = append(errs, err)
		} else if changed {
			rep.ChecksRestored++
		}
	}

	unsent, err := e.store.OrdersWithoutJob(ctx, KindDispatch,
		[]watan.ProviderState{watan.StateNotSent, watan.StateNotFound}, grace, e.cfg.SweepLimit, false)
	if err != nil {
		return rep, fmt.Errorf("sweep: %w", err)
	}
	for _, o := range unsent {
		_, changed, err := e.apply(ctx, o, watan.TrRestoreDispatch, nil, func(tx *sql.Tx, cur *watan.Order) error {
			if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventDispatch, watan.M("sweep.dispatch"))); err != nil {
				return err
			}
			return e.queue.EnqueueDispatchTx(ctx, tx, *cur)
		})
		if err != nil {
			errs = append(errs, err)
		} else if changed {
			rep.DispatchesRestored++
		}
	}
	if rep != (SweepReport{}) {
		e.log.Info("sweep repaired orders", "expired", rep.Expired, "checks_restored", rep.ChecksRestored, "dispatches_restored", rep.DispatchesRestored)
	}
	return rep, errors.Join(errs...)
}
