// Package providers builds upstream clients for provider accounts: it maps an
// account's kind, base URL, credentials and timeouts onto the znet, barakat or
// watan client,
// and reuses a client for as long as its account is unchanged, so that keep-alive
// connections survive across jobs.
package providers

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"watan"
	"watan/internal/barakat"
	"watan/internal/egress"
	"watan/internal/watanapi"
	"watan/internal/znet"
)

// Config configures a Registry.
type Config struct {
	// Logger is handed to every client. Default discard.
	Logger *slog.Logger
	// HTTPClient, if set, sends every request instead of each client's own. Tests
	// and the demo use it; production leaves it nil so that per-account connect
	// timeouts apply.
	HTTPClient *http.Client
	// Egress limits the addresses the clients may dial (package egress). Default
	// nil: any address. Ignored for HTTPClient, which is its owner's to guard.
	Egress *egress.Policy
	// Wrap, if set, wraps every client the registry builds (metrics time calls
	// with it); the wrapped client is what the registry caches and hands out.
	Wrap func(acct watan.ProviderAccount, p watan.Provider) watan.Provider
}

// Registry hands out clients by provider account. It is safe for concurrent use.
type Registry struct {
	cfg Config

	mu      sync.Mutex
	clients map[int64]cached
}

type cached struct {
	version time.Time // the account's UpdatedAt when the client was built
	client  watan.Provider
}

// New returns a Registry.
func New(cfg Config) *Registry {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Registry{cfg: cfg, clients: make(map[int64]cached)}
}

// Provider returns a client for acct, building it on first use and again after the
// account changed.
func (r *Registry) Provider(acct watan.ProviderAccount) (watan.Provider, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[acct.ID]; ok && acct.ID != 0 && c.version.Equal(acct.UpdatedAt) {
		return c.client, nil
	}
	client, err := Build(acct, r.cfg.HTTPClient, r.cfg.Egress, r.cfg.Logger)
	if err != nil {
		return nil, err
	}
	if r.cfg.Wrap != nil {
		client = r.cfg.Wrap(acct, client)
	}
	if acct.ID != 0 {
		r.clients[acct.ID] = cached{version: acct.UpdatedAt, client: client}
	}
	return client, nil
}

// Build makes a client for acct, dialing only what guard allows (nil: anything).
// Credentials are znet "kod" and "sifre", barakat "token", watan "api_key" and
// "account".
func Build(acct watan.ProviderAccount, hc *http.Client, guard *egress.Policy, logger *slog.Logger) (watan.Provider, error) {
	s := acct.Settings.WithDefaults(acct.Kind)
	logger = logger.With("provider_account_id", acct.ID)
	switch acct.Kind {
	case watan.ProviderZnet:
		c, err := znet.New(znet.Config{
			BaseURL: acct.BaseURL, Kod: acct.Credentials["kod"], Sifre: acct.Credentials["sifre"],
			HTTPClient: hc, Egress: guard, ConnectTimeout: s.ConnectTimeout, RequestTimeout: s.RequestTimeout, Logger: logger,
		})
		if err != nil {
			return nil, fmt.Errorf("provider account %q: %w", acct.Name, err)
		}
		return c, nil
	case watan.ProviderBarakat:
		c, err := barakat.New(barakat.Config{
			BaseURL: acct.BaseURL, Token: acct.Credentials["token"],
			HTTPClient: hc, Egress: guard, ConnectTimeout: s.ConnectTimeout, RequestTimeout: s.RequestTimeout, Logger: logger,
		})
		if err != nil {
			return nil, fmt.Errorf("provider account %q: %w", acct.Name, err)
		}
		return c, nil
	case watan.ProviderWatan:
		c, err := watanapi.New(watanapi.Config{
			BaseURL: acct.BaseURL, APIKey: acct.Credentials[watanapi.CredAPIKey], Account: acct.Credentials[watanapi.CredAccount].Reveal(),
			HTTPClient: hc, Egress: guard, ConnectTimeout: s.ConnectTimeout, RequestTimeout: s.RequestTimeout, Logger: logger,
		})
		if err != nil {
			return nil, fmt.Errorf("provider account %q: %w", acct.Name, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("provider account %q: unsupported kind %q", acct.Name, acct.Kind)
}
