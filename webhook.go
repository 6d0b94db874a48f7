package watan

import (
	"context"
	"time"
)

// WebhookEndpoint is where a tenant receives order events. Secret is the HMAC key;
// it is written by operators and read only by the sender, never returned by the API.
type WebhookEndpoint struct {
	TenantID  int64     `json:"-"`
	URL       string    `json:"url"`
	Secret    Secret    `json:"-"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Webhook delivery states.
const (
	WebhookPending   = "pending"   // queued or being retried
	WebhookDelivered = "delivered" // a 2xx answer was received
	WebhookFailed    = "failed"    // attempts used up, or no active endpoint any more
)

// WebhookDelivery is one event about one order, to be sent until a 2xx answer.
type WebhookDelivery struct {
	ID       int64  `json:"id"`
	TenantID int64  `json:"-"`
	OrderID  int64  `json:"order_id"`
	Seq      int    `json:"seq"`
	Event    string `json:"event"`
	// Payload is the exact body sent on every attempt (the signature covers it).
	Payload     string           `json:"-"`
	State       string           `json:"state"`
	Attempts    int              `json:"attempts"`
	LastStatus  int              `json:"last_status,omitempty"`
	LastError   string           `json:"last_error,omitempty"`
	CreatedAt   time.Time        `json:"created_at"`
	UpdatedAt   time.Time        `json:"updated_at"`
	DeliveredAt *time.Time       `json:"delivered_at,omitempty"`
	History     []WebhookAttempt `json:"history,omitempty"`
}

// WebhookAttempt is one HTTP attempt at a delivery.
type WebhookAttempt struct {
	Attempt    int           `json:"attempt"`
	At         time.Time     `json:"at"`
	StatusCode int           `json:"status_code,omitempty"` // 0: no HTTP answer
	Error      string        `json:"error,omitempty"`
	Duration   time.Duration `json:"duration_ns"`
}

// MaxWebhookURLLen bounds a callback URL.
const MaxWebhookURLLen = 2000

// WebhookService manages a tenant's webhook endpoint and shows and resends the
// deliveries about its orders.
type WebhookService interface {
	// FindWebhookEndpoint returns the tenant's endpoint, or an ECodeNotFound error.
	FindWebhookEndpoint(ctx context.Context, tenantID int64) (WebhookEndpoint, error)
	// PutWebhookEndpoint sets the endpoint's URL and active flag, and its secret
	// unless secret is empty (a new endpoint needs one).
	PutWebhookEndpoint(ctx context.Context, tenantID int64, url string, secret Secret, active bool) (WebhookEndpoint, error)
	// OrderWebhookDeliveries lists the deliveries about an order, in event order,
	// with their attempts.
	OrderWebhookDeliveries(ctx context.Context, tenantID, orderID int64) ([]WebhookDelivery, error)
	// ResendWebhook sends a delivery again; its attempts continue the count.
	ResendWebhook(ctx context.Context, tenantID, deliveryID int64) (WebhookDelivery, error)
}
