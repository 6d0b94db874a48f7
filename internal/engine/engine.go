// Package engine drives every order to a final state: it dispatches orders by their
// package's routing (manual, a code stock, or a provider with a fallback), watches
// provider orders until they are delivered, fail or pass their deadline, settles the
// money through the store, and carries out operators' actions.
//
// The engine is plain logic over three ports: a Store (the database, transactional),
// a Queue (the job queue, enqueueing inside the store's transactions) and Providers
// (upstream clients). Each step returns what should happen next (done, or run again
// after a while); the job queue adapter turns that into completion, snooze or retry.
// Keeping River out of this package lets tests drive every step directly with a fake
// clock and no waiting.
package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"time"

	"watan"
	"watan/internal/breaker"
)

// Config configures an Engine.
type Config struct {
	Store     Store     // required
	Queue     Queue     // required
	Providers Providers // required
	// Clock tells the time for deadlines and check schedules. Default watan.SystemClock.
	Clock watan.Clock
	// Logger receives one structured line per dispatch and check step. Default discard.
	Logger *slog.Logger
	// Seed seeds the jitter of check schedules, for reproducible tests. Default 1.
	Seed uint64
	// PausedRetry is how long an order waits before looking again at a provider
	// account an operator paused. Default 30 s.
	PausedRetry time.Duration
	// Breaker sets the thresholds of each provider account's circuit breaker; its
	// zero value takes breaker.Config's documented defaults. Now and OnChange are
	// the engine's.
	Breaker breaker.Config
	// SweepLimit bounds the orders one sweep pass touches per kind of repair.
	// Default 100.
	SweepLimit int
	// SendingGrace is how long an order may sit in "sending" or without a job
	// before the sweeper repairs it; longer than a provider call can last.
	// Default 2 minutes.
	SendingGrace time.Duration
	// CatalogTTL is how long packages, provider accounts and mappings read for
	// dispatch are reused. Default 2 s; negative disables the cache.
	CatalogTTL time.Duration
	// Observer is told of status changes and provider call outcomes, for metrics.
	// Default none.
	Observer Observer
	// Notifier is told, inside the transaction of the change, of every order that
	// was sent to a provider or changed status, for webhooks. Default none.
	Notifier Notifier
	// Leases, if set, makes each provider account's limits (calls in flight, calls
	// a second) hold across every process sharing it: serve and worker nodes on
	// one PostgreSQL database pass the store. Default nil: the limits hold within
	// this process, which is all there is on SQLite.
	Leases Leases
	// Circuits, if set, is told when a provider account's breaker opens here, so
	// that the other nodes' breakers open too (they are told through
	// Engine.CircuitOpened). Default nil: each process's breakers are its own.
	Circuits CircuitAnnouncer
	// CheckPoller says that the processes sharing the database run the check
	// poller (RunPoller) beside their check jobs: the poller makes the routine
	// status checks of orders their provider holds, in batches, and each such
	// order's check job wakes only every Poller.Backstop. Default false: each
	// order's check job makes every check.
	CheckPoller bool
	// Poller tunes the check poller; its zero value takes PollerConfig's defaults.
	Poller PollerConfig
	// Node names this process in the leases of the placements it makes, so that
	// operators can tell who holds one. Default host name and process id.
	Node string
}

// Engine dispatches and monitors orders. It is safe for concurrent use.
type Engine struct {
	store     Store
	queue     Queue
	providers Providers
	clock     watan.Clock
	log       *slog.Logger
	limits    *limiter
	breakers  *breakers
	catalog   *catalogCache
	observer  Observer
	notifier  Notifier
	learn     *learner
	wake      *pollWake
	polled    polledAccounts // the check poller's view of the accounts, for planCheck
	cfg       Config

	rngMu sync.Mutex
	rng   *rand.Rand
}

