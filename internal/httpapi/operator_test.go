package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"watan"
	"watan/internal/engine"
	"watan/internal/httpapi"
	"watan/internal/jobs"
	"watan/internal/providers"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// opsKeyName names the API key the operator tests act with; the timeline must record
// it as the actor.
const (
	opsKeyName = "ops-desk"
	opsActor   = "operator:api-key:" + opsKeyName
)

// opEnv is the test bundle for operator actions: the handler with a real engine as
// its Operator, over a real store, with River as an insert-only queue (never
// started, so engine steps run when a test calls them), simulated providers, and
// one manual clock shared by the store, the engine and the simulators.
type opEnv struct {
	*env
	ctx     context.Context
	eng     *engine.Engine
	clock   *providertest.ManualClock
	znet    *providertest.Znet
	barakat *providertest.Barakat

	// c is the tenant "shop" acting with its key opsKeyName. It sells "manual"
	// (routed to operators) and "znet" (auto to znet), both 12.50 TRY and both
	// mapped at znet and barakat, to account "cust1" holding 100.00.
	c                 *client
	znetID, barakatID int64
	orders            int // client order ids used
}

// forEachOpEngine runs fn on each engine, then checks that no response fn saw (the
// provider errors behind a 503 included) shows a provider credential.
func forEachOpEngine(t *testing.T, fn func(t *testing.T, e *opEnv)) {
	storetest.RunEngines(t, func(t *testing.T, kind store.Engine) {
		e := newOpEnv(t, kind)
		fn(t, e)
		for _, body := range *e.c.bodies {
			for _, secret := range []string{providertest.DefaultZnetKod, providertest.DefaultZnetSifre, providertest.DefaultBarakatToken} {
				if strings.Contains(body, secret) {
					t.Errorf("a response shows a credential: %s", body)
				}
			}
		}
	})
}

func newOpEnv(t *testing.T, kind store.Engine) *opEnv {
	t.Helper()
	ctx := context.Background()
	clock := providertest.NewManualClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	st := storetest.OpenWith(t, storetest.Options{Engine: kind, Clock: clock})
	q, err := jobs.New(ctx, jobs.Config{DB: st.DB(), Postgres: kind == store.EnginePostgres})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Store: st, Queue: q, Clock: clock, Providers: providers.New(providers.Config{})})
	if err != nil {
		t.Fatal(err)
	}
	e := &opEnv{
		env: newEnv(t, st, httpapi.Config{Operator: eng, Health: eng}), ctx: ctx, eng: eng, clock: clock,
		znet:    providertest.StartZnet(t, providertest.ZnetOptions{Options: providertest.Options{Clock: clock}}),
		barakat: providertest.StartBarakat(t, providertest.BarakatOptions{Options: providertest.Options{Clock: clock}}),
	}
	e.c = e.withKey(e.newTenant("shop"), opsKeyName)
	e.znetID, e.barakatID = e.c.providers(e.znet.URL(), e.barakat.URL())
	e.c.seed("manual", "cust1")
	e.c.call("POST", "/api/v1/packages", `{"code":"znet","name":"PUBG 60 UC at znet","price":"12.50","currency":"TRY"}`, 201, nil)
	e.c.call("PUT", "/api/v1/packages/znet/routing", fmt.Sprintf(`{"mode":"auto","primary_provider_id":%d}`, e.znetID), 200, nil)
	for _, pkg := range []string{"manual", "znet"} {
		e.c.call("PUT", fmt.Sprintf("/api/v1/packages/%s/mappings/%d", pkg, e.znetID), `{"product_id":"3","params":{"oyun":"1","kupur":"60"}}`, 200, nil)
		e.c.call("PUT", fmt.Sprintf("/api/v1/packages/%s/mappings/%d", pkg, e.barakatID), `{"product_id":"12345","params":{"server":"eu"}}`, 200, nil)
	}
	return e
}

// withKey returns a client acting as c's tenant with a new API key named name.
func (e *env) withKey(c *client, name string) *client {
	e.t.Helper()
	_, key, err := e.st.CreateAPIKey(context.Background(), c.tenant.ID, name)
	if err != nil {
		e.t.Fatal(err)
	}
	k := *c
	k.key = key
	return &k
}

