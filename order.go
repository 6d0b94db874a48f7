package watan

import (
	"context"
	"time"
)

// Status is the order's state as the storefront sees it.
type Status string

// Order statuses. An order starts pending and ends approved or rejected.
const (
	StatusPending  Status = "pending"
	StatusApproved Status = "approved"
	StatusRejected Status = "rejected"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	return s == StatusPending || s == StatusApproved || s == StatusRejected
}

// Final reports whether no automatic process may change s any more.
func (s Status) Final() bool { return s == StatusApproved || s == StatusRejected }

// ProviderState is what we know of the order on the fulfilment side.
type ProviderState string

// Provider states.
const (
	StateNotSent   ProviderState = "not_sent"  // no provider has been asked yet
	StateSending   ProviderState = "sending"   // reference stored; the call may be under way
	StateSent      ProviderState = "sent"      // the provider accepted it and is working on it
	StateUnknown   ProviderState = "unknown"   // the call's outcome is not known; check before anything else
	StateDelivered ProviderState = "delivered" // the provider (or the code stock) delivered a PIN
	StateFailed    ProviderState = "failed"    // the provider reported a final failure or refused it
	StateNotFound  ProviderState = "not_found" // the provider does not know the reference: safe to place again
	StateManual    ProviderState = "manual"    // waiting for an operator
	StateExpired   ProviderState = "expired"   // the deadline passed while the provider was pending
)

// Valid reports whether s is a known provider state.
func (s ProviderState) Valid() bool {
	_, ok := providerTransitions[s]
	return ok
}

// Dispatched reports whether a provider may hold an order in this state, so that
// it must be watched until the order is final.
func (s ProviderState) Dispatched() bool {
	return s == StateSending || s == StateSent || s == StateUnknown
}

// providerTransitions lists, for each provider state, the states it may move to.
// Final states may move again only through an operator's re-dispatch (back to
// not_sent) or hand-over (manual); StatusTransition governs the status side.
var providerTransitions = map[ProviderState][]ProviderState{
	StateNotSent:   {StateSending, StateDelivered, StateManual, StateFailed},
	StateSending:   {StateSent, StateDelivered, StateFailed, StateUnknown, StateNotFound, StateExpired, StateSending},
	StateSent:      {StateDelivered, StateFailed, StateUnknown, StateNotFound, StateExpired},
	StateUnknown:   {StateSent, StateDelivered, StateFailed, StateNotFound, StateExpired, StateUnknown, StateSending},
	StateNotFound:  {StateSending, StateManual, StateFailed, StateExpired, StateNotSent},
	StateFailed:    {StateSending, StateManual, StateNotSent},
	StateManual:    {StateSending, StateDelivered, StateFailed, StateNotSent},
	StateDelivered: {StateSending, StateManual},
	StateExpired:   {StateSending, StateManual},
}

// ProviderTransition returns an ECodeInvalidTransition error unless an order may move
// from provider state from to to.
func ProviderTransition(from, to ProviderState) error {
	for _, s := range providerTransitions[from] {
		if s == to {
			return nil
		}
	}
	return Errorf(ECodeInvalidTransition, "provider state cannot change from %s to %s", from, to)
}

// MoneyEffect is what a status change does to the customer's balance.
type MoneyEffect int

// Money effects of status changes.
const (
	MoneyNone    MoneyEffect = iota
	MoneyRefund              // credit the order's price back
	MoneyRedebit             // debit the order's price again
)

// StatusTransition decides whether actor may move an order from status from to to,
// and what that does to the money. The rules:
//
//   - pending → approved | rejected: anyone (the engine on the provider's evidence, an
//     operator by decision). Rejection refunds.
//   - rejected → approved: operators only; the price is debited again, subject to the
//     overdraft limit.
//   - approved → rejected: operators only; refunds.
//   - rejected → pending: operators only, to re-dispatch an order its provider
//     failed; the price is debited again.
//   - anything else, including a status to itself, is an ECodeInvalidTransition error.
//     The engine therefore can never flip a final order: a provider's late answer about
//     an order an operator already decided is recorded as an event and changes nothing.
func StatusTransition(from, to Status, actor Actor) (MoneyEffect, error) {
	operator := actor.IsOperator()
	switch {
	case from == StatusPending && to == StatusApproved:
		return MoneyNone, nil
	case from == StatusPending && to == StatusRejected:
		return MoneyRefund, nil
	case from == StatusRejected && to == StatusApproved && operator:
		return MoneyRedebit, nil
	case from == StatusApproved && to == StatusRejected && operator:
		return MoneyRefund, nil
	case from == StatusRejected && to == StatusPending && operator:
		return MoneyRedebit, nil
	}
	return MoneyNone, Errorf(ECodeInvalidTransition, "order is %s and cannot become %s by %s", from, to, actorKind(actor))
}

func actorKind(a Actor) string {
	if a.IsOperator() {
		return "an operator"
	}
	return string(a)
}

