package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"watan"
	"watan/internal/providertest"
)

// fakeProviderConfig is what the flags of "watan fakeprovider" set.
type fakeProviderConfig struct {
	addr         string
	seed         uint64
	delay        string
	cancelRate   float64
	stuckRate    float64
	atPlacement  float64
	faults       providertest.FaultRates
	slowDelay    time.Duration
	balance      string
	znetKod      string
	znetSifre    string
	barakatToken string
	barakatUUID  bool
	maxRequests  int
}

// fakeProviderEnv names the environment variable of each flag.
var fakeProviderEnv = map[string]string{
	"addr": "WATAN_FAKEPROVIDER_ADDR", "seed": "WATAN_FAKEPROVIDER_SEED", "delay": "WATAN_FAKEPROVIDER_DELAY",
	"cancel-rate": "WATAN_FAKEPROVIDER_CANCEL_RATE", "stuck-rate": "WATAN_FAKEPROVIDER_STUCK_RATE",
	"pin-at-placement-rate": "WATAN_FAKEPROVIDER_PIN_AT_PLACEMENT_RATE",
	"fault-empty":           "WATAN_FAKEPROVIDER_FAULT_EMPTY", "fault-html": "WATAN_FAKEPROVIDER_FAULT_HTML",
	"fault-500": "WATAN_FAKEPROVIDER_FAULT_500", "fault-slow": "WATAN_FAKEPROVIDER_FAULT_SLOW",
	"fault-drop": "WATAN_FAKEPROVIDER_FAULT_DROP", "fault-lost-reply": "WATAN_FAKEPROVIDER_FAULT_LOST_REPLY",
	"slow-delay": "WATAN_FAKEPROVIDER_SLOW_DELAY", "balance": "WATAN_FAKEPROVIDER_BALANCE",
	"znet-kod": "WATAN_FAKEPROVIDER_ZNET_KOD", "znet-sifre": "WATAN_FAKEPROVIDER_ZNET_SIFRE",
	"barakat-token": "WATAN_FAKEPROVIDER_BARAKAT_TOKEN", "max-requests": "WATAN_FAKEPROVIDER_MAX_REQUESTS",
	"barakat-require-uuid": "WATAN_FAKEPROVIDER_BARAKAT_REQUIRE_UUID",
}

func (c *fakeProviderConfig) register(fs *flag.FlagSet) {
	help := func(name, text string) string { return text + " [$" + fakeProviderEnv[name] + "]" }
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8099", help("addr", "loopback address to serve on (port 0 picks a free one)"))
	fs.Uint64Var(&c.seed, "seed", providertest.DefaultSeed, help("seed", "seed of every random choice, so that a run can be repeated"))
	fs.StringVar(&c.delay, "delay", "lognormal:8s,0.7", help("delay",
		`time from placement to completion: "fixed:10s" (or just "10s"), "uniform:2s..30s", or "lognormal:MEDIAN[,SIGMA]" (sigma default 0.5)`))
	fs.Float64Var(&c.cancelRate, "cancel-rate", 0.05, help("cancel-rate", "share of orders the provider cancels"))
	fs.Float64Var(&c.stuckRate, "stuck-rate", 0.01, help("stuck-rate", "share of orders that never finish"))
	fs.Float64Var(&c.atPlacement, "pin-at-placement-rate", 0.2, help("pin-at-placement-rate", "share of delivered barakat orders delivered in the placement answer"))
	fs.Float64Var(&c.faults.Empty, "fault-empty", 0, help("fault-empty", "share of requests answered with an empty body"))
	fs.Float64Var(&c.faults.HTML, "fault-html", 0, help("fault-html", "share of requests answered with an HTML page"))
	fs.Float64Var(&c.faults.Status500, "fault-500", 0, help("fault-500", "share of requests answered with HTTP 500"))
	fs.Float64Var(&c.faults.Slow, "fault-slow", 0, help("fault-slow", "share of requests held for --slow-delay before processing"))
	fs.Float64Var(&c.faults.Drop, "fault-drop", 0, help("fault-drop", "share of requests whose connection is closed without processing"))
	fs.Float64Var(&c.faults.LostReply, "fault-lost-reply", 0, help("fault-lost-reply", "share of requests processed, then closed without an answer"))
	fs.DurationVar(&c.slowDelay, "slow-delay", 25*time.Second, help("slow-delay", "how long a slow request is held (past znet's 20 s client timeout by default)"))
	fs.StringVar(&c.balance, "balance", providertest.DefaultBalance, help("balance", "starting balance of each simulated account"))
	fs.StringVar(&c.znetKod, "znet-kod", providertest.DefaultZnetKod, help("znet-kod", "dealer code the znet simulator accepts"))
	fs.StringVar(&c.znetSifre, "znet-sifre", providertest.DefaultZnetSifre, help("znet-sifre", "password the znet simulator accepts"))
	fs.StringVar(&c.barakatToken, "barakat-token", providertest.DefaultBarakatToken, help("barakat-token", "api-token the barakat simulator accepts"))
	fs.BoolVar(&c.barakatUUID, "barakat-require-uuid", false, help("barakat-require-uuid", "make the barakat simulator refuse an order_uuid that is not a UUID"))
	fs.IntVar(&c.maxRequests, "max-requests", 0, help("max-requests", "keep only about this many recent requests in memory (0: all; they are only for tests)"))
}

