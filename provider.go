package watan

import (
	"context"
	"errors"
	"fmt"
)

// Provider is one upstream provider account as the engine sees it: a client already
// holding its base URL and credentials. Implementations classify every answer into
// the typed outcomes below; the engine never parses provider text.
type Provider interface {
	// Place asks the provider to fulfil an order under ref. A nil error means the
	// answer was understood and Outcome says what it was. A non-nil error (always a
	// *ProviderError) means nobody knows whether the order exists; Outcome is then
	// PlaceUnknown and the engine must check ref before doing anything else. (With
	// FailInvalid nothing was sent, but the request must change before a retry.)
	//
	// A request the provider could not accept as mapped (a znet mapping without
	// oyun and kupur, a quantity the protocol cannot carry) is PlaceRejected with a
	// nil error and nothing sent, as the provider itself would refuse it.
	Place(ctx context.Context, req PlaceRequest) (PlaceResult, error)
	// Check asks for the state of orders. The result has one entry per ref, in order.
	// A non-nil error (a *ProviderError) means the whole call failed. Batch providers
	// answer up to Capabilities().MaxBatch refs per call; Check splits longer lists.
	Check(ctx context.Context, refs []CheckRef) ([]CheckResult, error)
	// Balance returns the account's balance at the provider.
	Balance(ctx context.Context) (Balance, error)
	// Catalog lists the products the provider offers this account.
	Catalog(ctx context.Context) ([]Product, error)
	// Capabilities tells what the protocol supports.
	Capabilities() Capabilities
}

// Capabilities of a provider protocol.
type Capabilities struct {
	BatchCheck      bool // many references per Check call
	MaxBatch        int  // refs per call when BatchCheck, else 1
	PINAtPlacement  bool // Place may deliver at once
	CheckByReferans bool // Check can find an order by our reference alone
}

// PlaceRequest is what the engine sends to place an order.
type PlaceRequest struct {
	// Referans is our unique reference for this order at this provider, numeric
	// (znet requires digits), stored before the call and reused on every retry.
	Referans  string
	ProductID string            // from the mapping
	Params    map[string]string // from the mapping, e.g. znet "oyun", "kupur"
	Quantity  int
	PlayerID  string
	Extra     string
	Phone     string // optional customer phone
}

// PlaceOutcome classifies a placement answer.
type PlaceOutcome string

// Placement outcomes.
const (
	PlaceAccepted  PlaceOutcome = "accepted"  // pending at the provider; watch it
	PlaceDelivered PlaceOutcome = "delivered" // done at once; PIN present (may be empty for top-ups)
	PlaceRejected  PlaceOutcome = "rejected"  // refused; Reason says why; no order exists
	PlaceUnknown   PlaceOutcome = "unknown"   // may exist ("already sent", no answer): check ref
)

// RejectReason classifies refusals, because fallback and pause rules depend on them.
type RejectReason string

// Reject reasons.
const (
	ReasonOutOfBalance       RejectReason = "out_of_balance"
	ReasonProductUnavailable RejectReason = "product_unavailable" // unknown, disabled or out of stock
	ReasonBadInput           RejectReason = "bad_input"           // e.g. invalid player id
	ReasonMisconfigured      RejectReason = "account_misconfigured"
	ReasonOther              RejectReason = "other"
)

// Fallbackable reports whether another provider may succeed where this one refused.
func (r RejectReason) Fallbackable() bool {
	return r == ReasonOutOfBalance || r == ReasonProductUnavailable || r == ReasonMisconfigured
}

// PlaceResult is a classified placement answer.
type PlaceResult struct {
	Outcome         PlaceOutcome
	Reason          RejectReason // when rejected
	ProviderOrderID string
	PIN             string // when delivered; never a placeholder
	Cost            string // the provider's price for this order, as sent, if known
	Balance         string // the account's remaining balance, as sent, if known
	Message         string // the provider's own words, for the timeline
}

// CheckRef identifies an order at its provider. ProviderOrderID is used when known;
// otherwise Referans.
type CheckRef struct {
	Referans        string
	ProviderOrderID string
}

// CheckOutcome classifies one order's status answer.
type CheckOutcome string

// Check outcomes.
const (
	CheckPending   CheckOutcome = "pending"
	CheckDelivered CheckOutcome = "delivered" // PIN present (may be empty for top-ups)
	CheckFailed    CheckOutcome = "failed"    // final failure at the provider
	CheckNotFound  CheckOutcome = "not_found" // the provider has no such order
	CheckUnknown   CheckOutcome = "unknown"   // an answer we could not classify; ask again later
)

// CheckResult is a classified status answer for one reference.
type CheckResult struct {
	Ref             CheckRef
	Outcome         CheckOutcome
	ProviderOrderID string
	PIN             string
	Message         string
}

// Balance at a provider.
type Balance struct {
	Amount   string // as the provider sent it
	Currency string
}

// Product in a provider's catalog.
type Product struct {
	ID          string
	Name        string
	Description string // the provider's own text, e.g. whether it loads the game directly
	Price       string
	Category    string
	Available   bool
	Params      map[string]string // what a mapping needs, e.g. znet "oyun", "kupur"
	Inputs      []string          // customer inputs the product needs (barakat params)
	QtyKind     string            // "fixed", "range" (QtyMin..QtyMax) or "set" (QtyValues)
	QtyMin      int
	QtyMax      int
	QtyValues   []string
}

// FailureKind classifies a failed provider call.
type FailureKind string

// Failure kinds.
const (
	// FailTransport: timeout, refused or dropped connection, HTTP 5xx. Retry later.
	FailTransport FailureKind = "transport"
	// FailMisconfigured: the provider refuses this account (znet empty body, HTML or
	// 8|…; barakat 401 or invalid token). Dispatch to the account should pause.
	FailMisconfigured FailureKind = "misconfigured"
	// FailProtocol: an answer we cannot parse.
	FailProtocol FailureKind = "protocol"
	// FailInvalid: the request was not sent because the protocol cannot carry it
	// (e.g. a non-numeric znet referans). Nothing reached the provider, so no order
	// exists; sending the same request again cannot succeed, the caller must change.
	FailInvalid FailureKind = "invalid_request"
)

// ProviderError is a failed provider call. Its message never contains credentials.
type ProviderError struct {
	Kind FailureKind
	Op   string // "place", "check", "balance", "catalog"
	Err  error  // redacted detail
}

func (e *ProviderError) Error() string {
	return fmt.Sprintf("provider %s: %s: %v", e.Op, e.Kind, e.Err)
}

func (e *ProviderError) Unwrap() error { return e.Err }

// IsMisconfigured reports whether err is the provider's misconfiguration signal.
func IsMisconfigured(err error) bool {
	pe, ok := errors.AsType[*ProviderError](err)
	return ok && pe.Kind == FailMisconfigured
}
