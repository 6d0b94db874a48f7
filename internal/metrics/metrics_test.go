package metrics_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"watan"
	"watan/internal/breaker"
	"watan/internal/engine"
	"watan/internal/jobs"
	"watan/internal/metrics"
	"watan/internal/providers"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
	"watan/internal/webhooks"
)

// scrape fetches the handler's text exposition through HTTP, as Prometheus does.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// wantLine asserts that the exposition has exactly this sample line.
func wantLine(t *testing.T, text, line string) {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return
		}
	}
	var near []string
	name, _, _ := strings.Cut(line, "{")
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, name) {
			near = append(near, l)
		}
	}
	t.Fatalf("no line %q; lines of %s:\n%s", line, name, strings.Join(near, "\n"))
}

func TestOrderThroughTheEngineShowsInTheScrape(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		ctx := context.Background()
		clock := providertest.NewManualClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
		st := storetest.OpenWith(t, storetest.Options{Engine: e, Clock: clock})
		q, err := jobs.New(ctx, jobs.Config{DB: st.DB(), Postgres: e == store.EnginePostgres})
		must(t, err)
		m := metrics.New()
		m.WatchStore(st, clock, 0)
		hooks, err := webhooks.New(webhooks.Config{Store: st, Queue: q, Clock: clock, Observer: m})
		must(t, err)
		znet := providertest.StartZnet(t, providertest.ZnetOptions{Options: providertest.Options{Clock: clock}})
		eng, err := engine.New(engine.Config{Store: st, Queue: q, Clock: clock, CatalogTTL: -1, Observer: m, Notifier: hooks,
			Providers: providers.New(providers.Config{Wrap: m.WrapProvider})})
		must(t, err)

		tenant, err := st.CreateTenant(ctx, "shop")
		must(t, err)
		_, err = st.CreateAccount(ctx, tenant.ID, watan.NewAccount{Code: "c1", Name: "C", Currency: "TRY"})
		must(t, err)
		_, err = st.TopUp(ctx, tenant.ID, "c1", 100_00, "")
		must(t, err)
		acct, err := st.CreateProviderAccount(ctx, watan.ProviderAccount{
			TenantID: tenant.ID, Name: "znet", Kind: watan.ProviderZnet, BaseURL: znet.URL(), Active: true,
			Settings:    watan.ProviderSettings{FirstCheckDelay: 10 * time.Second, Policy: watan.PollExponential},
			Credentials: map[string]watan.Secret{"kod": providertest.DefaultZnetKod, "sifre": providertest.DefaultZnetSifre},
		})
		must(t, err)
		pkg, err := st.CreatePackage(ctx, watan.Package{TenantID: tenant.ID, Code: "p", Name: "p", Price: 10_00, Currency: "TRY", Active: true,
			Routing: watan.Routing{Mode: watan.RouteAuto, PrimaryProviderID: acct.ID}})
		must(t, err)
		_, err = st.PutMapping(ctx, watan.Mapping{TenantID: tenant.ID, PackageID: pkg.ID, ProviderAccountID: acct.ID,
			ProductID: "3", Params: map[string]string{"oyun": "1", "kupur": "60"}})
		must(t, err)
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
		defer recv.Close()
		_, err = st.PutWebhookEndpoint(ctx, tenant.ID, recv.URL, "0123456789abcdef", true)
		must(t, err)

		before := scrape(t, m)
		wantLine(t, before, `watan_oldest_pending_order_age_seconds 0`)
		wantLine(t, before, `watan_metrics_collect_up{collector="queue_depth"} 1`)

		znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeDeliver, After: 5 * time.Second, PIN: "P"})
		o, created, err := st.CreateOrderWith(ctx, watan.NewOrder{TenantID: tenant.ID, PackageCode: "p", AccountCode: "c1", Quantity: 1, PlayerID: "1"},
			func(ctx context.Context, tx *sql.Tx, o watan.Order) error { return q.EnqueueDispatchTx(ctx, tx, o) })
		must(t, err)
		if created {
			m.OrderCreated()
		}
		clock.Advance(90 * time.Second)
		text := scrape(t, m)
		wantLine(t, text, `watan_orders_created_total 1`)
		wantLine(t, text, `watan_oldest_pending_order_age_seconds 90`)
		wantLine(t, text, `watan_queue_jobs{queue="dispatch",state="available"} 1`)

		_, err = eng.Dispatch(ctx, tenant.ID, o.ID)
		must(t, err)
		clock.Advance(10 * time.Second)
		_, err = eng.Check(ctx, tenant.ID, o.ID)
		must(t, err)
		// Two webhook deliveries (sent, approved); the receiver fails one attempt.
		ds, err := st.OrderWebhookDeliveries(ctx, tenant.ID, o.ID)
		must(t, err)
		if err := hooks.Deliver(ctx, tenant.ID, ds[0].ID, false); err == nil {
			t.Fatal("a 500 was not an error")
		}

		text = scrape(t, m)
		wantLine(t, text, `watan_order_status_changes_total{from="pending",to="approved"} 1`)
		wantLine(t, text, `watan_provider_placements_total{outcome="accepted",provider_account="`+itoa(acct.ID)+`",provider_kind="znet"} 1`)
		wantLine(t, text, `watan_provider_checks_total{outcome="delivered",provider_account="`+itoa(acct.ID)+`",provider_kind="znet"} 1`)
		wantLine(t, text, `watan_provider_call_duration_seconds_count{op="place",provider_kind="znet",result="ok"} 1`)
		wantLine(t, text, `watan_provider_call_duration_seconds_count{op="check",provider_kind="znet",result="ok"} 1`)
		wantLine(t, text, `watan_webhook_attempts_total{result="http_error"} 1`)
		wantLine(t, text, `watan_webhook_attempt_duration_seconds_count 1`)
		wantLine(t, text, `watan_queue_jobs{queue="webhook",state="available"} 2`)
		wantLine(t, text, `watan_oldest_pending_order_age_seconds 0`)
		if !strings.Contains(text, "go_goroutines ") || !strings.Contains(text, "process_") {
			t.Fatal("runtime and process collectors missing")
		}

		// A second instance starts from nothing: registries are per instance.
		other := scrape(t, metrics.New())
		if strings.Contains(other, "watan_orders_created_total 1") || strings.Contains(other, `watan_order_status_changes_total{`) {
			t.Fatalf("a new instance shares counts:\n%s", other)
		}
		wantLine(t, other, `watan_orders_created_total 0`)
	})
}

