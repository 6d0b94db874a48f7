package dbhealth

import (
	"context"
	"errors"
	"log/slog"
	"strings"
)

// Quiet returns a handler that passes records to next, except WARN and ERROR
// records about the database being unreachable: those are reported to the monitor
// (which logs the outage itself), counted, and passed on at DEBUG, so that an
// outage does not write one error per failed poll and nothing is lost to a debug
// log.
//
// A record is about the outage when one of its attributes is an error (or, under
// the key "err" or "error", an error's text) that says the database cannot be
// reached, or when it has no error at all but is one of River's known follow-ups
// of such errors (Consequences) while the monitor is alerted or down. Other
// records, errors included, pass unchanged.
func (m *Monitor) Quiet(next slog.Handler) slog.Handler { return quiet{next: next, m: m} }

// Consequences are River's messages that follow the errors of an outage without
// carrying one (a completer that gave up a round of retries; a leader that could
// not renew its term). While the database is down they are outage noise too.
var Consequences = map[string]bool{
	"jobcompleter.BatchCompleter: Too many errors; giving up":                                                               true,
	"jobcompleter.InlineCompleter: Too many errors; giving up":                                                              true,
	"jobcompleter.AsyncCompleter: Too many errors; giving up":                                                               true,
	"leadership.Elector: Current leader stepping down because the reelection deadline elapsed":                              true,
	"leadership.Elector: Current leader stepping down because the reelection deadline elapsed after an error":               true,
	"producer: Failed to cleanly shutdown producer after all attempts":                                                      true,
	"maintenance.QueueMaintainerLeader: Queue maintainer failed to start after all attempts, requesting leader resignation": true,
}

type quiet struct {
	next slog.Handler
	m    *Monitor
}

func (q quiet) Enabled(ctx context.Context, l slog.Level) bool { return q.next.Enabled(ctx, l) }

func (q quiet) WithAttrs(as []slog.Attr) slog.Handler {
	return quiet{next: q.next.WithAttrs(as), m: q.m}
}

func (q quiet) WithGroup(name string) slog.Handler {
	return quiet{next: q.next.WithGroup(name), m: q.m}
}

func (q quiet) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn || !q.aboutOutage(r) {
		return q.next.Handle(ctx, r)
	}
	q.m.suppressed.Add(1)
	if !q.next.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	r = r.Clone()
	r.Level = slog.LevelDebug
	return q.next.Handle(ctx, r)
}

// aboutOutage reports whether r is noise of a database outage, reporting the
// error it carries to the monitor.
func (q quiet) aboutOutage(r slog.Record) bool {
	hasErr, unavailable, timeout := false, false, false
	r.Attrs(func(a slog.Attr) bool {
		v := a.Value.Resolve()
		switch v.Kind() {
		case slog.KindAny:
			if err, ok := v.Any().(error); ok {
				hasErr = true
				unavailable = q.m.Observe(err)
				timeout = timeout || errors.Is(err, context.DeadlineExceeded) || isTimeoutText(err.Error())
			}
		case slog.KindString:
			if a.Key == "err" || a.Key == "error" {
				hasErr = true
				unavailable = q.m.ObserveText(v.String())
				timeout = timeout || isTimeoutText(v.String())
			}
		}
		return !unavailable
	})
	switch {
	case unavailable:
		return true
	case hasErr:
		// A database that does not answer at all makes operations time out
		// rather than fail: while it is known to be down, that is the outage too.
		return timeout && q.m.quiet()
	}
	return Consequences[r.Message] && q.m.quiet()
}

// isTimeoutText reports whether an error's text says an operation timed out.
func isTimeoutText(msg string) bool {
	return strings.Contains(msg, "context deadline exceeded") || strings.Contains(msg, "i/o timeout")
}
