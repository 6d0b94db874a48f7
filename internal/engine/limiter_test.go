package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"watan"
)

func acctWith(id int64, inFlight int, perSecond int) watan.ProviderAccount {
	return watan.ProviderAccount{ID: id, Kind: watan.ProviderZnet, Settings: watan.ProviderSettings{MaxInFlight: inFlight, MaxPerSecond: perSecond}}
}

func TestLimiterBoundsCallsPerAccount(t *testing.T) {
	l := newLimiter(nil, "n1")
	ctx := context.Background()
	var releases []func()
	for range 3 {
		r, err := l.acquire(ctx, acctWith(1, 3, 0))
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	// A fourth call waits; a cancelled wait gives up with the context's error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.acquire(cctx, acctWith(1, 3, 0)); err == nil {
		t.Fatal("a fourth call got a slot while three were in flight")
	}
	// Another account has its own slots.
	if r, err := l.acquire(ctx, acctWith(2, 3, 0)); err != nil {
		t.Fatalf("other account: %v", err)
	} else {
		r()
	}
	got := make(chan struct{})
	go func() {
		r, err := l.acquire(ctx, acctWith(1, 3, 0))
		if err == nil {
			r()
		}
		close(got)
	}()
	releases[0]()
	<-got
}

func TestLimiterRatePerAccount(t *testing.T) {
	l := newLimiter(nil, "n1")
	slow := acctWith(1, 3, 1) // one call a second
	r, err := l.acquire(context.Background(), slow)
	if err != nil {
		t.Fatal(err)
	}
	r()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := l.acquire(ctx, slow); err == nil {
		t.Fatal("a second call within the rate's interval went out")
	}
}

// memLeases is Leases in memory, shared by limiters as processes share a database.
type memLeases struct {
	mu    sync.Mutex
	slots map[[2]int64]string
	next  map[int64]time.Time
}

func (m *memLeases) AcquireCallLease(_ context.Context, id int64, n int, holder string, _ time.Duration) (int, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for s := range n {
		k := [2]int64{id, int64(s)}
		if m.slots[k] == "" {
			m.slots[k] = holder
			return s, true, nil
		}
	}
	return 0, false, nil
}

func (m *memLeases) ReleaseCallLease(_ context.Context, id int64, slot int, holder string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k := [2]int64{id, int64(slot)}; m.slots[k] == holder {
		delete(m.slots, k)
	}
	return nil
}

func (m *memLeases) ReserveCallRate(_ context.Context, id int64, interval time.Duration) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	at := m.next[id]
	if at.Before(now) {
		at = now
	}
	m.next[id] = at.Add(interval)
	return at.Sub(now), nil
}

// TestLimiterSharesLeases: two processes with their own limiters over one lease
// table together hold no more than the account's slots.
func TestLimiterSharesLeases(t *testing.T) {
	leases := &memLeases{slots: map[[2]int64]string{}, next: map[int64]time.Time{}}
	a, b := newLimiter(leases, "a"), newLimiter(leases, "b")
	ctx := context.Background()
	ra, err := a.acquire(ctx, acctWith(1, 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.acquire(ctx, acctWith(1, 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := a.acquire(cctx, acctWith(1, 2, 0)); err == nil {
		t.Fatal("a third call got a slot while the two nodes held both")
	}
	got := make(chan struct{})
	go func() {
		if r, err := a.acquire(ctx, acctWith(1, 2, 0)); err == nil {
			r()
		}
		close(got)
	}()
	rb() // b's release frees a slot for a
	<-got
	ra()
}
