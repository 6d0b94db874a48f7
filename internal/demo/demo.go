// Package demo seeds an empty database with a tenant, an API key, a funded customer
// account and a small catalog wired to simulated providers, so that a newcomer's first
// "watan serve" takes an order and delivers a PIN within seconds.
//
// The catalog has one package per way of fulfilment: two at the znet simulator (one
// with the barakat simulator as fallback), one at the barakat simulator, one from a
// stock of codes, and one an operator fulfils by hand.
//
// Money: the tenant counts in TRY in Istanbul's time zone and also sells in USD;
// two price groups (dealers, who pay less, and vip) have their own prices; a
// second customer account, a dealer, holds USD; the mappings and codes carry
// configured costs, which the simulators' own prices override where they send one.
package demo

import (
	"context"
	"crypto/rand"
	"fmt"

	"watan"
	"watan/internal/store"
)

// Names of the seeded rows, stable so that the README's examples work.
const (
	TenantName  = "demo"
	AccountCode = "demo-customer"
	Currency    = "TRY"
	// DealerCode is a sub-dealer's account: USD, in the dealers price group.
	DealerCode = "demo-dealer"
	// SecondCurrency and SecondRate: 1 TRY buys 0.02867 USD (1 USD ≈ 34.88 TRY).
	SecondCurrency = "USD"
	SecondRate     = watan.Rate(2_867_000)
	TimeZone       = "Europe/Istanbul"
	ZnetName       = "demo znet (simulated)"
	BarakatName    = "demo barakat (simulated)"
	// OperatorName is the demo's dashboard user.
	OperatorName = "demo"
)

// Credentials the simulators accept; they are demo values, not secrets.
const (
	ZnetKod      = "5550000000"
	ZnetSifre    = "sim-sifre"
	BarakatToken = "sim-token"
)

// Services is what seeding needs of the store.
type Services interface {
	watan.TenantService
	watan.AccountService
	watan.CatalogService
	watan.MoneyService
	CreateUser(ctx context.Context, tenantID int64, name, password, lang string) (store.User, error)
}

// Upstreams are the base URLs of the simulated providers.
type Upstreams struct {
	ZnetURL    string
	BarakatURL string
}

// Result describes what Seed created.
type Result struct {
	Tenant   watan.Tenant
	APIKey   string // plain text; shown once
	Account  watan.Account
	Packages []watan.Package
	// Operator signs in to the dashboard with OperatorPassword (plain text; shown
	// once, only its hash is stored).
	Operator         string
	OperatorPassword string
}

const (
	demoBalance watan.Amount = 1000_00
	demoCodes                = 20
)

// Needed reports whether the database is empty, so that a demo should be seeded.
func Needed(ctx context.Context, s watan.TenantService) (bool, error) {
	ts, err := s.ListTenants(ctx)
	if err != nil {
		return false, fmt.Errorf("demo: list tenants: %w", err)
	}
	return len(ts) == 0, nil
}

