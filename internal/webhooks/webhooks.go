// Package webhooks tells storefronts about their orders. Each tenant may register one
// callback URL with a secret; every order that a provider accepts ("order.sent") or
// that changes status ("order.approved" with its PIN, "order.rejected", and
// "order.pending" when an operator re-dispatches a rejected order) becomes a
// delivery, written together with its job in the transaction of the change: a
// change that rolls back notifies nobody, and a change that commits is never lost.
//
// # What is sent
//
// A POST with a JSON body
//
//	{"event": "order.approved", "seq": 3, "order": {...}, "at": "2026-11-28T12:00:00Z"}
//
// where order is the order as the API returns it at the moment of the change and at
// is when the change happened. Headers:
//
//	Content-Type:      application/json
//	X-Watan-Event:     order.approved
//	X-Watan-Delivery:  the delivery's id (the same on every attempt)
//	webhook-id:        "msg_" + the delivery's id (the same on every attempt)
//	webhook-timestamp: Unix seconds when this attempt was signed
//	webhook-signature: v1,<base64 HMAC-SHA256(key, webhook-id + "." + timestamp + "." + body)>
//	X-Watan-Timestamp: the same as webhook-timestamp
//	X-Watan-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// The webhook-* headers follow the Standard Webhooks specification
// (https://www.standardwebhooks.com), so a receiver can check them with any of its
// libraries. The X-Watan-* signature is the older scheme, still sent for one
// release so that receivers can move over; it is keyed by the secret's bytes exactly
// as configured (see Verify).
//
// # Secrets and keys
//
// An endpoint's secret is either in the Standard Webhooks form, "whsec_" followed by
// the standard padded base64 of at least 16 key bytes, and then the webhook-signature
// key is those decoded bytes; or any other string of at least 16 bytes, and then the
// key is the string's own bytes. Either way StandardSecret gives the whsec_ secret
// that a receiver configures in a Standard Webhooks library: a whsec_ secret is
// returned as it is, any other secret s becomes "whsec_" + base64(s). A value that
// starts with "whsec_" but is not such an encoding is refused when set.
//
// A receiver checks a signature over the raw body, never a re-encoding of it, and
// should refuse timestamps far from its clock, which stops replays of old requests.
//
// # Retries
//
// A 2xx answer means delivered. Anything else (another status, a timeout, a refused
// connection) is retried by the queue with growing delays (jobs.WebhookRetryDelay:
// 10 s doubling to 1 h) up to jobs.WebhookMaxAttempts attempts (12, about three and a
// half hours), after which the delivery is marked failed. Every attempt is recorded
// with its number, status code, error and duration. An operator can Resend any
// delivery; its attempts continue the count.
//
// # Ordering
//
// Each event carries seq, numbering one order's events 1, 2, 3 ... in the order the
// changes committed, and at, the time of the change. Deliveries are sent
// independently and a retried one may arrive after a later one: receivers order by
// seq and, since the same event may arrive twice (a reply lost after the receiver
// acted), treat (order.id, seq) as the idempotency key. The order's final status is
// the one in the highest seq.
//
// Secrets never appear in logs, errors, events or the API; errors recorded for an
// attempt carry no URL.
package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"syscall"
	"time"

	"watan"
	"watan/internal/egress"
	"watan/internal/engine"
)

// Store is what the service needs of the database.
type Store interface {
	InTx(ctx context.Context, fn func(tx *sql.Tx) error) error
	FindWebhookEndpoint(ctx context.Context, tenantID int64) (watan.WebhookEndpoint, error)
	PutWebhookEndpoint(ctx context.Context, tenantID int64, url string, secret watan.Secret, active bool) (watan.WebhookEndpoint, error)
	OrderWebhookDeliveries(ctx context.Context, tenantID, orderID int64) ([]watan.WebhookDelivery, error)
	OrderWebhookDeliveriesPage(ctx context.Context, tenantID, orderID int64, limit int, cursor string) ([]watan.WebhookDelivery, string, error)
	ListWebhookDeliveries(ctx context.Context, tenantID int64, state string, limit int, cursor string) ([]watan.WebhookDelivery, string, error)
	CreateWebhookDeliveryTx(ctx context.Context, tx *sql.Tx, tenantID, orderID int64, event string, build func(seq int) ([]byte, error)) (watan.WebhookDelivery, bool, error)
	FindWebhookDelivery(ctx context.Context, tenantID, id int64) (watan.WebhookDelivery, error)
	RecordWebhookAttempt(ctx context.Context, tenantID, deliveryID int64, a watan.WebhookAttempt, final bool) (watan.WebhookAttempt, error)
	ReopenWebhookDeliveryTx(ctx context.Context, tx *sql.Tx, tenantID, id int64) (watan.WebhookDelivery, error)
}

