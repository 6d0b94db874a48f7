package engine

import (
	"slices"
	"sort"
	"sync"
	"time"
)

// The adaptive policy (watan.PollAdaptive) learns, per provider account, how long
// its orders take from sending to completion, and skips checks where no answer
// is likely. Its one knob is the account's poll interval, read as the detection
// delay to keep at the 99th percentile (D, default 55 s):
//
//   - the first check comes D after sending;
//   - each next check comes D after the previous one, or, when the learned
//     distribution has no completions just after the previous check (a gap
//     between a fast and a slow kind of order), at D/2 past the next learned
//     completion: checks skip what cannot be answered yet;
//   - past the learned 95th percentile, where a few samples say little, checks
//     keep to every D;
//   - at most adaptivePlanned checks are planned; past them, or until
//     adaptiveMinSamples completions were seen, the policy is steady's.
//
// A completion is only known to lie between the last "pending" answer and the
// final one (see Engine.observeCompletion for how it is learned). That estimate
// depends on the schedule it helps to make; the rules above are the ones that
// stay put under it. An earlier first check at D plus the learned 1 % quantile
// did not: the first interval's completions, all learned at its middle, pushed
// the first check later with every rebuild (to about 2D; p99 97 s for D = 55 s in
// the monitor bench).
//
// A streaming sketch (t-digest, KLL) answers quantiles of an unbounded stream in
// little memory; this needs the quantiles of the last adaptiveWindow completions
// only, which fit in a ring of 256 floats and sort in microseconds, so an exact
// window is used (no maintained Go quantile library is available here either).
// AdaptiveMinSamples is how many completions of a provider account the adaptive
// policy waits for before it departs from steady.
const AdaptiveMinSamples = adaptiveMinSamples

const (
	adaptiveWindow     = 256              // completions remembered per provider account
	adaptiveMinSamples = 50               // before that, steady
	adaptiveRebuild    = 8                // new completions between schedule rebuilds
	adaptivePlanned    = 20               // planned checks per order at most
	adaptiveFloor      = 5 * time.Second  // no two checks of an order closer than this
	adaptiveCeiling    = 10 * time.Minute // nor further apart than this
	adaptiveTail       = 0.95             // from this learned quantile on, every D
)

// learner keeps each provider account's recent completion times.
type learner struct {
	mu    sync.Mutex
	accts map[int64]*completions
}

type completions struct {
	ring  []float64 // seconds from sending to completion, newest at ring[(next-1)%len]
	next  int
	total int // completions seen since the process started

	fresh  int       // completions since sorted was built
	sorted []float64 // the ring, sorted
	plans  map[time.Duration][]time.Duration
}

func newLearner() *learner { return &learner{accts: map[int64]*completions{}} }

// observe records that an order of the account completed d after it was sent.
func (l *learner) observe(acctID int64, d time.Duration) {
	if d < 0 {
		d = 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.accts[acctID]
	if c == nil {
		c = &completions{ring: make([]float64, 0, adaptiveWindow)}
		l.accts[acctID] = c
	}
	if len(c.ring) < adaptiveWindow {
		c.ring = append(c.ring, d.Seconds())
	} else {
		c.ring[c.next] = d.Seconds()
	}
	c.next = (c.next + 1) % adaptiveWindow
	c.total++
	c.fresh++
}

// current returns the sorted window, rebuilt every adaptiveRebuild completions
// (plans are dropped with it). The caller holds l.mu.
func (c *completions) current() []float64 {
	if c.sorted == nil || c.fresh >= adaptiveRebuild {
		c.sorted = slices.Clone(c.ring)
		slices.Sort(c.sorted)
		c.fresh, c.plans = 0, nil
	}
	return c.sorted
}

// plan returns the check times (from sending) for target delay D, or nil while
// too few completions are known.
func (l *learner) plan(acctID int64, target time.Duration) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.accts[acctID]
	if c == nil || len(c.ring) < adaptiveMinSamples {
		return nil
	}
	x := c.current()
	if p, ok := c.plans[target]; ok {
		return p
	}
	p := planChecks(x, target)
	if c.plans == nil {
		c.plans = map[time.Duration][]time.Duration{}
	}
	c.plans[target] = p
	return p
}

// planChecks lays out the checks for sorted completion times x (seconds) and
// target delay D, as the package comment describes.
func planChecks(x []float64, target time.Duration) []time.Duration {
	n := len(x)
	d := target.Seconds()
	cdf := func(t float64) float64 { return float64(sort.SearchFloat64s(x, t+1e-9)) / float64(n) }
	clamp := func(t, prev float64) float64 {
		return min(max(t, prev+adaptiveFloor.Seconds()), prev+adaptiveCeiling.Seconds())
	}
	t := clamp(d, 0)
	plan := []time.Duration{seconds(t)}
	for len(plan) < adaptivePlanned {
		prev := t
		t = prev + d
		if cdf(prev) < adaptiveTail {
			if i := sort.SearchFloat64s(x, prev+1e-9); i < n && x[i]-d/2 > prev {
				t = max(t, x[i]-d/2+d) // nothing learned finishes before x[i]: skip to it
			}
		}
		t = clamp(t, prev)
		plan = append(plan, seconds(t))
	}
	return plan
}

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond)
}

// adaptiveDelay is the wait before the next check of an order sent elapsed ago,
// following plan; ok is false past the plan (steady takes over).
func adaptiveDelay(plan []time.Duration, elapsed time.Duration) (time.Duration, bool) {
	for _, t := range plan {
		if t >= elapsed+adaptiveFloor {
			return t - elapsed, true
		}
	}
	return 0, false
}

// CompletionStat is what a provider account's adaptive policy has learned in
// this process: completions seen, and quantiles of the recent ones (zero until
// there are enough).
type CompletionStat struct {
	ProviderAccountID int64
	Samples           int // in the window (at most 256)
	Total             int // since the process started
	Ready             bool
	P50, P90, P99     time.Duration
}

// stats reports every account's learned distribution.
func (l *learner) stats() []CompletionStat {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]CompletionStat, 0, len(l.accts))
	for id, c := range l.accts {
		out = append(out, c.stat(id))
	}
	slices.SortFunc(out, func(a, b CompletionStat) int { return int(a.ProviderAccountID - b.ProviderAccountID) })
	return out
}

func (c *completions) stat(id int64) CompletionStat {
	s := CompletionStat{ProviderAccountID: id, Samples: len(c.ring), Total: c.total, Ready: len(c.ring) >= adaptiveMinSamples}
	if len(c.ring) > 0 {
		x := c.current()
		q := func(p float64) time.Duration {
			return seconds(x[min(len(x)-1, max(0, int(float64(len(x))*p+0.999999)-1))])
		}
		s.P50, s.P90, s.P99 = q(0.5), q(0.9), q(0.99)
	}
	return s
}
