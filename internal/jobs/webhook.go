package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// KindWebhook is the kind of the job that sends one webhook delivery.
const KindWebhook = "watan_webhook"

// WebhookMaxAttempts is how often a delivery is tried before it is given up and
// marked failed: with WebhookRetryDelay the attempts span about three and a half hours,
// long enough to ride out a storefront's deploy or short outage. An operator can
// resend a failed delivery.
const WebhookMaxAttempts = 12

// WebhookRetryDelay is the wait after a failed attempt: 10 s doubling to a one hour
// cap (10 s, 20 s, 40 s, ... 1 h).
func WebhookRetryDelay(failures int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < failures && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// WebhookDeliverer sends deliveries; *webhooks.Service implements it.
type WebhookDeliverer interface {
	// Deliver makes one attempt at the delivery. A nil error means done (delivered,
	// or nothing left to do); an error asks for a retry. final says that this is
	// the last attempt the queue will make.
	Deliver(ctx context.Context, tenantID, deliveryID int64, final bool) error
}

// WebhookArgs is the job of one webhook delivery.
type WebhookArgs struct {
	TenantID   int64 `json:"tenant_id"`
	DeliveryID int64 `json:"delivery_id"`
}

// Kind implements river.JobArgs.
func (WebhookArgs) Kind() string { return KindWebhook }

// InsertOpts keeps one live job per delivery, so a resend while retries are still
// under way adds nothing.
func (WebhookArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhook, MaxAttempts: WebhookMaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: liveStates}}
}

// HandleWebhooks sets who sends webhook deliveries. Until it is called, webhook jobs
// fail and are retried.
func (q *Queue) HandleWebhooks(d WebhookDeliverer) { q.webhooks.Store(&d) }

// EnqueueWebhookTx schedules the delivery's job in the caller's transaction, so that
// it commits with the change the delivery reports.
func (q *Queue) EnqueueWebhookTx(ctx context.Context, tx *sql.Tx, tenantID, deliveryID int64) error {
	if _, err := q.client.InsertTx(ctx, tx, WebhookArgs{TenantID: tenantID, DeliveryID: deliveryID}, nil); err != nil {
		return fmt.Errorf("enqueue webhook delivery %d: %w", deliveryID, err)
	}
	return nil
}

type webhookWorker struct {
	river.WorkerDefaults[WebhookArgs]
	q     *Queue
	delay func(failures int) time.Duration
}

func (w *webhookWorker) Work(ctx context.Context, job *river.Job[WebhookArgs]) error {
	defer w.q.track(job.ID)()
	d := w.q.webhooks.Load()
	if d == nil {
		return errors.New("jobs: no webhook deliverer configured")
	}
	return (*d).Deliver(ctx, job.Args.TenantID, job.Args.DeliveryID, job.Attempt >= job.MaxAttempts)
}

// NextRetry spaces webhook attempts by WebhookRetryDelay rather than the engine's
// provider backoff: a receiver that is down is usually down for longer.
func (w *webhookWorker) NextRetry(job *river.Job[WebhookArgs]) time.Time {
	return time.Now().Add(w.delay(job.Attempt))
}
