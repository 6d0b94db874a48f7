package main

import (
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"watan"
	"watan/internal/providertest"
	"watan/internal/seal"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// chainProxy stands between A and B: it forwards each request to B and, for a
// seeded share of them, closes the connection after B answered: a lost reply.
// While B is down, it closes the connection without an answer.
type chainProxy struct {
	target string // B's host:port
	client *http.Client

	mu   sync.Mutex
	rng  *rand.Rand
	rate float64

	lost, forwarded atomic.Int64
}

func (p *chainProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		p.drop(w)
		return
	}
	u := *r.URL
	u.Scheme, u.Host = "http", p.target
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), strings.NewReader(string(body)))
	if err != nil {
		p.drop(w)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		p.drop(w)
		return
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	p.forwarded.Add(1)
	p.mu.Lock()
	lose := p.rng.Float64() < p.rate
	p.mu.Unlock()
	if err != nil || lose {
		p.lost.Add(1)
		p.drop(w) // B acted on the request; A never hears of it
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

func (p *chainProxy) drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// chainDatabases returns two empty databases of engine e: SQLite files, or two
// PostgreSQL databases created for this test on the cluster of
// WATAN_TEST_DATABASE_URL and dropped after it.
func chainDatabases(t *testing.T, e store.Engine) (string, string) {
	t.Helper()
	if e == store.EngineSQLite {
		dir := t.TempDir()
		return "sqlite:" + filepath.Join(dir, "a.db"), "sqlite:" + filepath.Join(dir, "b.db")
	}
	base := os.Getenv(storetest.EnvDatabaseURL)
	admin, err := sql.Open("pgx", base)
	must(t, err)
	t.Cleanup(func() { admin.Close() })
	var urls []string
	for _, side := range []string{"a", "b"} {
		name := fmt.Sprintf("watan_chain_%s_%d_%d", side, os.Getpid(), time.Now().UnixNano())
		_, err := admin.ExecContext(t.Context(), "CREATE DATABASE "+name)
		must(t, err)
		t.Cleanup(func() {
			if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
				t.Logf("dropping %s: %v", name, err)
			}
		})
		u, err := url.Parse(base)
		must(t, err)
		u.Path = "/" + name
		urls = append(urls, u.String())
	}
	return urls[0], urls[1]
}

// TestResellerChain runs two real binaries as a reseller chain: A's provider
// account is of kind watan and points at B's tenant (through a proxy that loses
// replies), B's at the znet simulator. Orders at A are created while B is killed
// with SIGKILL and restarted; every order at A must end with B's outcome and PIN,
// with exactly one order at B per order at A, one at znet per order at B, and
// exact money at both levels (A's customers at A, A as B's customer at B).
func TestResellerChain(t *testing.T) {
	if testing.Short() {
		t.Skip("the chain test runs two processes for about a minute")
	}
	bin := watanBinary(t)
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) { chainRun(t, bin, e) })
}

