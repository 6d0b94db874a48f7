package engine

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"watan"
	"watan/internal/breaker"
)

// maxRounds bounds how often one dispatch run goes round again (a fallback, a
// placement again after "not found", a change that lost a race), so that a
// provider that keeps losing orders makes the job back off instead of spinning.
const maxRounds = 5

// leaseMargin is added to a provider account's request timeout to make the lease of
// a placement: the call may not start later than the lease less the margin (see
// callDeadline), so once the lease has run out the placement is no longer on the
// wire, and the margin is the time a provider takes to act on a request.
const leaseMargin = 10 * time.Second

type callDeadlineKey struct{}

// CallDeadline reports the moment, on the engine's clock, after which the
// placement request made with ctx must not leave for the provider. With the
// system clock the context's own deadline enforces it; a simulated provider on an
// injected clock must refuse a request past it, as a real connection would.
func CallDeadline(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(callDeadlineKey{}).(time.Time)
	return t, ok
}

// Dispatch sends a pending order on its way according to its package's routing. It
// is idempotent and acts on the order as it is now: run on an order already sent,
// it does nothing; on an order whose placement is on the wire elsewhere, it comes
// back when that placement's lease has run out; on an order whose last call has an
// unknown outcome, it asks the provider about the same reference before anything
// else.
func (e *Engine) Dispatch(ctx context.Context, tenantID, orderID int64) (Next, error) {
	for range maxRounds {
		o, found, err := e.findLive(ctx, tenantID, orderID)
		if !found {
			return done, err
		}
		st := e.steps(o, "dispatch")
		if o.Status != watan.StatusPending {
			st.log(ctx, "skip", "final", "status", o.Status)
			return done, nil
		}
		var next Next
		again := false
		switch now := e.now(); {
		case o.PlacementInFlight(now):
			st.log(ctx, "skip", "placement_in_flight", "lease_until", o.LeaseUntil, "lease_owner", o.LeaseOwner)
			return later(o.LeaseUntil.Sub(now)), nil
		case o.ProviderState == watan.StateSending, o.ProviderState == watan.StateUnknown:
			// A previous run may have reached the provider: ask before placing.
			next, again, err = e.resolve(ctx, st, o)
		case o.ProviderState == watan.StateNotSent, o.ProviderState == watan.StateNotFound:
			var pkg watan.Package
			if pkg, err = e.catalog.pkg(ctx, tenantID, o.PackageCode); err != nil {
				return done, fmt.Errorf("dispatch order %d: %w", o.ID, err)
			}
			next, again, err = e.route(ctx, st, o, pkg)
		default:
			st.log(ctx, "skip", "already_dispatched", "provider_state", o.ProviderState)
			return done, nil
		}
		if err != nil || !again {
			return next, err
		}
	}
	return done, fmt.Errorf("dispatch order %d: gone round %d times (the provider keeps losing the order, or others keep changing it); backing off", orderID, maxRounds)
}

// route follows the package's routing for an order not yet at a provider. again
// asks the caller to reload the order and go round once more (fallback, re-place).
func (e *Engine) route(ctx context.Context, st *step, o watan.Order, pkg watan.Package) (next Next, again bool, err error) {
	if o.ProviderAccountID != 0 {
		// Already bound to an account: the fallback, an operator's choice, or a
		// re-placement after "not found".
		return e.placeAuto(ctx, st, o, pkg, o.ProviderAccountID)
	}
	switch pkg.Routing.Mode {
	case watan.RouteManual:
		st.log(ctx, "route", "manual")
		return done, false, e.toManual(ctx, o, watan.M("route.manual"))
	case watan.RouteCodes:
		return e.dispatchCodes(ctx, st, o, pkg)
	case watan.RouteAuto:
		if pkg.Routing.PrimaryProviderID == 0 {
			st.log(ctx, "route", "no_provider")
			return done, false, e.toManual(ctx, o, watan.M("route.no_provider"))
		}
		return e.placeAuto(ctx, st, o, pkg, pkg.Routing.PrimaryProviderID)
	}
	st.log(ctx, "route", "unknown_mode", "mode", pkg.Routing.Mode)
	return done, false, e.toManual(ctx, o, watan.M("route.unknown", "mode", string(pkg.Routing.Mode)))
}

