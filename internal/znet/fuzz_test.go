package znet

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"watan"
)

// seedFixtures adds every testdata file to the fuzzer's corpus, so that it starts
// from real answers.
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
		f.Add(b)
	}
}

// compact is the answer with all spaces removed and upper-cased, for checks that
// must not depend on the parser's own tokenizing.
func compact(body []byte) string {
	return strings.ToUpper(strings.Join(strings.Fields(normalize(body)), ""))
}

func assertProviderError(t *testing.T, op string, err error) {
	t.Helper()
	pe, ok := errors.AsType[*watan.ProviderError](err)
	if !ok || pe.Op != op || pe.Kind == "" {
		t.Fatalf("err = %#v, want a *watan.ProviderError for %s", err, op)
	}
}

func FuzzParseCheck(f *testing.F) {
	seedFixtures(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := parseCheck(body)
		if err != nil {
			assertProviderError(t, opCheck, err)
			if res != (watan.CheckResult{}) {
				t.Fatalf("a failed parse returned %+v", res)
			}
			return
		}
		switch res.Outcome {
		case watan.CheckDelivered:
			// Delivery needs the provider's "completed" state, nothing less.
			if !strings.HasPrefix(compact(body), "OK|2|") {
				t.Fatalf("%q parsed as delivered", body)
			}
			if res.PIN != "" && (isPlaceholderPIN(res.PIN) || !strings.Contains(normalize(body), res.PIN)) {
				t.Fatalf("%q: PIN %q is not a code from the answer", body, res.PIN)
			}
		case watan.CheckNotFound:
			if !strings.HasPrefix(compact(body), "3|") {
				t.Fatalf("%q parsed as not found", body)
			}
		case watan.CheckPending, watan.CheckFailed, watan.CheckUnknown:
			if res.PIN != "" {
				t.Fatalf("%q: %s with PIN %q", body, res.Outcome, res.PIN)
			}
		default:
			t.Fatalf("%q: outcome %q", body, res.Outcome)
		}
	})
}

func FuzzParsePlace(f *testing.F) {
	seedFixtures(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := parsePlace(body)
		if err != nil {
			assertProviderError(t, opPlace, err)
			if res.Outcome != watan.PlaceUnknown {
				t.Fatalf("%q: a failed call is %s, want unknown", body, res.Outcome)
			}
			return
		}
		switch res.Outcome {
		case watan.PlaceAccepted:
			if !strings.HasPrefix(compact(body), "OK") {
				t.Fatalf("%q parsed as accepted", body)
			}
		case watan.PlaceRejected:
			if !strings.HasPrefix(compact(body), "3|") || res.Reason == "" {
				t.Fatalf("%q parsed as rejected (%s)", body, res.Reason)
			}
		case watan.PlaceUnknown:
		default: // znet never delivers at placement
			t.Fatalf("%q: outcome %q", body, res.Outcome)
		}
		if res.PIN != "" {
			t.Fatalf("%q: PIN at placement", body)
		}
	})
}

func FuzzParseCatalog(f *testing.F) {
	seedFixtures(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		ps, err := parseCatalog(body)
		if err != nil {
			assertProviderError(t, opCatalog, err)
			if ps != nil {
				t.Fatalf("a failed parse returned %d products", len(ps))
			}
			return
		}
		for _, p := range ps {
			if _, ok := p.Params[ParamKupur]; !ok {
				t.Fatalf("product %+v lacks kupur", p)
			}
		}
	})
}

func FuzzParseBalance(f *testing.F) {
	seedFixtures(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := parseBalance(body)
		if err != nil {
			assertProviderError(t, opBalance, err)
			return
		}
		if !isNumber(b.Amount) || !strings.HasPrefix(compact(body), "OK|") {
			t.Fatalf("%q parsed as balance %q", body, b.Amount)
		}
	})
}
