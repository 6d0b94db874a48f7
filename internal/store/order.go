package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"watan"
)

// orderColumns and orderFrom read a whole watan.Order; scanOrder scans them. Order
// state methods added later should reuse them so that an Order is read one way.
const orderColumns = `o.id, o.tenant_id, o.number, o.account_id, a.code, o.package_id, p.code, o.quantity,
	o.player_id, o.extra, COALESCE(o.client_order_id, ''), o.unit_price, o.price, o.currency, o.status,
	o.provider_state, COALESCE(o.provider_account_id, 0), o.provider_order_id, COALESCE(o.provider_referans, ''),
	o.pin, o.provider_message, o.fallback_used, o.created_at, o.updated_at, o.sent_at, o.last_checked_at,
	o.completed_at, o.deadline, o.check_count, o.next_check_at, o.dispatch_count, o.generation,
	o.lease_until, o.lease_owner`

const orderFrom = ` FROM orders o JOIN accounts a ON a.id = o.account_id JOIN packages p ON p.id = o.package_id`

func scanOrder(r rowScanner) (watan.Order, error) {
	var o watan.Order
	err := r.Scan(&o.ID, &o.TenantID, &o.Number, &o.AccountID, &o.AccountCode, &o.PackageID, &o.PackageCode,
		&o.Quantity, &o.PlayerID, &o.Extra, &o.ClientOrderID, &o.UnitPrice, &o.Price, &o.Currency, &o.Status,
		&o.ProviderState, &o.ProviderAccountID, &o.ProviderOrderID, &o.ProviderReferans,
		&o.PIN, &o.ProviderMessage, &o.FallbackUsed, timeCol{&o.CreatedAt}, timeCol{&o.UpdatedAt},
		nullTimeCol{&o.SentAt}, nullTimeCol{&o.LastCheckedAt}, nullTimeCol{&o.CompletedAt},
		nullTimeCol{&o.Deadline}, &o.CheckCount, nullTimeCol{&o.NextCheckAt}, &o.DispatchCount, &o.Generation,
		nullTimeCol{&o.LeaseUntil}, &o.LeaseOwner)
	return o, err
}

func findOrder(ctx context.Context, q querier, tenantID, id int64) (watan.Order, error) {
	o, err := scanOrder(q.QueryRowContext(ctx, `SELECT `+orderColumns+orderFrom+` WHERE o.tenant_id = $1 AND o.id = $2`,
		tenantID, id))
	if isNoRows(err) {
		return watan.Order{}, errNotFound("order", id)
	}
	if err != nil {
		return watan.Order{}, fmt.Errorf("store: find order: %w", err)
	}
	return o, nil
}

// findOrderByClientID returns the tenant's order with the idempotency key, or
// sql.ErrNoRows (wrapped) if there is none.
func findOrderByClientID(ctx context.Context, q querier, tenantID int64, clientOrderID string) (watan.Order, error) {
	o, err := scanOrder(q.QueryRowContext(ctx,
		`SELECT `+orderColumns+orderFrom+` WHERE o.tenant_id = $1 AND o.client_order_id = $2`, tenantID, clientOrderID))
	if err != nil {
		return watan.Order{}, fmt.Errorf("store: find order by client order id: %w", err)
	}
	return o, nil
}

// FindOrder returns the tenant's order id, or an ECodeNotFound error.
func (s *Store) FindOrder(ctx context.Context, tenantID, id int64) (watan.Order, error) {
	return findOrder(ctx, s.db, tenantID, id)
}

// CreateOrder implements watan.OrderService: CreateOrderWith without a hook.
func (s *Store) CreateOrder(ctx context.Context, n watan.NewOrder) (watan.Order, bool, error) {
	return s.CreateOrderWith(ctx, n, nil)
}

// errClientIDTaken says that a concurrent request created the order with the same
// client order id first; the caller rolls back and returns that order.
var errClientIDTaken = errors.New("client order id taken concurrently")

