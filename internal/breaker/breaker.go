// Package breaker is the circuit breaker that stands between the engine and each
// provider account: it stops sending new work to an account whose answers show it is
// broken, lets a few real requests through after a cool-down, and closes again when
// they succeed.
//
// It is written here rather than taken from github.com/sony/gobreaker/v2 for three
// reasons found when fitting that library: gobreaker reads time.Now itself, so its
// cool-down cannot run on the engine's injected clock (the interleaving explorer and
// every deterministic test run on virtual time, and an order's "waiting until" must be
// on the same clock as its deadline); its single ReadyToTrip sees one failure count,
// while a provider account needs separate thresholds for misconfiguration signals
// (an HTML login page, 401) and transient faults (timeouts, 5xx); and it does not say
// when an open breaker will half-open, which an order's event must state.
//
// Two kinds of call reach a breaker. Placements ask first (Allow) and report their
// outcome through the returned function: they are the work an open breaker holds
// back, and only their outcomes decide a half-open breaker. Status checks only
// Record their outcome: they go out whatever the state, because only the provider
// can settle an order it may already have; they count like any other call, except
// that a provider answering checks while refusing every placement (out of balance,
// say) is still broken for placements.
package breaker

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Outcome classifies the answer to one provider call.
type Outcome int

// Outcomes.
const (
	// Success: the provider answered and the answer made sense, whatever it said
	// about the order (accepted, refused for lack of balance, not found, ...).
	Success Outcome = iota
	// Transient: timeout, refused or dropped connection, HTTP 5xx, an answer that
	// cannot be parsed. Likely to pass; counts toward opening by ratio or run.
	Transient
	// Misconfigured: the provider refuses the account itself (empty body or HTML
	// where an answer belongs, 401, invalid token). Opens the breaker after a run.
	Misconfigured
	// Ignored tells nothing about the provider (our side gave up, the request was
	// never sent); it frees a half-open trial without counting.
	Ignored
)

func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Transient:
		return "transient"
	case Misconfigured:
		return "misconfigured"
	default:
		return "ignored"
	}
}

// State is where a breaker stands.
type State string

// States.
const (
	Closed   State = "closed"    // calls go out
	Open     State = "open"      // placements wait until the cool-down ends
	HalfOpen State = "half_open" // a few trial placements go out
)

// Config configures a Breaker. The defaults come from the fault runs written up in
// the README ("Reliability"): a provider answering 25–30 % of calls badly (five faults
// at 5 % each, plus lost replies) never opened a breaker, while a provider refusing
// the account opened it within MisconfiguredInARow calls.
type Config struct {
	// Now tells the time. Default time.Now.
	Now func() time.Time
	// MisconfiguredInARow opens the breaker after this many misconfiguration
	// signals with no successful call between them, or this many placements
	// refused with the signal with no successful placement between them. Default 8: with 10 % HTML or
	// empty answers among 70 % good ones, eight with no success between come about
	// once in 17 million calls, while an account that is really refused gets there
	// in its first eight.
	MisconfiguredInARow int
	// TransientInARow opens it after this many failed calls of any kind in a row.
	// Default 12: a provider down hard gets there in seconds, one failing 30 % of
	// calls once in two million calls.
	TransientInARow int
	// FailureRatio opens it when at least this share of the calls in Window
	// failed, once Window holds MinCalls calls. Default 0.6: twice the worst
	// combined fault rate the fault matrix runs, so that a degraded provider keeps
	// serving the 70 % it answers well.
	FailureRatio float64
	// MinCalls is the fewest calls in Window for FailureRatio to apply. Default
	// 30: at a 30 % fault rate, 18 failures in 30 calls happen once in 5,000 windows.
	MinCalls int
	// Window is the sliding window of FailureRatio, kept in ten buckets. Default 60 s.
	Window time.Duration
	// CoolDown is how long the breaker stays open before it half-opens. Default 30 s.
	CoolDown time.Duration
	// MaxCoolDown caps the cool-down, which doubles each time a half-open trial
	// fails. Default 5 minutes.
	MaxCoolDown time.Duration
	// Trials is how many placements may be out at once while half-open; that many
	// successful trials close the breaker, that many failed trials open it again
	// (one failed trial must not reopen a provider that fails a share of calls
	// anyway). Only trial placements decide: checks going on meanwhile are
	// counted in the window alone. Default 3.
	Trials int
	// OnChange is told of every change of state, after the breaker's lock is
	// released and in the goroutine whose call caused it. Default none.
	OnChange func(Change)
}

