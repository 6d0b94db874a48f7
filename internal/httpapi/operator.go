package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"watan"
	"watan/internal/breaker"
)

// Operator carries out operators' actions; *engine.Engine satisfies it. Each order
// action runs with the order locked and returns the order as it committed, so that
// an action racing a provider's answer either wins or fails with
// ECodeInvalidTransition, and never acts on a stale view.
type Operator interface {
	// Approve marks the order approved, with the PIN an operator delivered if any.
	// Approving a rejected order debits its price again.
	Approve(ctx context.Context, tenantID, orderID int64, actor watan.Actor, pin, note string) (watan.Order, error)
	// Reject marks a pending order rejected and refunds it.
	Reject(ctx context.Context, tenantID, orderID int64, actor watan.Actor, note string) (watan.Order, error)
	// Redispatch sends the order to a provider account under a new reference.
	Redispatch(ctx context.Context, tenantID, orderID, providerAccountID int64, actor watan.Actor, note string) (watan.Order, error)
	// SetManual hands a pending order that no provider holds to operators.
	SetManual(ctx context.Context, tenantID, orderID int64, actor watan.Actor, note string) (watan.Order, error)
	// CheckNow asks the provider about a dispatched order at once.
	CheckNow(ctx context.Context, tenantID, orderID int64, actor watan.Actor) (watan.Order, error)
	// PauseProvider holds back placements to a provider account until resumed.
	PauseProvider(ctx context.Context, tenantID, id int64, reason string, actor watan.Actor) error
	// ResumeProvider lifts the pause of a provider account and closes its circuit.
	ResumeProvider(ctx context.Context, tenantID, id int64, actor watan.Actor) error
}

// ProviderHealth tells how provider accounts are doing; *engine.Engine satisfies it.
type ProviderHealth interface {
	// Circuit is the account's circuit breaker in this process.
	Circuit(providerAccountID int64) breaker.Snapshot
	// ProviderEvents pages through the account's timeline, newest first.
	ProviderEvents(ctx context.Context, tenantID, providerAccountID int64, limit int, cursor string) ([]watan.ProviderEvent, string, error)
}

type pauseRequest struct {
	Reason string `json:"reason" desc:"why, for the account's timeline and the waiting orders; at most 1000 bytes"`
}

// maxPINLen bounds a PIN an operator delivers, as the store bounds a stocked code
// (store.MaxPINLen); this package does not import the store.
const maxPINLen = 512

type approveRequest struct {
	PIN  string `json:"pin" desc:"the code the operator delivered, kept on the order; an order waiting for an operator becomes delivered"`
	Note string `json:"note" desc:"why, for the order's timeline; at most 1000 bytes"`
}

type noteRequest struct {
	Note string `json:"note" desc:"why, for the order's timeline; at most 1000 bytes"`
}

type redispatchRequest struct {
	ProviderAccountID int64  `json:"provider_account_id" api:"required" desc:"the provider account to place the order with; active, with a mapping for the order's package"`
	Note              string `json:"note" desc:"why, for the order's timeline; at most 1000 bytes"`
}

// emptyRequest is the body of actions that take no input: nothing, or {}. Decoding
// it still refuses unknown fields, so a client that believes it is passing an
// option learns that it is not.
type emptyRequest struct{}

func checkNote(note string) error {
	if len(note) > watan.MaxNoteLen {
		return invalid("note must be at most %d bytes", watan.MaxNoteLen)
	}
	return watan.ValidateText("note", note)
}

// orderAction is the shape of the engine's actions on one order, with their inputs
// from the body already bound.
type orderAction func(ctx context.Context, tenantID, orderID int64, actor watan.Actor) (watan.Order, error)

