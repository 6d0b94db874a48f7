package barakat

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"watan"
)

// seedFixtures adds every testdata file to the fuzzer's corpus, with the statuses
// the protocol uses, so that it starts from real answers.
func seedFixtures(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		if fi, err := os.Stat(name); err != nil || fi.IsDir() {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, status := range []uint16{200, 401, 404, 422, 500} {
			f.Add(status, b)
		}
	}
}

// deliveredWords is providers.md §2.5's "delivered" row, kept apart from the
// parser's table so that the fuzzers check it rather than repeat it.
var deliveredWords = map[string]bool{"success": true, "ok": true, "done": true, "complete": true, "completed": true, "accept": true}

// deliveredStatus reports whether raw is an object whose "status" is a delivered
// word. Keys are matched as encoding/json matches them (case-insensitively, the
// last one winning); the vocabulary is checked here independently of the parser.
func deliveredStatus(raw json.RawMessage) bool {
	var v struct {
		Status any `json:"status"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	s, ok := v.Status.(string)
	w := strings.NewReplacer(" ", "", "_", "", "-", "").Replace(strings.ToLower(strings.TrimSpace(s)))
	return ok && deliveredWords[w]
}

// envelopeData returns the "data" member of a JSON answer, which must be valid.
func envelopeData(t *testing.T, body []byte) json.RawMessage {
	t.Helper()
	var v struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(bytes.TrimPrefix(body, bom)), &v); err != nil {
		t.Fatalf("%q: delivered from something that is not a JSON object: %v", body, err)
	}
	return v.Data
}

func assertProviderError(t *testing.T, op string, err error) {
	t.Helper()
	pe, ok := errors.AsType[*watan.ProviderError](err)
	if !ok || pe.Op != op || pe.Kind == "" {
		t.Fatalf("err = %#v, want a *watan.ProviderError for %s", err, op)
	}
}

func FuzzParsePlace(f *testing.F) {
	seedFixtures(f)
	f.Fuzz(func(t *testing.T, status uint16, body []byte) {
		a, err := parsePlace(int(status), body)
		if err != nil {
			assertProviderError(t, opPlace, err)
			if a.Outcome != watan.PlaceUnknown {
				t.Fatalf("a failed call is %s, want unknown", a.Outcome)
			}
			return
		}
		switch a.Outcome {
		case watan.PlaceDelivered:
			// Delivery needs a 2xx answer whose order says so itself.
			if status < 200 || status > 299 || !deliveredStatus(envelopeData(t, body)) {
				t.Fatalf("HTTP %d %q parsed as delivered", status, body)
			}
			if a.PIN != "" && isPlaceholderPIN(a.PIN) {
				t.Fatalf("placeholder PIN %q", a.PIN)
			}
		case watan.PlaceRejected:
			if a.Reason == "" {
				t.Fatalf("%q: rejected without a reason", body)
			}
		case watan.PlaceAccepted, watan.PlaceUnknown:
			if a.PIN != "" {
				t.Fatalf("%q: %s with PIN %q", body, a.Outcome, a.PIN)
			}
		default:
			t.Fatalf("outcome %q", a.Outcome)
		}
	})
}

func FuzzParseCheck(f *testing.F) {
	seedFixtures(f)
	f.Fuzz(func(t *testing.T, status uint16, body []byte) {
		items, err := parseCheck(int(status), body)
		if err != nil {
			assertProviderError(t, opCheck, err)
			if items != nil {
				t.Fatalf("a failed parse returned %d items", len(items))
			}
			return
		}
		delivered := 0
		for _, it := range items {
			if it.outcome == watan.CheckDelivered {
				delivered++
				if it.pin != "" && isPlaceholderPIN(it.pin) {
					t.Fatalf("placeholder PIN %q", it.pin)
				}
			} else if it.pin != "" {
				t.Fatalf("%s with PIN %q", it.outcome, it.pin)
			}
		}
		if delivered == 0 {
			return
		}
		// Each delivered item needs an element of data that says so itself.
		data := envelopeData(t, body)
		var elems []json.RawMessage
		if json.Unmarshal(data, &elems) != nil {
			var m map[string]json.RawMessage
			_ = json.Unmarshal(data, &m)
			for _, v := range m {
				elems = append(elems, v)
			}
		}
		evidence := 0
		for _, e := range elems {
			if deliveredStatus(e) {
				evidence++
			}
		}
		if status < 200 || status > 299 || delivered > evidence {
			t.Fatalf("HTTP %d %q: %d delivered, %d with a delivered status", status, body, delivered, evidence)
		}
	})
}

func FuzzParseProducts(f *testing.F) {
	seedFixtures(f)
	f.Fuzz(func(t *testing.T, status uint16, body []byte) {
		ps, err := parseProducts(int(status), body)
		if err != nil {
			assertProviderError(t, opCatalog, err)
			return
		}
		for _, p := range ps {
			if _, ok := p.Params[ParamPlayer]; !ok {
				t.Fatalf("product %+v has no player param", p)
			}
		}
	})
}

func FuzzParseProfile(f *testing.F) {
	seedFixtures(f)
	f.Fuzz(func(t *testing.T, status uint16, body []byte) {
		b, err := parseProfile(int(status), body)
		if err != nil {
			assertProviderError(t, opBalance, err)
			return
		}
		if !isNumber(b.Amount) || b.Currency == "" {
			t.Fatalf("HTTP %d %q parsed as %+v", status, body, b)
		}
	})
}
