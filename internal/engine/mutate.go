package engine

import (
	"context"
	"database/sql"
	"errors"

	"watan"
)

// errUnchanged aborts a mutation without error: the order is no longer in a state
// where the change applies (another worker or an operator got there first).
var errUnchanged = errors.New("order unchanged")

// mutate locks the order, lets fn change it and do more work inside the same
// transaction, then saves its provider-side fields. fn sees the order as stored now,
// which may differ from what the caller read before, and must decide on that.
// Returning errUnchanged rolls back and reports (order as read, false, nil).
//
// fn must use only tx (the store's ...Tx methods and the queue's): on SQLite the
// transaction holds the pool's only connection, so any other query would wait for
// it forever.
func (e *Engine) mutate(ctx context.Context, tenantID, id int64, fn func(tx *sql.Tx, o *watan.Order) error) (watan.Order, bool, error) {
	var out watan.Order
	var before watan.ProviderState
	var fromStatus watan.Status
	err := e.inTx(ctx, func(tx *sql.Tx) error {
		o, err := e.store.LockOrderTx(ctx, tx, tenantID, id)
		if err != nil {
			return err
		}
		out = o
		before, fromStatus = o.ProviderState, o.Status
		if err := fn(tx, &o); err != nil {
			return err
		}
		if o.ProviderState != before {
			if err := watan.ProviderTransition(before, o.ProviderState); err != nil {
				return err
			}
		}
		o.UpdatedAt = e.now()
		if err := e.store.SaveOrderProviderTx(ctx, tx, o); err != nil {
			return err
		}
		if err := e.notify(ctx, tx, o, fromStatus, before); err != nil {
			return err
		}
		out = o
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return out, false, nil
	}
	if err == nil && out.Status != fromStatus {
		e.observer.StatusChanged(fromStatus, out.Status)
	}
	return out, err == nil, err
}

// notify tells the Notifier, inside the transaction, of a change the storefront
// must hear about: a new status, or else a provider that now holds the order. Every
// change goes through mutate, so this is the one place that decides which changes
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

// finish moves o to a final status inside tx. If the order's status forbids it (an
// operator decided first), the provider's answer is kept as an event and the status
// stays: a final order is never flipped silently.
func (e *Engine) finish(ctx context.Context, tx *sql.Tx, o *watan.Order, to watan.Status, note string) error {
	if o.Status != watan.StatusPending {
		return e.store.AddOrderEventTx(ctx, tx, e.event(*o, EventLateAnswer,
			"provider answered %s after the order became %s; status kept, operator may act: %s", to, o.Status, note))
	}
	if to == watan.StatusApproved || o.CompletedAt == nil {
		now := e.now()
		o.CompletedAt = &now
	}
	o.NextCheckAt = nil
	updated, err := e.store.SetOrderStatusTx(ctx, tx, *o, to, watan.ActorSystem, note)
	if err != nil {
		return err
	}
	o.Status, o.UpdatedAt = updated.Status, updated.UpdatedAt
	return nil
}
