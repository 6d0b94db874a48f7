package engine

import (
	"context"
	"database/sql"

	"watan"
)

// Operators' actions. Each runs in one transaction with the order locked, so an
// operator's decision and a provider's answer arriving at the same moment are
// serialized: whichever commits second sees the first's result. The engine never
// flips a final order (see finish); an operator acting on an order that changed
// under them gets an ECodeInvalidTransition error and can look again.

// Approve marks the order approved, optionally with a PIN the operator delivered.
// Approving a rejected order debits its price again, within the overdraft limit.
func (e *Engine) Approve(ctx context.Context, tenantID, orderID int64, actor watan.Actor, pin, note string) (watan.Order, error) {
	o, err := e.store.FindOrder(ctx, tenantID, orderID)
	if err != nil {
		return o, err
	}
	tr := watan.TrOpApprove
	if pin != "" && o.ProviderState == watan.StateManual {
		tr = watan.TrOpDeliver
	}
	o, _, err = e.apply(ctx, o, tr, nil, func(tx *sql.Tx, cur *watan.Order) error {
		if pin != "" {
			cur.PIN = pin
			if tr.To != "" {
				cur.ProviderState = tr.To
			}
		}
		now := e.now()
		cur.CompletedAt = &now
		if err := e.decide(ctx, tx, cur, watan.StatusApproved, actor, note); err != nil {
			return err
		}
		return e.watchAfterDecision(ctx, tx, cur)
	})
	return o, err
}

// Reject marks a pending order rejected and refunds it. An order approved meanwhile
// (its PIN may already be with the customer) is refused with ECodeInvalidTransition
// rather than reversed: an operator racing a provider's delivery must look again.
func (e *Engine) Reject(ctx context.Context, tenantID, orderID int64, actor watan.Actor, note string) (watan.Order, error) {
	o, _, err := e.apply(ctx, watan.Order{TenantID: tenantID, ID: orderID}, watan.TrOpReject, nil, func(tx *sql.Tx, cur *watan.Order) error {
		if cur.Status != watan.StatusPending {
			return watan.Errorf(watan.ECodeInvalidTransition, "order is %s: only a pending order can be rejected", cur.Status)
		}
		now := e.now()
		cur.CompletedAt = &now
		if err := e.decide(ctx, tx, cur, watan.StatusRejected, actor, note); err != nil {
			return err
		}
		return e.watchAfterDecision(ctx, tx, cur)
	})
	return o, err
}

func (e *Engine) decide(ctx context.Context, tx *sql.Tx, cur *watan.Order, to watan.Status, actor watan.Actor, note string) error {
	updated, err := e.store.SetOrderStatusTx(ctx, tx, *cur, to, actor, note)
	if err != nil {
		return err
	}
	cur.Status, cur.CompletedAt, cur.UpdatedAt = updated.Status, updated.CompletedAt, updated.UpdatedAt
	cur.Cost, cur.CostCurrency, cur.CostSource, cur.Profit = updated.Cost, updated.CostCurrency, updated.CostSource, updated.Profit
	return nil
}

// Redispatch sends the order to the given provider account under a new reference,
// as a new placement generation: a dispatch job queued earlier for the order acts
// on the order as it is then, so the operator's choice wins over the job's. It is
// allowed only where no provider can be holding the order: never sent (also
// waiting for an operator), or its provider reported it failed or not found. A
// rejected order becomes pending again and its price is debited again. The
// deadline starts again from now.
func (e *Engine) Redispatch(ctx context.Context, tenantID, orderID, providerAccountID int64, actor watan.Actor, note string) (watan.Order, error) {
	acct, err := e.store.FindProviderAccount(ctx, tenantID, providerAccountID)
	if err != nil {
		return watan.Order{}, err
	}
	if !acct.Active {
		return watan.Order{}, watan.Errorf(watan.ECodeValidation, "provider account %q is inactive", acct.Name)
	}
	acct.Settings = acct.Settings.WithDefaults(acct.Kind)
	o, err := e.store.FindOrder(ctx, tenantID, orderID)
	if err != nil {
		return o, err
	}
	if _, err := e.store.FindMapping(ctx, tenantID, o.PackageID, acct.ID); err != nil {
		if watan.IsNotFound(err) {
			return o, watan.Errorf(watan.ECodeValidation, "package %s has no product mapping at provider account %q", o.PackageCode, acct.Name)
		}
		return o, err
	}
	o, _, err = e.apply(ctx, o, watan.TrOpRedispatch, nil, func(tx *sql.Tx, cur *watan.Order) error {
		switch {
		case cur.Status == watan.StatusPending:
		case cur.Status == watan.StatusRejected && oneOf(cur.ProviderState, watan.StateFailed, watan.StateNotFound):
			if err := e.decide(ctx, tx, cur, watan.StatusPending, actor, watan.M("op.redispatch_note", "note", note).String()); err != nil {
				return err
			}
			cur.CompletedAt = nil
		default:
			return watan.Errorf(watan.ECodeInvalidTransition,
				"order is %s with provider state %s: re-dispatch needs an order never sent, or failed or not found at its provider", cur.Status, cur.ProviderState)
		}
		deadline := e.now().Add(acct.Settings.Deadline)
		cur.ProviderState, cur.ProviderAccountID, cur.FallbackUsed = watan.StateNotSent, acct.ID, true
		cur.ProviderOrderID, cur.PIN, cur.Deadline, cur.NextCheckAt = "", "", &deadline, nil
		if err := e.store.AddOrderEventTx(ctx, tx, e.operatorEvent(*cur, actor, watan.M("op.redispatch", "account", acct.Name, "gen", itoa(cur.Generation), "note", note))); err != nil {
			return err
		}
		return e.queue.EnqueueDispatchTx(ctx, tx, *cur)
	})
	return o, err
}