// toManual leaves the order to an operator.
func (e *Engine) toManual(ctx context.Context, o watan.Order, why watan.Msg) error {
	_, _, err := e.apply(ctx, o, watan.TrToManual, nil, func(tx *sql.Tx, cur *watan.Order) error {
		cur.ProviderState = watan.StateManual
		cur.ProviderMessage = why.String()
		return e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventManual, why))
	})
	return err
}

// dispatchCodes hands out one stored code, or falls back when the stock is empty.
func (e *Engine) dispatchCodes(ctx context.Context, st *step, o watan.Order, pkg watan.Package) (Next, bool, error) {
	empty := false
	_, changed, err := e.apply(ctx, o, watan.TrCodeDelivered, nil, func(tx *sql.Tx, cur *watan.Order) error {
		if cur.ProviderAccountID != o.ProviderAccountID {
			return errUnchanged // bound to a provider meanwhile
		}
		pin, cost, currency, err := e.store.TakeCodeWithCostTx(ctx, tx, cur.TenantID, pkg.Routing.CodeGroupID, cur.ID)
		if watan.IsNotFound(err) {
			empty = true
			return errUnchanged
		}
		if err != nil {
			return err
		}
		cur.Cost, cur.CostCurrency, cur.CostSource = cost, currency, watan.CostCode
		if cost == nil {
			cur.CostSource = watan.CostNone
		}
		cur.ProviderState, cur.PIN = watan.StateDelivered, pin
		cur.ProviderMessage = watan.M("codes.from_stock").String()
		if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventDelivered, watan.M("codes.delivered", "group", i64(pkg.Routing.CodeGroupID)))); err != nil {
			return err
		}
		return e.finish(ctx, tx, cur, watan.StatusApproved, watan.M("codes.from_stock").String())
	})
	if err != nil {
		st.log(ctx, "take_code", "error", "err", err)
		return done, false, err
	}
	if changed {
		st.log(ctx, "take_code", "delivered", "code_group_id", pkg.Routing.CodeGroupID)
		return done, false, nil
	}
	if !empty {
		return done, true, nil // the order changed meanwhile: look again
	}
	if fb := pkg.Routing.FallbackProviderID; fb != 0 && !o.FallbackUsed {
		st.log(ctx, "take_code", "empty_fallback", "provider_account_id", fb)
		_, _, err := e.apply(ctx, o, watan.TrFallback, nil, func(tx *sql.Tx, cur *watan.Order) error {
			if cur.ProviderAccountID != 0 || cur.FallbackUsed {
				return errUnchanged
			}
			cur.ProviderAccountID, cur.FallbackUsed = fb, true
			return e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventFallback, watan.M("codes.fallback", "fallback", i64(fb))))
		})
		return done, err == nil, err
	}
	st.log(ctx, "take_code", "empty_manual")
	return done, false, e.toManual(ctx, o, watan.M("codes.empty"))
}

