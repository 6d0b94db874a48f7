package engine

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"watan"
)

// maxPlacementsPerRun bounds how often one dispatch run may place again after the
// provider said it has no such order, so a provider that keeps losing orders makes
// the job back off instead of spinning.
const maxPlacementsPerRun = 3

// Dispatch sends a pending order on its way according to its package's routing. It
// is idempotent: run again on an order already sent, it does nothing; run on an
// order whose last call has an unknown outcome, it asks the provider about the same
// reference before anything else.
func (e *Engine) Dispatch(ctx context.Context, tenantID, orderID int64) (Next, error) {
	o, err := e.store.FindOrder(ctx, tenantID, orderID)
	if err != nil {
		if watan.IsNotFound(err) {
			return done, nil
		}
		return done, err
	}
	st := e.steps(o, "dispatch")
	if o.Status != watan.StatusPending {
		st.log(ctx, "skip", "final", "status", o.Status)
		return done, nil
	}
	for range maxPlacementsPerRun {
		switch o.ProviderState {
		case watan.StateNotSent, watan.StateNotFound:
		case watan.StateSending, watan.StateUnknown:
			// A previous run may have reached the provider: ask before placing.
			next, again, err := e.resolve(ctx, st, o)
			if err != nil || !again {
				return next, err
			}
			if o, err = e.store.FindOrder(ctx, tenantID, orderID); err != nil {
				return done, err
			}
			continue
		default:
			st.log(ctx, "skip", "already_dispatched", "provider_state", o.ProviderState)
			return done, nil
		}
		pkg, err := e.catalog.pkg(ctx, tenantID, o.PackageCode)
		if err != nil {
			return done, fmt.Errorf("dispatch order %d: %w", o.ID, err)
		}
		next, again, err := e.route(ctx, st, o, pkg)
		if err != nil || !again {
			return next, err
		}
		if o, err = e.store.FindOrder(ctx, tenantID, orderID); err != nil {
			return done, err
		}
	}
	return done, fmt.Errorf("dispatch order %d: provider keeps losing the order; backing off", orderID)
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
		return done, false, e.toManual(ctx, o, "routing is manual: waiting for an operator")
	case watan.RouteCodes:
		return e.dispatchCodes(ctx, st, o, pkg)
	case watan.RouteAuto:
		if pkg.Routing.PrimaryProviderID == 0 {
			st.log(ctx, "route", "no_provider")
			return done, false, e.toManual(ctx, o, "routing has no provider account: waiting for an operator")
		}
		return e.placeAuto(ctx, st, o, pkg, pkg.Routing.PrimaryProviderID)
	}
	st.log(ctx, "route", "unknown_mode", "mode", pkg.Routing.Mode)
	return done, false, e.toManual(ctx, o, fmt.Sprintf("unknown routing %q: waiting for an operator", pkg.Routing.Mode))
}

// toManual leaves the order to an operator.
func (e *Engine) toManual(ctx context.Context, o watan.Order, why string) error {
	_, _, err := e.mutate(ctx, o.TenantID, o.ID, func(tx *sql.Tx, cur *watan.Order) error {
		if cur.Status != watan.StatusPending || cur.ProviderState == watan.StateManual {
			return errUnchanged
		}
		cur.ProviderState = watan.StateManual
		cur.ProviderMessage = why
		return e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventManual, "%s", why))
	})
	return err
}

// dispatchCodes hands out one stored code, or falls back when the stock is empty.
func (e *Engine) dispatchCodes(ctx context.Context, st *step, o watan.Order, pkg watan.Package) (Next, bool, error) {
	empty := false
	_, _, err := e.mutate(ctx, o.TenantID, o.ID, func(tx *sql.Tx, cur *watan.Order) error {
		if cur.Status != watan.StatusPending || cur.ProviderState != watan.StateNotSent {
			return errUnchanged
		}
		pin, err := e.store.TakeCodeTx(ctx, tx, cur.TenantID, pkg.Routing.CodeGroupID, cur.ID)
		if watan.IsNotFound(err) {
			empty = true
			return errUnchanged
		}
		if err != nil {
			return err
		}
		cur.ProviderState, cur.PIN = watan.StateDelivered, pin
		cur.ProviderMessage = "delivered from code stock"
		if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventDelivered, "code delivered from stock (group %d)", pkg.Routing.CodeGroupID)); err != nil {
			return err
		}
		return e.finish(ctx, tx, cur, watan.StatusApproved, "delivered from code stock")
	})
	if err != nil {
		st.log(ctx, "take_code", "error", "err", err)
		return done, false, err
	}
	if !empty {
		st.log(ctx, "take_code", "delivered", "code_group_id", pkg.Routing.CodeGroupID)
		return done, false, nil
	}
	if fb := pkg.Routing.FallbackProviderID; fb != 0 && !o.FallbackUsed {
		st.log(ctx, "take_code", "empty_fallback", "provider_account_id", fb)
		_, _, err := e.mutate(ctx, o.TenantID, o.ID, func(tx *sql.Tx, cur *watan.Order) error {
			if cur.ProviderState != watan.StateNotSent || cur.ProviderAccountID != 0 {
				return errUnchanged
			}
			cur.ProviderAccountID, cur.FallbackUsed = fb, true
			return e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventFallback, "code stock empty: sending to fallback provider account %d", fb))
		})
		return done, err == nil, err
	}
	st.log(ctx, "take_code", "empty_manual")
	return done, false, e.toManual(ctx, o, "code stock is empty: waiting for an operator")
}

