package watan

import (
	"context"
	"slices"
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
	switch s {
	case StateNotSent, StateSending, StateSent, StateUnknown, StateDelivered, StateFailed,
		StateNotFound, StateManual, StateExpired:
		return true
	}
	return false
}

// Dispatched reports whether a provider may hold an order in this state, so that
// it must be watched until the order is final.
func (s ProviderState) Dispatched() bool {
	return s == StateSending || s == StateSent || s == StateUnknown
}

// UnderAfterCare reports whether o is decided but still watched for a provider's
// late answer: a provider may hold it (its state is dispatched, or it expired
// while the provider was pending) and its next check is set.
func (o Order) UnderAfterCare() bool {
	return o.Status != StatusPending && o.NextCheckAt != nil && TrAfterCare.Allows(o.ProviderState)
}

// A Transition is one kind of change to the provider side of an order. Every change
// the engine or an operator makes names one, and is applied as a compare-and-set: it
// takes effect only if the order is still in one of From (and, for the engine, still
// pending and at the placement generation the change is about); otherwise nothing
// changes. The table below is the whole state machine: a change that is not in it
// cannot be made.
type Transition struct {
	Name string
	// From lists the states the order must be in. Nil means any state (operator
	// decisions, which StatusTransition governs instead).
	From []ProviderState
	// To is the state the order ends in; empty keeps the state it was in.
	To ProviderState
	// NewGeneration starts a new placement generation: answers about earlier
	// generations no longer apply.
	NewGeneration bool
	// Operator marks an operator's action. It applies to the order as it is now,
	// also to a decided one; the engine's transitions apply only to pending orders.
	Operator bool
	// StatusAnswer marks a status check's answer. It never applies while a
	// placement of the generation may still be on the wire (Order.PlacementInFlight):
	// only the placement's own answer speaks for it then.
	StatusAnswer bool
	// AfterDecision marks the engine's watch over an order already decided (by an
	// operator or the deadline) that a provider may still hold: it applies only to
	// decided orders, and changes nothing but when the order is next checked.
	AfterDecision bool
}

// The engine's transitions. "Answer" transitions carry a provider's status answer
// about one generation; an answer that finds the order elsewhere (another
// generation, decided, or a state the answer does not apply to) is recorded as an
// event and changes nothing.
var (
	// TrPlace stores a new generation, the reference and a lease, and commits,
	// before the placement call.
	TrPlace = Transition{Name: "place", From: []ProviderState{StateNotSent, StateNotFound}, To: StateSending, NewGeneration: true}
	// TrAccepted: the provider accepted the placement and works on it.
	TrAccepted = Transition{Name: "accepted", From: []ProviderState{StateSending}, To: StateSent}
	// TrDeliveredAtPlacement: the placement answer already carries the delivery.
	TrDeliveredAtPlacement = Transition{Name: "delivered_at_placement", From: []ProviderState{StateSending}, To: StateDelivered}
	// TrRefused: the provider refused the order; no order exists there.
	TrRefused = Transition{Name: "refused", From: []ProviderState{StateSending}, To: StateFailed}
	// TrOutcomeUnknown: nobody knows whether the placement landed.
	TrOutcomeUnknown = Transition{Name: "outcome_unknown", From: []ProviderState{StateSending}, To: StateUnknown}
	// TrFallback binds an order no provider holds to the fallback account, to be
	// placed there under a new reference.
	TrFallback = Transition{Name: "fallback", From: []ProviderState{StateSending, StateNotSent, StateNotFound}, To: StateNotSent}
	// TrAnswerPending: the provider holds the order and is working on it.
	TrAnswerPending = Transition{Name: "answer_pending", From: []ProviderState{StateSending, StateUnknown, StateSent}, To: StateSent, StatusAnswer: true}
	// TrAnswerDelivered: the provider delivered.
	TrAnswerDelivered = Transition{Name: "answer_delivered", From: []ProviderState{StateSending, StateUnknown, StateSent}, To: StateDelivered, StatusAnswer: true}
	// TrAnswerFailed: the provider reports a final failure.
	TrAnswerFailed = Transition{Name: "answer_failed", From: []ProviderState{StateSending, StateUnknown, StateSent}, To: StateFailed, StatusAnswer: true}
	// TrAnswerNotFound: the provider has no order under the reference, and no
	// placement of this generation can still be on the wire.
	TrAnswerNotFound = Transition{Name: "answer_not_found", From: []ProviderState{StateSending, StateUnknown}, To: StateNotFound, StatusAnswer: true}
	// TrCheckFailed records a status call that failed; the state stays. (An order
	// left in "sending" by a placement whose lease ran out is as unknown as one in
	// "unknown", and is treated alike.)
	TrCheckFailed = Transition{Name: "check_failed", From: []ProviderState{StateSending, StateUnknown, StateSent}}
	// TrWatch schedules the next check of a dispatched order (the sweeper's repair).
	TrWatch = Transition{Name: "watch", From: []ProviderState{StateSending, StateUnknown, StateSent}}
	// TrRestoreDispatch gives an order no provider holds its lost dispatch job.
	TrRestoreDispatch = Transition{Name: "restore_dispatch", From: []ProviderState{StateNotSent, StateNotFound}}
	// TrExpire rejects and refunds an order whose deadline passed: one a provider
	// may hold, or one never placed (then without a call).
	TrExpire = Transition{Name: "expire", From: []ProviderState{StateSending, StateUnknown, StateSent, StateNotSent, StateNotFound}, To: StateExpired}
	// TrToManual leaves an order no provider holds to an operator.
	TrToManual = Transition{Name: "to_manual", From: []ProviderState{StateNotSent, StateNotFound}, To: StateManual}
	// TrCodeDelivered hands the order a code from the stock.
	TrCodeDelivered = Transition{Name: "code_delivered", From: []ProviderState{StateNotSent}, To: StateDelivered}
	// TrWaiting notes that an order waits for a paused provider account.
	TrWaiting = Transition{Name: "waiting", From: []ProviderState{StateNotSent, StateNotFound}}
	// TrAfterCare keeps asking the provider about a decided order it may still hold,
	// so that a late delivery or cancellation reaches the timeline (late_answer).
	TrAfterCare = Transition{Name: "after_care", From: []ProviderState{StateSending, StateUnknown, StateSent, StateExpired}, AfterDecision: true}
)

