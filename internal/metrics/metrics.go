// Package metrics exposes watan's Prometheus metrics on a registry of its own: each
// Metrics value built by New holds its own prometheus.Registry, so two engines in one
// process (tests, or a future multi-instance binary) never share counts, and nothing
// is registered on the global default registry.
//
// Metrics is fed three ways: it implements engine.Observer (status changes, placement
// and check outcomes) and webhooks.Observer (delivery attempts); InstrumentProvider
// and WrapProvider time every provider call; and WatchStore registers collectors that
// ask the database at scrape time for the job queue's depth and the age of the
// oldest pending order. Labels are kept to small, bounded sets: statuses, outcomes,
// provider kinds and provider account ids (a few per tenant), never order or tenant
// ids.
//
// Series:
//
//	watan_orders_created_total                         orders accepted by the API
//	watan_order_status_changes_total{from,to}          committed status changes
//	watan_provider_placements_total{provider_kind,provider_account,outcome}
//	watan_provider_checks_total{provider_kind,provider_account,outcome}
//	watan_provider_call_duration_seconds{provider_kind,op,result}   histogram
//	watan_queue_jobs{queue,state}                      live River jobs (at scrape)
//	watan_oldest_pending_order_age_seconds             0 when nothing is pending (at scrape)
//	watan_provider_circuit_changes_total{provider_kind,provider_account,to}
//	watan_provider_circuit_state{provider_kind,provider_account,state}      (at scrape)
//	watan_provider_circuit_window_calls{provider_kind,provider_account}     (at scrape)
//	watan_provider_circuit_window_failures{provider_kind,provider_account,class}
//	watan_provider_circuit_opened{provider_kind,provider_account}           (at scrape)
//	watan_webhook_attempts_total{result}
//	watan_webhook_attempt_duration_seconds             histogram
//	watan_metrics_collect_up{collector}                0 if this scrape's query failed
//	watan_metrics_collect_errors_total{collector}      scrape-time queries that failed
//
// plus the Go runtime and process collectors.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"watan"
	"watan/internal/store"
)

// Metrics holds one registry and watan's series on it. It is safe for concurrent
// use; a nil *Metrics is not.
type Metrics struct {
	reg *prometheus.Registry

	ordersCreated   prometheus.Counter
	statusChanges   *prometheus.CounterVec
	placements      *prometheus.CounterVec
	checks          *prometheus.CounterVec
	providerLatency *prometheus.HistogramVec
	webhookAttempts *prometheus.CounterVec
	webhookDuration prometheus.Histogram
	collectErrors   *prometheus.CounterVec
	circuitChanges  *prometheus.CounterVec
	providerBalance *prometheus.GaugeVec
	providerLow     *prometheus.GaugeVec
}

// New returns Metrics on a fresh registry holding watan's series and the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		ordersCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "watan_orders_created_total", Help: "Orders accepted by the API (a repeated client order id is not counted).",
		}),
		statusChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watan_order_status_changes_total", Help: "Committed order status changes, by engine or operator.",
		}, []string{"from", "to"}),
		placements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watan_provider_placements_total", Help: "Placement calls by outcome (accepted, delivered, rejected, unknown, error).",
		}, []string{"provider_kind", "provider_account", "outcome"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watan_provider_checks_total", Help: "Status answers per order by outcome (pending, delivered, failed, not_found, unknown, error).",
		}, []string{"provider_kind", "provider_account", "outcome"}),
		providerLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "watan_provider_call_duration_seconds", Help: "Duration of provider calls.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30},
		}, []string{"provider_kind", "op", "result"}),
		webhookAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watan_webhook_attempts_total", Help: "Webhook delivery attempts by result (delivered, http_error, error, no_endpoint).",
		}, []string{"result"}),
		webhookDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "watan_webhook_attempt_duration_seconds", Help: "Duration of webhook delivery attempts.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		collectErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watan_metrics_collect_errors_total", Help: "Scrape-time database queries that failed or timed out.",
		}, []string{"collector"}),
		circuitChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watan_provider_circuit_changes_total", Help: "Provider circuit breaker changes of state, by the state entered.",
		}, []string{"provider_kind", "provider_account", "to"}),
		providerBalance: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "watan_provider_balance", Help: "A provider account's balance as its balance probe last read it, in the account's currency.",
		}, []string{"provider_account"}),
		providerLow: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "watan_provider_low_balance", Help: "1 while a provider account's last read balance is below its low-balance threshold.",
		}, []string{"provider_account"}),
	}
	m.reg.MustRegister(m.ordersCreated, m.statusChanges, m.placements, m.checks, m.providerLatency,
		m.webhookAttempts, m.webhookDuration, m.collectErrors, m.circuitChanges, m.providerBalance, m.providerLow,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry, for adding series or gathering in tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format, for GET /metrics. A
// collector that fails is left out of the scrape rather than failing all of it.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Registry: m.reg})
}

