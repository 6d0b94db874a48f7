package store

import (
	"context"
	"path/filepath"
	"testing"
)

func TestRuntimeLimitsRewritesBoundLimits(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT id FROM t WHERE a = $1 ORDER BY id LIMIT $2":  "SELECT id FROM t WHERE a = $1 ORDER BY id LIMIT ($2 + 0)",
		"SELECT id FROM t LIMIT ?5":                           "SELECT id FROM t LIMIT (?5 + 0)",
		"select id from t limit ? offset ?":                   "select id from t limit (? + 0) offset (? + 0)",
		"SELECT id FROM t\n    LIMIT @max_to_lock\n)":         "SELECT id FROM t\n    LIMIT (@max_to_lock + 0)\n)",
		"SELECT id FROM t LIMIT 1":                            "SELECT id FROM t LIMIT 1",
		"SELECT id FROM t LIMIT (SELECT n FROM c)":            "SELECT id FROM t LIMIT (SELECT n FROM c)",
		"SELECT id FROM t WHERE note = 'no limit' AND a = $1": "SELECT id FROM t WHERE note = 'no limit' AND a = $1",
	} {
		if got := runtimeLimits(in); got != want {
			t.Errorf("runtimeLimits(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCachedStatementsHonourEachLimit runs one cached statement with a different
// LIMIT and OFFSET each time: every run must use its own values.
func TestCachedStatementsHonourEachLimit(t *testing.T) {
	ctx := context.Background()
	db, err := openSQLite(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)`); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		if _, err := db.ExecContext(ctx, `INSERT INTO t (id, a) VALUES ($1, 'x')`, i); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ limit, offset, n, first int }{{3, 0, 3, 1}, {5, 2, 5, 3}, {1, 9, 1, 10}, {20, 4, 6, 5}, {0, 0, 0, 0}} {
		rows, err := db.QueryContext(ctx, `SELECT id FROM t WHERE a = $1 ORDER BY id LIMIT $2 OFFSET $3`, "x", c.limit, c.offset)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int
		for rows.Next() {
			var id int
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if len(ids) != c.n || (c.n > 0 && ids[0] != c.first) {
			t.Errorf("LIMIT %d OFFSET %d: got %v, want %d rows from %d", c.limit, c.offset, ids, c.n, c.first)
		}
	}
}
