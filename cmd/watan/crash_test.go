package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"watan"
	"watan/internal/providertest"
	"watan/internal/seal"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// Packages the proof tests add to a bench world: a znet package falling back to
// barakat, and one fulfilled from a stock of codes.
const (
	proofPkgFallback = "pubg-60-fb"
	proofPkgCodes    = "steam-10"
)

var proofPackages = []string{benchPkgZnet, benchPkgBarakat, proofPkgFallback, proofPkgCodes}

// addProofCatalog adds the fallback and code-stock packages, with codes stored.
func addProofCatalog(t *testing.T, st *store.Store, w *benchWorld, codes int) {
	t.Helper()
	ctx := t.Context()
	tid := w.tenant.ID
	group, err := st.CreateCodeGroup(ctx, tid, "steam")
	must(t, err)
	pins := make([]string, codes)
	for i := range pins {
		pins[i] = fmt.Sprintf("STEAM-%06d", i)
	}
	for len(pins) > 0 {
		n := min(len(pins), watan.MaxCodesPerBatch)
		_, err := st.ImportCodes(ctx, tid, group.ID, pins[:n])
		must(t, err)
		pins = pins[n:]
	}
	fb, err := st.CreatePackage(ctx, watan.Package{TenantID: tid, Code: proofPkgFallback, Name: "fb", Price: 10_00, Currency: "TRY", Active: true,
		Routing: watan.Routing{Mode: watan.RouteAuto, PrimaryProviderID: w.znetAcct.ID, FallbackProviderID: w.barakatAcct.ID}})
	must(t, err)
	_, err = st.PutMapping(ctx, watan.Mapping{TenantID: tid, PackageID: fb.ID, ProviderAccountID: w.znetAcct.ID,
		ProductID: "3", Params: map[string]string{"oyun": "1", "kupur": "60"}})
	must(t, err)
	_, err = st.PutMapping(ctx, watan.Mapping{TenantID: tid, PackageID: fb.ID, ProviderAccountID: w.barakatAcct.ID,
		ProductID: "12345", Params: map[string]string{"server": "eu"}})
	must(t, err)
	_, err = st.CreatePackage(ctx, watan.Package{TenantID: tid, Code: proofPkgCodes, Name: "steam", Price: 5_00, Currency: "TRY", Active: true,
		Routing: watan.Routing{Mode: watan.RouteCodes, CodeGroupID: group.ID}})
	must(t, err)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// awaitFinal polls the database until no order of the tenant is pending or the
// bound passes; the workers run in other goroutines or processes.
func awaitFinal(t *testing.T, st *store.Store, tid int64, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		var pending int
		must(t, st.DB().QueryRowContext(t.Context(), `SELECT count(*) FROM orders WHERE tenant_id = $1 AND status = 'pending'`, tid).Scan(&pending))
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			rows, err := st.DB().QueryContext(t.Context(), `SELECT id, provider_state, COALESCE(provider_message, ''),
					COALESCE(CAST(next_check_at AS TEXT), '-') FROM orders
				WHERE tenant_id = $1 AND status = 'pending' ORDER BY id LIMIT 10`, tid)
			must(t, err)
			var b strings.Builder
			var ids []int64
			for rows.Next() {
				var id int64
				var state, msg, next string
				must(t, rows.Scan(&id, &state, &msg, &next))
				fmt.Fprintf(&b, "  order %d: %s %s (next check %s)\n", id, state, msg, next)
				ids = append(ids, id)
			}
			rows.Close()
			for _, id := range ids[:min(len(ids), 3)] {
				b.WriteString(timeline(t, st, tid, id))
			}
			b.WriteString(liveJobs(t, st))
			t.Fatalf("%d orders still pending after %s, e.g.:\n%s", pending, bound, b.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// timeline lists an order's events, for a failure message.
func timeline(t *testing.T, st *store.Store, tid, orderID int64) string {
	t.Helper()
	evs, err := st.OrderEvents(t.Context(), tid, orderID)
	must(t, err)
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "    order %d at %s: %s %s\n", orderID, e.At.Format(time.StampMicro), e.Kind, e.Message)
	}
	return b.String()
}

// liveJobs lists the jobs that still have work ahead, for a failure message: when
// an order is stuck, whether its job is waiting out a backoff, snoozed, or gone.
func liveJobs(t *testing.T, st *store.Store) string {
	t.Helper()
	args := "CAST(args AS TEXT)"
	if st.Engine() == store.EngineSQLite {
		args = "json(args)" // River keeps SQLite's args as binary JSON
	}
	rows, err := st.DB().QueryContext(t.Context(), `SELECT id, kind, state, attempt, CAST(scheduled_at AS TEXT), `+args+`
		FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded') ORDER BY id LIMIT 20`)
	must(t, err)
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id int64
		var attempt int
		var kind, state, at, args string
		must(t, rows.Scan(&id, &kind, &state, &attempt, &at, &args))
		fmt.Fprintf(&b, "  job %d %s %s attempt %d at %s %s\n", id, kind, state, attempt, at, args)
	}
	must(t, rows.Err())
	return b.String()
}

