package barakat_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"watan"
	"watan/internal/barakat"
	"watan/internal/providertest"
)

type bundle struct {
	sim    *providertest.Barakat
	client *barakat.Client
}

// setup starts a simulator and a client with a fresh connection pool, so that the
// first request of a test always opens a new connection.
func setup(t *testing.T, opts providertest.BarakatOptions, timeout time.Duration) bundle {
	t.Helper()
	sim := providertest.StartBarakat(t, opts)
	c, err := barakat.New(barakat.Config{BaseURL: sim.URL(), Token: providertest.DefaultBarakatToken, RequestTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return bundle{sim, c}
}

// order is for the simulator's product 12345, whose params are uid and server: the
// mapping a catalog gives.
func order(ref string) watan.PlaceRequest {
	return watan.PlaceRequest{
		Referans: ref, ProductID: "12345", Quantity: 1, PlayerID: "5123456789", Extra: "europe",
		Params: map[string]string{barakat.ParamPlayer: "uid", barakat.ParamExtra: "server"},
	}
}

func checkOne(t *testing.T, c *barakat.Client, ref watan.CheckRef) watan.CheckResult {
	t.Helper()
	rs, err := c.Check(t.Context(), []watan.CheckRef{ref})
	if err != nil {
		t.Fatalf("check %+v: %v", ref, err)
	}
	return rs[0]
}

func wantUnknown(t *testing.T, res watan.PlaceResult, err error, kind watan.FailureKind) {
	t.Helper()
	pe, ok := errors.AsType[*watan.ProviderError](err)
	if !ok || pe.Kind != kind || pe.Op != "place" {
		t.Fatalf("err = %v, want a %s *ProviderError", err, kind)
	}
	if res.Outcome != watan.PlaceUnknown {
		t.Fatalf("outcome = %s, want unknown", res.Outcome)
	}
}

func TestSimulatorLifecycle(t *testing.T) {
	b := setup(t, providertest.BarakatOptions{}, 0)
	ctx := t.Context()
	if bal, err := b.client.Balance(ctx); err != nil || bal.Amount != "10000.00" {
		t.Fatalf("balance = %+v, %v", bal, err)
	}
	ps, err := b.client.Catalog(ctx)
	if err != nil || len(ps) != 4 {
		t.Fatalf("catalog = %+v, %v", ps, err)
	}
	// The catalog's mapping parameters are what Place needs.
	req := order("101")
	req.Params = ps[0].Params
	b.sim.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeStuck})
	res, err := b.client.Place(ctx, req)
	if err != nil || res.Outcome != watan.PlaceAccepted || res.ProviderOrderID == "" || res.Cost != "45.50" {
		t.Fatalf("place = %+v, %v", res, err)
	}
	o, _ := b.sim.Order("101")
	if o.Params["uid"] != "5123456789" || o.Params["server"] != "europe" {
		t.Errorf("order params = %v", o.Params)
	}
	byID := watan.CheckRef{Referans: "101", ProviderOrderID: res.ProviderOrderID}
	if r := checkOne(t, b.client, byID); r.Outcome != watan.CheckPending {
		t.Fatalf("check = %+v", r)
	}
	pin, _ := b.sim.Deliver("101")
	if r := checkOne(t, b.client, byID); r.Outcome != watan.CheckDelivered || r.PIN != pin {
		t.Fatalf("check = %+v, want %s", r, pin)
	}
	if r := checkOne(t, b.client, watan.CheckRef{Referans: "101"}); r.Outcome != watan.CheckDelivered || r.ProviderOrderID != res.ProviderOrderID {
		t.Fatalf("check by uuid = %+v", r)
	}
	if r := checkOne(t, b.client, watan.CheckRef{Referans: "nope"}); r.Outcome != watan.CheckNotFound {
		t.Fatalf("check unknown = %+v", r)
	}
}