// SetManual hands a pending order to operators. It is refused while a provider may be
// working on the order, since it could still deliver.
func (e *Engine) SetManual(ctx context.Context, tenantID, orderID int64, actor watan.Actor, note string) (watan.Order, error) {
	o, _, err := e.apply(ctx, watan.Order{TenantID: tenantID, ID: orderID}, watan.TrOpManual, nil, func(tx *sql.Tx, cur *watan.Order) error {
		if cur.Status != watan.StatusPending {
			return watan.Errorf(watan.ECodeInvalidTransition,
				"order is %s: only a pending order no provider holds can be set manual", cur.Status)
		}
		cur.ProviderState = watan.StateManual
		cur.ProviderMessage = watan.M("op.manual_by", "who", string(actor)).String()
		return e.store.AddOrderEventTx(ctx, tx, e.operatorEvent(*cur, actor, watan.M("op.manual", "note", note)))
	})
	return o, err
}

// CheckNow asks the provider about a dispatched order at once and applies the
// answer. While a placement of the order is on the wire nobody is asked: the
// placement's own answer is due within its lease.
func (e *Engine) CheckNow(ctx context.Context, tenantID, orderID int64, actor watan.Actor) (watan.Order, error) {
	o, err := e.store.FindOrder(ctx, tenantID, orderID)
	if err != nil {
		return o, err
	}
	if o.Status != watan.StatusPending || !o.ProviderState.Dispatched() {
		return o, watan.Errorf(watan.ECodeInvalidTransition, "order is %s with provider state %s: there is nothing to check", o.Status, o.ProviderState)
	}
	inFlight := o.PlacementInFlight(e.now())
	if _, _, err := e.apply(ctx, o, watan.TrOpNote, nil, func(tx *sql.Tx, cur *watan.Order) error {
		msg := watan.M("op.check")
		if inFlight {
			msg = watan.M("op.check_on_wire", "until", stamp(*o.LeaseUntil))
		}
		return e.store.AddOrderEventTx(ctx, tx, e.operatorEvent(*cur, actor, msg))
	}); err != nil {
		return o, err
	}
	if inFlight {
		return e.store.FindOrder(ctx, tenantID, orderID)
	}
	acct, client, err := e.provider(ctx, tenantID, o.ProviderAccountID)
	if err != nil {
		return o, err
	}
	st := e.steps(o, "check_now")
	if o.ProviderState == watan.StateSent {
		_, err = e.checkWith(ctx, st, o, acct, client, false)
	} else {
		// On "not found" the check enqueues a dispatch job that places it again.
		_, _, err = e.resolve(ctx, st, o)
	}
	if err != nil {
		return o, watan.Errorf(watan.ECodeUnavailable, "provider check failed: %v", err)
	}
	return e.store.FindOrder(ctx, tenantID, orderID)
}

// PauseProvider holds back placements to a provider account until an operator
// resumes it: its orders go to their fallback or wait. Status checks go on.
func (e *Engine) PauseProvider(ctx context.Context, tenantID, id int64, reason string, actor watan.Actor) error {
	if reason == "" {
		reason = "paused by an operator"
	}
	defer e.catalog.forgetAccount(tenantID, id)
	if err := e.store.SetProviderPaused(ctx, tenantID, id, true, reason, actor); err != nil {
		return err
	}
	e.log.Info("provider account paused", "provider_account_id", id, "tenant_id", tenantID, "actor", actor, "reason", reason)
	return nil
}

// ResumeProvider lifts an operator's pause of a provider account and closes its
// circuit breaker in this process: the operator has looked at the account and
// wants it used. Orders waiting for it are dispatched when their jobs next run.
func (e *Engine) ResumeProvider(ctx context.Context, tenantID, id int64, actor watan.Actor) error {
	if _, err := e.store.FindProviderAccount(ctx, tenantID, id); err != nil {
		return err
	}
	defer e.catalog.forgetAccount(tenantID, id)
	if err := e.store.SetProviderPaused(ctx, tenantID, id, false, "", actor); err != nil {
		return err
	}
	if b := e.breakers.find(id); b != nil {
		b.Reset()
	}
	e.log.Info("provider account resumed", "provider_account_id", id, "tenant_id", tenantID, "actor", actor)
	return nil
}

func (e *Engine) operatorEvent(o watan.Order, actor watan.Actor, m watan.Msg) watan.OrderEvent {
	ev := e.event(o, EventOperator, m)
	ev.Actor = actor
	return ev
}

func oneOf(s watan.ProviderState, set ...watan.ProviderState) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}
