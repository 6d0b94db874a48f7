package engine

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"watan"
	"watan/internal/breaker"
)

// checkOutcome is what applying one status answer decided.
type checkOutcome struct {
	final   bool          // nothing more to check for this generation
	after   time.Duration // pending: check again after this
	replace bool          // the provider has no such order: place again, same reference
}

// Check asks the order's provider about the order's current placement generation.
// It is CheckGeneration for whatever generation the order is at.
func (e *Engine) Check(ctx context.Context, tenantID, orderID int64) (Next, error) {
	return e.CheckGeneration(ctx, tenantID, orderID, 0)
}

// CheckGeneration asks the order's provider about placement generation gen of the
// order (with other due orders of the same account when the provider answers in
// batches) and acts on the answers. A check job belongs to one generation: once the
// order has moved on, the new generation has a job of its own and this one ends.
// Zero means the current generation (jobs enqueued before generations existed).
//
// A pending answer asks to run again later without using an attempt; a failed call
// returns an error so the queue retries with backoff; the deadline rejects and
// refunds. While a placement of the generation may still be on the wire, nobody
// is asked: the answer is "pending, placement in flight" and the job comes back
// when the placement's lease has run out.
func (e *Engine) CheckGeneration(ctx context.Context, tenantID, orderID int64, gen int) (Next, error) {
	o, found, err := e.findLive(ctx, tenantID, orderID)
	if !found {
		return done, err
	}
	if gen == 0 {
		gen = o.Generation
	}
	next, err := e.check(ctx, o, gen)
	if err != nil || next != done {
		return next, err
	}
	// Before the job ends, look at the order once more. Another actor may have
	// made this generation need watching while the job ran (a concurrent answer
	// that the provider holds the order) and found this job live, so it enqueued
	// none. The job may end only once the generation needs no watching, which,
	// once true, stays true: no transition makes a generation dispatched again.
	return e.stillWatching(ctx, tenantID, orderID, gen)
}

// stillWatching tells a check job of generation gen whether to run again.
func (e *Engine) stillWatching(ctx context.Context, tenantID, orderID int64, gen int) (Next, error) {
	o, found, err := e.findLive(ctx, tenantID, orderID)
	if !found {
		return done, err
	}
	watched := o.Status == watan.StatusPending && o.ProviderState.Dispatched() || o.UnderAfterCare()
	if o.Generation != gen || !watched {
		return done, nil
	}
	now := e.now()
	switch {
	case o.PlacementInFlight(now):
		return later(o.LeaseUntil.Sub(now)), nil
	case o.NextCheckAt != nil && o.NextCheckAt.After(now):
		if o.Status == watan.StatusPending && o.ProviderState == watan.StateSent {
			return later(e.routine(o.NextCheckAt.Sub(now))), nil
		}
		return later(o.NextCheckAt.Sub(now)), nil
	}
	return later(RetryDelay(1)), nil
}

func (e *Engine) check(ctx context.Context, o watan.Order, gen int) (Next, error) {
	st := e.steps(o, "check")
	switch {
	case o.Generation != gen:
		st.log(ctx, "skip", "old_generation", "job_generation", gen, "generation", o.Generation)
		return done, nil
	case o.UnderAfterCare():
		return e.afterCare(ctx, st, o)
	case o.Status != watan.StatusPending || !o.ProviderState.Dispatched():
		st.log(ctx, "skip", "not_dispatched", "status", o.Status, "provider_state", o.ProviderState)
		return done, nil
	}
	now := e.now()
	if o.PlacementInFlight(now) {
		st.log(ctx, "skip", "placement_in_flight", "lease_until", o.LeaseUntil)
		return later(o.LeaseUntil.Sub(now)), nil
	}
	if o.Deadline != nil && !now.Before(*o.Deadline) {
		return done, e.settleDeadline(ctx, st, o)
	}
	if o.NextCheckAt != nil && o.NextCheckAt.After(now) && o.ProviderState == watan.StateSent {
		// Checked meanwhile (a batch, an operator): wait for the next due time.
		st.log(ctx, "skip", "not_due", "next_check_at", o.NextCheckAt)
		return later(e.routine(o.NextCheckAt.Sub(now))), nil
	}
	acct, client, err := e.provider(ctx, o.TenantID, o.ProviderAccountID)
	if err != nil {
		return done, err
	}
	next, err := e.checkWith(ctx, st, o, acct, client, true)
	if err != nil {
		if snap := e.breakers.of(acct).Snapshot(); snap.State == breaker.Open {
			// The provider is known to be failing: wait for its circuit to
			// half-open without using up the job's attempts.
			return later(e.circuitWait(&breaker.OpenError{State: snap.State, Until: snap.Until})), nil
		}
	}
	return next, err
}