// placeAuto places the order at provider account acctID. It takes a slot of the
// account's concurrency limit first, then stores a new generation, the reference,
// the state "sending" and a lease, and commits, before calling: a crash or a lost
// reply can always be resolved by asking about that same reference, and no status
// check concludes "not found" while the call may still land.
func (e *Engine) placeAuto(ctx context.Context, st *step, o watan.Order, pkg watan.Package, acctID int64) (Next, bool, error) {
	acct, client, err := e.provider(ctx, o.TenantID, acctID)
	if err != nil {
		if watan.IsNotFound(err) {
			st.log(ctx, "provider", "missing", "provider_account_id", acctID)
			return done, false, e.toManual(ctx, o, watan.M("route.missing", "id", i64(acctID)))
		}
		return done, false, err
	}
	if deadline := placementDeadline(o, acct); !e.now().Before(deadline) {
		// Never place an order past its deadline: nobody holds it, so it is
		// rejected and refunded without a call.
		st.log(ctx, "deadline", "expired_unplaced", "deadline", deadline)
		return done, false, e.expireUnplaced(ctx, o, deadline)
	}
	if !acct.Active {
		st.log(ctx, "provider", "inactive", "provider_account_id", acctID)
		return done, false, e.toManual(ctx, o, watan.M("route.inactive", "account", acct.Name))
	}
	if acct.Paused {
		st.log(ctx, "provider", "paused", "provider_account_id", acctID, "reason", acct.PausedReason)
		return e.elsewhere(ctx, o, pkg, acct, watan.M("why.paused", "reason", acct.PausedReason), e.cfg.PausedRetry)
	}
	mapping, err := e.catalog.mapping(ctx, o.TenantID, o.PackageID, acct.ID)
	if err != nil {
		if watan.IsNotFound(err) {
			st.log(ctx, "mapping", "missing", "provider_account_id", acctID)
			return done, false, e.toManual(ctx, o, watan.M("route.no_mapping", "package", pkg.Code, "account", acct.Name))
		}
		return done, false, err
	}

	// Step 1: the account's circuit breaker, then a slot of its limit, so that the
	// lease below covers the call alone and not the wait for a slot.
	report, err := e.breakers.of(acct).Allow()
	if oe, open := breaker.IsOpen(err); open {
		st.log(ctx, "provider", "circuit_"+string(oe.State), "provider_account_id", acctID, "until", oe.Until, "reason", oe.Reason)
		why := watan.M("why.circuit_open", "until", stamp(oe.Until), "detail", oe.Reason)
		if oe.State == breaker.HalfOpen {
			why = watan.M("why.circuit_trying")
		}
		return e.elsewhere(ctx, o, pkg, acct, why, e.circuitWait(oe))
	}
	release, err := e.limits.acquire(ctx, acct)
	if err != nil {
		report(breaker.Ignored, "")
		return done, false, err
	}

	// Step 2: a new generation, the reference, "sending" and the lease, committed
	// before any call.
	o, changed, err := e.apply(ctx, o, watan.TrPlace, nil, func(tx *sql.Tx, cur *watan.Order) error {
		if cur.ProviderAccountID != o.ProviderAccountID {
			return errUnchanged // bound elsewhere meanwhile: route again
		}
		if cur.ProviderState == watan.StateNotSent || cur.ProviderReferans == "" {
			cur.DispatchCount++
			cur.ProviderReferans = wireReferans(acct, cur.ID, cur.DispatchCount)
		}
		// After "not found" the reference stays: the provider has no order under
		// it, so placing again under it cannot make a second one, and if the first
		// call lands after all the provider answers "already sent".
		now := e.now()
		lease := now.Add(acct.Settings.RequestTimeout + leaseMargin)
		deadline := placementDeadline(*cur, acct)
		cur.ProviderState, cur.ProviderAccountID = watan.StateSending, acct.ID
		cur.ProviderOrderID, cur.PIN, cur.NextCheckAt = "", "", nil
		cur.LeaseUntil, cur.LeaseOwner, cur.Deadline = &lease, e.cfg.Node, &deadline
		configuredCost(cur, mapping, acct)
		ref := cur.ProviderReferans
		if num := referans(cur.ID, cur.DispatchCount); num != ref {
			ref += " (the UUID of " + num + ")"
		}
		return e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventDispatch,
			watan.M("place.sending", "account", acct.Name, "kind", string(acct.Kind), "ref", ref, "gen", itoa(cur.Generation))))
	})
	if err != nil || !changed {
		release()
		report(breaker.Ignored, "")
		if err != nil {
			st.log(ctx, "persist_referans", "error", "err", err)
			return done, false, err
		}
		st.log(ctx, "persist_referans", "changed_meanwhile", "provider_state", o.ProviderState)
		return done, true, nil
	}
	st.log(ctx, "persist_referans", "sending", "provider_account_id", acct.ID, "referans", o.ProviderReferans, "generation", o.Generation)

	// Step 3: call the provider, no longer than the lease allows. The request
	// timeout counts from now, and time has passed since the lease was taken (the
	// commit, a pause of the process), so the lease bounds the call too: a check
	// that finds no order once the lease has run out takes it as proof that the
	// placement never arrived.
	wireBy := e.now().Add(acct.Settings.RequestTimeout)
	if o.LeaseUntil != nil && o.LeaseUntil.Add(-leaseMargin).Before(wireBy) {
		wireBy = o.LeaseUntil.Add(-leaseMargin)
	}
	callCtx, cancel := context.WithTimeout(context.WithValue(ctx, callDeadlineKey{}, wireBy), wireBy.Sub(e.now()))
	res, callErr := client.Place(callCtx, watan.PlaceRequest{
		Referans: o.ProviderReferans, ProductID: mapping.ProductID, Params: mapping.Params,
		Quantity: o.Quantity, PlayerID: o.PlayerID, Extra: o.Extra,
	})
	cancel()
	release()
	report(placeOutcome(ctx, res, callErr), describe(res, callErr))
	if callErr != nil {
		e.observer.Placed(acct.Kind, acct.ID, "error")
	} else {
		e.observer.Placed(acct.Kind, acct.ID, string(res.Outcome))
	}
	if callErr != nil || res.Outcome == watan.PlaceUnknown {
		res.Outcome = watan.PlaceUnknown
	}
	st.log(ctx, "place", string(res.Outcome), "provider_account_id", acct.ID, "referans", o.ProviderReferans,
		"provider_order_id", res.ProviderOrderID, "reason", res.Reason, "err", callErr)

	// Step 4: record what the provider said about this generation.
	return e.applyPlace(ctx, st, o, pkg, acct, client, res, callErr)
}

