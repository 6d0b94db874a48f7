package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"watan"
	"watan/internal/barakat"
	"watan/internal/httpapi"
	"watan/internal/store/storetest"
	"watan/internal/znet"
)

// TestProviderCheckAgainstFakeProvider runs "watan fakeprovider" and "watan
// provider check" against each other in-process.
func TestProviderCheckAgainstFakeProvider(t *testing.T) {
	fr := startFakeProvider(t, nil)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"znet", fr.znetCheck, `Balance:  10000.00 TRY
Products: 2

ID  NAME                CATEGORY  PRICE  AVAILABLE  QTY  INPUTS  MAPPING PARAMS
2   PUBG Mobile 325 UC  PUBG      35.00  yes        1    -       kupur=325 oyun=1
3   PUBG Mobile 60 UC   PUBG      7.30   yes        1    -       kupur=60 oyun=1
`},
		{"barakat", fr.barakatCheck, `Balance:  10000.00 TRY
Products: 4

ID     NAME                   CATEGORY     PRICE  AVAILABLE  QTY         INPUTS      MAPPING PARAMS
12345  PUBG Mobile 60 UC      PUBG Mobile  45.50  yes        1           uid,server  extra_param=server player_param=uid
12346  Free Fire Diamonds     Free Fire    0.10   yes        100..10000  uid         player_param=uid
12347  Google Play Gift Card  Gift Cards   1.00   yes        10,20,50    -           player_param=""
12348  Legacy Pack            PUBG Mobile  99.00  no         1           uid         player_param=uid
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut fpBuffer
			if err := run(t.Context(), fpEnv(nil, &out, &errOut), tt.args); err != nil {
				t.Fatalf("err = %v\n%s", err, errOut.String())
			}
			if out.String() != tt.want {
				t.Errorf("output:\n%s\nwant:\n%s", out.String(), tt.want)
			}
		})
	}
}

// TestProviderCheckExplains: wrong credentials get a plain explanation and a
// failed exit, and the credentials appear nowhere in the output, logs included.
func TestProviderCheckExplains(t *testing.T) {
	const sifre, token = "Zq9-fake-sifre-1", "Zq9-fake-token-1"
	fr := startFakeProvider(t, nil, "--znet-sifre", sifre, "--barakat-token", token)
	znetURL, barakatURL := flagValue(fr.znetCheck, "--base-url"), flagValue(fr.barakatCheck, "--base-url")
	tests := []struct {
		name string
		args []string
		vars map[string]string
		want string
	}{
		{"znet wrong password", []string{"--kind", "znet", "--base-url", znetURL, "--kod", "5550000000", "--sifre", "Zq9-wrong-1"}, nil,
			"Balance:  FAILED: empty answer: the API is off for this dealer, the dealer code or password is wrong, or this server's IP is not whitelisted"},
		{"znet wrong base URL", []string{"--kind", "znet", "--base-url", barakatURL, "--kod", "5550000000", "--sifre", sifre}, nil,
			"unexpected HTTP status: 401 Unauthorized: wrong base URL or blocked IP"}, // the barakat simulator wants a token first
		{"barakat wrong token", []string{"--kind", "barakat", "--base-url", barakatURL, "--token", "Zq9-wrong-1"}, nil,
			`Balance:  FAILED: the token is wrong: HTTP 401 "Unauthorized: invalid token"`},
		{"barakat token from the environment", []string{"--kind", "barakat", "--base-url", barakatURL},
			map[string]string{"WATAN_BARAKAT_TOKEN": "Zq9-wrong-1"}, "the token is wrong"},
		{"barakat wrong base URL", []string{"--kind", "barakat", "--base-url", znetURL, "--token", token}, nil,
			"HTML page: wrong base URL or blocked IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut fpBuffer
			err := run(t.Context(), fpEnv(tt.vars, &out, &errOut), append([]string{"provider", "check", "-v"}, tt.args...))
			if !errors.Is(err, errCheckFailed) {
				t.Errorf("err = %v, want the check to fail", err)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("output:\n%s\nwant it to contain %q", out.String(), tt.want)
			}
			all := out.String() + errOut.String()
			if !strings.Contains(errOut.String(), "call") {
				t.Errorf("-v logged nothing:\n%s", errOut.String())
			}
			for _, secret := range []string{sifre, token, "Zq9-wrong-1", "Zq9"} {
				if strings.Contains(all, secret) {
					t.Errorf("%q appears in:\n%s", secret, all)
				}
			}
		})
	}
}

func TestProviderCheckCredentialsFromEnvironment(t *testing.T) {
	fr := startFakeProvider(t, nil)
	var out fpBuffer
	vars := map[string]string{
		"WATAN_PROVIDER_KIND": "znet", "WATAN_PROVIDER_BASE_URL": flagValue(fr.znetCheck, "--base-url"),
		"WATAN_ZNET_KOD": flagValue(fr.znetCheck, "--kod"), "WATAN_ZNET_SIFRE": flagValue(fr.znetCheck, "--sifre"),
	}
	if err := run(t.Context(), fpEnv(vars, &out, io.Discard), []string{"provider", "check"}); err != nil || !strings.HasPrefix(out.String(), "Balance:  10000.00 TRY") {
		t.Errorf("err = %v, output:\n%s", err, out.String())
	}
	// A flag wins over its environment variable.
	out = fpBuffer{}
	err := run(t.Context(), fpEnv(vars, &out, io.Discard), []string{"provider", "check", "--sifre", "wrong"})
	if !errors.Is(err, errCheckFailed) {
		t.Errorf("flag did not win over the environment: %v\n%s", err, out.String())
	}
}

func TestProviderCheckUsage(t *testing.T) {
	tests := []struct {
		args []string
		vars map[string]string
		want string
		err  error
	}{
		{[]string{"provider"}, nil, "check", errUsage},
		{[]string{"provider", "frobnicate"}, nil, `unknown subcommand "frobnicate"`, errUsage},
		{[]string{"provider", "check"}, nil, "needs --kind znet, --kind barakat or --kind watan", errUsage},
		{[]string{"provider", "check", "--kind", "znet", "--kod", "1", "--sifre", "2"}, nil, "needs --base-url", errUsage},
		{[]string{"provider", "check", "--kind", "znet", "--base-url", "http://x"}, nil, "needs --kod and --sifre", errUsage},
		{[]string{"provider", "check", "--kind", "barakat"}, nil, "needs --token", errUsage},
		{[]string{"provider", "check", "--timeout", "soon"}, nil, "invalid value", errUsage},
		{[]string{"provider", "check"}, map[string]string{"WATAN_PROVIDER_TIMEOUT": "soon"}, "", nil},
	}
	for _, tt := range tests {
		var stderr fpBuffer
		err := run(t.Context(), fpEnv(tt.vars, io.Discard, &stderr), tt.args)
		if tt.err != nil && !errors.Is(err, tt.err) || tt.err == nil && (err == nil || !strings.Contains(err.Error(), "WATAN_PROVIDER_TIMEOUT")) {
			t.Errorf("%v: err = %v", tt.args, err)
		}
		if !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: stderr lacks %q:\n%s", tt.args, tt.want, stderr.String())
		}
	}
	var stdout fpBuffer
	if err := run(t.Context(), fpEnv(nil, &stdout, io.Discard), []string{"provider", "--help"}); err != nil || !strings.Contains(stdout.String(), "check") {
		t.Errorf("provider --help: %v\n%s", err, stdout.String())
	}
	if err := run(t.Context(), fpEnv(nil, io.Discard, io.Discard), []string{"provider", "check", "--kind", "znet", "--base-url", "bayi", "--kod", "1", "--sifre", "2"}); err == nil ||
		!strings.Contains(err.Error(), "base URL") {
		t.Errorf("bad base URL: err = %v", err)
	}
}

// stubProvider answers with fixed results, for the seam that checks any provider.
type stubProvider struct {
	watan.Provider
	err error
}

func (s stubProvider) Balance(context.Context) (watan.Balance, error) { return watan.Balance{}, s.err }
func (s stubProvider) Catalog(context.Context) ([]watan.Product, error) {
	return nil, s.err
}

func TestExplainProviderError(t *testing.T) {
	transport := func(err error) error { return &watan.ProviderError{Kind: watan.FailTransport, Op: "balance", Err: err} }
	tests := []struct {
		err  error
		want string
	}{
		{transport(&url.Error{Op: "Get", URL: "http://x", Err: context.DeadlineExceeded}), "no answer in time"},
		{transport(&url.Error{Op: "Get", URL: "http://x", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}), "connection refused: nothing listens"},
		{transport(&url.Error{Op: "Get", URL: "http://x", Err: &net.OpError{Op: "dial", Err: &net.DNSError{Name: "bayi.example", Err: "no such host"}}}), `unknown host "bayi.example"`},
		{transport(errors.New("EOF")), "could not get an answer: EOF"},
		{&watan.ProviderError{Kind: watan.FailMisconfigured, Op: "balance", Err: znet.ErrHTMLAnswer}, "HTML page: wrong base URL or blocked IP"},
		{&watan.ProviderError{Kind: watan.FailMisconfigured, Op: "balance", Err: barakat.ErrUnauthorized}, "the token is wrong"},
		{&watan.ProviderError{Kind: watan.FailProtocol, Op: "balance", Err: znet.ErrUnexpected}, "an answer that is not znet's protocol (is the base URL right?)"},
		{errors.New("plain"), "plain"},
	}
	for _, tt := range tests {
		var out fpBuffer
		if err := checkProvider(t.Context(), &out, watan.ProviderZnet, stubProvider{err: tt.err}); !errors.Is(err, errCheckFailed) {
			t.Errorf("%v: err = %v", tt.err, err)
		}
		want := fmt.Sprintf("Balance:  FAILED: %s", tt.want)
		if !strings.Contains(out.String(), want) {
			t.Errorf("output:\n%s\nwant it to contain %q", out.String(), want)
		}
	}
}

// TestProviderCheckWatanUpstream runs "watan provider check --kind watan" against
// a real watan API (handler and store): our account's balance and the upstream's
// packages; a wrong key is explained and never printed.
func TestProviderCheckWatanUpstream(t *testing.T) {
	ctx := t.Context()
	st := storetest.Open(t)
	ten, err := st.CreateTenant(ctx, "upstream")
	must(t, err)
	_, key, err := st.CreateAPIKey(ctx, ten.ID, "downstream")
	must(t, err)
	_, err = st.CreatePackage(ctx, watan.Package{TenantID: ten.ID, Code: "pubg-60", Name: "PUBG Mobile 60 UC", Price: 40_00,
		Currency: "TRY", Active: true, Routing: watan.Routing{Mode: watan.RouteManual}})
	must(t, err)
	_, err = st.CreateAccount(ctx, ten.ID, watan.NewAccount{Code: "reseller-a", Name: "A", Currency: "TRY"})
	must(t, err)
	_, err = st.TopUp(ctx, ten.ID, "reseller-a", 250_00, "opening")
	must(t, err)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Tenants: st, Accounts: st, Catalog: st, Orders: st}))
	defer srv.Close()

	var out, errOut fpBuffer
	args := []string{"provider", "check", "--kind", "watan", "--base-url", srv.URL, "--api-key", key, "--account", "reseller-a"}
	if err := run(ctx, fpEnv(nil, &out, &errOut), args); err != nil {
		t.Fatalf("err = %v\n%s%s", err, out.String(), errOut.String())
	}
	want := `Balance:  250.00 TRY
Products: 1

ID       NAME               CATEGORY  PRICE  AVAILABLE  QTY      INPUTS     MAPPING PARAMS
pubg-60  PUBG Mobile 60 UC  -         40.00  yes        1..1000  player_id  -
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}

	out, errOut = fpBuffer{}, fpBuffer{}
	bad := []string{"provider", "check", "--kind", "watan", "--base-url", srv.URL, "--api-key", "wtn_not-a-real-key", "--account", "reseller-a"}
	if err := run(ctx, fpEnv(nil, &out, &errOut), bad); !errors.Is(err, errCheckFailed) {
		t.Fatalf("wrong key: err = %v", err)
	}
	if !strings.Contains(out.String(), "API key is wrong or revoked") || strings.Contains(out.String()+errOut.String(), "wtn_not-a-real-key") {
		t.Errorf("wrong key output:\n%s%s", out.String(), errOut.String())
	}
}