// CreateOrderWith creates an order as CreateOrder does and, if after is not nil, runs
// after(ctx, tx, order) inside the creating transaction just before it commits, so
// that work enqueued there (the dispatch job, with River's InsertTx) commits or rolls
// back with the order. after is not run when an existing order is returned for a
// repeated client order id. If after fails, nothing is written and its error is
// returned as is.
//
// Within the transaction the account's debit is one conditional UPDATE, so
// concurrent orders can never take the balance below -OverdraftLimit. Two
// concurrent requests with one client order id produce one order: the unique index
// stops the second, which then returns the first.
//
// Order numbers are unique per tenant and increasing: each is greater than the number
// of every create of the tenant that finished before this one began. On SQLite they
// come from the tenant's counter row, which rolls back with a failed create, so
// numbers have no gaps. On PostgreSQL they come from the tenant's sequence (see
// orderSequence), which takes no lock, so one tenant's orders are created in parallel;
// but nextval is never rolled back, so a create that fails after taking its number
// leaves a gap. The number is therefore taken last, in the INSERT of the order itself,
// after every check and the debit: a refusal (validation, unknown or inactive package,
// unknown account, wrong currency, insufficient balance) never uses one up. What can
// still leave a gap is a failure after it: the loser of a race on one client order id,
// a failing after hook, a failed commit or a cancelled context. Also on PostgreSQL,
// numbers are taken in one order and committed in another, so a reader may briefly see
// order #n+1 before #n.
func (s *Store) CreateOrderWith(ctx context.Context, n watan.NewOrder, after func(ctx context.Context, tx *sql.Tx, o watan.Order) error) (watan.Order, bool, error) {
	if err := n.Validate(); err != nil {
		return watan.Order{}, false, err
	}
	if n.Actor == "" {
		n.Actor = watan.ActorAPI
	}
	now := s.now()
	o := watan.Order{
		TenantID: n.TenantID, AccountCode: n.AccountCode, PackageCode: n.PackageCode, Quantity: n.Quantity,
		PlayerID: n.PlayerID, Extra: n.Extra, ClientOrderID: n.ClientOrderID,
		Status: watan.StatusPending, ProviderState: watan.StateNotSent, CreatedAt: now, UpdatedAt: now,
	}
	replayed := false
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if n.ClientOrderID != "" {
			prev, err := findOrderByClientID(ctx, tx, n.TenantID, n.ClientOrderID)
			if err == nil {
				o, replayed = prev, true
				return nil
			}
			if !isNoRows(err) {
				return err
			}
		}

		var active bool
		err := tx.QueryRowContext(ctx, `SELECT id, price, currency, active FROM packages WHERE tenant_id = $1 AND code = $2`,
			n.TenantID, n.PackageCode).Scan(&o.PackageID, &o.UnitPrice, &o.Currency, &active)
		if isNoRows(err) {
			return watan.Errorf(watan.ECodeUnknownPackage, "no package with code %q", n.PackageCode)
		}
		if err != nil {
			return fmt.Errorf("store: create order: find package: %w", err)
		}
		if !active {
			return watan.Errorf(watan.ECodePackageInactive, "package %q is not on sale", n.PackageCode)
		}
		var ok bool
		if o.Price, ok = o.UnitPrice.Mul(n.Quantity); !ok {
			return watan.Errorf(watan.ECodeValidation, "price × quantity is too large")
		}

		var balance watan.Amount
		err = tx.QueryRowContext(ctx, `UPDATE accounts SET balance = balance - $1, updated_at = $2
			WHERE tenant_id = $3 AND code = $4 AND currency = $5 AND balance - $1 >= -overdraft_limit
			RETURNING id, balance`,
			int64(o.Price), s.ts(now), n.TenantID, n.AccountCode, o.Currency).Scan(&o.AccountID, &balance)
		if isNoRows(err) {
			return s.debitRefused(ctx, tx, n, o)
		}
		if err != nil {
			return fmt.Errorf("store: create order: debit: %w", err)
		}

		if err := s.insertOrder(ctx, tx, &o, balance, n.Actor); err != nil {
			return err
		}
		if after != nil {
			return after(ctx, tx, o)
		}
		return nil
	})
	if errors.Is(err, errClientIDTaken) {
		// The transaction is rolled back; the winner has committed, since a unique
		// index only reports a conflict with a committed row.
		prev, ferr := findOrderByClientID(ctx, s.db, n.TenantID, n.ClientOrderID)
		if ferr != nil {
			return watan.Order{}, false, fmt.Errorf("store: create order: %w (then: %w)", err, ferr)
		}
		return prev, false, nil
	}
	if err != nil {
		return watan.Order{}, false, err
	}
	return o, !replayed, nil
}