// accepted records a placement the provider accepted. When the account's first
// check is due at once, it is asked here, in the same run, instead of through a
// check job: a delivery then lands in one transaction with the acceptance (no check
// job is ever made), and a pending answer schedules the check job at its next due
// time. Until that transaction commits the order stays "sending" under this run's
// lease, so a crash in between is resolved as any unknown outcome: by asking about
// the same reference.
func (e *Engine) accepted(ctx context.Context, st *step, o watan.Order, acct watan.ProviderAccount, client watan.Provider, res watan.PlaceResult, ans *answer) (Next, bool, error) {
	var first *watan.CheckResult
	if acct.Settings.FirstCheckDelay <= 0 {
		if r, err := e.askOne(ctx, acct, client, o); err == nil {
			first = &r
			st.log(ctx, "first_check", string(r.Outcome), "referans", o.ProviderReferans)
		} else {
			st.log(ctx, "first_check", "error", "err", err) // the check job asks again
		}
	}
	sent := func(tx *sql.Tx, cur *watan.Order) error {
		now := e.now()
		cur.ProviderState, cur.SentAt = watan.StateSent, &now
		cur.ProviderOrderID, cur.ProviderMessage = res.ProviderOrderID, res.Message
		reportedCost(cur, res, acct)
		return e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventSent,
			watan.M("place.accepted", "provider_order", res.ProviderOrderID, "cost", res.Cost, "said", res.Message)))
	}
	seen := func(cur *watan.Order, r watan.CheckResult) {
		cur.LastCheckedAt, cur.CheckCount = cur.SentAt, cur.CheckCount+1
		if r.ProviderOrderID != "" {
			cur.ProviderOrderID = r.ProviderOrderID
		}
		if r.Message != "" {
			cur.ProviderMessage = r.Message
		}
	}

	if first != nil && first.Outcome == watan.CheckDelivered {
		r := *first
		ans.data = map[string]string{"pin": r.PIN}
		_, _, err := e.apply(ctx, o, watan.TrDeliveredAtPlacement, ans, func(tx *sql.Tx, cur *watan.Order) error {
			// One event for both answers: one transition, one timeline entry.
			now := e.now()
			cur.SentAt, cur.ProviderOrderID, cur.ProviderMessage = &now, res.ProviderOrderID, res.Message
			reportedCost(cur, res, acct)
			seen(cur, r)
			cur.ProviderState, cur.PIN = watan.StateDelivered, r.PIN
			if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventDelivered,
				watan.M("place.accepted_first", "provider_order", cur.ProviderOrderID, "cost", res.Cost, "said", r.Message))); err != nil {
				return err
			}
			return e.finish(ctx, tx, cur, watan.StatusApproved, watan.M("finish.delivered").String())
		})
		return done, false, err
	}

	delay := e.firstDelay(acct)
	pending := first != nil && first.Outcome == watan.CheckPending
	cur, changed, err := e.apply(ctx, o, watan.TrAccepted, ans, func(tx *sql.Tx, cur *watan.Order) error {
		if err := sent(tx, cur); err != nil {
			return err
		}
		if pending {
			seen(cur, *first)
			delay = e.nextDelay(acct, *cur)
		}
		next := cur.SentAt.Add(delay)
		cur.NextCheckAt = &next
		return e.queue.EnqueueCheckTx(ctx, tx, *cur, e.routine(delay))
	})
	if err != nil || !changed || first == nil || pending {
		return done, false, err
	}
	// Failed, or an answer that is not final: as a check job would.
	if _, err := e.applyCheck(ctx, cur, acct, *first); err != nil {
		return done, false, err
	}
	return done, false, nil
}

