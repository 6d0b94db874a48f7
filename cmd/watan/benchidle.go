package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"watan/internal/cpustat"
	"watan/internal/seal"
)

// benchIdle runs "watan serve" in this process on a database of its own (a new
// SQLite file, or a new schema in the PostgreSQL database), with its demo tenant
// and no traffic, lets it settle, and measures the CPU it uses while idle: what a
// node costs when nothing happens.
func benchIdle(ctx context.Context, env *Env, cfg benchConfig) ([]benchResult, error) {
	dbURL, engine, cleanup, err := idleDatabase(ctx, cfg.db.URL)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	key, err := seal.GenerateKey()
	if err != nil {
		return nil, err
	}
	var stderr syncBuffer
	serveEnv := &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr, Getenv: func(k string) string {
		if k == envSecretKey {
			return key
		}
		return ""
	}}
	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	done := make(chan error, 1)
	go func() {
		done <- cmdServe(serveCtx, serveEnv, []string{"--database-url", dbURL, "--http-addr", "127.0.0.1:0",
			"--log-level", "warn", "--log-format", "text"})
	}()
	// Startup migrates, seeds the demo, elects the leader and runs the first
	// sweep; River's maintenance services start staggered.
	settle := min(10*time.Second, cfg.idle)
	stop := progress(env, "idle", func() string { return "serve running, no traffic" })
	defer stop()
	wait := func(d time.Duration) error {
		select {
		case err := <-done:
			return fmt.Errorf("serve stopped: %v; %s", err, bytes.TrimSpace(stderr.Bytes()))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	if err := wait(settle); err != nil {
		return nil, err
	}
	if cfg.idleProf != "" {
		f, err := os.Create(cfg.idleProf)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
	}
	cpu0 := cpustat.Take()
	err = wait(cfg.idle)
	use := cpu0.Until(cpustat.Take())
	if cfg.idleProf != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return nil, err
	}
	stopServe()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("serve: %w", err)
	}
	res := benchResult{Scenario: "idle", Phase: "serve, no traffic", Database: engine, Seconds: use.Elapsed.Seconds(),
		Measure: "CPU % of one core", Note: "process: this process (serve in-process); machine: every process"}
	res.MachineCPUPercent, res.ProcessCPUPercent = use.PercentOfCore()

	// The floor under that figure: River's job completer wakes every 50 ms in any
	// client that works jobs, and River offers no setting for it. The same ticker,
	// alone in this process (serve stopped) for as long, shows what it costs here.
	floor, err := idleTicker(ctx, riverCompleterTick, cfg.idle)
	if err != nil {
		return nil, err
	}
	fres := benchResult{Scenario: "idle", Phase: "floor: one 50 ms ticker", Database: engine, Seconds: floor.Elapsed.Seconds(),
		Measure: "CPU % of one core", Note: "River's completer ticks every 50 ms; this is that ticker alone, serve stopped"}
	fres.MachineCPUPercent, fres.ProcessCPUPercent = floor.PercentOfCore()
	return []benchResult{res, fres}, nil
}

// riverCompleterTick is how often River's batch completer wakes, fixed in River
// (internal/jobcompleter).
const riverCompleterTick = 50 * time.Millisecond

// idleTicker measures CPU use while one goroutine wakes every tick for d and the
// process does nothing else of its own.
func idleTicker(ctx context.Context, tick, d time.Duration) (cpustat.Use, error) {
	tctx, stop := context.WithCancel(ctx)
	defer stop()
	t := time.NewTicker(tick)
	defer t.Stop()
	go func() {
		for {
			select {
			case <-tctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	cpu0 := cpustat.Take()
	select {
	case <-ctx.Done():
		return cpustat.Use{}, ctx.Err()
	case <-time.After(d):
	}
	return cpu0.Until(cpustat.Take()), nil
}

// idleDatabase returns a new empty database on the bench database's engine, and
// how to remove it.
func idleDatabase(ctx context.Context, benchURL string) (dbURL, engine string, cleanup func(), err error) {
	if strings.HasPrefix(benchURL, "sqlite:") {
		dir, err := os.MkdirTemp("", "watan-bench-idle-")
		if err != nil {
			return "", "", nil, err
		}
		return "sqlite:" + filepath.Join(dir, "idle.db"), "sqlite", func() { os.RemoveAll(dir) }, nil
	}
	u, err := url.Parse(benchURL)
	if err != nil {
		return "", "", nil, fmt.Errorf("idle: database url: %w", err)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "watan_bench_idle_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", benchURL)
	if err != nil {
		return "", "", nil, err
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", "", nil, fmt.Errorf("idle: create schema: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), "postgres", func() {
		_, _ = admin.ExecContext(context.WithoutCancel(ctx), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	}, nil
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader in different
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}
