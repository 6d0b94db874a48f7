package webhooks_test

import (
	"strings"
	"testing"

	"watan"
	"watan/internal/egress"
	"watan/internal/store"
	"watan/internal/store/storetest"
	"watan/internal/webhooks"
)

// TestPrivateTargetsRefused: under the default policy an endpoint on a private
// address is refused when saved, and a delivery to one saved earlier (or reached
// through a name that resolves there) is refused at dial time: the receiver hears
// nothing, and the record says "refused by policy" with no status and none of the
// remote's words, so deliveries cannot probe internal services.
func TestPrivateTargetsRefused(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		f := setup(t, e, options{}) // the endpoint on 127.0.0.1 saved before the policy
		strict, err := webhooks.New(webhooks.Config{Store: f.st, Queue: f.q, Clock: f.clock, Egress: &egress.Policy{}})
		f.must(err)
		for _, u := range []string{f.recv.srv.URL, "http://[::1]/", "http://localhost/", "http://127.1/", "http://2130706433/",
			"http://169.254.169.254/", "http://user:pw@shop.example/", "http://0.0.0.0/"} {
			_, err := strict.PutWebhookEndpoint(f.ctx, f.tenant.ID, u, "another-secret-0123456789", true)
			if watan.ErrorCode(err) != watan.ECodeValidation {
				t.Errorf("PUT %s: %v, want validation_failed", u, err)
			}
		}
		o := f.manualApproved()
		d := f.deliveries(o.ID)[0]
		if err := strict.Deliver(f.ctx, f.tenant.ID, d.ID, false); err == nil {
			t.Fatal("a delivery to a private address succeeded")
		}
		if n := len(f.recv.requests()); n != 0 {
			t.Fatalf("the receiver on 127.0.0.1 got %d requests", n)
		}
		got := f.deliveries(o.ID)[0]
		h := got.History[len(got.History)-1]
		if h.Error != "refused by policy" || h.StatusCode != 0 || got.LastStatus != 0 {
			t.Fatalf("recorded attempt %+v (last status %d), want only \"refused by policy\"", h, got.LastStatus)
		}
		if strings.Contains(h.Error, "127.0.0.1") {
			t.Fatalf("the record names the address: %q", h.Error)
		}
		// An allowed prefix lets the same delivery through.
		open, err := webhooks.New(webhooks.Config{Store: f.st, Queue: f.q, Clock: f.clock, Egress: &egress.Policy{Allow: egress.Loopback}})
		f.must(err)
		f.must(open.Deliver(f.ctx, f.tenant.ID, d.ID, false))
		if n := len(f.recv.requests()); n != 1 {
			t.Fatalf("allowed loopback: %d requests", n)
		}
	})
}
