package watanapi

import (
	"errors"
	"testing"

	"watan"
)

// FuzzParse: no answer makes a parser panic, every result is one of the
// protocol's outcomes, and a failure is always a classified *watan.ProviderError.
func FuzzParse(f *testing.F) {
	for _, seed := range []struct {
		status int
		body   string
	}{
		{201, `{"id":1,"number":1,"status":"pending","provider_state":"not_sent","price":"40.00"}`},
		{200, `{"id":7,"status":"approved","provider_state":"delivered","pin":"AB12-CD34"}`},
		{200, `{"id":8,"status":"rejected","provider_state":"failed","provider_message":"cancelled"}`},
		{422, `{"error":{"code":"insufficient_balance","message":"balance 1.00 is short of 40.00"}}`},
		{404, `{"error":{"code":"not_found","message":"order 9 not found"}}`},
		{401, `{"error":{"code":"unauthorized","message":"missing or unknown API key"}}`},
		{503, `{"error":{"code":"unavailable","message":"database"}}`},
		{200, `{"code":"c1","balance":"60.00","currency":"TRY"}`},
		{200, `{"packages":[{"code":"pubg-60","name":"PUBG","price":"40.00","currency":"TRY","active":true}],"next_cursor":"x"}`},
		{200, `<!DOCTYPE html>`},
		{200, ``},
	} {
		f.Add(seed.status, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		classified := func(err error) {
			if err == nil {
				return
			}
			if _, ok := errors.AsType[*watan.ProviderError](err); !ok {
				t.Fatalf("unclassified error %v", err)
			}
		}
		res, err := parsePlace(status, body)
		classified(err)
		switch res.Outcome {
		case watan.PlaceAccepted, watan.PlaceDelivered, watan.PlaceUnknown:
		case watan.PlaceRejected:
			if res.Reason == "" {
				t.Fatal("rejected without a reason")
			}
		default:
			t.Fatalf("place outcome %q", res.Outcome)
		}
		if err != nil && res.Outcome != watan.PlaceUnknown {
			t.Fatalf("a failed placement must be unknown, got %q", res.Outcome)
		}
		r, err := parseCheck(status, body)
		classified(err)
		if err == nil {
			switch r.Outcome {
			case watan.CheckPending, watan.CheckDelivered, watan.CheckFailed, watan.CheckNotFound:
			default:
				t.Fatalf("check outcome %q", r.Outcome)
			}
		}
		_, err = parseBalance(status, body)
		classified(err)
		_, _, err = parseCatalog(status, body)
		classified(err)
	})
}
