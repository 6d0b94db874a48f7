package webhooks_test

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
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"watan"
	"watan/internal/engine"
	"watan/internal/jobs"
	"watan/internal/providers"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
	"watan/internal/webhooks"
)

const secret = "s3cret-s3cret-s3cret"

// receiver is a storefront's webhook endpoint on 127.0.0.1: it records every
// request and answers with the scripted status codes, then 200.
type receiver struct {
	srv *httptest.Server

	mu    sync.Mutex
	codes []int
	got   []request
}

type request struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, codes ...int) *receiver {
	r := &receiver{codes: codes}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, request{header: req.Header.Clone(), body: body})
		code := http.StatusOK
		if len(r.codes) > 0 {
			code, r.codes = r.codes[0], r.codes[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

type fixture struct {
	t      *testing.T
	ctx    context.Context
	st     *store.Store
	q      *jobs.Queue
	eng    *engine.Engine
	svc    *webhooks.Service
	clock  *providertest.ManualClock
	znet   *providertest.Znet
	recv   *receiver
	logs   *bytes.Buffer
	tenant watan.Tenant
}

type options struct {
	codes []int // the receiver's first answers
	// notifier wraps the service as the engine's Notifier, to inject failures.
	notifier   func(engine.Notifier) engine.Notifier
	noEndpoint bool
	observer   webhooks.Observer
	// retryAtOnce makes River retry failed webhook jobs without delay.
	retryAtOnce bool
	// start is the clock's first reading. Default 2026-11-28 12:00 UTC.
	start time.Time
}

func setup(t *testing.T, e store.Engine, o options) *fixture {
	t.Helper()
	ctx := context.Background()
	if o.start.IsZero() {
		o.start = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	}
	clock := providertest.NewManualClock(o.start)
	f := &fixture{t: t, ctx: ctx, clock: clock, logs: &bytes.Buffer{}}
	f.st = storetest.OpenWith(t, storetest.Options{Engine: e, Clock: clock})
	var err error
	jcfg := jobs.Config{DB: f.st.DB(), Postgres: e == store.EnginePostgres}
	if o.retryAtOnce {
		jcfg.WebhookRetryDelay = func(int) time.Duration { return 0 }
	}
	f.q, err = jobs.New(ctx, jcfg)
	f.must(err)
	f.recv = newReceiver(t, o.codes...)
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: f.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.svc, err = webhooks.New(webhooks.Config{Store: f.st, Queue: f.q, Clock: clock, Logger: logger, Observer: o.observer})
	f.must(err)
	var n engine.Notifier = f.svc
	if o.notifier != nil {
		n = o.notifier(f.svc)
	}
	f.znet = providertest.StartZnet(t, providertest.ZnetOptions{Options: providertest.Options{Clock: clock}})
	f.eng, err = engine.New(engine.Config{Store: f.st, Queue: f.q, Clock: clock, CatalogTTL: -1, Notifier: n,
		Logger: logger, Providers: providers.New(providers.Config{})})
	f.must(err)

	f.tenant, err = f.st.CreateTenant(ctx, "shop")
	f.must(err)
	tid := f.tenant.ID
	_, err = f.st.CreateAccount(ctx, tid, watan.NewAccount{Code: "c1", Name: "Customer", Currency: "TRY"})
	f.must(err)
	_, err = f.st.TopUp(ctx, tid, "c1", 1000_00, "test balance")
	f.must(err)
	acct, err := f.st.CreateProviderAccount(ctx, watan.ProviderAccount{
		TenantID: tid, Name: "znet", Kind: watan.ProviderZnet, BaseURL: f.znet.URL(), Active: true,
		Settings:    watan.ProviderSettings{FirstCheckDelay: 10 * time.Second, Policy: watan.PollExponential},
		Credentials: map[string]watan.Secret{"kod": providertest.DefaultZnetKod, "sifre": providertest.DefaultZnetSifre},
	})
	f.must(err)
	for _, p := range []watan.Package{
		{TenantID: tid, Code: "manual", Name: "manual", Price: 10_00, Currency: "TRY", Active: true, Routing: watan.Routing{Mode: watan.RouteManual}},
		{TenantID: tid, Code: "znet", Name: "znet", Price: 10_00, Currency: "TRY", Active: true, Routing: watan.Routing{Mode: watan.RouteAuto, PrimaryProviderID: acct.ID}},
	} {
		created, err := f.st.CreatePackage(ctx, p)
		f.must(err)
		_, err = f.st.PutMapping(ctx, watan.Mapping{TenantID: tid, PackageID: created.ID, ProviderAccountID: acct.ID,
			ProductID: "3", Params: map[string]string{"oyun": "1", "kupur": "60"}})
		f.must(err)
	}
	if !o.noEndpoint {
		_, err = f.st.PutWebhookEndpoint(ctx, tid, f.recv.srv.URL+"/hook?token=query-token", secret, true)
		f.must(err)
	}
	return f
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

var seq int

func (f *fixture) order(pkg string) watan.Order {
	f.t.Helper()
	seq++
	o, _, err := f.st.CreateOrderWith(f.ctx, watan.NewOrder{
		TenantID: f.tenant.ID, PackageCode: pkg, AccountCode: "c1", Quantity: 1, PlayerID: "5123456789",
		ClientOrderID: fmt.Sprintf("w-%d", seq), Actor: watan.ActorAPI,
	}, func(ctx context.Context, tx *sql.Tx, o watan.Order) error { return f.q.EnqueueDispatchTx(ctx, tx, o) })
	f.must(err)
	return o
}

func (f *fixture) deliveries(orderID int64) []watan.WebhookDelivery {
	f.t.Helper()
	ds, err := f.st.OrderWebhookDeliveries(f.ctx, f.tenant.ID, orderID)
	f.must(err)
	return ds
}

// liveJobs counts live webhook jobs of the delivery.
func (f *fixture) liveJobs(deliveryID int64) int {
	f.t.Helper()
	match := `args @> jsonb_build_object('delivery_id', $2::bigint)`
	if f.st.Engine() == store.EngineSQLite {
		match = `json_extract(args, '$.delivery_id') = $2`
	}
	var n int
	f.must(f.st.DB().QueryRowContext(f.ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND `+match+`
		AND state IN ('available', 'pending', 'running', 'retryable', 'scheduled')`, jobs.KindWebhook, deliveryID).Scan(&n))
	return n
}

func (f *fixture) allWebhookJobs() int {
	f.t.Helper()
	var n int
	f.must(f.st.DB().QueryRowContext(f.ctx, `SELECT count(*) FROM river_job WHERE kind = $1`, jobs.KindWebhook).Scan(&n))
	return n
}

// manualApproved creates a manual order and has an operator approve it with a PIN.
func (f *fixture) manualApproved() watan.Order {
	f.t.Helper()
	o := f.order("manual")
	_, err := f.eng.Dispatch(f.ctx, f.tenant.ID, o.ID)
	f.must(err)
	o, err = f.eng.Approve(f.ctx, f.tenant.ID, o.ID, watan.OperatorActor("alice"), "PIN-0001", "done by hand")
	f.must(err)
	return o
}

func TestSignatureIsHMACOfTimestampDotBody(t *testing.T) {
	body := []byte(`{"event":"order.approved"}`)
	mac := hmac.New(sha256.New, []byte("key"))
	mac.Write([]byte("1764331200." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if got := webhooks.Sign("key", "1764331200", body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if !webhooks.Verify("key", "1764331200", body, want) {
		t.Fatal("Verify refused its own signature")
	}
	for _, bad := range []struct{ key, ts, body, sig string }{
		{"other", "1764331200", string(body), want},
		{"key", "1764331201", string(body), want},
		{"key", "1764331200", string(body) + " ", want},
		{"key", "1764331200", string(body), strings.TrimPrefix(want, "sha256=")},
	} {
		if webhooks.Verify(bad.key, bad.ts, []byte(bad.body), bad.sig) {
			t.Fatalf("Verify accepted %+v", bad)
		}
	}
}

// TestStandardSignatureMatchesReferenceVector checks SignStandard against the
// signing vector of the Standard Webhooks reference libraries (the TestWebhookSign
// case of libraries/go/webhook_test.go, repeated in their Python, C# and PHP tests;
// the scheme is spec/standard-webhooks.md, "Signature scheme", in
// github.com/standard-webhooks/standard-webhooks).
func TestStandardSignatureMatchesReferenceVector(t *testing.T) {
	const (
		vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		vectorTS     = "1614265330"
		vectorBody   = `{"test": 2432232314}`
		vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	if got := webhooks.SignStandard(vectorSecret, vectorID, vectorTS, []byte(vectorBody)); got != vectorSig {
		t.Fatalf("SignStandard = %s, want %s", got, vectorSig)
	}
	if got := webhooks.StandardSecret(vectorSecret); got != vectorSecret {
		t.Fatalf("StandardSecret of a whsec_ secret = %q, want it unchanged", got)
	}
	// A plain secret signs as the whsec_ secret that encodes its bytes.
	wantStd := "whsec_" + base64.StdEncoding.EncodeToString([]byte(secret))
	if got := webhooks.StandardSecret(secret); got != wantStd {
		t.Fatalf("StandardSecret of a plain secret = %q, want %q", got, wantStd)
	}
	plain := webhooks.SignStandard(secret, vectorID, vectorTS, []byte(vectorBody))
	if plain != webhooks.SignStandard(watan.Secret(wantStd), vectorID, vectorTS, []byte(vectorBody)) || plain == vectorSig {
		t.Fatalf("a plain secret and its whsec_ form sign differently: %s", plain)
	}
	// Only a canonical encoding is the whsec_ form; anything else, stored before
	// such secrets were refused, keeps its own bytes as the key.
	for _, notStd := range []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw==", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "whsec_not base64 at all"} {
		if got, want := webhooks.StandardSecret(watan.Secret(notStd)), "whsec_"+base64.StdEncoding.EncodeToString([]byte(notStd)); got != want {
			t.Fatalf("StandardSecret(%q) = %q, want %q", notStd, got, want)
		}
	}
}

// TestDeliveryVerifiesWithStandardWebhooksLibrary has the official Standard Webhooks
// Go library verify what a receiver got, for a plain and a whsec_ secret, on the
// first attempt and on a retry.
func TestDeliveryVerifiesWithStandardWebhooksLibrary(t *testing.T) {
	key := bytes.Repeat([]byte{0xA5, 0x01, 0xFE}, 8) // 24 bytes, as the spec suggests
	whsec := "whsec_" + base64.StdEncoding.EncodeToString(key)
	for _, tc := range []struct {
		name, secret string
		verifier     func() (*standardwebhooks.Webhook, error)
	}{
		{"plain secret", secret, func() (*standardwebhooks.Webhook, error) {
			return standardwebhooks.NewWebhook("whsec_" + base64.StdEncoding.EncodeToString([]byte(secret)))
		}},
		{"whsec secret", whsec, func() (*standardwebhooks.Webhook, error) { return standardwebhooks.NewWebhook(whsec) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
				// The library checks webhook-timestamp against the real clock.
				f := setup(t, e, options{codes: []int{503}, start: time.Now()})
				_, err := f.st.PutWebhookEndpoint(f.ctx, f.tenant.ID, f.recv.srv.URL+"/hook", watan.Secret(tc.secret), true)
				f.must(err)
				wh, err := tc.verifier()
				f.must(err)

				o := f.manualApproved()
				d := f.deliveries(o.ID)[0]
				if err := f.svc.Deliver(f.ctx, f.tenant.ID, d.ID, false); err == nil {
					t.Fatal("a 503 was not an error")
				}
				f.clock.Advance(jobs.WebhookRetryDelay(1))
				f.must(f.svc.Deliver(f.ctx, f.tenant.ID, d.ID, false))

				reqs := f.recv.requests()
				if len(reqs) != 2 {
					t.Fatalf("receiver got %d requests, want 2", len(reqs))
				}
				for i, r := range reqs {
					if err := wh.Verify(r.body, r.header); err != nil {
						t.Fatalf("attempt %d does not verify: %v\nheaders %v", i+1, err, r.header)
					}
					if id := r.header.Get("webhook-id"); id != fmt.Sprintf("msg_%d", d.ID) {
						t.Fatalf("attempt %d: webhook-id %q, want msg_%d on every attempt", i+1, id, d.ID)
					}
					ts := r.header.Get("webhook-timestamp")
					if ts != r.header.Get("X-Watan-Timestamp") {
						t.Fatalf("attempt %d: webhook-timestamp %q and X-Watan-Timestamp %q differ", i+1, ts, r.header.Get("X-Watan-Timestamp"))
					}
					// The older scheme is still sent, keyed by the secret as configured.
					if !webhooks.Verify(tc.secret, ts, r.body, r.header.Get("X-Watan-Signature")) {
						t.Fatalf("attempt %d: X-Watan-Signature does not verify", i+1)
					}
				}
				if a, b := reqs[0].header.Get("webhook-timestamp"), reqs[1].header.Get("webhook-timestamp"); b != strconv.FormatInt(f.clock.Now().Unix(), 10) || a == b {
					t.Fatalf("webhook-timestamp %s then %s, want each attempt's own time", a, b)
				}

				// The signature covers the body and the id.
				r := reqs[1]
				if err := wh.Verify(append(bytes.Clone(r.body), ' '), r.header); err == nil {
					t.Fatal("a changed body verified")
				}
				h := r.header.Clone()
				h.Set("webhook-id", fmt.Sprintf("msg_%d", d.ID+1))
				if err := wh.Verify(r.body, h); err == nil {
					t.Fatal("another webhook-id verified")
				}
			})
		})
	}
}

func TestApprovedOrderIsDeliveredSigned(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		f := setup(t, e, options{})
		o := f.manualApproved()

		ds := f.deliveries(o.ID)
		if len(ds) != 1 || ds[0].Event != "order.approved" || ds[0].Seq != 1 || ds[0].State != watan.WebhookPending {
			t.Fatalf("deliveries after approval: %+v", ds)
		}
		d := ds[0]
		if n := f.liveJobs(d.ID); n != 1 {
			t.Fatalf("live webhook jobs = %d, want 1 (enqueued with the status change)", n)
		}
		f.must(f.svc.Deliver(f.ctx, f.tenant.ID, d.ID, false))

		reqs := f.recv.requests()
		if len(reqs) != 1 {
			t.Fatalf("receiver got %d requests, want 1", len(reqs))
		}
		r := reqs[0]
		ts := r.header.Get("X-Watan-Timestamp")
		if ts != strconv.FormatInt(f.clock.Now().Unix(), 10) {
			t.Fatalf("timestamp %q, want the clock's Unix seconds", ts)
		}
		if !webhooks.Verify(secret, ts, r.body, r.header.Get("X-Watan-Signature")) {
			t.Fatalf("signature %q does not verify over %q", r.header.Get("X-Watan-Signature"), r.body)
		}
		if r.header.Get("X-Watan-Event") != "order.approved" || r.header.Get("X-Watan-Delivery") != strconv.FormatInt(d.ID, 10) {
			t.Fatalf("event/delivery headers: %v", r.header)
		}
		var p struct {
			Event string    `json:"event"`
			Seq   int       `json:"seq"`
			At    time.Time `json:"at"`
			Order struct {
				ID     int64  `json:"id"`
				Status string `json:"status"`
				PIN    string `json:"pin"`
			} `json:"order"`
		}
		f.must(json.Unmarshal(r.body, &p))
		if p.Event != "order.approved" || p.Seq != 1 || p.Order.ID != o.ID || p.Order.Status != "approved" || p.Order.PIN != "PIN-0001" || !p.At.Equal(f.clock.Now()) {
			t.Fatalf("payload %s", r.body)
		}

		ds = f.deliveries(o.ID)
		if ds[0].State != watan.WebhookDelivered || ds[0].Attempts != 1 || ds[0].DeliveredAt == nil ||
			len(ds[0].History) != 1 || ds[0].History[0].StatusCode != 200 || ds[0].History[0].Attempt != 1 {
			t.Fatalf("delivery after a 200: %+v", ds[0])
		}
		// A duplicate job for a delivered delivery sends nothing.
		f.must(f.svc.Deliver(f.ctx, f.tenant.ID, d.ID, false))
		if n := len(f.recv.requests()); n != 1 {
			t.Fatalf("a delivered webhook was sent again (%d requests)", n)
		}
		if strings.Contains(f.logs.String(), secret) || strings.Contains(f.logs.String(), "query-token") {
			t.Fatalf("secret or URL token in logs:\n%s", f.logs)
		}
	})
}

func TestFailedAttemptsAreRecordedAndRetried(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		f := setup(t, e, options{codes: []int{500, 503}})
		o := f.manualApproved()
		d := f.deliveries(o.ID)[0]

		// What the River worker does: each failed attempt returns an error, which
		// makes River retry the job with backoff.
		for i, code := range []int{500, 503} {
			err := f.svc.Deliver(f.ctx, f.tenant.ID, d.ID, false)
			if err == nil || !strings.Contains(err.Error(), strconv.Itoa(code)) {
				t.Fatalf("attempt %d: %v, want an error naming %d so the queue retries", i+1, err, code)
			}
			f.clock.Advance(jobs.WebhookRetryDelay(i + 1))
		}
		f.must(f.svc.Deliver(f.ctx, f.tenant.ID, d.ID, false))

		got := f.deliveries(o.ID)[0]
		if got.State != watan.WebhookDelivered || got.Attempts != 3 || got.LastStatus != 200 || len(got.History) != 3 {
			t.Fatalf("delivery after 500, 503, 200: %+v", got)
		}
		for i, want := range []int{500, 503, 200} {
			h := got.History[i]
			if h.Attempt != i+1 || h.StatusCode != want || (want != 200) != (h.Error != "") || h.Duration <= 0 {
				t.Fatalf("attempt %d recorded as %+v, want code %d", i+1, h, want)
			}
		}
		// Every attempt carries the same body, signed at its own time.
		reqs := f.recv.requests()
		if len(reqs) != 3 || !bytes.Equal(reqs[0].body, reqs[2].body) || reqs[0].header.Get("X-Watan-Timestamp") == reqs[2].header.Get("X-Watan-Timestamp") {
			t.Fatalf("retries: %d requests", len(reqs))
		}
	})
}

func TestLastAttemptMarksFailedAndResendContinues(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		f := setup(t, e, options{codes: []int{500}})
		o := f.manualApproved()
		d := f.deliveries(o.ID)[0]
		if err := f.svc.Deliver(f.ctx, f.tenant.ID, d.ID, true); err == nil {
			t.Fatal("a 500 was not an error")
		}
		if got := f.deliveries(o.ID)[0]; got.State != watan.WebhookFailed {
			t.Fatalf("after the last attempt: %+v, want failed", got)
		}

		// The River job that made the last attempt is finished; the operator resends.
		f.must(f.st.InTx(f.ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(f.ctx, `UPDATE river_job SET state = 'discarded', finalized_at = created_at WHERE kind = $1`, jobs.KindWebhook)
			return err
		}))
		re, err := f.svc.Resend(f.ctx, f.tenant.ID, d.ID)
		f.must(err)
		if re.State != watan.WebhookPending || f.liveJobs(d.ID) != 1 {
			t.Fatalf("resend: %+v with %d live jobs", re, f.liveJobs(d.ID))
		}
		f.must(f.svc.Deliver(f.ctx, f.tenant.ID, d.ID, false))
		got := f.deliveries(o.ID)[0]
		if got.State != watan.WebhookDelivered || got.Attempts != 2 || got.History[1].Attempt != 2 {
			t.Fatalf("after resend: %+v", got)
		}
		// Another tenant cannot resend it.
		if _, err := f.svc.Resend(f.ctx, f.tenant.ID+1000, d.ID); !watan.IsNotFound(err) {
			t.Fatalf("resend by another tenant: %v, want not found", err)
		}
	})
}

// failingNotifier records the delivery through the real service and then fails, so
// the engine's status change rolls back after the delivery and job were written.
type failingNotifier struct{ next engine.Notifier }

var errBoom = errors.New("boom after enqueue")

func (n failingNotifier) OrderChangedTx(ctx context.Context, tx *sql.Tx, o watan.Order, event string) error {
	if err := n.next.OrderChangedTx(ctx, tx, o, event); err != nil {
		return err
	}
	return errBoom
}

func TestWebhookJobCommitsWithTheStatusChange(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		f := setup(t, e, options{notifier: func(n engine.Notifier) engine.Notifier { return failingNotifier{n} }})
		o := f.order("manual")
		_, err := f.eng.Dispatch(f.ctx, f.tenant.ID, o.ID)
		f.must(err)
		if _, err := f.eng.Approve(f.ctx, f.tenant.ID, o.ID, watan.OperatorActor("alice"), "PIN", ""); !errors.Is(err, errBoom) {
			t.Fatalf("approve: %v, want the notifier's error", err)
		}
		got, err := f.st.FindOrder(f.ctx, f.tenant.ID, o.ID)
		f.must(err)
		if got.Status != watan.StatusPending {
			t.Fatalf("order is %s after the rolled-back approval", got.Status)
		}
		if ds := f.deliveries(o.ID); len(ds) != 0 {
			t.Fatalf("deliveries after rollback: %+v", ds)
		}
		if n := f.allWebhookJobs(); n != 0 {
			t.Fatalf("%d webhook jobs after rollback, want 0", n)
		}
	})
}

func TestProviderFlowSendsSentThenApprovedInSequence(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		f := setup(t, e, options{})
		f.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeDeliver, After: 5 * time.Second, PIN: "ZN-PIN"})
		o := f.order("znet")
		_, err := f.eng.Dispatch(f.ctx, f.tenant.ID, o.ID)
		f.must(err)
		f.clock.Advance(10 * time.Second)
		_, err = f.eng.Check(f.ctx, f.tenant.ID, o.ID)
		f.must(err)

		ds := f.deliveries(o.ID)
		if len(ds) != 2 || ds[0].Event != engine.NotifySent || ds[0].Seq != 1 || ds[1].Event != "order.approved" || ds[1].Seq != 2 {
			t.Fatalf("deliveries: %+v", ds)
		}
		// Deliver the later one first, as a retry might: seq lets the receiver order them.
		f.must(f.svc.Deliver(f.ctx, f.tenant.ID, ds[1].ID, false))
		f.must(f.svc.Deliver(f.ctx, f.tenant.ID, ds[0].ID, false))
		reqs := f.recv.requests()
		var first, second webhooks.Payload
		f.must(json.Unmarshal(reqs[0].body, &first))
		f.must(json.Unmarshal(reqs[1].body, &second))
		if first.Seq != 2 || first.Order.PIN != "ZN-PIN" || second.Seq != 1 || second.Order.ProviderState != watan.StateSent || !second.At.Before(first.At) {
			t.Fatalf("payloads out of order: %+v / %+v", first, second)
		}
	})
}

func TestNoEndpointNoDelivery(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		f := setup(t, e, options{noEndpoint: true})
		o := f.manualApproved()
		if ds := f.deliveries(o.ID); len(ds) != 0 || f.allWebhookJobs() != 0 {
			t.Fatalf("deliveries without an endpoint: %+v", ds)
		}
		// A disabled endpoint also stops new deliveries; a delivery whose endpoint
		// went away meanwhile is given up rather than retried.
		_, err := f.st.PutWebhookEndpoint(f.ctx, f.tenant.ID, f.recv.srv.URL, secret, true)
		f.must(err)
		o2 := f.manualApproved()
		d := f.deliveries(o2.ID)[0]
		_, err = f.st.PutWebhookEndpoint(f.ctx, f.tenant.ID, f.recv.srv.URL, "", false)
		f.must(err)
		f.must(f.svc.Deliver(f.ctx, f.tenant.ID, d.ID, false))
		if got := f.deliveries(o2.ID)[0]; got.State != watan.WebhookFailed || len(f.recv.requests()) != 0 {
			t.Fatalf("delivery to a disabled endpoint: %+v", got)
		}
		o3 := f.manualApproved()
		if ds := f.deliveries(o3.ID); len(ds) != 0 {
			t.Fatalf("deliveries with a disabled endpoint: %+v", ds)
		}
	})
}

func TestEndpointSecretIsWriteOnly(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		f := setup(t, e, options{})
		ep, err := f.st.FindWebhookEndpoint(f.ctx, f.tenant.ID)
		f.must(err)
		b, err := json.Marshal(ep)
		f.must(err)
		if strings.Contains(string(b), secret) || ep.Secret.Reveal() != secret {
			t.Fatalf("endpoint JSON %s", b)
		}
		// Changing the URL without a secret keeps the secret.
		_, err = f.st.PutWebhookEndpoint(f.ctx, f.tenant.ID, "https://example.com/hook", "", true)
		f.must(err)
		ep, err = f.st.FindWebhookEndpoint(f.ctx, f.tenant.ID)
		f.must(err)
		if ep.Secret.Reveal() != secret || ep.URL != "https://example.com/hook" {
			t.Fatalf("after URL change: %+v", ep)
		}
		for _, bad := range []struct{ url, secret string }{
			{"ftp://x/y", secret}, {"not a url", secret}, {"https://x.example/", "short"},
			{"https://x.example/", "whsec_this is not base64 at all"},
			{"https://x.example/", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"}, // no padding
			{"https://x.example/", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 15))},
		} {
			_, err := f.st.PutWebhookEndpoint(f.ctx, f.tenant.ID, bad.url, watan.Secret(bad.secret), true)
			if watan.ErrorCode(err) != watan.ECodeValidation {
				t.Fatalf("put %+v: %v, want validation_failed", bad, err)
			}
			if bad.secret != secret && (!strings.HasPrefix(watan.ErrorMessage(err), "secret ") || strings.Contains(err.Error(), bad.secret)) {
				t.Fatalf("put %+v: %q, want a message naming the secret field without its value", bad, err)
			}
		}
		// A whsec_ secret is measured by its decoded key: 16 bytes are enough.
		sixteen := watan.Secret("whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16)))
		_, err = f.st.PutWebhookEndpoint(f.ctx, f.tenant.ID, "https://example.com/hook", sixteen, true)
		f.must(err)
		if ep, err = f.st.FindWebhookEndpoint(f.ctx, f.tenant.ID); err != nil || ep.Secret != sixteen {
			t.Fatalf("whsec_ secret not stored: %v", err)
		}
	})
}

// attempts passes each recorded attempt's result to a channel.
type attempts chan string

func (a attempts) WebhookAttempt(result string, _ time.Duration) { a <- result }

// TestRiverRetriesUntilDelivered runs the real queue: the job made with the status
// change is worked by River, the receiver's 500 makes River retry it, and the retry
// delivers.
func TestRiverRetriesUntilDelivered(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		seen := make(attempts, 10)
		f := setup(t, e, options{codes: []int{500}, observer: seen, retryAtOnce: true})
		o := f.order("manual")
		_, err := f.eng.Dispatch(f.ctx, f.tenant.ID, o.ID)
		f.must(err)
		_, err = f.eng.Approve(f.ctx, f.tenant.ID, o.ID, watan.OperatorActor("alice"), "PIN-9", "")
		f.must(err)

		f.q.HandleWebhooks(f.svc)
		ctx, cancel := context.WithCancel(f.ctx)
		f.must(f.q.Start(ctx, f.eng))
		t.Cleanup(func() {
			cancel()
			stop, done := context.WithTimeout(context.Background(), 10*time.Second)
			defer done()
			_ = f.q.Stop(stop)
		})

		// River promotes retryable jobs on its scheduler's beat (a few seconds).
		timeout := time.After(time.Minute)
		for _, want := range []string{webhooks.ResultHTTPError, webhooks.ResultDelivered} {
			select {
			case got := <-seen:
				if got != want {
					t.Fatalf("attempt result %s, want %s", got, want)
				}
			case <-timeout:
				t.Fatalf("River did not make the %s attempt in time", want)
			}
		}
		d := f.deliveries(o.ID)[0]
		if d.State != watan.WebhookDelivered || d.Attempts != 2 || d.History[0].StatusCode != 500 || d.History[1].StatusCode != 200 {
			t.Fatalf("delivery after River's retry: %+v", d)
		}
	})
}
