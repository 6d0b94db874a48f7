package store_test

import (
	"context"
	"os"
	"testing"
	"time"

	"watan"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// TestChangesReachOtherNodes: on PostgreSQL a pause made through one node's store,
// and a circuit opening announced by one node, reach another node listening on the
// same database; another schema's listener hears nothing of them.
func TestChangesReachOtherNodes(t *testing.T) {
	if os.Getenv(storetest.EnvDatabaseURL) == "" {
		t.Skipf("%s is not set: notifications are PostgreSQL's", storetest.EnvDatabaseURL)
	}
	ctx := t.Context()
	url := storetest.URL(t, store.EnginePostgres)
	open := func(url string) *store.Store {
		st, err := store.Open(ctx, store.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return st
	}
	a, b, other := open(url), open(url), open(storetest.URL(t, store.EnginePostgres))
	type circuit struct {
		id     int64
		until  time.Time
		reason string
	}
	listen := func(st *store.Store) (chan struct{}, chan circuit) {
		catalog, circuits := make(chan struct{}, 16), make(chan circuit, 16)
		lctx, cancel := context.WithCancel(ctx)
		t.Cleanup(cancel)
		go st.ListenChanges(lctx, store.Changes{
			Catalog:     func() { catalog <- struct{}{} },
			CircuitOpen: func(id int64, until time.Time, reason string) { circuits <- circuit{id, until, reason} },
		})
		<-catalog // listening: the first call says changes may have been missed
		return catalog, circuits
	}
	catalog, circuits := listen(b)
	otherCatalog, otherCircuits := listen(other)

	tn, err := a.CreateTenant(ctx, "nodes")
	if err != nil {
		t.Fatal(err)
	}
	pa, err := a.CreateProviderAccount(ctx, watan.ProviderAccount{TenantID: tn.ID, Name: "z", Kind: watan.ProviderZnet,
		BaseURL: "http://127.0.0.1:9", Active: true, Credentials: map[string]watan.Secret{"kod": "1", "sifre": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	<-catalog // the new account
	if err := a.SetProviderPaused(ctx, tn.ID, pa.ID, true, "holiday", watan.OperatorActor("sara")); err != nil {
		t.Fatal(err)
	}
	<-catalog // the pause

	until := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	if err := a.AnnounceCircuitOpen(ctx, pa.ID, until, "5 failures in a row"); err != nil {
		t.Fatal(err)
	}
	if c := <-circuits; c.id != pa.ID || !c.until.Equal(until) || c.reason != "5 failures in a row" {
		t.Errorf("circuit notice %+v", c)
	}
	// The other schema's listener: a change of its own arrives, and nothing before it.
	if _, err := other.CreateTenant(ctx, "elsewhere"); err != nil {
		t.Fatal(err)
	}
	if err := other.AnnounceCircuitOpen(ctx, 424242, until, "own"); err != nil {
		t.Fatal(err)
	}
	if c := <-otherCircuits; c.id != 424242 {
		t.Errorf("another schema's listener heard circuit %+v", c)
	}
	select {
	case <-otherCatalog:
		t.Error("another schema's listener heard of this schema's catalog change")
	default:
	}
}
