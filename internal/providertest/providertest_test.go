package providertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"watan/internal/providertest"
)

// noRetry is a client that opens a connection per request, so that net/http never
// re-sends a request whose connection dropped: each fault shows as it is.
func noRetry(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
}

type answer struct {
	status int
	body   string
	err    error
}

func get(t *testing.T, c *http.Client, u string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header[header[i]] = []string{header[i+1]}
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: string(b), err: err}
}

func znetURL(z *providertest.Znet, endpoint string, kv ...string) string {
	q := url.Values{"kod": {providertest.DefaultZnetKod}, "sifre": {providertest.DefaultZnetSifre}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return z.URL() + "/servis/" + endpoint + "?" + q.Encode()
}

func placeURL(z *providertest.Znet, ref string) string {
	return znetURL(z, "pin_ekle.php", "oyun", "1", "kupur", "60", "referans", ref, "oyuncu_bilgi", "42", "musteri_tel", "")
}

func TestZnetProtocol(t *testing.T) {
	z := providertest.StartZnet(t, providertest.ZnetOptions{})
	c := noRetry(0)
	tests := []struct {
		url  string
		want string
	}{
		{znetURL(z, "bakiye_kontrol.php"), "OK|10000.00"},
		{placeURL(z, "1001"), "OK|7.30|9992.70"},
		{placeURL(z, "1001"), "4|Daha Önce Gönderilmiş (166189)"},
		{znetURL(z, "pin_kontrol.php", "tahsilat_api_islem_id", "1002"), "3|İşlem Bulunamadı"},
		{znetURL(z, "pin_ekle.php", "oyun", "1", "kupur", "61", "referans", "1003", "oyuncu_bilgi", "42"), "3|Kupur Bilgisi Bulunamadı"},
		{znetURL(z, "pin_ekle.php", "oyun", "1", "kupur", "60", "referans", "abc", "oyuncu_bilgi", "42"), "3|Referans Bilgisi Hatalı"},
		{strings.Replace(znetURL(z, "bakiye_kontrol.php"), "sim-sifre", "wrong", 1), ""},
	}
	for _, tt := range tests {
		a := get(t, c, tt.url)
		if a.err != nil || a.status != 200 || a.body != tt.want {
			t.Errorf("GET %s = %d %q %v, want 200 %q", tt.url, a.status, a.body, a.err, tt.want)
		}
	}
	a := get(t, c, znetURL(z, "pin_kontrol.php", "tahsilat_api_islem_id", "1001"))
	if !strings.HasPrefix(a.body, "OK|2|") || !strings.HasSuffix(a.body, "|İşlem tamamlandı") {
		t.Errorf("check = %q, want delivered (zero delay)", a.body)
	}
	var cat struct {
		Success bool
		Result  []map[string]string
	}
	if a := get(t, c, znetURL(z, "pin_listesi.php")); json.Unmarshal([]byte(a.body), &cat) != nil || !cat.Success || len(cat.Result) != 2 ||
		cat.Result[0]["oyun_bilgi_id"] != "1" || cat.Result[1]["fiyat"] != "7.30" {
		t.Errorf("catalog = %q", a.body)
	}
	if n := z.Placements("1001"); n != 2 {
		t.Errorf("placements = %d, want 2 (one order, one repeat)", n)
	}
	// Credentials are never recorded.
	for _, r := range z.Requests() {
		if r.Query.Get("sifre") == providertest.DefaultZnetSifre || r.Query.Get("kod") == providertest.DefaultZnetKod {
			t.Errorf("recorded credentials: %v", r.Query)
		}
	}
	var ops []providertest.Op
	unauthorized := 0
	for _, r := range z.Requests() {
		ops = append(ops, r.Op)
		if !r.Authorized {
			unauthorized++
		}
	}
	wantOps := []providertest.Op{"balance", "place", "place", "check", "place", "place", "balance", "check", "catalog"}
	if !slices.Equal(ops, wantOps) || unauthorized != 1 {
		t.Errorf("recorded ops %v with %d unauthorized, want %v with 1", ops, unauthorized, wantOps)
	}
}

// TestFaults shows each fault on demand, for the next n requests only.
func TestFaults(t *testing.T) {
	tests := []struct {
		fault    providertest.Fault
		check    func(answer) bool
		recorded bool // the placement is processed
	}{
		{providertest.FaultEmpty, func(a answer) bool { return a.err == nil && a.status == 200 && a.body == "" }, false},
		{providertest.FaultHTML, func(a answer) bool {
			return a.err == nil && a.status == 200 && strings.HasPrefix(a.body, "<!DOCTYPE html>")
		}, false},
		{providertest.Fault500, func(a answer) bool { return a.err == nil && a.status == 500 }, false},
		{providertest.FaultDrop, func(a answer) bool { return a.err != nil }, false},
		{providertest.FaultLostReply, func(a answer) bool { return a.err != nil }, true},
		{providertest.FaultSlow, func(a answer) bool { return a.err != nil }, false}, // the client gives up first
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			z := providertest.StartZnet(t, providertest.ZnetOptions{})
			c, faulty := noRetry(0), noRetry(0)
			if tt.fault == providertest.FaultSlow {
				faulty = noRetry(100 * time.Millisecond)
			}
			z.InjectFault(providertest.OpCheck, tt.fault, 5) // another operation: no effect on placements
			z.InjectFault(providertest.OpPlace, tt.fault, 2)
			for i, ref := range []string{"1", "2"} {
				if a := get(t, faulty, placeURL(z, ref)); !tt.check(a) {
					t.Errorf("request %d: %d %q %v", i, a.status, a.body, a.err)
				}
			}
			if a := get(t, c, placeURL(z, "3")); a.err != nil || a.body != "OK|7.30|"+map[bool]string{true: "9978.10", false: "9992.70"}[tt.recorded] {
				t.Errorf("third placement: %q %v, want the fault used up", a.body, a.err)
			}
			for _, ref := range []string{"1", "2"} {
				if _, ok := z.Order(ref); ok != tt.recorded {
					t.Errorf("order %s recorded = %v, want %v", ref, ok, tt.recorded)
				}
			}
			var faults []providertest.Fault
			for _, r := range z.Requests() {
				faults = append(faults, r.Fault)
			}
			if want := []providertest.Fault{tt.fault, tt.fault, ""}; !slices.Equal(faults, want) {
				t.Errorf("recorded faults = %v, want %v", faults, want)
			}
		})
	}
}

