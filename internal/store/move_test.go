package store_test

import (
	"testing"

	"watan/internal/store"
	"watan/internal/store/storetest"
)

// TestMoveCoversEveryTable fails when a migration adds a table that watan move
// neither copies nor skips with a reason, or when a copied table's columns differ
// between the engines or have a type move cannot convert: add the table to
// moveTables (internal/store/move.go).
func TestMoveCoversEveryTable(t *testing.T) {
	ctx := t.Context()
	var stores []*store.Store
	for _, e := range storetest.Engines() {
		st := storetest.OpenWith(t, storetest.Options{Engine: e})
		unlisted, err := st.UnlistedTables(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(unlisted) > 0 {
			t.Errorf("%s: tables %v are not in moveTables: watan move would refuse to run", e, unlisted)
		}
		stores = append(stores, st)
	}
	if len(stores) < 2 {
		return // the column check needs both engines
	}
	if err := store.CheckMoveTables(ctx, stores[0], stores[1]); err != nil {
		t.Error(err)
	}
}
