package engine

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"watan"
)

// checkOutcome is what applying one status answer decided.
type checkOutcome struct {
	final   bool          // the order reached a final state (or is out of our hands)
	after   time.Duration // pending: check again after this
	replace bool          // the provider has no such order: place again, same reference
}

// Check asks the order's provider about it (with other due orders of the same
// account when the provider answers in batches) and acts on the answers. A pending
// answer asks to run again later without using an attempt; a failed call returns an
// error so the queue retries with backoff; the deadline rejects and refunds.
func (e *Engine) Check(ctx context.Context, tenantID, orderID int64) (Next, error) {
	o, err := e.store.FindOrder(ctx, tenantID, orderID)
	if err != nil {
		if watan.IsNotFound(err) {
			return done, nil
		}
		return done, err
	}
	st := e.steps(o, "check")
	if o.Status != watan.StatusPending || !o.ProviderState.Dispatched() {
		st.log(ctx, "skip", "not_dispatched", "status", o.Status, "provider_state", o.ProviderState)
		return done, nil
	}
	now := e.now()
	if o.Deadline != nil && !now.Before(*o.Deadline) {
		return done, e.expire(ctx, st, o)
	}
	if o.NextCheckAt != nil && o.NextCheckAt.After(now) && o.ProviderState == watan.StateSent {
		// Checked meanwhile (a batch, an operator): wait for the next due time.
		st.log(ctx, "skip", "not_due", "next_check_at", o.NextCheckAt)
		return later(o.NextCheckAt.Sub(now)), nil
	}
	acct, client, err := e.provider(ctx, o.TenantID, o.ProviderAccountID)
	if err != nil {
		return done, err
	}
	next, err := e.checkWith(ctx, st, o, acct, client, true)
	if err != nil && watan.IsMisconfigured(err) {
		// The account is paused for this; wait for it without using up attempts.
		return later(e.cfg.PausedRetry), nil
	}
	return next, err
}

// checkWith calls the provider about o (and, if batch is set and the protocol
// allows, other due orders of the same account) and applies the answers.
func (e *Engine) checkWith(ctx context.Context, st *step, o watan.Order, acct watan.ProviderAccount, client watan.Provider, batch bool) (Next, error) {
	orders := []watan.Order{o}
	if caps := client.Capabilities(); batch && caps.BatchCheck && caps.MaxBatch > 1 {
		// Orders due within half an interval ride along: checking them a little
		// early costs nothing, while waiting for their own moment costs a request each.
		window := min(acct.Settings.PollInterval/2, 30*time.Second)
		others, err := e.store.DueChecks(ctx, o.TenantID, acct.ID, e.now().Add(window), o.ID, caps.MaxBatch-1)
		if err != nil {
			return done, err
		}
		orders = append(orders, others...)
	}
	refs := make([]watan.CheckRef, len(orders))
	for i, x := range orders {
		refs[i] = watan.CheckRef{Referans: x.ProviderReferans, ProviderOrderID: x.ProviderOrderID}
	}
	release, err := e.limits.acquire(ctx, acct.ID, acct.Settings.MaxInFlight)
	if err != nil {
		return done, err
	}
	results, callErr := client.Check(ctx, refs)
	release()
	if callErr == nil && len(results) != len(refs) {
		callErr = fmt.Errorf("provider answered %d of %d references", len(results), len(refs))
	}
	if callErr != nil {
		for range refs {
			e.observer.Checked(acct.Kind, acct.ID, "error")
		}
		st.log(ctx, "check_call", "error", "provider_account_id", acct.ID, "orders", len(refs), "err", callErr)
		if watan.IsMisconfigured(callErr) {
			e.pause(ctx, acct, callErr.Error())
		}
		e.recordCheckFailure(ctx, o, callErr)
		return done, fmt.Errorf("check order %d: %w", o.ID, callErr)
	}
	var mine checkOutcome
	for i, r := range results {
		e.observer.Checked(acct.Kind, acct.ID, string(r.Outcome))
		out, err := e.applyCheck(ctx, orders[i], acct, r)
		if err != nil {
			return done, err
		}
		if i == 0 {
			mine = out
			st.log(ctx, "check", string(r.Outcome), "provider_account_id", acct.ID, "batch", len(refs), "next_in", out.after)
		}
	}
	if mine.replace {
		return done, nil // applyCheck enqueued a dispatch job to place again
	}
	if mine.final {
		return done, nil
	}
	return later(mine.after), nil
}

