package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"watan"
)

// This file holds what the dispatch and monitoring engine needs: order state changes
// inside the caller's transaction, money effects of status changes, the code stock,
// provider pauses, and the sweeper's queries (which read River's job table, since an
// order's job lives there).

// LockOrderTx reads the tenant's order and keeps other writers off it until tx ends:
// a row lock on PostgreSQL; on SQLite the transaction already holds the database's
// write lock from BEGIN.
func (s *Store) LockOrderTx(ctx context.Context, tx *sql.Tx, tenantID, id int64) (watan.Order, error) {
	q := `SELECT ` + orderColumns + orderFrom + ` WHERE o.tenant_id = $1 AND o.id = $2`
	if s.engine == EnginePostgres {
		q += ` FOR UPDATE OF o`
	}
	o, err := scanOrder(tx.QueryRowContext(ctx, q, tenantID, id))
	if isNoRows(err) {
		return watan.Order{}, errNotFound("order", id)
	}
	if err != nil {
		return watan.Order{}, fmt.Errorf("store: lock order: %w", err)
	}
	return o, nil
}

// SaveOrderTx writes what the engine changes about o in one statement: its
// provider-side fields (provider state, account, order id, referans, PIN, message,
// fallback flag, sent, checked and completed times, deadline, next check, check and
// dispatch counts, generation and lease) and its status, as a compare-and-set on
// the order's version: the row must still be at o.Version, the version it was read
// at, or nothing is written and the error is watan.ErrOrderChanged. The version is
// then one more; o.Version is the caller's to advance. A status change must come
// from SetOrderStatusTx, which applies its money effect; one UPDATE per transition
// keeps a transition to one new row version.
func (s *Store) SaveOrderTx(ctx context.Context, tx *sql.Tx, o watan.Order) error {
	if !o.ProviderState.Valid() {
		return fmt.Errorf("store: save order %d: invalid provider state %q", o.ID, o.ProviderState)
	}
	p := o.Profit
	var (
		snap   watan.ProfitSnapshot
		frozen any
	)
	if p != nil {
		snap, frozen = *p, s.ts(p.FrozenAt)
	}
	args := []any{string(o.ProviderState), nullID(o.ProviderAccountID), o.ProviderOrderID, nullString(o.ProviderReferans),
		o.PIN, truncate(o.ProviderMessage, 1000), o.FallbackUsed, s.nts(o.SentAt), s.nts(o.LastCheckedAt),
		s.nts(o.CompletedAt), s.nts(o.Deadline), s.nts(o.NextCheckAt), o.CheckCount, o.DispatchCount,
		s.ts(s.now()), o.Generation, s.nts(o.LeaseUntil), o.LeaseOwner, string(o.Status), o.TenantID, o.ID, o.Version,
		nullAmount(o.Cost), o.CostCurrency, string(o.CostSource), snap.BaseCurrency, snapArg(p, snap.Sell),
		snapArg(p, snap.Cost), snapArg(p, snap.SellRate), snapArg(p, snap.CostRate), frozen}
	var saved int64
	if evs := s.events.take(tx, o.TenantID, o.ID); len(evs) > 0 {
		// The transition's timeline entries go in the same statement (txevents.go).
		a, err := newEventArrays(evs)
		if err != nil {
			return err
		}
		args = append(args, a.at, a.actor, a.kind, a.message, a.data, a.code, a.params)
		err = tx.QueryRowContext(ctx, `WITH u AS (`+saveOrderSQL+` RETURNING tenant_id, id), e AS (
			INSERT INTO order_events (tenant_id, order_id, at, actor, kind, message, data, code, params)
			SELECT u.tenant_id, u.id, e.at, e.actor, e.kind, e.message, e.data::jsonb, e.code, e.params::jsonb
			FROM u, unnest($32::timestamptz[], $33::text[], $34::text[], $35::text[], $36::text[], $37::text[], $38::text[])
				WITH ORDINALITY AS e(at, actor, kind, message, data, code, params, n)
			ORDER BY e.n)
			SELECT count(*) FROM u`, args...).Scan(&saved)
		if err != nil {
			return fmt.Errorf("store: save order %d: %w", o.ID, err)
		}
	} else {
		res, err := tx.ExecContext(ctx, saveOrderSQL, args...)
		if err != nil {
			return fmt.Errorf("store: save order %d: %w", o.ID, err)
		}
		saved, _ = res.RowsAffected()
	}
	if saved != 1 {
		return fmt.Errorf("store: save order %d at version %d: %w", o.ID, o.Version, watan.ErrOrderChanged)
	}
	return nil
}

