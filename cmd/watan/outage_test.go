package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"watan"
	"watan/internal/providertest"
	"watan/internal/seal"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// outageClient creates orders the way a storefront should: on 503 (or a dropped
// connection) it waits and sends the same client order id again, which the API's
// idempotency makes safe. It counts what it got.
type outageClient struct {
	base, key string
	http      *http.Client

	created, replayed, unavailable, internal, dropped atomic.Int64
	otherMu                                           sync.Mutex
	other                                             []string
}

// create posts body until the order is accepted (201, or 200 when an earlier
// attempt had committed although its answer was lost).
func (c *outageClient) create(ctx context.Context, body string) error {
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/api/v1/orders", strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.http.Do(req)
		if err != nil {
			c.dropped.Add(1)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusCreated:
			c.created.Add(1)
			return nil
		case http.StatusOK:
			c.replayed.Add(1)
			return nil
		case http.StatusServiceUnavailable:
			c.unavailable.Add(1)
			if resp.Header.Get("Retry-After") == "" {
				c.note("503 without Retry-After: %s", b)
			}
		case http.StatusInternalServerError:
			c.internal.Add(1)
		default:
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
		}
		// Retry-After says 5 s; a test cannot wait that long per attempt.
		time.Sleep(100 * time.Millisecond)
	}
	return ctx.Err()
}

func (c *outageClient) note(format string, args ...any) {
	c.otherMu.Lock()
	defer c.otherMu.Unlock()
	if len(c.other) < 10 {
		c.other = append(c.other, fmt.Sprintf(format, args...))
	}
}

// get answers the status and body of a GET.
func (c *outageClient) get(ctx context.Context, path string, header ...string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+path, nil)
	if err != nil {
		return 0, err.Error()
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// awaitGet polls path until ok accepts its answer or the bound passes.
func (c *outageClient) awaitGet(t *testing.T, path string, bound time.Duration, ok func(status int, body string) bool, header ...string) (int, string) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		status, body := c.get(t.Context(), path, header...)
		if ok(status, body) {
			return status, body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %d after %s: %.300s", path, status, bound, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logLine is one JSON line of serve's log.
type logLine struct {
	Level string      `json:"level"`
	Msg   string      `json:"msg"`
	Jobs  json.Number `json:"jobs"`
	raw   string
}

func parseLog(t *testing.T, s string) []logLine {
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Errorf("log line is not JSON: %s", sc.Text())
			continue
		}
		l.raw = sc.Text()
		out = append(out, l)
	}
	return out
}