// recordCheckFailure notes a failed check call on the order.
func (e *Engine) recordCheckFailure(ctx context.Context, o watan.Order, callErr error) {
	_, _, err := e.mutate(ctx, o.TenantID, o.ID, func(tx *sql.Tx, cur *watan.Order) error {
		now := e.now()
		cur.LastCheckedAt = &now
		cur.CheckCount++
		cur.ProviderMessage = "check failed: " + callErr.Error()
		return nil
	})
	if err != nil {
		e.log.Error("record check failure", "order_id", o.ID, "err", err)
	}
}

// applyCheck records one status answer about o.
func (e *Engine) applyCheck(ctx context.Context, o watan.Order, acct watan.ProviderAccount, r watan.CheckResult) (checkOutcome, error) {
	var out checkOutcome
	_, _, err := e.mutate(ctx, o.TenantID, o.ID, func(tx *sql.Tx, cur *watan.Order) error {
		out = checkOutcome{}
		if cur.ProviderReferans != o.ProviderReferans || cur.ProviderAccountID != acct.ID {
			out.final = true // re-dispatched meanwhile: this answer is about an old placement
			return errUnchanged
		}
		now := e.now()
		cur.LastCheckedAt = &now
		cur.CheckCount++
		if r.ProviderOrderID != "" {
			cur.ProviderOrderID = r.ProviderOrderID
		}
		if r.Message != "" {
			cur.ProviderMessage = r.Message
		}
		switch r.Outcome {
		case watan.CheckDelivered:
			out.final = true
			if cur.ProviderState == watan.StateDelivered {
				return errUnchanged
			}
			cur.ProviderState, cur.PIN, cur.NextCheckAt = watan.StateDelivered, r.PIN, nil
			if cur.SentAt == nil {
				cur.SentAt = &now
			}
			if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventDelivered, "delivered by provider: %s", orDash(r.Message))); err != nil {
				return err
			}
			return e.finish(ctx, tx, cur, watan.StatusApproved, "delivered by provider")

		case watan.CheckFailed:
			out.final = true
			if cur.ProviderState == watan.StateFailed {
				return errUnchanged
			}
			cur.ProviderState, cur.NextCheckAt = watan.StateFailed, nil
			if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventFailed, "provider reports failure: %s", orDash(r.Message))); err != nil {
				return err
			}
			return e.finish(ctx, tx, cur, watan.StatusRejected, "provider cancelled: "+orDash(r.Message))

		case watan.CheckNotFound:
			if cur.Status == watan.StatusPending && (cur.ProviderState == watan.StateSending || cur.ProviderState == watan.StateUnknown) {
				// The call never reached the provider: placing again under the same
				// reference cannot make a second order.
				out.replace, out.final = true, true
				cur.ProviderState, cur.NextCheckAt = watan.StateNotFound, nil
				if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventCheck,
					"provider has no order %s: placing again with the same reference", cur.ProviderReferans)); err != nil {
					return err
				}
				return e.queue.EnqueueDispatchTx(ctx, tx, *cur)
			}
			// The provider accepted this order before; "not found" now is not
			// evidence of anything final. Keep watching until the deadline.
			fallthrough

		default: // pending or unclassified
			if cur.Status != watan.StatusPending || !cur.ProviderState.Dispatched() {
				out.final = true
				return errUnchanged
			}
			if cur.ProviderState != watan.StateSent {
				if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventCheck,
					"provider has order %s (%s): watching it", cur.ProviderReferans, r.Outcome)); err != nil {
					return err
				}
				cur.ProviderState = watan.StateSent
				if cur.SentAt == nil {
					cur.SentAt = &now
				}
			}
			out.after = e.jitteredNext(acct.Settings, cur.CheckCount)
			next := now.Add(out.after)
			cur.NextCheckAt = &next
			// Make sure a job watches the order; a no-op when one exists.
			return e.queue.EnqueueCheckTx(ctx, tx, *cur, out.after)
		}
	})
	return out, err
}

// expire rejects and refunds an order whose deadline passed while its provider was
// still working on it.
func (e *Engine) expire(ctx context.Context, st *step, o watan.Order) error {
	_, changed, err := e.mutate(ctx, o.TenantID, o.ID, func(tx *sql.Tx, cur *watan.Order) error {
		if cur.Status != watan.StatusPending || !cur.ProviderState.Dispatched() || cur.Deadline == nil || e.now().Before(*cur.Deadline) {
			return errUnchanged
		}
		cur.ProviderState, cur.NextCheckAt = watan.StateExpired, nil
		if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventTimeout,
			"deadline %s passed without a final answer from the provider: rejected and refunded", cur.Deadline.Format(time.RFC3339))); err != nil {
			return err
		}
		return e.finish(ctx, tx, cur, watan.StatusRejected, "timeout: no final answer from the provider before the deadline")
	})
	st.log(ctx, "deadline", map[bool]string{true: "expired", false: "skip"}[changed], "err", err)
	return err
}