const saveOrderSQL = `UPDATE orders SET provider_state = $1, provider_account_id = $2,
	provider_order_id = $3, provider_referans = $4, pin = $5, provider_message = $6, fallback_used = $7,
	sent_at = $8, last_checked_at = $9, completed_at = $10, deadline = $11, next_check_at = $12,
	check_count = $13, dispatch_count = $14, updated_at = $15, generation = $16, lease_until = $17,
	lease_owner = $18, status = $19, cost = $23, cost_currency = $24, cost_source = $25, base_currency = $26,
	sell_base = $27, cost_base = $28, sell_rate = $29, cost_rate = $30, frozen_at = $31, version = version + 1
	WHERE tenant_id = $20 AND id = $21 AND version = $22`

// snapArg stores a snapshot figure, NULL when there is no snapshot.
func snapArg[T ~int64](p *watan.ProfitSnapshot, v T) any {
	if p == nil {
		return nil
	}
	return int64(v)
}

// SetOrderStatusTx decides the move of o to status to as actor: o is the order as
// the caller locked it in tx, so o.Status is the status as stored. It applies the
// money effect that watan.StatusTransition prescribes (a refund credits the order's
// price back; a re-debit takes it again only within the overdraft limit,
// ECodeInsufficientBalance otherwise), each as a ledger entry and an event, and
// writes the status event, so the ledger keeps summing to the balance and the
// timeline says who did it. It returns o with its new status and completion time;
// the caller writes them with SaveOrderTx in the same transaction.
func (s *Store) SetOrderStatusTx(ctx context.Context, tx *sql.Tx, o watan.Order, to watan.Status, actor watan.Actor, note string) (watan.Order, error) {
	from := o.Status
	effect, err := watan.StatusTransition(from, to, actor)
	if err != nil {
		return watan.Order{}, err
	}
	now := s.now()
	switch effect {
	case watan.MoneyRefund:
		if err := s.moveMoney(ctx, tx, o, watan.LedgerRefund, o.Price, now); err != nil {
			return watan.Order{}, err
		}
		ev := watan.OrderEvent{TenantID: o.TenantID, OrderID: o.ID, At: now, Actor: actor, Kind: watan.EventRefund}
		ev.SetMsg(watan.M("order.refunded", "amount", o.Price.String()+" "+o.Currency, "account", o.AccountCode))
		if err := s.addEventTx(ctx, tx, ev); err != nil {
			return watan.Order{}, err
		}
	case watan.MoneyRedebit:
		if err := s.moveMoney(ctx, tx, o, watan.LedgerRedebit, -o.Price, now); err != nil {
			return watan.Order{}, err
		}
		ev := watan.OrderEvent{TenantID: o.TenantID, OrderID: o.ID, At: now, Actor: actor, Kind: watan.EventRedebit}
		ev.SetMsg(watan.M("order.redebited", "amount", o.Price.String()+" "+o.Currency, "account", o.AccountCode))
		if err := s.addEventTx(ctx, tx, ev); err != nil {
			return watan.Order{}, err
		}
	}
	completed := o.CompletedAt
	if to == watan.StatusPending {
		completed = nil
	} else if completed == nil {
		completed = &now
	}
	if err := s.freezeMoneyTx(ctx, tx, &o, to, now); err != nil {
		return watan.Order{}, err
	}
	// The note is an operator's words or the engine's reason (a message's English
	// text, which readers get translated).
	ev := watan.OrderEvent{TenantID: o.TenantID, OrderID: o.ID, At: now, Actor: actor, Kind: watan.EventStatusChanged,
		Data: map[string]string{"from": string(from), "to": string(to)}}
	ev.SetMsg(watan.M("order.status", "from", string(from), "to", string(to), "note", truncate(note, 1900)))
	if err := s.addEventTx(ctx, tx, ev); err != nil {
		return watan.Order{}, err
	}
	o.Status, o.CompletedAt, o.UpdatedAt = to, completed, now
	return o, nil
}