func TestSlowAnswersLate(t *testing.T) {
	z := providertest.StartZnet(t, providertest.ZnetOptions{Options: providertest.Options{SlowDelay: time.Millisecond}})
	z.InjectFault(providertest.OpAny, providertest.FaultSlow, 1)
	if a := get(t, noRetry(0), znetURL(z, "bakiye_kontrol.php")); a.err != nil || a.body != "OK|10000.00" {
		t.Errorf("slow answer = %q, %v", a.body, a.err)
	}
}

// signals is a slog handler that reports each message, so that a test can wait
// for the simulator to reach a point instead of sleeping.
type signals chan string

func (s signals) Enabled(context.Context, slog.Level) bool { return true }
func (s signals) Handle(_ context.Context, r slog.Record) error {
	select {
	case s <- r.Message:
	default:
	}
	return nil
}
func (s signals) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s signals) WithGroup(string) slog.Handler      { return s }

// TestCloseReleasesSlowRequests: a held request ends when the simulator closes.
func TestCloseReleasesSlowRequests(t *testing.T) {
	events := make(signals, 16)
	z := providertest.NewZnet(providertest.ZnetOptions{Options: providertest.Options{Logger: slog.New(events)}})
	srv := httptest.NewServer(z.Handler())
	defer srv.Close()
	z.InjectFault(providertest.OpAny, providertest.FaultSlow, 1)
	done := make(chan answer)
	go func() {
		resp, err := noRetry(0).Get(srv.URL + "/servis/bakiye_kontrol.php")
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- answer{status: resp.StatusCode, body: string(b), err: err}
	}()
	for msg := range events { // the simulator logs the fault as it starts holding
		if msg == "fault" {
			break
		}
	}
	_ = z.Close()
	if a := <-done; a.err != nil || a.status != 200 || a.body != "" {
		t.Errorf("after Close: %+v, want the held request answered empty, unprocessed", a)
	}
}

func TestFaultRatesAreSeeded(t *testing.T) {
	run := func(seed uint64) []providertest.Fault {
		z := providertest.StartZnet(t, providertest.ZnetOptions{Options: providertest.Options{
			Seed: seed, Faults: providertest.FaultRates{Empty: 0.3, HTML: 0.2, Status500: 0.2},
		}})
		c := noRetry(0)
		for range 40 {
			get(t, c, znetURL(z, "bakiye_kontrol.php"))
		}
		var fs []providertest.Fault
		for _, r := range z.Requests() {
			fs = append(fs, r.Fault)
		}
		return fs
	}
	a, b, other := run(11), run(11), run(12)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different faults:\n%v\n%v", a, b)
	}
	if slices.Equal(a, other) {
		t.Error("different seeds, same faults")
	}
	counts := map[providertest.Fault]int{}
	for _, f := range a {
		counts[f]++
	}
	if counts[providertest.FaultEmpty] == 0 || counts[providertest.FaultHTML] == 0 || counts[providertest.Fault500] == 0 || counts[""] == 0 {
		t.Errorf("fault mix = %v", counts)
	}
}

