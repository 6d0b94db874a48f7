package barakat_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"watan"
	"watan/internal/barakat"
)

const token = "tok-3f9a1c"

// recorder is an upstream that records each request and answers with a body
// computed from it.
type recorder struct {
	mu     sync.Mutex
	reqs   []*http.Request
	answer func(*http.Request) string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, r.Clone(context.Background()))
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, rec.answer(r))
}

func (rec *recorder) requests() []*http.Request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.reqs)
}

func startRecorder(t *testing.T, answer func(*http.Request) string) (*recorder, *barakat.Client) {
	t.Helper()
	rec := &recorder{answer: answer}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, newClient(t, srv.URL)
}

func fixed(body string) func(*http.Request) string { return func(*http.Request) string { return body } }

func newClient(t *testing.T, baseURL string) *barakat.Client {
	t.Helper()
	c, err := barakat.New(barakat.Config{BaseURL: baseURL, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRequests asserts the exact request of every operation: method, path, every
// query parameter and every header, and nothing else.
func TestRequests(t *testing.T) {
	place := watan.PlaceRequest{
		Referans: "100000000004201", ProductID: "12345",
		Params:   map[string]string{barakat.ParamPlayer: "uid", barakat.ParamExtra: "server", "region": "tr"},
		Quantity: 2, PlayerID: " 5123456789 ", Extra: "europe", Phone: "05551112233",
	}
	tests := []struct {
		name  string
		body  string
		call  func(context.Context, *barakat.Client) error
		path  string
		query url.Values
	}{
		{"profile", `{"balance":"1.00"}`, func(ctx context.Context, c *barakat.Client) error { _, err := c.Balance(ctx); return err },
			"/client/api/profile", url.Values{}},
		{"products", `[]`, func(ctx context.Context, c *barakat.Client) error { _, err := c.Catalog(ctx); return err },
			"/client/api/products", url.Values{}},
		{"newOrder", `{"status":"OK","data":{"order_id":"1","status":"wait"}}`,
			func(ctx context.Context, c *barakat.Client) error { _, err := c.Place(ctx, place); return err },
			"/client/api/newOrder/12345/params",
			url.Values{"qty": {"2"}, "order_uuid": {"100000000004201"}, "uid": {"5123456789"}, "server": {"europe"}, "region": {"tr"}}},
		{"check by id", `{"status":"OK","data":[]}`, func(ctx context.Context, c *barakat.Client) error {
			_, err := c.Check(ctx, []watan.CheckRef{{Referans: "1", ProviderOrderID: "67890"}, {Referans: "2", ProviderOrderID: "67891"}})
			return err
		}, "/client/api/check", url.Values{"orders": {"[67890,67891]"}}},
		{"check by uuid", `{"status":"OK","data":[]}`, func(ctx context.Context, c *barakat.Client) error {
			_, err := c.Check(ctx, []watan.CheckRef{{Referans: "100000000004201"}})
			return err
		}, "/client/api/check", url.Values{"orders": {`["100000000004201"]`}, "uuid": {"1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, c := startRecorder(t, fixed(tt.body))
			if err := tt.call(t.Context(), c); err != nil {
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
			wantHeader := http.Header{"Api-Token": {token}, "Accept": {"application/json"}, "User-Agent": {"watan"}, "Accept-Encoding": {"gzip"}}
			if !reflect.DeepEqual(r.Header, wantHeader) {
				t.Errorf("headers = %v, want %v", r.Header, wantHeader)
			}
		})
	}
}

// TestHeaderOnTheWire reads the raw request: the token header goes out spelled as
// the protocol spells it, and the orders array is URL-encoded.
func TestHeaderOnTheWire(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	head := make(chan string, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		var sb strings.Builder
		br := bufio.NewReader(conn)
		for {
			line, err := br.ReadString('\n')
			sb.WriteString(line)
			if err != nil || line == "\r\n" {
				break
			}
		}
		head <- sb.String()
		body := `{"status":"OK","data":[]}`
		_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 25\r\nConnection: close\r\n\r\n"+body)
	}()
	c := newClient(t, "http://"+l.Addr().String())
	if _, err := c.Check(t.Context(), []watan.CheckRef{{ProviderOrderID: "67890"}, {ProviderOrderID: "67891"}}); err != nil {
		t.Fatal(err)
	}
	got := <-head
	if !strings.HasPrefix(got, "GET /client/api/check?orders=%5B67890%2C67891%5D HTTP/1.1\r\n") {
		t.Errorf("request line: %q", got)
	}
	if !strings.Contains(got, "\r\napi-token: "+token+"\r\n") {
		t.Errorf("no lower-case api-token header in %q", got)
	}
}

// TestCheckBatches: more than MaxBatch references take several requests, and a
// list mixing known provider ids with bare references takes one of each kind.
func TestCheckBatches(t *testing.T) {
	rec, c := startRecorder(t, func(r *http.Request) string {
		// Answer every id asked, as pending, labelled the way it was asked.
		var ids []any
		_ = jsonUnmarshal(r.URL.Query().Get("orders"), &ids)
		var items []string
		for _, id := range ids {
			s := jsonString(id)
			if r.URL.Query().Get("uuid") == "1" {
				items = append(items, `{"order_id":"p`+s+`","order_uuid":"`+s+`","status":"wait"}`)
			} else if s != "missing" && s != "250" {
				items = append(items, `{"order_id":"`+s+`","status":"success","pin":"PIN-`+s+`"}`)
			}
		}
		return `{"status":"OK","data":[` + strings.Join(items, ",") + `]}`
	})
	var refs []watan.CheckRef
	for i := range 250 {
		refs = append(refs, watan.CheckRef{Referans: "r" + itoa(i), ProviderOrderID: itoa(i + 1)})
	}
	refs = append(refs, watan.CheckRef{Referans: "u1"}, watan.CheckRef{Referans: "u2"}, watan.CheckRef{Referans: "x", ProviderOrderID: "missing"})
	results, err := c.Check(t.Context(), refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(refs) {
		t.Fatalf("%d results for %d refs", len(results), len(refs))
	}
	for i, r := range results {
		if r.Ref != refs[i] {
			t.Fatalf("result %d is for %+v, want %+v", i, r.Ref, refs[i])
		}
	}
	if r := results[0]; r.Outcome != watan.CheckDelivered || r.PIN != "PIN-1" || r.ProviderOrderID != "1" {
		t.Errorf("first = %+v", r)
	}
	if r := results[249]; r.Outcome != watan.CheckNotFound || r.ProviderOrderID != "250" {
		t.Errorf("absent id = %+v, want not found", r)
	}
	if r := results[250]; r.Outcome != watan.CheckPending || r.ProviderOrderID != "pu1" {
		t.Errorf("by uuid = %+v, want pending with the provider's id", r)
	}
	if r := results[252]; r.Outcome != watan.CheckNotFound {
		t.Errorf("missing = %+v", r)
	}
	var sizes []int
	var byUUID int
	for _, r := range rec.requests() {
		var ids []any
		if err := jsonUnmarshal(r.URL.Query().Get("orders"), &ids); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(ids))
		if r.URL.Query().Get("uuid") == "1" {
			byUUID++
		}
	}
	if want := []int{100, 100, 51, 2}; !reflect.DeepEqual(sizes, want) || byUUID != 1 {
		t.Errorf("batch sizes = %v (%d by uuid), want %v (1 by uuid)", sizes, byUUID, want)
	}
}

// TestCheckByUUIDWithoutEcho: a store that does not say which order_uuid each item
// is for is asked again one reference at a time, and never taken to mean "absent".
func TestCheckByUUIDWithoutEcho(t *testing.T) {
	rec, c := startRecorder(t, func(r *http.Request) string {
		var ids []string
		_ = jsonUnmarshal(r.URL.Query().Get("orders"), &ids)
		var items []string
		for _, id := range ids {
			if id != "gone" {
				items = append(items, `{"order_id":"p-`+id+`","status":"wait"}`)
			}
		}
		return `{"status":"OK","data":[` + strings.Join(items, ",") + `]}`
	})
	results, err := c.Check(t.Context(), []watan.CheckRef{{Referans: "a"}, {Referans: "gone"}, {Referans: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		outcome watan.CheckOutcome
		id      string
	}{{watan.CheckPending, "p-a"}, {watan.CheckNotFound, ""}, {watan.CheckPending, "p-b"}}
	for i, r := range results {
		if r.Outcome != want[i].outcome || r.ProviderOrderID != want[i].id {
			t.Errorf("result %d = %+v, want %+v", i, r, want[i])
		}
	}
	if n := len(rec.requests()); n != 4 {
		t.Errorf("%d requests, want 1 batch + 3 single", n)
	}
}

func TestPlaceParams(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		extra  string
		want   url.Values
	}{
		{"default uid", nil, "", url.Values{"uid": {"P"}}},
		{"named player param", map[string]string{barakat.ParamPlayer: "playerId"}, "", url.Values{"playerId": {"P"}}},
		{"no player param", map[string]string{barakat.ParamPlayer: ""}, "", url.Values{}},
		{"extra without a param is not sent", nil, "E", url.Values{"uid": {"P"}}},
		{"extra", map[string]string{barakat.ParamExtra: "zone"}, "E", url.Values{"uid": {"P"}, "zone": {"E"}}},
		{"fixed params", map[string]string{"server": "eu", "type": "x"}, "", url.Values{"uid": {"P"}, "server": {"eu"}, "type": {"x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, c := startRecorder(t, fixed(`{"status":"OK","data":{"order_id":"1","status":"wait"}}`))
			if _, err := c.Place(t.Context(), watan.PlaceRequest{Referans: "9", ProductID: "a/b c", Params: tt.params, PlayerID: "P", Extra: tt.extra}); err != nil {
				t.Fatal(err)
			}
			r := rec.requests()[0]
			if r.URL.EscapedPath() != "/client/api/newOrder/a%2Fb%20c/params" {
				t.Errorf("path = %s", r.URL.EscapedPath())
			}
			q := r.URL.Query()
			if q.Get("qty") != "1" || q.Get("order_uuid") != "9" {
				t.Errorf("qty/order_uuid = %v", q)
			}
			q.Del("qty")
			q.Del("order_uuid")
			if !reflect.DeepEqual(q, tt.want) {
				t.Errorf("params = %v, want %v", q, tt.want)
			}
		})
	}
}

func TestPlaceRefusedBeforeSending(t *testing.T) {
	tests := []struct {
		name    string
		req     watan.PlaceRequest
		outcome watan.PlaceOutcome
		kind    watan.FailureKind
	}{
		{"no referans", watan.PlaceRequest{ProductID: "1", PlayerID: "P"}, watan.PlaceUnknown, watan.FailInvalid},
		{"no product", watan.PlaceRequest{Referans: "1", PlayerID: "P"}, watan.PlaceRejected, ""},
		{"dot-dot product", watan.PlaceRequest{Referans: "1", ProductID: "..", PlayerID: "P"}, watan.PlaceRejected, ""},
		{"mapping sets qty", watan.PlaceRequest{Referans: "1", ProductID: "1", Params: map[string]string{"qty": "5"}}, watan.PlaceRejected, ""},
		{"mapping fixes the player", watan.PlaceRequest{Referans: "1", ProductID: "1", Params: map[string]string{"uid": "x"}}, watan.PlaceRejected, ""},
		{"negative quantity", watan.PlaceRequest{Referans: "1", ProductID: "1", Quantity: -1}, watan.PlaceRejected, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, c := startRecorder(t, fixed(`{}`))
			res, err := c.Place(t.Context(), tt.req)
			if res.Outcome != tt.outcome {
				t.Errorf("outcome = %s, want %s", res.Outcome, tt.outcome)
			}
			if pe, ok := errors.AsType[*watan.ProviderError](err); tt.kind != "" && (!ok || pe.Kind != tt.kind) || tt.kind == "" && err != nil {
				t.Errorf("err = %v, want kind %q", err, tt.kind)
			}
			if n := len(rec.requests()); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}

func TestNew(t *testing.T) {
	c, err := barakat.New(barakat.Config{Token: "x"})
	if err != nil || c == nil {
		t.Fatalf("default base URL: %v", err)
	}
	for _, cfg := range []barakat.Config{
		{BaseURL: "api.x-stor.net", Token: "x"},
		{BaseURL: "https://api.x-stor.net?a=1", Token: "x"},
		{BaseURL: "https://api.x-stor.net", Token: " "},
	} {
		if _, err := barakat.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	caps := c.Capabilities()
	if !caps.BatchCheck || caps.MaxBatch != 100 || !caps.PINAtPlacement || !caps.CheckByReferans {
		t.Errorf("capabilities = %+v", caps)
	}
}

// TestRedirectNotFollowed: net/http would forward the api-token to the target.
func TestRedirectNotFollowed(t *testing.T) {
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Store(true) }))
	defer target.Close()
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusMovedPermanently)
	}))
	defer src.Close()
	_, err := newClient(t, src.URL).Balance(t.Context())
	if !watan.IsMisconfigured(err) || !errors.Is(err, barakat.ErrHTTPStatus) {
		t.Errorf("err = %v, want misconfigured redirect", err)
	}
	if followed.Load() {
		t.Error("redirect followed")
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// jsonString renders an id decoded from the orders array: a string, or a number.
func jsonString(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func itoa(i int) string { return strconv.Itoa(i) }
