package dbhealth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"watan"
	"watan/internal/dbhealth"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a monitor over a database the test switches on and off, logging JSON
// lines at DEBUG and above into a buffer.
type fixture struct {
	m     *dbhealth.Monitor
	clock *clock
	log   *bytes.Buffer
	pings int
	up    bool
	onUp  chan [2]time.Time
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{clock: &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}, log: &bytes.Buffer{}, up: true,
		onUp: make(chan [2]time.Time, 1)}
	f.m = dbhealth.New(dbhealth.Config{
		Ping: func(context.Context) error {
			f.pings++
			if f.up {
				return nil
			}
			return fmt.Errorf("store: ping postgres: %w", &pgconn.PgError{Severity: "FATAL", Code: "57P03", Message: "the database system is starting up"})
		},
		Logger: slog.New(slog.NewJSONHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:  f.clock,
		OnUp:   func(since, back time.Time) { f.onUp <- [2]time.Time{since, back} },
	})
	return f
}

type line struct {
	Level      string `json:"level"`
	Msg        string `json:"msg"`
	Err        string `json:"err"`
	DownFor    string `json:"down_for"`
	Suppressed int    `json:"suppressed_log_records"`
}

func (f *fixture) lines(t *testing.T) []line {
	t.Helper()
	var out []line
	for _, s := range strings.Split(strings.TrimSpace(f.log.String()), "\n") {
		if s == "" {
			continue
		}
		var l line
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("log line %q: %v", s, err)
		}
		out = append(out, l)
	}
	return out
}

// loud returns the lines at WARN or above, and the INFO ones.
func loud(ls []line) (warn, info []line) {
	for _, l := range ls {
		switch l.Level {
		case "WARN", "ERROR":
			warn = append(warn, l)
		case "INFO":
			info = append(info, l)
		}
	}
	return warn, info
}

var dropped = fmt.Errorf("store: begin: %w", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET})

func TestAnOutageIsLoggedOnceWhenItStartsAndOnceWhenItEnds(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.up = false
	if !f.m.Observe(dropped) {
		t.Fatal("a reset connection is not an outage")
	}
	if _, down := f.m.Down(); down {
		t.Fatal("down before a ping confirmed it")
	}
	f.m.Check(ctx)
	since, down := f.m.Down()
	if !down || !since.Equal(f.clock.Now()) {
		t.Fatalf("after a failed ping: down %v since %v", down, since)
	}
	for range 50 { // every poll of every component fails meanwhile
		f.m.Observe(dropped)
		f.clock.advance(100 * time.Millisecond)
		f.m.Check(ctx)
	}
	if _, down := f.m.Down(); !down {
		t.Fatal("up again while the database still refuses")
	}
	f.up = true
	f.m.Check(ctx)
	if _, down := f.m.Down(); down {
		t.Fatal("still down after the database answered")
	}
	f.m.Check(ctx) // up: nothing to ask
	if f.pings != 52 {
		t.Errorf("%d pings, want 52 (one per check while alerted or down, none once up)", f.pings)
	}
	warn, info := loud(f.lines(t))
	if len(warn) != 1 || warn[0].Msg != "database unreachable" || !strings.Contains(warn[0].Err, "connection reset") {
		t.Errorf("WARN and ERROR lines: %+v; want one saying the database is unreachable, with the first error", warn)
	}
	if len(info) != 1 || info[0].Msg != "database reachable again" || info[0].DownFor != "5s" {
		t.Errorf("INFO lines: %+v; want one saying the database is back after 5s", info)
	}
	select {
	case got := <-f.onUp:
		if !got[0].Equal(since) || !got[1].Equal(f.clock.Now()) {
			t.Errorf("OnUp(%v, %v), want (%v, %v)", got[0], got[1], since, f.clock.Now())
		}
	case <-time.After(5 * time.Second):
		t.Error("OnUp was not called")
	}
}

