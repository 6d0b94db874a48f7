package znet_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"sync"
	"testing"

	"watan"
	"watan/internal/znet"
)

// recorder is an upstream that records each request and answers with a fixed body.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
	body string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, r.Clone(context.Background()))
	body := rec.body
	rec.mu.Unlock()
	_, _ = io.WriteString(w, body)
}

func (rec *recorder) requests() []*http.Request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.reqs)
}

func startRecorder(t *testing.T, body string) (*recorder, *httptest.Server) {
	t.Helper()
	rec := &recorder{body: body}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv
}

func newClient(t *testing.T, baseURL string) *znet.Client {
	t.Helper()
	c, err := znet.New(znet.Config{BaseURL: baseURL, Kod: "5551234567", Sifre: "p@ss&word="})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRequests asserts the exact request of every operation: method, path, every
// query parameter and every header, and nothing else.
func TestRequests(t *testing.T) {
	creds := url.Values{"kod": {"5551234567"}, "sifre": {"p@ss&word="}}
	with := func(kv ...string) url.Values {
		q := url.Values{}
		for k, v := range creds {
			q[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q
	}
	place := watan.PlaceRequest{
		Referans: "100000000004201", ProductID: "3", Params: map[string]string{"oyun": "1", "kupur": "60"},
		Quantity: 1, PlayerID: "5123456789", Extra: "05551112233",
	}
	tests := []struct {
		name  string
		body  string
		call  func(context.Context, *znet.Client) error
		path  string
		query url.Values
	}{
		{"balance", "OK|1.00", func(ctx context.Context, c *znet.Client) error { _, err := c.Balance(ctx); return err },
			"/servis/bakiye_kontrol.php", with()},
		{"catalog", `{"success":true,"result":[],"error":null}`, func(ctx context.Context, c *znet.Client) error { _, err := c.Catalog(ctx); return err },
			"/servis/pin_listesi.php", with()},
		{"place", "OK|7.30|992.70", func(ctx context.Context, c *znet.Client) error { _, err := c.Place(ctx, place); return err },
			"/servis/pin_ekle.php", with("oyun", "1", "kupur", "60", "referans", "100000000004201", "oyuncu_bilgi", "5123456789", "musteri_tel", "05551112233")},
		{"check", "OK|1| |İşlem bekleniyor", func(ctx context.Context, c *znet.Client) error {
			_, err := c.Check(ctx, []watan.CheckRef{{Referans: "100000000004201", ProviderOrderID: "ignored"}})
			return err
		}, "/servis/pin_kontrol.php", with("tahsilat_api_islem_id", "100000000004201")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, srv := startRecorder(t, tt.body)
			if err := tt.call(t.Context(), newClient(t, srv.URL)); err != nil {
				t.Fatal(err)
			}
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodGet || r.URL.Path != tt.path {
				t.Errorf("request = %s %s, want GET %s", r.Method, r.URL.Path, tt.path)
			}
			if got := r.URL.Query(); !reflect.DeepEqual(got, tt.query) {
				t.Errorf("query =\n%v\nwant\n%v", got, tt.query)
			}
			wantHeader := http.Header{"User-Agent": {"watan"}, "Accept-Encoding": {"gzip"}}
			if !reflect.DeepEqual(r.Header, wantHeader) {
				t.Errorf("headers = %v, want %v", r.Header, wantHeader)
			}
		})
	}
}

func TestBaseURLWithPath(t *testing.T) {
	rec, srv := startRecorder(t, "OK|1.00")
	if _, err := newClient(t, srv.URL+"/panel/").Balance(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := rec.requests()[0].URL.Path; got != "/panel/servis/bakiye_kontrol.php" {
		t.Errorf("path = %s", got)
	}
}

// TestCustomerFields is the production mapping of providers.md §1.3.
func TestCustomerFields(t *testing.T) {
	tests := []struct {
		player, extra, phone string
		oyuncuBilgi, tel     string
	}{
		{"123", "", "", "123", ""},
		{"123", "05551234567", "", "123", "05551234567"},
		{"123", "+905551234567", "", "123", "+905551234567"},
		{"123", "555123456", "", "123", "555123456"},                            // 9 digits
		{"123", "123456789012345", "", "123", "123456789012345"},                // 15 digits
		{"123", "12345678", "", "123 12345678", ""},                             // 8 digits: not a phone
		{"123", "1234567890123456", "", "123 1234567890123456", ""},             // 16 digits
		{"123", "555 123 45 67", "", "123 555 123 45 67", ""},                   // spaces: not a phone
		{"123", "EU", "", "123 EU", ""},                                         // a second input
		{"123", "05551234567", "05559999999", "123 05551234567", "05559999999"}, // explicit phone wins
		{"123", "EU", "05559999999", "123 EU", "05559999999"},
		{"  123 ", " EU ", "", "123 EU", ""},
	}
	for _, tt := range tests {
		rec, srv := startRecorder(t, "OK|1|2")
		_, err := newClient(t, srv.URL).Place(t.Context(), watan.PlaceRequest{
			Referans: "1", Params: map[string]string{"oyun": "1", "kupur": "60"},
			PlayerID: tt.player, Extra: tt.extra, Phone: tt.phone,
		})
		if err != nil {
			t.Fatal(err)
		}
		q := rec.requests()[0].URL.Query()
		if q.Get("oyuncu_bilgi") != tt.oyuncuBilgi || q.Get("musteri_tel") != tt.tel {
			t.Errorf("(%q, %q, %q): oyuncu_bilgi=%q musteri_tel=%q, want %q %q",
				tt.player, tt.extra, tt.phone, q.Get("oyuncu_bilgi"), q.Get("musteri_tel"), tt.oyuncuBilgi, tt.tel)
		}
	}
}

// TestPlaceRefusedBeforeSending covers requests the client must not send.
func TestPlaceRefusedBeforeSending(t *testing.T) {
	ok := map[string]string{"oyun": "1", "kupur": "60"}
	tests := []struct {
		name    string
		req     watan.PlaceRequest
		outcome watan.PlaceOutcome
		reason  watan.RejectReason
		kind    watan.FailureKind
	}{
		{"uuid referans", watan.PlaceRequest{Referans: "6f1c2a9e-0000-4000-8000-000000000000", Params: ok, PlayerID: "1"}, watan.PlaceUnknown, "", watan.FailInvalid},
		{"empty referans", watan.PlaceRequest{Params: ok, PlayerID: "1"}, watan.PlaceUnknown, "", watan.FailInvalid},
		{"no kupur", watan.PlaceRequest{Referans: "1", Params: map[string]string{"oyun": "1"}, PlayerID: "1"}, watan.PlaceRejected, watan.ReasonProductUnavailable, ""},
		{"no params", watan.PlaceRequest{Referans: "1", PlayerID: "1"}, watan.PlaceRejected, watan.ReasonProductUnavailable, ""},
		{"quantity", watan.PlaceRequest{Referans: "1", Params: ok, PlayerID: "1", Quantity: 2}, watan.PlaceRejected, watan.ReasonBadInput, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, srv := startRecorder(t, "OK|1|2")
			res, err := newClient(t, srv.URL).Place(t.Context(), tt.req)
			if res.Outcome != tt.outcome || res.Reason != tt.reason {
				t.Errorf("result = %+v, want %s %s", res, tt.outcome, tt.reason)
			}
			pe, isPE := errors.AsType[*watan.ProviderError](err)
			switch {
			case tt.kind == "" && err != nil:
				t.Errorf("err = %v", err)
			case tt.kind != "" && (!isPE || pe.Kind != tt.kind):
				t.Errorf("err = %v, want kind %s", err, tt.kind)
			}
			if n := len(rec.requests()); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []znet.Config{
		{BaseURL: "", Kod: "1", Sifre: "2"},
		{BaseURL: "bayi.example.com", Kod: "1", Sifre: "2"},
		{BaseURL: "ftp://bayi.example.com", Kod: "1", Sifre: "2"},
		{BaseURL: "http://bayi.example.com?kod=1", Kod: "1", Sifre: "2"},
		{BaseURL: "http://bayi.example.com", Kod: "", Sifre: "2"},
		{BaseURL: "http://bayi.example.com", Kod: "1", Sifre: ""},
	} {
		if _, err := znet.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// TestRedirectNotFollowed: a redirect would carry the password wherever it points.
func TestRedirectNotFollowed(t *testing.T) {
	var followed bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed = true }))
	defer target.Close()
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusFound)
	}))
	defer src.Close()
	_, err := newClient(t, src.URL).Balance(t.Context())
	if !watan.IsMisconfigured(err) || !errors.Is(err, znet.ErrHTTPStatus) {
		t.Errorf("err = %v, want misconfigured redirect", err)
	}
	if followed {
		t.Error("redirect followed")
	}
}

func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		status int
		kind   watan.FailureKind
	}{
		{http.StatusInternalServerError, watan.FailTransport},
		{http.StatusBadGateway, watan.FailTransport},
		{http.StatusTooManyRequests, watan.FailTransport},
		{http.StatusNotFound, watan.FailMisconfigured},
		{http.StatusForbidden, watan.FailMisconfigured},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tt.status)
			_, _ = io.WriteString(w, "OK|1|2") // the status wins over a body that looks fine
		}))
		res, err := newClient(t, srv.URL).Place(t.Context(), watan.PlaceRequest{Referans: "1", Params: map[string]string{"oyun": "1", "kupur": "1"}})
		srv.Close()
		pe, ok := errors.AsType[*watan.ProviderError](err)
		if !ok || pe.Kind != tt.kind || res.Outcome != watan.PlaceUnknown {
			t.Errorf("HTTP %d: %+v, %v; want unknown, %s", tt.status, res, err, tt.kind)
		}
	}
}
