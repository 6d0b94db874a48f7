package store_test

import (
	"database/sql"
	"slices"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"watan"
	"watan/internal/store"
)

// sentOrder creates an order its provider holds, next checked at next.
func (b *bundle) sentOrder(t *testing.T, next *time.Time) watan.Order {
	t.Helper()
	o := b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c1"})
	o.ProviderState, o.NextCheckAt = watan.StateSent, next
	if err := b.s.InTx(b.ctx, func(tx *sql.Tx) error { return b.s.SaveOrderTx(b.ctx, tx, o) }); err != nil {
		t.Fatal(err)
	}
	o, err := b.s.FindOrder(b.ctx, b.tenant.ID, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// pollWorld gives the tenant the account and package sentOrder uses, and
// returns the clock's time to the second.
func (b *bundle) pollWorld(t *testing.T) time.Time {
	t.Helper()
	b.account(t, b.tenant.ID, "c1", 10000, 0)
	b.pkg(t, b.tenant.ID, "p", 100)
	return b.clock.Now().Truncate(time.Second)
}

// fixed claims every order until t.
func fixed(t time.Time) func(watan.Order) time.Time {
	return func(watan.Order) time.Time { return t }
}

func TestClaimDueChecks(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		t0 := b.pollWorld(t)
		at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
		overdue, due, later := b.sentOrder(t, at(-time.Minute)), b.sentOrder(t, at(-time.Second)), b.sentOrder(t, at(time.Minute))
		leased := b.sentOrder(t, at(-time.Second))
		leased.LeaseUntil = at(time.Minute)
		leased.ProviderState = watan.StateSending
		if err := b.s.InTx(b.ctx, func(tx *sql.Tx) error { return b.s.SaveOrderTx(b.ctx, tx, leased) }); err != nil {
			t.Fatal(err)
		}
		decided := b.sentOrder(t, at(-time.Second))
		if _, err := b.s.DB().ExecContext(b.ctx, `UPDATE orders SET status = 'approved' WHERE id = $1`, decided.ID); err != nil {
			t.Fatal(err)
		}

		if next, ok, err := b.s.NextDueCheck(b.ctx); err != nil || !ok || !next.Equal(*overdue.NextCheckAt) {
			t.Fatalf("next due check = %v, %v, %v; want the overdue order's %v", next, ok, err, overdue.NextCheckAt)
		}
		until := t0.Add(time.Minute)
		got, err := b.s.ClaimDueChecks(b.ctx, t0, 1, fixed(until))
		if err != nil || len(got) != 1 || got[0].ID != overdue.ID {
			t.Fatalf("claim of one = %v, %v; want the most overdue order %d", got, err, overdue.ID)
		}
		if !got[0].NextCheckAt.Equal(*overdue.NextCheckAt) || got[0].Version != overdue.Version {
			t.Fatalf("claim returned next check %v version %d, want the order as it was before the claim", got[0].NextCheckAt, got[0].Version)
		}
		got, err = b.s.ClaimDueChecks(b.ctx, t0, 10, fixed(until))
		if err != nil || len(got) != 1 || got[0].ID != due.ID {
			t.Fatalf("second claim = %v, %v; want only order %d (not the claimed, leased, decided or later ones)", got, err, due.ID)
		}
		for _, o := range []watan.Order{overdue, due} {
			cur, err := b.s.FindOrder(b.ctx, b.tenant.ID, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !cur.NextCheckAt.Equal(until) || cur.Version != o.Version {
				t.Errorf("order %d after the claim: next check %v version %d, want %v and version %d", o.ID, cur.NextCheckAt, cur.Version, until, o.Version)
			}
		}
		if got, err := b.s.ClaimDueChecks(b.ctx, t0, 10, fixed(until)); err != nil || len(got) != 0 {
			t.Fatalf("third claim = %v, %v; want none", got, err)
		}
		// The claim lapses: at until the orders are due again.
		if got, err := b.s.ClaimDueChecks(b.ctx, until, 10, fixed(until.Add(time.Minute))); err != nil || len(got) != 3 {
			t.Fatalf("claim after the first lapsed = %v, %v; want the two claimed orders and the later one", got, err)
		}
		if next, ok, err := b.s.NextDueCheck(b.ctx); err != nil || !ok || !next.Equal(until.Add(time.Minute)) {
			t.Fatalf("next due check = %v, %v, %v; want %v", next, ok, err, until.Add(time.Minute))
		}
		_ = later
	})
}

// A claim moves each order's next check to its own time; a check's outcome that
// then saves the claimed time as the next check changes no indexed column, and
// PostgreSQL writes it without touching the order's indexes.
func TestClaimPlansEachOrdersNextCheck(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		t0 := b.pollWorld(t)
		due := t0.Add(-time.Second)
		first, second := b.sentOrder(t, &due), b.sentOrder(t, &due)
		plan := map[int64]time.Time{
			first.ID:  t0.Add(55*time.Second + 123456*time.Nanosecond), // finer than the store keeps
			second.ID: t0.Add(61 * time.Second),
		}
		got, err := b.s.ClaimDueChecks(b.ctx, t0, 10, func(o watan.Order) time.Time { return plan[o.ID] })
		if err != nil || len(got) != 2 {
			t.Fatalf("claim = %v, %v; want both orders", got, err)
		}
		for _, o := range got {
			cur, err := b.s.FindOrder(b.ctx, b.tenant.ID, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if want := plan[o.ID].Truncate(time.Microsecond); !cur.NextCheckAt.Equal(want) || cur.Version != o.Version {
				t.Errorf("order %d after the claim: next check %v version %d, want %v and version %d", o.ID, cur.NextCheckAt, cur.Version, want, o.Version)
			}
		}

		// The pending answer about the first order, saved from the claim's reading
		// with the planned next check, as the engine does.
		answer := got[slices.IndexFunc(got, func(o watan.Order) bool { return o.ID == first.ID })]
		checked := t0.Add(2 * time.Second)
		next := plan[first.ID]
		answer.CheckCount++
		answer.LastCheckedAt, answer.NextCheckAt, answer.UpdatedAt = &checked, &next, checked
		answer.ProviderMessage = "still working"
		var heapOnly int
		err = b.s.InTx(b.ctx, func(tx *sql.Tx) error {
			if err := b.s.SaveOrderTx(b.ctx, tx, answer); err != nil {
				return err
			}
			if b.s.Engine() != store.EnginePostgres {
				return nil
			}
			return tx.QueryRowContext(b.ctx, `SELECT pg_stat_get_xact_tuples_hot_updated('orders'::regclass)`).Scan(&heapOnly)
		})
		if err != nil {
			t.Fatal(err)
		}
		if b.s.Engine() == store.EnginePostgres && heapOnly != 1 {
			t.Errorf("the pending answer's save made %d heap-only updates, want 1: it changed an indexed column", heapOnly)
		}
		cur, err := b.s.FindOrder(b.ctx, b.tenant.ID, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.CheckCount != 1 || !cur.NextCheckAt.Equal(next.Truncate(time.Microsecond)) || cur.Version != answer.Version+1 {
			t.Errorf("after the answer: %d checks, next %v, version %d", cur.CheckCount, cur.NextCheckAt, cur.Version)
		}
	})
}

// A poller whose call failed releases its claim: the orders still under it are
// due at the given time; one rescheduled since, one decided, and one of another
// tenant are left alone, and no version changes.
func TestReleaseChecks(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		t0 := b.pollWorld(t)
		due := t0.Add(-time.Second)
		claimedA, claimedB, moved, decided := b.sentOrder(t, &due), b.sentOrder(t, &due), b.sentOrder(t, &due), b.sentOrder(t, &due)
		until := t0.Add(time.Minute + 123456*time.Nanosecond) // finer than the store keeps, as the poller's clock is
		got, err := b.s.ClaimDueChecks(b.ctx, t0, 10, fixed(until))
		if err != nil || len(got) != 4 {
			t.Fatalf("claim = %v, %v; want four orders", got, err)
		}
		// Another batch check claims one of them for itself meanwhile.
		stored, later := until.Truncate(time.Microsecond), until.Truncate(time.Microsecond).Add(time.Second)
		if ids, err := b.s.ClaimChecks(b.ctx, b.tenant.ID, moved.ID, &stored, nil, t0, later); err != nil || len(ids) != 1 {
			t.Fatalf("rescheduling order %d = %v, %v", moved.ID, ids, err)
		}
		if _, err := b.s.DB().ExecContext(b.ctx, `UPDATE orders SET status = 'approved' WHERE id = $1`, decided.ID); err != nil {
			t.Fatal(err)
		}

		at := t0.Add(time.Second)
		released, err := b.s.ReleaseChecks(b.ctx, b.tenant.ID+1, []int64{claimedA.ID}, until, at)
		if err != nil || len(released) != 0 {
			t.Fatalf("release under another tenant = %v, %v; want none", released, err)
		}
		released, err = b.s.ReleaseChecks(b.ctx, b.tenant.ID, []int64{claimedA.ID, claimedB.ID, moved.ID, decided.ID}, until, at)
		slices.Sort(released)
		if err != nil || !slices.Equal(released, []int64{claimedA.ID, claimedB.ID}) {
			t.Fatalf("release = %v, %v; want the two orders still claimed, %d and %d", released, err, claimedA.ID, claimedB.ID)
		}
		for _, o := range []watan.Order{claimedA, claimedB, moved} {
			cur, err := b.s.FindOrder(b.ctx, b.tenant.ID, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := at
			if o.ID == moved.ID {
				want = later
			}
			if !cur.NextCheckAt.Equal(want) || cur.Version != o.Version {
				t.Errorf("order %d after the release: next check %v version %d, want %v and version %d", o.ID, cur.NextCheckAt, cur.Version, want, o.Version)
			}
		}
		if got, err := b.s.ClaimDueChecks(b.ctx, at, 10, fixed(at.Add(time.Minute))); err != nil || len(got) != 2 {
			t.Fatalf("claim at the release's time = %v, %v; want the two released orders", got, err)
		}
	})
}

