package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"watan"
	"watan/internal/dashboard"
	"watan/internal/seal"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// server is a "watan serve" running in-process for a test, as the binary runs it.
type server struct {
	t    *testing.T
	base string
	key  string
	// signin is the demo operator's sign-in as the banner shows it:
	// "tenant 7, name demo, password PW".
	signin string
	done   chan error
	stop   context.CancelFunc
}

// startServe runs "watan serve" on a free loopback port and reads the demo's API key
// and address from its banner.
func startServe(t *testing.T, dbURL string, args ...string) *server {
	t.Helper()
	key, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return startServeWith(t, dbURL, key, "", args...)
}

// startServeWith runs "watan serve" with the given sealing key. With apiKey set
// the database is not new: serve prints no demo key and apiKey is used instead.
func startServeWith(t *testing.T, dbURL, key, apiKey string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	s := &server{t: t, done: make(chan error, 1), stop: cancel, key: apiKey}
	stderr := &fpBuffer{}
	env := fpEnv(map[string]string{"WATAN_SECRET_KEY": key}, pw, stderr)
	go func() {
		err := run(ctx, env, append([]string{"serve", "--http-addr", "127.0.0.1:0", "--database-url", dbURL,
			"--log-format", "json", "--log-level", "warn"}, args...))
		_ = pw.Close()
		s.done <- err
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "watan listening on "); ok {
			s.base, _, _ = strings.Cut(rest, " ")
		}
		if rest, ok := strings.CutPrefix(line, "dashboard sign-in: "); ok {
			s.signin = rest
		}
		if strings.HasPrefix(line, "wtn_") {
			s.key = line
		}
		if strings.HasPrefix(line, "then,") || (apiKey != "" && strings.HasPrefix(line, "health:")) {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if s.base == "" || s.key == "" {
		cancel()
		t.Fatalf("serve printed no address or key; it said: %v\nstderr: %s", <-s.done, stderr.String())
	}
	t.Cleanup(func() { s.shutdown() })
	return s
}

// shutdown stops the server as SIGTERM does and waits for it.
func (s *server) shutdown() {
	s.t.Helper()
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	if err := <-s.done; err != nil {
		s.t.Errorf("serve stopped with %v", err)
	}
}

func (s *server) call(method, path string, body any, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			s.t.Fatalf("%s %s: decoding: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// await polls the order until it satisfies done; the engine works in the background
// and this is the only way a client learns of it.
func (s *server) await(id int64, done func(watan.Order) bool) watan.Order {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var o watan.Order
		s.call("GET", fmt.Sprintf("/api/v1/orders/%d", id), nil, &o)
		if done(o) {
			return o
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("order %d stuck at %s/%s", id, o.Status, o.ProviderState)
		}
		<-tick.C
	}
}

func TestServeDrivesDemoOrdersToFinalStates(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		s := startServe(t, storetest.URL(t, e), "--demo-delay", "fixed:0s", "--demo-first-check", "0")
		placed := map[string]watan.Order{}
		for _, pkg := range []string{"pubg-60", "pubg-60-global", "steam-10", "manual-topup"} {
			var o watan.Order
			body := map[string]any{"package": pkg, "account": "demo-customer", "quantity": 1, "player_id": "5123456789", "client_order_id": "it-" + pkg}
			if code := s.call("POST", "/api/v1/orders", body, &o); code != http.StatusCreated {
				t.Fatalf("create %s: HTTP %d", pkg, code)
			}
			placed[pkg] = o
			// The same client order id again is the same order, debited once.
			var again watan.Order
			if code := s.call("POST", "/api/v1/orders", body, &again); code != http.StatusOK || again.ID != o.ID {
				t.Fatalf("replay %s: HTTP %d, order %d (want 200, %d)", pkg, code, again.ID, o.ID)
			}
		}
		final := func(o watan.Order) bool { return o.Status.Final() }
		for _, pkg := range []string{"pubg-60", "pubg-60-global", "steam-10"} {
			o := s.await(placed[pkg].ID, final)
			if o.Status == watan.StatusApproved && o.PIN == "" {
				t.Errorf("%s approved without a PIN", pkg)
			}
			if pkg == "steam-10" && (o.Status != watan.StatusApproved || !strings.HasPrefix(o.PIN, "STEAM-DEMO-")) {
				t.Errorf("steam-10: %s with PIN %q", o.Status, o.PIN)
			}
		}
		manual := s.await(placed["manual-topup"].ID, func(o watan.Order) bool { return o.ProviderState == watan.StateManual })
		if manual.Status != watan.StatusPending {
			t.Fatalf("manual order is %s", manual.Status)
		}

		// Money: the ledger the API shows sums to the balance.
		var acct watan.Account
		s.call("GET", "/api/v1/accounts/demo-customer", nil, &acct)
		var ledger struct {
			Entries []watan.LedgerEntry `json:"entries"`
		}
		s.call("GET", "/api/v1/accounts/demo-customer/ledger", nil, &ledger)
		var sum watan.Amount
		for _, e := range ledger.Entries {
			sum += e.Amount
		}
		if len(ledger.Entries) == 0 || sum != acct.Balance {
			t.Fatalf("ledger of %d entries sums to %s, balance %s", len(ledger.Entries), sum, acct.Balance)
		}
		// Money: a dealer's order is priced by its group and converted to USD; the
		// report's totals are the sums of the approved orders' frozen figures.
		var dealer watan.Order
		dbody := map[string]any{"package": "pubg-60", "account": "demo-dealer", "quantity": 1, "player_id": "5123456789", "client_order_id": "it-dealer"}
		if code := s.call("POST", "/api/v1/orders", dbody, &dealer); code != http.StatusCreated {
			t.Fatalf("dealer order: HTTP %d", code)
		}
		if dealer.ListPrice != 42_00 || dealer.ListCurrency != "TRY" || dealer.Currency != "USD" || dealer.Price != 120 {
			t.Fatalf("dealer order priced %s %s from %s %s, want 1.20 USD from 42.00 TRY", dealer.Price, dealer.Currency, dealer.ListPrice, dealer.ListCurrency)
		}
		s.await(dealer.ID, final)
		var all struct {
			Orders []watan.Order `json:"orders"`
		}
		s.call("GET", "/api/v1/orders", nil, &all)
		var sales, cost watan.Amount
		approved := 0
		for _, o := range all.Orders {
			if o.Status != watan.StatusApproved {
				continue
			}
			approved++
			if o.Profit == nil || o.CostSource == "" {
				t.Fatalf("approved order %d without frozen figures or cost source: %+v", o.ID, o)
			}
			sales += o.Profit.Sell
			cost += o.Profit.Cost
		}
		var rep watan.Report
		s.call("GET", "/api/v1/reports?by=package", nil, &rep)
		if rep.Total.Orders != 5 || rep.Total.Approved != approved || rep.Total.Sales != sales || rep.Total.Cost != cost || sales == 0 || rep.BaseCurrency != "TRY" {
			t.Fatalf("report total %+v, want %d approved, sales %s, cost %s", rep.Total, approved, sales, cost)
		}

		// The dashboard is served at / and asks for a sign-in first.
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		dresp, err := noFollow.Get(s.base + "/")
		if err != nil {
			t.Fatal(err)
		}
		dresp.Body.Close()
		if loc := dresp.Header.Get("Location"); dresp.StatusCode/100 != 3 || !strings.Contains(loc, "/signin") {
			t.Fatalf("GET / signed out: %d to %q, want a redirect to the sign-in page", dresp.StatusCode, loc)
		}

		// The process's metrics count what it did.
		resp, err := http.Get(s.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "watan_orders_created_total 5") {
			t.Fatalf("/metrics does not count the 5 orders:\n%.2000s", body)
		}
		s.shutdown()
	})
}

