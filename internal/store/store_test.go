package store_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"watan"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// The conformance suite: every test runs on SQLite, and on PostgreSQL when
// WATAN_TEST_DATABASE_URL is set, each on its own fresh database or schema.

// fakeClock is a settable clock. It starts with nanoseconds so that tests also
// check that stored times come back truncated to microseconds.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// bundle is what a conformance test works with: the store under test, its clock, a
// context, and a tenant to work in.
type bundle struct {
	s      *store.Store
	clock  *fakeClock
	ctx    context.Context
	tenant watan.Tenant
}

// run runs fn in parallel once per engine with a fresh bundle.
func run(t *testing.T, fn func(t *testing.T, b *bundle)) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		t.Parallel()
		fn(t, setup(t, e))
	})
}

func setup(t *testing.T, e store.Engine) *bundle {
	t.Helper()
	clock := newFakeClock()
	b := &bundle{
		s:     storetest.OpenWith(t, storetest.Options{Engine: e, Clock: clock}),
		clock: clock,
		ctx:   t.Context(),
	}
	b.tenant = b.newTenant(t, "shop")
	return b
}

func (b *bundle) newTenant(t *testing.T, name string) watan.Tenant {
	t.Helper()
	tn, err := b.s.CreateTenant(b.ctx, name)
	if err != nil {
		t.Fatalf("CreateTenant(%q): %v", name, err)
	}
	return tn
}

// account creates an account in tenant with the given overdraft limit and tops it up
// by balance, if positive.
func (b *bundle) account(t *testing.T, tenantID int64, code string, balance, overdraft watan.Amount) watan.Account {
	t.Helper()
	a, err := b.s.CreateAccount(b.ctx, tenantID, watan.NewAccount{Code: code, Name: "Customer " + code, Currency: "USD", OverdraftLimit: overdraft})
	if err != nil {
		t.Fatalf("CreateAccount(%q): %v", code, err)
	}
	if balance > 0 {
		if _, err := b.s.TopUp(b.ctx, tenantID, code, balance, "opening balance"); err != nil {
			t.Fatalf("TopUp(%q): %v", code, err)
		}
	}
	a, err = b.s.FindAccount(b.ctx, tenantID, code)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (b *bundle) pkg(t *testing.T, tenantID int64, code string, price watan.Amount) watan.Package {
	t.Helper()
	p, err := b.s.CreatePackage(b.ctx, watan.Package{TenantID: tenantID, Code: code, Name: "Package " + code, Price: price, Currency: "USD", Active: true})
	if err != nil {
		t.Fatalf("CreatePackage(%q): %v", code, err)
	}
	return p
}

func (b *bundle) order(t *testing.T, n watan.NewOrder) watan.Order {
	t.Helper()
	if n.TenantID == 0 {
		n.TenantID = b.tenant.ID
	}
	if n.Quantity == 0 {
		n.Quantity = 1
	}
	if n.PlayerID == "" {
		n.PlayerID = "player-1"
	}
	o, created, err := b.s.CreateOrder(b.ctx, n)
	if err != nil {
		t.Fatalf("CreateOrder(%+v): %v", n, err)
	}
	if !created {
		t.Fatalf("CreateOrder(%+v): created = false", n)
	}
	return o
}

// wantCode fails t unless err carries the domain error code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := watan.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	for _, url := range []string{"mysql://x", "sqlite:", "watan.db"} {
		if s, err := store.Open(t.Context(), store.Config{URL: url}); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", url)
		}
	}
}

func TestOpenMemory(t *testing.T) {
	s, err := store.Open(t.Context(), store.Config{URL: "sqlite::memory:"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTenant(t.Context(), "mem"); err != nil {
		t.Fatal(err)
	}
	ts, err := s.ListTenants(t.Context())
	if err != nil || len(ts) != 1 {
		t.Fatalf("ListTenants = %v, %v; want the one tenant", ts, err)
	}
}

func TestMigrate(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		t.Parallel()
		ctx := t.Context()
		s, err := store.Open(ctx, store.Config{URL: storetest.URL(t, e)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.Engine() != e {
			t.Errorf("Engine() = %q, want %q", s.Engine(), e)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.MigrationsCurrent(ctx); err != nil || ok {
			t.Fatalf("before Migrate: MigrationsCurrent = %v, %v; want false, nil", ok, err)
		}
		for i := range 2 {
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate #%d: %v", i+1, err)
			}
			if ok, err := s.MigrationsCurrent(ctx); err != nil || !ok {
				t.Fatalf("after Migrate #%d: MigrationsCurrent = %v, %v; want true, nil", i+1, ok, err)
			}
		}
		// River's tables are in the same database (schema), next to watan's.
		var n int
		if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job`).Scan(&n); err != nil {
			t.Fatalf("river_job: %v", err)
		}
	})
}

// TestMigrateConcurrently checks that nodes starting together on one PostgreSQL
// database serialise their migrations instead of failing.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t, store.EnginePostgres)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := store.Open(t.Context(), store.Config{URL: url})
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close()
			errs[i] = s.Migrate(t.Context())
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func TestInTx(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		boom := errors.New("boom")
		err := b.s.InTx(b.ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(b.ctx, `UPDATE tenants SET name = 'renamed' WHERE id = $1`, b.tenant.ID); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want %v", err, boom)
		}
		if tn, err := b.s.FindTenant(b.ctx, b.tenant.ID); err != nil || tn.Name != b.tenant.Name {
			t.Fatalf("after rollback: tenant = %+v, %v; want name %q", tn, err, b.tenant.Name)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("InTx swallowed a panic")
				}
			}()
			_ = b.s.InTx(b.ctx, func(*sql.Tx) error { panic("oops") })
		}()
		// The connection was released: the store still works.
		if _, err := b.s.FindTenant(b.ctx, b.tenant.ID); err != nil {
			t.Fatal(err)
		}
	})
}