// freezeMoneyTx does to o's money figures what a move to status to does: approval
// freezes sell, cost and profit in the tenant's base currency with the rates in
// force now (again after a re-approval); rejection clears the cost and the
// snapshot (a rejected order costs nothing and earned nothing); a return to
// pending clears the snapshot, and its next placement sets the cost. An approval
// that cannot be converted (a currency without a rate) is left unfrozen rather
// than refused (the customer has the PIN); reports count such orders apart.
func (s *Store) freezeMoneyTx(ctx context.Context, tx *sql.Tx, o *watan.Order, to watan.Status, now time.Time) error {
	switch to {
	case watan.StatusRejected:
		o.Cost, o.CostCurrency, o.CostSource, o.Profit = nil, "", "", nil
		return nil
	case watan.StatusPending:
		o.Profit = nil
		return nil
	}
	if o.CostSource == "" {
		o.CostSource = watan.CostNone
	}
	rates, err := currentRates(ctx, tx, o.TenantID)
	if err != nil {
		return err
	}
	var cost watan.Amount
	if o.Cost != nil {
		cost = *o.Cost
	}
	snap, err := watan.Freeze(rates, o.Price, o.Currency, cost, o.CostCurrency, now)
	if err != nil {
		o.Profit = nil
		return nil //nolint:nilerr // unconvertible: left unfrozen on purpose
	}
	o.Profit = &snap
	return nil
}

// moveMoney changes the order's account balance by amount (positive credits) with a
// ledger entry. A debit that would pass the overdraft limit changes nothing and is an
// ECodeInsufficientBalance error.
func (s *Store) moveMoney(ctx context.Context, tx *sql.Tx, o watan.Order, kind watan.LedgerKind, amount watan.Amount, now time.Time) error {
	var balance watan.Amount
	err := tx.QueryRowContext(ctx, `UPDATE accounts SET balance = balance + $1, updated_at = $2
		WHERE tenant_id = $3 AND id = $4 AND ($1 >= 0 OR balance + $1 >= -overdraft_limit)
		RETURNING balance`, int64(amount), s.ts(now), o.TenantID, o.AccountID).Scan(&balance)
	if isNoRows(err) {
		return watan.Errorf(watan.ECodeInsufficientBalance, "account %q cannot be debited %s %s again: it would pass its overdraft limit",
			o.AccountCode, o.Price, o.Currency)
	}
	if err != nil {
		return fmt.Errorf("store: %s: %w", kind, err)
	}
	return s.insertLedger(ctx, tx, &watan.LedgerEntry{
		TenantID: o.TenantID, AccountID: o.AccountID, OrderID: o.ID, Kind: kind, Amount: amount,
		BalanceAfter: balance, Note: fmt.Sprintf("order #%d", o.Number), CreatedAt: now,
	})
}

// AddOrderEventTx appends e to its order's timeline, as part of tx: it is written
// when tx commits, and not if it rolls back.
func (s *Store) AddOrderEventTx(ctx context.Context, tx *sql.Tx, e watan.OrderEvent) error {
	return s.addEventTx(ctx, tx, e)
}