// providers creates, over the API, a znet and a barakat provider account with the
// simulators' credentials, and returns their ids.
func (c *client) providers(znetURL, barakatURL string) (znetID, barakatID int64) {
	c.t.Helper()
	var z, b struct {
		ID int64 `json:"id"`
	}
	c.call("POST", "/api/v1/provider-accounts", fmt.Sprintf(`{"kind":"znet","name":"znet","base_url":%q,"credentials":{"kod":%q,"sifre":%q},"settings":{"first_check_delay":"10s","poll_policy":"exponential"}}`,
		znetURL, providertest.DefaultZnetKod, providertest.DefaultZnetSifre), 201, &z)
	c.call("POST", "/api/v1/provider-accounts", fmt.Sprintf(`{"kind":"barakat","name":"barakat","base_url":%q,"credentials":{"token":%q},"settings":{"first_check_delay":"10s","poll_policy":"exponential"}}`,
		barakatURL, providertest.DefaultBarakatToken), 201, &b)
	return z.ID, b.ID
}

// actedOrder is what the operator tests read of an order response.
type actedOrder struct {
	ID                int64  `json:"id"`
	Status            string `json:"status"`
	ProviderState     string `json:"provider_state"`
	ProviderAccountID int64  `json:"provider_account_id"`
	ProviderReferans  string `json:"provider_referans"`
	ProviderMessage   string `json:"provider_message"`
	PIN               string `json:"pin"`
}