// actOnOrder runs act on the order named by the path, as the request's API key, and
// answers with the order as the action left it.
func (h *Handler) actOnOrder(w http.ResponseWriter, r *http.Request, what string, act orderAction) error {
	id, err := pathID(r, "id", "order")
	if err != nil {
		return err
	}
	o, err := act(r.Context(), tenantOf(r), id, actorOf(r))
	if err != nil {
		return fmt.Errorf("%s order %d: %w", what, id, err)
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}

func (h *Handler) approveOrder(w http.ResponseWriter, r *http.Request) error {
	var req approveRequest
	if err := decodeOptionalJSON(r, &req); err != nil {
		return err
	}
	// Pasted PINs carry stray spaces; a blank one is as absent as a missing one.
	pin := strings.TrimSpace(req.PIN)
	if len(pin) > maxPINLen {
		return invalid("pin must be at most %d bytes", maxPINLen)
	}
	// A PIN is read off a screen and typed: invisible characters would change it.
	if err := watan.ValidateIdentifier("PIN", pin); err != nil {
		return err
	}
	if err := checkNote(req.Note); err != nil {
		return err
	}
	return h.actOnOrder(w, r, "approving", func(ctx context.Context, tenantID, orderID int64, actor watan.Actor) (watan.Order, error) {
		return h.operator.Approve(ctx, tenantID, orderID, actor, pin, req.Note)
	})
}

func (h *Handler) rejectOrder(w http.ResponseWriter, r *http.Request) error {
	var req noteRequest
	if err := decodeOptionalJSON(r, &req); err != nil {
		return err
	}
	if err := checkNote(req.Note); err != nil {
		return err
	}
	return h.actOnOrder(w, r, "rejecting", func(ctx context.Context, tenantID, orderID int64, actor watan.Actor) (watan.Order, error) {
		return h.operator.Reject(ctx, tenantID, orderID, actor, req.Note)
	})
}

func (h *Handler) redispatchOrder(w http.ResponseWriter, r *http.Request) error {
	var req redispatchRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.ProviderAccountID <= 0 {
		return invalid("provider_account_id is required: the id of the provider account to place the order with")
	}
	if err := checkNote(req.Note); err != nil {
		return err
	}
	return h.actOnOrder(w, r, "re-dispatching", func(ctx context.Context, tenantID, orderID int64, actor watan.Actor) (watan.Order, error) {
		o, err := h.operator.Redispatch(ctx, tenantID, orderID, req.ProviderAccountID, actor, req.Note)
		if watan.IsNotFound(err) {
			// The engine's not_found may be about the order (the path: 404) or the
			// provider account (the body: the request is invalid). Only the failing
			// path pays for telling them apart.
			if _, ferr := h.orders.FindOrder(ctx, tenantID, orderID); ferr != nil {
				return o, ferr
			}
			return o, invalid("provider_account_id %d names no provider account", req.ProviderAccountID)
		}
		return o, err
	})
}

func (h *Handler) setOrderManual(w http.ResponseWriter, r *http.Request) error {
	var req noteRequest
	if err := decodeOptionalJSON(r, &req); err != nil {
		return err
	}
	if err := checkNote(req.Note); err != nil {
		return err
	}
	return h.actOnOrder(w, r, "setting manual", func(ctx context.Context, tenantID, orderID int64, actor watan.Actor) (watan.Order, error) {
		return h.operator.SetManual(ctx, tenantID, orderID, actor, req.Note)
	})
}

func (h *Handler) checkOrder(w http.ResponseWriter, r *http.Request) error {
	if err := decodeOptionalJSON(r, &emptyRequest{}); err != nil {
		return err
	}
	return h.actOnOrder(w, r, "checking", h.operator.CheckNow)
}

// resumeProviderAccount answers with the account read back after the resume, so
// that the client sees the pause lifted (or, resuming an account that was not
// paused, that nothing changed).
func (h *Handler) resumeProviderAccount(w http.ResponseWriter, r *http.Request) error {
	if err := decodeOptionalJSON(r, &emptyRequest{}); err != nil {
		return err
	}
	id, err := pathID(r, "id", "provider account")
	if err != nil {
		return err
	}
	if err := h.operator.ResumeProvider(r.Context(), tenantOf(r), id, actorOf(r)); err != nil {
		return fmt.Errorf("resuming provider account %d: %w", id, err)
	}
	p, err := h.findProviderAccount(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.viewProviderAccount(p))
	return nil
}

// pauseProviderAccount holds back placements to the account until it is resumed,
// and answers with the account read back.
func (h *Handler) pauseProviderAccount(w http.ResponseWriter, r *http.Request) error {
	var req pauseRequest
	if err := decodeOptionalJSON(r, &req); err != nil {
		return err
	}
	if err := checkNote(req.Reason); err != nil {
		return err
	}
	id, err := pathID(r, "id", "provider account")
	if err != nil {
		return err
	}
	if err := h.operator.PauseProvider(r.Context(), tenantOf(r), id, strings.TrimSpace(req.Reason), actorOf(r)); err != nil {
		return fmt.Errorf("pausing provider account %d: %w", id, err)
	}
	p, err := h.findProviderAccount(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.viewProviderAccount(p))
	return nil
}

// providerEventList is a page of a provider account's timeline.
type providerEventList struct {
	Events     []watan.ProviderEvent `json:"events"`
	NextCursor string                `json:"next_cursor,omitempty" desc:"pass as cursor to read the next, older page; absent on the last page"`
}

// providerAccountEvents pages through the account's timeline, newest first: its
// circuit opening and closing, operators pausing and resuming it.
func (h *Handler) providerAccountEvents(w http.ResponseWriter, r *http.Request) error {
	p, err := h.findProviderAccount(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit, err := queryInt(q, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	evs, next, err := h.health.ProviderEvents(r.Context(), tenantOf(r), p.ID, limit, q.Get("cursor"))
	if err != nil {
		return fmt.Errorf("listing events of provider account %d: %w", p.ID, err)
	}
	if evs == nil {
		evs = []watan.ProviderEvent{}
	}
	writeJSON(w, http.StatusOK, providerEventList{Events: evs, NextCursor: next})
	return nil
}
