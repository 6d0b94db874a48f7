package breaker

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// clock is a manual clock for the tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTest(t *testing.T, cfg Config) (*Breaker, *clock, *[]Change) {
	t.Helper()
	clk := &clock{now: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	var changes []Change
	cfg.Now = clk.Now
	cfg.OnChange = func(c Change) { changes = append(changes, c) }
	return New(cfg), clk, &changes
}

// place asks the breaker and reports o; it fails the test if the call is refused.
func place(t *testing.T, b *Breaker, o Outcome) {
	t.Helper()
	report, err := b.Allow()
	if err != nil {
		t.Fatalf("Allow refused in state %s: %v", b.Snapshot().State, err)
	}
	report(o, "test")
}

func TestMisconfigurationRunOpensThenHalfOpensThenCloses(t *testing.T) {
	b, clk, changes := newTest(t, Config{MisconfiguredInARow: 3, CoolDown: 30 * time.Second, Trials: 2})
	place(t, b, Misconfigured)
	place(t, b, Misconfigured)
	if s := b.Snapshot().State; s != Closed {
		t.Fatalf("after 2 signals: %s, want closed (a single bad answer never stops dispatch)", s)
	}
	place(t, b, Misconfigured)
	snap := b.Snapshot()
	if snap.State != Open || !snap.Until.Equal(clk.Now().Add(30*time.Second)) {
		t.Fatalf("after 3 signals: %+v, want open for 30 s", snap)
	}
	if _, err := b.Allow(); err == nil {
		t.Fatal("open breaker allowed a placement")
	} else if oe, ok := IsOpen(err); !ok || oe.State != Open || !oe.Until.Equal(snap.Until) {
		t.Fatalf("refusal %v, want OpenError until %s", err, snap.Until)
	}

	clk.advance(30 * time.Second)
	r1, err := b.Allow()
	if err != nil {
		t.Fatalf("after the cool-down: %v", err)
	}
	r2, err := b.Allow()
	if err != nil {
		t.Fatalf("second trial: %v", err)
	}
	if _, err := b.Allow(); err == nil {
		t.Fatal("half-open allowed more than Trials placements at once")
	} else if oe, _ := IsOpen(err); oe.State != HalfOpen {
		t.Fatalf("refusal while half-open says %s", oe.State)
	}
	r1(Success, "")
	if s := b.Snapshot().State; s != HalfOpen {
		t.Fatalf("after one trial success: %s, want half_open", s)
	}
	r2(Success, "")
	if s := b.Snapshot(); s.State != Closed || s.Counts.Calls != 0 {
		t.Fatalf("after Trials successes: %+v, want closed with a fresh window", s)
	}
	want := []State{Open, HalfOpen, Closed}
	if len(*changes) != len(want) {
		t.Fatalf("changes %+v, want %v", *changes, want)
	}
	for i, c := range *changes {
		if c.To != want[i] {
			t.Fatalf("change %d to %s, want %s", i, c.To, want[i])
		}
	}
	if (*changes)[0].Reason == "" || (*changes)[0].Until.IsZero() {
		t.Fatalf("opening change lacks reason or until: %+v", (*changes)[0])
	}
}

func TestSuccessBreaksTheRun(t *testing.T) {
	b, _, _ := newTest(t, Config{MisconfiguredInARow: 3, TransientInARow: 3, FailureRatio: 1})
	for range 50 {
		place(t, b, Misconfigured)
		place(t, b, Transient)
		place(t, b, Success)
	}
	if s := b.Snapshot(); s.State != Closed {
		t.Fatalf("runs of two broken by a success opened the breaker: %+v", s)
	}
}

func TestFailedTrialReopensWithLongerCoolDown(t *testing.T) {
	b, clk, _ := newTest(t, Config{TransientInARow: 2, CoolDown: 10 * time.Second, MaxCoolDown: 25 * time.Second, FailureRatio: 1, Trials: 2})
	place(t, b, Transient)
	place(t, b, Transient)
	for _, want := range []time.Duration{20 * time.Second, 25 * time.Second, 25 * time.Second} {
		clk.advance(time.Hour)
		place(t, b, Transient) // one failed trial of two leaves it half-open
		if s := b.Snapshot().State; s != HalfOpen {
			t.Fatalf("after one failed trial: %s, want half_open", s)
		}
		place(t, b, Transient)
		s := b.Snapshot()
		if s.State != Open || s.Until.Sub(clk.Now()) != want {
			t.Fatalf("after a failed trial: %+v, want open for %s", s, want)
		}
	}
	clk.advance(time.Hour)
	place(t, b, Success)
	place(t, b, Transient)
	place(t, b, Success)
	if s := b.Snapshot().State; s != Closed {
		t.Fatalf("after two successful trials and one failed: %s", s)
	}
	place(t, b, Transient)
	place(t, b, Transient)
	if s := b.Snapshot(); s.Until.Sub(clk.Now()) != 10*time.Second {
		t.Fatalf("closing did not reset the cool-down: open for %s", s.Until.Sub(clk.Now()))
	}
}