// placementDeadline is when o must have reached a final state at acct: set at its
// first placement from its creation time, or by an operator's re-dispatch.
func placementDeadline(o watan.Order, acct watan.ProviderAccount) time.Time {
	if o.Deadline != nil {
		return *o.Deadline
	}
	return o.CreatedAt.Add(acct.Settings.Deadline)
}

// applyPlace records the answer to the placement of generation o.Generation.
func (e *Engine) applyPlace(ctx context.Context, st *step, o watan.Order, pkg watan.Package, acct watan.ProviderAccount, client watan.Provider, res watan.PlaceResult, callErr error) (Next, bool, error) {
	ans := &answer{what: watan.M("place.answer", "outcome", string(res.Outcome), "ref", o.ProviderReferans, "said", describe(res, callErr)).String()}
	switch res.Outcome {
	case watan.PlaceAccepted:
		return e.accepted(ctx, st, o, acct, client, res, ans)

	case watan.PlaceDelivered:
		ans.data = map[string]string{"pin": res.PIN}
		_, _, err := e.apply(ctx, o, watan.TrDeliveredAtPlacement, ans, func(tx *sql.Tx, cur *watan.Order) error {
			now := e.now()
			cur.ProviderState, cur.SentAt = watan.StateDelivered, &now
			cur.ProviderOrderID, cur.ProviderMessage, cur.PIN = res.ProviderOrderID, res.Message, res.PIN
			reportedCost(cur, res, acct)
			if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventDelivered, watan.M("place.delivered", "provider_order", res.ProviderOrderID))); err != nil {
				return err
			}
			return e.finish(ctx, tx, cur, watan.StatusApproved, watan.M("finish.delivered").String())
		})
		return done, false, err

	case watan.PlaceRejected:
		fb := pkg.Routing.FallbackProviderID
		if res.Reason.Fallbackable() && fb != 0 && fb != acct.ID && !o.FallbackUsed {
			// The refusal means no order exists at acct, so the order may go
			// elsewhere under a new reference.
			_, changed, err := e.apply(ctx, o, watan.TrFallback, ans, func(tx *sql.Tx, cur *watan.Order) error {
				cur.ProviderMessage = res.Message
				cur.ProviderState, cur.ProviderAccountID, cur.FallbackUsed = watan.StateNotSent, fb, true
				cur.ProviderReferans = ""
				cur.Cost, cur.CostCurrency, cur.CostSource = nil, "", "" // the fallback's placement sets its own
				return e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventFallback,
					watan.M("place.refused_fb", "account", acct.Name, "reason", string(res.Reason), "said", res.Message, "fallback", i64(fb))))
			})
			return done, changed, err
		}
		_, _, err := e.apply(ctx, o, watan.TrRefused, ans, func(tx *sql.Tx, cur *watan.Order) error {
			cur.ProviderMessage = res.Message
			cur.ProviderState = watan.StateFailed
			if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventFailed,
				watan.M("place.refused", "account", acct.Name, "reason", string(res.Reason), "said", res.Message))); err != nil {
				return err
			}
			return e.finish(ctx, tx, cur, watan.StatusRejected, watan.M("finish.refused", "said", res.Message).String())
		})
		return done, false, err

	default: // unknown: the order may exist; ask about the same reference.
		cur, changed, err := e.apply(ctx, o, watan.TrOutcomeUnknown, ans, func(tx *sql.Tx, cur *watan.Order) error {
			cur.ProviderState = watan.StateUnknown
			cur.ProviderMessage = describe(res, callErr)
			return e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventUnknown,
				watan.M("place.unknown", "detail", describe(res, callErr), "ref", cur.ProviderReferans)))
		})
		if err != nil || !changed {
			return done, false, err
		}
		next, again, err := e.resolve(ctx, st, cur)
		if err != nil || !again || placeOutcome(ctx, res, callErr) != breaker.Misconfigured {
			return next, again, err
		}
		// The provider refused the account itself and holds no order under the
		// reference: the fallback takes the order now, or it waits instead of
		// asking the same account again at once (its circuit breaker decides
		// when the account as a whole is given up on).
		now, found, err := e.findLive(ctx, o.TenantID, o.ID)
		if !found || err != nil || now.ProviderState != watan.StateNotFound || now.Generation != o.Generation {
			return done, found && err == nil, err
		}
		st.log(ctx, "provider", "refused_account", "provider_account_id", acct.ID)
		return e.elsewhere(ctx, now, pkg, acct, watan.M("why.refused", "detail", describe(res, callErr)), e.cfg.PausedRetry)
	}
}

