package store_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"watan/internal/store"
	"watan/internal/store/storetest"
)

func TestCallLeases(t *testing.T) {
	storetest.Run(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		st := open(t)
		ctx := t.Context()
		var slots []int
		for i := range 3 {
			slot, ok, err := st.AcquireCallLease(ctx, 7, 3, fmt.Sprint("h", i), time.Minute)
			if err != nil || !ok {
				t.Fatalf("lease %d: %v %v", i, ok, err)
			}
			slots = append(slots, slot)
		}
		if _, ok, err := st.AcquireCallLease(ctx, 7, 3, "h3", time.Minute); err != nil || ok {
			t.Fatalf("a fourth lease of three slots: %v %v", ok, err)
		}
		// Another account has slots of its own.
		if _, ok, err := st.AcquireCallLease(ctx, 8, 3, "other", time.Minute); err != nil || !ok {
			t.Fatalf("another account's lease: %v %v", ok, err)
		}
		// A release by the wrong holder frees nothing; the right one frees the slot.
		if err := st.ReleaseCallLease(ctx, 7, slots[0], "h1"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := st.AcquireCallLease(ctx, 7, 3, "h4", time.Minute); ok {
			t.Fatal("a release by another holder freed a slot")
		}
		if err := st.ReleaseCallLease(ctx, 7, slots[0], "h0"); err != nil {
			t.Fatal(err)
		}
		if slot, ok, err := st.AcquireCallLease(ctx, 7, 3, "h5", time.Minute); err != nil || !ok || slot != slots[0] {
			t.Fatalf("after a release: slot %d %v %v, want %d", slot, ok, err, slots[0])
		}

		// A dead holder's lease expires.
		if _, ok, err := st.AcquireCallLease(ctx, 9, 1, "dead", time.Millisecond); err != nil || !ok {
			t.Fatalf("short lease: %v %v", ok, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, ok, err := st.AcquireCallLease(ctx, 9, 1, "next", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("an expired lease was never taken over")
			}
			time.Sleep(5 * time.Millisecond)
		}

		// Many callers at once never hold more than the slots.
		var held, peak atomic.Int32
		var wg sync.WaitGroup
		for g := range 12 {
			wg.Go(func() {
				for i := range 10 {
					holder := fmt.Sprintf("g%d-%d", g, i)
					var slot int
					for {
						s, ok, err := st.AcquireCallLease(ctx, 10, 2, holder, time.Minute)
						if err != nil {
							t.Error(err)
							return
						}
						if ok {
							slot = s
							break
						}
						time.Sleep(time.Millisecond)
					}
					n := held.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					time.Sleep(time.Millisecond)
					held.Add(-1)
					if err := st.ReleaseCallLease(ctx, 10, slot, holder); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if p := peak.Load(); p > 2 || p == 0 {
			t.Errorf("peak holders %d of 2 slots", p)
		}

		// Reservations are spaced one interval apart.
		var waits []time.Duration
		for range 3 {
			w, err := st.ReserveCallRate(ctx, 7, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			waits = append(waits, w)
		}
		if waits[0] > 100*time.Millisecond || waits[1] < 500*time.Millisecond || waits[2] < waits[1]+500*time.Millisecond {
			t.Errorf("waits of three reservations at 1/s: %v", waits)
		}
	})
}
