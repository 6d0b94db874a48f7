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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"watan"
)

// orderColumns and orderFrom read a whole watan.Order; scanOrder scans them. Order
// state methods added later should reuse them so that an Order is read one way.
const orderColumns = `o.id, o.tenant_id, o.number, o.account_id, a.code, o.package_id, p.code, o.quantity,
	o.player_id, o.extra, COALESCE(o.client_order_id, ''), o.unit_price, o.price, o.currency, o.status,
	o.provider_state, COALESCE(o.provider_account_id, 0), o.provider_order_id, COALESCE(o.provider_referans, ''),
	o.pin, o.provider_message, o.fallback_used, o.created_at, o.updated_at, o.sent_at, o.last_checked_at,
	o.completed_at, o.deadline, o.check_count, o.next_check_at, o.dispatch_count, o.generation,
	o.lease_until, o.lease_owner, o.version, COALESCE(o.price_group_id, 0), COALESCE(o.list_price, o.price),
	CASE WHEN o.list_currency = '' THEN o.currency ELSE o.list_currency END, o.cost, o.cost_currency, o.cost_source,
	o.base_currency, o.sell_base, o.cost_base, o.sell_rate, o.cost_rate, o.frozen_at`

const orderFrom = ` FROM orders o JOIN accounts a ON a.id = o.account_id JOIN packages p ON p.id = o.package_id`