// TakeCodeTx hands the first unused code of the group to the order. On PostgreSQL
// concurrent takers skip each other's locked rows instead of queueing on one; on
// SQLite the transaction's write lock serialises them. Either way a code is handed
// out once: the UPDATE also requires order_id to be still NULL.
func (s *Store) TakeCodeTx(ctx context.Context, tx *sql.Tx, tenantID, groupID, orderID int64) (string, error) {
	pin, _, _, err := s.TakeCodeWithCostTx(ctx, tx, tenantID, groupID, orderID)
	return pin, err
}

// TakeCodeWithCostTx is TakeCodeTx that also returns the code's own cost (nil if
// it was imported without one) and the currency of its group.
func (s *Store) TakeCodeWithCostTx(ctx context.Context, tx *sql.Tx, tenantID, groupID, orderID int64) (string, *watan.Amount, string, error) {
	lock := ""
	if s.engine == EnginePostgres {
		lock = ` FOR UPDATE SKIP LOCKED`
	}
	var (
		pin      string
		cost     *watan.Amount
		currency string
	)
	err := tx.QueryRowContext(ctx, `UPDATE code_items SET order_id = $1, used_at = $2
		WHERE id = (SELECT id FROM code_items WHERE tenant_id = $3 AND group_id = $4 AND order_id IS NULL
			ORDER BY id LIMIT 1`+lock+`) AND order_id IS NULL
		RETURNING pin, cost, (SELECT g.currency FROM code_groups g WHERE g.id = code_items.group_id)`,
		orderID, s.ts(s.now()), tenantID, groupID).Scan(&pin, nullAmountCol{&cost}, &currency)
	if isNoRows(err) {
		return "", nil, "", watan.Errorf(watan.ECodeNotFound, "code group %d has no unused code", groupID)
	}
	if err != nil {
		return "", nil, "", fmt.Errorf("store: take code: %w", err)
	}
	return pin, cost, currency, nil
}

// SetProviderPaused pauses or resumes dispatch to a provider account as actor, and
// writes the change to the account's timeline in the same transaction. Pausing a
// paused account, or resuming one that is not, changes nothing and writes nothing.
func (s *Store) SetProviderPaused(ctx context.Context, tenantID, id int64, paused bool, reason string, actor watan.Actor) error {
	if !paused {
		reason = ""
	}
	lock := ""
	if s.engine == EnginePostgres {
		lock = " FOR UPDATE"
	}
	return s.InTx(ctx, func(tx *sql.Tx) error {
		var was bool
		err := tx.QueryRowContext(ctx, `SELECT paused FROM provider_accounts WHERE tenant_id = $1 AND id = $2`+lock,
			tenantID, id).Scan(&was)
		if isNoRows(err) {
			return errNotFound("provider account", id)
		}
		if err != nil {
			return fmt.Errorf("store: pause provider account: %w", err)
		}
		if was == paused {
			return nil
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, `UPDATE provider_accounts SET paused = $1, paused_reason = $2, updated_at = $3
			WHERE tenant_id = $4 AND id = $5`, paused, truncate(reason, 500), s.ts(now), tenantID, id); err != nil {
			return fmt.Errorf("store: pause provider account: %w", err)
		}
		ev := watan.ProviderEvent{TenantID: tenantID, ProviderAccountID: id, At: now, Actor: actor,
			Kind: watan.ProviderEventResumed, Message: "dispatch resumed"}
		if paused {
			ev.Kind, ev.Message = watan.ProviderEventPaused, "dispatch paused: "+reason
		}
		return s.addProviderEvent(ctx, tx, ev)
	})
}

// AddProviderEvent appends an entry to a provider account's timeline.
func (s *Store) AddProviderEvent(ctx context.Context, ev watan.ProviderEvent) error {
	return s.addProviderEvent(ctx, s.db, ev)
}

