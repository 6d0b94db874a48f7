// Package balanceprobe asks every active provider account for its balance on a
// schedule, records it (the Providers page shows it over time), and raises the
// low-balance signals: the store's low_balance event when a balance falls below
// the account's threshold, and a metric.
package balanceprobe

import (
	"context"
	"log/slog"
	"time"

	"watan"
)

// Store is what the probe reads and writes; *store.Store satisfies it.
type Store interface {
	ListTenants(ctx context.Context) ([]watan.Tenant, error)
	ListProviderAccounts(ctx context.Context, tenantID int64) ([]watan.ProviderAccount, error)
	RecordProviderBalance(ctx context.Context, tenantID, providerAccountID int64, balance watan.Amount) (low bool, err error)
}

// Providers builds a provider account's client (internal/providers).
type Providers interface {
	Provider(acct watan.ProviderAccount) (watan.Provider, error)
}

// Observer hears every balance read (internal/metrics).
type Observer interface {
	ProviderBalance(providerAccountID int64, balance watan.Amount, low bool)
}

// Config is what New needs. Store and Providers are required.
type Config struct {
	Store     Store
	Providers Providers
	// Observer, if set, hears every balance. Default nil.
	Observer Observer
	// Interval between rounds. Default DefaultInterval.
	Interval time.Duration
	// Timeout bounds one account's call. Default 20 s.
	Timeout time.Duration
	// Logger receives failed reads. Default: discard.
	Logger *slog.Logger
}

// DefaultInterval is how often balances are read: often enough to warn before a
// provider refuses orders for want of balance, rarely enough to cost nothing.
const DefaultInterval = 15 * time.Minute

// Probe reads balances.
type Probe struct {
	cfg Config
}

// New returns a Probe.
func New(cfg Config) *Probe {
	if cfg.Store == nil || cfg.Providers == nil {
		panic("balanceprobe: Config needs Store and Providers")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 20 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Probe{cfg: cfg}
}

// Run reads every balance at once and then every Interval until ctx ends.
func (p *Probe) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		p.Once(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once reads and records the balance of every active provider account of every
// tenant, and returns how many it recorded. A failed read is logged and skipped:
// the provider's health is the circuit breaker's business, not the probe's.
func (p *Probe) Once(ctx context.Context) int {
	tenants, err := p.cfg.Store.ListTenants(ctx)
	if err != nil {
		p.cfg.Logger.Warn("balance probe: list tenants", "err", err)
		return 0
	}
	n := 0
	for _, t := range tenants {
		accts, err := p.cfg.Store.ListProviderAccounts(ctx, t.ID)
		if err != nil {
			p.cfg.Logger.Warn("balance probe: list provider accounts", "tenant_id", t.ID, "err", err)
			continue
		}
		for _, a := range accts {
			if ctx.Err() != nil {
				return n
			}
			if !a.Active {
				continue
			}
			if p.probe(ctx, a) {
				n++
			}
		}
	}
	return n
}

func (p *Probe) probe(ctx context.Context, a watan.ProviderAccount) bool {
	log := p.cfg.Logger.With("tenant_id", a.TenantID, "provider_account_id", a.ID)
	client, err := p.cfg.Providers.Provider(a)
	if err != nil {
		log.Warn("balance probe: provider", "err", err)
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	b, err := client.Balance(cctx)
	cancel()
	if err != nil {
		log.Info("balance probe: read failed", "err", err) // the clients redact credentials
		return false
	}
	amount, ok := watan.ParseProviderAmount(b.Amount)
	if !ok {
		log.Warn("balance probe: unreadable balance", "balance", b.Amount)
		return false
	}
	low, err := p.cfg.Store.RecordProviderBalance(ctx, a.TenantID, a.ID, amount)
	if err != nil {
		log.Warn("balance probe: record", "err", err)
		return false
	}
	if low {
		log.Warn("provider balance below threshold", "balance", amount.String(), "threshold", a.LowBalanceThreshold)
	}
	if p.cfg.Observer != nil {
		p.cfg.Observer.ProviderBalance(a.ID, amount, low)
	}
	return true
}
