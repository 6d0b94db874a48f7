package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"time"

	"watan"
)

// This file holds webhooks: a tenant's callback endpoint, the deliveries written in
// the transaction of each order status change, and every HTTP attempt at them.

// PutWebhookEndpoint sets the tenant's callback URL and, if secret is not empty, its
// secret. A new endpoint needs a secret; an existing one keeps its secret when
// secret is empty, so a form that never shows the secret can still change the URL.
func (s *Store) PutWebhookEndpoint(ctx context.Context, tenantID int64, rawURL string, secret watan.Secret, active bool) (watan.WebhookEndpoint, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(rawURL) > watan.MaxWebhookURLLen {
		return watan.WebhookEndpoint{}, watan.Errorf(watan.ECodeValidation, "url must be an http or https URL of at most %d bytes", watan.MaxWebhookURLLen)
	}
	if secret != "" {
		if err := watan.ValidateWebhookSecret(secret); err != nil {
			return watan.WebhookEndpoint{}, err
		}
	}
	now := s.now()
	stored, err := s.sealText(purposeWebhookSecret, secret.Reveal())
	if err != nil {
		return watan.WebhookEndpoint{}, err
	}
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_endpoints WHERE tenant_id = $1`, tenantID).Scan(&n); err != nil {
			return fmt.Errorf("store: webhook endpoint: %w", err)
		}
		if n == 0 {
			if secret == "" {
				return watan.Errorf(watan.ECodeValidation, "secret is required for a new webhook endpoint")
			}
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM tenants WHERE id = $1`, tenantID).Scan(&one); isNoRows(err) {
				return errNotFound("tenant", tenantID)
			} else if err != nil {
				return fmt.Errorf("store: webhook endpoint: %w", err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO webhook_endpoints (tenant_id, url, secret, active, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $5)`, tenantID, rawURL, stored, active, s.ts(now))
			if err != nil {
				return fmt.Errorf("store: create webhook endpoint: %w", err)
			}
			return nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET url = $1, secret = CASE WHEN $2 = '' THEN secret ELSE $2 END,
			active = $3, updated_at = $4 WHERE tenant_id = $5`, rawURL, stored, active, s.ts(now), tenantID)
		if err != nil {
			return fmt.Errorf("store: update webhook endpoint: %w", err)
		}
		return nil
	})
	if err != nil {
		return watan.WebhookEndpoint{}, err
	}
	return s.FindWebhookEndpoint(ctx, tenantID)
}

// FindWebhookEndpoint returns the tenant's endpoint, secret included, or an
// ECodeNotFound error.
func (s *Store) FindWebhookEndpoint(ctx context.Context, tenantID int64) (watan.WebhookEndpoint, error) {
	var e watan.WebhookEndpoint
	var secret string
	err := s.db.QueryRowContext(ctx, `SELECT tenant_id, url, secret, active, created_at, updated_at
		FROM webhook_endpoints WHERE tenant_id = $1`, tenantID).
		Scan(&e.TenantID, &e.URL, &secret, &e.Active, timeCol{&e.CreatedAt}, timeCol{&e.UpdatedAt})
	if isNoRows(err) {
		return watan.WebhookEndpoint{}, errNotFound("webhook endpoint of tenant", tenantID)
	}
	if err != nil {
		return watan.WebhookEndpoint{}, fmt.Errorf("store: find webhook endpoint: %w", err)
	}
	plain, err := s.openText(purposeWebhookSecret, secret)
	if err != nil {
		return watan.WebhookEndpoint{}, fmt.Errorf("webhook endpoint of tenant %d: %w", tenantID, err)
	}
	e.Secret = watan.Secret(plain)
	return e, nil
}

