package metrics

import (
	"context"
	"time"

	"watan"
	"watan/internal/engine"
	"watan/internal/providers"
	"watan/internal/webhooks"
)

// InstrumentProvider returns p with every call timed into
// watan_provider_call_duration_seconds{provider_kind=kind, op, result}, where op is
// place, check, balance or catalog and result is ok or error (a *ProviderError; a
// provider's refusal is an answer, so ok).
func (m *Metrics) InstrumentProvider(kind watan.ProviderKind, p watan.Provider) watan.Provider {
	return &instrumented{p: p, kind: string(kind), m: m}
}

// WrapProvider is InstrumentProvider in the shape of providers.Config.Wrap.
func (m *Metrics) WrapProvider(acct watan.ProviderAccount, p watan.Provider) watan.Provider {
	return m.InstrumentProvider(acct.Kind, p)
}

type instrumented struct {
	p    watan.Provider
	kind string
	m    *Metrics
}

func (i *instrumented) observe(op string, start time.Time, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	i.m.providerLatency.WithLabelValues(i.kind, op, result).Observe(time.Since(start).Seconds())
}

func (i *instrumented) Place(ctx context.Context, req watan.PlaceRequest) (watan.PlaceResult, error) {
	start := time.Now()
	res, err := i.p.Place(ctx, req)
	i.observe("place", start, err)
	return res, err
}

func (i *instrumented) Check(ctx context.Context, refs []watan.CheckRef) ([]watan.CheckResult, error) {
	start := time.Now()
	res, err := i.p.Check(ctx, refs)
	i.observe("check", start, err)
	return res, err
}

func (i *instrumented) Balance(ctx context.Context) (watan.Balance, error) {
	start := time.Now()
	res, err := i.p.Balance(ctx)
	i.observe("balance", start, err)
	return res, err
}

func (i *instrumented) Catalog(ctx context.Context) ([]watan.Product, error) {
	start := time.Now()
	res, err := i.p.Catalog(ctx)
	i.observe("catalog", start, err)
	return res, err
}

func (i *instrumented) Capabilities() watan.Capabilities { return i.p.Capabilities() }

// Compile-time checks that Metrics fits the ports it is wired into.
var (
	_ engine.Observer   = (*Metrics)(nil)
	_ webhooks.Observer = (*Metrics)(nil)
	_                   = providers.Config{Wrap: (*Metrics)(nil).WrapProvider}
)
