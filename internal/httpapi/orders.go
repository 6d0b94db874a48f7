package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"watan"
)

type createOrderRequest struct {
	Package       string `json:"package" api:"required" desc:"code of the package to order"`
	Account       string `json:"account" api:"required" desc:"code of the customer account to debit"`
	Quantity      int    `json:"quantity" api:"required" desc:"how many, 1 to 1000"`
	PlayerID      string `json:"player_id" api:"required" desc:"the player or recipient id at the game"`
	Extra         string `json:"extra" desc:"extra input some products need, e.g. a server or zone"`
	ClientOrderID string `json:"client_order_id" desc:"idempotency key, unique per tenant: repeating it returns the first order and debits nothing"`
}

// orderList is the listing's response; next_cursor is always present and empty on
// the last page, so that clients test one field.
type orderList struct {
	Orders     []watan.Order `json:"orders"`
	NextCursor string        `json:"next_cursor" desc:"pass as cursor to get the next page; empty on the last page"`
}

type eventList struct {
	Events     []watan.OrderEvent `json:"events"`
	NextCursor string             `json:"next_cursor,omitempty" desc:"pass as cursor to read the next, newer page; absent on the last page"`
}

func (h *Handler) createOrder(w http.ResponseWriter, r *http.Request) error {
	var req createOrderRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	n := watan.NewOrder{
		TenantID:      tenantOf(r),
		PackageCode:   req.Package,
		AccountCode:   req.Account,
		Quantity:      req.Quantity,
		PlayerID:      req.PlayerID,
		Extra:         req.Extra,
		ClientOrderID: req.ClientOrderID,
		Actor:         watan.ActorAPI,
	}
	if strings.TrimSpace(n.PlayerID) == "" {
		n.PlayerID = "" // blank is as missing as absent
	}
	if err := n.Validate(); err != nil {
		return err
	}
	o, created, err := h.orders.CreateOrder(r.Context(), n)
	if err != nil {
		return fmt.Errorf("creating order: %w", err)
	}
	w.Header().Set("Location", Prefix+"/orders/"+strconv.FormatInt(o.ID, 10))
	status := http.StatusCreated
	if !created {
		// A replay of a client_order_id: the first order, unchanged, nothing debited.
		status = http.StatusOK
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, status, o)
	return nil
}

func (h *Handler) getOrder(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "order")
	if err != nil {
		return err
	}
	o, err := h.orders.FindOrder(r.Context(), tenantOf(r), id)
	if err != nil {
		return fmt.Errorf("finding order %d: %w", id, err)
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}

// getOrderByClientID finds an order by its idempotency key, so that a client
// whose POST went unanswered learns whether the order exists without creating it.
func (h *Handler) getOrderByClientID(w http.ResponseWriter, r *http.Request) error {
	cid := r.PathValue("client_order_id")
	if len(cid) > watan.MaxClientIDLen {
		return invalid("client_order_id must be at most %d bytes", watan.MaxClientIDLen)
	}
	if err := watan.ValidateIdentifier("client_order_id", cid); err != nil {
		return err
	}
	o, err := h.orders.FindOrderByClientID(r.Context(), tenantOf(r), cid)
	if err != nil {
		return fmt.Errorf("finding order by client order id: %w", err)
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}

func (h *Handler) listOrders(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r)
	if err != nil {
		return err
	}
	f := watan.OrderFilter{
		TenantID: tenantOf(r),
		Status:   watan.Status(q.Get("status")),
		Query:    q.Get("q"),
		Cursor:   q.Get("cursor"),
	}
	if f.Status != "" && !f.Status.Valid() {
		return invalid("query parameter \"status\" must be pending, approved or rejected, not %q", f.Status)
	}
	if s := q.Get("provider"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return badRequest("query parameter \"provider\" must be a provider account id, not %q", s)
		}
		f.ProviderAccountID = id
	}
	if f.From, err = queryTime(q, "from"); err != nil {
		return err
	}
	if f.To, err = queryTime(q, "to"); err != nil {
		return err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return invalid("query parameter \"from\" must be before \"to\"")
	}
	if f.Limit, err = queryInt(q, "limit", 0, 1, 500); err != nil {
		return err
	}
	page, err := h.orders.ListOrders(r.Context(), f)
	if err != nil {
		return fmt.Errorf("listing orders: %w", err)
	}
	out := orderList{Orders: page.Orders, NextCursor: page.NextCursor}
	if out.Orders == nil {
		out.Orders = []watan.Order{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) orderEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "order")
	if err != nil {
		return err
	}
	tenant := tenantOf(r)
	// Finding the order first makes another tenant's order a 404, not an empty list.
	if _, err := h.orders.FindOrder(r.Context(), tenant, id); err != nil {
		return fmt.Errorf("finding order %d: %w", id, err)
	}
	q, err := query(r)
	if err != nil {
		return err
	}
	limit, err := queryInt(q, "limit", 0, 1, 1000)
	if err != nil {
		return err
	}
	events, next, err := h.orders.OrderEventsPage(r.Context(), tenant, id, limit, q.Get("cursor"))
	if err != nil {
		return fmt.Errorf("listing events of order %d: %w", id, err)
	}
	if events == nil {
		events = []watan.OrderEvent{}
	}
	writeJSON(w, http.StatusOK, eventList{Events: events, NextCursor: next})
	return nil
}