// options turns the flags into the simulators' options.
func (c *fakeProviderConfig) options(logger *slog.Logger) (providertest.Options, error) {
	delay, err := parseDelay(c.delay)
	if err != nil {
		return providertest.Options{}, err
	}
	rates := map[string]float64{"cancel-rate": c.cancelRate, "stuck-rate": c.stuckRate, "pin-at-placement-rate": c.atPlacement,
		"fault-empty": c.faults.Empty, "fault-html": c.faults.HTML, "fault-500": c.faults.Status500,
		"fault-slow": c.faults.Slow, "fault-drop": c.faults.Drop, "fault-lost-reply": c.faults.LostReply}
	for name, r := range rates {
		if r < 0 || r > 1 {
			return providertest.Options{}, fmt.Errorf("--%s %v: want a share between 0 and 1", name, r)
		}
	}
	if _, err := watan.ParseAmount(c.balance); err != nil {
		return providertest.Options{}, fmt.Errorf("--balance: %w", err)
	}
	f := c.faults
	if c.cancelRate+c.stuckRate > 1 || f.Empty+f.HTML+f.Status500+f.Slow+f.Drop+f.LostReply > 1 {
		return providertest.Options{}, errors.New("the outcome rates, and the fault rates, must each add up to at most 1")
	}
	return providertest.Options{
		Seed: c.seed, Logger: logger, Delay: delay, CancelRate: c.cancelRate, StuckRate: c.stuckRate,
		Faults: c.faults, SlowDelay: c.slowDelay, Balance: c.balance, MaxRequests: c.maxRequests,
	}, nil
}

// parseDelay reads a completion delay distribution: "10s", "fixed:10s",
// "uniform:2s..30s", "lognormal:10s" or "lognormal:10s,0.8".
func parseDelay(spec string) (providertest.Delay, error) {
	kind, arg, found := strings.Cut(strings.TrimSpace(spec), ":")
	if !found {
		kind, arg = "fixed", kind
	}
	bad := func(err error) (providertest.Delay, error) {
		return nil, fmt.Errorf(`--delay %q: %w (want "fixed:10s", "uniform:2s..30s" or "lognormal:10s[,0.5]")`, spec, err)
	}
	switch kind {
	case "fixed":
		d, err := time.ParseDuration(arg)
		if err != nil || d < 0 {
			return bad(errors.New("not a duration"))
		}
		return providertest.FixedDelay(d), nil
	case "uniform":
		lo, hi, ok := strings.Cut(arg, "..")
		dlo, err1 := time.ParseDuration(lo)
		dhi, err2 := time.ParseDuration(hi)
		if !ok || err1 != nil || err2 != nil || dlo < 0 || dhi < dlo {
			return bad(errors.New("not a range of durations"))
		}
		return providertest.UniformDelay(dlo, dhi), nil
	case "lognormal":
		med, sig, hasSigma := strings.Cut(arg, ",")
		median, err := time.ParseDuration(med)
		if err != nil || median <= 0 {
			return bad(errors.New("the median is not a positive duration"))
		}
		sigma := 0.5
		if hasSigma {
			if sigma, err = strconv.ParseFloat(sig, 64); err != nil || sigma < 0 {
				return bad(errors.New("sigma is not a non-negative number"))
			}
		}
		return providertest.LogNormalDelay(median, sigma), nil
	}
	return bad(fmt.Errorf("unknown distribution %q", kind))
}

// fakeProviders are the simulators "watan fakeprovider" serves on one port.
type fakeProviders struct {
	znet    *providertest.Znet
	barakat *providertest.Barakat
}

// Where each protocol is mounted on the shared port.
const (
	fakeZnetPrefix    = "/znet"
	fakeBarakatPrefix = "/barakat"
)

