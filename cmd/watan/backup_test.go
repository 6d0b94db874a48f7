package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"watan"
	"watan/internal/seal"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// TestBackupWhileServing copies the embedded database while serve takes orders,
// then serves the copy: it holds a consistent prefix of the orders (every one
// readable, every ledger equal to its balance) and takes new orders to the end.
func TestBackupWhileServing(t *testing.T) {
	ctx := t.Context()
	dbURL := storetest.URL(t, store.EngineSQLite)
	key, err := seal.GenerateKey()
	must(t, err)
	s := startServeWith(t, dbURL, key, "", "--demo-delay", "fixed:0s", "--demo-first-check", "0", "--rate-limit", "0")

	if code := s.call("POST", "/api/v1/accounts/demo-customer/topups", map[string]any{"amount": "100000.00", "note": "test"}, nil); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("top-up: HTTP %d", code)
	}
	var created atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				pkg := []string{"pubg-60", "pubg-60-global", "manual-topup"}[i%3]
				body := map[string]any{"package": pkg, "account": "demo-customer", "quantity": 1, "player_id": "5123456789",
					"client_order_id": fmt.Sprintf("bk-%d-%d", c, i)}
				var o watan.Order
				if code := s.call("POST", "/api/v1/orders", body, &o); code != http.StatusCreated {
					t.Errorf("create: HTTP %d", code)
					return
				}
				created.Add(1)
			}
		})
	}
	for created.Load() < 40 && !t.Failed() {
		time.Sleep(5 * time.Millisecond)
	}
	dir := t.TempDir()
	copyPath := filepath.Join(dir, "copy.db")
	stdout, stderr := &fpBuffer{}, &fpBuffer{}
	env := fpEnv(nil, stdout, stderr)
	if err := run(ctx, env, []string{"backup", "--database-url", dbURL, "--to", copyPath}); err != nil {
		t.Fatalf("backup while serving: %v\n%s", err, stderr.String())
	}
	atBackup := created.Load()
	if !strings.Contains(stdout.String(), "backed up") {
		t.Errorf("backup said: %s", stdout.String())
	}
	// The same file again is refused rather than overwritten.
	if err := run(ctx, env, []string{"backup", "--database-url", dbURL, "--to", copyPath}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("backup over an existing file: %v", err)
	}
	for created.Load() < atBackup+20 && !t.Failed() {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	s.shutdown()

	// Serve the copy, with the installation's key.
	c := startServeWith(t, "sqlite:"+copyPath, key, s.key, "--demo-delay", "fixed:0s", "--demo-first-check", "0")
	var list struct {
		Orders []watan.Order `json:"orders"`
	}
	if code := c.call("GET", "/api/v1/orders?limit=500", nil, &list); code != http.StatusOK {
		t.Fatalf("list orders on the copy: HTTP %d", code)
	}
	n := int64(len(list.Orders))
	if n < 40 || n > atBackup+2 { // up to one order in flight per client
		t.Errorf("the copy holds %d orders; %d were created before the backup began, %d when it ended", n, 40, atBackup)
	}
	var acct watan.Account
	c.call("GET", "/api/v1/accounts/demo-customer", nil, &acct)
	var ledger struct {
		Entries    []watan.LedgerEntry `json:"entries"`
		NextCursor string              `json:"next_cursor"`
	}
	var sum watan.Amount
	for cursor := ""; ; {
		c.call("GET", "/api/v1/accounts/demo-customer/ledger?limit=1000&cursor="+cursor, nil, &ledger)
		for _, e := range ledger.Entries {
			sum += e.Amount
		}
		if ledger.NextCursor == "" {
			break
		}
		cursor = ledger.NextCursor
	}
	if sum != acct.Balance {
		t.Errorf("on the copy the ledger sums to %s, the balance is %s", sum, acct.Balance)
	}
	var o watan.Order
	body := map[string]any{"package": "pubg-60", "account": "demo-customer", "quantity": 1, "player_id": "5123456789", "client_order_id": "from-copy"}
	if code := c.call("POST", "/api/v1/orders", body, &o); code != http.StatusCreated {
		t.Fatalf("create on the copy: HTTP %d", code)
	}
	if o = c.await(o.ID, func(o watan.Order) bool { return o.Status.Final() }); o.Status == watan.StatusApproved && o.PIN == "" {
		t.Errorf("order on the copy approved without a PIN")
	}
	c.shutdown()

	// On PostgreSQL the command points at pg_dump instead.
	if err := run(ctx, env, []string{"backup", "--database-url", "postgres://127.0.0.1:1/x", "--to", filepath.Join(dir, "pg.db")}); err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("backup of a PostgreSQL database: %v", err)
	}
}
