package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"watan"
)

// Leases grants slots of a provider account's calls in flight, and moments for its
// rate-limited calls, shared by every process on one database (*store.Store
// implements it). Leases expire, so a process that dies holding one gives it back
// by itself.
type Leases interface {
	// AcquireCallLease takes one of the account's slots for holder until ttl;
	// ok is false when every slot is taken.
	AcquireCallLease(ctx context.Context, accountID int64, slots int, holder string, ttl time.Duration) (slot int, ok bool, err error)
	ReleaseCallLease(ctx context.Context, accountID int64, slot int, holder string) error
	// ReserveCallRate reserves the account's next call moment, one interval after
	// the previous one, and says how long until it.
	ReserveCallRate(ctx context.Context, accountID int64, interval time.Duration) (time.Duration, error)
}

// CircuitAnnouncer tells the other nodes that a provider account's circuit opened
// (*store.Store on PostgreSQL).
type CircuitAnnouncer interface {
	AnnounceCircuitOpen(ctx context.Context, providerAccountID int64, until time.Time, reason string) error
}

// callLeaseMargin is added to the longest a call may last (connect and request
// timeouts) for a lease's lifetime: a lease outliving its call is harmless, one
// expiring while the call is still on the wire would let one call too many out.
const callLeaseMargin = 10 * time.Second

// Backoff between tries for a cluster slot while all are taken.
const (
	leaseRetryMin = 2 * time.Millisecond
	leaseRetryMax = 50 * time.Millisecond
)

// limiter bounds calls per provider account: calls in flight (MaxInFlight) and
// calls a second (MaxPerSecond). Within the process a semaphore per account comes
// first, so that at most MaxInFlight of this process's workers wait on the
// database; with Leases the limits then hold across every process sharing it.
type limiter struct {
	leases Leases // nil: this process alone
	node   string
	seq    atomic.Uint64

	mu    sync.Mutex
	sems  map[int64]chan struct{}
	rates map[int64]*rate.Limiter
}

func newLimiter(leases Leases, node string) *limiter {
	return &limiter{leases: leases, node: node, sems: make(map[int64]chan struct{}), rates: make(map[int64]*rate.Limiter)}
}

// acquire waits until a call to acct may start and returns what ends it.
func (l *limiter) acquire(ctx context.Context, acct watan.ProviderAccount) (func(), error) {
	s := acct.Settings.WithDefaults(acct.Kind)
	n := s.MaxInFlight
	l.mu.Lock()
	sem, ok := l.sems[acct.ID]
	if !ok || cap(sem) != n {
		if !ok || len(sem) == 0 {
			sem = make(chan struct{}, n)
			l.sems[acct.ID] = sem
		}
	}
	l.mu.Unlock()
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	local := func() { <-sem }
	if l.leases == nil {
		if err := l.localRate(ctx, acct.ID, s.MaxPerSecond); err != nil {
			local()
			return nil, err
		}
		return local, nil
	}

	holder := fmt.Sprintf("%s/%d", l.node, l.seq.Add(1))
	slot, err := l.lease(ctx, acct.ID, n, holder, s.ConnectTimeout+s.RequestTimeout+callLeaseMargin)
	if err != nil {
		local()
		return nil, err
	}
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		// Should this fail, the lease expires by itself.
		_ = l.leases.ReleaseCallLease(rctx, acct.ID, slot, holder)
		cancel()
		local()
	}
	if s.MaxPerSecond > 0 {
		wait, err := l.leases.ReserveCallRate(ctx, acct.ID, time.Second/time.Duration(s.MaxPerSecond))
		if err == nil {
			err = sleep(ctx, wait)
		}
		if err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}

// lease tries for a cluster slot until it gets one, backing off while all are taken.
func (l *limiter) lease(ctx context.Context, accountID int64, n int, holder string, ttl time.Duration) (int, error) {
	backoff := leaseRetryMin
	for {
		slot, ok, err := l.leases.AcquireCallLease(ctx, accountID, n, holder, ttl)
		if err != nil {
			return 0, fmt.Errorf("provider account %d: %w", accountID, err)
		}
		if ok {
			return slot, nil
		}
		if err := sleep(ctx, backoff/2+rand.N(backoff/2+1)); err != nil {
			return 0, err
		}
		backoff = min(2*backoff, leaseRetryMax)
	}
}

// localRate waits for this process's token bucket of the account (burst 1).
func (l *limiter) localRate(ctx context.Context, accountID int64, perSecond int) error {
	if perSecond <= 0 {
		return nil
	}
	l.mu.Lock()
	r, ok := l.rates[accountID]
	if !ok {
		r = rate.NewLimiter(rate.Limit(perSecond), 1)
		l.rates[accountID] = r
	} else if r.Limit() != rate.Limit(perSecond) {
		r.SetLimit(rate.Limit(perSecond))
	}
	l.mu.Unlock()
	return r.Wait(ctx)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