// OrderCreated counts an order the API created (not a replayed client order id).
func (m *Metrics) OrderCreated() { m.ordersCreated.Inc() }

// StatusChanged implements engine.Observer.
func (m *Metrics) StatusChanged(from, to watan.Status) {
	m.statusChanges.WithLabelValues(string(from), string(to)).Inc()
}

// Placed implements engine.Observer.
func (m *Metrics) Placed(kind watan.ProviderKind, providerAccountID int64, outcome string) {
	m.placements.WithLabelValues(string(kind), strconv.FormatInt(providerAccountID, 10), outcome).Inc()
}

// Checked implements engine.Observer.
func (m *Metrics) Checked(kind watan.ProviderKind, providerAccountID int64, outcome string) {
	m.checks.WithLabelValues(string(kind), strconv.FormatInt(providerAccountID, 10), outcome).Inc()
}

// ProviderBalance implements balanceprobe.Observer.
func (m *Metrics) ProviderBalance(providerAccountID int64, balance watan.Amount, low bool) {
	id := strconv.FormatInt(providerAccountID, 10)
	m.providerBalance.WithLabelValues(id).Set(float64(balance) / 100)
	v := 0.0
	if low {
		v = 1
	}
	m.providerLow.WithLabelValues(id).Set(v)
}

// WebhookAttempt implements webhooks.Observer.
func (m *Metrics) WebhookAttempt(result string, d time.Duration) {
	m.webhookAttempts.WithLabelValues(result).Inc()
	m.webhookDuration.Observe(d.Seconds())
}

// Source is what the scrape-time collectors ask; *store.Store implements it.
type Source interface {
	QueueDepth(ctx context.Context) ([]store.JobCount, error)
	OldestPendingOrder(ctx context.Context) (time.Time, bool, error)
}

// WatchStore registers the collectors that query src at every scrape: queue depth
// and the age of the oldest pending order, measured on clock (nil: the system
// clock; it should be the store's clock, which stamped the orders). Each query
// gets timeout (default 2 s when zero), so a slow database makes a scrape
// incomplete rather than hanging. Call it once per Metrics.
func (m *Metrics) WatchStore(src Source, clock watan.Clock, timeout time.Duration) {
	if clock == nil {
		clock = watan.SystemClock{}
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	m.reg.MustRegister(&storeCollector{src: src, clock: clock, timeout: timeout, errs: m.collectErrors})
}

var (
	queueDepthDesc = prometheus.NewDesc("watan_queue_jobs",
		"Live River jobs (available, pending, running, retryable, scheduled) by queue and state.", []string{"queue", "state"}, nil)
	oldestPendingDesc = prometheus.NewDesc("watan_oldest_pending_order_age_seconds",
		"Age of the oldest pending order of any tenant; 0 when none is pending.", nil, nil)
	collectUpDesc = prometheus.NewDesc("watan_metrics_collect_up",
		"1 if this scrape's database query for the collector answered in time, else 0.", []string{"collector"}, nil)
)

// storeCollector asks the database at scrape time: a counter kept by hand would
// drift from the truth across restarts and nodes, the database cannot.
type storeCollector struct {
	src     Source
	clock   watan.Clock
	timeout time.Duration
	errs    *prometheus.CounterVec
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- oldestPendingDesc
	ch <- collectUpDesc
}

// up reports, in the same scrape, whether the collector's query answered; the
// error counter is gathered concurrently and shows a failure one scrape later.
func (c *storeCollector) up(ch chan<- prometheus.Metric, collector string, err error) {
	v := 1.0
	if err != nil {
		v = 0
		c.errs.WithLabelValues(collector).Inc()
	}
	ch <- prometheus.MustNewConstMetric(collectUpDesc, prometheus.GaugeValue, v, collector)
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	counts, err := c.src.QueueDepth(ctx)
	c.up(ch, "queue_depth", err)
	if err == nil {
		for _, jc := range counts {
			ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(jc.Count), jc.Queue, jc.State)
		}
	}
	at, ok, err := c.src.OldestPendingOrder(ctx)
	c.up(ch, "oldest_pending_order", err)
	switch {
	case err != nil:
	case !ok:
		ch <- prometheus.MustNewConstMetric(oldestPendingDesc, prometheus.GaugeValue, 0)
	default:
		ch <- prometheus.MustNewConstMetric(oldestPendingDesc, prometheus.GaugeValue, max(0, c.clock.Now().Sub(at).Seconds()))
	}
}