// Queue schedules a delivery's job inside the caller's transaction; *jobs.Queue
// implements it.
type Queue interface {
	EnqueueWebhookTx(ctx context.Context, tx *sql.Tx, tenantID, deliveryID int64) error
}

// Observer is told of every attempt once it is recorded, for metrics; result is one
// of the Result constants.
type Observer interface {
	WebhookAttempt(result string, d time.Duration)
}

// Attempt results.
const (
	ResultDelivered  = "delivered"   // 2xx
	ResultHTTPError  = "http_error"  // an answer other than 2xx
	ResultError      = "error"       // no answer: timeout, refused, reset
	ResultNoEndpoint = "no_endpoint" // the tenant removed or disabled its endpoint
)

// Config configures a Service.
type Config struct {
	Store Store // required
	Queue Queue // required
	// Clock stamps events and signatures. Default watan.SystemClock.
	Clock watan.Clock
	// HTTPClient sends the requests. Default: a client with Timeout and no
	// redirects (a redirect would re-send the signed body to another place).
	HTTPClient *http.Client
	// Timeout bounds one attempt when HTTPClient is nil. Default 10 s.
	Timeout time.Duration
	// Egress limits where deliveries may go (package egress): endpoint URLs are
	// checked when saved and the default client checks every dial. Default nil:
	// anywhere. Ignored for HTTPClient, which is its owner's to guard.
	Egress *egress.Policy
	// Logger receives one line per attempt (never the secret or the URL's query).
	// Default discard.
	Logger *slog.Logger
	// Observer is told of every attempt. Default none.
	Observer Observer
}

