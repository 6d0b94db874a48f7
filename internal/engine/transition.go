package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"watan"
)

// errUnchanged aborts a change without error: the order is no longer where the
// change applies (another worker or an operator got there first), or fn found
// nothing to do.
var errUnchanged = errors.New("order unchanged")

// answer is a provider's answer behind a change. When the change no longer applies
// (the order moved to another generation, was decided, or left the states the
// answer is about), it is recorded on the timeline instead, and nothing else changes.
type answer struct {
	what string            // what the provider said, for the timeline
	data map[string]string // kept with the event (a PIN an operator may want)
}

// apply makes one transition of the order as a compare-and-set. Inside one
// transaction it checks that tr applies to the order as it is now: for the
// engine's transitions, the order must be pending (decided, for after-care), at
// generation o.Generation (the one the caller read and acted on) and in one of
// tr.From; for an operator's, in one of tr.From. Then fn changes the order and does
// more work in the same transaction (events, money, jobs), and the order is saved
// on the condition that nobody wrote it since it was read. apply verifies that fn
// moved the order exactly as tr says.
//
// The engine's transitions start from o itself, as the caller read it, without
// reading the order again: the save's compare-and-set on o.Version proves that o
// was still the order as it is. Where it was not (someone wrote it since), or where
// the transition does not apply to o, the transaction is rolled back and the
// transition is decided again from the order read under a lock, as operators'
// transitions (whose o names the order only) always are.
//
// If tr does not apply, nothing changes: an operator gets an ECodeInvalidTransition
// error; the engine gets (order as it is now, false, nil), with ans, if given,
// recorded as a late_answer (decided order) or stale_answer event. fn may return
// errUnchanged to roll back likewise.
//
// fn must use only tx (the store's ...Tx methods and the queue's): on SQLite the
// transaction holds the pool's only connection, so any other query would wait for
// it forever.
func (e *Engine) apply(ctx context.Context, o watan.Order, tr watan.Transition, ans *answer, fn func(tx *sql.Tx, cur *watan.Order) error) (watan.Order, bool, error) {
	if !tr.Operator {
		out, changed, err := e.applyTo(ctx, o, true, tr, ans, fn)
		if !errors.Is(err, errReread) && !errors.Is(err, watan.ErrOrderChanged) {
			return out, changed, err
		}
	}
	out, changed, err := e.applyTo(ctx, o, false, tr, ans, fn)
	if errors.Is(err, watan.ErrOrderChanged) {
		// Only a deadlock with a writer that started from its own reading gets
		// here (the row was locked): that writer has finished now.
		out, changed, err = e.applyTo(ctx, o, false, tr, ans, fn)
	}
	if errors.Is(err, errReread) {
		err = fmt.Errorf("engine: order %d: %w", o.ID, err) // unreachable with a locked reading
	}
	return out, changed, err
}

// errReread rolls back a transition started from the caller's reading of the
// order, to be decided again from the order read under a lock.
var errReread = errors.New("decide again from a locked reading")

