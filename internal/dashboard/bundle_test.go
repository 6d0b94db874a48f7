package dashboard_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"watan"
	"watan/internal/dashboard"
	"watan/internal/engine"
	"watan/internal/jobs"
	"watan/internal/providers"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// bundle is the dashboard under test over a real store, a real engine whose River
// queue only inserts (unless a test starts it), and simulated providers. Tenant A
// has an operator, a funded customer, a znet account and packages routed to it and
// to operators; tenant B has the same shape, to check that A never reaches it.
type bundle struct {
	t    testing.TB
	ctx  context.Context
	st   *store.Store
	q    *jobs.Queue
	eng  *engine.Engine
	znet *providertest.Znet
	srv  *httptest.Server
	url  string // the database's

	a, b         watan.Tenant
	znetA, znetB watan.ProviderAccount
	seq          int
}

const (
	password   = "s3cret-password"
	pkgManual  = "manual-topup"
	pkgZnet    = "pubg-60"
	userA      = "sara"
	userB      = "omar"
	testPrice  = watan.Amount(10_00)
	customerID = "c1"
)

type bundleOpts struct {
	secure bool
	jobs   http.Handler
	znet   providertest.ZnetOptions
	// configure changes the dashboard's Config before it is built.
	configure func(b *bundle, cfg *dashboard.Config)
	// clock runs the store and the dashboard. Default: the system clock.
	clock watan.Clock
}