// TestDatabaseOutage runs the real binary on PostgreSQL through a TCP proxy the test
// controls, with storefront clients creating orders all along, and cuts the
// database off for a few seconds in the middle (every connection closed, new ones
// refused: what a restart of the database looks like from watan's side, without
// restarting a cluster other tests share). Nothing is done by hand afterwards.
//
// It checks that no request got a 500 (503 with Retry-After only), /readyz and the
// dashboard say the database is down while it is and recover after, every order
// the API accepted reaches a final state with the crash test's invariants (no
// order lost or placed twice, money exact), and the log tells the outage in a
// handful of lines instead of one error per failed poll.
func TestDatabaseOutage(t *testing.T) {
	if os.Getenv(storetest.EnvDatabaseURL) == "" {
		t.Skipf("%s is not set: the outage test cuts a PostgreSQL connection", storetest.EnvDatabaseURL)
	}
	if testing.Short() {
		t.Skip("outage test takes about half a minute")
	}
	const (
		orders  = 600
		clients = 4
		outage  = 8 * time.Second
	)
	bin := watanBinary(t)
	dbURL := storetest.URL(t, store.EnginePostgres)
	ctx := t.Context()
	sys, err := openBenchSystem(ctx, dbURL, watan.SystemClock{}, 1, 1)
	must(t, err)
	defer sys.close()
	opts := providertest.Options{Seed: 23, Delay: providertest.UniformDelay(200*time.Millisecond, 1500*time.Millisecond), CancelRate: 0.1}
	settings := watan.ProviderSettings{FirstCheckDelay: 500 * time.Millisecond, Policy: watan.PollFixed, PollInterval: time.Second,
		RequestTimeout: 2 * time.Second}
	w, err := sys.newWorld(ctx, "outage", opts, settings)
	must(t, err)
	defer w.close()
	addProofCatalog(t, sys.st, w, orders)

	proxy, viaProxy := storetest.NewProxy(t, dbURL)
	addr := freeAddr(t)
	keyFile := filepath.Join(t.TempDir(), "watan.key")
	key, err := seal.GenerateKey()
	must(t, err)
	must(t, os.WriteFile(keyFile, []byte(key+"\n"), 0o600))
	// Production settings but for the simulators' loopback address and the rate
	// limit (one load generator on one address); the sweeper (5 min) and River's
	// rescuer (3 min) are left at their defaults, so recovery cannot lean on them.
	serve := startProc(t, bin, "serve", "serve", "--demo=false", "--http-addr", addr, "--rate-limit", "0",
		"--database-url", viaProxy, "--log-format", "json", "--log-level", "info", "--secret-key-file", keyFile,
		"--allow-targets", "127.0.0.0/8", "--workers", "20")

	c := &outageClient{base: "http://" + addr, key: w.key, http: &http.Client{Timeout: 30 * time.Second}}
	var accepted atomic.Int64
	loadErr := make(chan error, clients)
	var wg sync.WaitGroup
	for ci := range clients {
		wg.Go(func() {
			for i := range orders / clients {
				body := fmt.Sprintf(`{"package":%q,"account":%q,"quantity":1,"player_id":"5123456789","client_order_id":"out-%d-%d"}`,
					proofPackages[(i*3+ci)%len(proofPackages)], w.accounts[ci%len(w.accounts)], ci, i)
				if err := c.create(ctx, body); err != nil {
					loadErr <- err
					return
				}
				accepted.Add(1)
				time.Sleep(10 * time.Millisecond)
			}
		})
	}

	// Cut the database off once half the orders are in, while dispatches, checks and
	// completions are in full flow.
	deadline := time.Now().Add(time.Minute)
	for accepted.Load() < orders/2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	proxy.Cut()
	cutAt := time.Now()
	c.awaitGet(t, "/readyz", outage, func(s int, _ string) bool { return s == http.StatusServiceUnavailable })
	// The dashboard cannot read a session without its database: it says so.
	dashStatus, dashBody := c.get(ctx, "/", "Cookie", "watan_session=whatever")
	time.Sleep(outage - time.Since(cutAt))
	proxy.Restore()
	restoredAt := time.Now()
	c.awaitGet(t, "/readyz", time.Minute, func(s int, _ string) bool { return s == http.StatusOK })
	readyAfter := time.Since(restoredAt)

	wg.Wait()
	close(loadErr)
	if err := <-loadErr; err != nil {
		t.Fatalf("creating orders: %v", err)
	}
	// Every accepted order reaches a final state on its own, well before River's
	// rescuer (3 min) could have run a job that a lost fetch left "running": those
	// are released after the outage (jobs.Queue.ReleaseUnreceived).
	awaitFinal(t, sys.st, w.tenant.ID, 90*time.Second)
	drain := time.Since(restoredAt)
	checkInvariants(t, sys.st, w, int(accepted.Load()))

	if n := c.internal.Load(); n > 0 {
		t.Errorf("%d requests got 500 internal; an outage must answer 503", n)
	}
	for _, o := range c.other {
		t.Error(o)
	}
	if c.unavailable.Load() == 0 {
		t.Error("no request got 503 during the outage: the cut did not bite")
	}
	if dashStatus != http.StatusServiceUnavailable || !strings.Contains(dashBody, "The database cannot be reached") {
		t.Errorf("dashboard during the outage: %d %.300s", dashStatus, dashBody)
	}

	serve.kill()
	// What the log says about the outage: every line at WARN or above (nothing
	// else in this run warns), the end of the outage, and the release of jobs.
	var about []string
	var down, up int
	released := "0"
	for _, l := range parseLog(t, serve.stderr.String()) {
		switch {
		case l.Msg == "database unreachable":
			down++
		case l.Msg == "database reachable again":
			up++
		case strings.HasPrefix(l.Msg, "released jobs"):
			released = l.Jobs.String()
		case l.Level != "WARN" && l.Level != "ERROR":
			continue
		}
		about = append(about, l.raw)
	}
	if down != 1 || up != 1 {
		t.Errorf("the log said %d times that the database is unreachable and %d times that it is back; want once each", down, up)
	}
	if len(about) > 6 {
		t.Errorf("%d log lines about the outage; want a handful:\n%s", len(about), strings.Join(about[:min(len(about), 40)], "\n"))
	}
	t.Logf("%d orders accepted (%d created, %d answered 200 on a retry after a lost reply); outage %s; %d answers 503, %d 500, %d dropped connections; "+
		"ready %s after the restore; all final %s after it; %s jobs of lost fetches released; %d log lines about the outage:\n%s",
		accepted.Load(), c.created.Load(), c.replayed.Load(), outage, c.unavailable.Load(), c.internal.Load(), c.dropped.Load(),
		readyAfter.Round(10*time.Millisecond), drain.Round(100*time.Millisecond), released, len(about), strings.Join(about, "\n"))
}
