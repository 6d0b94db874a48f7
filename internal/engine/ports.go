package engine

import (
	"context"
	"database/sql"
	"time"

	"watan"
)

// Store is what the engine needs of the database. Methods ending in Tx run inside the
// caller's transaction, so that a state change, its events, its money and the next
// job commit together or not at all.
type Store interface {
	InTx(ctx context.Context, fn func(tx *sql.Tx) error) error

	FindOrder(ctx context.Context, tenantID, id int64) (watan.Order, error)
	FindPackage(ctx context.Context, tenantID int64, code string) (watan.Package, error)
	FindProviderAccount(ctx context.Context, tenantID, id int64) (watan.ProviderAccount, error)
	FindMapping(ctx context.Context, tenantID, packageID, providerAccountID int64) (watan.Mapping, error)

	// LockOrderTx reads an order and keeps other writers off it until tx ends.
	LockOrderTx(ctx context.Context, tx *sql.Tx, tenantID, id int64) (watan.Order, error)
	// SaveOrderTx writes the order's provider-side fields and its status in one
	// statement, if the order is still at o.Version (watan.ErrOrderChanged if not).
	SaveOrderTx(ctx context.Context, tx *sql.Tx, o watan.Order) error
	// SetOrderStatusTx decides the move of o (as locked in tx) to status to as
	// actor: the money effect that watan.StatusTransition prescribes (ledger refund
	// or re-debit, the latter within the overdraft limit) and the status and money
	// events. It returns o with its new status and completion time, which the
	// caller saves with SaveOrderTx.
	SetOrderStatusTx(ctx context.Context, tx *sql.Tx, o watan.Order, to watan.Status, actor watan.Actor, note string) (watan.Order, error)
	AddOrderEventTx(ctx context.Context, tx *sql.Tx, e watan.OrderEvent) error
	// TakeCodeTx hands one unused code of the group to the order, never the same code
	// to two orders; an empty stock is an ECodeNotFound error.
	TakeCodeTx(ctx context.Context, tx *sql.Tx, tenantID, groupID, orderID int64) (string, error)
	// TakeCodeWithCostTx is TakeCodeTx that also returns the code's cost (nil if
	// it has none) and its group's currency.
	TakeCodeWithCostTx(ctx context.Context, tx *sql.Tx, tenantID, groupID, orderID int64) (pin string, cost *watan.Amount, currency string, err error)

	// SetProviderPaused pauses or resumes dispatch to a provider account as actor
	// and records it on the account's timeline.
	SetProviderPaused(ctx context.Context, tenantID, id int64, paused bool, reason string, actor watan.Actor) error
	// AddProviderEvent appends to a provider account's timeline.
	AddProviderEvent(ctx context.Context, ev watan.ProviderEvent) error
	// ProviderEvents pages through a provider account's timeline, newest first.
	ProviderEvents(ctx context.Context, tenantID, providerAccountID int64, limit int, cursor string) ([]watan.ProviderEvent, string, error)

	// DueChecks lists other pending orders of the provider account in a dispatched
	// state whose next check is due by now, soonest first, for batch checks.
	DueChecks(ctx context.Context, tenantID, providerAccountID int64, now time.Time, excludeOrderID int64, limit int) ([]watan.Order, error)
	// ClaimChecks claims orders for one batch check started by order self's:
	// self if its next check is still selfNext, and of others those whose next
	// check is due by dueBy. It moves their next check to until, after dueBy,
	// returns the IDs claimed, and leaves the orders' versions alone.
	ClaimChecks(ctx context.Context, tenantID, self int64, selfNext *time.Time, others []int64, dueBy, until time.Time) ([]int64, error)
	// ClaimDueChecks claims for the check poller, across tenants, up to limit
	// pending orders in state sent whose next check is due by now and whose
	// placement lease has run out, soonest first: it moves each one's next check
	// to until(order) (called inside the claim's transaction: it must not use the
	// store), keeps their versions, and returns them as read before the claim.
	// Concurrent claims never return one order twice.
	ClaimDueChecks(ctx context.Context, now time.Time, limit int, until func(watan.Order) time.Time) ([]watan.Order, error)
	// ReleaseChecks makes those of ids that are pending orders whose next check
	// is still claimed (at the claim's until) due at at instead, keeps their
	// versions, and returns the IDs released.
	ReleaseChecks(ctx context.Context, tenantID int64, ids []int64, claimed, at time.Time) ([]int64, error)
	// NextDueCheck returns the earliest next check among the orders
	// ClaimDueChecks claims, and false when there is none.
	NextDueCheck(ctx context.Context) (time.Time, bool, error)
	// OrdersWithoutJob lists pending orders in one of states, last updated before
	// updatedBefore, that have no live job of the given kind (a job whose args carry
	// "order_id", and with sameGeneration the order's current "generation"), oldest
	// first.
	OrdersWithoutJob(ctx context.Context, kind string, states []watan.ProviderState, updatedBefore time.Time, limit int, sameGeneration bool) ([]watan.Order, error)
	// OrdersPastDeadline lists pending orders whose deadline is before now.
	OrdersPastDeadline(ctx context.Context, now time.Time, limit int) ([]watan.Order, error)
}