func newFakeProviders(c *fakeProviderConfig, opts providertest.Options) *fakeProviders {
	bopts := opts
	bopts.Seed = opts.Seed + 1 // its own stream, so the two do not hand out the same PINs
	return &fakeProviders{
		znet: providertest.NewZnet(providertest.ZnetOptions{Options: opts, Kod: c.znetKod, Sifre: c.znetSifre}),
		barakat: providertest.NewBarakat(providertest.BarakatOptions{Options: bopts, Token: c.barakatToken, AtPlacementRate: c.atPlacement,
			RequireUUID: c.barakatUUID}),
	}
}

func (f *fakeProviders) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(fakeZnetPrefix+"/", http.StripPrefix(fakeZnetPrefix, f.znet.Handler()))
	mux.Handle(fakeBarakatPrefix+"/", http.StripPrefix(fakeBarakatPrefix, f.barakat.Handler()))
	return mux
}

func (f *fakeProviders) close() {
	_ = f.znet.Close()
	_ = f.barakat.Close()
}

func cmdFakeProvider(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "fakeprovider", "fakeprovider [flags]")
	var cfg fakeProviderConfig
	cfg.register(fs)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, `Usage: watan fakeprovider [flags]

Serves simulated znet and barakat providers on one loopback port, speaking their
exact protocols, until interrupted:

  znet      {base}/znet/servis/{bakiye_kontrol,pin_listesi,pin_ekle,pin_kontrol}.php
  barakat   {base}/barakat/client/api/{profile,products,newOrder/{id}/params,check}

Point a provider account's base URL at {base}/znet or {base}/barakat with the
credentials printed at start. Orders finish after a delay drawn from --delay:
delivered with a generated PIN, cancelled (--cancel-rate) or never (--stuck-rate).
The --fault-* rates make requests fail as real providers do; a lost reply records
the order and closes the connection before answering. Runs are repeatable by --seed.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if err := applyFlagEnv(fs, env, fakeProviderEnv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "watan fakeprovider: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	logger := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts, err := cfg.options(logger)
	if err != nil {
		return err
	}
	if err := requireLoopback(cfg.addr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("fakeprovider: %w", err)
	}
	fp := newFakeProviders(&cfg, opts)
	defer fp.close()
	srv := &http.Server{Handler: fp.handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	printFakeBanner(env.Stdout, &cfg, "http://"+ln.Addr().String())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("fakeprovider: %w", err)
	case <-ctx.Done():
	}
	fp.close() // releases requests held by the slow fault, so shutdown does not wait for them
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	fmt.Fprintln(env.Stdout, "fakeprovider: stopped")
	return nil
}

// requireLoopback refuses to serve a simulator with well-known credentials beyond
// this machine.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--addr %q: the simulators serve on a loopback address only, such as 127.0.0.1:8099", addr)
	}
	return nil
}

func printFakeBanner(w io.Writer, c *fakeProviderConfig, base string) {
	znetURL, barakatURL := base+fakeZnetPrefix, base+fakeBarakatPrefix
	fmt.Fprintf(w, "watan fakeprovider: simulated providers on %s (seed %d, delay %s)\n\n", base, c.seed, c.delay)
	fmt.Fprintf(w, "  znet     base URL %s\n           kod %s  sifre %s\n", znetURL, c.znetKod, c.znetSifre)
	fmt.Fprintf(w, "  barakat  base URL %s\n           token %s\n\n", barakatURL, c.barakatToken)
	fmt.Fprintln(w, "Check them:")
	fmt.Fprintf(w, "  watan provider check --kind znet --base-url %s --kod %s --sifre %s\n", znetURL, c.znetKod, c.znetSifre)
	fmt.Fprintf(w, "  watan provider check --kind barakat --base-url %s --token %s\n\n", barakatURL, c.barakatToken)
	fmt.Fprintln(w, "Stop with Ctrl-C.")
}

// applyFlagEnv sets each flag the command line left unset from its environment
// variable, if that is set: flags win, and a bad value is reported like a bad flag.
// Reading the environment after parsing, rather than as the flags' defaults, keeps
// secrets from environment variables out of --help.
func applyFlagEnv(fs *flag.FlagSet, env *Env, vars map[string]string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		key, ok := vars[f.Name]
		if !ok || set[f.Name] {
			return
		}
		if v := strings.TrimSpace(env.Getenv(key)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("$%s: %w", key, err))
			}
		}
	})
	return errors.Join(errs...)
}

// flagError maps a flag parsing error to what main expects: help stays help, and
// anything else was already explained by the flag package.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return errUsage
}