func (s *Store) addProviderEvent(ctx context.Context, q querier, ev watan.ProviderEvent) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO provider_account_events (tenant_id, provider_account_id, at, actor, kind, message)
		VALUES ($1, $2, $3, $4, $5, $6)`, ev.TenantID, ev.ProviderAccountID, s.ts(ev.At), string(ev.Actor), ev.Kind, truncate(ev.Message, 2000)); err != nil {
		return fmt.Errorf("store: provider account event: %w", err)
	}
	return nil
}

// ProviderEvents pages through a provider account's timeline, newest first: at most
// limit entries older than the cursor (empty for the newest), and the cursor of the
// next page, empty on the last.
func (s *Store) ProviderEvents(ctx context.Context, tenantID, providerAccountID int64, limit int, cursor string) ([]watan.ProviderEvent, string, error) {
	before := int64(math.MaxInt64)
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		id, perr := strconv.ParseInt(strings.TrimPrefix(string(b), "p."), 10, 64)
		if err != nil || perr != nil || !strings.HasPrefix(string(b), "p.") || id <= 0 {
			return nil, "", watan.Errorf(watan.ECodeValidation, "cursor is not valid")
		}
		before = id
	}
	evs, err := list(ctx, s.db, "provider account events", func(r rowScanner) (watan.ProviderEvent, error) {
		var ev watan.ProviderEvent
		var actor string
		err := r.Scan(&ev.ID, &ev.TenantID, &ev.ProviderAccountID, timeCol{&ev.At}, &actor, &ev.Kind, &ev.Message)
		ev.Actor = watan.Actor(actor)
		return ev, err
	}, `SELECT id, tenant_id, provider_account_id, at, actor, kind, message FROM provider_account_events
		WHERE tenant_id = $1 AND provider_account_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4`,
		tenantID, providerAccountID, before, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(evs) > limit {
		evs = evs[:limit]
		next = base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "p.%d", evs[len(evs)-1].ID))
	}
	return evs, next, nil
}

// DueChecks lists other pending orders of a provider account, in a dispatched state,
// whose next check is due by now, soonest first.
func (s *Store) DueChecks(ctx context.Context, tenantID, providerAccountID int64, now time.Time, excludeOrderID int64, limit int) ([]watan.Order, error) {
	return list(ctx, s.db, "due checks", scanOrder, `SELECT `+orderColumns+orderFrom+`
		WHERE o.provider_account_id = $1 AND o.status = 'pending' AND o.next_check_at IS NOT NULL
			AND o.next_check_at <= $2 AND o.tenant_id = $3 AND o.id <> $4
			AND o.provider_state IN ('sent', 'unknown')
		ORDER BY o.next_check_at, o.id LIMIT $5`,
		providerAccountID, s.ts(now), tenantID, excludeOrderID, limit)
}

// ClaimChecks claims orders of a tenant for one batch check, started by the
// check of order self: self if its next check is still selfNext (as the
// checker read it), and of others those whose next check is due by dueBy. It
// moves their next check to until, which must be after dueBy, and returns the
// IDs it claimed, only of pending orders. Two batch checks of one provider
// account that list the same due orders thus ask about each once: the second
// claim finds the order no longer due and leaves it out. The claim is not a
// transition and keeps the order's version, so the check's outcome, saved from a
// reading taken before the claim, still applies; after a failed call the
// orders are due again at until.
func (s *Store) ClaimChecks(ctx context.Context, tenantID, self int64, selfNext *time.Time, others []int64, dueBy, until time.Time) ([]int64, error) {
	var next any
	if selfNext != nil {
		next = s.ts(*selfNext)
	}
	// 0 is never an order's ID; it keeps IN () valid.
	args, in := appendIn([]any{s.ts(until), s.ts(dueBy), tenantID, self, next}, append([]int64{0}, others...))
	return list(ctx, s.db, "claim checks", scanID, `UPDATE orders SET next_check_at = $1
		WHERE tenant_id = $3 AND status = 'pending'
			AND (id = $4 AND next_check_at IS NOT DISTINCT FROM $5
				OR id IN (`+in+`) AND next_check_at <= $2)
		RETURNING id`, args...)
}

// ClaimDueChecks claims, across tenants and provider accounts, up to limit
// pending orders their provider holds (state sent) whose next check is due by
// now and whose placement lease, if any, has run out, soonest due first. It
// moves each one's next check to until(order), which must be after now, and
// returns them as they were before the claim, due times included. Pollers of
// several processes thus never claim one order twice: on PostgreSQL a claim
// skips the rows another claim is taking; on SQLite the one connection
// serialises them. The claim is not a transition and keeps each order's
// version, so the check's outcome still saves as a compare-and-set on the
// reading returned; a claim whose poller dies lapses at until, when the order is
// due again.
//
// until runs inside the claim's transaction, so it must not use the store (on
// SQLite the transaction holds the only connection). Where it returns the time
// the check's outcome will set as the next check anyway (a pending answer's
// next check, planned at the claim), saving that outcome changes no indexed
// column of the order, and PostgreSQL writes it as a heap-only update.
func (s *Store) ClaimDueChecks(ctx context.Context, now time.Time, limit int, until func(watan.Order) time.Time) ([]watan.Order, error) {
	lock, cast := "", ""
	if s.engine == EnginePostgres {
		lock, cast = ` FOR UPDATE OF o SKIP LOCKED`, `::timestamptz`
	}
	var claimed []watan.Order
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		claimed, err = list(ctx, tx, "claim due checks", scanOrder, `SELECT `+orderColumns+orderFrom+`
			WHERE o.status = 'pending' AND o.provider_state = 'sent' AND o.next_check_at IS NOT NULL
				AND o.next_check_at <= $1 AND (o.lease_until IS NULL OR o.lease_until <= $1)
			ORDER BY o.next_check_at LIMIT $2`+lock, s.ts(now), limit)
		if err != nil || len(claimed) == 0 {
			return err
		}
		args := make([]any, 0, 2*len(claimed))
		var when, in strings.Builder
		for i, o := range claimed {
			args = append(args, o.ID, s.ts(until(o)))
			fmt.Fprintf(&when, " WHEN $%d THEN $%d%s", 2*i+1, 2*i+2, cast)
			if i > 0 {
				in.WriteString(", ")
			}
			fmt.Fprintf(&in, "$%d", 2*i+1)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE orders SET next_check_at = CASE id`+when.String()+` END
			WHERE id IN (`+in.String()+`)`, args...); err != nil {
			return fmt.Errorf("store: claim due checks: %w", err)
		}
		return nil
	})
	return claimed, err
}