// Operators' transitions.
var (
	// TrOpApprove approves the order as its provider side stands (with a PIN the
	// operator delivered, if any).
	TrOpApprove = Transition{Name: "operator_approve", Operator: true}
	// TrOpDeliver approves a manual order with the PIN the operator delivered.
	TrOpDeliver = Transition{Name: "operator_deliver", From: []ProviderState{StateManual}, To: StateDelivered, Operator: true}
	// TrOpReject rejects the order as its provider side stands.
	TrOpReject = Transition{Name: "operator_reject", Operator: true}
	// TrOpRedispatch sends an order no provider holds to a provider account of the
	// operator's choosing, as a new generation: whatever an earlier job chose for
	// the old one no longer applies.
	TrOpRedispatch = Transition{Name: "operator_redispatch", From: []ProviderState{StateNotSent, StateManual, StateNotFound, StateFailed}, To: StateNotSent, NewGeneration: true, Operator: true}
	// TrOpManual hands an order no provider holds to operators.
	TrOpManual = Transition{Name: "operator_manual", From: []ProviderState{StateNotSent, StateNotFound, StateFailed}, To: StateManual, Operator: true}
	// TrOpNote records an operator's action that changes no field (check now).
	TrOpNote = Transition{Name: "operator_note", Operator: true}
)

// Transitions lists every transition, for tests and documentation.
var Transitions = []Transition{
	TrPlace, TrAccepted, TrDeliveredAtPlacement, TrRefused, TrOutcomeUnknown, TrFallback,
	TrAnswerPending, TrAnswerDelivered, TrAnswerFailed, TrAnswerNotFound, TrCheckFailed, TrWatch, TrRestoreDispatch,
	TrExpire, TrToManual, TrCodeDelivered, TrWaiting, TrAfterCare,
	TrOpApprove, TrOpDeliver, TrOpReject, TrOpRedispatch, TrOpManual, TrOpNote,
}

// Allows reports whether the transition may start from state s.
func (t Transition) Allows(s ProviderState) bool {
	if t.From == nil {
		return true
	}
	return slices.Contains(t.From, s)
}