// DefaultConfig is the configuration a zero Config stands for.
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MisconfiguredInARow <= 0 {
		c.MisconfiguredInARow = 8
	}
	if c.TransientInARow <= 0 {
		c.TransientInARow = 12
	}
	if c.FailureRatio <= 0 || c.FailureRatio > 1 {
		c.FailureRatio = 0.6
	}
	if c.MinCalls <= 0 {
		c.MinCalls = 30
	}
	if c.Window <= 0 {
		c.Window = time.Minute
	}
	if c.CoolDown <= 0 {
		c.CoolDown = 30 * time.Second
	}
	if c.MaxCoolDown < c.CoolDown {
		c.MaxCoolDown = max(5*time.Minute, c.CoolDown)
	}
	if c.Trials <= 0 {
		c.Trials = 3
	}
	return c
}

// Counts are a breaker's figures at one moment.
type Counts struct {
	Calls         int `json:"calls"`         // calls in the window
	Failures      int `json:"failures"`      // of which failed (transient or misconfigured)
	Misconfigured int `json:"misconfigured"` // of which misconfiguration signals
	FailedInARow  int `json:"failed_in_a_row"`
	// MisconfiguredInARow counts misconfiguration signals since the last success.
	MisconfiguredInARow int `json:"misconfigured_in_a_row"`
	Opened              int `json:"opened"` // times opened since the process started
}

// Snapshot is a breaker's state for operators.
type Snapshot struct {
	State  State     `json:"state"`
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until,omitzero"` // when an open breaker half-opens
	Reason string    `json:"reason,omitempty"`
	Counts Counts    `json:"counts"`
}

// Change is one change of state.
type Change struct {
	From, To State
	At       time.Time
	Until    time.Time // set when To is Open
	Reason   string    // why it opened; the last failure
	Counts   Counts
}

// OpenError is Allow's refusal. Retry after Until.
type OpenError struct {
	State  State
	Until  time.Time
	Reason string
}

func (e *OpenError) Error() string {
	if e.State == HalfOpen {
		return fmt.Sprintf("circuit half-open: trial requests busy, retry at %s", e.Until.Format(time.RFC3339))
	}
	return fmt.Sprintf("circuit open until %s: %s", e.Until.Format(time.RFC3339), e.Reason)
}

// IsOpen reports whether err is a breaker's refusal, and returns it.
func IsOpen(err error) (*OpenError, bool) { return errors.AsType[*OpenError](err) }

const buckets = 10

type bucket struct {
	epoch                  int64 // which bucket-length slice of time it counts
	calls, fails, misconfs int
}

// Breaker is one provider account's circuit breaker. It is safe for concurrent use.
type Breaker struct {
	cfg Config

	mu           sync.Mutex
	state        State
	since, until time.Time
	reason       string
	lastFailure  string
	coolDown     time.Duration
	window       [buckets]bucket
	failedInARow int // failed calls since the last successful call
	misconfInRow int // misconfiguration signals since the last successful call
	// placeMisconf counts placements refused with the misconfiguration signal
	// since the last successful placement: checks answering in between do not
	// end it (an account out of balance refuses every placement while its
	// checks answer "not found").
	placeMisconf int
	opened       int
	trialsOut    int // half-open placements in flight
	trialsWon    int // successes while half-open
	trialsLost   int // failures while half-open
}

