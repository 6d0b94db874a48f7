package jobs

import (
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

func TestWebhookRetriesSpanAboutThreeAndAHalfHours(t *testing.T) {
	var total time.Duration
	for failures := 1; failures < WebhookMaxAttempts; failures++ {
		total += WebhookRetryDelay(failures)
	}
	if total < 3*time.Hour || total > 4*time.Hour {
		t.Fatalf("%d attempts span %v; the documentation says about three and a half hours", WebhookMaxAttempts, total)
	}
	if WebhookRetryDelay(1) != 10*time.Second || WebhookRetryDelay(50) != time.Hour {
		t.Fatalf("first delay %v, cap %v", WebhookRetryDelay(1), WebhookRetryDelay(50))
	}
}

func TestWebhookJobsAreUniquePerDeliveryAndGiveUp(t *testing.T) {
	opts := WebhookArgs{}.InsertOpts()
	if opts.Queue != QueueWebhook || opts.MaxAttempts != WebhookMaxAttempts || !opts.UniqueOpts.ByArgs {
		t.Fatalf("webhook insert options %+v", opts)
	}
	w := &webhookWorker{delay: WebhookRetryDelay}
	next := w.NextRetry(&river.Job[WebhookArgs]{JobRow: &rivertype.JobRow{Attempt: 3}})
	if d := time.Until(next); d < 39*time.Second || d > 41*time.Second {
		t.Fatalf("retry after the third failure in %v, want 40 s", d)
	}
}
