package engine

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func sample(n int, seed uint64, draw func(r *rand.Rand) float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float64, n)
	for i := range x {
		x[i] = draw(r)
	}
	slices.Sort(x)
	return x
}

func TestPlanChecks(t *testing.T) {
	const d = 55 * time.Second
	t.Run("unimodal: every D from D on", func(t *testing.T) {
		x := sample(256, 1, func(r *rand.Rand) float64 { return 20 * math.Exp(r.NormFloat64()) })
		plan := planChecks(x, d)
		if len(plan) != adaptivePlanned || plan[0] != d {
			t.Fatalf("plan %v: want %d checks, the first at %s", plan, adaptivePlanned, d)
		}
		for i := 1; i < len(plan); i++ {
			if gap := plan[i] - plan[i-1]; gap < d || gap > d+d/2 {
				t.Errorf("gap %d is %s: a dense distribution is checked about every D", i, gap)
			}
		}
	})
	t.Run("bimodal: the gap between the modes is skipped", func(t *testing.T) {
		x := sample(256, 2, func(r *rand.Rand) float64 {
			if r.Float64() < 0.7 {
				return 5 * math.Exp(0.5*r.NormFloat64())
			}
			return 300 * math.Exp(0.3*r.NormFloat64())
		})
		plan := planChecks(x, d)
		slowMin := x[firstAbove(x, 60)]
		if want := seconds(slowMin) + d/2; plan[1] != want {
			t.Fatalf("plan %v: the second check should come D/2 after the first slow completion learned (%.0fs)", plan[:3], slowMin)
		}
	})
	t.Run("ceiling and floor", func(t *testing.T) {
		x := sample(100, 3, func(r *rand.Rand) float64 { return 3600 + r.Float64() })
		plan := planChecks(x, time.Second)
		if plan[0] != adaptiveFloor || plan[1]-plan[0] != adaptiveCeiling {
			t.Fatalf("plan %v: first check at the floor, then a skip of at most the ceiling", plan[:2])
		}
	})
}

// firstAbove returns the index of the first value above v.
func firstAbove(x []float64, v float64) int {
	i, _ := slices.BinarySearch(x, v)
	return i
}

func TestAdaptiveDelay(t *testing.T) {
	plan := []time.Duration{55 * time.Second, 110 * time.Second, 300 * time.Second}
	for _, tt := range []struct {
		elapsed, want time.Duration
		ok            bool
	}{
		{0, 55 * time.Second, true},
		{52 * time.Second, 58 * time.Second, true}, // 55 s is closer than the floor
		{110 * time.Second, 190 * time.Second, true},
		{296 * time.Second, 0, false},
	} {
		got, ok := adaptiveDelay(plan, tt.elapsed)
		if got != tt.want || ok != tt.ok {
			t.Errorf("elapsed %s: %s %v, want %s %v", tt.elapsed, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLearnerWindow(t *testing.T) {
	l := newLearner()
	for i := range adaptiveMinSamples - 1 {
		l.observe(7, time.Duration(i)*time.Second)
	}
	if l.plan(7, time.Minute) != nil {
		t.Fatal("a plan before enough completions")
	}
	if s := l.stats()[0]; s.Ready || s.Samples != adaptiveMinSamples-1 {
		t.Fatalf("stats %+v", s)
	}
	// The window keeps the newest 256: after 1000 completions of 100 s, the early
	// ones are gone.
	for range 1000 {
		l.observe(7, 100*time.Second)
	}
	s := l.stats()[0]
	if !s.Ready || s.Samples != adaptiveWindow || s.Total != 1000+adaptiveMinSamples-1 || s.P50 != 100*time.Second || s.P99 != 100*time.Second {
		t.Fatalf("stats %+v", s)
	}
	if p := l.plan(7, time.Minute); len(p) == 0 || p[0] != time.Minute {
		t.Fatalf("plan %v", p)
	}
}