// resolve asks the provider about an order whose placement outcome is unknown
// (state unknown, or sending under a lease that ran out) and acts on the answer.
// again asks the caller to look at the order once more: the provider has no such
// order, so it may be placed again.
func (e *Engine) resolve(ctx context.Context, st *step, o watan.Order) (Next, bool, error) {
	if now := e.now(); o.PlacementInFlight(now) {
		return later(o.LeaseUntil.Sub(now)), false, nil
	}
	acct, client, err := e.provider(ctx, o.TenantID, o.ProviderAccountID)
	if err != nil {
		return done, false, err
	}
	// A paused account, or one whose circuit is open, still gets this check: only
	// the provider can say whether the order exists, and nothing may happen to the
	// order before it does.
	r, callErr := e.askOne(ctx, acct, client, o)
	if callErr != nil {
		if ctx.Err() != nil {
			return done, false, callErr
		}
		st.log(ctx, "resolve_check", "error", "err", callErr)
		// Leave it to the check job, which retries with backoff.
		return done, false, e.recordCheckFailure(ctx, o, callErr, RetryDelay(1))
	}
	st.log(ctx, "resolve_check", string(r.Outcome), "referans", o.ProviderReferans, "generation", o.Generation)
	out, err := e.applyCheck(ctx, o, acct, r)
	if err != nil {
		return done, false, err
	}
	return done, out.replace, nil
}

// askOne asks o's provider about o's reference alone, within the account's
// concurrency limit, and reports the outcome to the observer.
func (e *Engine) askOne(ctx context.Context, acct watan.ProviderAccount, client watan.Provider, o watan.Order) (watan.CheckResult, error) {
	release, err := e.limits.acquire(ctx, acct)
	if err != nil {
		return watan.CheckResult{}, err
	}
	results, err := client.Check(ctx, []watan.CheckRef{{Referans: o.ProviderReferans, ProviderOrderID: o.ProviderOrderID}})
	release()
	if err == nil && len(results) != 1 {
		err = fmt.Errorf("provider answered %d results for one reference", len(results))
	}
	e.breakers.of(acct).Record(callOutcome(ctx, err), errText(err))
	if err != nil {
		e.observer.Checked(acct.Kind, acct.ID, "error")
		return watan.CheckResult{}, err
	}
	e.observer.Checked(acct.Kind, acct.ID, string(results[0].Outcome))
	return results[0], nil
}