// Seed creates the demo tenant, its API key, a funded account, provider accounts at
// the simulators (with the given settings), and the catalog.
func Seed(ctx context.Context, s Services, up Upstreams, settings watan.ProviderSettings) (Result, error) {
	var r Result
	var err error
	if r.Tenant, err = s.CreateTenant(ctx, TenantName); err != nil {
		return r, fmt.Errorf("demo: create tenant: %w", err)
	}
	tid := r.Tenant.ID
	if _, r.APIKey, err = s.CreateAPIKey(ctx, tid, "demo"); err != nil {
		return r, fmt.Errorf("demo: create api key: %w", err)
	}
	if _, err = s.CreateAccount(ctx, tid, watan.NewAccount{Code: AccountCode, Name: "Demo customer", Currency: Currency}); err != nil {
		return r, fmt.Errorf("demo: create account: %w", err)
	}
	if _, err = s.TopUp(ctx, tid, AccountCode, demoBalance, "demo balance"); err != nil {
		return r, fmt.Errorf("demo: top up: %w", err)
	}
	if r.Account, err = s.FindAccount(ctx, tid, AccountCode); err != nil {
		return r, fmt.Errorf("demo: read account: %w", err)
	}
	r.Operator, r.OperatorPassword = OperatorName, rand.Text()
	if _, err := s.CreateUser(ctx, tid, r.Operator, r.OperatorPassword, "en"); err != nil {
		return r, fmt.Errorf("demo: create operator: %w", err)
	}

	// The simulators start with 10000.00: the barakat account's threshold is above
	// that, so that the demo's Providers page shows a low-balance badge.
	znLow, bkLow := watan.Amount(1000_00), watan.Amount(12000_00)
	zn, err := s.CreateProviderAccount(ctx, watan.ProviderAccount{
		TenantID: tid, Name: ZnetName, Kind: watan.ProviderZnet, BaseURL: up.ZnetURL, Active: true, Settings: settings,
		LowBalanceThreshold: &znLow,
		Credentials:         map[string]watan.Secret{"kod": ZnetKod, "sifre": ZnetSifre},
	})
	if err != nil {
		return r, fmt.Errorf("demo: create znet account: %w", err)
	}
	bk, err := s.CreateProviderAccount(ctx, watan.ProviderAccount{
		TenantID: tid, Name: BarakatName, Kind: watan.ProviderBarakat, BaseURL: up.BarakatURL, Active: true, Settings: settings,
		LowBalanceThreshold: &bkLow,
		Credentials:         map[string]watan.Secret{"token": BarakatToken},
	})
	if err != nil {
		return r, fmt.Errorf("demo: create barakat account: %w", err)
	}
	codes, err := s.CreateCodeGroup(ctx, tid, "Steam Wallet 10 USD")
	if err != nil {
		return r, fmt.Errorf("demo: create code group: %w", err)
	}
	pins := make([]string, demoCodes)
	for i := range pins {
		pins[i] = fmt.Sprintf("STEAM-DEMO-%04d", i+1)
	}
	codeCost := watan.Amount(330_00)
	if _, err := s.ImportCodesCost(ctx, tid, codes.ID, pins, &codeCost); err != nil {
		return r, fmt.Errorf("demo: import codes: %w", err)
	}

	cost := func(a watan.Amount) *watan.Amount { return &a }
	znetMapping := func(kupur string) watan.Mapping {
		return watan.Mapping{ProviderAccountID: zn.ID, ProductID: "3", Params: map[string]string{"oyun": "1", "kupur": kupur}, Cost: cost(38_00)}
	}
	barakatMapping := watan.Mapping{ProviderAccountID: bk.ID, ProductID: "12345", Params: map[string]string{"server": "global"}, Cost: cost(44_00)}
	catalog := []struct {
		pkg      watan.Package
		mappings []watan.Mapping
	}{
		{watan.Package{Code: "pubg-60", Name: "PUBG Mobile 60 UC", Price: 45_50,
			Routing: watan.Routing{Mode: watan.RouteAuto, PrimaryProviderID: zn.ID, FallbackProviderID: bk.ID}},
			[]watan.Mapping{znetMapping("60"), barakatMapping}},
		{watan.Package{Code: "pubg-325", Name: "PUBG Mobile 325 UC", Price: 210_00,
			Routing: watan.Routing{Mode: watan.RouteAuto, PrimaryProviderID: zn.ID}},
			[]watan.Mapping{{ProviderAccountID: zn.ID, ProductID: "2", Params: map[string]string{"oyun": "1", "kupur": "325"}, Cost: cost(190_00)}}},
		{watan.Package{Code: "pubg-60-global", Name: "PUBG Mobile 60 UC (global)", Price: 48_00,
			Routing: watan.Routing{Mode: watan.RouteAuto, PrimaryProviderID: bk.ID}},
			[]watan.Mapping{barakatMapping}},
		{watan.Package{Code: "steam-10", Name: "Steam Wallet 10 USD", Price: 350_00,
			Routing: watan.Routing{Mode: watan.RouteCodes, CodeGroupID: codes.ID}}, nil},
		{watan.Package{Code: "manual-topup", Name: "Manual top-up (operator)", Price: 20_00,
			Routing: watan.Routing{Mode: watan.RouteManual}}, nil},
	}
	for _, c := range catalog {
		p := c.pkg
		p.TenantID, p.Currency, p.Active = tid, Currency, true
		created, err := s.CreatePackage(ctx, p)
		if err != nil {
			return r, fmt.Errorf("demo: create package %s: %w", p.Code, err)
		}
		for _, m := range c.mappings {
			m.TenantID, m.PackageID = tid, created.ID
			if _, err := s.PutMapping(ctx, m); err != nil {
				return r, fmt.Errorf("demo: map package %s: %w", p.Code, err)
			}
		}
		r.Packages = append(r.Packages, created)
	}
	if err := seedMoney(ctx, s, tid); err != nil {
		return r, err
	}
	return r, nil
}