// insertOrder takes the tenant's next order number and writes the debited order o,
// its ledger entry and its "created" event, setting o.Number and o.ID. The caller
// does every check before, so that a refused order takes no number (on PostgreSQL
// a taken number is never given back). On PostgreSQL the number and the three
// writes are one statement, one round trip; on SQLite the counter row is locked
// until commit, which costs nothing there since SQLite has one writer anyway.
func (s *Store) insertOrder(ctx context.Context, tx *sql.Tx, o *watan.Order, balance watan.Amount, actor watan.Actor) error {
	// The event message, around the number that only the database knows yet.
	msgTail := fmt.Sprintf(" created: %d × %s for %s %s, debited from account %s",
		o.Quantity, o.PackageCode, o.Price, o.Currency, o.AccountCode)
	var err error
	if s.engine == EnginePostgres {
		// $17::text::regclass looks the sequence up by name through search_path at
		// execution time, as the tables are, so the cached statement serves every
		// tenant and every schema.
		err = tx.QueryRowContext(ctx, `WITH o AS (
				INSERT INTO orders (tenant_id, number, account_id, package_id, quantity, player_id, extra,
					client_order_id, unit_price, price, currency, status, provider_state, created_at, updated_at)
				VALUES ($1::bigint, nextval($17::text::regclass), $2::bigint, $3::bigint, $4::integer, $5::text,
					$6::text, $7::text, $8::bigint, $9::bigint, $10::text, $11::text, $12::text,
					$13::timestamptz, $13::timestamptz)
				RETURNING id, number
			), l AS (
				INSERT INTO ledger_entries (tenant_id, account_id, order_id, kind, amount, balance_after, note, created_at)
				SELECT $1::bigint, $2::bigint, o.id, 'debit', -$9::bigint, $14::bigint, 'order #' || o.number,
					$13::timestamptz FROM o
			), e AS (
				INSERT INTO order_events (tenant_id, order_id, at, actor, kind, message)
				SELECT $1::bigint, o.id, $13::timestamptz, $15::text, 'created', 'order #' || o.number || $16::text FROM o
			)
			SELECT number, id FROM o`,
			o.TenantID, o.AccountID, o.PackageID, o.Quantity, o.PlayerID, o.Extra, nullString(o.ClientOrderID),
			int64(o.UnitPrice), int64(o.Price), o.Currency, string(o.Status), string(o.ProviderState), s.ts(o.CreatedAt),
			int64(balance), string(actor), msgTail, orderSequence(o.TenantID)).Scan(&o.Number, &o.ID)
	} else {
		// SQLite has no writes in WITH; its one writer makes the order moot.
		err = tx.QueryRowContext(ctx, `UPDATE order_counters SET last_number = last_number + 1 WHERE tenant_id = $1
			RETURNING last_number`, o.TenantID).Scan(&o.Number)
		if err != nil {
			return fmt.Errorf("store: create order: number: %w", err)
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO orders
			(tenant_id, number, account_id, package_id, quantity, player_id, extra, client_order_id,
			 unit_price, price, currency, status, provider_state, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id`,
			o.TenantID, o.Number, o.AccountID, o.PackageID, o.Quantity, o.PlayerID, o.Extra, nullString(o.ClientOrderID),
			int64(o.UnitPrice), int64(o.Price), o.Currency, string(o.Status), string(o.ProviderState), s.ts(o.CreatedAt)).Scan(&o.ID)
		if err == nil {
			err = s.insertLedger(ctx, tx, &watan.LedgerEntry{
				TenantID: o.TenantID, AccountID: o.AccountID, OrderID: o.ID, Kind: watan.LedgerDebit,
				Amount: -o.Price, BalanceAfter: balance, Note: fmt.Sprintf("order #%d", o.Number), CreatedAt: o.CreatedAt,
			})
		}
		if err == nil {
			err = s.insertEvent(ctx, tx, &watan.OrderEvent{
				TenantID: o.TenantID, OrderID: o.ID, At: o.CreatedAt, Actor: actor, Kind: watan.EventCreated,
				Message: fmt.Sprintf("order #%d", o.Number) + msgTail,
			})
		}
	}
	if isUniqueViolation(err) && o.ClientOrderID != "" {
		return fmt.Errorf("%w: %w", errClientIDTaken, err)
	}
	if err != nil {
		return fmt.Errorf("store: create order: insert: %w", err)
	}
	return nil
}

// debitRefused explains why the conditional debit matched no account row.
func (s *Store) debitRefused(ctx context.Context, tx *sql.Tx, n watan.NewOrder, o watan.Order) error {
	a, err := findAccount(ctx, tx, n.TenantID, n.AccountCode)
	if watan.IsNotFound(err) {
		return watan.Errorf(watan.ECodeUnknownAccount, "no account with code %q", n.AccountCode)
	}
	if err != nil {
		return err
	}
	if a.Currency != o.Currency {
		return watan.Errorf(watan.ECodeValidation, "package %q is priced in %s but account %q holds %s",
			n.PackageCode, o.Currency, n.AccountCode, a.Currency)
	}
	return watan.Errorf(watan.ECodeInsufficientBalance, "account %q has %s %s and may go down to -%s; the order costs %s",
		n.AccountCode, a.Balance, a.Currency, a.OverdraftLimit, o.Price)
}

// AddOrderEvent appends e to the timeline of the order e.OrderID of tenant
// e.TenantID (an operator's note, say), stamping it with the store's clock if e.At
// is zero and ActorSystem if e.Actor is empty. It returns the stored event, or an
// ECodeNotFound error if the tenant has no such order.
func (s *Store) AddOrderEvent(ctx context.Context, e watan.OrderEvent) (watan.OrderEvent, error) {
	if e.Kind == "" {
		return watan.OrderEvent{}, watan.Errorf(watan.ECodeValidation, "event kind is required")
	}
	if len(e.Message) > watan.MaxNoteLen {
		return watan.OrderEvent{}, watan.Errorf(watan.ECodeValidation, "message must be at most %d bytes", watan.MaxNoteLen)
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	if e.Actor == "" {
		e.Actor = watan.ActorSystem
	}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if err := rowExists(ctx, tx, "orders", "order", e.TenantID, e.OrderID); err != nil {
			return err
		}
		return s.insertEvent(ctx, tx, &e)
	})
	if err != nil {
		return watan.OrderEvent{}, err
	}
	return e, nil
}

// insertEvent appends e to its order's timeline and sets its ID.
func (s *Store) insertEvent(ctx context.Context, tx *sql.Tx, e *watan.OrderEvent) error {
	var data any
	if len(e.Data) > 0 {
		d, err := jsonArg(e.Data)
		if err != nil {
			return err
		}
		data = d
	}
	err := tx.QueryRowContext(ctx, `INSERT INTO order_events (tenant_id, order_id, at, actor, kind, message, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		e.TenantID, e.OrderID, s.ts(e.At), string(e.Actor), string(e.Kind), e.Message, data).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("store: insert order event: %w", err)
	}
	return nil
}

// OrderEvents returns the timeline of the tenant's order, oldest first.
func (s *Store) OrderEvents(ctx context.Context, tenantID, orderID int64) ([]watan.OrderEvent, error) {
	if err := rowExists(ctx, s.db, "orders", "order", tenantID, orderID); err != nil {
		return nil, err
	}
	return s.orderEvents(ctx, tenantID, orderID, 0, math.MaxInt32)
}

// MaxEventsPage bounds a page of OrderEventsPage.
const MaxEventsPage = 1000

// OrderEventsPage implements watan.OrderService: pages are keyed on the event id,
// so a walk to the end sees every event once while new ones are appended.
func (s *Store) OrderEventsPage(ctx context.Context, tenantID, orderID int64, limit int, cursor string) ([]watan.OrderEvent, string, error) {
	if limit <= 0 || limit > MaxEventsPage {
		limit = MaxEventsPage
	}
	var after int64
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		id, perr := strconv.ParseInt(strings.TrimPrefix(string(b), "e."), 10, 64)
		if err != nil || perr != nil || !strings.HasPrefix(string(b), "e.") || id <= 0 {
			return nil, "", watan.Errorf(watan.ECodeValidation, "cursor is not valid")
		}
		after = id
	}
	if err := rowExists(ctx, s.db, "orders", "order", tenantID, orderID); err != nil {
		return nil, "", err
	}
	evs, err := s.orderEvents(ctx, tenantID, orderID, after, limit+1)
	if err != nil || len(evs) <= limit {
		return evs, "", err
	}
	evs = evs[:limit]
	return evs, base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "e.%d", evs[limit-1].ID)), nil
}