// Queue schedules the engine's jobs inside the caller's transaction.
type Queue interface {
	EnqueueDispatchTx(ctx context.Context, tx *sql.Tx, o watan.Order) error
	// EnqueueDispatchTx schedules a dispatch job for the order. Jobs are unique per
	// order and generation while live: a second enqueue for the same generation is
	// a no-op, one for a new generation is a new job.
	//
	// EnqueueCheckTx schedules the check job of the order's current generation to
	// run after delay (at once for zero). A delay rather than a time keeps the queue
	// on its own clock when the engine's is injected. A generation has at most one
	// live check job; a second enqueue is a no-op.
	EnqueueCheckTx(ctx context.Context, tx *sql.Tx, o watan.Order, delay time.Duration) error
}

// Providers builds a client for a provider account.
type Providers interface {
	Provider(acct watan.ProviderAccount) (watan.Provider, error)
}

// Observer is told what the engine did, for metrics. Status changes are reported
// after they committed (a rolled-back change is not counted), provider outcomes as
// soon as the answer is in; calls come from the engine's goroutines and must not
// block. The engine never needs one; Config.Observer may be nil.
type Observer interface {
	// StatusChanged reports a committed status change of one order.
	StatusChanged(from, to watan.Status)
	// Placed reports the outcome of one placement call: a watan.PlaceOutcome, or
	// "error" for a call that failed without an answer.
	Placed(kind watan.ProviderKind, providerAccountID int64, outcome string)
	// Checked reports the outcome of one order's status answer: a
	// watan.CheckOutcome, or "error" for a failed check call (once per order in it).
	Checked(kind watan.ProviderKind, providerAccountID int64, outcome string)
	// CircuitChanged reports a provider account's circuit breaker moving between
	// states ("closed", "open", "half_open").
	CircuitChanged(kind watan.ProviderKind, providerAccountID int64, from, to string)
}

// Notifier hears of every order change a storefront must be told about, inside the
// transaction that makes the change, so that the notice (a webhook delivery and its
// job) commits or rolls back with it. Config.Notifier may be nil.
type Notifier interface {
	// OrderChangedTx is called with the order as it will be committed and the
	// event: NotifySent, or NotifyStatus(o.Status) for a status change. An error
	// rolls the change back.
	OrderChangedTx(ctx context.Context, tx *sql.Tx, o watan.Order, event string) error
}

// NotifySent is the event of an order a provider accepted and is working on.
const NotifySent = "order.sent"

// NotifyStatus is the event of an order that moved to status s: "order.approved",
// "order.rejected", or "order.pending" (an operator re-dispatched a rejected order).
func NotifyStatus(s watan.Status) string { return "order." + string(s) }

// noObserver is the Observer of an engine configured without one.
type noObserver struct{}

func (noObserver) StatusChanged(watan.Status, watan.Status)                 {}
func (noObserver) Placed(watan.ProviderKind, int64, string)                 {}
func (noObserver) Checked(watan.ProviderKind, int64, string)                {}
func (noObserver) CircuitChanged(watan.ProviderKind, int64, string, string) {}
