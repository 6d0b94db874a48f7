package watan_test

import (
	"fmt"
	"strings"
	"testing"

	"watan"
)

var (
	statuses = []watan.Status{watan.StatusPending, watan.StatusApproved, watan.StatusRejected, "bogus", ""}
	actors   = []watan.Actor{watan.ActorSystem, watan.ActorAPI, watan.OperatorActor("sara"), "", "operator:", "someone"}
)

// TestStatusTransition checks every (from, to, actor) combination against the rules:
// the allowed ones are listed with their money effect, everything else is refused.
func TestStatusTransition(t *testing.T) {
	type key struct {
		from, to watan.Status
		operator bool
	}
	allowed := map[key]watan.MoneyEffect{}
	for _, op := range []bool{false, true} {
		allowed[key{watan.StatusPending, watan.StatusApproved, op}] = watan.MoneyNone
		allowed[key{watan.StatusPending, watan.StatusRejected, op}] = watan.MoneyRefund
	}
	allowed[key{watan.StatusRejected, watan.StatusApproved, true}] = watan.MoneyRedebit
	allowed[key{watan.StatusApproved, watan.StatusRejected, true}] = watan.MoneyRefund
	allowed[key{watan.StatusRejected, watan.StatusPending, true}] = watan.MoneyRedebit

	for _, from := range statuses {
		for _, to := range statuses {
			for _, actor := range actors {
				name := fmt.Sprintf("%s→%s by %s", from, to, actor)
				effect, err := watan.StatusTransition(from, to, actor)
				want, ok := allowed[key{from, to, actor == watan.OperatorActor("sara")}]
				switch {
				case ok && (err != nil || effect != want):
					t.Errorf("%s = %v, %v; want %v, nil", name, effect, err, want)
				case !ok && (watan.ErrorCode(err) != watan.ECodeInvalidTransition || effect != watan.MoneyNone):
					t.Errorf("%s = %v, %v; want MoneyNone and an invalid_transition error", name, effect, err)
				case !ok && strings.Contains(err.Error(), "sara"):
					t.Errorf("%s: error %q names the operator", name, err)
				}
			}
		}
	}
}

func TestStatus(t *testing.T) {
	for _, c := range []struct {
		s            watan.Status
		valid, final bool
	}{
		{watan.StatusPending, true, false},
		{watan.StatusApproved, true, true},
		{watan.StatusRejected, true, true},
		{"bogus", false, false},
		{"", false, false},
	} {
		if c.s.Valid() != c.valid || c.s.Final() != c.final {
			t.Errorf("%q: Valid %v Final %v, want %v %v", c.s, c.s.Valid(), c.s.Final(), c.valid, c.final)
		}
	}
}

// TestProviderTransition checks every pair of provider states against the table
// below, which is the specification: a change to the domain's table must change it
// too, on purpose.
func TestProviderTransition(t *testing.T) {
	const (
		notSent   = watan.StateNotSent
		sending   = watan.StateSending
		sent      = watan.StateSent
		unknown   = watan.StateUnknown
		delivered = watan.StateDelivered
		failed    = watan.StateFailed
		notFound  = watan.StateNotFound
		manual    = watan.StateManual
		expired   = watan.StateExpired
	)
	allowed := map[watan.ProviderState][]watan.ProviderState{
		notSent:   {sending, delivered, manual, failed},
		sending:   {sent, delivered, failed, unknown, notFound, expired, sending},
		sent:      {delivered, failed, unknown, notFound, expired},
		unknown:   {sent, delivered, failed, notFound, expired, unknown, sending},
		notFound:  {sending, manual, failed, expired, notSent},
		failed:    {sending, manual, notSent},
		manual:    {sending, delivered, failed, notSent},
		delivered: {sending, manual},
		expired:   {sending, manual},
	}
	all := []watan.ProviderState{notSent, sending, sent, unknown, delivered, failed, notFound, manual, expired, "bogus", ""}
	for _, from := range all {
		ok := map[watan.ProviderState]bool{}
		for _, to := range allowed[from] {
			ok[to] = true
		}
		for _, to := range all {
			err := watan.ProviderTransition(from, to)
			switch {
			case ok[to] && err != nil:
				t.Errorf("%s → %s refused: %v", from, to, err)
			case !ok[to] && watan.ErrorCode(err) != watan.ECodeInvalidTransition:
				t.Errorf("%s → %s = %v, want an invalid_transition error", from, to, err)
			}
		}
	}
	// Examples of what must never happen, spelled out.
	for _, c := range [][2]watan.ProviderState{
		{sent, sending},     // re-placing an order the provider holds would place it twice
		{sent, notSent},     // forgetting an order the provider holds
		{sent, manual},      // handing to an operator what the provider may still deliver
		{unknown, notSent},  // forgetting an order whose placement may have happened
		{unknown, manual},   // same, before the reference was checked
		{delivered, failed}, // undoing a delivery automatically
		{notSent, sent},     // skipping the stored reference
		{expired, delivered},
	} {
		if watan.ProviderTransition(c[0], c[1]) == nil {
			t.Errorf("%s → %s allowed", c[0], c[1])
		}
	}
}

func TestProviderState(t *testing.T) {
	for _, s := range []watan.ProviderState{watan.StateNotSent, watan.StateSending, watan.StateSent, watan.StateUnknown,
		watan.StateDelivered, watan.StateFailed, watan.StateNotFound, watan.StateManual, watan.StateExpired} {
		if !s.Valid() {
			t.Errorf("%s: not Valid", s)
		}
		want := s == watan.StateSending || s == watan.StateSent || s == watan.StateUnknown
		if s.Dispatched() != want {
			t.Errorf("%s: Dispatched = %v, want %v", s, s.Dispatched(), want)
		}
	}
	if watan.ProviderState("bogus").Valid() || watan.ProviderState("").Valid() {
		t.Error("unknown provider states are Valid")
	}
}

func TestNewOrderValidate(t *testing.T) {
	valid := watan.NewOrder{TenantID: 1, PackageCode: "p", AccountCode: "a", Quantity: 1, PlayerID: "x"}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid order: %v", err)
	}
	for name, edit := range map[string]func(*watan.NewOrder){
		"no package":     func(n *watan.NewOrder) { n.PackageCode = "" },
		"no account":     func(n *watan.NewOrder) { n.AccountCode = "" },
		"zero quantity":  func(n *watan.NewOrder) { n.Quantity = 0 },
		"huge quantity":  func(n *watan.NewOrder) { n.Quantity = watan.MaxQuantity + 1 },
		"no player":      func(n *watan.NewOrder) { n.PlayerID = "" },
		"long player":    func(n *watan.NewOrder) { n.PlayerID = strings.Repeat("x", watan.MaxPlayerIDLen+1) },
		"long extra":     func(n *watan.NewOrder) { n.Extra = strings.Repeat("x", watan.MaxExtraLen+1) },
		"long client id": func(n *watan.NewOrder) { n.ClientOrderID = strings.Repeat("x", watan.MaxClientIDLen+1) },
	} {
		n := valid
		edit(&n)
		if watan.ErrorCode(n.Validate()) != watan.ECodeValidation {
			t.Errorf("%s: Validate = %v, want a validation error", name, n.Validate())
		}
	}
}