// orderEvents lists the order's events after id after, at most limit.
func (s *Store) orderEvents(ctx context.Context, tenantID, orderID, after int64, limit int) ([]watan.OrderEvent, error) {
	return list(ctx, s.db, "order events", func(r rowScanner) (watan.OrderEvent, error) {
		var e watan.OrderEvent
		err := r.Scan(&e.ID, &e.TenantID, &e.OrderID, timeCol{&e.At}, &e.Actor, &e.Kind, &e.Message, jsonCol{&e.Data})
		return e, err
	}, `SELECT id, tenant_id, order_id, at, actor, kind, message, data FROM order_events
		WHERE tenant_id = $1 AND order_id = $2 AND id > $3 ORDER BY id LIMIT $4`, tenantID, orderID, after, limit)
}

// Order listing.

// Listing limits.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// A cursor is the (created_at, id) of the last order of a page, newest first, as
// "micros.id" in unpadded base64url. Keyset pagination stays fast and stable however
// deep the page and however many orders arrive meanwhile.
func encodeCursor(o watan.Order) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d.%d", o.CreatedAt.UnixMicro(), o.ID))
}

func decodeCursor(c string) (time.Time, int64, error) {
	bad := watan.Errorf(watan.ECodeValidation, "cursor is not valid")
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, 0, bad
	}
	us, id, ok := strings.Cut(string(b), ".")
	if !ok {
		return time.Time{}, 0, bad
	}
	micros, err1 := strconv.ParseInt(us, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, 0, bad
	}
	return time.UnixMicro(micros).UTC(), n, nil
}