// New returns a closed Breaker.
func New(cfg Config) *Breaker {
	cfg = cfg.withDefaults()
	return &Breaker{cfg: cfg, state: Closed, since: cfg.Now(), coolDown: cfg.CoolDown}
}

// Allow asks whether a placement may go out now. If it may, report must be called
// exactly once with the call's outcome and, for a failure, what went wrong. If it
// may not, the error is an *OpenError saying until when.
func (b *Breaker) Allow() (report func(Outcome, string), err error) {
	b.mu.Lock()
	now := b.cfg.Now()
	var changes []Change
	if b.state == Open && !now.Before(b.until) {
		changes = append(changes, b.to(HalfOpen, now))
	}
	trial := b.state == HalfOpen
	switch b.state {
	case Open:
		err = &OpenError{State: Open, Until: b.until, Reason: b.reason}
	case HalfOpen:
		if b.trialsOut >= b.cfg.Trials {
			// Trials are out; the others look again in a moment, spread so that
			// a crowd of waiting orders does not come back at the same instant.
			err = &OpenError{State: HalfOpen, Until: now.Add(b.cfg.CoolDown / 6), Reason: b.reason}
		} else {
			b.trialsOut++
		}
	}
	b.mu.Unlock()
	b.tell(changes)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func(o Outcome, detail string) {
		once.Do(func() { b.record(o, detail, true, trial) })
	}, nil
}

// Record reports the outcome of a call that did not ask Allow (a status check).
func (b *Breaker) Record(o Outcome, detail string) { b.record(o, detail, false, false) }

func (b *Breaker) record(o Outcome, detail string, placement, trial bool) {
	b.mu.Lock()
	now := b.cfg.Now()
	var changes []Change
	if trial && b.trialsOut > 0 {
		b.trialsOut--
	}
	if b.state == Open && !now.Before(b.until) {
		changes = append(changes, b.to(HalfOpen, now))
	}
	if o != Ignored {
		b.count(o, placement, now)
		if o != Success {
			b.lastFailure = fmt.Sprintf("%s: %s", o, detail)
		}
		switch b.state {
		case Closed:
			if o == Success && !placement {
				// A check answered: counted in the window, but it says
				// nothing about whether placements work.
				break
			}
			if why := b.tripped(now); why != "" {
				b.reason = why
				changes = append(changes, b.to(Open, now))
			}
		case HalfOpen:
			if !trial {
				// Only the trial placements decide; checks and placements let
				// through before it opened are counted in the window alone.
				break
			}
			if o == Success {
				b.trialsWon++
				if b.trialsWon >= b.cfg.Trials {
					b.reason = ""
					changes = append(changes, b.to(Closed, now))
				}
			} else if b.trialsLost++; b.trialsLost >= b.cfg.Trials {
				b.coolDown = min(2*b.coolDown, b.cfg.MaxCoolDown)
				b.reason = fmt.Sprintf("%d trial requests failed, the last %s", b.trialsLost, b.lastFailure)
				changes = append(changes, b.to(Open, now))
			}
		}
	}
	b.mu.Unlock()
	b.tell(changes)
}

// count adds one call to the window and the runs.
func (b *Breaker) count(o Outcome, placement bool, now time.Time) {
	bk := b.bucketAt(now)
	bk.calls++
	switch o {
	case Success:
		b.failedInARow, b.misconfInRow = 0, 0
		if placement {
			b.placeMisconf = 0
		}
	case Misconfigured:
		bk.fails++
		bk.misconfs++
		b.failedInARow++
		b.misconfInRow++
		if placement {
			b.placeMisconf++
		}
	case Transient:
		bk.fails++
		b.failedInARow++
	}
}