func scanOrder(r rowScanner) (watan.Order, error) {
	var (
		o                              watan.Order
		snap                           watan.ProfitSnapshot
		sell, cost, sellRate, costRate sql.NullInt64
		frozen                         *time.Time
	)
	err := r.Scan(&o.ID, &o.TenantID, &o.Number, &o.AccountID, &o.AccountCode, &o.PackageID, &o.PackageCode,
		&o.Quantity, &o.PlayerID, &o.Extra, &o.ClientOrderID, &o.UnitPrice, &o.Price, &o.Currency, &o.Status,
		&o.ProviderState, &o.ProviderAccountID, &o.ProviderOrderID, &o.ProviderReferans,
		&o.PIN, &o.ProviderMessage, &o.FallbackUsed, timeCol{&o.CreatedAt}, timeCol{&o.UpdatedAt},
		nullTimeCol{&o.SentAt}, nullTimeCol{&o.LastCheckedAt}, nullTimeCol{&o.CompletedAt},
		nullTimeCol{&o.Deadline}, &o.CheckCount, nullTimeCol{&o.NextCheckAt}, &o.DispatchCount, &o.Generation,
		nullTimeCol{&o.LeaseUntil}, &o.LeaseOwner, &o.Version, &o.PriceGroupID, &o.ListPrice, &o.ListCurrency,
		nullAmountCol{&o.Cost}, &o.CostCurrency, &o.CostSource, &snap.BaseCurrency, &sell, &cost, &sellRate, &costRate,
		nullTimeCol{&frozen})
	if err == nil && frozen != nil {
		o.Profit = &watan.ProfitSnapshot{BaseCurrency: snap.BaseCurrency, Sell: watan.Amount(sell.Int64),
			Cost: watan.Amount(cost.Int64), Profit: watan.Amount(sell.Int64 - cost.Int64),
			SellRate: watan.Rate(sellRate.Int64), CostRate: watan.Rate(costRate.Int64), FrozenAt: *frozen}
	}
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

// FindOrderByClientID implements watan.OrderService.
func (s *Store) FindOrderByClientID(ctx context.Context, tenantID int64, clientOrderID string) (watan.Order, error) {
	o, err := findOrderByClientID(ctx, s.db, tenantID, clientOrderID)
	if isNoRows(err) {
		return watan.Order{}, errNotFound("order with client order id", strconv.Quote(clientOrderID))
	}
	return o, err
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

// CreateOrderWith creates an order as CreateOrder does and, if enqueue is not nil,
// runs enqueue(ctx, tx, order) inside the creating transaction, so that work
// enqueued there (the dispatch job, with River's InsertTx) commits or rolls back with
// the order. The order passed to it has its ID and every field it is created with
// but its Number, and its row may not be written yet: on PostgreSQL the order, its
// ledger entry and its event are written after enqueue, together with the debit, so
// that the account's row is locked only for that last statement and the commit.
// enqueue is not run when an existing order is returned for a repeated client order
// id, nor for a refusal found before it (the debit can still refuse after it, when a
// concurrent order took the balance first). If enqueue fails, nothing is written
// and its error is returned as is.
//
// The balance is read first without a lock, so that a plain refusal writes
// nothing, and debited by one UPDATE at the end that the database checks against
// the overdraft limit (a condition of the UPDATE on SQLite, the account's CHECK
// constraint on PostgreSQL), so concurrent orders can never take the balance below
// -OverdraftLimit. Two concurrent requests with one client order id produce one
// order: the unique index stops the second, which then returns the first. On
// PostgreSQL the transaction commits asynchronously and is followed by a barrier
// that waits for the WAL flush (see createOrderPostgres): the account's row is
// locked only until the commit is recorded, and CreateOrderWith still returns only
// once the order is durable.
//
// Order numbers are unique per tenant and increasing: each is greater than the number
// of every create of the tenant that finished before this one began. On SQLite they
// come from the tenant's counter row, which rolls back with a failed create, so
// numbers have no gaps. On PostgreSQL they come from the tenant's sequence (see
// orderSequence), which takes no lock, so one tenant's orders are created in parallel;
// but nextval is never rolled back, so a create that fails after taking its number
// leaves a gap. The number is therefore taken last, in the statement that debits the
// account and writes the order, and only if the debit succeeded: a refusal
// (validation, unknown or inactive package, unknown account, wrong currency,
// insufficient balance, also when found only by the debit) and a failing enqueue
// never use one up. What can still leave a gap is a failure after it: the loser of
// a race on one client order id, a failed commit or a cancelled context. Also on
// PostgreSQL, numbers are taken in one order and committed in another, so a reader
// may briefly see order #n+1 before #n.
func (s *Store) CreateOrderWith(ctx context.Context, n watan.NewOrder, enqueue func(ctx context.Context, tx *sql.Tx, o watan.Order) error) (watan.Order, bool, error) {
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
	var (
		replayed bool
		err      error
	)
	if s.engine == EnginePostgres {
		replayed, err = s.createOrderPostgres(ctx, n, &o, enqueue)
	} else {
		err = s.InTx(ctx, func(tx *sql.Tx) error {
			again, ok, err := s.prepareOrder(ctx, tx, n, &o)
			if !ok || err != nil {
				replayed = again
				return err
			}
			if err := s.debitAndInsertSQLite(ctx, tx, n, &o); err != nil {
				return err
			}
			if enqueue != nil {
				return enqueue(ctx, tx, o)
			}
			return nil
		})
	}
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

// prepareOrder reads what the create of n depends on and fills in o. It returns
// ok when the order may go on to the debit, replayed when o is now the existing
// order with n's client order id, or the refusal.
func (s *Store) prepareOrder(ctx context.Context, tx *sql.Tx, n watan.NewOrder, o *watan.Order) (replayed, ok bool, err error) {
	l, err := s.lookupOrder(ctx, tx, n)
	if err != nil {
		return false, false, err
	}
	if l.replayOf != 0 {
		*o, err = findOrder(ctx, tx, n.TenantID, l.replayOf)
		return err == nil, false, err
	}
	if err := l.check(n, o); err != nil {
		return false, false, err
	}
	o.ID = l.nextID // PostgreSQL; SQLite sets it when it inserts
	return false, true, nil
}

// orderLookup is what CreateOrderWith reads before it writes: the package, the
// account and whether the client order id is taken, in one statement.
type orderLookup struct {
	replayOf int64 // the order that already has the client order id, or 0

	packageID    sql.NullInt64
	unitPrice    watan.Amount
	pkgCurrency  sql.NullString
	active       sql.NullBool
	accountID    sql.NullInt64
	acctCurrency sql.NullString
	balance      watan.Amount
	overdraft    watan.Amount
	nextID       int64 // PostgreSQL: the new order's id, taken from its sequence

	priceGroupID int64          // the group whose price applied, 0 for the default
	base         sql.NullString // set when the currencies differ
	pkgRate      sql.NullInt64
	acctRate     sql.NullInt64
}

// lookupOrderSQL reads every row a create depends on: the account's price group's
// price of the package if it has one, else the package's own; and, only when the
// package and the account hold different currencies, the base currency and the
// two current rates to convert with. On PostgreSQL it also takes the
// new order's id when the package and the account exist and the client order id is
// free, so that the dispatch job can be enqueued before the order is written; an id
// taken by a create that fails later is a gap in ids only, which nothing minds. The
// balance read here is not locked: it lets a plain refusal happen before any write,
// and the debit checks it again under the lock.
const lookupOrderSQL = `SELECT x.id, p.id, COALESCE(pp.price, p.price), p.currency, p.active,
		a.id, a.currency, a.balance, a.overdraft_limit, COALESCE(pp.price_group_id, 0),
		CASE WHEN p.currency <> a.currency THEN t.base_currency END,
		CASE WHEN p.currency <> a.currency THEN (SELECT r.rate FROM exchange_rates r WHERE r.tenant_id = $1
			AND r.base_currency = t.base_currency AND r.currency = p.currency ORDER BY r.id DESC LIMIT 1) END,
		CASE WHEN p.currency <> a.currency THEN (SELECT r.rate FROM exchange_rates r WHERE r.tenant_id = $1
			AND r.base_currency = t.base_currency AND r.currency = a.currency ORDER BY r.id DESC LIMIT 1) END%s
	FROM (SELECT 1 AS one) one
	LEFT JOIN packages p ON p.tenant_id = $1 AND p.code = $2
	LEFT JOIN accounts a ON a.tenant_id = $1 AND a.code = $3
	LEFT JOIN package_prices pp ON pp.package_id = p.id AND pp.price_group_id = a.price_group_id
	LEFT JOIN tenants t ON t.id = $1
	LEFT JOIN orders x ON x.tenant_id = $1 AND x.client_order_id = $4`

var (
	lookupOrderPostgres = fmt.Sprintf(lookupOrderSQL,
		`, CASE WHEN x.id IS NULL AND p.id IS NOT NULL AND a.id IS NOT NULL THEN nextval($5::text::regclass) END`)
	lookupOrderSQLite = fmt.Sprintf(lookupOrderSQL, ``)
)

func (s *Store) lookupOrder(ctx context.Context, tx *sql.Tx, n watan.NewOrder) (orderLookup, error) {
	var (
		l        orderLookup
		replayOf sql.NullInt64
		price    sql.NullInt64
		balance  sql.NullInt64
		overdr   sql.NullInt64
		nextID   sql.NullInt64
	)
	dest := []any{&replayOf, &l.packageID, &price, &l.pkgCurrency, &l.active,
		&l.accountID, &l.acctCurrency, &balance, &overdr, &l.priceGroupID, &l.base, &l.pkgRate, &l.acctRate}
	// A NULL client order id matches no order.
	query, args := lookupOrderSQLite, []any{n.TenantID, n.PackageCode, n.AccountCode, nullString(n.ClientOrderID)}
	if s.engine == EnginePostgres {
		// The identity sequence by name at execution time, as with orderSequence.
		query, args = lookupOrderPostgres, append(args, "orders_id_seq")
		dest = append(dest, &nextID)
	}
	err := tx.QueryRowContext(ctx, query, args...).Scan(dest...)
	if err != nil {
		return orderLookup{}, fmt.Errorf("store: create order: look up: %w", err)
	}
	l.replayOf = replayOf.Int64
	l.unitPrice, l.balance, l.overdraft = watan.Amount(price.Int64), watan.Amount(balance.Int64), watan.Amount(overdr.Int64)
	l.nextID = nextID.Int64
	return l, nil
}

// check refuses the order as the debit would, in the same order of reasons as ever
// (package, price, account, currency, balance), and fills in what o takes from the
// package and the account.
func (l orderLookup) check(n watan.NewOrder, o *watan.Order) error {
	if !l.packageID.Valid {
		return watan.Errorf(watan.ECodeUnknownPackage, "no package with code %q", n.PackageCode)
	}
	if !l.active.Bool {
		return watan.Errorf(watan.ECodePackageInactive, "package %q is not on sale", n.PackageCode)
	}
	o.PackageID, o.UnitPrice, o.Currency = l.packageID.Int64, l.unitPrice, l.pkgCurrency.String
	var ok bool
	if o.Price, ok = o.UnitPrice.Mul(n.Quantity); !ok {
		return watan.Errorf(watan.ECodeValidation, "price × quantity is too large")
	}
	o.ListPrice, o.ListCurrency, o.PriceGroupID = o.Price, o.Currency, l.priceGroupID
	if !l.accountID.Valid {
		return watan.Errorf(watan.ECodeUnknownAccount, "no account with code %q", n.AccountCode)
	}
	a := watan.Account{Code: n.AccountCode, Currency: l.acctCurrency.String, Balance: l.balance, OverdraftLimit: l.overdraft}
	if a.Currency != o.Currency {
		if err := l.convert(o, a.Currency); err != nil {
			return err
		}
	}
	if a.Balance-o.Price < -a.OverdraftLimit {
		return refusal(n, *o, a)
	}
	o.AccountID = l.accountID.Int64
	return nil
}

// convert prices o, priced in the package's currency, in the account's currency
// with the rates the lookup read: the total once (watan.Convert's rounding), the
// unit price for display.
func (l orderLookup) convert(o *watan.Order, to string) error {
	r := watan.Rates{Base: l.base.String, Rates: map[string]watan.Rate{}}
	if l.pkgRate.Valid {
		r.Rates[o.ListCurrency] = watan.Rate(l.pkgRate.Int64)
	}
	if l.acctRate.Valid {
		r.Rates[to] = watan.Rate(l.acctRate.Int64)
	}
	price, err := r.Convert(o.ListPrice, o.ListCurrency, to)
	if err != nil {
		return watan.Errorf(watan.ECodeNoExchangeRate, "package priced in %s cannot be sold to an account holding %s: %s",
			o.ListCurrency, to, watan.ErrorMessage(err))
	}
	unit, err := r.Convert(o.UnitPrice, o.ListCurrency, to)
	if err != nil {
		return err
	}
	o.Price, o.UnitPrice, o.Currency = price, unit, to
	return nil
}

// refusal explains why the account a cannot pay for o: its currency or its balance.
func refusal(n watan.NewOrder, o watan.Order, a watan.Account) error {
	if a.Currency != o.Currency {
		return watan.Errorf(watan.ECodeValidation, "package %q is priced in %s but account %q holds %s",
			n.PackageCode, o.Currency, n.AccountCode, a.Currency)
	}
	if a.OverdraftLimit <= 0 {
		return watan.Errorf(watan.ECodeInsufficientBalance, "account %q has %s %s and no overdraft; the order costs %s %s",
			n.AccountCode, a.Balance, a.Currency, o.Price, o.Currency)
	}
	return watan.Errorf(watan.ECodeInsufficientBalance, "account %q has %s %s and may go %s %s into overdraft; the order costs %s %s",
		n.AccountCode, a.Balance, a.Currency, a.OverdraftLimit, a.Currency, o.Price, o.Currency)
}

// debitRefused explains why the conditional debit (SQLite) matched no account row,
// from the account as it is now.
func (s *Store) debitRefused(ctx context.Context, tx *sql.Tx, n watan.NewOrder, o watan.Order) error {
	a, err := findAccount(ctx, tx, n.TenantID, n.AccountCode)
	if watan.IsNotFound(err) {
		return watan.Errorf(watan.ECodeUnknownAccount, "no account with code %q", n.AccountCode)
	}
	if err != nil {
		return err
	}
	return refusal(n, o, a)
}

// createdMessage is the "created" event's message after "order #N".
// createdMsg is the "created" entry of o's timeline.
func createdMsg(o *watan.Order) watan.Msg {
	return watan.M("order.created", "number", strconv.FormatInt(o.Number, 10), "quantity", strconv.Itoa(o.Quantity),
		"package", o.PackageCode, "price", o.Price.String()+" "+o.Currency, "account", o.AccountCode)
}

func createdMessage(o *watan.Order) string {
	conv := ""
	if o.ListCurrency != o.Currency {
		conv = fmt.Sprintf(" (converted from %s %s)", o.ListPrice, o.ListCurrency)
	}
	return fmt.Sprintf(" created: %d × %s for %s %s%s, debited from account %s",
		o.Quantity, o.PackageCode, o.Price, o.Currency, conv, o.AccountCode)
}

// createOrderSQL debits o's price from its account and writes o (with the id it
// was given), its ledger entry and its "created" event, taking the tenant's next
// order number, in one statement. The debit is unconditional: the account's CHECK
// constraint (balance >= -overdraft_limit) refuses an overdraft with an error,
// which aborts the transaction, so that the COMMIT sent right behind the statement
// cannot commit a refused order's job. The order rows are selected FROM the
// debit's result, so the number is taken only once the debit has succeeded.
// $16::text::regclass looks the sequence up by name through search_path at
// execution time, as the tables are, so the cached statement serves every tenant
// and every schema.
const createOrderSQL = `WITH a AS (
		UPDATE accounts SET balance = balance - $9::bigint, updated_at = $13::timestamptz
		WHERE id = $2::bigint AND tenant_id = $1::bigint
		RETURNING balance
	), o AS (
		INSERT INTO orders (id, tenant_id, number, account_id, package_id, quantity, player_id, extra,
			client_order_id, unit_price, price, currency, status, provider_state, created_at, updated_at,
			price_group_id, list_price, list_currency)
		SELECT $17::bigint, $1::bigint, nextval($16::text::regclass), $2::bigint, $3::bigint, $4::integer, $5::text,
			$6::text, $7::text, $8::bigint, $9::bigint, $10::text, $11::text, $12::text,
			$13::timestamptz, $13::timestamptz, $18::bigint, $19::bigint, $20::text FROM a
		RETURNING id, number
	), l AS (
		INSERT INTO ledger_entries (tenant_id, account_id, order_id, kind, amount, balance_after, note, created_at)
		SELECT $1::bigint, $2::bigint, o.id, 'debit', -$9::bigint, a.balance, 'order #' || o.number,
			$13::timestamptz FROM o, a
	), e AS (
		INSERT INTO order_events (tenant_id, order_id, at, actor, kind, message)
		SELECT $1::bigint, o.id, $13::timestamptz, $14::text, 'created', 'order #' || o.number || $15::text FROM o
	)
	SELECT o.number FROM o`

// createOrderPostgres creates the order o prepared from n on PostgreSQL. It reads
// and enqueues first and locks the account's row last, for as short a time as it
// can: with many orders for one account (a sub-dealer's storefront) that lock is
// what every create waits for in turn.
//
//   - The debit and the writes are one statement, sent in one pipeline with the
//     COMMIT, so the row is not also locked while the answer travels back here and
//     the COMMIT travels to the server. database/sql cannot pipeline, so that step
//     uses the pgx connection under the transaction (sql.Conn.Raw).
//   - That transaction commits asynchronously (synchronous_commit off), so the row
//     is released when the commit is recorded, not after the WAL flush that takes
//     most of a commit's time. The same pipeline then runs a barrier transaction
//     that writes a WAL record (a transactional logical message) and commits
//     synchronously; WAL is flushed in order, so once it has committed, so durably
//     has the order. Only then does this return: an order is never reported
//     created before it is durable. Others may see it a moment before, but what
//     acts on it outside the database commits first, synchronously (River's fetch
//     of the dispatch job, the engine's steps), and so makes it durable too.
//
// The *sql.Tx, which still believes its transaction open, ends the barrier one with
// its Commit. Without the privilege to emit the message (see Open), the order's
// transaction commits synchronously instead and the *sql.Tx ends an empty one.
func (s *Store) createOrderPostgres(ctx context.Context, n watan.NewOrder, o *watan.Order, enqueue func(ctx context.Context, tx *sql.Tx, o watan.Order) error) (replayed bool, err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("store: create order: %w", err)
	}
	defer conn.Close()
	// The transaction ends by Commit or Rollback below, never by the context:
	// database/sql would close the sql.Conn from another goroutine when ctx is done,
	// racing conn.Raw. A cancelled ctx still interrupts the statements, which get it.
	tx, err := conn.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return false, fmt.Errorf("store: begin: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tx.Rollback()
		}
	}()
	replayed, ok, err := s.prepareOrder(ctx, tx, n, o)
	if !ok || err != nil {
		return replayed, err
	}
	if enqueue != nil {
		if err := enqueue(ctx, tx, *o); err != nil {
			return false, err
		}
	}
	err = pipelineCommit(ctx, conn, s.commitBarrier, func(b *pgx.Batch) func(pgx.BatchResults) error {
		b.Queue(createOrderSQL,
			o.TenantID, o.AccountID, o.PackageID, o.Quantity, o.PlayerID, o.Extra, nullString(o.ClientOrderID),
			int64(o.UnitPrice), int64(o.Price), o.Currency, string(o.Status), string(o.ProviderState), s.ts(o.CreatedAt),
			string(n.Actor), createdMessage(o), orderSequence(o.TenantID), o.ID,
			nullID(o.PriceGroupID), int64(o.ListPrice), o.ListCurrency)
		return func(br pgx.BatchResults) error {
			err := br.QueryRow().Scan(&o.Number)
			if isNoRows(err) {
				// The account row is gone (watan never deletes one). The order's job
				// may have committed: run, it finds no order and ends.
				return fmt.Errorf("account %d no longer exists", o.AccountID)
			}
			return err
		}
	})
	switch {
	case err == nil:
		done = true
		if err := tx.Commit(); err != nil {
			// The order has committed but may not be durable yet: the client's retry
			// with its client order id finds it or creates it.
			return false, fmt.Errorf("store: create order: commit: %w", err)
		}
		return false, nil
	case isCheckViolation(err, "accounts_overdraft_check"):
		// A concurrent order took the balance since the lookup. The transaction is
		// aborted: end it, then explain from the account as it is now, on the same
		// connection (waiting for another one while holding this could starve the
		// pool).
		done = true
		if rerr := tx.Rollback(); rerr != nil {
			return false, fmt.Errorf("store: create order: rollback: %w", rerr)
		}
		a, ferr := findAccount(ctx, conn, n.TenantID, n.AccountCode)
		if ferr != nil {
			return false, ferr
		}
		return false, refusal(n, *o, a)
	case isUniqueViolation(err) && o.ClientOrderID != "":
		return false, fmt.Errorf("%w: %w", errClientIDTaken, err)
	}
	return false, fmt.Errorf("store: create order: %w", err)
}

// commitBarrierSQL writes a WAL record in a transaction of its own, so that its
// synchronous commit waits for the WAL flush, and with it for every transaction
// committed before it on the server.
const commitBarrierSQL = `SELECT pg_logical_emit_message(true, 'watan', 'commit barrier')`

// pipelineCommit sends the statement that queue adds to b and a COMMIT of conn's
// open transaction, then a BEGIN, in one round trip, and reads the statement's
// result with the function queue returns. With barrier, the transaction commits
// asynchronously and the new one is the barrier (commitBarrierSQL) for the caller
// to commit. If the statement fails, PostgreSQL skips the rest: the transaction
// stays open and aborted, for the caller's Rollback.
func pipelineCommit(ctx context.Context, conn *sql.Conn, barrier bool, queue func(b *pgx.Batch) func(pgx.BatchResults) error) error {
	var (
		err      error
		panicked any
	)
	// Raw's function returns nil whatever happens: an error or panic coming out of
	// it would make database/sql close the sql.Conn while the transaction holds it,
	// and wait for that forever.
	rerr := conn.Raw(func(dc any) error {
		defer func() { panicked = recover() }()
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			err = fmt.Errorf("store: pipeline: driver connection is %T, not pgx", dc)
			return nil
		}
		b := &pgx.Batch{}
		if barrier {
			b.Queue("SET LOCAL synchronous_commit = off")
		}
		read := queue(b)
		b.Queue("COMMIT")
		b.Queue("BEGIN")
		if barrier {
			b.Queue(commitBarrierSQL)
		}
		br := sc.Conn().SendBatch(ctx, b)
		if barrier {
			_, err = br.Exec()
		}
		if err == nil {
			err = read(br)
		}
		if err == nil {
			var tag pgconn.CommandTag
			if tag, err = br.Exec(); err == nil && tag.String() != "COMMIT" {
				err = fmt.Errorf("store: pipeline: COMMIT answered %s", tag)
			}
			if err == nil {
				// Committed: what fails from here (the BEGIN, the barrier) leaves
				// the outcome known but its durability not.
				if cerr := br.Close(); cerr != nil {
					err = fmt.Errorf("store: committed, then: %w", cerr)
				}
				return nil
			}
		}
		_ = br.Close() // the statement's error comes first
		return nil
	})
	if panicked != nil {
		panic(panicked)
	}
	if rerr != nil {
		return rerr
	}
	return err
}

