package barakat

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"watan"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantErr describes an expected *watan.ProviderError; the zero value means none.
type wantErr struct {
	kind watan.FailureKind
	is   error
}

func checkErr(t *testing.T, op string, err error, want wantErr) {
	t.Helper()
	if want.kind == "" {
		if err != nil {
			t.Fatalf("err = %v, want none", err)
		}
		return
	}
	pe, ok := errors.AsType[*watan.ProviderError](err)
	if !ok {
		t.Fatalf("err = %v (%T), want a *watan.ProviderError", err, err)
	}
	if pe.Kind != want.kind || pe.Op != op {
		t.Errorf("err kind/op = %s/%s, want %s/%s (%v)", pe.Kind, pe.Op, want.kind, op, err)
	}
	if want.is != nil && !errors.Is(err, want.is) {
		t.Errorf("err = %v, want it to wrap %v", err, want.is)
	}
}

var (
	unauthorizedErr = wantErr{watan.FailMisconfigured, ErrUnauthorized}
	htmlErr         = wantErr{watan.FailMisconfigured, ErrHTMLAnswer}
	emptyErr        = wantErr{watan.FailProtocol, ErrEmptyAnswer}
	serverErr       = wantErr{watan.FailTransport, ErrHTTPStatus}
	wrongURLErr     = wantErr{watan.FailMisconfigured, ErrHTTPStatus}
	protocolErr     = wantErr{watan.FailProtocol, ErrUnexpected}
	refusedErr      = wantErr{watan.FailProtocol, ErrRefused}
)

func TestParseProfile(t *testing.T) {
	tests := []struct {
		file   string
		status int
		want   watan.Balance
		err    wantErr
	}{
		{"profile.json", 200, watan.Balance{Amount: "43.55", Currency: "TRY"}, wantErr{}},
		{"unauthorized.json", 401, watan.Balance{}, unauthorizedErr},
		{"invalid_token.json", 200, watan.Balance{}, unauthorizedErr},
		{"html.html", 200, watan.Balance{}, htmlErr},
		{"html.html", 403, watan.Balance{}, unauthorizedErr},
		{"empty.txt", 200, watan.Balance{}, emptyErr},
		{"empty.txt", 502, watan.Balance{}, serverErr},
		{"empty.txt", 404, watan.Balance{}, wrongURLErr},
		{"check_error.json", 200, watan.Balance{}, refusedErr},
		{"check.json", 200, watan.Balance{}, protocolErr},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := parseProfile(tt.status, fixture(t, tt.file))
			checkErr(t, opBalance, err, tt.err)
			if got != tt.want {
				t.Errorf("balance = %+v, want %+v", got, tt.want)
			}
		})
	}
	if got, err := parseProfile(200, []byte(`{"status":"OK","data":{"balance":12.5,"currency":"USD"}}`)); err != nil ||
		got != (watan.Balance{Amount: "12.5", Currency: "USD"}) {
		t.Errorf("wrapped profile: %+v, %v", got, err)
	}
}

