package watan

import (
	"context"
	"encoding/base64"
	"strings"
	"time"
)

// WebhookEndpoint is where a tenant receives order events. Secret gives the HMAC keys
// (see WebhookKey); it is written by operators and read only by the sender, never
// returned by the API.
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

// ValidWebhookState reports whether s is one of the delivery states.
func ValidWebhookState(s string) bool {
	return s == WebhookPending || s == WebhookDelivered || s == WebhookFailed
}

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

// StandardSecretPrefix begins a secret in the Standard Webhooks form: the prefix and
// the standard, padded base64 of the key bytes.
const StandardSecretPrefix = "whsec_"

// MinWebhookKeyLen is the shortest webhook key: 128 bits. It bounds a plain secret's
// bytes and a whsec_ secret's decoded bytes alike, so the whsec_ form can never make
// a key weaker than the plain form allows.
const MinWebhookKeyLen = 16

// WebhookKey returns the key of the Standard Webhooks signature (webhook-signature)
// for a secret: the decoded bytes of a whsec_ secret whose rest is canonical
// standard base64, else the secret's own bytes. The second case keeps every secret
// set before the whsec_ form was understood usable as it is.
func WebhookKey(s Secret) []byte {
	if key, ok := decodeStandardSecret(string(s)); ok {
		return key
	}
	return []byte(s)
}

// decodeStandardSecret decodes a whsec_ secret. Only the canonical encoding counts,
// so that a secret and the whsec_ form a receiver is told to configure are the same
// string.
func decodeStandardSecret(s string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(s, StandardSecretPrefix)
	if !ok {
		return nil, false
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || base64.StdEncoding.EncodeToString(key) != rest {
		return nil, false
	}
	return key, true
}

// ValidateWebhookSecret checks a secret being set: a whsec_ secret must be the
// canonical base64 of at least MinWebhookKeyLen bytes; any other secret must be at
// least MinWebhookKeyLen bytes. A whsec_ value that does not decode is refused rather
// than used as plain bytes, since its owner surely meant the decoded key.
func ValidateWebhookSecret(s Secret) error {
	if !strings.HasPrefix(string(s), StandardSecretPrefix) {
		if len(s) < MinWebhookKeyLen {
			return Errorf(ECodeValidation, "secret must be at least %d bytes", MinWebhookKeyLen)
		}
		return nil
	}
	key, ok := decodeStandardSecret(string(s))
	if !ok {
		return Errorf(ECodeValidation, "secret starting with %s must continue with the standard base64 (with = padding) of the key", StandardSecretPrefix)
	}
	if len(key) < MinWebhookKeyLen {
		return Errorf(ECodeValidation, "secret starting with %s must encode a key of at least %d bytes", StandardSecretPrefix, MinWebhookKeyLen)
	}
	return nil
}

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
	// OrderWebhookDeliveriesPage returns one page of OrderWebhookDeliveries: at
	// most limit deliveries (default and most 1000) after cursor.
	OrderWebhookDeliveriesPage(ctx context.Context, tenantID, orderID int64, limit int, cursor string) (deliveries []WebhookDelivery, next string, err error)
	// ListWebhookDeliveries returns one page of the tenant's deliveries, newest
	// first, without their attempts: at most limit (default 100, at most 1000)
	// before cursor, only those in state if it is set.
	ListWebhookDeliveries(ctx context.Context, tenantID int64, state string, limit int, cursor string) (deliveries []WebhookDelivery, next string, err error)
	// ResendWebhook sends a delivery again; its attempts continue the count.
	ResendWebhook(ctx context.Context, tenantID, deliveryID int64) (WebhookDelivery, error)
}