// checkWith calls the provider about o (and, if batch is set and the protocol
// allows, other due orders of the same account) and applies the answers, each to
// the generation it was asked about.
func (e *Engine) checkWith(ctx context.Context, st *step, o watan.Order, acct watan.ProviderAccount, client watan.Provider, batch bool) (Next, error) {
	orders := []watan.Order{o}
	if caps := client.Capabilities(); batch && caps.BatchCheck && caps.MaxBatch > 1 {
		var until time.Time
		var err error
		if orders, until, err = e.claimBatch(ctx, o, acct, caps.MaxBatch); err != nil {
			return done, err
		}
		if len(orders) == 0 {
			// Another batch check has taken o along and is asking about it.
			st.log(ctx, "skip", "claimed_by_a_batch", "until", until)
			return later(e.routine(until.Sub(e.now()))), nil
		}
	}
	return e.ask(ctx, st, orders, nil, acct, client)
}

// ask calls the provider about orders, all of acct, in one request and applies
// the answers, each to the generation it was asked about. The outcome is the
// first order's: what its check job does next. A failed call is recorded on the
// first order and returned. plans holds, by order, the next check the check
// poller planned when it claimed the order (planCheck); nil for a check job.
func (e *Engine) ask(ctx context.Context, st *step, orders []watan.Order, plans map[int64]time.Time, acct watan.ProviderAccount, client watan.Provider) (Next, error) {
	o := orders[0]
	refs := make([]watan.CheckRef, len(orders))
	for i, x := range orders {
		refs[i] = watan.CheckRef{Referans: x.ProviderReferans, ProviderOrderID: x.ProviderOrderID}
	}
	release, err := e.limits.acquire(ctx, acct)
	if err != nil {
		return done, err
	}
	results, callErr := client.Check(ctx, refs)
	release()
	if callErr == nil && len(results) != len(refs) {
		callErr = fmt.Errorf("provider answered %d of %d references", len(results), len(refs))
	}
	e.breakers.of(acct).Record(callOutcome(ctx, callErr), errText(callErr))
	if callErr != nil {
		for range refs {
			e.observer.Checked(acct.Kind, acct.ID, "error")
		}
		st.log(ctx, "check_call", "error", "provider_account_id", acct.ID, "orders", len(refs), "err", callErr)
		if err := e.recordCheckFailure(ctx, o, callErr, 0); err != nil {
			e.log.Error("record check failure", "order_id", o.ID, "err", err)
		}
		if plans != nil {
			e.releaseClaims(ctx, orders, plans, acct)
		}
		return done, fmt.Errorf("check order %d: %w", o.ID, callErr)
	}
	var mine checkOutcome
	for i, r := range results {
		e.observer.Checked(acct.Kind, acct.ID, string(r.Outcome))
		out, err := e.applyCheckPlanned(ctx, orders[i], acct, r, plans[orders[i].ID])
		if err != nil {
			return done, err
		}
		if i == 0 {
			mine = out
			st.log(ctx, "check", string(r.Outcome), "provider_account_id", acct.ID, "batch", len(refs), "next_in", out.after)
		}
	}
	if mine.final || mine.replace {
		return done, nil // a replacement has its dispatch job, enqueued by applyCheck
	}
	return later(e.routine(mine.after)), nil
}

// claimBatch gathers the orders to ask about in one batch check with o: o and
// up to max-1 other orders of the account due within half an interval, which
// ride along since checking them a little early costs nothing while waiting for
// their own moment costs a request each. It claims them (Store.ClaimChecks)
// until a window after that, so that concurrent batch checks of the account,
// which list the same due orders, ask about each once. An order another check
// has claimed meanwhile is left out; when that is o (its next check is no
// longer the one read), the batch is empty, and until is when to look again.
func (e *Engine) claimBatch(ctx context.Context, o watan.Order, acct watan.ProviderAccount, max int) ([]watan.Order, time.Time, error) {
	now := e.now()
	window := min(acct.Settings.PollInterval/2, 30*time.Second)
	dueBy, until := now.Add(window), now.Add(2*window)
	others, err := e.store.DueChecks(ctx, o.TenantID, acct.ID, dueBy, o.ID, max-1)
	if err != nil {
		return nil, until, err
	}
	ids := make([]int64, len(others))
	for i, x := range others {
		ids[i] = x.ID
	}
	got, err := e.store.ClaimChecks(ctx, o.TenantID, o.ID, o.NextCheckAt, ids, dueBy, until)
	if err != nil {
		return nil, until, err
	}
	if !slices.Contains(got, o.ID) {
		return nil, until, nil
	}
	// The orders as the claim left them: a failed call saved on o must leave it
	// due when the claim lapses, not when it was due before.
	o.NextCheckAt = &until
	orders := []watan.Order{o}
	for _, x := range others {
		if slices.Contains(got, x.ID) {
			x.NextCheckAt = &until
			orders = append(orders, x)
		}
	}
	return orders, until, nil
}

