package jobs

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"watan/internal/cpustat"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// BenchmarkMinimalRiver is the yardstick of issue 10: the smallest Go + River
// program doing watan's flow, measured the same way as BenchmarkEndToEnd in
// internal/engine. An order row and its dispatch job are inserted in one
// transaction by 8 clients; the dispatch job marks the order sent and inserts a
// check job in one transaction; the check job marks it approved; River completes
// the jobs. No provider, no money, no events: what is left is the floor that River
// and PostgreSQL set on this machine. River runs with its defaults and
// LISTEN/NOTIFY, on the same database/sql + pgx stack as watan. Like
// BenchmarkEndToEnd it reports the CPU time per order of the whole machine and
// of this process.
//
//	WATAN_TEST_DATABASE_URL=postgres://... go test -run '^$' -bench MinimalRiver -benchtime 5000x ./internal/jobs/
func BenchmarkMinimalRiver(b *testing.B) {
	url := storetest.URL(b, store.EnginePostgres)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := store.Open(ctx, store.Config{URL: url})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil { // River's tables
		b.Fatal(err)
	}
	db := st.DB()
	if _, err := db.ExecContext(ctx, `CREATE TABLE mini_orders (id BIGSERIAL PRIMARY KEY, status TEXT NOT NULL,
		created_at TIMESTAMPTZ NOT NULL DEFAULT now(), updated_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		b.Fatal(err)
	}

	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	pcfg.MinConns, pcfg.MaxConns = 0, 1
	listener, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		b.Fatal(err)
	}
	defer listener.Close()

	var approved atomic.Int64
	workers := river.NewWorkers()
	var client *river.Client[*sql.Tx]
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[miniDispatch]) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `UPDATE mini_orders SET status = 'sent', updated_at = now() WHERE id = $1`, job.Args.OrderID); err != nil {
			return err
		}
		if _, err := client.InsertTx(ctx, tx, miniCheck(job.Args), nil); err != nil {
			return err
		}
		return tx.Commit()
	}))
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[miniCheck]) error {
		if _, err := db.ExecContext(ctx, `UPDATE mini_orders SET status = 'approved', updated_at = now() WHERE id = $1`, job.Args.OrderID); err != nil {
			return err
		}
		approved.Add(1)
		return nil
	}))
	client, err = river.NewClient(riverdatabasesql.NewWithPgxListener(db, listener), &river.Config{
		Workers: workers,
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 100}},
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		client.Stop(stop)
	}()

	b.ResetTimer()
	start, cpu0 := time.Now(), cpustat.Take()
	var seq atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for seq.Add(1) <= int64(b.N) {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Error(err)
					return
				}
				var id int64
				if err := tx.QueryRowContext(ctx, `INSERT INTO mini_orders (status) VALUES ('pending') RETURNING id`).Scan(&id); err != nil {
					tx.Rollback()
					b.Error(err)
					return
				}
				if _, err := client.InsertTx(ctx, tx, miniDispatch{OrderID: id}, nil); err != nil {
					tx.Rollback()
					b.Error(err)
					return
				}
				if err := tx.Commit(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for approved.Load() < int64(b.N) {
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("%d of %d approved after 5 minutes", approved.Load(), b.N)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cpu := cpu0.Until(cpustat.Take())
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "orders/s")
	cpu.Report(b, b.N, "order")
}

type miniDispatch struct {
	OrderID int64 `json:"order_id"`
}

func (miniDispatch) Kind() string { return "mini_dispatch" }

type miniCheck struct {
	OrderID int64 `json:"order_id"`
}

func (miniCheck) Kind() string { return "mini_check" }