// debitAndInsertSQLite does what debitAndInsertPostgres does, one statement at a
// time (SQLite has no writes in WITH; its one writer makes the order of the locks
// moot), and sets o.ID.
func (s *Store) debitAndInsertSQLite(ctx context.Context, tx *sql.Tx, n watan.NewOrder, o *watan.Order) error {
	var balance watan.Amount
	err := tx.QueryRowContext(ctx, `UPDATE accounts SET balance = balance - $1, updated_at = $2
		WHERE id = $3 AND tenant_id = $4 AND balance - $1 >= -overdraft_limit RETURNING balance`,
		int64(o.Price), s.ts(o.CreatedAt), o.AccountID, o.TenantID).Scan(&balance)
	if isNoRows(err) {
		return s.debitRefused(ctx, tx, n, *o)
	}
	if err != nil {
		return fmt.Errorf("store: create order: debit: %w", err)
	}
	err = tx.QueryRowContext(ctx, `UPDATE order_counters SET last_number = last_number + 1 WHERE tenant_id = $1
		RETURNING last_number`, o.TenantID).Scan(&o.Number)
	if err != nil {
		return fmt.Errorf("store: create order: number: %w", err)
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO orders
		(tenant_id, number, account_id, package_id, quantity, player_id, extra, client_order_id,
		 unit_price, price, currency, status, provider_state, created_at, updated_at,
		 price_group_id, list_price, list_currency)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, $16, $17) RETURNING id`,
		o.TenantID, o.Number, o.AccountID, o.PackageID, o.Quantity, o.PlayerID, o.Extra, nullString(o.ClientOrderID),
		int64(o.UnitPrice), int64(o.Price), o.Currency, string(o.Status), string(o.ProviderState), s.ts(o.CreatedAt),
		nullID(o.PriceGroupID), int64(o.ListPrice), o.ListCurrency).Scan(&o.ID)
	if isUniqueViolation(err) && o.ClientOrderID != "" {
		return fmt.Errorf("%w: %w", errClientIDTaken, err)
	}
	if err != nil {
		return fmt.Errorf("store: create order: insert: %w", err)
	}
	if err := s.insertLedger(ctx, tx, &watan.LedgerEntry{
		TenantID: o.TenantID, AccountID: o.AccountID, OrderID: o.ID, Kind: watan.LedgerDebit,
		Amount: -o.Price, BalanceAfter: balance, Note: fmt.Sprintf("order #%d", o.Number), CreatedAt: o.CreatedAt,
	}); err != nil {
		return err
	}
	ev := &watan.OrderEvent{TenantID: o.TenantID, OrderID: o.ID, At: o.CreatedAt, Actor: n.Actor, Kind: watan.EventCreated}
	ev.SetMsg(createdMsg(o))
	return s.insertEvent(ctx, tx, ev)
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
	var params any
	if len(e.Params) > 0 {
		p, err := jsonArg(e.Params)
		if err != nil {
			return err
		}
		params = p
	}
	err := tx.QueryRowContext(ctx, `INSERT INTO order_events (tenant_id, order_id, at, actor, kind, message, data, code, params)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		e.TenantID, e.OrderID, s.ts(e.At), string(e.Actor), string(e.Kind), e.Message, data, e.Code, params).Scan(&e.ID)
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
		err := r.Scan(&e.ID, &e.TenantID, &e.OrderID, timeCol{&e.At}, &e.Actor, &e.Kind, &e.Message, jsonCol{&e.Data}, &e.Code, jsonCol{&e.Params})
		return e, err
	}, `SELECT id, tenant_id, order_id, at, actor, kind, message, data, code, params FROM order_events
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
