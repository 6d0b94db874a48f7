// Package providertest runs simulated znet and barakat providers, in the spirit of
// net/http/httptest: fake upstreams that speak the exact wire protocols of
// providers.md, scriptable per test and deterministic for a seed.
//
// A simulator decides each order's fate when the order is placed (delivered with a
// generated PIN, cancelled, or never finished) and when, by a delay drawn from a
// distribution. The delay runs on an injectable clock, and Deliver and Cancel
// finish an order at once, so tests need no sleeps. Faults (an empty body, an HTML
// page, HTTP 500, a slow answer, a dropped connection, a lost reply) apply to the
// next n requests or at a rate. Every request is recorded, so tests can assert how
// often a reference was placed.
//
// The simulators take options rather than a *testing.T because the binary's demo
// mode and "watan fakeprovider" run them too; StartZnet and StartBarakat are the
// helpers for tests.
package providertest

import (
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"sync"
	"time"

	"watan"
)

// Op names a provider operation.
type Op string

// Operations, for InjectFault and Request.Op.
const (
	OpAny     Op = "" // matches every operation in InjectFault
	OpBalance Op = "balance"
	OpCatalog Op = "catalog"
	OpPlace   Op = "place"
	OpCheck   Op = "check"
	OpUnknown Op = "unknown" // a path the protocol does not have
)

// Fault is a way a request can go wrong.
type Fault string

// Faults.
const (
	FaultNone Fault = ""
	// FaultEmpty answers 200 with an empty body (znet's "API off" signal).
	FaultEmpty Fault = "empty"
	// FaultHTML answers 200 with an HTML page, as a wrong base URL or a blocking
	// proxy does.
	FaultHTML Fault = "html"
	// Fault500 answers HTTP 500 without processing the request.
	Fault500 Fault = "500"
	// FaultSlow waits Options.SlowDelay before processing and answering. If the
	// client gives up first, the request is not processed.
	FaultSlow Fault = "slow"
	// FaultDrop closes the connection without processing the request or answering.
	FaultDrop Fault = "drop"
	// FaultLostReply processes the request (a placement is recorded as accepted)
	// and then closes the connection before any answer.
	FaultLostReply Fault = "lost_reply"
)

// FaultRates are per-request probabilities of each fault. At most one fault
// applies to a request; faults injected with InjectFault take precedence.
type FaultRates struct {
	Empty     float64
	HTML      float64
	Status500 float64
	Slow      float64
	Drop      float64
	LostReply float64
}

// Of returns the rate of fault x.
func (f FaultRates) Of(x Fault) float64 {
	for _, r := range f.table() {
		if r.fault == x {
			return r.rate
		}
	}
	return 0
}

func (f FaultRates) table() []struct {
	fault Fault
	rate  float64
} {
	return []struct {
		fault Fault
		rate  float64
	}{
		{FaultEmpty, f.Empty}, {FaultHTML, f.HTML}, {Fault500, f.Status500},
		{FaultSlow, f.Slow}, {FaultDrop, f.Drop}, {FaultLostReply, f.LostReply},
	}
}

// Outcome is how an order ends.
type Outcome string

// Outcomes.
const (
	OutcomeDeliver Outcome = "deliver" // delivered with a PIN
	OutcomeCancel  Outcome = "cancel"  // cancelled by the provider
	OutcomeStuck   Outcome = "stuck"   // pending until Deliver or Cancel is called
)

// Fate is what will happen to one order.
type Fate struct {
	Outcome Outcome
	// After is the time from placement to the outcome, on the simulator's clock.
	// Zero means the first check sees the outcome.
	After time.Duration
	// AtPlacement delivers in the placement answer itself (barakat only; znet
	// never delivers at placement and ignores it).
	AtPlacement bool
	// PIN is the code to deliver; empty means a generated one.
	PIN string
}

// Delay draws an order's completion delay from r.
type Delay func(r *rand.Rand) time.Duration

// FixedDelay is always d.
func FixedDelay(d time.Duration) Delay {
	return func(*rand.Rand) time.Duration { return d }
}