// ReleaseChecks ends a claim: those of ids that are pending orders of the tenant
// and whose next check is still claimed (the until their claim set) are due at
// at instead, sooner or later. A check poller that could not ask about what it
// claimed and could not plan (a failed call, an open circuit) releases those
// orders to their routine check or the circuit's half-open time instead of the
// claim's end, and one that meets an account for the first time cuts its claim
// to what the account's request timeout needs. An order that another actor has
// rescheduled since is left as it is. Like the claim, it keeps the orders'
// versions. It returns the IDs released.
func (s *Store) ReleaseChecks(ctx context.Context, tenantID int64, ids []int64, claimed, at time.Time) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args, in := appendIn([]any{s.ts(at), tenantID, s.ts(claimed)}, ids)
	return list(ctx, s.db, "release checks", scanID, `UPDATE orders SET next_check_at = $1
		WHERE tenant_id = $2 AND status = 'pending' AND next_check_at = $3 AND id IN (`+in+`)
		RETURNING id`, args...)
}

// NextDueCheck returns the earliest next check of the orders ClaimDueChecks
// claims, and false when there is none.
func (s *Store) NextDueCheck(ctx context.Context) (time.Time, bool, error) {
	var at time.Time
	err := s.db.QueryRowContext(ctx, `SELECT next_check_at FROM orders
		WHERE status = 'pending' AND provider_state = 'sent' AND next_check_at IS NOT NULL
		ORDER BY next_check_at LIMIT 1`).Scan(timeCol{&at})
	if isNoRows(err) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: next due check: %w", err)
	}
	return at, true, nil
}