// failingSource is a database that cannot answer.
type failingSource struct{}

func (failingSource) QueueDepth(context.Context) ([]store.JobCount, error) {
	return nil, errors.New("down")
}

func (failingSource) OldestPendingOrder(context.Context) (time.Time, bool, error) {
	return time.Time{}, false, errors.New("down")
}

func TestScrapeSurvivesADatabaseThatCannotAnswer(t *testing.T) {
	m := metrics.New()
	m.WatchStore(failingSource{}, nil, time.Second)
	text := scrape(t, m)
	wantLine(t, text, `watan_metrics_collect_up{collector="queue_depth"} 0`)
	wantLine(t, text, `watan_metrics_collect_up{collector="oldest_pending_order"} 0`)
	// The counter is gathered alongside the collector, so it may or may not include
	// a scrape's own failure; by the next scrape it has the first one.
	text = scrape(t, m)
	for _, c := range []string{"queue_depth", "oldest_pending_order"} {
		prefix := `watan_metrics_collect_errors_total{collector="` + c + `"} `
		found := false
		for _, l := range strings.Split(text, "\n") {
			if v, ok := strings.CutPrefix(l, prefix); ok {
				n, err := strconv.Atoi(v)
				found = err == nil && n >= 1 && n <= 2
			}
		}
		if !found {
			t.Fatalf("no error count for %s:\n%s", c, text)
		}
	}
}

func TestInstrumentedProviderTimesErrors(t *testing.T) {
	m := metrics.New()
	p := m.InstrumentProvider(watan.ProviderBarakat, brokenProvider{})
	if _, err := p.Balance(context.Background()); err == nil {
		t.Fatal("error swallowed")
	}
	if p.Capabilities().MaxBatch != 7 {
		t.Fatal("capabilities not passed through")
	}
	wantLine(t, scrape(t, m), `watan_provider_call_duration_seconds_count{op="balance",provider_kind="barakat",result="error"} 1`)
}

type brokenProvider struct{ watan.Provider }

func (brokenProvider) Balance(context.Context) (watan.Balance, error) {
	return watan.Balance{}, &watan.ProviderError{Kind: watan.FailTransport, Op: "balance", Err: errors.New("refused")}
}

func (brokenProvider) Capabilities() watan.Capabilities { return watan.Capabilities{MaxBatch: 7} }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestCircuitBreakersShowInTheScrape: a breaker's state, window and changes, as the
// engine reports them.
func TestCircuitBreakersShowInTheScrape(t *testing.T) {
	m := metrics.New()
	snap := breaker.Snapshot{State: breaker.Open, Counts: breaker.Counts{Calls: 30, Failures: 20, Misconfigured: 8, Opened: 1}}
	m.WatchCircuits(func() []engine.CircuitStat {
		return []engine.CircuitStat{{Kind: watan.ProviderZnet, ProviderAccountID: 7, Snapshot: snap}}
	})
	m.CircuitChanged(watan.ProviderZnet, 7, "closed", "open")
	out := scrape(t, m)
	wantLine(t, out, `watan_provider_circuit_state{provider_account="7",provider_kind="znet",state="open"} 1`)
	wantLine(t, out, `watan_provider_circuit_state{provider_account="7",provider_kind="znet",state="closed"} 0`)
	wantLine(t, out, `watan_provider_circuit_window_calls{provider_account="7",provider_kind="znet"} 30`)
	wantLine(t, out, `watan_provider_circuit_window_failures{class="transient",provider_account="7",provider_kind="znet"} 12`)
	wantLine(t, out, `watan_provider_circuit_window_failures{class="misconfigured",provider_account="7",provider_kind="znet"} 8`)
	wantLine(t, out, `watan_provider_circuit_opened{provider_account="7",provider_kind="znet"} 1`)
	wantLine(t, out, `watan_provider_circuit_changes_total{provider_account="7",provider_kind="znet",to="open"} 1`)
}

// TestLearnedCompletionTimesShowInTheScrape: the adaptive policy's quantiles.
func TestLearnedCompletionTimesShowInTheScrape(t *testing.T) {
	m := metrics.New()
	m.WatchCompletions(func() []engine.CompletionStat {
		return []engine.CompletionStat{{ProviderAccountID: 3, Samples: 120, Total: 400, Ready: true,
			P50: 20 * time.Second, P90: 72 * time.Second, P99: 204500 * time.Millisecond}}
	})
	out := scrape(t, m)
	wantLine(t, out, `watan_provider_completion_samples{provider_account="3"} 120`)
	wantLine(t, out, `watan_provider_completion_seconds{provider_account="3",quantile="0.5"} 20`)
	wantLine(t, out, `watan_provider_completion_seconds{provider_account="3",quantile="0.9"} 72`)
	wantLine(t, out, `watan_provider_completion_seconds{provider_account="3",quantile="0.99"} 204.5`)
}