// findLive reads the order; found is false, with no error, if it no longer exists
// (its tenant was deleted), which ends the job asking.
func (e *Engine) findLive(ctx context.Context, tenantID, orderID int64) (o watan.Order, found bool, err error) {
	o, err = e.store.FindOrder(ctx, tenantID, orderID)
	if watan.IsNotFound(err) {
		return o, false, nil
	}
	return o, err == nil, err
}

// elsewhere handles an order whose provider account cannot take placements now
// (paused by an operator, circuit open): a fallback not yet used takes it; otherwise
// it waits, with one event saying why, and its job looks again after wait.
func (e *Engine) elsewhere(ctx context.Context, o watan.Order, pkg watan.Package, acct watan.ProviderAccount, why watan.Msg, wait time.Duration) (Next, bool, error) {
	if fb := pkg.Routing.FallbackProviderID; fb != 0 && fb != acct.ID && !o.FallbackUsed {
		_, changed, err := e.apply(ctx, o, watan.TrFallback, nil, func(tx *sql.Tx, cur *watan.Order) error {
			if cur.FallbackUsed || cur.ProviderAccountID != o.ProviderAccountID {
				return errUnchanged
			}
			cur.ProviderState, cur.ProviderAccountID, cur.FallbackUsed, cur.ProviderReferans = watan.StateNotSent, fb, true, ""
			return e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventFallback,
				watan.M("route.fallback", "account", acct.Name, "why", why.String(), "fallback", i64(fb))))
		})
		return done, changed, err
	}
	return later(wait), false, e.noteWaiting(ctx, o, watan.M("route.waiting", "account", acct.Name, "why", why.String()))
}

// noteWaiting records, once per reason, why the order waits.
func (e *Engine) noteWaiting(ctx context.Context, o watan.Order, m watan.Msg) error {
	msg := m.String()
	if o.ProviderMessage == msg {
		return nil
	}
	_, _, err := e.apply(ctx, o, watan.TrWaiting, nil, func(tx *sql.Tx, cur *watan.Order) error {
		if cur.ProviderMessage == msg {
			return errUnchanged
		}
		cur.ProviderMessage = msg
		return e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventWaiting, m))
	})
	return err
}

func describe(res watan.PlaceResult, err error) string {
	if err != nil {
		return err.Error()
	}
	if res.Message != "" {
		return res.Message
	}
	return string(res.Outcome)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// configuredCost gives an order about to be placed at acct the cost its mapping
// configures (per unit, times the quantity), or none: the cost until the
// provider's answer says otherwise, and what stays when the answer is lost and
// the order is found by a status check instead.
func configuredCost(o *watan.Order, m watan.Mapping, acct watan.ProviderAccount) {
	o.Cost, o.CostCurrency, o.CostSource = nil, acct.Currency, watan.CostNone
	if m.Cost == nil {
		return
	}
	if c, ok := m.Cost.Mul(o.Quantity); ok {
		o.Cost, o.CostSource = &c, watan.CostConfigured
	}
}

// reportedCost replaces the configured cost with the provider's own price for
// the order (znet OK|cost|balance, barakat "price"), when it sent one we can read.
func reportedCost(o *watan.Order, res watan.PlaceResult, acct watan.ProviderAccount) {
	c, ok := parseCost(res.Cost)
	if !ok {
		return
	}
	o.Cost, o.CostCurrency, o.CostSource = &c, acct.Currency, watan.CostProvider
}

// parseCost reads a provider's price for an order; a negative one is not a cost.
func parseCost(s string) (watan.Amount, bool) {
	a, ok := watan.ParseProviderAmount(s)
	return a, ok && a >= 0
}
