package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"watan"
	"watan/internal/egress"
	"watan/internal/engine"
	"watan/internal/providers"
	"watan/internal/providertest"
	"watan/internal/seal"
	"watan/internal/store"
	"watan/internal/store/storetest"
	"watan/internal/webhooks"
)

const proofPkgManual = "manual-x"

// TestMoveToPostgres builds an embedded install the way one grows: several
// tenants, hundreds of orders in every state (delivered, cancelled and refunded,
// pending at the provider mid-check, never sent, codes handed out, rejected by an
// operator and approved again, waiting for an operator), then moves it to
// PostgreSQL. A failure injected mid-copy leaves the target empty and the source
// untouched; the move is refused while the file is held and when the target holds
// data; the re-run succeeds; and serve on PostgreSQL finishes every pending order
// at the same simulators, with no order placed twice and every ledger equal to its
// balance.
func TestMoveToPostgres(t *testing.T) {
	if os.Getenv(storetest.EnvDatabaseURL) == "" {
		t.Skipf("%s is not set: move copies into PostgreSQL", storetest.EnvDatabaseURL)
	}
	ctx := t.Context()
	srcURL := storetest.URL(t, store.EngineSQLite)
	dstURL := storetest.URL(t, store.EnginePostgres)

	sys, err := openBenchSystem(ctx, srcURL, watan.SystemClock{}, 20, 3)
	must(t, err)
	// Slow providers, so that many orders are still at the provider when the
	// embedded install stops; a few never finish until the move is done.
	opts := providertest.Options{Seed: 11, Delay: providertest.UniformDelay(0, 12*time.Second), CancelRate: 0.15}
	settings := watan.ProviderSettings{FirstCheckDelay: 300 * time.Millisecond, Policy: watan.PollFixed, PollInterval: time.Second,
		RequestTimeout: 2 * time.Second}
	var worlds []*benchWorld
	for i := range 3 {
		opts.Seed += uint64(i)
		w, err := sys.newWorld(ctx, fmt.Sprintf("shop-%d", i), opts, settings)
		must(t, err)
		t.Cleanup(w.close)
		addProofCatalog(t, sys.st, w, 200)
		_, err = sys.st.CreatePackage(ctx, watan.Package{TenantID: w.tenant.ID, Code: proofPkgManual, Name: "manual", Price: 7_00,
			Currency: "TRY", Active: true, Routing: watan.Routing{Mode: watan.RouteManual}})
		must(t, err)
		worlds = append(worlds, w)
	}
	// Webhooks: the receiver is down until the move is done, so deliveries are
	// still pending when the embedded install stops.
	var receiverUp atomic.Bool
	var received atomic.Int64
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !receiverUp.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		received.Add(1)
	}))
	defer receiver.Close()
	_, err = sys.st.PutWebhookEndpoint(ctx, worlds[0].tenant.ID, receiver.URL, "whsec-move-test-0123456789", true)
	must(t, err)
	hooks, err := webhooks.New(webhooks.Config{Store: sys.st, Queue: sys.queue, Egress: &egress.Policy{AllowPrivate: true}})
	must(t, err)
	sys.queue.HandleWebhooks(hooks)
	sys.eng, err = engine.New(engine.Config{Store: sys.st, Queue: sys.queue, Notifier: hooks, Seed: 3,
		Providers: providers.New(providers.Config{})})
	must(t, err)
	base, stopHTTP, err := sys.serveHTTP()
	must(t, err)
	must(t, sys.queue.Start(ctx, sys.eng))

	created := make([]int, len(worlds))
	var mu sync.Mutex
	load := func(prefix string, n int) {
		var wg sync.WaitGroup
		for wi, w := range worlds {
			wg.Go(func() {
				c := &crashClient{base: base, key: w.key, http: &http.Client{Timeout: 10 * time.Second}}
				pkgs := append(proofPackages, proofPkgManual)
				for i := range n {
					body := fmt.Sprintf(`{"package":%q,"account":%q,"quantity":1,"player_id":"5123456789","client_order_id":"%s-%d"}`,
						pkgs[i%len(pkgs)], w.accounts[i%len(w.accounts)], prefix, i)
					if code, err := c.create(ctx, body); err != nil || code != http.StatusCreated {
						t.Errorf("create: HTTP %d, %v", code, err)
						return
					}
					mu.Lock()
					created[wi]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	load("a", 120)
	// Let some finish, so that the copy holds final orders as well as pending ones.
	time.Sleep(3 * time.Second)

	// Operators: reject manual orders (refund), approve some of them again (re-debit).
	redebited := 0
	for _, w := range worlds {
		rows, err := sys.st.DB().QueryContext(ctx, `SELECT o.id FROM orders o JOIN packages p ON p.id = o.package_id
			WHERE o.tenant_id = $1 AND p.code = $2 ORDER BY o.id`, w.tenant.ID, proofPkgManual)
		must(t, err)
		var ids []int64
		for rows.Next() {
			var id int64
			must(t, rows.Scan(&id))
			ids = append(ids, id)
		}
		rows.Close()
		for i, id := range ids {
			if i%3 == 2 {
				continue // left waiting for an operator
			}
			_, err := sys.eng.Reject(ctx, w.tenant.ID, id, watan.OperatorActor("sara"), "out of stock")
			must(t, err)
			if i%3 == 1 {
				_, err := sys.eng.Approve(ctx, w.tenant.ID, id, watan.OperatorActor("sara"), fmt.Sprintf("MAN-%d", id), "found one")
				must(t, err)
				redebited++
			}
		}
	}
	must(t, sys.queue.Stop(ctx))
	// Orders that arrive after the workers stopped are never sent.
	load("b", 15)
	stopHTTP()
	sys.close()

	src, err := store.Open(ctx, store.Config{URL: srcURL})
	must(t, err)
	states := map[string]int{}
	rows, err := src.DB().QueryContext(ctx, `SELECT status || '/' || provider_state, count(*) FROM orders GROUP BY 1`)
	must(t, err)
	for rows.Next() {
		var k string
		var n int
		must(t, rows.Scan(&k, &n))
		states[k] = n
	}
	rows.Close()
	var pendingHooks int
	must(t, src.DB().QueryRowContext(ctx, `SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'`).Scan(&pendingHooks))
	src.Close()
	t.Logf("source orders by status/provider state: %v; %d re-debited", states, redebited)
	if pendingHooks == 0 {
		t.Error("the source has no pending webhook delivery; the test does not cover them")
	}
	for _, want := range []string{"pending/sent", "pending/not_sent", "pending/manual", "approved/delivered", "rejected/failed"} {
		if states[want] == 0 {
			t.Errorf("the source has no order %s; the test does not cover it", want)
		}
	}
	before := digestSQLite(t, srcURL)

	stdout, stderr := &fpBuffer{}, &fpBuffer{}
	env := fpEnv(nil, stdout, stderr)
	// Held by a running serve: refused, nothing touched.
	holder, err := store.Open(ctx, store.Config{URL: srcURL})
	must(t, err)
	unlock, err := holder.LockFile()
	must(t, err)
	err = run(ctx, env, []string{"move", "--from", srcURL, "--to", dstURL})
	if err == nil || !strings.Contains(err.Error(), "refusing to move") {
		t.Fatalf("move while the file is held: %v", err)
	}
	must(t, unlock())
	holder.Close()

	// A failure mid-copy: the target stays empty, the source as it was.
	injected := errors.New("injected failure")
	_, err = runMove(ctx, env, srcURL, dstURL, func(table string) error {
		if table == "order_events" {
			return injected
		}
		return nil
	})
	if !errors.Is(err, injected) {
		t.Fatalf("move with a failure injected: %v", err)
	}
	dst, err := store.Open(ctx, store.Config{URL: dstURL})
	must(t, err)
	defer dst.Close()
	var n int
	must(t, dst.DB().QueryRowContext(ctx, `SELECT (SELECT count(*) FROM tenants) + (SELECT count(*) FROM orders) + (SELECT count(*) FROM river_job)`).Scan(&n))
	if n != 0 {
		t.Fatalf("after a failed move the target holds %d rows", n)
	}
	if after := digestSQLite(t, srcURL); after != before {
		t.Fatal("a failed move changed the source")
	}

	// The re-run moves everything.
	if err := run(ctx, env, []string{"move", "--from", srcURL, "--to", dstURL}); err != nil {
		t.Fatalf("move: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	t.Logf("move said:\n%s", out)
	total := 0
	for _, c := range created {
		total += c
	}
	if !strings.Contains(out, fmt.Sprintf("moved 3 tenants and %d orders", total)) || !strings.Contains(out, "each balance equal to its ledger") {
		t.Fatalf("move report:\n%s", out)
	}
	if after := digestSQLite(t, srcURL); after != before {
		t.Fatal("the move changed the source")
	}
	// A second move into the same database is refused.
	if err := run(ctx, env, []string{"move", "--from", srcURL, "--to", dstURL}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("move into a non-empty target: %v", err)
	}

	// Ids and numbers continue: a new order gets the next number of its tenant.
	var maxID, maxNum int64
	must(t, dst.DB().QueryRowContext(ctx, `SELECT MAX(id) FROM orders`).Scan(&maxID))
	must(t, dst.DB().QueryRowContext(ctx, `SELECT MAX(number) FROM orders WHERE tenant_id = $1`, worlds[0].tenant.ID).Scan(&maxNum))

	if !strings.Contains(out, fmt.Sprintf("%d webhook deliveries", pendingHooks)) {
		t.Errorf("the move did not re-create the %d pending webhook deliveries", pendingHooks)
	}

	// serve on PostgreSQL finishes the pending orders at the same simulators.
	receiverUp.Store(true)
	addr := freeAddr(t)
	key, err := seal.GenerateKey()
	must(t, err)
	serveErr := &fpBuffer{}
	serveEnv := fpEnv(map[string]string{envSecretKey: key}, &fpBuffer{}, serveErr)
	serveCtx, stopServe := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(serveCtx, serveEnv, []string{"serve", "--demo=false", "--database-url", dstURL, "--http-addr", addr,
			"--rate-limit", "0", "--log-format", "json", "--log-level", "error", "--allow-targets", "127.0.0.0/8",
			"--sweep-interval", "2s"})
	}()
	defer func() {
		stopServe()
		if err := <-done; err != nil {
			t.Errorf("serve: %v\n%s", err, serveErr.String())
		}
	}()
	c := &crashClient{base: "http://" + addr, key: worlds[0].key, http: &http.Client{Timeout: 10 * time.Second}}
	if code, err := c.create(ctx, fmt.Sprintf(`{"package":%q,"account":%q,"quantity":1,"player_id":"1","client_order_id":"after-move"}`,
		benchPkgZnet, worlds[0].accounts[0])); err != nil || code != http.StatusCreated {
		t.Fatalf("order after the move: HTTP %d, %v", code, err)
	}
	created[0]++
	var id, num int64
	must(t, dst.DB().QueryRowContext(ctx, `SELECT id, number FROM orders WHERE client_order_id = 'after-move'`).Scan(&id, &num))
	if id != maxID+1 || num != maxNum+1 {
		t.Errorf("the first order after the move is id %d number %d; want %d and %d", id, num, maxID+1, maxNum+1)
	}
	// Manual orders wait for an operator; decide them so that every order ends,
	// once the unsent ones have been routed to the operators' queue.
	for deadline := time.Now().Add(60 * time.Second); ; {
		must(t, dst.DB().QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE status = 'pending' AND provider_state = 'not_sent'`).Scan(&n))
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d orders still unsent a minute after serve started on the moved database", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, w := range worlds {
		rows, err := dst.DB().QueryContext(ctx, `SELECT id FROM orders WHERE tenant_id = $1 AND status = 'pending' AND provider_state = 'manual'`, w.tenant.ID)
		must(t, err)
		var ids []int64
		for rows.Next() {
			var id int64
			must(t, rows.Scan(&id))
			ids = append(ids, id)
		}
		rows.Close()
		oc := &crashClient{base: "http://" + addr, key: w.key, http: &http.Client{Timeout: 10 * time.Second}}
		for _, id := range ids {
			req, err := http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("%s/api/v1/orders/%d/approve", oc.base, id),
				strings.NewReader(fmt.Sprintf(`{"pin":"MAN-%d"}`, id)))
			must(t, err)
			req.Header.Set("Authorization", "Bearer "+oc.key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := oc.http.Do(req)
			must(t, err)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("approve manual order %d: HTTP %d", id, resp.StatusCode)
			}
		}
	}
	for i, w := range worlds {
		awaitFinal(t, dst, w.tenant.ID, 90*time.Second)
		checkInvariants(t, dst, w, created[i])
	}
	// Every delivery, those moved pending among them, reaches the receiver.
	for deadline := time.Now().Add(60 * time.Second); ; {
		must(t, dst.DB().QueryRowContext(ctx, `SELECT count(*) FROM webhook_deliveries WHERE state <> 'delivered'`).Scan(&n))
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d webhook deliveries not delivered a minute after the move", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d webhook deliveries received after the move", received.Load())
}

// digestSQLite hashes every row of every table of a SQLite database in a stable
// order: equal digests mean equal contents.
func digestSQLite(t *testing.T, url string) string {
	t.Helper()
	ctx := t.Context()
	st, err := store.Open(ctx, store.Config{URL: url})
	must(t, err)
	defer st.Close()
	names, err := queryStrings(st, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	must(t, err)
	h := sha256.New()
	for _, n := range names {
		rows, err := st.DB().QueryContext(ctx, `SELECT * FROM `+n+` ORDER BY 1`)
		must(t, err)
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			must(t, rows.Scan(ptrs...))
			fmt.Fprintf(h, "%s %v\n", n, vals)
		}
		rows.Close()
	}
	return hex.EncodeToString(h.Sum(nil))
}

func queryStrings(st *store.Store, q string) ([]string, error) {
	rows, err := st.DB().Query(q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