// tripped says why a closed breaker must open now, or "".
func (b *Breaker) tripped(now time.Time) string {
	c := b.countsAt(now)
	switch {
	case c.MisconfiguredInARow >= b.cfg.MisconfiguredInARow:
		return fmt.Sprintf("%d misconfiguration signals in a row, the last %s", c.MisconfiguredInARow, b.lastFailure)
	case b.placeMisconf >= b.cfg.MisconfiguredInARow:
		return fmt.Sprintf("%d placements refused with a misconfiguration signal and none accepted since, the last %s", b.placeMisconf, b.lastFailure)
	case c.FailedInARow >= b.cfg.TransientInARow:
		return fmt.Sprintf("%d failed calls in a row, the last %s", c.FailedInARow, b.lastFailure)
	case c.Calls >= b.cfg.MinCalls && float64(c.Failures) >= b.cfg.FailureRatio*float64(c.Calls):
		return fmt.Sprintf("%d of the last %d calls failed within %s, the last %s", c.Failures, c.Calls, b.cfg.Window, b.lastFailure)
	}
	return ""
}

func (b *Breaker) bucketLen() time.Duration { return b.cfg.Window / buckets }

func (b *Breaker) bucketAt(now time.Time) *bucket {
	epoch := now.UnixNano() / int64(b.bucketLen())
	bk := &b.window[epoch%buckets]
	if bk.epoch != epoch {
		*bk = bucket{epoch: epoch}
	}
	return bk
}

func (b *Breaker) countsAt(now time.Time) Counts {
	epoch := now.UnixNano() / int64(b.bucketLen())
	c := Counts{FailedInARow: b.failedInARow, MisconfiguredInARow: b.misconfInRow, Opened: b.opened}
	for _, bk := range b.window {
		if bk.epoch > epoch-buckets && bk.epoch <= epoch {
			c.Calls += bk.calls
			c.Failures += bk.fails
			c.Misconfigured += bk.misconfs
		}
	}
	return c
}

// to moves the breaker to state s and describes the change; the lock is held.
func (b *Breaker) to(s State, now time.Time) Change {
	ch := Change{From: b.state, To: s, At: now, Reason: b.reason}
	b.state, b.since = s, now
	b.trialsOut, b.trialsWon, b.trialsLost = 0, 0, 0
	switch s {
	case Open:
		b.opened++
		b.until = now.Add(b.coolDown)
		ch.Until = b.until
	case Closed:
		// A fresh start: the failures that opened it are history.
		b.window = [buckets]bucket{}
		b.failedInARow, b.misconfInRow, b.placeMisconf = 0, 0, 0
		b.coolDown = b.cfg.CoolDown
		b.until = time.Time{}
	case HalfOpen:
		b.until = time.Time{}
	}
	ch.Counts = b.countsAt(now)
	return ch
}

func (b *Breaker) tell(changes []Change) {
	if b.cfg.OnChange == nil {
		return
	}
	for _, c := range changes {
		b.cfg.OnChange(c)
	}
}

// Snapshot returns the breaker's state and figures now.
func (b *Breaker) Snapshot() Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	s := Snapshot{State: b.state, Since: b.since, Until: b.until, Reason: b.reason, Counts: b.countsAt(now)}
	if s.State == Open && !now.Before(b.until) {
		// Due to half-open at its next call; say so rather than "open until" a past time.
		s.State, s.Until = HalfOpen, time.Time{}
	}
	return s
}

// Adopt opens the breaker until until, as another process's breaker of the same
// account did: every node stops placing at once instead of each learning it from
// failures of its own. It tells no one (the process that opened recorded it), and
// does nothing when until has passed or the breaker is already open as long. After
// until the breaker half-opens as usual.
func (b *Breaker) Adopt(until time.Time, reason string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	if !now.Before(until) || (b.state == Open && !b.until.Before(until)) {
		return false
	}
	b.reason = reason
	b.to(Open, now)
	b.until = until
	return true
}

// Reset closes the breaker at once: an operator has looked at the account and wants
// it used (resume).
func (b *Breaker) Reset() {
	b.mu.Lock()
	var changes []Change
	if b.state != Closed {
		b.reason = ""
		changes = append(changes, b.to(Closed, b.cfg.Now()))
	}
	b.mu.Unlock()
	b.tell(changes)
}
