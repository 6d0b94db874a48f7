package engine

import (
	"context"
	"database/sql"
	"time"

	"watan"
)

// After-care: an order decided while a provider may still hold it (an operator
// approved or rejected it, or its deadline expired it) stays watched, so that what
// the provider does next reaches the timeline as a late_answer that an operator
// can act on: a delivery after a refund costs the reseller money. The status, PIN
// and provider state never change by it.
const (
	// afterCareEvery is the wait between after-care checks.
	afterCareEvery = 10 * time.Minute
	// afterCareFor bounds after-care from the decision on.
	afterCareFor = 24 * time.Hour
)

// watchAfterDecision sets cur, which is being decided inside tx, under after-care
// if a provider may hold it, and makes sure its check job exists.
func (e *Engine) watchAfterDecision(ctx context.Context, tx *sql.Tx, cur *watan.Order) error {
	cur.NextCheckAt = nil
	if !watan.TrAfterCare.Allows(cur.ProviderState) {
		return nil
	}
	next := e.now().Add(afterCareEvery)
	cur.NextCheckAt = &next
	return e.queue.EnqueueCheckTx(ctx, tx, *cur, afterCareEvery)
}

// afterCare is the check job's step for an order under after-care.
func (e *Engine) afterCare(ctx context.Context, st *step, o watan.Order) (Next, error) {
	now := e.now()
	switch {
	case o.PlacementInFlight(now):
		return later(o.LeaseUntil.Sub(now)), nil
	case o.NextCheckAt.After(now):
		return later(o.NextCheckAt.Sub(now)), nil
	}
	stop := o.CompletedAt == nil || now.After(o.CompletedAt.Add(afterCareFor))
	var r watan.CheckResult
	askErr := error(nil)
	if !stop {
		acct, client, err := e.provider(ctx, o.TenantID, o.ProviderAccountID)
		if err != nil {
			return done, err
		}
		if r, askErr = e.askOne(ctx, acct, client, o); askErr == nil {
			st.log(ctx, "after_care", string(r.Outcome), "referans", o.ProviderReferans)
		}
		// "Not found" ends the watch only for an order the provider never accepted.
		stop = askErr == nil && r.Outcome == watan.CheckNotFound && o.SentAt == nil
	}
	final := askErr == nil && (r.Outcome == watan.CheckDelivered || r.Outcome == watan.CheckFailed)
	_, _, err := e.apply(ctx, o, watan.TrAfterCare, nil, func(tx *sql.Tx, cur *watan.Order) error {
		now := e.now()
		if askErr == nil && !stop || final {
			cur.LastCheckedAt = &now
			cur.CheckCount++
		}
		switch {
		case final:
			cur.NextCheckAt = nil
			ev := e.event(*cur, EventLateAnswer, watan.M("answer.late", "outcome", string(r.Outcome), "said", r.Message, "status", string(cur.Status)))
			if r.PIN != "" {
				ev.Data = map[string]string{"pin": r.PIN}
			}
			return e.store.AddOrderEventTx(ctx, tx, ev)
		case stop:
			cur.NextCheckAt = nil
			return e.store.AddOrderEventTx(ctx, tx, e.event(*cur, EventCheck, stopReason(r, askErr)))
		}
		next := now.Add(afterCareEvery)
		cur.NextCheckAt = &next
		return nil
	})
	if err != nil || final || stop {
		return done, err
	}
	return later(afterCareEvery), nil
}

func stopReason(r watan.CheckResult, askErr error) watan.Msg {
	if askErr == nil && r.Outcome == watan.CheckNotFound {
		return watan.M("aftercare.not_found")
	}
	return watan.M("aftercare.gave_up", "duration", afterCareFor.String())
}
