package znet_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"watan"
	"watan/internal/providertest"
	"watan/internal/znet"
)

// bundle is a znet client wired to a fresh simulator.
type bundle struct {
	sim    *providertest.Znet
	client *znet.Client
}

// setup starts a simulator and a client with a fresh connection pool, so that the
// first request of a test always opens a new connection.
func setup(t *testing.T, opts providertest.ZnetOptions, timeout time.Duration) bundle {
	t.Helper()
	sim := providertest.StartZnet(t, opts)
	c, err := znet.New(znet.Config{
		BaseURL: sim.URL(), Kod: providertest.DefaultZnetKod, Sifre: providertest.DefaultZnetSifre, RequestTimeout: timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	return bundle{sim, c}
}

func order(ref string) watan.PlaceRequest {
	return watan.PlaceRequest{
		Referans: ref, ProductID: "3", Params: map[string]string{"oyun": "1", "kupur": "60"},
		Quantity: 1, PlayerID: "5123456789",
	}
}

func check(t *testing.T, c *znet.Client, ref string) watan.CheckResult {
	t.Helper()
	rs, err := c.Check(t.Context(), []watan.CheckRef{{Referans: ref}})
	if err != nil {
		t.Fatalf("check %s: %v", ref, err)
	}
	if len(rs) != 1 || rs[0].Ref.Referans != ref {
		t.Fatalf("check %s: %+v", ref, rs)
	}
	return rs[0]
}

// wantUnknown asserts the one acceptable result of a call whose answer was lost.
func wantUnknown(t *testing.T, res watan.PlaceResult, err error, kind watan.FailureKind) *watan.ProviderError {
	t.Helper()
	pe, ok := errors.AsType[*watan.ProviderError](err)
	if !ok || pe.Kind != kind || pe.Op != "place" {
		t.Fatalf("err = %v, want a %s *ProviderError", err, kind)
	}
	if res.Outcome != watan.PlaceUnknown {
		t.Fatalf("outcome = %s, want unknown", res.Outcome)
	}
	return pe
}

func TestSimulatorLifecycle(t *testing.T) {
	b := setup(t, providertest.ZnetOptions{}, 0)
	ctx := t.Context()

	bal, err := b.client.Balance(ctx)
	if err != nil || bal.Amount != "10000.00" || bal.Currency != "TRY" {
		t.Fatalf("balance = %+v, %v", bal, err)
	}
	ps, err := b.client.Catalog(ctx)
	if err != nil || len(ps) != 2 || ps[1].Params["kupur"] != "60" {
		t.Fatalf("catalog = %+v, %v", ps, err)
	}

	b.sim.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeStuck}, providertest.Fate{Outcome: providertest.OutcomeStuck})
	res, err := b.client.Place(ctx, order("101"))
	if err != nil || res.Outcome != watan.PlaceAccepted || res.Cost != "7.30" || res.Balance != "9992.70" {
		t.Fatalf("place = %+v, %v", res, err)
	}
	if r := check(t, b.client, "101"); r.Outcome != watan.CheckPending || r.PIN != "" {
		t.Fatalf("check = %+v, want pending without PIN", r)
	}
	pin, ok := b.sim.Deliver("101")
	if !ok {
		t.Fatal("Deliver failed")
	}
	if r := check(t, b.client, "101"); r.Outcome != watan.CheckDelivered || r.PIN != pin {
		t.Fatalf("check = %+v, want delivered with %s", r, pin)
	}

	if _, err := b.client.Place(ctx, order("102")); err != nil {
		t.Fatal(err)
	}
	b.sim.Cancel("102")
	if r := check(t, b.client, "102"); r.Outcome != watan.CheckFailed {
		t.Fatalf("check = %+v, want failed", r)
	}
	if got := b.sim.Balance(); got != 10000_00-7_30 {
		t.Errorf("balance after a cancel = %s, want the cancelled order refunded", got)
	}
	if r := check(t, b.client, "999"); r.Outcome != watan.CheckNotFound {
		t.Fatalf("check unknown ref = %+v, want not found", r)
	}
}

