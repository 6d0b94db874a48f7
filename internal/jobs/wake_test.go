package jobs

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"watan"
	"watan/internal/engine"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// stepRunner answers each step from a script and reports every call.
type stepRunner struct {
	mu       sync.Mutex
	dispatch []stepAnswer
	check    []stepAnswer
	calls    chan string
}

type stepAnswer struct {
	next engine.Next
	err  error
}

func (r *stepRunner) pop(list *[]stepAnswer) (engine.Next, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(*list) == 0 {
		return engine.Next{}, nil
	}
	a := (*list)[0]
	*list = (*list)[1:]
	return a.next, a.err
}

func (r *stepRunner) Dispatch(ctx context.Context, tenantID, orderID int64) (engine.Next, error) {
	r.calls <- "dispatch"
	return r.pop(&r.dispatch)
}

func (r *stepRunner) CheckGeneration(ctx context.Context, tenantID, orderID int64, generation int) (engine.Next, error) {
	r.calls <- "check"
	return r.pop(&r.check)
}

func (r *stepRunner) Sweep(ctx context.Context) (engine.SweepReport, error) {
	return engine.SweepReport{}, nil
}

// TestWorkersAreWokenWithoutPolling polls once an hour, so every job below runs only
// because the queue was told: an insert in a committed transaction, a snooze and a
// retry falling due, and a check scheduled ahead. On SQLite the process tells its
// own workers; on PostgreSQL LISTEN/NOTIFY does.
func TestWorkersAreWokenWithoutPolling(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		ctx := t.Context()
		url := storetest.URL(t, e)
		st, err := store.Open(ctx, store.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		listen := ""
		if e == store.EnginePostgres {
			listen = url
		}
		q, err := New(ctx, Config{DB: st.DB(), Postgres: e == store.EnginePostgres, ListenURL: listen,
			FetchPollInterval: time.Hour, RetryDelay: func(int) time.Duration { return 300 * time.Millisecond }})
		if err != nil {
			t.Fatal(err)
		}
		r := &stepRunner{calls: make(chan string, 16),
			dispatch: []stepAnswer{{next: engine.Next{After: 200 * time.Millisecond}}, {err: errors.New("provider down")}}}
		jobCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
		defer stopJobs()
		if err := q.Start(jobCtx, r); err != nil {
			t.Fatal(err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			q.Stop(sctx)
		}()
		// Let the producers make their first fetch (they fetch once on start) and
		// settle, so what follows is up to the wakes.
		time.Sleep(500 * time.Millisecond)

		expect := func(what, want string) {
			t.Helper()
			select {
			case got := <-r.calls:
				if got != want {
					t.Fatalf("%s: ran %s, want %s", what, got, want)
				}
			case <-time.After(30 * time.Second): // the test's bound, not a measurement: polling would take an hour
				t.Fatalf("%s: %s never ran: nothing woke the workers", what, want)
			}
		}
		o := watan.Order{TenantID: 1, ID: 1, Generation: 1}
		if err := st.InTx(ctx, func(tx *sql.Tx) error { return q.EnqueueDispatchTx(ctx, tx, o) }); err != nil {
			t.Fatal(err)
		}
		expect("inserted", "dispatch")
		expect("snoozed 200 ms", "dispatch")
		expect("retried after 300 ms", "dispatch")
		if err := st.InTx(ctx, func(tx *sql.Tx) error { return q.EnqueueCheckTx(ctx, tx, o, 400*time.Millisecond) }); err != nil {
			t.Fatal(err)
		}
		expect("scheduled 400 ms ahead", "check")
	})
}

// TestDueWakerCoalescesAndStops checks the waker's bookkeeping without a queue.
func TestDueWakerCoalescesAndStops(t *testing.T) {
	got := make(chan string, 16)
	w := newDueWaker(5*time.Millisecond, func(q string) { got <- q })
	now := time.Now()
	w.at("check", now.Add(20*time.Millisecond))
	w.at("check", now.Add(21*time.Millisecond)) // same 10 ms slot or the next: at most two wakes
	w.at("dispatch", now.Add(10*time.Millisecond))
	seen := map[string]int{}
	for range 2 {
		select {
		case q := <-got:
			seen[q]++
		case <-time.After(10 * time.Second):
			t.Fatalf("wakes so far %v", seen)
		}
	}
	if seen["dispatch"] != 1 || seen["check"] != 1 {
		t.Fatalf("first two wakes %v, want one per queue", seen)
	}
	w.mu.Lock()
	left := len(w.due)
	w.mu.Unlock()
	if left > 1 {
		t.Fatalf("%d wakes left, want at most the one coalescing missed", left)
	}
	w.stop()
	w.at("check", time.Now())
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.due) > left {
		t.Fatal("a stopped waker took a wake")
	}
	var nilWaker *dueWaker
	nilWaker.at("check", time.Now()) // polling only: a no-op
	nilWaker.inserted("check")
	nilWaker.stop()
}