type event struct {
	Actor   string `json:"actor"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// order creates an order for pkg on acct over the API.
func (e *opEnv) order(pkg, acct string) actedOrder {
	e.t.Helper()
	e.orders++
	var o actedOrder
	e.c.call("POST", "/api/v1/orders", orderBody(pkg, acct, 1, "5123456789", fmt.Sprintf("op-%d", e.orders)), 201, &o)
	return o
}

// dispatch runs the order's dispatch step, as the queue's worker would.
func (e *opEnv) dispatch(id int64) {
	e.t.Helper()
	if _, err := e.eng.Dispatch(e.ctx, e.c.tenant.ID, id); err != nil {
		e.t.Fatalf("dispatch order %d: %v", id, err)
	}
}

// act posts an operator action and checks the status; a 200's order is returned.
func (e *opEnv) act(id int64, action, body string, status int) actedOrder {
	e.t.Helper()
	var o actedOrder
	var out any
	if status == 200 {
		out = &o
	}
	e.c.call("POST", fmt.Sprintf("/api/v1/orders/%d/%s", id, action), body, status, out)
	return o
}

func (e *opEnv) get(id int64) actedOrder {
	e.t.Helper()
	var o actedOrder
	e.c.call("GET", fmt.Sprintf("/api/v1/orders/%d", id), "", 200, &o)
	return o
}

func (e *opEnv) events(id int64) []event {
	e.t.Helper()
	var evs struct{ Events []event }
	e.c.call("GET", fmt.Sprintf("/api/v1/orders/%d/events", id), "", 200, &evs)
	return evs.Events
}

// want asserts the order's status and provider state as the API shows them.
func (e *opEnv) want(id int64, status, state string) actedOrder {
	e.t.Helper()
	o := e.get(id)
	if o.Status != status || o.ProviderState != state {
		e.t.Fatalf("order %d is %s/%s, want %s/%s; events %+v", id, o.Status, o.ProviderState, status, state, e.events(id))
	}
	return o
}

// money checks invariant 4 for acct through the API: the ledger sums to the
// balance. It returns the balance and how many entries of each kind the ledger has
// for order (all orders when order is 0).
func (e *opEnv) money(acct string, order int64) (watan.Amount, map[string]int) {
	e.t.Helper()
	var a struct {
		Balance watan.Amount `json:"balance"`
	}
	e.c.call("GET", "/api/v1/accounts/"+acct, "", 200, &a)
	var l struct {
		Entries []struct {
			Kind    string       `json:"kind"`
			Amount  watan.Amount `json:"amount"`
			OrderID int64        `json:"order_id"`
		} `json:"entries"`
	}
	e.c.call("GET", "/api/v1/accounts/"+acct+"/ledger?limit=1000", "", 200, &l)
	var sum watan.Amount
	kinds := map[string]int{}
	for _, en := range l.Entries {
		sum += en.Amount
		if order == 0 || en.OrderID == order {
			kinds[en.Kind]++
		}
	}
	if sum != a.Balance {
		e.t.Fatalf("account %s: ledger sums to %s, balance is %s", acct, sum, a.Balance)
	}
	return a.Balance, kinds
}

func hasEvent(evs []event, actor, kind, mentions string) bool {
	for _, ev := range evs {
		if ev.Actor == actor && ev.Kind == kind && strings.Contains(ev.Message, mentions) {
			return true
		}
	}
	return false
}

func TestOperatorApprovesManualOrderWithPIN(t *testing.T) {
	forEachOpEngine(t, func(t *testing.T, e *opEnv) {
		o := e.order("manual", "cust1")
		e.dispatch(o.ID)
		e.want(o.ID, "pending", "manual")
		before := e.c.state("cust1")

		got := e.act(o.ID, "approve", `{"pin":"  MAN-1234-5678 ","note":"delivered by phone"}`, 200)
		if got.ID != o.ID || got.Status != "approved" || got.ProviderState != "delivered" || got.PIN != "MAN-1234-5678" {
			t.Fatalf("approved order %+v", got)
		}
		if e.get(o.ID) != got {
			t.Errorf("the answer %+v is not the stored order %+v", got, e.get(o.ID))
		}
		if after := e.c.state("cust1"); after != before {
			t.Errorf("approving a paid order moved money: %+v → %+v", before, after)
		}
		if !hasEvent(e.events(o.ID), opsActor, string(watan.EventStatusChanged), "delivered by phone") {
			t.Errorf("no status change by %s on the timeline: %+v", opsActor, e.events(o.ID))
		}

		// Decided orders stay decided: approving again or rejecting is refused.
		n := len(e.events(o.ID))
		wantError(t, "approve again", e.c.send("POST", fmt.Sprintf("/api/v1/orders/%d/approve", o.ID), "", ""), 409, watan.ECodeInvalidTransition)
		wantError(t, "reject approved", e.c.send("POST", fmt.Sprintf("/api/v1/orders/%d/reject", o.ID), "", `{"note":"oops"}`), 409, watan.ECodeInvalidTransition)
		if after := e.c.state("cust1"); after != before || len(e.events(o.ID)) != n {
			t.Errorf("refused actions wrote: %+v → %+v, events %d → %d", before, after, n, len(e.events(o.ID)))
		}
		e.want(o.ID, "approved", "delivered")
	})
}

func TestOperatorRejectRefundsOnceAndApproveRedebits(t *testing.T) {
	forEachOpEngine(t, func(t *testing.T, e *opEnv) {
		o := e.order("manual", "cust1")
		got := e.act(o.ID, "reject", `{"note":"customer cancelled"}`, 200)
		if got.Status != "rejected" {
			t.Fatalf("rejected order %+v", got)
		}
		balance, kinds := e.money("cust1", o.ID)
		if balance != 100_00 || kinds["debit"] != 1 || kinds["refund"] != 1 {
			t.Fatalf("after reject: balance %s, ledger %v", balance, kinds)
		}
		if !hasEvent(e.events(o.ID), opsActor, string(watan.EventStatusChanged), "customer cancelled") ||
			!hasEvent(e.events(o.ID), opsActor, string(watan.EventRefund), "") {
			t.Errorf("timeline %+v", e.events(o.ID))
		}
		// Rejecting again refunds nothing more.
		wantError(t, "reject again", e.c.send("POST", fmt.Sprintf("/api/v1/orders/%d/reject", o.ID), "", ""), 409, watan.ECodeInvalidTransition)
		if balance, kinds := e.money("cust1", o.ID); balance != 100_00 || kinds["refund"] != 1 {
			t.Fatalf("after a second reject: balance %s, ledger %v", balance, kinds)
		}

		// Approving the rejected order debits it again. No body: every field is optional.
		got = e.act(o.ID, "approve", "", 200)
		if got.Status != "approved" || got.PIN != "" {
			t.Fatalf("approved order %+v", got)
		}
		if balance, kinds := e.money("cust1", o.ID); balance != 87_50 || kinds["redebit"] != 1 || kinds["refund"] != 1 {
			t.Fatalf("after approving a rejected order: balance %s, ledger %v", balance, kinds)
		}

		// An account that cannot cover the re-debit: refused, and nothing written.
		e.c.call("POST", "/api/v1/accounts", `{"code":"poor","currency":"TRY"}`, 201, nil)
		e.c.call("POST", "/api/v1/accounts/poor/topups", `{"amount":"12.50"}`, 201, nil)
		first := e.order("manual", "poor")
		e.act(first.ID, "reject", "", 200)
		e.order("manual", "poor") // spends the refund
		before, evs := e.c.state("poor"), len(e.events(first.ID))
		wantError(t, "re-debit past the limit", e.c.send("POST", fmt.Sprintf("/api/v1/orders/%d/approve", first.ID), "", `{"pin":"X-1"}`),
			422, watan.ECodeInsufficientBalance)
		if after := e.c.state("poor"); after != before || len(e.events(first.ID)) != evs {
			t.Errorf("a refused approval wrote: %+v → %+v, events %d → %d", before, after, evs, len(e.events(first.ID)))
		}
		if got := e.want(first.ID, "rejected", "not_sent"); got.PIN != "" {
			t.Errorf("a refused approval kept its PIN: %+v", got)
		}
		if balance, _ := e.money("poor", 0); balance != 0 {
			t.Errorf("poor's balance %s", balance)
		}
	})
}

func TestOperatorRedispatchesFailedOrder(t *testing.T) {
	forEachOpEngine(t, func(t *testing.T, e *opEnv) {
		e.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeCancel})
		o := e.order("znet", "cust1")
		e.dispatch(o.ID)
		sent := e.want(o.ID, "pending", "sent")
		path := fmt.Sprintf("/api/v1/orders/%d/redispatch", o.ID)
		body := fmt.Sprintf(`{"provider_account_id":%d,"note":"try barakat"}`, e.barakatID)
		wantError(t, "re-dispatch while znet holds it", e.c.send("POST", path, "", body), 409, watan.ECodeInvalidTransition)

		// The operator checks now; znet has cancelled it: rejected and refunded.
		e.clock.Advance(10 * time.Second)
		if got := e.act(o.ID, "check", "", 200); got.Status != "rejected" || got.ProviderState != "failed" {
			t.Fatalf("after check: %+v", got)
		}
		if balance, kinds := e.money("cust1", o.ID); balance != 100_00 || kinds["refund"] != 1 {
			t.Fatalf("after the provider's cancel: balance %s, ledger %v", balance, kinds)
		}

		other := e.newTenant("other")
		var theirs struct {
			ID int64 `json:"id"`
		}
		other.call("POST", "/api/v1/provider-accounts", `{"kind":"znet","name":"theirs","base_url":"https://znet.example","credentials":{"kod":"k","sifre":"s"}}`, 201, &theirs)
		for name, bad := range map[string]string{
			"no provider":         `{"note":"x"}`,
			"provider 0":          `{"provider_account_id":0}`,
			"negative provider":   `{"provider_account_id":-3}`,
			"unknown provider":    `{"provider_account_id":999999}`,
			"another tenant's":    fmt.Sprintf(`{"provider_account_id":%d}`, theirs.ID),
			"note over the limit": fmt.Sprintf(`{"provider_account_id":%d,"note":%q}`, e.barakatID, strings.Repeat("n", watan.MaxNoteLen+1)),
		} {
			wantError(t, name, e.c.send("POST", path, "", bad), 422, watan.ECodeValidation)
		}
		wantError(t, "empty body", e.c.send("POST", path, "", ""), 400, watan.ECodeBadRequest)
		e.want(o.ID, "rejected", "failed")

		got := e.act(o.ID, "redispatch", body, 200)
		if got.Status != "pending" || got.ProviderState != "not_sent" || got.ProviderAccountID != e.barakatID {
			t.Fatalf("re-dispatched order %+v", got)
		}
		if balance, kinds := e.money("cust1", o.ID); balance != 87_50 || kinds["refund"] != 1 || kinds["redebit"] != 1 {
			t.Fatalf("after re-dispatch: balance %s, ledger %v", balance, kinds)
		}
		if !hasEvent(e.events(o.ID), opsActor, string(engine.EventOperator), "try barakat") {
			t.Errorf("timeline %+v", e.events(o.ID))
		}

		e.dispatch(o.ID)
		placed := e.want(o.ID, "pending", "sent")
		if placed.ProviderAccountID != e.barakatID || placed.ProviderReferans == sent.ProviderReferans {
			t.Fatalf("placed %+v after %+v: want barakat under a new reference", placed, sent)
		}
		if n, m := len(e.znet.Orders()), len(e.barakat.Orders()); n != 1 || m != 1 {
			t.Fatalf("znet holds %d orders and barakat %d, want 1 each", n, m)
		}
	})
}

func TestOperatorSetsManualAndChecksNow(t *testing.T) {
	forEachOpEngine(t, func(t *testing.T, e *opEnv) {
		// Never sent: nothing to check, and it can go to operators.
		o := e.order("znet", "cust1")
		wantError(t, "check a never-sent order", e.c.send("POST", fmt.Sprintf("/api/v1/orders/%d/check", o.ID), "", ""), 409, watan.ECodeInvalidTransition)
		if got := e.act(o.ID, "manual", `{"note":"znet is slow today"}`, 200); got.Status != "pending" || got.ProviderState != "manual" {
			t.Fatalf("set manual: %+v", got)
		}
		if !hasEvent(e.events(o.ID), opsActor, string(engine.EventOperator), "znet is slow today") {
			t.Errorf("timeline %+v", e.events(o.ID))
		}
		wantError(t, "manual twice", e.c.send("POST", fmt.Sprintf("/api/v1/orders/%d/manual", o.ID), "", ""), 409, watan.ECodeInvalidTransition)
		if got := e.act(o.ID, "approve", `{"pin":"HAND-1"}`, 200); got.Status != "approved" || got.ProviderState != "delivered" {
			t.Fatalf("approve after manual: %+v", got)
		}
		if len(e.znet.Orders()) != 0 {
			t.Fatalf("znet got %d orders for a manual one", len(e.znet.Orders()))
		}

		// Sent and delivered at znet: checking now approves it with znet's PIN.
		e.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeDeliver, PIN: "ZN-9999"})
		d := e.order("znet", "cust1")
		e.dispatch(d.ID)
		e.want(d.ID, "pending", "sent")
		wantError(t, "manual while znet holds it", e.c.send("POST", fmt.Sprintf("/api/v1/orders/%d/manual", d.ID), "", ""), 409, watan.ECodeInvalidTransition)
		if got := e.act(d.ID, "check", `{}`, 200); got.Status != "approved" || got.ProviderState != "delivered" || got.PIN != "ZN-9999" {
			t.Fatalf("check now: %+v", got)
		}
		if !hasEvent(e.events(d.ID), opsActor, string(engine.EventOperator), "check") {
			t.Errorf("timeline %+v", e.events(d.ID))
		}

		// znet failing: 503, and the order is as it was; once znet answers, pending stays pending.
		e.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeStuck})
		s := e.order("znet", "cust1")
		e.dispatch(s.ID)
		e.znet.InjectFault(providertest.OpCheck, providertest.Fault500, 1)
		wantError(t, "check while znet fails", e.c.send("POST", fmt.Sprintf("/api/v1/orders/%d/check", s.ID), "", ""), 503, watan.ECodeUnavailable)
		e.want(s.ID, "pending", "sent")
		if got := e.act(s.ID, "check", "", 200); got.Status != "pending" || got.ProviderState != "sent" {
			t.Fatalf("check of a pending order: %+v", got)
		}
		if balance, _ := e.money("cust1", 0); balance != 100_00-3*12_50 {
			t.Errorf("balance %s", balance)
		}
	})
}

func TestOperatorPausesAndResumesProviderAccount(t *testing.T) {
	forEachOpEngine(t, func(t *testing.T, e *opEnv) {
		type view struct {
			ID             int64    `json:"id"`
			Paused         bool     `json:"paused"`
			PausedReason   string   `json:"paused_reason"`
			CredentialKeys []string `json:"credential_keys"`
			Circuit        *struct {
				State         string `json:"state"`
				Calls         int    `json:"calls"`
				Misconfigured int    `json:"misconfigured"`
			} `json:"circuit"`
		}
		type timeline struct {
			Events []struct {
				Actor   string `json:"actor"`
				Kind    string `json:"kind"`
				Message string `json:"message"`
			} `json:"events"`
			NextCursor string `json:"next_cursor"`
		}
		path := fmt.Sprintf("/api/v1/provider-accounts/%d", e.znetID)

		// znet's empty answer is its misconfiguration signal: one of them is
		// counted by the circuit breaker and stops nothing.
		e.znet.InjectFault(providertest.OpPlace, providertest.FaultEmpty, 1)
		e.dispatch(e.order("znet", "cust1").ID)
		var pa view
		e.c.call("GET", path, "", 200, &pa)
		if pa.Paused || pa.Circuit == nil || pa.Circuit.State != "closed" || pa.Circuit.Misconfigured != 1 {
			t.Fatalf("after one empty answer: %+v circuit %+v", pa, pa.Circuit)
		}

		e.c.call("POST", path+"/pause", `{"reason":"provider maintenance"}`, 200, &pa)
		if !pa.Paused || pa.PausedReason != "provider maintenance" {
			t.Fatalf("paused %+v", pa)
		}
		waiting := e.order("znet", "cust1")
		e.dispatch(waiting.ID)
		if got := e.want(waiting.ID, "pending", "not_sent"); !strings.Contains(got.ProviderMessage, "provider maintenance") {
			t.Fatalf("waiting order says %q", got.ProviderMessage)
		}

		pa = view{}
		e.c.call("POST", path+"/resume", "", 200, &pa)
		if pa.ID != e.znetID || pa.Paused || pa.PausedReason != "" || len(pa.CredentialKeys) != 2 {
			t.Fatalf("resumed %+v", pa)
		}
		e.dispatch(waiting.ID)
		e.want(waiting.ID, "pending", "sent")

		// Resuming what is not paused changes nothing, and writes nothing.
		e.c.call("POST", path+"/resume", `{}`, 200, &pa)
		if pa.Paused {
			t.Errorf("resumed twice: %+v", pa)
		}
		// PATCH paused=true is the same operator action.
		e.c.call("PATCH", path, `{"paused":true}`, 200, &pa)
		if !pa.Paused {
			t.Fatalf("PATCH paused: %+v", pa)
		}

		var tl timeline
		e.c.call("GET", path+"/events?limit=2", "", 200, &tl)
		if len(tl.Events) != 2 || tl.NextCursor == "" || tl.Events[0].Kind != watan.ProviderEventPaused || tl.Events[1].Kind != watan.ProviderEventResumed {
			t.Fatalf("first page of the timeline: %+v", tl)
		}
		var older timeline
		e.c.call("GET", path+"/events?limit=2&cursor="+tl.NextCursor, "", 200, &older)
		if len(older.Events) != 1 || older.NextCursor != "" || older.Events[0].Kind != watan.ProviderEventPaused ||
			!strings.Contains(older.Events[0].Message, "provider maintenance") || !strings.HasPrefix(older.Events[0].Actor, "operator:") {
			t.Fatalf("last page of the timeline: %+v", older)
		}

		wantError(t, "no such account", e.c.send("POST", "/api/v1/provider-accounts/999999/resume", "", ""), 404, watan.ECodeNotFound)
		wantError(t, "no such account", e.c.send("POST", "/api/v1/provider-accounts/999999/pause", "", ""), 404, watan.ECodeNotFound)
		wantError(t, "no such account", e.c.send("GET", "/api/v1/provider-accounts/999999/events", "", ""), 404, watan.ECodeNotFound)
		wantError(t, "id not a number", e.c.send("POST", "/api/v1/provider-accounts/znet/resume", "", ""), 404, watan.ECodeNotFound)
		wantError(t, "a body with a field", e.c.send("POST", path+"/resume", "", `{"reason":"fixed"}`), 400, watan.ECodeBadRequest)
		wantError(t, "a control character in the reason", e.c.send("POST", path+"/pause", "", `{"reason":"a\u0000b"}`), 400, watan.ECodeBadRequest)
		wantError(t, "a bad cursor", e.c.send("GET", path+"/events?cursor=zzz", "", ""), 422, watan.ECodeValidation)
	})
}

// TestOperatorTenantIsolation checks that another tenant's key can act on none of
// this tenant's orders or provider accounts: every action is a 404, and nothing
// changes.
func TestOperatorTenantIsolation(t *testing.T) {
	forEachOpEngine(t, func(t *testing.T, e *opEnv) {
		mine := e.order("manual", "cust1")
		failed := e.order("znet", "cust1")
		e.znet.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeCancel})
		e.dispatch(failed.ID)
		e.clock.Advance(10 * time.Second)
		e.act(failed.ID, "check", "", 200)
		e.want(failed.ID, "rejected", "failed")
		ctx := context.Background()
		if err := e.st.SetProviderPaused(ctx, e.c.tenant.ID, e.barakatID, true, "test pause", watan.OperatorActor("test")); err != nil {
			t.Fatal(err)
		}

		other := e.newTenant("other")
		otherZnet, _ := other.providers(e.znet.URL(), e.barakat.URL())
		before := e.c.state("cust1")
		evs := map[int64]int{mine.ID: len(e.events(mine.ID)), failed.ID: len(e.events(failed.ID))}

		for _, id := range []int64{mine.ID, failed.ID} {
			for _, tt := range []struct{ action, body string }{
				{"approve", `{"pin":"STOLEN"}`},
				{"reject", `{"note":"x"}`},
				{"redispatch", fmt.Sprintf(`{"provider_account_id":%d}`, otherZnet)},
				{"redispatch", fmt.Sprintf(`{"provider_account_id":%d}`, e.znetID)},
				{"manual", ""},
				{"check", ""},
			} {
				res := other.send("POST", fmt.Sprintf("/api/v1/orders/%d/%s", id, tt.action), "", tt.body)
				wantError(t, fmt.Sprintf("other tenant: %s order %d with %s", tt.action, id, tt.body), res, 404, watan.ECodeNotFound)
			}
		}
		for _, id := range []int64{e.znetID, e.barakatID} {
			wantError(t, "other tenant resumes", other.send("POST", fmt.Sprintf("/api/v1/provider-accounts/%d/resume", id), "", ""), 404, watan.ECodeNotFound)
		}

		if after := e.c.state("cust1"); after != before {
			t.Errorf("another tenant changed the state: %+v → %+v", before, after)
		}
		for id, n := range evs {
			if got := len(e.events(id)); got != n {
				t.Errorf("order %d: events %d → %d", id, n, got)
			}
		}
		e.want(mine.ID, "pending", "not_sent")
		e.want(failed.ID, "rejected", "failed")
		var pa struct {
			Paused bool `json:"paused"`
		}
		e.c.call("GET", fmt.Sprintf("/api/v1/provider-accounts/%d", e.barakatID), "", 200, &pa)
		if !pa.Paused {
			t.Error("another tenant resumed a provider account")
		}
	})
}

// TestOperatorMalformedBodies sends each kind of bad body to each action and checks
// the exact status and code, and that nothing was written.
func TestOperatorMalformedBodies(t *testing.T) {
	forEachOpEngine(t, func(t *testing.T, e *opEnv) {
		o := e.order("manual", "cust1")
		before, evs := e.c.state("cust1"), len(e.events(o.ID))
		long := strings.Repeat("n", watan.MaxNoteLen+1)
		tests := []struct {
			action, contentType, body string
			status                    int
			code                      string
			mentions                  string
		}{
			{"approve", "", `{"pin":"P","colour":"red"}`, 400, watan.ECodeBadRequest, "colour"},
			{"approve", "", `{"pin":1234}`, 400, watan.ECodeBadRequest, "pin"},
			{"approve", "", `{"note":["a"]}`, 400, watan.ECodeBadRequest, "note"},
			{"approve", "", `["pin"]`, 400, watan.ECodeBadRequest, "object"},
			{"approve", "", `{"pin":"P"} {"pin":"Q"}`, 400, watan.ECodeBadRequest, "single JSON value"},
			{"approve", "", `{"pin":"P"`, 400, watan.ECodeBadRequest, "middle"},
			{"approve", "application/x-www-form-urlencoded", `pin=P`, 400, watan.ECodeBadRequest, "Content-Type"},
			{"approve", "", `{"note":"` + long + `"}`, 422, watan.ECodeValidation, "note"},
			{"approve", "", `{"pin":"` + strings.Repeat("P", 513) + `"}`, 422, watan.ECodeValidation, "pin"},
			{"reject", "", `{"reason":"x"}`, 400, watan.ECodeBadRequest, "reason"},
			{"reject", "", `{"note":false}`, 400, watan.ECodeBadRequest, "note"},
			{"reject", "", `{"note":"` + long + `"}`, 422, watan.ECodeValidation, "note"},
			{"redispatch", "", `{"provider_account_id":"5"}`, 400, watan.ECodeBadRequest, "provider_account_id"},
			{"redispatch", "", `{"provider_account_id":1.5}`, 400, watan.ECodeBadRequest, "provider_account_id"},
			{"redispatch", "", `{"provider_account_id":1,"force":true}`, 400, watan.ECodeBadRequest, "force"},
			{"manual", "", `{"note":7}`, 400, watan.ECodeBadRequest, "note"},
			{"manual", "", `{"notes":"x"}`, 400, watan.ECodeBadRequest, "notes"},
			{"manual", "", `{"note":"` + long + `"}`, 422, watan.ECodeValidation, "note"},
			{"check", "", `{"force":true}`, 400, watan.ECodeBadRequest, "force"},
			{"check", "", `null x`, 400, watan.ECodeBadRequest, "JSON"},
			{"check", "", `"now"`, 400, watan.ECodeBadRequest, "object"},
			// Hostile text: NUL in notes and PINs, a PIN that reverses what operators read.
			{"approve", "", `{"pin":"P\u0000"}`, 400, watan.ECodeBadRequest, "pin"},
			{"approve", "", `{"note":"a\u0000b"}`, 400, watan.ECodeBadRequest, "note"},
			{"reject", "", `{"note":"a\u0000b"}`, 400, watan.ECodeBadRequest, "note"},
			{"approve", "", `{"pin":"\u202eP"}`, 422, watan.ECodeValidation, "PIN"},
		}
		for _, tt := range tests {
			name := tt.action + " " + tt.body
			if len(name) > 80 {
				name = name[:80]
			}
			res := e.c.send("POST", fmt.Sprintf("/api/v1/orders/%d/%s", o.ID, tt.action), tt.contentType, tt.body)
			if msg := wantError(t, name, res, tt.status, tt.code); !strings.Contains(msg, tt.mentions) {
				t.Errorf("%s: message %q does not mention %q", name, msg, tt.mentions)
			}
		}
		for _, action := range []string{"approve", "reject", "redispatch", "manual", "check"} {
			body := ""
			if action == "redispatch" {
				body = fmt.Sprintf(`{"provider_account_id":%d}`, e.znetID)
			}
			wantError(t, action+" on a non-numeric id", e.c.send("POST", "/api/v1/orders/abc/"+action, "", body), 404, watan.ECodeNotFound)
			wantError(t, action+" on no order", e.c.send("POST", "/api/v1/orders/999999/"+action, "", body), 404, watan.ECodeNotFound)
			wantError(t, action+" with GET", e.c.send("GET", fmt.Sprintf("/api/v1/orders/%d/%s", o.ID, action), "", ""), 405, watan.ECodeBadRequest)
		}
		if after := e.c.state("cust1"); after != before || len(e.events(o.ID)) != evs {
			t.Errorf("refused requests wrote: %+v → %+v, events %d → %d", before, after, evs, len(e.events(o.ID)))
		}
		e.want(o.ID, "pending", "not_sent")
		// A note of exactly the limit is fine.
		if got := e.act(o.ID, "reject", `{"note":"`+long[1:]+`"}`, 200); got.Status != "rejected" {
			t.Errorf("reject with a note at the limit: %+v", got)
		}
	})
}