func TestFatesAreSeeded(t *testing.T) {
	run := func(seed uint64) []providertest.Order {
		z := providertest.StartZnet(t, providertest.ZnetOptions{Options: providertest.Options{
			Seed: seed, Delay: providertest.UniformDelay(time.Second, time.Minute), CancelRate: 0.3, StuckRate: 0.2,
		}})
		c := noRetry(0)
		for i := range 20 {
			get(t, c, placeURL(z, fmt.Sprint(500+i)))
		}
		os := z.Orders()
		for i := range os {
			os[i].PlacedAt = time.Time{}
		}
		return os
	}
	a, b, other := run(3), run(3), run(4)
	if len(a) != 20 || !slices.EqualFunc(a, b, func(x, y providertest.Order) bool { return x.Fate == y.Fate && x.ID == y.ID }) {
		t.Errorf("same seed, different orders")
	}
	if slices.EqualFunc(a, other, func(x, y providertest.Order) bool { return x.Fate == y.Fate }) {
		t.Error("different seeds, same fates")
	}
	outcomes := map[providertest.Outcome]int{}
	for _, o := range a {
		outcomes[o.Fate.Outcome]++
		if o.Fate.After < time.Second || o.Fate.After > time.Minute {
			t.Errorf("delay %s outside the uniform range", o.Fate.After)
		}
	}
	if len(outcomes) != 3 {
		t.Errorf("outcomes = %v, want all three", outcomes)
	}
}

func TestDelays(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	if d := providertest.FixedDelay(time.Second)(r); d != time.Second {
		t.Errorf("fixed = %s", d)
	}
	var ds []time.Duration
	for range 2001 {
		ds = append(ds, providertest.LogNormalDelay(10*time.Second, 1)(r))
	}
	slices.Sort(ds)
	if median := ds[len(ds)/2]; median < 9*time.Second || median > 11*time.Second {
		t.Errorf("log-normal median = %s, want about 10s", median)
	}
	if ds[len(ds)-1] < 60*time.Second {
		t.Errorf("log-normal max = %s, want a long tail", ds[len(ds)-1])
	}
	for range 100 {
		if d := providertest.UniformDelay(5*time.Second, 2*time.Second)(r); d < 2*time.Second || d > 5*time.Second {
			t.Errorf("uniform = %s", d)
		}
	}
}

func TestManualClockCompletion(t *testing.T) {
	clock := providertest.NewManualClock(time.Unix(0, 0))
	z := providertest.StartZnet(t, providertest.ZnetOptions{Options: providertest.Options{Clock: clock}})
	z.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeCancel, After: time.Hour})
	get(t, noRetry(0), placeURL(z, "1"))
	if o, _ := z.Order("1"); o.State != providertest.StatePending {
		t.Fatalf("state = %s", o.State)
	}
	clock.Advance(time.Hour)
	if o, _ := z.Order("1"); o.State != providertest.StateCancelled {
		t.Fatalf("state = %s, want cancelled after the delay", o.State)
	}
	if z.Balance() != 10000_00 {
		t.Errorf("balance = %s, want the cancelled order refunded", z.Balance())
	}
	if _, ok := z.Deliver("1"); ok {
		t.Error("delivered a cancelled order")
	}
}