func TestParseProducts(t *testing.T) {
	tests := []struct {
		file string
		want watan.Product
	}{
		{"products.json", watan.Product{ID: "12345", Name: "PUBG Mobile 60 UC", Price: "45.50", Category: "PUBG Mobile", Available: true,
			Params: map[string]string{ParamPlayer: "uid", ParamExtra: "server"}, Inputs: []string{"uid", "server"},
			QtyKind: "fixed", QtyMin: 1, QtyMax: 1}},
		{"products_qty_range.json", watan.Product{ID: "12346", Name: "Free Fire Diamonds", Price: "0.10", Category: "Free Fire", Available: true,
			Params: map[string]string{ParamPlayer: "uid"}, Inputs: []string{"uid"}, QtyKind: "range", QtyMin: 1, QtyMax: 100}},
		{"products_qty_set.json", watan.Product{ID: "12347", Name: "Google Play Gift Card", Price: "1.00", Category: "Gift Cards", Available: false,
			Params: map[string]string{ParamPlayer: ""}, Inputs: []string{}, QtyKind: "set", QtyValues: []string{"10", "20", "50"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := parseProducts(200, fixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if want := []watan.Product{tt.want}; !reflect.DeepEqual(got, want) {
				t.Errorf("products =\n%#v\nwant\n%#v", got, want)
			}
		})
	}
	for _, tt := range []struct {
		file   string
		status int
		err    wantErr
	}{
		{"unauthorized.json", 401, unauthorizedErr},
		{"html.html", 200, htmlErr},
		{"profile.json", 200, protocolErr},
		{"check_null_data.json", 200, protocolErr},
	} {
		if _, err := parseProducts(tt.status, fixture(t, tt.file)); err == nil {
			t.Errorf("%s: no error", tt.file)
		} else {
			checkErr(t, opCatalog, err, tt.err)
		}
	}
	got, err := parseProducts(200, []byte(`{"status":"OK","data":[{"id":5,"name":"X","price":1,"available":"1","params":"playerId","qty_values":{"min":"2","max":"9"}}]}`))
	if err != nil || got[0].ID != "5" || got[0].Params[ParamPlayer] != "playerId" || got[0].QtyMin != 2 || got[0].QtyMax != 9 || !got[0].Available {
		t.Errorf("numbers and strings mixed: %+v, %v", got, err)
	}
}

func TestParsePlace(t *testing.T) {
	unknown := watan.PlaceResult{Outcome: watan.PlaceUnknown}
	tests := []struct {
		file   string
		status int
		want   watan.PlaceResult
		err    wantErr
	}{
		{"place_wait.json", 200, watan.PlaceResult{Outcome: watan.PlaceAccepted, ProviderOrderID: "67890", Cost: "45.50", Message: "..."}, wantErr{}},
		{"place_success.json", 200, watan.PlaceResult{Outcome: watan.PlaceDelivered, ProviderOrderID: "67890", PIN: "ABC123XYZ789", Cost: "45.50", Message: "..."}, wantErr{}},
		{"place_error_balance.json", 200, watan.PlaceResult{Outcome: watan.PlaceRejected, Reason: watan.ReasonOutOfBalance, Message: "Insufficient balance; ..."}, wantErr{}},
		{"place_error_balance.json", 422, watan.PlaceResult{Outcome: watan.PlaceRejected, Reason: watan.ReasonOutOfBalance, Message: "Insufficient balance; ..."}, wantErr{}},
		{"place_error_bakiye.json", 200, watan.PlaceResult{Outcome: watan.PlaceRejected, Reason: watan.ReasonOutOfBalance, Message: "Bakiye yetersiz"}, wantErr{}},
		{"place_error_product.json", 200, watan.PlaceResult{Outcome: watan.PlaceRejected, Reason: watan.ReasonProductUnavailable, Message: "Product not found"}, wantErr{}},
		{"place_error_product.json", 404, watan.PlaceResult{Outcome: watan.PlaceRejected, Reason: watan.ReasonProductUnavailable, Message: "Product not found"}, wantErr{}},
		{"place_duplicate_uuid.json", 200, watan.PlaceResult{Outcome: watan.PlaceUnknown, Message: "The order uuid has already been taken."}, wantErr{}},
		{"place_rejected.json", 200, watan.PlaceResult{Outcome: watan.PlaceRejected, Reason: watan.ReasonBadInput, ProviderOrderID: "67890", Cost: "45.5", Message: "Player id is wrong"}, wantErr{}},
		{"place_top_level_wait.json", 200, watan.PlaceResult{Outcome: watan.PlaceAccepted, ProviderOrderID: "67890", Cost: "45.50"}, wantErr{}},
		{"place_success_voucher.json", 200, watan.PlaceResult{Outcome: watan.PlaceDelivered, ProviderOrderID: "67890", PIN: "VCH-1", Cost: "45.50", Message: "done"}, wantErr{}},
		{"place_unknown_status.json", 200, watan.PlaceResult{Outcome: watan.PlaceAccepted, ProviderOrderID: "67890", Cost: "45.50"}, wantErr{}},
		{"unauthorized.json", 401, unknown, unauthorizedErr},
		{"invalid_token.json", 200, unknown, unauthorizedErr},
		{"html.html", 200, unknown, htmlErr},
		{"empty.txt", 200, unknown, emptyErr},
		{"place_wait.json", 500, unknown, serverErr}, // the status wins over a body
		{"empty.txt", 404, unknown, wrongURLErr},
		{"profile.json", 200, unknown, protocolErr},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := parsePlace(tt.status, fixture(t, tt.file))
			checkErr(t, opPlace, err, tt.err)
			if got.PlaceResult != tt.want {
				t.Errorf("result = %+v, want %+v", got.PlaceResult, tt.want)
			}
		})
	}
	if a, _ := parsePlace(200, fixture(t, "place_unknown_status.json")); a.rawStatus != "on_hold" {
		t.Errorf("rawStatus = %q, want the word to warn about", a.rawStatus)
	}
	// Laravel's 404 for a route it does not have: the URL, not the product, is wrong.
	if _, err := parsePlace(404, []byte(`{"message":"Not Found"}`)); !watan.IsMisconfigured(err) {
		t.Errorf("route 404: err = %v, want misconfigured", err)
	}
}