// checkInvariants asserts what must hold once every order is final, whatever
// crashed or failed on the way: one provider order at most per sale, provider and
// watan agreeing on the outcome, exact money, codes handed out once.
func checkInvariants(t *testing.T, st *store.Store, w *benchWorld, wantOrders int) {
	t.Helper()
	ctx := t.Context()
	tid := w.tenant.ID
	type row struct {
		id            int64
		status        watan.Status
		pkg, ref, pin string
	}
	rows, err := st.DB().QueryContext(ctx, `SELECT o.id, o.status, p.code, COALESCE(o.provider_referans, ''), COALESCE(o.pin, '')
		FROM orders o JOIN packages p ON p.id = o.package_id WHERE o.tenant_id = $1`, tid)
	must(t, err)
	byID := map[int64]row{}
	for rows.Next() {
		var r row
		must(t, rows.Scan(&r.id, &r.status, &r.pkg, &r.ref, &r.pin))
		byID[r.id] = r
	}
	must(t, rows.Err())
	rows.Close()
	if len(byID) != wantOrders {
		t.Errorf("%d orders in the database, the clients created %d", len(byID), wantOrders)
	}

	// Provider side: every simulated order belongs to one of ours (references are
	// "1" + 12-digit order id + 2-digit placement number), and no order of ours has
	// two provider orders.
	simOrders := map[int64][]providertest.Order{}
	for _, so := range append(w.znet.Orders(), w.barakat.Orders()...) {
		var id int64
		if len(so.Ref) != 15 || so.Ref[0] != '1' {
			t.Errorf("provider order under reference %q that watan never makes", so.Ref)
			continue
		}
		fmt.Sscan(strings.TrimLeft(so.Ref[1:13], "0"), &id)
		simOrders[id] = append(simOrders[id], so)
	}
	pins := map[string]int64{} // stored codes handed out, which must be unique
	for id, r := range byID {
		if r.status == watan.StatusPending {
			t.Errorf("order %d (%s) is still pending", id, r.pkg)
		}
		sos := simOrders[id]
		if len(sos) > 1 {
			t.Errorf("order %d became %d provider orders: %+v", id, len(sos), sos)
		}
		if r.pkg == proofPkgCodes && r.pin != "" {
			if other, dup := pins[r.pin]; dup {
				t.Errorf("orders %d and %d both got PIN %s", other, id, r.pin)
			}
			pins[r.pin] = id
		}
		if r.pkg == proofPkgCodes {
			if r.status != watan.StatusApproved || !strings.HasPrefix(r.pin, "STEAM-") {
				t.Errorf("code order %d is %s with PIN %q", id, r.status, r.pin)
			}
			continue
		}
		if r.pkg == proofPkgManual {
			continue // decided by an operator, never sent to a provider
		}
		var delivered *providertest.Order
		for i := range sos {
			if sos[i].State == providertest.StateDelivered {
				delivered = &sos[i]
			}
		}
		switch {
		case r.status == watan.StatusApproved && (delivered == nil || delivered.PIN != r.pin):
			t.Errorf("order %d approved with PIN %q but the provider delivered %+v", id, r.pin, delivered)
		case r.status == watan.StatusRejected && delivered != nil:
			t.Errorf("order %d rejected and refunded but the provider delivered it", id)
		}
	}

	checkMoney(t, st, tid, w.accounts)
}