func TestDeliveredAtPlacement(t *testing.T) {
	b := setup(t, providertest.BarakatOptions{}, 0)
	b.sim.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeDeliver, AtPlacement: true, PIN: "AT-ONCE-1"})
	res, err := b.client.Place(t.Context(), order("201"))
	if err != nil || res.Outcome != watan.PlaceDelivered || res.PIN != "AT-ONCE-1" {
		t.Fatalf("place = %+v, %v", res, err)
	}
}

// TestManyOrdersAllWordings places enough orders that the simulator uses every
// wording of the protocol, and checks them in one batch.
func TestManyOrdersAllWordings(t *testing.T) {
	clock := providertest.NewManualClock(time.Unix(1_700_000_000, 0))
	b := setup(t, providertest.BarakatOptions{Options: providertest.Options{
		Seed: 7, Clock: clock, Delay: providertest.FixedDelay(time.Minute), CancelRate: 0.3,
	}}, 0)
	var refs []watan.CheckRef
	for i := range 60 {
		ref := "3" + itoa(i)
		res, err := b.client.Place(t.Context(), order(ref))
		if err != nil || res.Outcome != watan.PlaceAccepted {
			t.Fatalf("place %s = %+v, %v", ref, res, err)
		}
		refs = append(refs, watan.CheckRef{Referans: ref, ProviderOrderID: res.ProviderOrderID})
	}
	rs, err := b.client.Check(t.Context(), refs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Outcome != watan.CheckPending {
			t.Fatalf("before the delay: %+v", r)
		}
	}
	clock.Advance(time.Minute)
	rs, err = b.client.Check(t.Context(), refs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		o, _ := b.sim.Order(r.Ref.Referans)
		switch o.State {
		case providertest.StateDelivered:
			if r.Outcome != watan.CheckDelivered || r.PIN != o.PIN {
				t.Errorf("%s: %+v, want delivered %s", r.Ref.Referans, r, o.PIN)
			}
		case providertest.StateCancelled:
			if r.Outcome != watan.CheckFailed {
				t.Errorf("%s: %+v, want failed", r.Ref.Referans, r)
			}
		default:
			t.Errorf("%s: simulator state %s", r.Ref.Referans, o.State)
		}
	}
}

// TestLostReplyFreshConnection: recorded, then no answer. Unknown, and the order
// is found by our reference.
func TestLostReplyFreshConnection(t *testing.T) {
	b := setup(t, providertest.BarakatOptions{}, 0)
	b.sim.InjectFault(providertest.OpPlace, providertest.FaultLostReply, 1)
	res, err := b.client.Place(t.Context(), order("401"))
	wantUnknown(t, res, err, watan.FailTransport)
	if n := b.sim.Placements("401"); n != 1 {
		t.Errorf("placements = %d, want 1", n)
	}
	if r := checkOne(t, b.client, watan.CheckRef{Referans: "401"}); r.Outcome == watan.CheckNotFound || r.ProviderOrderID == "" {
		t.Errorf("check by uuid = %+v, want the order", r)
	}
}

// TestLostReplyReusedConnection: net/http re-sends the GET, and order_uuid being
// an idempotency key, the store answers with the same order.
func TestLostReplyReusedConnection(t *testing.T) {
	b := setup(t, providertest.BarakatOptions{}, 0)
	if _, err := b.client.Balance(t.Context()); err != nil {
		t.Fatal(err)
	}
	b.sim.InjectFault(providertest.OpPlace, providertest.FaultLostReply, 1)
	b.sim.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeStuck})
	res, err := b.client.Place(t.Context(), order("402"))
	if err != nil || res.Outcome != watan.PlaceAccepted {
		t.Fatalf("place = %+v, %v", res, err)
	}
	o, _ := b.sim.Order("402")
	if res.ProviderOrderID != o.ID || b.sim.Placements("402") != 2 || len(b.sim.Orders()) != 1 {
		t.Errorf("order %s vs %s, placements %d, orders %d", res.ProviderOrderID, o.ID, b.sim.Placements("402"), len(b.sim.Orders()))
	}
}

