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
	// SaveOrderProviderTx writes the provider-side fields of o: provider state,
	// account, order id, referans, PIN, message, fallback flag, sent, checked and
	// completed times, deadline, next check, check and dispatch counts.
	SaveOrderProviderTx(ctx context.Context, tx *sql.Tx, o watan.Order) error
	// SetOrderStatusTx moves o to status to as actor, applying the money effect that
	// watan.StatusTransition prescribes (ledger refund or re-debit, the latter within
	// the overdraft limit), stamping the completion time, and writing the status and
	// money events. It returns the order as stored.
	SetOrderStatusTx(ctx context.Context, tx *sql.Tx, o watan.Order, to watan.Status, actor watan.Actor, note string) (watan.Order, error)
	AddOrderEventTx(ctx context.Context, tx *sql.Tx, e watan.OrderEvent) error
	// TakeCodeTx hands one unused code of the group to the order, never the same code
	// to two orders; an empty stock is an ECodeNotFound error.
	TakeCodeTx(ctx context.Context, tx *sql.Tx, tenantID, groupID, orderID int64) (string, error)

	SetProviderPaused(ctx context.Context, tenantID, id int64, paused bool, reason string) error
	ListPausedProviderAccounts(ctx context.Context) ([]watan.ProviderAccount, error)

	// DueChecks lists other pending orders of the provider account in a dispatched
	// state whose next check is due by now, soonest first, for batch checks.
	DueChecks(ctx context.Context, tenantID, providerAccountID int64, now time.Time, excludeOrderID int64, limit int) ([]watan.Order, error)
	// OrdersWithoutJob lists pending orders in one of states, last updated before
	// updatedBefore, that have no live job of
	// the given kind (a job whose args carry "order_id"), oldest first.
	OrdersWithoutJob(ctx context.Context, kind string, states []watan.ProviderState, updatedBefore time.Time, limit int) ([]watan.Order, error)
	// OrdersPastDeadline lists pending orders whose deadline is before now.
	OrdersPastDeadline(ctx context.Context, now time.Time, limit int) ([]watan.Order, error)
}

// Queue schedules the engine's jobs inside the caller's transaction.
type Queue interface {
	EnqueueDispatchTx(ctx context.Context, tx *sql.Tx, o watan.Order) error
	// EnqueueCheckTx schedules the order's check job to run after delay (at once for
	// zero). A delay rather than a time keeps the queue on its own clock when the
	// engine's is injected. An order has at most one live check job; a second
	// enqueue is a no-op.
	EnqueueCheckTx(ctx context.Context, tx *sql.Tx, o watan.Order, delay time.Duration) error
}

// Providers builds a client for a provider account.
type Providers interface {
	Provider(acct watan.ProviderAccount) (watan.Provider, error)
}
