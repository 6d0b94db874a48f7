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

func TestClaimDueChecks(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		b.account(t, b.tenant.ID, "c1", 10000, 0)
		b.pkg(t, b.tenant.ID, "p", 100)
		t0 := b.clock.Now().Truncate(time.Second)
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
		got, err := b.s.ClaimDueChecks(b.ctx, t0, until, 1)
		if err != nil || len(got) != 1 || got[0].ID != overdue.ID {
			t.Fatalf("claim of one = %v, %v; want the most overdue order %d", got, err, overdue.ID)
		}
		if !got[0].NextCheckAt.Equal(*overdue.NextCheckAt) || got[0].Version != overdue.Version {
			t.Fatalf("claim returned next check %v version %d, want the order as it was before the claim", got[0].NextCheckAt, got[0].Version)
		}
		got, err = b.s.ClaimDueChecks(b.ctx, t0, until, 10)
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
		if got, err := b.s.ClaimDueChecks(b.ctx, t0, until, 10); err != nil || len(got) != 0 {
			t.Fatalf("third claim = %v, %v; want none", got, err)
		}
		// The claim lapses: at until the orders are due again.
		if got, err := b.s.ClaimDueChecks(b.ctx, until, until.Add(time.Minute), 10); err != nil || len(got) != 3 {
			t.Fatalf("claim after the first lapsed = %v, %v; want the two claimed orders and the later one", got, err)
		}
		if next, ok, err := b.s.NextDueCheck(b.ctx); err != nil || !ok || !next.Equal(until.Add(time.Minute)) {
			t.Fatalf("next due check = %v, %v, %v; want %v", next, ok, err, until.Add(time.Minute))
		}
		_ = later
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