// placeAuto places the order at provider account acctID: it stores the reference and
// the state "sending" and commits before calling, so that a crash or a lost reply
// can always be resolved by asking about that same reference.
func (e *Engine) placeAuto(ctx context.Context, st *step, o watan.Order, pkg watan.Package, acctID int64) (Next, bool, error) {
	acct, client, err := e.provider(ctx, o.TenantID, acctID)
	if err != nil {
		if watan.IsNotFound(err) {
			st.log(ctx, "provider", "missing", "provider_account_id", acctID)
			return done, false, e.toManual(ctx, o, fmt.Sprintf("provider account %d does not exist: waiting for an operator", acctID))
		}
		return done, false, err
	}
	if !acct.Active {
		st.log(ctx, "provider", "inactive", "provider_account_id", acctID)
		return done, false, e.toManual(ctx, o, fmt.Sprintf("provider account %q is inactive: waiting for an operator", acct.Name))
	}
	if acct.Paused {
		if fb := pkg.Routing.FallbackProviderID; fb != 0 && fb != acct.ID && !o.FallbackUsed {
			st.log(ctx, "provider", "paused_fallback", "provider_account_id", acctID, "fallback_id", fb)
			_, changed, err := e.mutate(ctx, o.TenantID, o.ID, func(tx *sql.Tx, cur *watan.Order) error {
				if cur.Status != watan.StatusPending || !oneOf(cur.ProviderState, watan.StateNotSent, watan.StateNotFound) || cur.FallbackUsed {
					return errUnchanged
				}
				cur.ProviderAccountID, cur.FallbackUsed, cur.ProviderReferans = fb, true, ""
				return e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventFallback,
					"provider account %q is paused (%s): trying fallback provider account %d", acct.Name, acct.PausedReason, fb))
			})
			return done, changed, err
		}
		st.log(ctx, "provider", "paused", "provider_account_id", acctID, "reason", acct.PausedReason)
		return later(e.cfg.PausedRetry), false, e.noteWaiting(ctx, o, acct)
	}
	mapping, err := e.catalog.mapping(ctx, o.TenantID, o.PackageID, acct.ID)
	if err != nil {
		if watan.IsNotFound(err) {
			st.log(ctx, "mapping", "missing", "provider_account_id", acctID)
			return done, false, e.toManual(ctx, o, fmt.Sprintf("package %s has no product mapping at provider account %q: waiting for an operator", pkg.Code, acct.Name))
		}
		return done, false, err
	}

	// Step 1: persist the reference and "sending", and commit, before any call.
	o, changed, err := e.mutate(ctx, o.TenantID, o.ID, func(tx *sql.Tx, cur *watan.Order) error {
		if cur.Status != watan.StatusPending {
			return errUnchanged
		}
		switch cur.ProviderState {
		case watan.StateNotSent:
			cur.DispatchCount++
			cur.ProviderReferans = referans(cur.ID, cur.DispatchCount)
		case watan.StateNotFound:
			// The provider has no order under the stored reference, so placing again
			// under it cannot make a second one; moves to another account clear it.
			if cur.ProviderReferans == "" {
				cur.DispatchCount++
				cur.ProviderReferans = referans(cur.ID, cur.DispatchCount)
			}
		default:
			return errUnchanged
		}
		cur.ProviderState, cur.ProviderAccountID = watan.StateSending, acct.ID
		cur.ProviderOrderID, cur.PIN = "", ""
		if cur.Deadline == nil {
			d := e.now().Add(acct.Settings.Deadline)
			cur.Deadline = &d
		}
		return e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventDispatch,
			"sending to provider account %q (%s) with reference %s", acct.Name, acct.Kind, cur.ProviderReferans))
	})
	if err != nil {
		st.log(ctx, "persist_referans", "error", "err", err)
		return done, false, err
	}
	if !changed {
		st.log(ctx, "persist_referans", "skip", "provider_state", o.ProviderState)
		return done, false, nil
	}
	st.log(ctx, "persist_referans", "sending", "provider_account_id", acct.ID, "referans", o.ProviderReferans)

	// Step 2: call the provider, within the account's concurrency limit.
	release, err := e.limits.acquire(ctx, acct.ID, acct.Settings.MaxInFlight)
	if err != nil {
		return done, false, err
	}
	res, callErr := client.Place(ctx, watan.PlaceRequest{
		Referans: o.ProviderReferans, ProductID: mapping.ProductID, Params: mapping.Params,
		Quantity: o.Quantity, PlayerID: o.PlayerID, Extra: o.Extra,
	})
	release()
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

	// Step 3: record what the provider said.
	return e.applyPlace(ctx, st, o, pkg, acct, res, callErr)
}

