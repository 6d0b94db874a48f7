package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"watan"
	"watan/internal/breaker"
)

// breakers holds one circuit breaker per provider account in this process. A
// breaker is made on the account's first call and lives as long as the engine.
type breakers struct {
	e   *Engine
	mu  sync.Mutex
	set map[int64]*accountBreaker
	// adopted: openings announced by other nodes for accounts this one has made
	// no call to yet, applied when it does.
	adopted map[int64]adoption
}

type adoption struct {
	until  time.Time
	reason string
}

type accountBreaker struct {
	kind watan.ProviderKind
	*breaker.Breaker
}

// of returns the breaker of acct.
func (bs *breakers) of(acct watan.ProviderAccount) *breaker.Breaker {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b, ok := bs.set[acct.ID]
	if !ok {
		cfg := bs.e.cfg.Breaker
		cfg.Now = bs.e.now
		cfg.OnChange = func(c breaker.Change) { bs.e.breakerChanged(acct, c) }
		b = &accountBreaker{kind: acct.Kind, Breaker: breaker.New(cfg)}
		bs.set[acct.ID] = b
		if a, ok := bs.adopted[acct.ID]; ok {
			delete(bs.adopted, acct.ID)
			b.Adopt(a.until, a.reason)
		}
	}
	return b.Breaker
}

// find returns the breaker of account id, or nil if it made no call yet.
func (bs *breakers) find(id int64) *breaker.Breaker {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b, ok := bs.set[id]; ok {
		return b.Breaker
	}
	return nil
}

// Circuit returns the state of a provider account's circuit breaker in this
// process; an account that made no call yet is closed.
func (e *Engine) Circuit(providerAccountID int64) breaker.Snapshot {
	if b := e.breakers.find(providerAccountID); b != nil {
		return b.Snapshot()
	}
	return breaker.Snapshot{State: breaker.Closed}
}

// CircuitStat is one provider account's breaker, for metrics.
type CircuitStat struct {
	Kind              watan.ProviderKind
	ProviderAccountID int64
	breaker.Snapshot
}

// Circuits returns every breaker of this process, for metrics at scrape time.
func (e *Engine) Circuits() []CircuitStat {
	e.breakers.mu.Lock()
	all := make([]CircuitStat, 0, len(e.breakers.set))
	bs := make(map[int64]*accountBreaker, len(e.breakers.set))
	maps.Copy(bs, e.breakers.set)
	e.breakers.mu.Unlock()
	for id, b := range bs {
		all = append(all, CircuitStat{Kind: b.kind, ProviderAccountID: id, Snapshot: b.Snapshot()})
	}
	slices.SortFunc(all, func(a, b CircuitStat) int { return cmp.Compare(a.ProviderAccountID, b.ProviderAccountID) })
	return all
}

// ProviderEvents pages through a provider account's timeline, newest first.
func (e *Engine) ProviderEvents(ctx context.Context, tenantID, providerAccountID int64, limit int, cursor string) ([]watan.ProviderEvent, string, error) {
	return e.store.ProviderEvents(ctx, tenantID, providerAccountID, limit, cursor)
}

// CircuitOpened applies another node's circuit opening for a provider account to
// this node's breaker, so that placements to it stop everywhere at once (see
// Config.Circuits).
func (e *Engine) CircuitOpened(providerAccountID int64, until time.Time, reason string) {
	bs := e.breakers
	bs.mu.Lock()
	b, ok := bs.set[providerAccountID]
	if !ok {
		if bs.adopted == nil {
			bs.adopted = map[int64]adoption{}
		}
		bs.adopted[providerAccountID] = adoption{until, reason}
	}
	bs.mu.Unlock()
	if ok && b.Adopt(until, reason) {
		e.log.Warn("provider circuit open on another node: placements wait or go to the fallback here too",
			"provider_account_id", providerAccountID, "until", until, "reason", reason)
	}
}

// CatalogChanged drops the cached catalog (packages, provider accounts with their
// pauses, mappings): another node or an operator changed it.
func (e *Engine) CatalogChanged() { e.catalog.forgetAll() }

// breakerChanged tells the log, the metrics and the account's timeline.
func (e *Engine) breakerChanged(acct watan.ProviderAccount, c breaker.Change) {
	e.observer.CircuitChanged(acct.Kind, acct.ID, string(c.From), string(c.To))
	attrs := []any{"provider_account_id", acct.ID, "tenant_id", acct.TenantID, "kind", acct.Kind,
		"from", c.From, "to", c.To, "calls", c.Counts.Calls, "failures", c.Counts.Failures}
	ev := watan.ProviderEvent{TenantID: acct.TenantID, ProviderAccountID: acct.ID, At: c.At, Actor: watan.ActorSystem}
	switch c.To {
	case breaker.Open:
		e.log.Warn("provider circuit open: placements wait or go to the fallback", append(attrs, "until", c.Until, "reason", c.Reason)...)
		if e.cfg.Circuits != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := e.cfg.Circuits.AnnounceCircuitOpen(ctx, acct.ID, c.Until, c.Reason); err != nil {
				e.log.Warn("announce provider circuit open to other nodes", "provider_account_id", acct.ID, "err", err)
			}
			cancel()
		}
		ev.Kind = watan.ProviderEventCircuitOpen
		ev.Message = fmt.Sprintf("circuit open until %s: %s", c.Until.Format(time.RFC3339), c.Reason)
	case breaker.HalfOpen:
		e.log.Info("provider circuit half-open: trying a few placements", attrs...)
		ev.Kind, ev.Message = watan.ProviderEventCircuitHalfOpen, "circuit half-open: trying a few placements"
	default:
		e.log.Info("provider circuit closed: dispatch resumed", attrs...)
		ev.Kind, ev.Message = watan.ProviderEventCircuitClosed, "circuit closed: dispatch resumed"
	}
	// The change happened whatever the database says; the timeline entry is the
	// record of it and must not hold up the call that caused it for long.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.store.AddProviderEvent(ctx, ev); err != nil {
		e.log.Warn("record provider circuit change", "provider_account_id", acct.ID, "err", err)
	}
}

// callOutcome classifies the answer to one provider call for its breaker. ctx is
// the caller's context: a call that ended because we gave up (shutdown) says nothing
// about the provider.
func callOutcome(ctx context.Context, err error) breaker.Outcome {
	if err == nil {
		return breaker.Success
	}
	if ctx.Err() != nil {
		return breaker.Ignored
	}
	if pe, ok := errors.AsType[*watan.ProviderError](err); ok {
		switch pe.Kind {
		case watan.FailMisconfigured:
			return breaker.Misconfigured
		case watan.FailInvalid:
			return breaker.Ignored // never sent
		}
	}
	return breaker.Transient
}

// placeOutcome classifies a placement's answer.
func placeOutcome(ctx context.Context, res watan.PlaceResult, err error) breaker.Outcome {
	if err == nil && res.Outcome == watan.PlaceRejected && res.Reason == watan.ReasonMisconfigured {
		return breaker.Misconfigured
	}
	return callOutcome(ctx, err)
}

// circuitWait is how long an order refused by an open breaker waits before its job
// looks again: until the breaker half-opens, plus a spread so that the orders that
// waited do not all come back at the instant only a few trials may go out.
func (e *Engine) circuitWait(oe *breaker.OpenError) time.Duration {
	d := oe.Until.Sub(e.now())
	e.rngMu.Lock()
	spread := time.Duration(e.rng.Int64N(int64(max(time.Second, d/4))))
	e.rngMu.Unlock()
	return max(d, 0) + spread
}