func chainRun(t *testing.T, bin string, e store.Engine) {
	ctx := t.Context()
	urlA, urlB := chainDatabases(t, e)

	// B: a bench world (znet and barakat simulators in this process) plus the
	// customer account A buys with.
	sysB, err := openBenchSystem(ctx, urlB, watan.SystemClock{}, 1, 1)
	must(t, err)
	defer sysB.close()
	fast := watan.ProviderSettings{FirstCheckDelay: 500 * time.Millisecond, Policy: watan.PollFixed, PollInterval: time.Second,
		RequestTimeout: 2 * time.Second}
	wB, err := sysB.newWorld(ctx, "b", providertest.Options{Seed: 15, Delay: providertest.LogNormalDelay(time.Second, 0.8),
		CancelRate: 0.1, Faults: providertest.FaultRates{LostReply: 0.05}}, fast)
	must(t, err)
	defer wB.close()
	const resellerA = "reseller-a"
	const openingB = 100_000_00
	_, err = sysB.st.CreateAccount(ctx, wB.tenant.ID, watan.NewAccount{Code: resellerA, Name: "Reseller A", Currency: "TRY"})
	must(t, err)
	_, err = sysB.st.TopUp(ctx, wB.tenant.ID, resellerA, openingB, "opening")
	must(t, err)
	wB.accounts = append(wB.accounts, resellerA)

	// A: customers, and one provider account of kind watan at B through the proxy.
	addrA, addrB := freeAddr(t), freeAddr(t)
	proxy := &chainProxy{target: addrB, client: &http.Client{Timeout: 5 * time.Second}, rng: rand.New(rand.NewPCG(15, 2)), rate: 0.1}
	proxyLn, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	proxySrv := &http.Server{Handler: proxy}
	go func() { _ = proxySrv.Serve(proxyLn) }()
	defer proxySrv.Close()

	sysA, err := openBenchSystem(ctx, urlA, watan.SystemClock{}, 1, 1)
	must(t, err)
	defer sysA.close()
	tenantA, err := sysA.st.CreateTenant(ctx, "a")
	must(t, err)
	_, keyA, err := sysA.st.CreateAPIKey(ctx, tenantA.ID, "storefront")
	must(t, err)
	customers := []string{"shop-0", "shop-1", "shop-2", "shop-3"}
	for _, c := range customers {
		_, err := sysA.st.CreateAccount(ctx, tenantA.ID, watan.NewAccount{Code: c, Name: c, Currency: "TRY"})
		must(t, err)
		_, err = sysA.st.TopUp(ctx, tenantA.ID, c, 10_000_00, "opening")
		must(t, err)
	}
	upAcct, err := sysA.st.CreateProviderAccount(ctx, watan.ProviderAccount{
		TenantID: tenantA.ID, Name: "watan B", Kind: watan.ProviderWatan, BaseURL: "http://" + proxyLn.Addr().String(), Active: true,
		Settings:    watan.ProviderSettings{FirstCheckDelay: 500 * time.Millisecond, Policy: watan.PollFixed, PollInterval: time.Second, RequestTimeout: 2 * time.Second},
		Credentials: map[string]watan.Secret{"api_key": watan.Secret(wB.key), "account": resellerA},
	})
	must(t, err)
	const pkgA = "chain-60"
	pkg, err := sysA.st.CreatePackage(ctx, watan.Package{TenantID: tenantA.ID, Code: pkgA, Name: "PUBG 60 via B", Price: 12_00,
		Currency: "TRY", Active: true, Routing: watan.Routing{Mode: watan.RouteAuto, PrimaryProviderID: upAcct.ID}})
	must(t, err)
	_, err = sysA.st.PutMapping(ctx, watan.Mapping{TenantID: tenantA.ID, PackageID: pkg.ID, ProviderAccountID: upAcct.ID, ProductID: benchPkgZnet})
	must(t, err)

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "watan.key")
	key, err := seal.GenerateKey()
	must(t, err)
	must(t, os.WriteFile(keyFile, []byte(key+"\n"), 0o600))
	args := func(addr, db string) []string {
		return []string{"serve", "--demo=false", "--http-addr", addr, "--rate-limit", "0", "--database-url", db,
			"--log-format", "json", "--log-level", "error", "--secret-key-file", keyFile, "--sweep-interval", "2s",
			"--rescue-after", "6s", "--shutdown-timeout", "1s", "--workers", "20", "--allow-targets", "127.0.0.0/8"}
	}
	serveB := startProc(t, bin, "B", args(addrB, urlB)...)
	startProc(t, bin, "A", args(addrA, urlA)...)

	client := &crashClient{base: "http://" + addrA, key: keyA, http: &http.Client{Timeout: 10 * time.Second}}
	const perClient = 30
	var created atomic.Int64
	var loadErr atomic.Value
	var wg sync.WaitGroup
	for c := range customers {
		wg.Go(func() {
			for i := range perClient {
				body := fmt.Sprintf(`{"package":%q,"account":%q,"quantity":1,"player_id":"5123456789","client_order_id":"chain-%d-%d"}`,
					pkgA, customers[c], c, i)
				if _, err := client.create(ctx, body); err != nil {
					loadErr.Store(err)
					return
				}
				created.Add(1)
				time.Sleep(30 * time.Millisecond)
			}
		})
	}
	rng := rand.New(rand.NewPCG(15, 3))
	for range 2 {
		time.Sleep(time.Duration(800+rng.IntN(1500)) * time.Millisecond)
		serveB.kill()
		time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		serveB = startProc(t, bin, "B", args(addrB, urlB)...)
	}
	wg.Wait()
	if err, _ := loadErr.Load().(error); err != nil {
		t.Fatalf("creating orders at A: %v", err)
	}
	awaitFinal(t, sysA.st, tenantA.ID, 150*time.Second)
	awaitFinal(t, sysB.st, wB.tenant.ID, 60*time.Second)

	// A's orders against B's, matched by client order id = A's reference.
	type bOrder struct {
		id     int64
		status watan.Status
		pin    string
		price  int64
	}
	bByRef := map[string][]bOrder{}
	rows, err := sysB.st.DB().QueryContext(ctx, `SELECT o.id, o.status, COALESCE(o.pin, ''), o.price, COALESCE(o.client_order_id, '')
		FROM orders o JOIN accounts a ON a.id = o.account_id WHERE o.tenant_id = $1 AND a.code = $2`, wB.tenant.ID, resellerA)
	must(t, err)
	for rows.Next() {
		var o bOrder
		var cid string
		must(t, rows.Scan(&o.id, &o.status, &o.pin, &o.price, &cid))
		bByRef[cid] = append(bByRef[cid], o)
	}
	must(t, rows.Err())
	rows.Close()

	rows, err = sysA.st.DB().QueryContext(ctx, `SELECT id, status, COALESCE(pin, ''), COALESCE(provider_referans, '') FROM orders WHERE tenant_id = $1`, tenantA.ID)
	must(t, err)
	var nA, approved, matched int
	var spentAtB int64
	for rows.Next() {
		var id int64
		var status watan.Status
		var pin, ref string
		must(t, rows.Scan(&id, &status, &pin, &ref))
		nA++
		bs := bByRef[ref]
		switch {
		case len(bs) > 1:
			t.Errorf("order %d at A became %d orders at B", id, len(bs))
		case status == watan.StatusApproved && (len(bs) != 1 || bs[0].status != watan.StatusApproved || bs[0].pin != pin || pin == ""):
			t.Errorf("order %d at A approved with PIN %q, B has %+v", id, pin, bs)
		case status == watan.StatusRejected && len(bs) == 1 && bs[0].status != watan.StatusRejected:
			t.Errorf("order %d at A rejected, B's order is %s", id, bs[0].status)
		}
		if status == watan.StatusApproved {
			approved++
		}
		if len(bs) > 0 {
			matched++
		}
	}
	must(t, rows.Err())
	rows.Close()
	for ref, bs := range bByRef {
		for _, o := range bs {
			if o.status == watan.StatusApproved {
				spentAtB += o.price
			}
		}
		if len(ref) != 15 {
			t.Errorf("B has an order of A under client order id %q, which is no reference of A", ref)
		}
	}
	if int64(nA) != created.Load() {
		t.Errorf("A has %d orders, its clients created %d", nA, created.Load())
	}
	if len(bByRef) != matched {
		t.Errorf("B has orders under %d references of A, A's orders match %d", len(bByRef), matched)
	}

	// Money at A (its customers) and at B (A as B's customer), and B against znet.
	checkMoney(t, sysA.st, tenantA.ID, customers)
	bOrders := 0
	for _, bs := range bByRef {
		bOrders += len(bs)
	}
	checkInvariants(t, sysB.st, wB, bOrders)
	acct, err := sysB.st.FindAccount(ctx, wB.tenant.ID, resellerA)
	must(t, err)
	if want := watan.Amount(openingB - spentAtB); acct.Balance != want {
		t.Errorf("A's balance at B is %s, want %s (opening less B's approved orders)", acct.Balance, want)
	}
	t.Logf("%s: %d orders at A (%d approved), %d at B, %d at znet; %d of %d replies between A and B lost, B killed twice",
		e, nA, approved, bOrders, len(wB.znet.Orders()), proxy.lost.Load(), proxy.forwarded.Load())
}
