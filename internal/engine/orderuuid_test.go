package engine_test

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/google/uuid"

	"watan"
	"watan/internal/engine"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

func TestReferenceUUID(t *testing.T) {
	// Golden values: they must never change, or orders already placed under a UUID
	// could no longer be found by it.
	if got := uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:watan:order-reference")).String(); got != "4f39b5d1-9fc3-5957-b07f-6389e00d424d" {
		t.Fatalf("namespace derivation gives %s", got)
	}
	if got, want := engine.ReferenceUUID("100000000000101"), "7aa08293-c1b2-573f-b524-572c38d6f9b5"; got != want {
		t.Fatalf("ReferenceUUID = %s, want %s", got, want)
	}
	if engine.ReferenceUUID("100000000000101") == engine.ReferenceUUID("100000000000102") {
		t.Fatal("two references gave the same UUID")
	}
}

// setOrderUUID switches the barakat account's reference form.
func (b *bundle) setOrderUUID(f watan.RefFormat) {
	b.t.Helper()
	acct, err := b.st.FindProviderAccount(b.ctx, b.tenant.ID, b.barakatAcc.ID)
	b.must(err)
	acct.Settings.OrderUUID = f
	acct.Credentials = nil
	b.barakatAcc, err = b.st.UpdateProviderAccount(b.ctx, acct)
	b.must(err)
}

// A store that enforces UUIDs refuses the numeric reference (the order is
// rejected and refunded, nothing placed) and accepts the derived UUID, which the
// order stores as its reference and which a lost reply is resolved by.
func TestBarakatOrderUUIDSettings(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, setupOpts{barakat: providertest.BarakatOptions{RequireUUID: true}})

		numeric := b.order(pkgBarakat)
		b.dispatch(numeric.ID)
		got := b.want(numeric.ID, watan.StatusRejected, watan.StateFailed)
		if len(b.barakat.Orders()) != 0 {
			t.Fatalf("the store holds %d orders after refusing a numeric order_uuid", len(b.barakat.Orders()))
		}
		if got.ProviderReferans == "" || regexp.MustCompile(`\D`).MatchString(got.ProviderReferans) {
			t.Fatalf("numeric setting stored reference %q", got.ProviderReferans)
		}

		b.setOrderUUID(watan.RefUUID)
		b.barakat.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeDeliver, After: 5 * time.Second, PIN: "UUID-PIN"})
		b.barakat.InjectFault(providertest.OpPlace, providertest.FaultLostReply, 1)
		o := b.order(pkgBarakat)
		b.dispatch(o.ID)
		sent := b.get(o.ID)
		want := engine.ReferenceUUID(fmt.Sprintf("1%012d01", o.ID))
		if sent.ProviderReferans != want {
			t.Fatalf("stored reference %q, want the UUID of the numeric reference %q", sent.ProviderReferans, want)
		}
		for i := 0; i < 5 && b.get(o.ID).Status == watan.StatusPending; i++ {
			b.clock.Advance(time.Minute)
			b.check(o.ID)
		}
		got = b.want(o.ID, watan.StatusApproved, watan.StateDelivered)
		if got.PIN != "UUID-PIN" || got.ProviderReferans != want {
			t.Fatalf("approved order: pin %q reference %q", got.PIN, got.ProviderReferans)
		}
		if n := b.barakat.Placements(want); n < 1 {
			t.Fatalf("placements under %s = %d", want, n)
		}
		// Go's client may send the lost GET again; the store's idempotency on
		// order_uuid keeps that one order.
		if len(b.barakat.Orders()) != 1 {
			t.Fatalf("the store holds %d orders, want 1", len(b.barakat.Orders()))
		}
		if a := b.money(); a.Balance != 1000_00-price {
			t.Fatalf("balance %s, want %s (one refund for the refused order)", a.Balance, 1000_00-price)
		}
	})
}