// UniformDelay is uniform in [lo, hi].
func UniformDelay(lo, hi time.Duration) Delay {
	if hi < lo {
		lo, hi = hi, lo
	}
	return func(r *rand.Rand) time.Duration {
		return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
	}
}

// LogNormalDelay is log-normal with the given median and sigma (the standard
// deviation of the delay's logarithm): most orders finish near the median and a
// few take much longer, as real providers do.
func LogNormalDelay(median time.Duration, sigma float64) Delay {
	return func(r *rand.Rand) time.Duration {
		return time.Duration(float64(median) * math.Exp(sigma*r.NormFloat64()))
	}
}

// MixDelay draws from a with probability p, else from b: a provider with a
// fast and a slow kind of order.
func MixDelay(p float64, a, b Delay) Delay {
	return func(r *rand.Rand) time.Duration {
		if r.Float64() < p {
			return a(r)
		}
		return b(r)
	}
}

// ShiftDelay draws from before until clock reads at, and from after from then
// on: a provider whose speed changes during the day.
func ShiftDelay(clock interface{ Now() time.Time }, at time.Time, before, after Delay) Delay {
	return func(r *rand.Rand) time.Duration {
		if clock.Now().Before(at) {
			return before(r)
		}
		return after(r)
	}
}

// Defaults for Options.
const (
	DefaultSeed      = 1
	DefaultSlowDelay = time.Minute
	DefaultBalance   = "10000.00"
)

// Options configure what a simulator does unless a test scripts otherwise.
type Options struct {
	// Seed makes the simulator's choices (fates, delays, PINs, faults by rate,
	// wording variants) reproducible. Default DefaultSeed.
	Seed uint64
	// Clock drives order completion. Default: the system clock.
	Clock watan.Clock
	// Logger receives a line per placement, completion and fault. Default: discard.
	Logger *slog.Logger
	// Delay draws each order's time to completion. Default: zero, so the first
	// check after placement sees the outcome.
	Delay Delay
	// CancelRate and StuckRate are the probabilities that an order is cancelled
	// or never finishes; the rest are delivered.
	CancelRate float64
	StuckRate  float64
	// Faults are per-request fault probabilities.
	Faults FaultRates
	// SlowDelay is how long FaultSlow holds a request. Default DefaultSlowDelay.
	SlowDelay time.Duration
	// Balance is the account's starting balance at the provider, a decimal string.
	// Placements debit it and cancellations refund it. Default DefaultBalance.
	// The constructors panic if it is not a decimal amount.
	Balance string
	// MaxRequests bounds the request log to about the most recent MaxRequests
	// requests, for long runs that never read it (benchmarks, "watan
	// fakeprovider"). Zero keeps every request.
	MaxRequests int
}

// TB is the part of testing.TB that StartZnet and StartBarakat use; the package
// does not import testing so that the binary can run the simulators.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// Request is one request as the simulator received it. Credentials are replaced
// by "[redacted]" in Query and never recorded.
type Request struct {
	Time       time.Time
	Op         Op
	Method     string
	Path       string
	Query      url.Values
	Authorized bool  // the credentials matched
	Fault      Fault // the fault applied, if any
}

// OrderState is an order's state at the simulated provider.
type OrderState string

// Order states.
const (
	StatePending   OrderState = "pending"
	StateDelivered OrderState = "delivered"
	StateCancelled OrderState = "cancelled"
)

// Order is a snapshot of one order at the simulated provider.
type Order struct {
	Ref       string            // our reference: znet referans, barakat order_uuid
	ID        string            // the provider's order id
	ProductID string            // znet: the catalog id; barakat: the product id
	Params    map[string]string // the customer and product parameters sent
	Quantity  int
	Price     string
	State     OrderState
	PIN       string // once delivered
	PlacedAt  time.Time
	Fate      Fate
}

// ManualClock is a Clock that moves only when told, for tests that exercise
// completion delays without sleeping.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a clock standing at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{now: t} }

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