// Service records and sends webhook deliveries. It implements engine.Notifier,
// jobs.WebhookDeliverer and watan.WebhookService, and is safe for concurrent use.
type Service struct {
	store    Store
	queue    Queue
	clock    watan.Clock
	client   *http.Client
	log      *slog.Logger
	observer Observer
	egress   *egress.Policy
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Queue == nil {
		return nil, errors.New("webhooks: Store and Queue are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = watan.SystemClock{}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout:       cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		if cfg.Egress != nil {
			// No proxy: it would dial the endpoint out of the guard's sight.
			cfg.HTTPClient.Transport = &http.Transport{
				DialContext:         cfg.Egress.Dialer(net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
				TLSHandshakeTimeout: cfg.Timeout,
				MaxIdleConns:        100,
				IdleConnTimeout:     90 * time.Second,
			}
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{store: cfg.Store, queue: cfg.Queue, clock: cfg.Clock, client: cfg.HTTPClient, log: cfg.Logger, observer: cfg.Observer, egress: cfg.Egress}, nil
}

// Payload is the JSON body of a delivery.
type Payload struct {
	Event string      `json:"event"`
	Seq   int         `json:"seq"`
	Order watan.Order `json:"order"`
	At    time.Time   `json:"at"`
}

// OrderChangedTx implements engine.Notifier: inside the transaction of the change it
// records a delivery of event about o and enqueues its job, if o's tenant has an
// active endpoint.
func (s *Service) OrderChangedTx(ctx context.Context, tx *sql.Tx, o watan.Order, event string) error {
	at := s.clock.Now().UTC()
	d, created, err := s.store.CreateWebhookDeliveryTx(ctx, tx, o.TenantID, o.ID, event, func(seq int) ([]byte, error) {
		return json.Marshal(Payload{Event: event, Seq: seq, Order: o, At: at})
	})
	if err != nil || !created {
		return err
	}
	return s.queue.EnqueueWebhookTx(ctx, tx, o.TenantID, d.ID)
}

// Deliver implements jobs.WebhookDeliverer: one attempt at the delivery, recorded.
// It returns an error when the attempt failed and should be retried.
func (s *Service) Deliver(ctx context.Context, tenantID, deliveryID int64, final bool) error {
	d, err := s.store.FindWebhookDelivery(ctx, tenantID, deliveryID)
	if watan.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if d.State == watan.WebhookDelivered {
		return nil // a duplicate job; the receiver already has it
	}
	ep, err := s.store.FindWebhookEndpoint(ctx, tenantID)
	if err != nil && !watan.IsNotFound(err) {
		return err
	}
	if err != nil || !ep.Active {
		// Nothing to send to; retrying cannot help until an operator acts, and
		// they can resend.
		s.record(ctx, d, watan.WebhookAttempt{At: s.clock.Now(), Error: "tenant has no active webhook endpoint"}, true, ResultNoEndpoint)
		return nil
	}

	start := time.Now()
	code, callErr := s.post(ctx, ep, d)
	a := watan.WebhookAttempt{At: s.clock.Now(), StatusCode: code, Duration: time.Since(start)}
	result := ResultDelivered
	switch {
	case callErr != nil:
		a.Error, result = callErr.Error(), ResultError
	case code < 200 || code > 299:
		a.Error, result = fmt.Sprintf("receiver answered %d", code), ResultHTTPError
	}
	a = s.record(ctx, d, a, final, result)
	s.log.Log(ctx, map[bool]slog.Level{true: slog.LevelInfo, false: slog.LevelWarn}[result == ResultDelivered], "webhook attempt",
		"tenant_id", tenantID, "order_id", d.OrderID, "delivery_id", d.ID, "event", d.Event, "seq", d.Seq,
		"attempt", a.Attempt, "status_code", code, "result", result, "duration", a.Duration, "final", final, "err", a.Error)
	if result != ResultDelivered {
		return fmt.Errorf("webhook delivery %d: %s", d.ID, a.Error)
	}
	return nil
}

// record stores the attempt; a failure to store it is logged, not returned, so
// that a delivered webhook is not sent again because bookkeeping failed.
func (s *Service) record(ctx context.Context, d watan.WebhookDelivery, a watan.WebhookAttempt, final bool, result string) watan.WebhookAttempt {
	stored, err := s.store.RecordWebhookAttempt(ctx, d.TenantID, d.ID, a, final)
	if err != nil {
		s.log.Error("record webhook attempt", "delivery_id", d.ID, "err", err)
		stored = a
	}
	// Told after recording, so an observer may read the attempt back.
	if s.observer != nil {
		s.observer.WebhookAttempt(result, a.Duration)
	}
	return stored
}

// post sends the delivery's body, signed now, and returns the status code.
func (s *Service) post(ctx context.Context, ep watan.WebhookEndpoint, d watan.WebhookDelivery) (int, error) {
	body := []byte(d.Payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("invalid endpoint URL")
	}
	ts := strconv.FormatInt(s.clock.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "watan-webhooks/1")
	req.Header.Set("X-Watan-Event", d.Event)
	req.Header.Set("X-Watan-Delivery", strconv.FormatInt(d.ID, 10))
	req.Header.Set("X-Watan-Timestamp", ts)
	req.Header.Set("X-Watan-Signature", Sign(ep.Secret.Reveal(), ts, body))
	id := messageID(d.ID)
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", SignStandard(ep.Secret, id, ts, body))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, describe(err)
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused; the body itself is not kept.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, nil
}

// describe reduces a transport error to its class for the delivery record: a
// callback URL may carry a token in its query, and the remote's own words (which
// address and port refused, what TLS said) would tell a tenant about hosts it
// should not see.
func describe(err error) error {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, egress.ErrRefused):
		return egress.ErrRefused
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return errors.New("timeout")
	case errors.As(err, &dnsErr):
		return errors.New("name not resolved")
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("connection refused")
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("connection closed")
	}
	if ue, ok := errors.AsType[*url.Error](err); ok && ue.Timeout() {
		return errors.New("timeout")
	}
	return errors.New("transport error")
}

// FindWebhookEndpoint implements watan.WebhookService.
func (s *Service) FindWebhookEndpoint(ctx context.Context, tenantID int64) (watan.WebhookEndpoint, error) {
	return s.store.FindWebhookEndpoint(ctx, tenantID)
}

// PutWebhookEndpoint implements watan.WebhookService.
func (s *Service) PutWebhookEndpoint(ctx context.Context, tenantID int64, url string, secret watan.Secret, active bool) (watan.WebhookEndpoint, error) {
	if s.egress != nil {
		if err := s.egress.CheckURL(url); err != nil {
			return watan.WebhookEndpoint{}, watan.Errorf(watan.ECodeValidation, "url %v", err)
		}
	}
	return s.store.PutWebhookEndpoint(ctx, tenantID, url, secret, active)
}

// OrderWebhookDeliveries implements watan.WebhookService.
func (s *Service) OrderWebhookDeliveries(ctx context.Context, tenantID, orderID int64) ([]watan.WebhookDelivery, error) {
	return s.store.OrderWebhookDeliveries(ctx, tenantID, orderID)
}

// OrderWebhookDeliveriesPage implements watan.WebhookService.
func (s *Service) OrderWebhookDeliveriesPage(ctx context.Context, tenantID, orderID int64, limit int, cursor string) ([]watan.WebhookDelivery, string, error) {
	return s.store.OrderWebhookDeliveriesPage(ctx, tenantID, orderID, limit, cursor)
}

// ListWebhookDeliveries implements watan.WebhookService.
func (s *Service) ListWebhookDeliveries(ctx context.Context, tenantID int64, state string, limit int, cursor string) ([]watan.WebhookDelivery, string, error) {
	return s.store.ListWebhookDeliveries(ctx, tenantID, state, limit, cursor)
}

// ResendWebhook implements watan.WebhookService with Resend.
func (s *Service) ResendWebhook(ctx context.Context, tenantID, deliveryID int64) (watan.WebhookDelivery, error) {
	return s.Resend(ctx, tenantID, deliveryID)
}

// Resend sends a delivery again, whatever its state, with a fresh job whose attempts
// continue the delivery's count. If the delivery's job is still retrying, that job
// carries on and nothing is added.
func (s *Service) Resend(ctx context.Context, tenantID, deliveryID int64) (watan.WebhookDelivery, error) {
	var d watan.WebhookDelivery
	err := s.store.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		if d, err = s.store.ReopenWebhookDeliveryTx(ctx, tx, tenantID, deliveryID); err != nil {
			return err
		}
		return s.queue.EnqueueWebhookTx(ctx, tx, tenantID, deliveryID)
	})
	return d, err
}