// Order is one sale, from creation to a final status.
type Order struct {
	ID       int64 `json:"id"`
	TenantID int64 `json:"-"`
	// Number is per tenant, unique and increasing, for humans. On PostgreSQL it
	// may skip a value where a create failed after taking it (never for a refused
	// order), and orders may commit out of number order.
	Number        int64  `json:"number"`
	AccountID     int64  `json:"-"`
	AccountCode   string `json:"account"`
	PackageID     int64  `json:"-"`
	PackageCode   string `json:"package"`
	Quantity      int    `json:"quantity"`
	PlayerID      string `json:"player_id"`
	Extra         string `json:"extra,omitempty"`
	ClientOrderID string `json:"client_order_id,omitempty"`
	UnitPrice     Amount `json:"unit_price"`
	Price         Amount `json:"price"` // UnitPrice × Quantity, the amount debited
	Currency      string `json:"currency"`

	Status            Status        `json:"status"`
	ProviderState     ProviderState `json:"provider_state"`
	ProviderAccountID int64         `json:"provider_account_id,omitempty"`
	ProviderOrderID   string        `json:"provider_order_id,omitempty"`
	// ProviderReferans is our reference at the provider, stored before the call and
	// reused on every retry, so that one order never becomes two provider orders.
	ProviderReferans string `json:"provider_referans,omitempty"`
	PIN              string `json:"pin,omitempty"`
	ProviderMessage  string `json:"provider_message,omitempty"`
	// FallbackUsed is set once the fallback provider has been tried, so it is tried once.
	FallbackUsed bool `json:"fallback_used,omitempty"`

	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
	LastCheckedAt *time.Time `json:"last_checked_at,omitempty"`
	CompletedAt   *time.Time `json:"completed_at,omitempty"`
	Deadline      *time.Time `json:"deadline,omitempty"`
	CheckCount    int        `json:"check_count"`
	// NextCheckAt is when the order is next due a status check at its provider.
	NextCheckAt *time.Time `json:"next_check_at,omitempty"`
	// DispatchCount counts placements attempted under distinct references; it makes
	// each new reference unique by construction.
	DispatchCount int `json:"dispatch_count"`
}

// NewOrder is the input to CreateOrder.
type NewOrder struct {
	TenantID      int64
	PackageCode   string
	AccountCode   string
	Quantity      int
	PlayerID      string
	Extra         string
	ClientOrderID string
	Actor         Actor
}

// Limits on order input.
const (
	MaxQuantity      = 1000
	MaxPlayerIDLen   = 128
	MaxExtraLen      = 256
	MaxClientIDLen   = 128
	MaxCodeLen       = 64
	MaxNameLen       = 200
	MaxNoteLen       = 1000
	MaxCodesPerBatch = 100_000
)

// Validate checks the order input that needs no database.
func (n NewOrder) Validate() error {
	switch {
	case n.PackageCode == "":
		return Errorf(ECodeValidation, "package is required")
	case n.AccountCode == "":
		return Errorf(ECodeValidation, "account is required")
	case n.Quantity <= 0:
		return Errorf(ECodeValidation, "quantity must be at least 1")
	case n.Quantity > MaxQuantity:
		return Errorf(ECodeValidation, "quantity must be at most %d", MaxQuantity)
	case n.PlayerID == "":
		return Errorf(ECodeValidation, "player_id is required")
	case len(n.PlayerID) > MaxPlayerIDLen:
		return Errorf(ECodeValidation, "player_id must be at most %d bytes", MaxPlayerIDLen)
	case len(n.Extra) > MaxExtraLen:
		return Errorf(ECodeValidation, "extra must be at most %d bytes", MaxExtraLen)
	case len(n.ClientOrderID) > MaxClientIDLen:
		return Errorf(ECodeValidation, "client_order_id must be at most %d bytes", MaxClientIDLen)
	}
	return nil
}

// OrderFilter selects orders for listing. Zero fields do not filter.
type OrderFilter struct {
	TenantID          int64
	Status            Status
	ProviderAccountID int64
	// Query matches the order number, player id, provider reference or client order id.
	Query string
	From  time.Time // created at or after
	To    time.Time // created before
	Limit int       // default 50, at most 500
	// Cursor continues a listing: the value of a previous page's NextCursor.
	Cursor string
}

// OrderPage is one page of a listing, newest first.
type OrderPage struct {
	Orders     []Order `json:"orders"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

// EventKind classifies timeline entries.
type EventKind string

// Event kinds used across the system. The engine adds its own dispatch and check
// step names; operators read Message.
const (
	EventCreated       EventKind = "created"
	EventStatusChanged EventKind = "status_changed"
	EventRefund        EventKind = "refund"
	EventRedebit       EventKind = "redebit"
	EventNote          EventKind = "note"
)

// OrderEvent is one entry of an order's append-only timeline.
type OrderEvent struct {
	ID       int64             `json:"id"`
	TenantID int64             `json:"-"`
	OrderID  int64             `json:"order_id"`
	At       time.Time         `json:"at"`
	Actor    Actor             `json:"actor"`
	Kind     EventKind         `json:"kind"`
	Message  string            `json:"message"`
	Data     map[string]string `json:"data,omitempty"`
}

// OrderService creates and reads orders.
type OrderService interface {
	// CreateOrder validates, debits the account and creates the order in one
	// transaction. If the tenant already has an order with the same ClientOrderID it
	// returns that order and created == false, and debits nothing.
	CreateOrder(ctx context.Context, n NewOrder) (o Order, created bool, err error)
	FindOrder(ctx context.Context, tenantID, id int64) (Order, error)
	ListOrders(ctx context.Context, f OrderFilter) (OrderPage, error)
	OrderEvents(ctx context.Context, tenantID, orderID int64) ([]OrderEvent, error)
}