// TestCompletionByClock drives an order's delay with a manual clock: no sleeping.
func TestCompletionByClock(t *testing.T) {
	clock := providertest.NewManualClock(time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC))
	b := setup(t, providertest.ZnetOptions{Options: providertest.Options{Clock: clock, Delay: providertest.FixedDelay(time.Minute)}}, 0)
	if _, err := b.client.Place(t.Context(), order("201")); err != nil {
		t.Fatal(err)
	}
	clock.Advance(59 * time.Second)
	if r := check(t, b.client, "201"); r.Outcome != watan.CheckPending {
		t.Fatalf("after 59s: %+v", r)
	}
	clock.Advance(time.Second)
	if r := check(t, b.client, "201"); r.Outcome != watan.CheckDelivered || r.PIN == "" {
		t.Fatalf("after 60s: %+v", r)
	}
}

// TestLostReplyFreshConnection: the order is recorded, the connection closes
// before the answer, and nothing retries on a fresh connection. The outcome is
// unknown, and a check of the same referans finds the order.
func TestLostReplyFreshConnection(t *testing.T) {
	b := setup(t, providertest.ZnetOptions{}, 0)
	b.sim.InjectFault(providertest.OpPlace, providertest.FaultLostReply, 1)
	res, err := b.client.Place(t.Context(), order("301"))
	wantUnknown(t, res, err, watan.FailTransport)
	if n := b.sim.Placements("301"); n != 1 {
		t.Errorf("placements = %d, want 1", n)
	}
	if r := check(t, b.client, "301"); r.Outcome != watan.CheckDelivered {
		t.Errorf("check after lost reply = %+v, want the order found", r)
	}
}

// TestLostReplyReusedConnection: on a kept-alive connection net/http re-sends the
// GET once, and znet answers the copy with "already sent". That is unknown with no
// error, never a new order and never a refusal.
func TestLostReplyReusedConnection(t *testing.T) {
	b := setup(t, providertest.ZnetOptions{}, 0)
	if _, err := b.client.Balance(t.Context()); err != nil { // leaves an idle connection
		t.Fatal(err)
	}
	b.sim.InjectFault(providertest.OpPlace, providertest.FaultLostReply, 1)
	res, err := b.client.Place(t.Context(), order("302"))
	if err != nil || res.Outcome != watan.PlaceUnknown {
		t.Fatalf("place = %+v, %v; want unknown without error", res, err)
	}
	if n := b.sim.Placements("302"); n != 2 {
		t.Errorf("placements = %d, want 2 (the original and net/http's re-send)", n)
	}
	if n := len(b.sim.Orders()); n != 1 {
		t.Errorf("orders = %d, want 1", n)
	}
}

func TestPlaceFaults(t *testing.T) {
	tests := []struct {
		fault      providertest.Fault
		kind       watan.FailureKind
		is         error
		placements int
	}{
		{providertest.FaultDrop, watan.FailTransport, nil, 0},
		{providertest.Fault500, watan.FailTransport, znet.ErrHTTPStatus, 0},
		{providertest.FaultEmpty, watan.FailMisconfigured, znet.ErrEmptyAnswer, 0},
		{providertest.FaultHTML, watan.FailMisconfigured, znet.ErrHTMLAnswer, 0},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			b := setup(t, providertest.ZnetOptions{}, 0)
			b.sim.InjectFault(providertest.OpPlace, tt.fault, 1)
			res, err := b.client.Place(t.Context(), order("401"))
			wantUnknown(t, res, err, tt.kind)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if n := b.sim.Placements("401"); n != tt.placements {
				t.Errorf("placements = %d, want %d", n, tt.placements)
			}
			// The fault was for one request: the same referans resolves.
			if r := check(t, b.client, "401"); r.Outcome != watan.CheckNotFound {
				t.Errorf("check = %+v, want not found", r)
			}
		})
	}
}