func TestStatusVocabulary(t *testing.T) {
	want := map[state][]string{
		stateDelivered:    {"success", "ok", "done", "complete", "completed", "accept", "SUCCESS", " Completed "},
		stateFailed:       {"reject", "rejected", "failed", "fail", "error", "cancelled", "canceled", "Canceled"},
		statePending:      {"wait", "pending", "processing", "inprogress", "queued", "queue", "accepted", "in_progress", "In Progress"},
		stateUnrecognized: {"", "on_hold", "successful", "acceptance", "refunded"},
	}
	for st, words := range want {
		for _, w := range words {
			if got := classify(w); got != st {
				t.Errorf("classify(%q) = %d, want %d", w, got, st)
			}
		}
	}
}

func TestParseCheck(t *testing.T) {
	got, err := parseCheck(200, fixture(t, "check.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []checkItem{
		{orderID: "67890", outcome: watan.CheckDelivered, pin: "ABC123XYZ789", message: "Order completed"},
		{orderID: "67891", outcome: watan.CheckPending, message: "Processing..."},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("items =\n%+v\nwant\n%+v", got, want)
	}

	got, err = parseCheck(200, fixture(t, "check_variants.json"))
	if err != nil {
		t.Fatal(err)
	}
	want = []checkItem{
		{orderID: "1", outcome: watan.CheckDelivered, pin: "C-1", message: "from replay"},
		{orderID: "2", outcome: watan.CheckDelivered, pin: "S-2"},
		{orderID: "3", outcome: watan.CheckFailed, message: "no stock"},
		{orderID: "4", outcome: watan.CheckPending},
		{orderID: "5", outcome: watan.CheckPending},
		{orderID: "6", outcome: watan.CheckPending, rawStatus: "mystery"},
		{orderID: "7", outcome: watan.CheckDelivered, message: "topped up"}, // a placeholder is not a PIN
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("items =\n%+v\nwant\n%+v", got, want)
	}

	if got, err := parseCheck(200, fixture(t, "check_empty_bom.json")); err != nil || len(got) != 0 {
		t.Errorf("empty list: %+v, %v", got, err)
	}
	for _, tt := range []struct {
		file   string
		status int
		err    wantErr
	}{
		{"check_null_data.json", 200, protocolErr}, // no data must not mean "none of them exist"
		{"check_error.json", 200, refusedErr},
		{"unauthorized.json", 401, unauthorizedErr},
		{"invalid_token.json", 200, unauthorizedErr},
		{"html.html", 200, htmlErr},
		{"empty.txt", 200, emptyErr},
		{"empty.txt", 503, serverErr},
		{"place_wait.json", 200, protocolErr},
	} {
		t.Run(tt.file, func(t *testing.T) {
			got, err := parseCheck(tt.status, fixture(t, tt.file))
			checkErr(t, opCheck, err, tt.err)
			if got != nil {
				t.Errorf("items = %+v, want none", got)
			}
		})
	}
}

func TestRejectReason(t *testing.T) {
	tests := []struct {
		text string
		want watan.RejectReason
	}{
		{"Insufficient balance", watan.ReasonOutOfBalance},
		{"Your balance is not enough", watan.ReasonOutOfBalance},
		{"Yetersiz bakiye", watan.ReasonOutOfBalance},
		{"Not enough stock", watan.ReasonProductUnavailable},
		{"Product is not available", watan.ReasonProductUnavailable},
		{"The uid field is required.", watan.ReasonBadInput},
		{"Something went wrong", watan.ReasonOther},
	}
	for _, tt := range tests {
		if got := rejectReason(fold(tt.text)); got != tt.want {
			t.Errorf("rejectReason(%q) = %s, want %s", tt.text, got, tt.want)
		}
	}
}

// TestNoFixtureDeliversByAccident runs the parsers on every fixture: only the
// fixtures with a delivered order may come out delivered.
func TestNoFixtureDeliversByAccident(t *testing.T) {
	files, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.IsDir() {
			continue // the fuzzers' corpus
		}
		body := fixture(t, f.Name())
		delivers := strings.HasPrefix(f.Name(), "place_success")
		if a, _ := parsePlace(200, body); (a.Outcome == watan.PlaceDelivered) != delivers {
			t.Errorf("%s: place outcome %s", f.Name(), a.Outcome)
		}
		items, _ := parseCheck(200, body)
		for _, it := range items {
			if it.outcome == watan.CheckDelivered && f.Name() != "check.json" && f.Name() != "check_variants.json" {
				t.Errorf("%s: check delivered %+v", f.Name(), it)
			}
		}
	}
}