// New returns an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Queue == nil || cfg.Providers == nil {
		return nil, errors.New("engine: Store, Queue and Providers are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = watan.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.PausedRetry <= 0 {
		cfg.PausedRetry = 30 * time.Second
	}
	if cfg.SweepLimit <= 0 {
		cfg.SweepLimit = 100
	}
	if cfg.SendingGrace <= 0 {
		cfg.SendingGrace = 2 * time.Minute
	}
	if cfg.CatalogTTL == 0 {
		cfg.CatalogTTL = 2 * time.Second
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	cfg.Poller = cfg.Poller.withDefaults()
	if cfg.Node == "" {
		host, _ := os.Hostname()
		cfg.Node = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	e := &Engine{
		store:     cfg.Store,
		queue:     cfg.Queue,
		providers: cfg.Providers,
		clock:     cfg.Clock,
		log:       cfg.Logger,
		limits:    newLimiter(cfg.Leases, cfg.Node),
		catalog:   newCatalogCache(cfg.Store, cfg.CatalogTTL),
		observer:  cfg.Observer,
		notifier:  cfg.Notifier,
		learn:     newLearner(),
		wake:      newPollWake(),
		cfg:       cfg,
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
	}
	e.breakers = &breakers{e: e, set: map[int64]*accountBreaker{}}
	return e, nil
}

// Next tells the job runner what to do once a step has returned without error.
type Next struct {
	// After, when positive, asks for the same job to run again after this long
	// without using up an attempt (the order is waiting, not failing).
	After time.Duration
}

// Done is the Next of a finished job.
var done = Next{}

func later(d time.Duration) Next {
	if d <= 0 {
		d = time.Second
	}
	return Next{After: d}
}

func (e *Engine) now() time.Time { return e.clock.Now().UTC() }

func (e *Engine) jitteredNext(s watan.ProviderSettings, checks int) time.Duration {
	e.rngMu.Lock()
	defer e.rngMu.Unlock()
	return nextCheckDelay(s, checks, e.rng)
}

// nextDelay is the wait before the next status check of o, pending at acct: the
// adaptive policy's plan when it has learned enough, else the policy's step.
func (e *Engine) nextDelay(acct watan.ProviderAccount, o watan.Order) time.Duration {
	if acct.Settings.Policy == watan.PollAdaptive {
		if plan := e.learn.plan(acct.ID, acct.Settings.PollInterval); plan != nil {
			var elapsed time.Duration
			if o.SentAt != nil {
				elapsed = e.now().Sub(*o.SentAt)
			}
			if d, ok := adaptiveDelay(plan, elapsed); ok {
				e.rngMu.Lock()
				defer e.rngMu.Unlock()
				return smallJitter(d, e.rng)
			}
		}
	}
	return e.jitteredNext(acct.Settings, o.CheckCount)
}

// firstDelay is the wait between sending and the first status check.
func (e *Engine) firstDelay(acct watan.ProviderAccount) time.Duration {
	if acct.Settings.Policy == watan.PollAdaptive && acct.Settings.FirstCheckDelay > 0 {
		if plan := e.learn.plan(acct.ID, acct.Settings.PollInterval); plan != nil {
			e.rngMu.Lock()
			defer e.rngMu.Unlock()
			return smallJitter(plan[0], e.rng)
		}
	}
	return acct.Settings.FirstCheckDelay
}

// observeCompletion feeds the adaptive policy one order of acct that became
// final at a status check at now, after being seen pending (or sent) at prev. It
// finished somewhere in between: it is learned at the middle of that interval,
// or D/2 before now when the interval is longer than the target delay D (a
// skipped stretch: taking its middle would pull the next skip shorter every
// time, until nothing is skipped).
func (e *Engine) observeCompletion(acct watan.ProviderAccount, sent, prev *time.Time, now time.Time) {
	if sent == nil {
		return
	}
	from := *sent
	if prev != nil && prev.After(from) && !prev.After(now) {
		from = *prev
	}
	back := min(now.Sub(from), acct.Settings.PollInterval) / 2
	e.learn.observe(acct.ID, now.Sub(*sent)-back)
}

// Completions reports, per provider account, what the adaptive policy has
// learned of its completion times in this process (for /metrics and the
// Providers page).
func (e *Engine) Completions() []CompletionStat { return e.learn.stats() }

// Completion is one account's entry of Completions (zero if nothing completed).
func (e *Engine) Completion(providerAccountID int64) CompletionStat {
	for _, s := range e.learn.stats() {
		if s.ProviderAccountID == providerAccountID {
			return s
		}
	}
	return CompletionStat{ProviderAccountID: providerAccountID}
}

// step logs one step of an order's journey as a structured line.
type step struct {
	e     *Engine
	order watan.Order
	job   string
	n     int
}

func (e *Engine) steps(o watan.Order, job string) *step { return &step{e: e, order: o, job: job} }

func (s *step) log(ctx context.Context, name, outcome string, attrs ...any) {
	s.n++
	level := slog.LevelInfo
	if outcome == "error" {
		level = slog.LevelWarn
	}
	s.e.log.Log(ctx, level, s.job+" step",
		append([]any{
			"order_id", s.order.ID, "tenant_id", s.order.TenantID, "order_number", s.order.Number,
			"step", s.n, "step_name", name, "outcome", outcome,
		}, attrs...)...)
}

// event builds a timeline entry for o by the system, saying m (watan.Messages has
// its texts).
func (e *Engine) event(o watan.Order, kind watan.EventKind, m watan.Msg) watan.OrderEvent {
	ev := watan.OrderEvent{TenantID: o.TenantID, OrderID: o.ID, At: e.now(), Actor: watan.ActorSystem, Kind: kind}
	ev.SetMsg(m)
	return ev
}

// Helpers for message parameters.
func itoa(n int) string        { return strconv.Itoa(n) }
func i64(n int64) string       { return strconv.FormatInt(n, 10) }
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// inTx runs fn in a transaction.
func (e *Engine) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return e.store.InTx(ctx, fn)
}

// provider returns the client and settings of a provider account.
func (e *Engine) provider(ctx context.Context, tenantID, id int64) (watan.ProviderAccount, watan.Provider, error) {
	acct, err := e.catalog.account(ctx, tenantID, id)
	if err != nil {
		return acct, nil, fmt.Errorf("provider account %d: %w", id, err)
	}
	acct.Settings = acct.Settings.WithDefaults(acct.Kind)
	p, err := e.providers.Provider(acct)
	if err != nil {
		return acct, nil, fmt.Errorf("provider account %d: %w", id, err)
	}
	return acct, p, nil
}

// Event kinds the engine writes.
const (
	EventDispatch    watan.EventKind = "dispatch"
	EventSent        watan.EventKind = "sent"
	EventCheck       watan.EventKind = "check"
	EventDelivered   watan.EventKind = "delivered"
	EventFailed      watan.EventKind = "failed"
	EventUnknown     watan.EventKind = "unknown_outcome"
	EventFallback    watan.EventKind = "fallback"
	EventWaiting     watan.EventKind = "waiting"
	EventManual      watan.EventKind = "manual"
	EventTimeout     watan.EventKind = "timeout"
	EventLateAnswer  watan.EventKind = "late_answer"  // about an order already decided
	EventStaleAnswer watan.EventKind = "stale_answer" // about an older placement generation
	EventOperator    watan.EventKind = "operator"
)