// CreateWebhookDeliveryTx records, inside the caller's transaction, an event about
// the order if its tenant has an active endpoint. build receives the event's
// per-order sequence number and returns the body to send. created is false, and
// nothing is written, when the tenant has no active endpoint. The caller holds the
// order's lock, so sequence numbers of one order never race.
func (s *Store) CreateWebhookDeliveryTx(ctx context.Context, tx *sql.Tx, tenantID, orderID int64, event string, build func(seq int) ([]byte, error)) (d watan.WebhookDelivery, created bool, err error) {
	var active bool
	err = tx.QueryRowContext(ctx, `SELECT active FROM webhook_endpoints WHERE tenant_id = $1`, tenantID).Scan(&active)
	if isNoRows(err) || (err == nil && !active) {
		return watan.WebhookDelivery{}, false, nil
	}
	if err != nil {
		return watan.WebhookDelivery{}, false, fmt.Errorf("store: webhook endpoint: %w", err)
	}
	var seq int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM webhook_deliveries WHERE tenant_id = $1 AND order_id = $2`,
		tenantID, orderID).Scan(&seq); err != nil {
		return watan.WebhookDelivery{}, false, fmt.Errorf("store: webhook seq: %w", err)
	}
	body, err := build(seq)
	if err != nil {
		return watan.WebhookDelivery{}, false, err
	}
	now := s.now()
	d = watan.WebhookDelivery{TenantID: tenantID, OrderID: orderID, Seq: seq, Event: event, Payload: string(body),
		State: watan.WebhookPending, CreatedAt: now, UpdatedAt: now}
	err = tx.QueryRowContext(ctx, `INSERT INTO webhook_deliveries (tenant_id, order_id, seq, event, payload, state, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id`,
		tenantID, orderID, seq, event, d.Payload, d.State, s.ts(now)).Scan(&d.ID)
	if err != nil {
		return watan.WebhookDelivery{}, false, fmt.Errorf("store: create webhook delivery: %w", err)
	}
	return d, true, nil
}

const webhookDeliveryColumns = `id, tenant_id, order_id, seq, event, payload, state, attempts, last_status, last_error,
	created_at, updated_at, delivered_at`

func scanWebhookDelivery(r rowScanner) (watan.WebhookDelivery, error) {
	var d watan.WebhookDelivery
	err := r.Scan(&d.ID, &d.TenantID, &d.OrderID, &d.Seq, &d.Event, &d.Payload, &d.State, &d.Attempts, &d.LastStatus,
		&d.LastError, timeCol{&d.CreatedAt}, timeCol{&d.UpdatedAt}, nullTimeCol{&d.DeliveredAt})
	return d, err
}

// FindWebhookDelivery returns the tenant's delivery, or an ECodeNotFound error.
func (s *Store) FindWebhookDelivery(ctx context.Context, tenantID, id int64) (watan.WebhookDelivery, error) {
	d, err := scanWebhookDelivery(s.db.QueryRowContext(ctx, `SELECT `+webhookDeliveryColumns+`
		FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	if isNoRows(err) {
		return watan.WebhookDelivery{}, errNotFound("webhook delivery", id)
	}
	if err != nil {
		return watan.WebhookDelivery{}, fmt.Errorf("store: find webhook delivery: %w", err)
	}
	return d, nil
}

// RecordWebhookAttempt appends an attempt to the delivery and updates its state:
// delivered on a 2xx answer; failed if final is set (the queue gives up after this
// attempt); pending otherwise. The attempt's number is one more than the delivery's
// attempts so far, so a resend continues the count.
func (s *Store) RecordWebhookAttempt(ctx context.Context, tenantID, deliveryID int64, a watan.WebhookAttempt, final bool) (watan.WebhookAttempt, error) {
	a.At = a.At.UTC().Truncate(time.Microsecond)
	a.Error = truncate(a.Error, 1000)
	delivered := a.StatusCode >= 200 && a.StatusCode < 300
	state := watan.WebhookPending
	switch {
	case delivered:
		state = watan.WebhookDelivered
	case final:
		state = watan.WebhookFailed
	}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		var deliveredAt any
		if delivered {
			deliveredAt = s.ts(a.At)
		}
		err := tx.QueryRowContext(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $1, last_error = $2,
			state = $3, updated_at = $4, delivered_at = COALESCE(delivered_at, $5)
			WHERE tenant_id = $6 AND id = $7 RETURNING attempts`,
			a.StatusCode, a.Error, state, s.ts(a.At), deliveredAt, tenantID, deliveryID).Scan(&a.Attempt)
		if isNoRows(err) {
			return errNotFound("webhook delivery", deliveryID)
		}
		if err != nil {
			return fmt.Errorf("store: record webhook attempt: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, at, status_code, error, duration_us)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			tenantID, deliveryID, a.Attempt, s.ts(a.At), a.StatusCode, a.Error, a.Duration.Microseconds())
		if err != nil {
			return fmt.Errorf("store: record webhook attempt: %w", err)
		}
		return nil
	})
	return a, err
}

// ReopenWebhookDeliveryTx sets a delivery back to pending, inside the caller's
// transaction (which enqueues its job), for an operator's resend.
func (s *Store) ReopenWebhookDeliveryTx(ctx context.Context, tx *sql.Tx, tenantID, id int64) (watan.WebhookDelivery, error) {
	d, err := scanWebhookDelivery(tx.QueryRowContext(ctx, `UPDATE webhook_deliveries SET state = $1, updated_at = $2
		WHERE tenant_id = $3 AND id = $4 RETURNING `+webhookDeliveryColumns, watan.WebhookPending, s.ts(s.now()), tenantID, id))
	if isNoRows(err) {
		return watan.WebhookDelivery{}, errNotFound("webhook delivery", id)
	}
	if err != nil {
		return watan.WebhookDelivery{}, fmt.Errorf("store: reopen webhook delivery: %w", err)
	}
	return d, nil
}

// OrderWebhookDeliveries returns the deliveries about the tenant's order, in event
// order, each with its attempts.
func (s *Store) OrderWebhookDeliveries(ctx context.Context, tenantID, orderID int64) ([]watan.WebhookDelivery, error) {
	if err := rowExists(ctx, s.db, "orders", "order", tenantID, orderID); err != nil {
		return nil, err
	}
	return s.orderWebhookDeliveries(ctx, tenantID, orderID, 0, math.MaxInt32)
}

// OrderWebhookDeliveriesPage implements watan.WebhookService: pages are keyed on
// the delivery's seq, which numbers the order's events.
func (s *Store) OrderWebhookDeliveriesPage(ctx context.Context, tenantID, orderID int64, limit int, cursor string) ([]watan.WebhookDelivery, string, error) {
	size := pageSize(limit, MaxPage)
	var after int64
	if cursor != "" {
		var err error
		if after, err = decodeIDCursor("whk", cursor); err != nil {
			return nil, "", err
		}
	}
	if err := rowExists(ctx, s.db, "orders", "order", tenantID, orderID); err != nil {
		return nil, "", err
	}
	ds, err := s.orderWebhookDeliveries(ctx, tenantID, orderID, after, size+1)
	if err != nil {
		return nil, "", err
	}
	ds, next := cutPage(ds, size, "whk", func(d watan.WebhookDelivery) string { return strconv.Itoa(d.Seq) })
	return ds, next, nil
}

// orderWebhookDeliveries returns at most limit of the order's deliveries after
// seq after, in seq order, each with its attempts.
func (s *Store) orderWebhookDeliveries(ctx context.Context, tenantID, orderID, after int64, limit int) ([]watan.WebhookDelivery, error) {
	ds, err := list(ctx, s.db, "webhook deliveries", scanWebhookDelivery, `SELECT `+webhookDeliveryColumns+`
		FROM webhook_deliveries WHERE tenant_id = $1 AND order_id = $2 AND seq > $3 ORDER BY seq LIMIT $4`,
		tenantID, orderID, after, limit)
	if err != nil || len(ds) == 0 {
		return ds, err
	}
	type row struct {
		deliveryID int64
		a          watan.WebhookAttempt
	}
	attempts, err := list(ctx, s.db, "webhook attempts", func(r rowScanner) (row, error) {
		var x row
		var us int64
		err := r.Scan(&x.deliveryID, &x.a.Attempt, timeCol{&x.a.At}, &x.a.StatusCode, &x.a.Error, &us)
		x.a.Duration = time.Duration(us) * time.Microsecond
		return x, err
	}, `SELECT a.delivery_id, a.attempt, a.at, a.status_code, a.error, a.duration_us FROM webhook_attempts a
		JOIN webhook_deliveries d ON d.id = a.delivery_id
		WHERE d.tenant_id = $1 AND d.order_id = $2 AND d.seq > $3 AND d.seq <= $4 ORDER BY a.delivery_id, a.attempt`,
		tenantID, orderID, after, ds[len(ds)-1].Seq)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]int, len(ds))
	for i, d := range ds {
		byID[d.ID] = i
	}
	for _, x := range attempts {
		i := byID[x.deliveryID]
		ds[i].History = append(ds[i].History, x.a)
	}
	return ds, nil
}

// ListWebhookDeliveries implements watan.WebhookService: the tenant's deliveries
// newest first, keyed on the delivery's id, without their attempts (the order's
// listing has them).
func (s *Store) ListWebhookDeliveries(ctx context.Context, tenantID int64, state string, limit int, cursor string) ([]watan.WebhookDelivery, string, error) {
	size := pageSize(limit, DefaultPage)
	if state != "" && !watan.ValidWebhookState(state) {
		return nil, "", watan.Errorf(watan.ECodeValidation, "state %q is not pending, delivered or failed", state)
	}
	before := int64(math.MaxInt64)
	if cursor != "" {
		var err error
		if before, err = decodeIDCursor("dlv", cursor); err != nil {
			return nil, "", err
		}
	}
	where, args := `tenant_id = $1 AND id < $2`, []any{tenantID, before}
	if state != "" {
		where += ` AND state = $3`
		args = append(args, state)
	}
	args = append(args, size+1)
	ds, err := list(ctx, s.db, "list webhook deliveries", scanWebhookDelivery, `SELECT `+webhookDeliveryColumns+`
		FROM webhook_deliveries WHERE `+where+` ORDER BY id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, "", err
	}
	ds, next := cutPage(ds, size, "dlv", func(d watan.WebhookDelivery) string { return idKey(d.ID) })
	return ds, next, nil
}