func (e *Engine) applyPlace(ctx context.Context, st *step, o watan.Order, pkg watan.Package, acct watan.ProviderAccount, res watan.PlaceResult, callErr error) (Next, bool, error) {
	if watan.IsMisconfigured(callErr) || (res.Outcome == watan.PlaceRejected && res.Reason == watan.ReasonMisconfigured) {
		e.pause(ctx, acct, describe(res, callErr))
	}
	switch res.Outcome {
	case watan.PlaceAccepted:
		_, _, err := e.mutate(ctx, o.TenantID, o.ID, func(tx *sql.Tx, cur *watan.Order) error {
			if cur.ProviderState != watan.StateSending || cur.ProviderReferans != o.ProviderReferans {
				return errUnchanged
			}
			now := e.now()
			cur.ProviderState, cur.SentAt = watan.StateSent, &now
			cur.ProviderOrderID, cur.ProviderMessage = res.ProviderOrderID, res.Message
			next := now.Add(acct.Settings.FirstCheckDelay)
			cur.NextCheckAt = &next
			if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventSent,
				"accepted by provider (order %s, cost %s): %s", orDash(res.ProviderOrderID), orDash(res.Cost), res.Message)); err != nil {
				return err
			}
			return e.queue.EnqueueCheckTx(ctx, tx, *cur, acct.Settings.FirstCheckDelay)
		})
		return done, false, err

	case watan.PlaceDelivered:
		_, _, err := e.mutate(ctx, o.TenantID, o.ID, func(tx *sql.Tx, cur *watan.Order) error {
			if cur.ProviderState != watan.StateSending || cur.ProviderReferans != o.ProviderReferans {
				return errUnchanged
			}
			now := e.now()
			cur.ProviderState, cur.SentAt = watan.StateDelivered, &now
			cur.ProviderOrderID, cur.ProviderMessage, cur.PIN = res.ProviderOrderID, res.Message, res.PIN
			if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventDelivered, "delivered at placement (order %s)", orDash(res.ProviderOrderID))); err != nil {
				return err
			}
			return e.finish(ctx, tx, cur, watan.StatusApproved, "delivered by provider")
		})
		return done, false, err

	case watan.PlaceRejected:
		fb := pkg.Routing.FallbackProviderID
		useFallback := res.Reason.Fallbackable() && fb != 0 && fb != acct.ID && !o.FallbackUsed
		_, _, err := e.mutate(ctx, o.TenantID, o.ID, func(tx *sql.Tx, cur *watan.Order) error {
			if cur.ProviderState != watan.StateSending || cur.ProviderReferans != o.ProviderReferans {
				return errUnchanged
			}
			cur.ProviderMessage = res.Message
			if useFallback {
				// The refusal means no order exists at acct, so the order may go
				// elsewhere under a new reference.
				cur.ProviderState, cur.ProviderAccountID, cur.FallbackUsed = watan.StateNotFound, fb, true
				cur.ProviderReferans = ""
				return e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventFallback,
					"refused by provider account %q (%s: %s): trying fallback provider account %d", acct.Name, res.Reason, res.Message, fb))
			}
			cur.ProviderState = watan.StateFailed
			if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventFailed,
				"refused by provider account %q (%s): %s", acct.Name, res.Reason, res.Message)); err != nil {
				return err
			}
			return e.finish(ctx, tx, cur, watan.StatusRejected, fmt.Sprintf("refused by provider: %s", orDash(res.Message)))
		})
		return done, useFallback && err == nil, err

	default: // unknown: the order may exist; ask about the same reference.
		cur, _, err := e.mutate(ctx, o.TenantID, o.ID, func(tx *sql.Tx, cur *watan.Order) error {
			if cur.ProviderState != watan.StateSending || cur.ProviderReferans != o.ProviderReferans {
				return errUnchanged
			}
			cur.ProviderState = watan.StateUnknown
			cur.ProviderMessage = describe(res, callErr)
			return e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventUnknown,
				"outcome unknown (%s): checking reference %s before anything else", describe(res, callErr), cur.ProviderReferans))
		})
		if err != nil {
			return done, false, err
		}
		if cur.ProviderState != watan.StateUnknown {
			return done, false, nil
		}
		return e.resolve(ctx, st, cur)
	}
}