func testLogger() *slog.Logger {
	if os.Getenv("WATAN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func setup(t testing.TB, e store.Engine, o bundleOpts) *bundle {
	t.Helper()
	ctx := context.Background()
	b := &bundle{t: t, ctx: ctx}
	b.url = storetest.URL(t, e)
	var err error
	b.st, err = store.Open(ctx, store.Config{URL: b.url, Clock: o.clock})
	b.must(err)
	t.Cleanup(func() { b.st.Close() })
	b.must(b.st.Migrate(ctx))
	b.q, err = jobs.New(ctx, jobs.Config{DB: b.st.DB(), Postgres: e == store.EnginePostgres, Logger: testLogger()})
	b.must(err)
	b.znet = providertest.StartZnet(t, o.znet)
	prov := providers.New(providers.Config{Logger: testLogger()})
	b.eng, err = engine.New(engine.Config{Store: b.st, Queue: b.q, Logger: testLogger(), Providers: prov, CatalogTTL: -1})
	b.must(err)
	b.a, b.znetA = b.seedTenant("a", userA)
	b.b, b.znetB = b.seedTenant("b", userB)
	cfg := dashboard.Config{
		Store: b.st, Operator: b.eng, Money: b.st, Logger: testLogger(), Secure: o.secure, Jobs: o.jobs,
		Balances: dashboard.ProviderBalances{Accounts: b.st, Providers: prov}, Clock: o.clock,
	}
	if o.configure != nil {
		o.configure(b, &cfg)
	}
	b.srv = httptest.NewServer(dashboard.New(cfg))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *bundle) must(err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
}

func (b *bundle) seedTenant(name, user string) (watan.Tenant, watan.ProviderAccount) {
	ctx, st := b.ctx, b.st
	tn, err := st.CreateTenant(ctx, name)
	b.must(err)
	// The cheapest bcrypt cost: tests sign in many times, and under -race the
	// default cost takes a second each time.
	_, err = st.CreateUserWithCost(ctx, tn.ID, user, password, "en", bcrypt.MinCost)
	b.must(err)
	_, err = st.CreateAccount(ctx, tn.ID, watan.NewAccount{Code: customerID, Name: "Customer", Currency: "TRY"})
	b.must(err)
	_, err = st.TopUp(ctx, tn.ID, customerID, 1000_00, "test balance")
	b.must(err)
	zn, err := st.CreateProviderAccount(ctx, watan.ProviderAccount{
		TenantID: tn.ID, Name: "znet " + name, Kind: watan.ProviderZnet, BaseURL: b.znet.URL(), Active: true,
		// Checks a millisecond after the placement and then every second, so that
		// orders finish quickly through their check job (a first check due at once
		// would be made by the dispatch run itself, and the tests look at the order
		// between the two).
		Settings:    watan.ProviderSettings{FirstCheckDelay: time.Millisecond, Policy: watan.PollFixed, PollInterval: time.Second},
		Credentials: map[string]watan.Secret{"kod": providertest.DefaultZnetKod, "sifre": providertest.DefaultZnetSifre},
	})
	b.must(err)
	for _, p := range []struct {
		code    string
		routing watan.Routing
	}{
		{pkgManual, watan.Routing{Mode: watan.RouteManual}},
		{pkgZnet, watan.Routing{Mode: watan.RouteAuto, PrimaryProviderID: zn.ID}},
	} {
		pk, err := st.CreatePackage(ctx, watan.Package{TenantID: tn.ID, Code: p.code, Name: p.code, Price: testPrice, Currency: "TRY", Active: true, Routing: p.routing})
		b.must(err)
		_, err = st.PutMapping(ctx, watan.Mapping{TenantID: tn.ID, PackageID: pk.ID, ProviderAccountID: zn.ID,
			ProductID: "3", Params: map[string]string{"oyun": "1", "kupur": "60"}})
		b.must(err)
	}
	return tn, zn
}

// order creates an order with its dispatch job, as the API does.
func (b *bundle) order(tenant watan.Tenant, pkg string) watan.Order {
	b.t.Helper()
	b.seq++
	o, _, err := b.st.CreateOrderWith(b.ctx, watan.NewOrder{
		TenantID: tenant.ID, PackageCode: pkg, AccountCode: customerID, Quantity: 1,
		PlayerID: "5123456789", ClientOrderID: fmt.Sprintf("t-%d", b.seq), Actor: watan.ActorAPI,
	}, func(ctx context.Context, tx *sql.Tx, o watan.Order) error { return b.q.EnqueueDispatchTx(ctx, tx, o) })
	b.must(err)
	return o
}

func (b *bundle) get(tenant watan.Tenant, id int64) watan.Order {
	b.t.Helper()
	o, err := b.st.FindOrder(b.ctx, tenant.ID, id)
	b.must(err)
	return o
}

// client is a browser without JavaScript: a cookie jar, no redirect following.
type client struct {
	b    *bundle
	http *http.Client
	csrf string
	// header is sent with every request; replied is the last response's.
	header  http.Header
	replied http.Header
}

func (b *bundle) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{b: b, header: http.Header{}, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// testClientHeader carries a client's address to dashboards that a test built with
// clientFromHeader, so that one test can sign in from several addresses.
const testClientHeader = "X-Test-Client"

func clientFromHeader(r *http.Request) string { return r.Header.Get(testClientHeader) }

// clientAt is a client whose requests come from addr (see clientFromHeader).
func (b *bundle) clientAt(addr string) *client {
	c := b.client()
	c.header.Set(testClientHeader, addr)
	return c
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// do sends a request and returns the status, the Location header and the body; it
// remembers the last CSRF token a page carried.
func (c *client) do(method, path string, form url.Values) (int, string, string) {
	c.b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.b.srv.URL+path, body)
	c.b.must(err)
	for k, v := range c.header {
		req.Header[k] = v
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(req)
	c.b.must(err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	c.b.must(err)
	if m := csrfField.FindStringSubmatch(string(raw)); m != nil {
		c.csrf = m[1]
	}
	c.replied = resp.Header
	return resp.StatusCode, resp.Header.Get("Location"), string(raw)
}

func (c *client) get(path string) (int, string) {
	c.b.t.Helper()
	st, _, body := c.do("GET", path, nil)
	return st, body
}

// post sends a form with the client's CSRF token added.
func (c *client) post(path string, form url.Values) (int, string, string) {
	c.b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if form.Get("csrf") == "" {
		form.Set("csrf", c.csrf)
	}
	return c.do("POST", path, form)
}

// signIn signs the client in as user of tenant and fails the test if that fails.
func (c *client) signIn(tenant watan.Tenant, user string) *client {
	c.b.t.Helper()
	if st, _ := c.get("/signin"); st != http.StatusOK {
		c.b.t.Fatalf("GET /signin: %d", st)
	}
	st, loc, body := c.post("/signin", url.Values{"tenant": {fmt.Sprint(tenant.ID)}, "name": {user}, "password": {password}})
	if st != http.StatusSeeOther || loc != "/" {
		c.b.t.Fatalf("sign in: %d %q\n%s", st, loc, body)
	}
	if st, _ := c.get("/"); st != http.StatusOK { // picks up the session's CSRF token
		c.b.t.Fatalf("GET / after sign-in: %d", st)
	}
	return c
}
