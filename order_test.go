package watan_test

import (
	"fmt"
	"slices"
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

// TestTransitionTable checks the edges the engine's transitions allow against the
// table below, which is the specification: a change to the domain's table must
// change it too, on purpose.
func TestTransitionTable(t *testing.T) {
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
		notSent:  {sending, delivered, manual, expired, notSent},
		sending:  {sent, delivered, failed, unknown, notFound, expired, notSent, sending},
		sent:     {sent, delivered, failed, expired},
		unknown:  {sent, delivered, failed, notFound, expired, unknown},
		notFound: {sending, manual, expired, notSent, notFound},
		expired:  {expired}, // after-care: watched, never moved
	}
	all := []watan.ProviderState{notSent, sending, sent, unknown, delivered, failed, notFound, manual, expired}
	engineEdge := func(from, to watan.ProviderState) bool {
		for _, tr := range watan.Transitions {
			if !tr.Operator && tr.Check(from, to) == nil {
				return true
			}
		}
		return false
	}
	for _, from := range all {
		for _, to := range all {
			want := slices.Contains(allowed[from], to)
			if got := engineEdge(from, to); got != want {
				t.Errorf("engine %s → %s: allowed %v, want %v", from, to, got, want)
			}
		}
	}
	// What must never happen, by the engine or by an operator.
	for _, c := range [][2]watan.ProviderState{
		{sent, sending},     // re-placing an order the provider holds would place it twice
		{sent, notSent},     // forgetting an order the provider holds
		{sent, manual},      // handing to an operator what the provider may still deliver
		{sent, notFound},    // "not found" about an order the provider accepted is no evidence
		{unknown, notSent},  // forgetting an order whose placement may have happened
		{unknown, manual},   // same, before the reference was checked
		{unknown, sending},  // placing again before asking about the same reference
		{delivered, failed}, // undoing a delivery
		{notSent, sent},     // skipping the stored reference
		{expired, delivered},
	} {
		for _, tr := range watan.Transitions {
			if tr.From != nil && tr.Check(c[0], c[1]) == nil {
				t.Errorf("%s allows %s → %s", tr.Name, c[0], c[1])
			}
		}
	}
	// Operators decide without moving the provider side, except these.
	if err := watan.TrOpApprove.Check(sent, sent); err != nil {
		t.Error(err)
	}
	if watan.TrOpApprove.Check(sent, delivered) == nil {
		t.Error("an operator's approval rewrote the provider state")
	}
	for _, tr := range watan.Transitions {
		if tr.NewGeneration != (tr.Name == "place" || tr.Name == "operator_redispatch") {
			t.Errorf("%s: NewGeneration %v", tr.Name, tr.NewGeneration)
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