// recordCheckFailure notes a failed check call on the order. With a positive
// retry it also makes sure the order's check job exists, due after retry: the
// dispatch job hands an order whose outcome it could not resolve to the check job.
func (e *Engine) recordCheckFailure(ctx context.Context, o watan.Order, callErr error, retry time.Duration) error {
	_, _, err := e.apply(ctx, o, watan.TrCheckFailed, nil, func(tx *sql.Tx, cur *watan.Order) error {
		now := e.now()
		cur.LastCheckedAt = &now
		cur.CheckCount++
		cur.ProviderMessage = watan.M("check.failed_call", "detail", callErr.Error()).String()
		if retry <= 0 {
			return nil
		}
		at := now.Add(retry)
		cur.NextCheckAt = &at
		return e.queue.EnqueueCheckTx(ctx, tx, *cur, retry)
	})
	return err
}

// applyCheck records one status answer about generation o.Generation of o.
func (e *Engine) applyCheck(ctx context.Context, o watan.Order, acct watan.ProviderAccount, r watan.CheckResult) (checkOutcome, error) {
	return e.applyCheckPlanned(ctx, o, acct, r, time.Time{})
}

// applyCheckPlanned is applyCheck where a pending answer's next check was
// planned already (when the check poller claimed the order, planCheck): it keeps
// that time, still ahead, instead of working out another. Zero plans nothing.
func (e *Engine) applyCheckPlanned(ctx context.Context, o watan.Order, acct watan.ProviderAccount, r watan.CheckResult, plan time.Time) (checkOutcome, error) {
	ans := &answer{what: watan.M("check.answer", "outcome", string(r.Outcome), "ref", o.ProviderReferans, "said", r.Message).String()}
	seen := func(cur *watan.Order) {
		now := e.now()
		cur.LastCheckedAt = &now
		cur.CheckCount++
		if r.ProviderOrderID != "" {
			cur.ProviderOrderID = r.ProviderOrderID
		}
		if r.Message != "" {
			cur.ProviderMessage = r.Message
		}
		if cur.SentAt == nil {
			cur.SentAt = &now
		}
	}
	final := checkOutcome{final: true}
	// A final answer tells the adaptive policy when the order finished: after
	// the check before this one, by this one.
	var sent, prev *time.Time
	learn := func(cur *watan.Order) { sent, prev = cur.SentAt, cur.LastCheckedAt }
	learned := func(changed bool, err error) {
		if changed && err == nil {
			e.observeCompletion(acct, sent, prev, e.now())
		}
	}
	switch outcome := r.Outcome; {
	case outcome == watan.CheckDelivered:
		ans.data = map[string]string{"pin": r.PIN}
		_, changed, err := e.apply(ctx, o, watan.TrAnswerDelivered, ans, func(tx *sql.Tx, cur *watan.Order) error {
			learn(cur)
			seen(cur)
			cur.ProviderState, cur.PIN = watan.StateDelivered, r.PIN
			if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventDelivered, watan.M("check.delivered", "said", r.Message))); err != nil {
				return err
			}
			return e.finish(ctx, tx, cur, watan.StatusApproved, watan.M("finish.delivered").String())
		})
		learned(changed, err)
		return final, err

	case outcome == watan.CheckFailed:
		_, changed, err := e.apply(ctx, o, watan.TrAnswerFailed, ans, func(tx *sql.Tx, cur *watan.Order) error {
			learn(cur)
			seen(cur)
			cur.ProviderState = watan.StateFailed
			if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventFailed, watan.M("check.failed", "said", r.Message))); err != nil {
				return err
			}
			return e.finish(ctx, tx, cur, watan.StatusRejected, watan.M("finish.cancelled", "said", r.Message).String())
		})
		learned(changed, err)
		return final, err

	case outcome == watan.CheckNotFound && o.ProviderState != watan.StateSent:
		// The placement never reached the provider, and none of this generation is
		// on the wire: placing again under the same reference cannot make a second
		// order, unless the deadline has passed, when nothing is placed any more.
		if e.now().Before(placementDeadline(o, acct)) {
			_, changed, err := e.apply(ctx, o, watan.TrAnswerNotFound, ans, func(tx *sql.Tx, cur *watan.Order) error {
				seen(cur)
				cur.ProviderState, cur.NextCheckAt = watan.StateNotFound, nil
				if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventCheck,
					watan.M("check.not_found", "ref", cur.ProviderReferans))); err != nil {
					return err
				}
				return e.queue.EnqueueDispatchTx(ctx, tx, *cur)
			})
			return checkOutcome{final: true, replace: changed}, err
		}
		_, _, err := e.apply(ctx, o, watan.TrExpire, ans, func(tx *sql.Tx, cur *watan.Order) error {
			seen(cur)
			cur.ProviderState, cur.NextCheckAt = watan.StateExpired, nil
			if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventTimeout,
				watan.M("check.not_found_late", "ref", cur.ProviderReferans, "deadline", stamp(placementDeadline(*cur, acct))))); err != nil {
				return err
			}
			return e.finish(ctx, tx, cur, watan.StatusRejected, watan.M("finish.timeout_gone").String())
		})
		return final, err

	default:
		// Pending, unclassified, or "not found" about an order the provider
		// accepted before, which is no evidence of anything final: keep watching
		// until the deadline.
		var out checkOutcome
		_, changed, err := e.apply(ctx, o, watan.TrAnswerPending, ans, func(tx *sql.Tx, cur *watan.Order) error {
			seen(cur)
			now := e.now()
			next := plan
			if !plan.After(now) {
				next = now.Add(e.nextDelay(acct, *cur))
			}
			out.after = next.Sub(now)
			cur.NextCheckAt = &next
			if cur.ProviderState == watan.StateSent {
				// Watched already: the generation's check job is live (it ends
				// only once the generation needs no watching, and the sweeper
				// brings back one that ran out of attempts). Enqueueing again
				// would be a no-op that still writes River's row.
				return nil
			}
			if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventCheck,
				watan.M("check.watching", "ref", cur.ProviderReferans, "outcome", string(r.Outcome)))); err != nil {
				return err
			}
			cur.ProviderState = watan.StateSent
			// Make sure a job watches this generation; a no-op when one exists.
			return e.queue.EnqueueCheckTx(ctx, tx, *cur, e.routine(out.after))
		})
		if !changed {
			return final, err
		}
		return out, err
	}
}

