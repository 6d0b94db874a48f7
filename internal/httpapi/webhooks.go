package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"watan"
)

// Webhook routes: the tenant's endpoint (the secret is write-only), the deliveries
// about an order with every attempt, and an operator's resend. They are served only
// when Config.Webhooks is set.

type putWebhookEndpointRequest struct {
	URL    string `json:"url" api:"required" desc:"http or https URL that receives a signed POST for every order event"`
	Secret string `json:"secret" desc:"HMAC-SHA256 key: a Standard Webhooks secret (whsec_ and the standard padded base64 of a key of at least 16 bytes) or any other string of at least 16 bytes; required the first time, kept when omitted; never returned"`
	Active *bool  `json:"active" desc:"false stops new deliveries; default true"`
}

type webhookDeliveryList struct {
	Deliveries []watan.WebhookDelivery `json:"deliveries"`
	NextCursor string                  `json:"next_cursor,omitempty" desc:"pass as cursor to read the next page; absent on the last page"`
}

var (
	docGetWebhookEndpoint = op{id: "getWebhookEndpoint", tag: "webhooks", summary: "The tenant's webhook endpoint",
		desc: "The URL and active flag; the secret is never returned. not_found until one is set."}
	docPutWebhookEndpoint = op{id: "putWebhookEndpoint", tag: "webhooks", summary: "Set the tenant's webhook endpoint",
		desc: "Every order event (order.sent, order.approved with the PIN, order.rejected, order.pending) is POSTed as " +
			"{event, seq, order, at}, signed in the Standard Webhooks format (webhook-id, webhook-timestamp, webhook-signature; " +
			"verify with the secret itself if it is a whsec_ secret, else with \"whsec_\" + base64(secret)) and, for one more release, " +
			"with X-Watan-Timestamp and X-Watan-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + \".\" + body)>. " +
			"2xx is delivered; anything else is retried with growing delays, 12 attempts over about three and a half hours. " +
			"seq numbers one order's events; retries may arrive out of order and twice, so order by seq and use (order.id, seq) as the idempotency key.",
		req: putWebhookEndpointRequest{}, resp: watan.WebhookEndpoint{}}
	docOrderWebhooks = op{id: "listOrderWebhooks", tag: "webhooks", summary: "Webhook deliveries about an order, with every attempt",
		desc:  "In seq order, a page at a time (" + pagingDesc + ").",
		query: pageQueryParams, resp: webhookDeliveryList{}}
	docListWebhookDeliveries = op{id: "listWebhookDeliveries", tag: "webhooks", summary: "The tenant's webhook deliveries, newest first",
		desc: "Every delivery about every order of the tenant, newest first, a page at a time (limit: default 100). " +
			"Each shows its state, attempts, last status and error; the attempts themselves are listed per order by GET /orders/{id}/webhooks. " +
			"Follow next_cursor to the end to read every delivery that existed when the first page was read, exactly once.",
		query: []param{
			{name: "status", desc: "only deliveries in this state: pending (queued or being retried), delivered or failed",
				schema: map[string]any{"type": "string", "enum": []string{watan.WebhookPending, watan.WebhookDelivered, watan.WebhookFailed}}},
			limitParam(1000), cursorParam,
		},
		resp: webhookDeliveryList{}}
	docResendWebhook = op{id: "resendWebhook", tag: "webhooks", summary: "Send a webhook delivery again",
		desc: "Queues the delivery again whatever its state; its attempts continue the count. While the delivery is still being retried this adds nothing. The body is empty or {}.",
		req:  emptyRequest{}, resp: watan.WebhookDelivery{}}
)

func (h *Handler) getWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	ep, err := h.webhooks.FindWebhookEndpoint(r.Context(), tenantOf(r))
	if err != nil {
		return fmt.Errorf("finding webhook endpoint: %w", err)
	}
	writeJSON(w, http.StatusOK, ep)
	return nil
}

func (h *Handler) putWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	var req putWebhookEndpointRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	active := req.Active == nil || *req.Active
	ep, err := h.webhooks.PutWebhookEndpoint(r.Context(), tenantOf(r), strings.TrimSpace(req.URL), watan.Secret(req.Secret), active)
	if err != nil {
		return fmt.Errorf("setting webhook endpoint: %w", err)
	}
	writeJSON(w, http.StatusOK, ep)
	return nil
}

func (h *Handler) orderWebhooks(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "order")
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	ds, next, err := h.webhooks.OrderWebhookDeliveriesPage(r.Context(), tenantOf(r), id, limit, cursor)
	if err != nil {
		return fmt.Errorf("listing webhook deliveries of order %d: %w", id, err)
	}
	if ds == nil {
		ds = []watan.WebhookDelivery{}
	}
	writeJSON(w, http.StatusOK, webhookDeliveryList{Deliveries: ds, NextCursor: next})
	return nil
}

func (h *Handler) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	state := r.URL.Query().Get("status")
	if state != "" && !watan.ValidWebhookState(state) {
		return invalid("query parameter \"status\" must be pending, delivered or failed, not %q", state)
	}
	ds, next, err := h.webhooks.ListWebhookDeliveries(r.Context(), tenantOf(r), state, limit, cursor)
	if err != nil {
		return fmt.Errorf("listing webhook deliveries: %w", err)
	}
	if ds == nil {
		ds = []watan.WebhookDelivery{}
	}
	writeJSON(w, http.StatusOK, webhookDeliveryList{Deliveries: ds, NextCursor: next})
	return nil
}

func (h *Handler) resendWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := decodeOptionalJSON(r, &emptyRequest{}); err != nil {
		return err
	}
	id, err := pathID(r, "id", "webhook delivery")
	if err != nil {
		return err
	}
	d, err := h.webhooks.ResendWebhook(r.Context(), tenantOf(r), id)
	if err != nil {
		return fmt.Errorf("resending webhook delivery %d: %w", id, err)
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}