// checkMoney asserts one debit per order of the tenant, one refund per rejection,
// and ledgers that sum to the balances of accounts.
func checkMoney(t *testing.T, st *store.Store, tid int64, accounts []string) {
	t.Helper()
	ctx := t.Context()
	for _, code := range accounts {
		a, err := st.FindAccount(ctx, tid, code)
		must(t, err)
		var sum int64
		must(t, st.DB().QueryRowContext(ctx, `SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE account_id = $1`, a.ID).Scan(&sum))
		if watan.Amount(sum) != a.Balance {
			t.Errorf("account %s: ledger sums to %s, balance is %s", code, watan.Amount(sum), a.Balance)
		}
	}
	mrows, err := st.DB().QueryContext(ctx, `SELECT o.id, o.status,
		(SELECT count(*) FROM ledger_entries l WHERE l.order_id = o.id AND l.kind = 'debit'),
		(SELECT count(*) FROM ledger_entries l WHERE l.order_id = o.id AND l.kind = 'refund'),
		(SELECT count(*) FROM ledger_entries l WHERE l.order_id = o.id AND l.kind = 'redebit')
		FROM orders o WHERE o.tenant_id = $1`, tid)
	must(t, err)
	defer mrows.Close()
	for mrows.Next() {
		var id int64
		var status watan.Status
		var debits, refunds, redebits int
		must(t, mrows.Scan(&id, &status, &debits, &refunds, &redebits))
		want := 0
		if status == watan.StatusRejected {
			want = 1
		}
		if debits != 1 || refunds-redebits != want {
			t.Errorf("order %d (%s): %d debits, %d refunds, %d re-debits", id, status, debits, refunds, redebits)
		}
	}
	must(t, mrows.Err())
}

// watanBinary builds the real binary into the test's temporary directory.
func watanBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "watan")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is one watan process started by a test.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stderr *fpBuffer
	exited chan struct{}
}