// River's job pages are started by their first request (startOnFirstRequest), not
// with serve: that first request, from a signed-in operator, gets working pages.
func TestServeStartsTheJobPagesOnTheirFirstRequest(t *testing.T) {
	s := startServe(t, storetest.URL(t, store.EngineSQLite))
	var tenant, name, password string
	if _, err := fmt.Sscanf(strings.ReplaceAll(s.signin, ",", ""), "tenant %s name %s password %s", &tenant, &name, &password); err != nil {
		t.Fatalf("banner sign-in %q: %v", s.signin, err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := c.Get(s.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	_, page := get("/signin")
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if csrf == nil {
		t.Fatalf("no CSRF token on the sign-in page:\n%.1000s", page)
	}
	resp, err := c.PostForm(s.base+"/signin", url.Values{"tenant": {tenant}, "name": {name}, "password": {password}, "csrf": {csrf[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
		t.Fatalf("sign-in ended at %s with %d, want the overview", resp.Request.URL, resp.StatusCode)
	}

	// An order gives River's table a job for the counts to find.
	body := map[string]any{"package": "pubg-60", "account": "demo-customer", "quantity": 1, "player_id": "5123456789"}
	if code := s.call("POST", "/api/v1/orders", body, nil); code != http.StatusCreated {
		t.Fatalf("create: HTTP %d", code)
	}
	if st, page := get(dashboard.JobsPrefix + "/"); st != http.StatusOK || !strings.Contains(page, "<html") {
		t.Fatalf("GET the job pages: %d\n%.500s", st, page)
	}
	st, states := get(dashboard.JobsPrefix + "/api/states")
	var counts map[string]struct{ Count int }
	if err := json.Unmarshal([]byte(states), &counts); st != http.StatusOK || err != nil {
		t.Fatalf("GET the job counts: %d %v\n%.500s", st, err, states)
	}
	jobs := 0
	for _, c := range counts {
		jobs += c.Count
	}
	if jobs < 1 {
		t.Fatalf("the job counts find no job: %s", states)
	}
}
