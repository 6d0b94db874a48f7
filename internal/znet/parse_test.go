package znet

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
	misconfiguredEmpty = wantErr{watan.FailMisconfigured, ErrEmptyAnswer}
	misconfiguredHTML  = wantErr{watan.FailMisconfigured, ErrHTMLAnswer}
	refusedErr         = wantErr{watan.FailMisconfigured, ErrRefused}
	protocolErr        = wantErr{watan.FailProtocol, ErrUnexpected}
)

func TestParseBalance(t *testing.T) {
	tests := []struct {
		file string
		want watan.Balance
		err  wantErr
	}{
		{"balance_ok.txt", watan.Balance{Amount: "12755.23", Currency: "TRY"}, wantErr{}},
		{"empty.txt", watan.Balance{}, misconfiguredEmpty},
		{"html.html", watan.Balance{}, misconfiguredHTML},
		{"auth_8.txt", watan.Balance{}, refusedErr},
		{"place_rejected.txt", watan.Balance{}, protocolErr},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := parseBalance(fixture(t, tt.file))
			checkErr(t, opBalance, err, tt.err)
			if got != tt.want {
				t.Errorf("balance = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseCatalog(t *testing.T) {
	got, err := parseCatalog(fixture(t, "catalog_ok.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []watan.Product{
		{ID: "2", Name: "PUBG Mobile 325 UC", Description: "Oyun otomatik olarak yuklenir.325 UC", Price: "35.00", Category: "PUBG",
			Available: true, Params: map[string]string{"oyun": "1", "kupur": "325"}, QtyKind: "fixed", QtyMin: 1, QtyMax: 1},
		{ID: "3", Name: "PUBG Mobile 60 UC", Description: "PUBG Mobile 60 UC.", Price: "7.30", Category: "PUBG",
			Available: true, Params: map[string]string{"oyun": "1", "kupur": "60"}, QtyKind: "fixed", QtyMin: 1, QtyMax: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("catalog =\n%+v\nwant\n%+v", got, want)
	}

	failures := []struct {
		file string
		err  wantErr
	}{
		{"catalog_failure.json", refusedErr},
		{"empty.txt", misconfiguredEmpty},
		{"html.html", misconfiguredHTML},
		{"auth_8.txt", refusedErr}, // a non-JSON catalog is an authentication or IP problem
	}
	for _, tt := range failures {
		t.Run(tt.file, func(t *testing.T) {
			got, err := parseCatalog(fixture(t, tt.file))
			checkErr(t, opCatalog, err, tt.err)
			if got != nil {
				t.Errorf("products = %+v, want none", got)
			}
		})
	}
	if _, err := parseCatalog([]byte(`{"success":true,"result":{"id":"2"}`)); !errors.Is(err, ErrUnexpected) {
		t.Errorf("truncated JSON: err = %v, want ErrUnexpected", err)
	}
	if got, err := parseCatalog([]byte(`{"success":"1","result":[{"id":7,"fiyat":7.3,"kupur":60,"oyun_bilgi_id":1}]}`)); err != nil ||
		got[0].ID != "7" || got[0].Price != "7.3" || got[0].Params["kupur"] != "60" || got[0].Params["oyun"] != "1" {
		t.Errorf("numbers instead of strings: %+v, %v", got, err)
	}
}

func TestParsePlace(t *testing.T) {
	unknown := watan.PlaceResult{Outcome: watan.PlaceUnknown}
	accepted := watan.PlaceResult{Outcome: watan.PlaceAccepted, Cost: "10.12", Balance: "980.88"}
	kupur := watan.PlaceResult{Outcome: watan.PlaceRejected, Reason: watan.ReasonProductUnavailable, Message: "Kupur Bilgisi Bulunamadı"}
	tests := []struct {
		file string
		want watan.PlaceResult
		err  wantErr
	}{
		{"place_accepted.txt", accepted, wantErr{}},
		{"place_accepted_spaces.txt", accepted, wantErr{}},
		{"place_rejected.txt", watan.PlaceResult{Outcome: watan.PlaceRejected, Reason: watan.ReasonOther, Message: "Açıklama"}, wantErr{}},
		{"place_kupur_not_found.txt", kupur, wantErr{}},
		{"place_kupur_not_found_cp1254.txt", kupur, wantErr{}},
		{"place_no_balance.txt", watan.PlaceResult{Outcome: watan.PlaceRejected, Reason: watan.ReasonOutOfBalance, Message: "Yetersiz Bakiye"}, wantErr{}},
		{"place_8_connection_or_balance.txt", watan.PlaceResult{Outcome: watan.PlaceUnknown, Message: "Bağlantı hatası veya yetersiz bakiye"}, refusedErr},
		{"auth_8.txt", watan.PlaceResult{Outcome: watan.PlaceUnknown, Message: "Bağlantı Hatası,Kullanıcı Api Yetki, Kısıtlı Ip yada Kullanıcı Bilgileri Hatalı"}, refusedErr},
		{"place_already_sent_4.txt", watan.PlaceResult{Outcome: watan.PlaceUnknown, Message: "Daha Önce Gönderilmiş (166189)"}, wantErr{}},
		{"place_already_sent_8.txt", watan.PlaceResult{Outcome: watan.PlaceUnknown, Message: "Bu İşlem Daha Önce Gönderildi"}, wantErr{}},
		{"empty.txt", unknown, misconfiguredEmpty},
		{"html.html", unknown, misconfiguredHTML},
		{"html_lower.html", unknown, misconfiguredHTML},
		{"php_warning.txt", unknown, misconfiguredHTML},
		{"catalog_ok.json", unknown, protocolErr},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := parsePlace(fixture(t, tt.file))
			checkErr(t, opPlace, err, tt.err)
			if got != tt.want {
				t.Errorf("result = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRejectReason(t *testing.T) {
	tests := []struct {
		text string
		want watan.RejectReason
	}{
		{"Kupur Bilgisi Bulunamadı", watan.ReasonProductUnavailable},
		{"KUPUR BİLGİSİ BULUNAMADI", watan.ReasonProductUnavailable},
		{"Ürün bulunamadı", watan.ReasonProductUnavailable},
		{"Yetersiz stok", watan.ReasonProductUnavailable},
		{"Bakiyeniz yetersiz", watan.ReasonOutOfBalance},
		{"Insufficient balance", watan.ReasonOutOfBalance},
		{"Oyuncu bilgisi hatalı", watan.ReasonBadInput},
		{"Açıklama", watan.ReasonOther},
	}
	for _, tt := range tests {
		if got := rejectReason(fold(tt.text)); got != tt.want {
			t.Errorf("rejectReason(%q) = %s, want %s", tt.text, got, tt.want)
		}
	}
}

func TestParseCheck(t *testing.T) {
	tests := []struct {
		file string
		want watan.CheckResult
		err  wantErr
	}{
		{"check_pending.txt", watan.CheckResult{Outcome: watan.CheckPending, Message: "İşlem bekleniyor"}, wantErr{}},
		{"check_pending_dash.txt", watan.CheckResult{Outcome: watan.CheckPending, Message: "İşlem bekleniyor"}, wantErr{}},
		{"check_delivered.txt", watan.CheckResult{Outcome: watan.CheckDelivered, PIN: "AB12-CD34-EF56-GH78", Message: "İşlem tamamlandı"}, wantErr{}},
		{"check_delivered_bom_crlf.txt", watan.CheckResult{Outcome: watan.CheckDelivered, PIN: "AB12-CD34-EF56-GH78", Message: "İşlem tamamlandı"}, wantErr{}},
		// State 2 is delivery; the placeholder is not a PIN (a top-up has none).
		{"check_delivered_no_pin.txt", watan.CheckResult{Outcome: watan.CheckDelivered, Message: "İşlem tamamlandı"}, wantErr{}},
		{"check_cancelled.txt", watan.CheckResult{Outcome: watan.CheckFailed, Message: "İşlem iptal edildi"}, wantErr{}},
		{"check_error.txt", watan.CheckResult{Outcome: watan.CheckUnknown, Message: "Açıklama"}, wantErr{}},
		{"check_not_found.txt", watan.CheckResult{Outcome: watan.CheckNotFound, Message: "İşlem Bulunamadı"}, wantErr{}},
		// Not about the order: must not let the engine place again.
		{"check_user_not_found.txt", watan.CheckResult{Outcome: watan.CheckUnknown, Message: "Kullanıcı bulunamadı"}, wantErr{}},
		{"auth_8.txt", watan.CheckResult{}, refusedErr},
		{"empty.txt", watan.CheckResult{}, misconfiguredEmpty},
		{"html.html", watan.CheckResult{}, misconfiguredHTML},
		{"balance_ok.txt", watan.CheckResult{}, protocolErr},
		{"catalog_ok.json", watan.CheckResult{}, protocolErr},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := parseCheck(fixture(t, tt.file))
			checkErr(t, opCheck, err, tt.err)
			if got != tt.want {
				t.Errorf("result = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestNoFixtureDeliversByAccident runs every parser on every fixture: only the
// delivered fixtures may come out delivered, and only from the check parser.
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
		if r, _ := parsePlace(body); r.Outcome == watan.PlaceDelivered {
			t.Errorf("%s: place parsed as delivered", f.Name())
		}
		r, _ := parseCheck(body)
		if delivered := r.Outcome == watan.CheckDelivered; delivered != strings.HasPrefix(f.Name(), "check_delivered") {
			t.Errorf("%s: check outcome %s", f.Name(), r.Outcome)
		}
	}
}

func TestPlaceholderPIN(t *testing.T) {
	for _, pin := range []string{"", " ", " - ", "-", "--", "—", "null", "NULL", "yok"} {
		if !isPlaceholderPIN(pin) {
			t.Errorf("isPlaceholderPIN(%q) = false", pin)
		}
	}
	for _, pin := range []string{"AB12-CD34", "0", "123456", "X"} {
		if isPlaceholderPIN(pin) {
			t.Errorf("isPlaceholderPIN(%q) = true", pin)
		}
	}
}
