package jobs

import (
	"os"
	"testing"
	"time"

	"watan"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// TestReleaseUnreceivedFetches: a fetch whose answer was lost when the database
// connection broke leaves its jobs running in the database with no worker. After
// the outage the queue makes exactly those available again, and leaves alone the
// jobs a worker here is still running, other nodes' jobs, and jobs fetched outside
// the outage's window.
func TestReleaseUnreceivedFetches(t *testing.T) {
	if os.Getenv(storetest.EnvDatabaseURL) == "" {
		t.Skip("needs PostgreSQL (" + storetest.EnvDatabaseURL + "); SQLite cannot lose a fetch's answer")
	}
	st := storetest.OpenWith(t, storetest.Options{Engine: store.EnginePostgres})
	ctx := t.Context()
	q, err := New(ctx, Config{DB: st.DB(), Postgres: true})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for i, name := range []string{"lost", "working", "other node", "before the window", "lost too"} {
		tx, err := st.DB().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := q.client.InsertTx(ctx, tx, DispatchArgs{TenantID: 1, OrderID: int64(100 + i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		ids[name] = res.Job.ID
	}
	// What River's fetch does, as if its answer never arrived.
	fetched := func(name, by string, at time.Time) {
		t.Helper()
		if _, err := st.DB().ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = attempt + 1, attempted_at = $2,
			attempted_by = array_append(attempted_by, $3::text) WHERE id = $1`, ids[name], at, by); err != nil {
			t.Fatal(err)
		}
	}
	var now time.Time
	if err := st.DB().QueryRowContext(ctx, `SELECT now()`).Scan(&now); err != nil {
		t.Fatal(err)
	}
	since, back := now.Add(-10*time.Second), now.Add(-2*time.Second)
	fetched("lost", q.client.ID(), since.Add(time.Second))
	fetched("lost too", q.client.ID(), since.Add(-30*time.Second)) // just before the first error was seen
	fetched("working", q.client.ID(), since.Add(time.Second))
	fetched("other node", "another-client", since.Add(time.Second))
	fetched("before the window", q.client.ID(), since.Add(-2*time.Hour))
	done := q.track(ids["working"])
	defer done()

	n, err := q.ReleaseUnreceived(ctx, since.Add(-time.Minute), back)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("released %d jobs, want 2", n)
	}
	for name, want := range map[string]string{"lost": "available", "lost too": "available", "working": "running",
		"other node": "running", "before the window": "running"} {
		var state string
		var attempt int
		if err := st.DB().QueryRowContext(ctx, `SELECT state, attempt FROM river_job WHERE id = $1`, ids[name]).Scan(&state, &attempt); err != nil {
			t.Fatal(err)
		}
		if state != want {
			t.Errorf("%s job: %s, want %s", name, state, want)
		}
		if want == "available" && attempt != 0 {
			t.Errorf("%s job: attempt %d after release, want 0 (it never ran)", name, attempt)
		}
	}

	// SQLite, in the process, cannot lose an answer: nothing to do.
	lite := storetest.Open(t)
	ql, err := New(ctx, Config{DB: lite.DB()})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ql.ReleaseUnreceived(ctx, watan.SystemClock{}.Now().Add(-time.Hour), watan.SystemClock{}.Now()); n != 0 || err != nil {
		t.Errorf("SQLite: released %d, %v", n, err)
	}
}