// resolve asks the provider about an order whose placement outcome is unknown
// (state sending or unknown) and acts on the answer. again asks the caller to place
// again: the provider has no such order.
func (e *Engine) resolve(ctx context.Context, st *step, o watan.Order) (Next, bool, error) {
	acct, client, err := e.provider(ctx, o.TenantID, o.ProviderAccountID)
	if err != nil {
		return done, false, err
	}
	// A paused account still gets this check: only the provider can say whether the
	// order exists, and nothing may happen to the order before it does.
	release, err := e.limits.acquire(ctx, acct.ID, acct.Settings.MaxInFlight)
	if err != nil {
		return done, false, err
	}
	results, callErr := client.Check(ctx, []watan.CheckRef{{Referans: o.ProviderReferans, ProviderOrderID: o.ProviderOrderID}})
	release()
	if callErr != nil || len(results) != 1 {
		e.observer.Checked(acct.Kind, acct.ID, "error")
		st.log(ctx, "resolve_check", "error", "err", callErr)
		if watan.IsMisconfigured(callErr) {
			e.pause(ctx, acct, callErr.Error())
		}
		// Leave it to the check job, which retries with backoff.
		return done, false, e.scheduleCheck(ctx, o, RetryDelay(1))
	}
	r := results[0]
	e.observer.Checked(acct.Kind, acct.ID, string(r.Outcome))
	st.log(ctx, "resolve_check", string(r.Outcome), "referans", o.ProviderReferans)
	out, err := e.applyCheck(ctx, o, acct, r)
	if err != nil {
		return done, false, err
	}
	return done, out.replace, nil
}

// scheduleCheck makes sure the order's check job exists, due after d.
func (e *Engine) scheduleCheck(ctx context.Context, o watan.Order, d time.Duration) error {
	_, _, err := e.mutate(ctx, o.TenantID, o.ID, func(tx *sql.Tx, cur *watan.Order) error {
		if cur.Status != watan.StatusPending || !cur.ProviderState.Dispatched() {
			return errUnchanged
		}
		if cur.ProviderState == watan.StateSending {
			cur.ProviderState = watan.StateUnknown
		}
		at := e.now().Add(d)
		cur.NextCheckAt = &at
		return e.queue.EnqueueCheckTx(ctx, tx, *cur, d)
	})
	return err
}

// noteWaiting records, once, that the order waits for a paused provider account.
func (e *Engine) noteWaiting(ctx context.Context, o watan.Order, acct watan.ProviderAccount) error {
	msg := fmt.Sprintf("waiting: provider account %q is paused (%s)", acct.Name, acct.PausedReason)
	if o.ProviderMessage == msg {
		return nil
	}
	_, _, err := e.mutate(ctx, o.TenantID, o.ID, func(tx *sql.Tx, cur *watan.Order) error {
		if cur.ProviderMessage == msg {
			return errUnchanged
		}
		cur.ProviderMessage = msg
		return e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventWaiting, "%s", msg))
	})
	return err
}

// pause stops dispatch to an account that shows the misconfiguration signal.
func (e *Engine) pause(ctx context.Context, acct watan.ProviderAccount, reason string) {
	if acct.Paused {
		return
	}
	defer e.catalog.forgetAccount(acct.TenantID, acct.ID)
	if err := e.store.SetProviderPaused(ctx, acct.TenantID, acct.ID, true, reason); err != nil {
		e.log.Error("pause provider account", "provider_account_id", acct.ID, "err", err)
		return
	}
	e.log.Warn("provider account paused: dispatch to it waits until it is healthy",
		"provider_account_id", acct.ID, "tenant_id", acct.TenantID, "kind", acct.Kind, "reason", reason)
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

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