func TestFailureRatioOverTheSlidingWindow(t *testing.T) {
	b, clk, _ := newTest(t, Config{FailureRatio: 0.5, MinCalls: 10, Window: 10 * time.Second, TransientInARow: 100})
	// 9 failures alternating with successes: ratio 0.5 but fewer than MinCalls.
	for i := range 9 {
		o := Success
		if i%2 == 0 {
			o = Transient
		}
		place(t, b, o)
	}
	if s := b.Snapshot(); s.State != Closed || s.Counts.Calls != 9 || s.Counts.Failures != 5 {
		t.Fatalf("below MinCalls: %+v", s)
	}
	// The window slides: after it has passed, the old calls no longer count.
	clk.advance(11 * time.Second)
	if c := b.Snapshot().Counts; c.Calls != 0 {
		t.Fatalf("window kept %d calls after it passed", c.Calls)
	}
	for range 5 {
		place(t, b, Success)
	}
	for range 4 {
		place(t, b, Transient)
	}
	if s := b.Snapshot(); s.State != Closed {
		t.Fatalf("4 of 9: %+v", s)
	}
	place(t, b, Transient) // 5 of 10
	if s := b.Snapshot(); s.State != Open {
		t.Fatalf("5 of 10 failed at ratio 0.5: %+v", s)
	}
}

func TestChecksCountButAreNeverHeld(t *testing.T) {
	b, clk, _ := newTest(t, Config{MisconfiguredInARow: 2, Trials: 1, FailureRatio: 1})
	b.Record(Misconfigured, "html")
	b.Record(Success, "") // a check answering ends a run of checks' signals
	b.Record(Misconfigured, "html")
	if s := b.Snapshot(); s.State != Closed {
		t.Fatalf("a run broken by a good check: %+v", s)
	}
	b.Record(Misconfigured, "html")
	if s := b.Snapshot(); s.State != Open || s.Counts.Calls != 4 {
		t.Fatalf("checks' misconfiguration signals: %+v", s)
	}
	clk.advance(time.Hour)
	// Half-open: checks neither close it nor open it again; a trial placement does.
	b.Record(Success, "")
	b.Record(Success, "")
	b.Record(Transient, "500")
	b.Record(Misconfigured, "html")
	if s := b.Snapshot().State; s != HalfOpen {
		t.Fatalf("checks while half-open: %s", s)
	}
	place(t, b, Success)
	if s := b.Snapshot().State; s != Closed {
		t.Fatalf("a good trial placement: %s", s)
	}
}

// TestPlacementsRefusedWhileChecksAnswer is a provider account out of balance: every
// placement is refused with the misconfiguration signal, and every check of the
// refused reference answers "not found". The breaker must open.
func TestPlacementsRefusedWhileChecksAnswer(t *testing.T) {
	b, _, _ := newTest(t, Config{})
	for range b.cfg.MisconfiguredInARow {
		place(t, b, Misconfigured)
		b.Record(Success, "")
	}
	if s := b.Snapshot(); s.State != Open {
		t.Fatalf("after %d refused placements: %+v", b.cfg.MisconfiguredInARow, s)
	}
}

func TestIgnoredFreesATrialWithoutCounting(t *testing.T) {
	b, clk, _ := newTest(t, Config{TransientInARow: 1, Trials: 1})
	place(t, b, Transient)
	clk.advance(time.Hour)
	place(t, b, Ignored)
	s := b.Snapshot()
	if s.State != HalfOpen {
		t.Fatalf("an ignored trial changed the state: %+v", s)
	}
	place(t, b, Success) // the slot is free again
	if s := b.Snapshot().State; s != Closed {
		t.Fatalf("after the trial: %s", s)
	}
}

func TestReportTwiceCountsOnce(t *testing.T) {
	b, _, _ := newTest(t, Config{TransientInARow: 2})
	report, _ := b.Allow()
	report(Transient, "x")
	report(Transient, "x")
	if s := b.Snapshot(); s.State != Closed || s.Counts.Calls != 1 {
		t.Fatalf("a report given twice counted twice: %+v", s)
	}
}

func TestResetCloses(t *testing.T) {
	b, _, changes := newTest(t, Config{TransientInARow: 1})
	place(t, b, Transient)
	b.Reset()
	if s := b.Snapshot().State; s != Closed {
		t.Fatalf("after Reset: %s", s)
	}
	if last := (*changes)[len(*changes)-1]; last.From != Open || last.To != Closed {
		t.Fatalf("Reset's change: %+v", last)
	}
	place(t, b, Success)
}

// TestDefaultsHoldUnderTheCombinedFaultRate runs the defaults against a provider that
// fails 30 % of calls at random (the combined fault row: five faults at 5 % each and
// lost replies) for 100,000 calls spread over simulated hours: the breaker must never
// open. Against a provider that refuses the account, it opens within the run.
func TestDefaultsHoldUnderTheCombinedFaultRate(t *testing.T) {
	b, clk, changes := newTest(t, Config{})
	cfg := b.cfg
	rng := rand.New(rand.NewPCG(7, 11))
	outcome := func() Outcome {
		switch x := rng.Float64(); {
		case x < 0.10:
			return Misconfigured // HTML or empty answer
		case x < 0.30:
			return Transient // timeout, 500, dropped connection, lost reply
		}
		return Success
	}
	// Placements with two checks each, then checks alone (every order placed,
	// the provider slow to finish them).
	for i := range 200_000 {
		clk.advance(25 * time.Millisecond)
		if i < 100_000 && i%3 == 0 {
			report, err := b.Allow()
			if err != nil {
				t.Fatalf("the breaker opened under a 30 %% fault rate at call %d: %+v", i, (*changes)[0])
			}
			report(outcome(), "fault")
			continue
		}
		b.Record(outcome(), "fault")
		if len(*changes) > 0 {
			t.Fatalf("the breaker opened under a 30 %% fault rate at call %d: %+v", i, (*changes)[0])
		}
	}
	for i := range cfg.MisconfiguredInARow {
		place(t, b, Misconfigured)
		if s := b.Snapshot().State; (s == Open) != (i == cfg.MisconfiguredInARow-1) {
			t.Fatalf("after %d misconfiguration signals in a row: %s", i+1, s)
		}
	}
}
