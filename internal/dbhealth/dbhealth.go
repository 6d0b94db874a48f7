// Package dbhealth knows whether the database answers. Every part of the process
// that meets a database error reports it (Observe); an error that says the database
// cannot be reached makes the monitor ask the database itself with a cheap ping,
// and again every Interval while it does not answer. The monitor logs the outage
// twice — once when the database becomes unreachable, once when it answers again,
// with how long it was away — and Down tells /readyz and the dashboard.
//
// Quiet wraps a log handler so that the stream of errors an outage causes (River's
// fetches, notifier, completer and elector, failed job steps, API requests
// answered 503) does not reach the log at WARN or ERROR: such records are reported
// to the monitor, counted, and passed on at DEBUG. Records about anything else pass
// unchanged.
package dbhealth

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"watan"
	"watan/internal/store"
)

// Config configures New.
type Config struct {
	// Ping asks the database whether it answers. Required.
	Ping func(ctx context.Context) error
	// Unavailable reports whether an error says the database cannot be reached.
	// Default store.IsUnavailable.
	Unavailable func(error) bool
	// UnavailableText is Unavailable for an error that reached a log record only as
	// text (River logs err.Error()). Default store.IsUnavailableText.
	UnavailableText func(string) bool
	// Logger receives the monitor's two lines per outage. Default: discard.
	Logger *slog.Logger
	// Clock times outages. Default watan.SystemClock.
	Clock watan.Clock
	// Interval is how often Run pings while the database does not answer.
	// Default 1 s.
	Interval time.Duration
	// Timeout bounds one ping. Default 2 s.
	Timeout time.Duration
	// OnUp, if set, is called in a goroutine of its own when the database answers
	// again after an outage, with when the outage was first seen and when it ended.
	OnUp func(since, back time.Time)
}

type state int

const (
	up      state = iota
	suspect       // an error said unreachable; a ping will tell
	down          // a ping failed too
)

// Monitor tracks whether the database answers. It is safe for concurrent use.
type Monitor struct {
	cfg  Config
	wake chan struct{}

	mu       sync.Mutex
	state    state
	since    time.Time // when the first error of the current suspicion or outage was seen
	firstErr error
	backAt   time.Time // when the last outage ended

	suppressed atomic.Int64 // log records demoted during the current outage
}

// New returns a monitor that believes the database answers.
func New(cfg Config) *Monitor {
	if cfg.Ping == nil {
		panic("dbhealth: Config needs Ping")
	}
	if cfg.Unavailable == nil {
		cfg.Unavailable = store.IsUnavailable
	}
	if cfg.UnavailableText == nil {
		cfg.UnavailableText = store.IsUnavailableText
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = watan.SystemClock{}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	return &Monitor{cfg: cfg, wake: make(chan struct{}, 1)}
}

// Observe reports an error met while using the database and returns whether it
// says the database cannot be reached. Such an error puts the monitor on alert:
// its next Check pings the database, and a failed ping declares it down.
func (m *Monitor) Observe(err error) bool {
	if err == nil || !m.cfg.Unavailable(err) {
		return false
	}
	m.alert(err)
	return true
}

// ObserveText is Observe for an error known only by its text.
func (m *Monitor) ObserveText(msg string) bool {
	if msg == "" || !m.cfg.UnavailableText(msg) {
		return false
	}
	m.alert(errors.New(msg))
	return true
}

func (m *Monitor) alert(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != up {
		return
	}
	m.state, m.since, m.firstErr = suspect, m.cfg.Clock.Now(), err
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Down reports whether the database is known to be unreachable, and since when.
// An error that a ping has not confirmed yet does not count.
func (m *Monitor) Down() (since time.Time, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != down {
		return time.Time{}, false
	}
	return m.since, true
}

// afterglow is how long after an outage River's late follow-ups of its errors
// (a completer ends its round of retries up to 4 s after its last error) are still
// taken for outage noise.
const afterglow = 30 * time.Second

// quiet reports whether follow-ups of unreachability are held back: while an
// error awaits its ping, while the database is down, and shortly after.
func (m *Monitor) quiet() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state != up || (!m.backAt.IsZero() && m.cfg.Clock.Now().Sub(m.backAt) < afterglow)
}

// Check pings the database if an error or an outage calls for it, and moves the
// monitor: a failed ping after an error declares the outage (one WARN line), a
// ping that answers ends it (one INFO line with its duration) or clears the alert
// (the error was one connection's, not the database's).
func (m *Monitor) Check(ctx context.Context) {
	m.mu.Lock()
	st := m.state
	m.mu.Unlock()
	if st == up {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	err := m.cfg.Ping(pctx)
	cancel()
	if err != nil && ctx.Err() != nil {
		return // stopping; the ping says nothing about the database
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Clock.Now()
	switch {
	case m.state == suspect && err != nil:
		m.state = down
		m.cfg.Logger.Warn("database unreachable", "err", m.firstErr.Error(), "ping_err", err.Error())
	case m.state == suspect:
		m.state = up
		m.cfg.Logger.Debug("database error on a connection, but the database answers", "err", m.firstErr.Error())
		m.suppressed.Store(0)
	case m.state == down && err == nil:
		m.state, m.backAt = up, now
		m.cfg.Logger.Info("database reachable again", "down_for", now.Sub(m.since).Round(time.Millisecond).String(),
			"suppressed_log_records", m.suppressed.Swap(0))
		if m.cfg.OnUp != nil {
			go m.cfg.OnUp(m.since, now)
		}
	}
}

// Run checks the database at once after an alert and every Interval while it is
// down, until ctx ends. While the database answers it sleeps: an idle node
// should not wake up for nothing.
func (m *Monitor) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		}
		m.Check(ctx)
		m.watch(ctx)
	}
}

// watch checks every Interval until the database answers again.
func (m *Monitor) watch(ctx context.Context) {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for !m.up() {
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		case <-t.C:
		}
		m.Check(ctx)
	}
}

func (m *Monitor) up() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state == up
}