// riverClient is an insert-only River client over the store's database.
func (b *bundle) riverClient(t *testing.T) *river.Client[*sql.Tx] {
	t.Helper()
	var client *river.Client[*sql.Tx]
	var err error
	if b.s.Engine() == store.EnginePostgres {
		client, err = river.NewClient(riverdatabasesql.New(b.s.DB()), &river.Config{})
	} else {
		client, err = river.NewClient(riversqlite.New(b.s.DB()), &river.Config{})
	}
	if err != nil {
		t.Fatal(err)
	}
	return client
}

type sweepArgs struct {
	OrderID    int64 `json:"order_id"`
	Generation int   `json:"generation"`
}

func (sweepArgs) Kind() string { return "test_check" }

// OrdersWithoutJob pages through the candidates: more than a page of them, most
// with a job, some with a job of another generation.
func TestOrdersWithoutJobPagesThroughCandidates(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		client := b.riverClient(t)
		b.account(t, b.tenant.ID, "c1", 1_000_000, 0)
		b.pkg(t, b.tenant.ID, "p", 100)
		const n = 1100
		var jobs []river.InsertManyParams
		var want, wantSameGen []int64
		for i := range n {
			o := b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c1"})
			switch {
			case i%97 == 5:
				want = append(want, o.ID) // no job at all
				wantSameGen = append(wantSameGen, o.ID)
			case i%89 == 7:
				jobs = append(jobs, river.InsertManyParams{Args: sweepArgs{OrderID: o.ID, Generation: 3}})
				wantSameGen = append(wantSameGen, o.ID) // a job, of another generation
			default:
				jobs = append(jobs, river.InsertManyParams{Args: sweepArgs{OrderID: o.ID}})
			}
		}
		if _, err := b.s.DB().ExecContext(b.ctx, `UPDATE orders SET provider_state = 'sent'`); err != nil {
			t.Fatal(err)
		}
		if err := b.s.InTx(b.ctx, func(tx *sql.Tx) error {
			_, err := client.InsertManyTx(b.ctx, tx, jobs)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		ids := func(os []watan.Order) []int64 {
			out := make([]int64, len(os))
			for i, o := range os {
				out[i] = o.ID
			}
			return out
		}
		later := b.clock.Now().Add(time.Hour)
		states := []watan.ProviderState{watan.StateSent}
		got, err := b.s.OrdersWithoutJob(b.ctx, "test_check", states, later, 1000, false)
		if err != nil || !slices.Equal(ids(got), want) {
			t.Fatalf("orders without job = %v, %v; want %v", ids(got), err, want)
		}
		got, err = b.s.OrdersWithoutJob(b.ctx, "test_check", states, later, 1000, true)
		if err != nil || !slices.Equal(ids(got), wantSameGen) {
			t.Fatalf("orders without a job of their generation = %v, %v; want %v", ids(got), err, wantSameGen)
		}
		if got, err := b.s.OrdersWithoutJob(b.ctx, "test_check", states, later, 3, true); err != nil || !slices.Equal(ids(got), wantSameGen[:3]) {
			t.Fatalf("the first 3 = %v, %v; want %v", ids(got), err, wantSameGen[:3])
		}
		if got, err := b.s.OrdersWithoutJob(b.ctx, "test_check", states, b.clock.Now().Add(-time.Hour), 1000, true); err != nil || len(got) != 0 {
			t.Fatalf("orders updated since = %v, %v; want none", ids(got), err)
		}
	})
}