// ListOrders returns one page of the tenant's orders matching f, newest first
// (by creation time, then id). Query matches exactly: the order number (if numeric),
// the player id, the provider reference or the client order id.
func (s *Store) ListOrders(ctx context.Context, f watan.OrderFilter) (watan.OrderPage, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	if f.Status != "" && !f.Status.Valid() {
		return watan.OrderPage{}, watan.Errorf(watan.ECodeValidation, "status %q is not pending, approved or rejected", f.Status)
	}
	where := []string{"o.tenant_id = $1"}
	args := []any{f.TenantID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Status != "" {
		where = append(where, "o.status = "+arg(string(f.Status)))
	}
	if f.ProviderAccountID != 0 {
		where = append(where, "o.provider_account_id = "+arg(f.ProviderAccountID))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		p := arg(q)
		match := "o.player_id = " + p + " OR o.provider_referans = " + p + " OR o.client_order_id = " + p
		if num, err := strconv.ParseInt(q, 10, 64); err == nil && num > 0 {
			match = "o.number = " + arg(num) + " OR " + match
		}
		where = append(where, "("+match+")")
	}
	if !f.From.IsZero() {
		where = append(where, "o.created_at >= "+arg(s.ts(f.From)))
	}
	if !f.To.IsZero() {
		where = append(where, "o.created_at < "+arg(s.ts(f.To)))
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return watan.OrderPage{}, err
		}
		where = append(where, "(o.created_at, o.id) < ("+arg(s.ts(at))+", "+arg(id)+")")
	}
	query := `SELECT ` + orderColumns + orderFrom + ` WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY o.created_at DESC, o.id DESC LIMIT ` + arg(limit+1)
	orders, err := list(ctx, s.db, "list orders", scanOrder, query, args...)
	if err != nil {
		return watan.OrderPage{}, err
	}
	page := watan.OrderPage{Orders: orders}
	if len(orders) > limit {
		page.Orders = orders[:limit]
		page.NextCursor = encodeCursor(page.Orders[limit-1])
	}
	return page, nil
}
