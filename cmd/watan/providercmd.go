package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"watan"
	"watan/internal/barakat"
	"watan/internal/providers"
)

func cmdProvider(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 && args[0] == "check" {
		return cmdProviderCheck(ctx, env, args[1:])
	}
	w := env.Stderr
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		w = env.Stdout
	}
	fmt.Fprint(w, `Usage: watan provider <subcommand> [flags]

Subcommands:
  check   call a provider's balance and catalog with the given credentials and
          show them, or explain in plain words what is wrong

Run "watan provider check --help" for its flags.
`)
	if w == env.Stdout {
		return nil
	}
	if len(args) > 0 {
		fmt.Fprintf(env.Stderr, "\nwatan provider: unknown subcommand %q\n", args[0])
	}
	return errUsage
}

// providerCheckEnv names the environment variable of each flag. Credentials are
// best passed this way, since flags show in the process list.
var providerCheckEnv = map[string]string{
	"kind": "WATAN_PROVIDER_KIND", "base-url": "WATAN_PROVIDER_BASE_URL", "timeout": "WATAN_PROVIDER_TIMEOUT",
	"kod": "WATAN_ZNET_KOD", "sifre": "WATAN_ZNET_SIFRE", "token": "WATAN_BARAKAT_TOKEN",
	"api-key": "WATAN_UPSTREAM_API_KEY", "account": "WATAN_UPSTREAM_ACCOUNT",
}

// errCheckFailed is returned when the provider did not answer as it should; the
// output has already said why.
var errCheckFailed = errors.New("provider check failed")

func cmdProviderCheck(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "provider check", "provider check --kind znet|barakat|watan [--base-url URL] (--kod K --sifre S | --token T | --api-key K --account A)")
	help := func(name, text string) string { return text + " [$" + providerCheckEnv[name] + "]" }
	kind := fs.String("kind", "", help("kind", "provider protocol: znet, barakat or watan (another watan tenant)"))
	baseURL := fs.String("base-url", "", help("base-url", "the provider's base URL (barakat default "+barakat.DefaultBaseURL+")"))
	kod := fs.String("kod", "", help("kod", "znet dealer code"))
	sifre := fs.String("sifre", "", help("sifre", "znet password"))
	token := fs.String("token", "", help("token", "barakat api-token"))
	apiKey := fs.String("api-key", "", help("api-key", "watan: the upstream tenant's API key"))
	account := fs.String("account", "", help("account", "watan: our customer account's code at the upstream"))
	timeout := fs.Duration("timeout", 0, help("timeout", "bound on each request (default the kind's: 20s znet, 30s barakat)"))
	verbose := fs.Bool("v", false, "log each request to stderr (credentials are never logged)")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if err := applyFlagEnv(fs, env, providerCheckEnv); err != nil {
		return err
	}
	acct := watan.ProviderAccount{
		Name: "command line", Kind: watan.ProviderKind(strings.ToLower(*kind)), BaseURL: *baseURL,
		Settings: watan.ProviderSettings{RequestTimeout: *timeout},
	}
	var missing string
	switch acct.Kind {
	case watan.ProviderZnet:
		acct.Credentials = map[string]watan.Secret{"kod": watan.Secret(*kod), "sifre": watan.Secret(*sifre)}
		switch {
		case acct.BaseURL == "":
			missing = "--base-url (znet has no default: it is the dealer's own panel, such as http://bayi.example.com)"
		case *kod == "" || *sifre == "":
			missing = "--kod and --sifre (or $WATAN_ZNET_KOD and $WATAN_ZNET_SIFRE)"
		}
	case watan.ProviderBarakat:
		acct.Credentials = map[string]watan.Secret{"token": watan.Secret(*token)}
		if *token == "" {
			missing = "--token (or $WATAN_BARAKAT_TOKEN)"
		}
	case watan.ProviderWatan:
		acct.Credentials = map[string]watan.Secret{"api_key": watan.Secret(*apiKey), "account": watan.Secret(*account)}
		switch {
		case acct.BaseURL == "":
			missing = "--base-url (the upstream watan, such as https://shop.example)"
		case *apiKey == "" || *account == "":
			missing = "--api-key and --account (or $WATAN_UPSTREAM_API_KEY and $WATAN_UPSTREAM_ACCOUNT)"
		}
	default:
		missing = "--kind znet, --kind barakat or --kind watan"
	}
	if missing != "" {
		fmt.Fprintf(env.Stderr, "watan provider check: needs %s\n\n", missing)
		fs.Usage()
		return errUsage
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	p, err := providers.Build(acct, nil, nil, logger) // the operator asks for this account on purpose
	if err != nil {
		return err
	}
	return checkProvider(ctx, env.Stdout, acct.Kind, p)
}

// checkProvider asks p for its balance and catalog and prints them, or what is
// wrong in plain words. It takes any watan.Provider so that checking a provider
// account stored in the database needs only to build its client.
func checkProvider(ctx context.Context, w io.Writer, kind watan.ProviderKind, p watan.Provider) error {
	failed := false
	bal, err := p.Balance(ctx)
	if err != nil {
		failed = true
		fmt.Fprintf(w, "Balance:  FAILED: %s\n", explainProviderError(kind, err))
	} else {
		fmt.Fprintf(w, "Balance:  %s %s\n", bal.Amount, bal.Currency)
	}
	products, err := p.Catalog(ctx)
	if err != nil {
		failed = true
		fmt.Fprintf(w, "Products: FAILED: %s\n", explainProviderError(kind, err))
	} else {
		fmt.Fprintf(w, "Products: %d\n\n", len(products))
		printProducts(w, products)
	}
	if failed {
		return errCheckFailed
	}
	return nil
}

func printProducts(w io.Writer, products []watan.Product) {
	if len(products) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tCATEGORY\tPRICE\tAVAILABLE\tQTY\tINPUTS\tMAPPING PARAMS")
	for _, p := range products {
		avail := "yes"
		if !p.Available {
			avail = "no"
		}
		inputs := strings.Join(p.Inputs, ",")
		if inputs == "" {
			inputs = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			cell(p.ID), cell(p.Name), cell(p.Category), cell(p.Price), avail, quantity(p), inputs, mappingParams(p.Params))
	}
	_ = tw.Flush()
}

// cell keeps provider text from breaking the table.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	return s
}

func quantity(p watan.Product) string {
	switch p.QtyKind {
	case "fixed":
		return "1"
	case "range":
		return fmt.Sprintf("%d..%d", p.QtyMin, p.QtyMax)
	case "set":
		return strings.Join(p.QtyValues, ",")
	}
	return "?"
}

// mappingParams shows what a mapping to the product needs, as key=value.
func mappingParams(params map[string]string) string {
	if len(params) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(params))
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		if v == "" || strings.ContainsAny(v, " \t") {
			v = strconv.Quote(v)
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}

// explainProviderError says what a failed call means for whoever set up the
// account. The clients' errors already explain the provider's answers (an empty
// answer, an HTML page, a wrong token); what the network did is explained here.
func explainProviderError(kind watan.ProviderKind, err error) string {
	pe, ok := errors.AsType[*watan.ProviderError](err)
	if !ok {
		return err.Error()
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time: the server is down or slow, or a firewall drops the traffic"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: nothing listens at the base URL (wrong host or port?)"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("unknown host %q: check the base URL", dnsErr.Name)
	}
	switch pe.Kind {
	case watan.FailTransport:
		return "could not get an answer: " + pe.Err.Error()
	case watan.FailProtocol:
		return fmt.Sprintf("an answer that is not %s's protocol (is the base URL right?): %v", kind, pe.Err)
	}
	return pe.Err.Error()
}