// Check returns an ECodeInvalidTransition error unless the transition may move an
// order from provider state from to to.
func (t Transition) Check(from, to ProviderState) error {
	want := t.To
	if want == "" {
		want = from
	}
	if !t.Allows(from) || to != want {
		return Errorf(ECodeInvalidTransition, "%s cannot move an order from %s to %s", t.Name, from, to)
	}
	return nil
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
	// Price is the amount debited, in the account's Currency: UnitPrice × Quantity,
	// or, when the package is priced in another currency, ListPrice converted once
	// (so it may differ from UnitPrice × Quantity by the rounding of UnitPrice).
	Price    Amount `json:"price"`
	Currency string `json:"currency"`
	// PriceGroupID is the account's price group the price was resolved for (0: the
	// package's default price). ListPrice is the total in the package's currency,
	// ListCurrency, before conversion. All of it is frozen at creation.
	PriceGroupID int64  `json:"price_group_id,omitempty"`
	ListPrice    Amount `json:"list_price"`
	ListCurrency string `json:"list_currency"`
	// Cost is what the current placement costs the tenant, in CostCurrency, from
	// CostSource; set when the order is placed (replaced by a fallback placement),
	// cleared when it is rejected.
	Cost         *Amount    `json:"cost,omitempty"`
	CostCurrency string     `json:"cost_currency,omitempty"`
	CostSource   CostSource `json:"cost_source,omitempty"`
	// Profit is frozen when the order is approved (again after a re-approval) and
	// cleared when it is rejected.
	Profit *ProfitSnapshot `json:"profit,omitempty"`

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
	// Generation numbers the order's placements (and operators' re-dispatches). Every
	// placement, status answer and job carries the generation it is about, and a
	// change applies only while the order is still at it, so a late or stale answer
	// can never undo a newer placement.
	Generation int `json:"generation"`
	// LeaseUntil is set while a placement of the current generation may be on the
	// wire: until then no status answer may conclude that the provider has no such
	// order. LeaseOwner names the process that holds it.
	LeaseUntil *time.Time `json:"lease_until,omitempty"`
	LeaseOwner string     `json:"lease_owner,omitempty"`
	// Version counts the writes of the order's row. A change is saved only if the
	// row is still at the version it was read at (ErrOrderChanged otherwise).
	Version int64 `json:"-"`
}

// PlacementInFlight reports whether a placement of the order may still be on the
// wire at now: it is "sending" under a lease that has not run out.
func (o Order) PlacementInFlight(now time.Time) bool {
	return o.ProviderState == StateSending && o.LeaseUntil != nil && now.Before(*o.LeaseUntil)
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
	for _, f := range []struct{ name, v string }{
		{"package", n.PackageCode}, {"account", n.AccountCode}, {"player_id", n.PlayerID},
		{"extra", n.Extra}, {"client_order_id", n.ClientOrderID},
	} {
		if err := ValidateIdentifier(f.name, f.v); err != nil {
			return err
		}
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
	// Code and Params are Message as a Msg, for readers in other languages
	// (Message is its English text). Entries written before codes have none.
	Code   string            `json:"code,omitempty"`
	Params map[string]string `json:"params,omitempty"`
}

// Msg is the entry's message as a code and parameters: its own, or else its text
// read back with ParseMsg. ok is false for free text (shown as it is).
func (e OrderEvent) Msg() (Msg, bool) {
	if e.Code != "" {
		return Msg{Code: e.Code, Params: e.Params}, true
	}
	return ParseMsg(e.Message)
}

// SetMsg sets the entry's message: its code, parameters and English text.
func (e *OrderEvent) SetMsg(m Msg) {
	e.Code, e.Params, e.Message = m.Code, m.Params, m.String()
}

// OrderService creates and reads orders.
type OrderService interface {
	// CreateOrder validates, debits the account and creates the order in one
	// transaction. If the tenant already has an order with the same ClientOrderID it
	// returns that order and created == false, and debits nothing.
	CreateOrder(ctx context.Context, n NewOrder) (o Order, created bool, err error)
	FindOrder(ctx context.Context, tenantID, id int64) (Order, error)
	// FindOrderByClientID returns the tenant's order with that client order id,
	// or an ECodeNotFound error: how a client whose request was lost learns
	// whether it created the order.
	FindOrderByClientID(ctx context.Context, tenantID int64, clientOrderID string) (Order, error)
	ListOrders(ctx context.Context, f OrderFilter) (OrderPage, error)
	OrderEvents(ctx context.Context, tenantID, orderID int64) ([]OrderEvent, error)
	// OrderEventsPage returns one page of the order's timeline, oldest first:
	// at most limit events (default and most 1000) after cursor, a previous
	// page's next cursor ("" for the first page, and on the last page).
	OrderEventsPage(ctx context.Context, tenantID, orderID int64, limit int, cursor string) (events []OrderEvent, next string, err error)
}