// applyTo runs apply's transaction once: from o, the caller's reading of the order,
// if asRead, or else from the order o names read under a lock.
func (e *Engine) applyTo(ctx context.Context, o watan.Order, asRead bool, tr watan.Transition, ans *answer, fn func(tx *sql.Tx, cur *watan.Order) error) (watan.Order, bool, error) {
	var out, before watan.Order
	recorded := false
	err := e.inTx(ctx, func(tx *sql.Tx) error {
		cur := o
		if !asRead {
			var err error
			if cur, err = e.store.LockOrderTx(ctx, tx, o.TenantID, o.ID); err != nil {
				return err
			}
		}
		out, before = cur, cur
		if why := e.notApplicable(cur, o.Generation, tr); why != "" {
			if asRead {
				return errReread // the order may have moved on since: look at it as it is
			}
			if tr.Operator {
				return watan.Errorf(watan.ECodeInvalidTransition, "order is %s with provider state %s: %s", cur.Status, cur.ProviderState, why)
			}
			if ans == nil {
				return errUnchanged
			}
			recorded = true
			return e.store.AddOrderEventTx(ctx, tx, e.staleEvent(cur, o.Generation, ans, why))
		}
		if tr.NewGeneration {
			cur.Generation++
		}
		if fn != nil {
			if err := fn(tx, &cur); err != nil {
				return err
			}
		}
		if err := tr.Check(before.ProviderState, cur.ProviderState); err != nil {
			return fmt.Errorf("engine: order %d: %w", cur.ID, err)
		}
		if want := before.Generation + btoi(tr.NewGeneration); cur.Generation != want {
			return fmt.Errorf("engine: order %d: %s left generation %d, want %d", cur.ID, tr.Name, cur.Generation, want)
		}
		if cur.ProviderState != watan.StateSending {
			// A lease covers one placement call: it ends with the call's answer.
			cur.LeaseUntil, cur.LeaseOwner = nil, ""
		}
		cur.UpdatedAt = e.now()
		cur.Version = before.Version
		if err := e.store.SaveOrderTx(ctx, tx, cur); err != nil {
			return err
		}
		cur.Version++
		if err := e.notify(ctx, tx, cur, before.Status, before.ProviderState); err != nil {
			return err
		}
		out = cur
		return nil
	})
	switch {
	case errors.Is(err, errUnchanged):
		return out, false, nil
	case err != nil:
		return out, false, err
	case recorded:
		return out, false, nil
	}
	if out.Status != before.Status {
		e.observer.StatusChanged(before.Status, out.Status)
	}
	if e.cfg.CheckPoller && out.Status == watan.StatusPending && out.ProviderState == watan.StateSent && out.NextCheckAt != nil {
		e.wake.at(*out.NextCheckAt)
	}
	return out, true, nil
}

// notApplicable says why tr cannot apply to cur as a change about generation gen,
// or "" if it can.
func (e *Engine) notApplicable(cur watan.Order, gen int, tr watan.Transition) string {
	switch {
	case !tr.Operator && !tr.AfterDecision && cur.Status != watan.StatusPending:
		return watan.M("why.decided", "status", string(cur.Status)).String()
	case tr.AfterDecision && cur.Status == watan.StatusPending:
		return watan.M("why.undecided").String()
	case !tr.Operator && cur.Generation != gen:
		return watan.M("why.moved_on", "gen", itoa(cur.Generation)).String()
	case !tr.Allows(cur.ProviderState):
		return watan.M("why.not_in_state", "transition", tr.Name, "state", string(cur.ProviderState)).String()
	case tr.StatusAnswer && cur.PlacementInFlight(e.now()):
		return watan.M("why.on_the_wire").String()
	}
	return ""
}

// staleEvent records a provider's answer that no longer applies to the order.
func (e *Engine) staleEvent(cur watan.Order, gen int, ans *answer, why string) watan.OrderEvent {
	kind := EventStaleAnswer
	if cur.Status != watan.StatusPending {
		kind = EventLateAnswer
	}
	ev := e.event(cur, kind, watan.M("answer.stale", "what", ans.what, "gen", itoa(gen), "why", why))
	ev.Data = ans.data
	return ev
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// notify tells the Notifier, inside the transaction, of a change the storefront
// must hear about: a new status, or else a provider that now holds the order. Every
// change goes through apply, so this is the one place that decides which changes
// are events, and no path can forget one.
func (e *Engine) notify(ctx context.Context, tx *sql.Tx, o watan.Order, fromStatus watan.Status, fromState watan.ProviderState) error {
	if e.notifier == nil {
		return nil
	}
	switch {
	case o.Status != fromStatus:
		return e.notifier.OrderChangedTx(ctx, tx, o, NotifyStatus(o.Status))
	case o.ProviderState == watan.StateSent && fromState != watan.StateSent:
		return e.notifier.OrderChangedTx(ctx, tx, o, NotifySent)
	}
	return nil
}

// finish moves the pending order o to a final status inside tx, as the system.
// apply has checked that o is pending, so this never flips a decided order.
func (e *Engine) finish(ctx context.Context, tx *sql.Tx, o *watan.Order, to watan.Status, note string) error {
	now := e.now()
	o.CompletedAt, o.NextCheckAt = &now, nil
	updated, err := e.store.SetOrderStatusTx(ctx, tx, *o, to, watan.ActorSystem, note)
	if err != nil {
		return err
	}
	o.Status, o.CompletedAt, o.UpdatedAt = updated.Status, updated.CompletedAt, updated.UpdatedAt
	o.Cost, o.CostCurrency, o.CostSource, o.Profit = updated.Cost, updated.CostCurrency, updated.CostSource, updated.Profit
	return nil
}