// seedMoney gives the demo tenant its time zone, a second currency, two price
// groups with their prices, and a dealer's account in USD.
func seedMoney(ctx context.Context, s Services, tid int64) error {
	if _, err := s.SetTenantSettings(ctx, tid, watan.TenantSettings{BaseCurrency: Currency, TimeZone: TimeZone}); err != nil {
		return fmt.Errorf("demo: settings: %w", err)
	}
	if _, err := s.SetExchangeRate(ctx, tid, SecondCurrency, SecondRate, "demo"); err != nil {
		return fmt.Errorf("demo: exchange rate: %w", err)
	}
	prices := map[string]map[string]watan.Amount{
		"dealers": {"pubg-60": 42_00, "pubg-325": 195_00, "pubg-60-global": 46_00, "steam-10": 340_00},
		"vip":     {"pubg-60": 44_00, "pubg-325": 205_00},
	}
	for _, g := range []string{"dealers", "vip"} {
		if _, err := s.CreatePriceGroup(ctx, tid, g); err != nil {
			return fmt.Errorf("demo: price group %s: %w", g, err)
		}
		for pkg, price := range prices[g] {
			if _, err := s.SetPackagePrice(ctx, tid, pkg, g, price); err != nil {
				return fmt.Errorf("demo: price of %s for %s: %w", pkg, g, err)
			}
		}
	}
	if _, err := s.CreateAccount(ctx, tid, watan.NewAccount{Code: DealerCode, Name: "Demo dealer", Currency: SecondCurrency, PriceGroup: "dealers"}); err != nil {
		return fmt.Errorf("demo: create dealer account: %w", err)
	}
	if _, err := s.TopUp(ctx, tid, DealerCode, 100_00, "demo balance"); err != nil {
		return fmt.Errorf("demo: top up dealer: %w", err)
	}
	return nil
}

// Attach points the demo tenant's simulated provider accounts at simulators started
// by this process: their ports change with every start. It does nothing when there
// is no demo tenant.
func Attach(ctx context.Context, s Services, up Upstreams) error {
	ts, err := s.ListTenants(ctx)
	if err != nil {
		return fmt.Errorf("demo: list tenants: %w", err)
	}
	for _, t := range ts {
		if t.Name != TenantName {
			continue
		}
		accts, err := s.ListProviderAccounts(ctx, t.ID)
		if err != nil {
			return fmt.Errorf("demo: list provider accounts: %w", err)
		}
		for _, a := range accts {
			url := map[string]string{ZnetName: up.ZnetURL, BarakatName: up.BarakatURL}[a.Name]
			if url == "" || url == a.BaseURL {
				continue
			}
			a.BaseURL = url
			if _, err := s.UpdateProviderAccount(ctx, a); err != nil {
				return fmt.Errorf("demo: attach %s: %w", a.Name, err)
			}
		}
	}
	return nil
}