// Sign returns the X-Watan-Signature value for body sent at timestamp (Unix
// seconds, as in X-Watan-Timestamp): "sha256=" and the hex HMAC-SHA256, keyed by the
// secret, of timestamp + "." + body.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature is Sign(secret, timestamp, body), in constant
// time. Receivers should also refuse a timestamp too far from their clock.
func Verify(secret, timestamp string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature))
}

// messageID is a delivery's webhook-id. It derives from the delivery rather than the
// attempt because receivers use it as their idempotency key across retries and
// resends; the id is an integer, so it holds no "." to blur the signed content.
func messageID(deliveryID int64) string {
	return "msg_" + strconv.FormatInt(deliveryID, 10)
}

// SignStandard returns the webhook-signature value for body sent as message id at
// timestamp (Unix seconds): "v1," and the standard base64 HMAC-SHA256, keyed by
// watan.WebhookKey(secret), of id + "." + timestamp + "." + body.
func SignStandard(secret watan.Secret, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, watan.WebhookKey(secret))
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// StandardSecret returns the secret, in the Standard Webhooks whsec_ form, that a
// receiver configures to check the webhook-signature of deliveries signed with
// secret. The result is a secret too: never log it.
func StandardSecret(secret watan.Secret) string {
	return watan.StandardSecretPrefix + base64.StdEncoding.EncodeToString(watan.WebhookKey(secret))
}

var (
	_ engine.Notifier      = (*Service)(nil)
	_ watan.WebhookService = (*Service)(nil)
)