// startProc runs the binary with args and waits until it says it is ready.
func startProc(t *testing.T, bin, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	// Each serve opens its whole pool at start (Store.Warm); several at once, next
	// to the other packages' tests, would pass the CI server's max_connections
	// (100) with the default pool of 20.
	cmd.Env = append(os.Environ(), "WATAN_DB_MAX_CONNS=6")
	out, err := cmd.StdoutPipe()
	must(t, err)
	p := &proc{name: name, cmd: cmd, stderr: &fpBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	must(t, cmd.Start())
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "watan listening on ") || strings.HasPrefix(line, "watan worker running") {
				once.Do(func() { close(ready) })
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() { _ = cmd.Wait(); close(p.exited) }()
	select {
	case <-ready:
	case <-p.exited:
		t.Fatalf("%s exited before it was ready: %s", name, p.stderr.String())
	case <-time.After(60 * time.Second):
		p.kill()
		t.Fatalf("%s not ready after 60 s: %s", name, p.stderr.String())
	}
	t.Cleanup(p.kill)
	return p
}

// kill ends the process with SIGKILL: no shutdown code runs, as in a power cut.
func (p *proc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// crashClient creates orders over HTTP the way a careful storefront does: it
// retries the same client order id until it gets an answer, so an order whose
// reply was lost in a crash is not created twice.
type crashClient struct {
	base, key string
	http      *http.Client
}

func (c *crashClient) create(ctx context.Context, body string) (int, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/api/v1/orders", strings.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+c.key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.http.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusCreated, http.StatusOK:
				return resp.StatusCode, nil
			case http.StatusServiceUnavailable, http.StatusInternalServerError:
			default:
				return resp.StatusCode, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
			}
		}
		if attempt > 600 || ctx.Err() != nil {
			return 0, fmt.Errorf("no answer after %d attempts: %v", attempt, err)
		}
		// The server is down (being restarted by the test): poll it again shortly.
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestCrashRecovery runs the real binary on PostgreSQL against simulators in this
// process (slow completions, 10 % lost replies), kills serve and worker processes
// with SIGKILL at seeded random moments while orders arrive, restarts them, and
// then checks that every order reached a final state with the invariants intact.
func TestCrashRecovery(t *testing.T) {
	if os.Getenv(storetest.EnvDatabaseURL) == "" {
		t.Skipf("%s is not set: the crash test runs several processes on PostgreSQL", storetest.EnvDatabaseURL)
	}
	if testing.Short() {
		t.Skip("crash test takes about a minute")
	}
	bin := watanBinary(t)
	dbURL := storetest.URL(t, store.EnginePostgres)
	ctx := t.Context()
	sys, err := openBenchSystem(ctx, dbURL, watan.SystemClock{}, 1, 1)
	must(t, err)
	defer sys.close()
	opts := providertest.Options{Seed: 7, Delay: providertest.LogNormalDelay(2*time.Second, 0.8), CancelRate: 0.1,
		Faults: providertest.FaultRates{LostReply: 0.1}}
	// Quick checks so that the run ends soon; the schedule itself is not under test.
	settings := watan.ProviderSettings{FirstCheckDelay: 500 * time.Millisecond, Policy: watan.PollFixed, PollInterval: time.Second,
		RequestTimeout: 2 * time.Second}
	w, err := sys.newWorld(ctx, "crash", opts, settings)
	must(t, err)
	defer w.close()
	addProofCatalog(t, sys.st, w, 2000)

	addr := freeAddr(t)
	keyFile := filepath.Join(t.TempDir(), "watan.key") // serve and worker share it, as nodes do
	key, err := seal.GenerateKey()
	must(t, err)
	must(t, os.WriteFile(keyFile, []byte(key+"\n"), 0o600))
	common := []string{"--database-url", dbURL, "--log-format", "json", "--log-level", "error", "--secret-key-file", keyFile,
		"--sweep-interval", "2s", "--rescue-after", "6s", "--shutdown-timeout", "1s", "--workers", "20",
		"--allow-targets", "127.0.0.0/8"} // the simulators listen on loopback
	// One load generator on one address: the per-client rate limit would throttle it.
	serveArgs := append([]string{"serve", "--demo=false", "--http-addr", addr, "--rate-limit", "0"}, common...)
	workerArgs := append([]string{"worker"}, common...)

	rng := rand.New(rand.NewPCG(2026, 11))
	client := &crashClient{base: "http://" + addr, key: w.key, http: &http.Client{Timeout: 10 * time.Second}}
	var mu sync.Mutex
	created := 0
	var loadErr error
	load := func(phase, n int) {
		var wg sync.WaitGroup
		for c := range 4 {
			wg.Go(func() {
				for i := range n / 4 {
					body := fmt.Sprintf(`{"package":%q,"account":%q,"quantity":1,"player_id":"5123456789","client_order_id":"crash-%d-%d-%d"}`,
						proofPackages[(i*7+c)%len(proofPackages)], w.accounts[c%len(w.accounts)], phase, c, i)
					if _, err := client.create(ctx, body); err != nil {
						mu.Lock()
						loadErr = err
						mu.Unlock()
						return
					}
					mu.Lock()
					created++
					mu.Unlock()
					time.Sleep(20 * time.Millisecond) // a steady trickle spread over the kills
				}
			})
		}
		wg.Wait()
	}

	// Phase 1: one node, serve killed and restarted three times while orders arrive.
	serve := startProc(t, bin, "serve", serveArgs...)
	loaded := make(chan struct{})
	go func() { load(1, 400); close(loaded) }()
	for range 3 {
		time.Sleep(time.Duration(500+rng.IntN(2500)) * time.Millisecond)
		serve.kill()
		serve = startProc(t, bin, "serve", serveArgs...)
	}
	<-loaded

	// Phase 2: serve and a worker on the same database; either is killed.
	worker := startProc(t, bin, "worker", workerArgs...)
	loaded = make(chan struct{})
	go func() { load(2, 400); close(loaded) }()
	for range 4 {
		time.Sleep(time.Duration(500+rng.IntN(2500)) * time.Millisecond)
		if rng.IntN(2) == 0 {
			serve.kill()
			serve = startProc(t, bin, "serve", serveArgs...)
		} else {
			worker.kill()
			worker = startProc(t, bin, "worker", workerArgs...)
		}
	}
	<-loaded
	// One more crash while only checks are running.
	time.Sleep(time.Duration(200+rng.IntN(1000)) * time.Millisecond)
	worker.kill()
	worker = startProc(t, bin, "worker", workerArgs...)
	if loadErr != nil {
		t.Fatalf("creating orders: %v", loadErr)
	}

	// Jobs that were running in a killed process wait for River's rescuer
	// (--rescue-after, then its next pass), so allow for a couple of passes.
	awaitFinal(t, sys.st, w.tenant.ID, 150*time.Second)
	checkInvariants(t, sys.st, w, created)
	var unknown int
	must(t, sys.st.DB().QueryRowContext(ctx, `SELECT count(DISTINCT order_id) FROM order_events WHERE tenant_id = $1 AND kind = 'unknown_outcome'`, w.tenant.ID).Scan(&unknown))
	t.Logf("%d orders final after 8 kills (%d had an unknown placement outcome); znet %d and barakat %d provider orders",
		created, unknown, len(w.znet.Orders()), len(w.barakat.Orders()))
}