// OrdersWithoutJob lists pending orders, across tenants, in one of states and last
// updated before updatedBefore, that have no live River job of the given kind for
// them (jobs carry the order in args.order_id and its generation in
// args.generation), oldest first. With sameGeneration only a job of the order's
// current generation counts; a job from before migration 0006 carries none, which
// counts as generation 0.
//
// River's table has no index on a job's order, and a correlated NOT EXISTS made
// this a scan of the live jobs per candidate order: with 20,000 pending orders
// whose checks lagged, one sweep held a core for minutes, which made the checks
// lag more. So it reads the live jobs' orders once, then pages through the
// candidates and leaves out those with a job: linear in both on either engine,
// whatever the planner's statistics say. A job that starts after the first read
// makes its order look jobless; the repair's enqueue is then a no-op, since jobs
// are unique per order and generation.
func (s *Store) OrdersWithoutJob(ctx context.Context, kind string, states []watan.ProviderState, updatedBefore time.Time, limit int, sameGeneration bool) ([]watan.Order, error) {
	if len(states) == 0 || limit <= 0 {
		return nil, nil
	}
	order, gen := `(args->>'order_id')::bigint`, `COALESCE((args->>'generation')::integer, 0)`
	if s.engine == EngineSQLite {
		order, gen = `json_extract(args, '$.order_id')`, `COALESCE(json_extract(args, '$.generation'), 0)`
	}
	type job struct {
		order int64
		gen   int
	}
	jobs, err := list(ctx, s.db, "orders without job", func(r rowScanner) (job, error) {
		var j job
		var order sql.NullInt64
		err := r.Scan(&order, &j.gen)
		j.order = order.Int64
		return j, err
	}, `SELECT `+order+`, `+gen+` FROM river_job
		WHERE kind = $1 AND state IN ('available', 'pending', 'running', 'retryable', 'scheduled')`, kind)
	if err != nil {
		return nil, err
	}
	live := make(map[job]bool, len(jobs))
	for _, j := range jobs {
		if !sameGeneration {
			j.gen = 0
		}
		live[j] = true
	}

	const page = 500
	args, in := appendIn([]any{s.ts(updatedBefore), page}, states)
	query := `SELECT ` + orderColumns + orderFrom + `
		WHERE o.status = 'pending' AND o.provider_state IN (` + in + `) AND o.updated_at < $1`
	var out []watan.Order
	for {
		os, err := list(ctx, s.db, "orders without job", scanOrder, query+` ORDER BY o.created_at, o.id LIMIT $2`, args...)
		if err != nil {
			return nil, err
		}
		for _, o := range os {
			j := job{order: o.ID}
			if sameGeneration {
				j.gen = o.Generation
			}
			if !live[j] {
				out = append(out, o)
				if len(out) == limit {
					return out, nil
				}
			}
		}
		if len(os) < page {
			return out, nil
		}
		// The next page starts after the last order of this one.
		last := os[len(os)-1]
		if len(args) == 2+len(states) {
			query += fmt.Sprintf(` AND (o.created_at > $%d OR o.created_at = $%d AND o.id > $%d)`, len(args)+1, len(args)+1, len(args)+2)
			args = append(args, nil, nil)
		}
		args[len(args)-2], args[len(args)-1] = s.ts(last.CreatedAt), last.ID
	}
}

// OrdersPastDeadline lists pending orders, across tenants, that a provider may hold
// and whose deadline is before now, earliest first.
func (s *Store) OrdersPastDeadline(ctx context.Context, now time.Time, limit int) ([]watan.Order, error) {
	return list(ctx, s.db, "orders past deadline", scanOrder, `SELECT `+orderColumns+orderFrom+`
		WHERE o.status = 'pending' AND o.deadline IS NOT NULL AND o.deadline < $1
			AND o.provider_state IN ('sending', 'sent', 'unknown')
		ORDER BY o.deadline, o.id LIMIT $2`, s.ts(now), limit)
}

// truncate bounds provider-supplied text so that a huge answer cannot bloat rows.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