// settleDeadline settles a dispatched order whose deadline has passed. The
// provider is asked once more first, so that an order it delivered (or cancelled)
// in the meantime ends as it did there; only an answer that is not final, or no
// answer, expires it.
func (e *Engine) settleDeadline(ctx context.Context, st *step, o watan.Order) error {
	if acct, client, err := e.provider(ctx, o.TenantID, o.ProviderAccountID); err == nil {
		if r, err := e.askOne(ctx, acct, client, o); err == nil {
			st.log(ctx, "deadline_check", string(r.Outcome), "referans", o.ProviderReferans)
			if r.Outcome == watan.CheckDelivered || r.Outcome == watan.CheckFailed {
				_, err := e.applyCheck(ctx, o, acct, r)
				return err
			}
		}
	}
	return e.expire(ctx, st, o)
}

// expire rejects and refunds an order whose deadline passed while its provider was
// still working on it (or might have been).
func (e *Engine) expire(ctx context.Context, st *step, o watan.Order) error {
	_, changed, err := e.apply(ctx, o, watan.TrExpire, nil, func(tx *sql.Tx, cur *watan.Order) error {
		if !cur.ProviderState.Dispatched() || cur.Deadline == nil || e.now().Before(*cur.Deadline) || cur.PlacementInFlight(e.now()) {
			return errUnchanged
		}
		cur.ProviderState, cur.NextCheckAt = watan.StateExpired, nil
		if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventTimeout,
			watan.M("deadline.passed", "deadline", stamp(*cur.Deadline)))); err != nil {
			return err
		}
		if err := e.finish(ctx, tx, cur, watan.StatusRejected, watan.M("finish.timeout").String()); err != nil {
			return err
		}
		return e.watchAfterDecision(ctx, tx, cur)
	})
	st.log(ctx, "deadline", map[bool]string{true: "expired", false: "skip"}[changed], "err", err)
	return err
}

// expireUnplaced rejects and refunds, without a call, an order no provider holds
// whose deadline passed before it could be placed (it waited for a paused account,
// say).
func (e *Engine) expireUnplaced(ctx context.Context, o watan.Order, deadline time.Time) error {
	_, _, err := e.apply(ctx, o, watan.TrExpire, nil, func(tx *sql.Tx, cur *watan.Order) error {
		if cur.ProviderState != watan.StateNotSent && cur.ProviderState != watan.StateNotFound {
			return errUnchanged
		}
		cur.ProviderState, cur.NextCheckAt, cur.Deadline = watan.StateExpired, nil, &deadline
		if err := e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventTimeout,
			watan.M("deadline.unplaced", "deadline", stamp(deadline)))); err != nil {
			return err
		}
		return e.finish(ctx, tx, cur, watan.StatusRejected, watan.M("finish.timeout_unsent").String())
	})
	return err
}