// TestTimeout: the simulator holds the request; the client's own short timeout
// ends the call as unknown, and the simulator does not process the abandoned
// request.
func TestTimeout(t *testing.T) {
	b := setup(t, providertest.ZnetOptions{}, 50*time.Millisecond)
	b.sim.InjectFault(providertest.OpPlace, providertest.FaultSlow, 1)
	res, err := b.client.Place(t.Context(), order("501"))
	wantUnknown(t, res, err, watan.FailTransport)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline", err)
	}

	b.sim.InjectFault(providertest.OpCheck, providertest.FaultSlow, 1)
	if _, err := b.client.Check(t.Context(), []watan.CheckRef{{Referans: "501"}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("check err = %v, want a deadline", err)
	}
}

func TestCallerCancels(t *testing.T) {
	b := setup(t, providertest.ZnetOptions{}, 0)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, err := b.client.Place(ctx, order("502"))
	wantUnknown(t, res, err, watan.FailTransport)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	b := setup(t, providertest.ZnetOptions{}, 0)
	_ = b.sim.Close()
	res, err := b.client.Place(t.Context(), order("503"))
	wantUnknown(t, res, err, watan.FailTransport)
}

func TestWrongCredentials(t *testing.T) {
	sim := providertest.StartZnet(t, providertest.ZnetOptions{})
	c, err := znet.New(znet.Config{BaseURL: sim.URL(), Kod: providertest.DefaultZnetKod, Sifre: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Balance(t.Context())
	if !watan.IsMisconfigured(err) || !errors.Is(err, znet.ErrEmptyAnswer) {
		t.Errorf("balance err = %v, want the empty-answer signal", err)
	}
	res, err := c.Place(t.Context(), order("601"))
	wantUnknown(t, res, err, watan.FailMisconfigured)
	if reqs := sim.Requests(); len(reqs) != 2 || reqs[0].Authorized || reqs[1].Authorized {
		t.Errorf("requests = %+v, want two unauthorized", reqs)
	}
}

func TestOutOfBalance(t *testing.T) {
	b := setup(t, providertest.ZnetOptions{}, 0)
	b.sim.SetBalance(0)
	res, err := b.client.Place(t.Context(), order("701"))
	wantUnknown(t, res, err, watan.FailMisconfigured)
	if !errors.Is(err, znet.ErrRefused) || res.Message != "Bağlantı hatası veya yetersiz bakiye" {
		t.Errorf("err = %v, message %q", err, res.Message)
	}
	if r := check(t, b.client, "701"); r.Outcome != watan.CheckNotFound {
		t.Errorf("check = %+v, want not found", r)
	}
}

func TestUnknownProduct(t *testing.T) {
	b := setup(t, providertest.ZnetOptions{}, 0)
	req := order("801")
	req.Params["kupur"] = "61"
	res, err := b.client.Place(t.Context(), req)
	if err != nil || res.Outcome != watan.PlaceRejected || res.Reason != watan.ReasonProductUnavailable {
		t.Errorf("place = %+v, %v; want rejected, product unavailable", res, err)
	}
}

func TestCheckLoopsOverRefs(t *testing.T) {
	b := setup(t, providertest.ZnetOptions{}, 0)
	for _, ref := range []string{"901", "902"} {
		if _, err := b.client.Place(t.Context(), order(ref)); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := b.client.Check(t.Context(), []watan.CheckRef{{Referans: "901"}, {Referans: "903"}, {Referans: "902"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []watan.CheckOutcome{watan.CheckDelivered, watan.CheckNotFound, watan.CheckDelivered}
	for i, r := range rs {
		if r.Outcome != want[i] {
			t.Errorf("result %d = %+v, want %s", i, r, want[i])
		}
	}
	if caps := b.client.Capabilities(); caps.BatchCheck || caps.MaxBatch != 1 || !caps.CheckByReferans || caps.PINAtPlacement {
		t.Errorf("capabilities = %+v", caps)
	}
}