// TestMounted serves both simulators under prefixes of one server, as "watan
// fakeprovider" does.
func TestMounted(t *testing.T) {
	z := providertest.NewZnet(providertest.ZnetOptions{})
	b := providertest.NewBarakat(providertest.BarakatOptions{})
	mux := http.NewServeMux()
	mux.Handle("/znet/", http.StripPrefix("/znet", z.Handler()))
	mux.Handle("/barakat/", http.StripPrefix("/barakat", b.Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := noRetry(0)
	if a := get(t, c, srv.URL+"/znet/servis/bakiye_kontrol.php?kod=5550000000&sifre=sim-sifre"); a.body != "OK|10000.00" {
		t.Errorf("znet = %q", a.body)
	}
	if a := get(t, c, srv.URL+"/barakat/client/api/profile", "api-token", "sim-token"); a.body != `{"balance":"10000.00","email":"sim@example.com"}` {
		t.Errorf("barakat = %q", a.body)
	}
}

func barakatGet(t *testing.T, b *providertest.Barakat, path string, q url.Values) answer {
	t.Helper()
	u := b.URL() + "/client/api/" + path
	if q != nil {
		u += "?" + q.Encode()
	}
	return get(t, noRetry(0), u, "api-token", providertest.DefaultBarakatToken)
}

func TestBarakatProtocol(t *testing.T) {
	b := providertest.StartBarakat(t, providertest.BarakatOptions{})
	place := func(id, ref string, kv ...string) answer {
		q := url.Values{"qty": {"1"}, "order_uuid": {ref}, "uid": {"42"}, "server": {"eu"}}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return barakatGet(t, b, "newOrder/"+id+"/params", q)
	}
	b.ScriptNext(providertest.Fate{Outcome: providertest.OutcomeStuck})
	a := place("12345", "u1")
	var placed struct {
		Status string
		Data   map[string]any
	}
	if err := json.Unmarshal([]byte(a.body), &placed); err != nil || placed.Status != "OK" || placed.Data["order_id"] != "67890" {
		t.Fatalf("place = %q", a.body)
	}
	if again := place("12345", "u1"); again.body != a.body {
		t.Errorf("repeat = %q, want the same order %q", again.body, a.body)
	}
	errorsWant := []struct {
		a    answer
		want string
	}{
		{place("99999", "u2"), "Product not found"},
		{place("12348", "u3"), "Product is not available"},
		{place("12345", "u4", "qty", "2"), "Invalid quantity"},
		{place("12346", "u5", "qty", "99"), "Invalid quantity"},
		{place("12347", "u6", "qty", "15"), "Invalid quantity"},
		{place("12345", "u7", "server", ""), "The server field is required."},
		{place("12345", ""), "The order uuid field is required."},
	}
	for _, e := range errorsWant {
		if !strings.Contains(e.a.body, `"status":"ERROR"`) || !strings.Contains(e.a.body, e.want) {
			t.Errorf("answer = %q, want an error %q", e.a.body, e.want)
		}
	}
	if a := place("12347", "u8", "qty", "20"); !strings.Contains(a.body, `"price":"20.00"`) {
		t.Errorf("a set quantity: %q", a.body)
	}
	b.SetBalance(0)
	if a := place("12345", "u9"); !strings.Contains(a.body, "Insufficient balance") {
		t.Errorf("no balance: %q", a.body)
	}

	check := barakatGet(t, b, "check", url.Values{"orders": {`[67890,"404"]`}})
	var checked struct {
		Status string
		Data   []map[string]any
	}
	if err := json.Unmarshal([]byte(check.body), &checked); err != nil || len(checked.Data) != 1 || checked.Data[0]["order_uuid"] != "u1" {
		t.Errorf("check = %q", check.body)
	}
	if a := barakatGet(t, b, "check", url.Values{"orders": {`["u1"]`}, "uuid": {"1"}}); !strings.Contains(a.body, `"order_id":"67890"`) {
		t.Errorf("check by uuid = %q", a.body)
	}
	ids := make([]int, 101)
	many, _ := json.Marshal(ids)
	if a := barakatGet(t, b, "check", url.Values{"orders": {string(many)}}); !strings.Contains(a.body, "Too many orders") {
		t.Errorf("101 ids = %q", a.body)
	}
	if a := barakatGet(t, b, "check", url.Values{"orders": {"67890"}}); !strings.Contains(a.body, "JSON array") {
		t.Errorf("not an array = %q", a.body)
	}
}

func TestBarakatCredentials(t *testing.T) {
	b := providertest.StartBarakat(t, providertest.BarakatOptions{Token: "right"})
	c := noRetry(0)
	if a := get(t, c, b.URL()+"/client/api/profile"); a.status != 401 || !strings.Contains(a.body, "Api Token is required!") {
		t.Errorf("no token = %d %q", a.status, a.body)
	}
	if a := get(t, c, b.URL()+"/client/api/profile", "api-token", "wrong"); a.status != 401 || !strings.Contains(a.body, "invalid token") {
		t.Errorf("wrong token = %d %q", a.status, a.body)
	}
	if a := get(t, c, b.URL()+"/client/api/profile", "api-token", "right"); a.status != 200 {
		t.Errorf("right token = %d %q", a.status, a.body)
	}
}

func TestBarakatDeliveredAtPlacementRate(t *testing.T) {
	b := providertest.StartBarakat(t, providertest.BarakatOptions{AtPlacementRate: 1})
	a := barakatGet(t, b, "newOrder/12346/params", url.Values{"qty": {"100"}, "order_uuid": {"x"}, "uid": {"1"}})
	o, _ := b.Order("x")
	if o.State != providertest.StateDelivered || !strings.Contains(a.body, o.PIN) {
		t.Errorf("answer %q, order %+v: want delivered at placement", a.body, o)
	}
}

// TestStartListensOnLoopback: StartZnet and StartBarakat serve on 127.0.0.1 only.
func TestStartListensOnLoopback(t *testing.T) {
	for _, u := range []string{providertest.StartZnet(t, providertest.ZnetOptions{}).URL(), providertest.StartBarakat(t, providertest.BarakatOptions{}).URL()} {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		if ip := net.ParseIP(pu.Hostname()); ip == nil || !ip.IsLoopback() {
			t.Errorf("URL %s is not on loopback", u)
		}
	}
}

func TestStartTwicePanics(t *testing.T) {
	z := providertest.StartZnet(t, providertest.ZnetOptions{})
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	z.Start(l)
}
