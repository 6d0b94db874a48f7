package engine

import (
	"math/rand/v2"
	"testing"
	"time"

	"watan"
)

func TestNextCheckDelayExponential(t *testing.T) {
	s := watan.ProviderSettings{Policy: watan.PollExponential}.WithDefaults(watan.ProviderZnet)
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute}
	for i, w := range want {
		if got := nextCheckDelay(s, i+1, nil); got != w {
			t.Errorf("after check %d: got %v, want %v", i+1, got, w)
		}
	}
}

func TestNextCheckDelayFixedWithJitter(t *testing.T) {
	s := watan.ProviderSettings{Policy: watan.PollFixed, PollInterval: 10 * time.Second}.WithDefaults(watan.ProviderBarakat)
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[time.Duration]bool{}
	for i := range 200 {
		d := nextCheckDelay(s, i, rng)
		if d < 9*time.Second || d > 11*time.Second {
			t.Fatalf("jittered delay %v outside ±10%% of 10s", d)
		}
		seen[d] = true
	}
	if len(seen) < 50 {
		t.Errorf("jitter produced only %d distinct delays in 200 draws", len(seen))
	}
}

func TestRetryDelay(t *testing.T) {
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if got := RetryDelay(i + 1); got != w {
			t.Errorf("failure %d: got %v, want %v", i+1, got, w)
		}
	}
}

func TestReferansIsNumericUniqueAndUnlikeLegacy(t *testing.T) {
	seen := map[string]bool{}
	for _, id := range []int64{1, 2, 10, 999_999_999_999} {
		for n := 1; n <= 3; n++ {
			r := referans(id, n)
			if len(r) != 15 {
				t.Errorf("referans(%d,%d) = %q: want 15 digits (legacy references have 16)", id, n, r)
			}
			for _, c := range r {
				if c < '0' || c > '9' {
					t.Fatalf("referans(%d,%d) = %q is not numeric", id, n, r)
				}
			}
			if seen[r] {
				t.Fatalf("referans(%d,%d) = %q repeats", id, n, r)
			}
			seen[r] = true
		}
	}
}

func TestNextCheckDelaySteadyThenCapped(t *testing.T) {
	s := watan.ProviderSettings{}.WithDefaults(watan.ProviderZnet)
	if s.Policy != watan.PollSteady || s.FirstCheckDelay != 55*time.Second || s.PollInterval != 55*time.Second {
		t.Fatalf("defaults: %+v", s)
	}
	for checks := 1; checks <= 10; checks++ {
		if got := nextCheckDelay(s, checks, nil); got != 55*time.Second {
			t.Fatalf("after check %d: %v, want 55s", checks, got)
		}
	}
	if got := nextCheckDelay(s, 11, nil); got != 10*time.Minute {
		t.Fatalf("after 10 minutes of checks: %v, want 10m", got)
	}
}