func TestAnErrorThePingDisprovesIsNoOutage(t *testing.T) {
	f := newFixture(t)
	f.m.Observe(dropped) // one connection dropped; the database is fine
	f.m.Check(t.Context())
	if _, down := f.m.Down(); down {
		t.Fatal("down although the ping answered")
	}
	if warn, info := loud(f.lines(t)); len(warn)+len(info) != 0 {
		t.Errorf("logged %+v %+v for an error the ping disproved", warn, info)
	}
}

func TestOtherErrorsAreNotObserved(t *testing.T) {
	f := newFixture(t)
	for _, err := range []error{
		errors.New("store: scan: converting NULL to int"),
		&pgconn.PgError{Code: "23505"},
		context.DeadlineExceeded,
		&watan.ProviderError{Kind: watan.FailTransport, Op: "place", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}},
	} {
		if f.m.Observe(err) {
			t.Errorf("Observe(%v) took it for an outage", err)
		}
	}
	f.m.Check(t.Context())
	if f.pings != 0 {
		t.Errorf("%d pings without an alert", f.pings)
	}
}

// TestQuietTurnsOutageNoiseIntoDebug drives the handler with records like River's
// and the engine's during an outage.
func TestQuietTurnsOutageNoiseIntoDebug(t *testing.T) {
	f := newFixture(t)
	var out bytes.Buffer
	log := slog.New(f.m.Quiet(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))).With("component", "river")
	levels := func() map[string]string {
		got := map[string]string{}
		for _, s := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var l line
			if json.Unmarshal([]byte(s), &l) == nil {
				got[l.Msg] = l.Level
			}
		}
		out.Reset()
		return got
	}
	const giveUp = "jobcompleter.BatchCompleter: Too many errors; giving up"
	const timedOut = "producer: Error fetching jobs (timeout)"

	// While the database answers: unrelated errors, River's follow-up message and
	// timeouts are not hidden.
	log.Error(giveUp)
	log.Error(timedOut, "err", "timeout: context deadline exceeded")
	log.Error("webhook: delivery failed", "err", &watan.ProviderError{Kind: watan.FailTransport, Op: "place", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}})
	for msg, level := range levels() {
		if level != "ERROR" {
			t.Errorf("%q logged at %s while the database answers", msg, level)
		}
	}

	f.up = false
	log.Error("producer: Error fetching jobs", slog.String("err", "failed to connect to `user=postgres database=w`: 127.0.0.1:5432 (127.0.0.1): failed to receive message: unexpected EOF"))
	f.m.Check(t.Context())
	log.Warn("dispatch step", "order_id", 7, "err", dropped)
	log.Error(giveUp)
	log.Error(timedOut, "err", "timeout: context deadline exceeded")
	log.Error("job failed", "err", errors.New("engine: unknown routing mode \"x\"")) // a bug, outage or not
	log.Info("http request", "status", 503)
	got := levels()
	for msg, want := range map[string]string{
		"producer: Error fetching jobs": "DEBUG", "dispatch step": "DEBUG", giveUp: "DEBUG", timedOut: "DEBUG",
		"job failed": "ERROR", "http request": "INFO",
	} {
		if got[msg] != want {
			t.Errorf("%q logged at %q during the outage, want %s", msg, got[msg], want)
		}
	}

	f.up = true
	f.m.Check(t.Context())
	_, info := loud(f.lines(t))
	if len(info) != 1 || info[0].Suppressed != 4 {
		t.Errorf("INFO lines %+v; want the outage's end with 4 records held back", info)
	}
}

func TestRunChecksAtOnceAfterAnAlert(t *testing.T) {
	pinged := make(chan struct{}, 10)
	m := dbhealth.New(dbhealth.Config{Interval: time.Hour, Ping: func(context.Context) error {
		pinged <- struct{}{}
		return nil
	}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go m.Run(ctx)
	m.Observe(dropped)
	select {
	case <-pinged:
	case <-time.After(10 * time.Second):
		t.Fatal("no ping after an alert")
	}
}