func TestPlaceFaults(t *testing.T) {
	tests := []struct {
		fault providertest.Fault
		kind  watan.FailureKind
		is    error
	}{
		{providertest.FaultDrop, watan.FailTransport, nil},
		{providertest.Fault500, watan.FailTransport, barakat.ErrHTTPStatus},
		{providertest.FaultEmpty, watan.FailProtocol, barakat.ErrEmptyAnswer},
		{providertest.FaultHTML, watan.FailMisconfigured, barakat.ErrHTMLAnswer},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			b := setup(t, providertest.BarakatOptions{}, 0)
			b.sim.InjectFault(providertest.OpPlace, tt.fault, 1)
			res, err := b.client.Place(t.Context(), order("501"))
			wantUnknown(t, res, err, tt.kind)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if n := b.sim.Placements("501"); n != 0 {
				t.Errorf("placements = %d, want 0", n)
			}
			if r := checkOne(t, b.client, watan.CheckRef{Referans: "501"}); r.Outcome != watan.CheckNotFound {
				t.Errorf("check = %+v, want not found", r)
			}
		})
	}
}

func TestCheckFaults(t *testing.T) {
	for _, f := range []providertest.Fault{providertest.FaultDrop, providertest.Fault500, providertest.FaultEmpty, providertest.FaultHTML} {
		b := setup(t, providertest.BarakatOptions{}, 0)
		b.sim.InjectFault(providertest.OpCheck, f, 1)
		rs, err := b.client.Check(t.Context(), []watan.CheckRef{{ProviderOrderID: "1"}})
		if _, ok := errors.AsType[*watan.ProviderError](err); !ok || rs != nil {
			t.Errorf("%s: %+v, %v; want a failed call", f, rs, err)
		}
	}
}

func TestTimeout(t *testing.T) {
	b := setup(t, providertest.BarakatOptions{}, 50*time.Millisecond)
	b.sim.InjectFault(providertest.OpPlace, providertest.FaultSlow, 1)
	res, err := b.client.Place(t.Context(), order("601"))
	wantUnknown(t, res, err, watan.FailTransport)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline", err)
	}
	if n := b.sim.Placements("601"); n != 0 {
		t.Errorf("placements = %d: the abandoned request was processed", n)
	}
}

func TestWrongToken(t *testing.T) {
	sim := providertest.StartBarakat(t, providertest.BarakatOptions{})
	c, err := barakat.New(barakat.Config{BaseURL: sim.URL(), Token: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Balance(t.Context()); !watan.IsMisconfigured(err) || !errors.Is(err, barakat.ErrUnauthorized) {
		t.Errorf("balance err = %v, want unauthorized", err)
	}
	res, err := c.Place(t.Context(), order("701"))
	wantUnknown(t, res, err, watan.FailMisconfigured)
	if _, err := c.Check(t.Context(), []watan.CheckRef{{Referans: "701"}}); !watan.IsMisconfigured(err) {
		t.Errorf("check err = %v", err)
	}
}

func TestOutOfBalance(t *testing.T) {
	b := setup(t, providertest.BarakatOptions{}, 0)
	b.sim.SetBalance(0)
	res, err := b.client.Place(t.Context(), order("801"))
	if err != nil || res.Outcome != watan.PlaceRejected || res.Reason != watan.ReasonOutOfBalance {
		t.Errorf("place = %+v, %v; want rejected out of balance", res, err)
	}
}

func TestMissingParam(t *testing.T) {
	b := setup(t, providertest.BarakatOptions{}, 0)
	req := order("802")
	req.Extra = "" // the product requires "server"
	res, err := b.client.Place(t.Context(), req)
	if err != nil || res.Outcome != watan.PlaceRejected || res.Reason != watan.ReasonBadInput {
		t.Errorf("place = %+v, %v; want rejected bad input", res, err)
	}
}
