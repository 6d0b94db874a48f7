package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"watan/internal/cpustat"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// BenchmarkMinimalRiver is the yardstick of issue 10: the smallest Go + River
// program doing watan's flow, measured the same way as BenchmarkEndToEnd in
// internal/engine. An order row and its dispatch job are inserted in one
// transaction by 8 clients; the dispatch job marks the order sent and inserts a
// check job in one transaction; the check job marks it approved; River completes
// the jobs. No money and no events: what is left is the floor that River and
// PostgreSQL set on this machine. River runs with its defaults and
// LISTEN/NOTIFY, on the same database/sql + pgx stack as watan. Like
// BenchmarkEndToEnd it reports the CPU time per order of the whole machine and
// of this process.
//
// The issue defines the yardstick against the same instant simulator as watan's
// run: in "simulator" the dispatch job places the order at a znet simulator on
// loopback (in this process, as in BenchmarkEndToEnd) and the check job asks it
// for the PIN, over keep-alive HTTP. "bare" leaves the provider out, for the
// floor of River and PostgreSQL alone.
//
//	WATAN_TEST_DATABASE_URL=postgres://... go test -run '^$' -bench MinimalRiver -benchtime 5000x ./internal/jobs/
func BenchmarkMinimalRiver(b *testing.B) {
	b.Run("simulator", func(b *testing.B) { benchMinimalRiver(b, true) })
	b.Run("bare", func(b *testing.B) { benchMinimalRiver(b, false) })
}

func benchMinimalRiver(b *testing.B, withProvider bool) {
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

	var provider *miniProvider
	if withProvider {
		z := providertest.StartZnet(b, providertest.ZnetOptions{Options: providertest.Options{MaxRequests: 1000}})
		z.SetBalance(1_000_000_000_00)
		transport := &http.Transport{MaxIdleConnsPerHost: 100}
		defer transport.CloseIdleConnections()
		provider = &miniProvider{base: z.URL() + "/servis/", client: &http.Client{Transport: transport, Timeout: 10 * time.Second}}
	}

	var approved atomic.Int64
	workers := river.NewWorkers()
	var client *river.Client[*sql.Tx]
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[miniDispatch]) error {
		if provider != nil {
			if err := provider.call(ctx, "pin_ekle", "OK|", "oyun=1&kupur=60&oyuncu_bilgi=5123456789&referans=", job.Args.OrderID); err != nil {
				return err
			}
		}
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
		if provider != nil {
			if err := provider.call(ctx, "pin_kontrol", "OK|2|", "tahsilat_api_islem_id=", job.Args.OrderID); err != nil {
				return err
			}
		}
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

// miniProvider is the minimal program's znet client: one GET per call, the
// answer read whole and its prefix checked.
type miniProvider struct {
	base   string
	client *http.Client
}

func (p *miniProvider) call(ctx context.Context, service, want, query string, orderID int64) error {
	u := fmt.Sprintf("%s%s.php?kod=%s&sifre=%s&%s%d", p.base, service, providertest.DefaultZnetKod, providertest.DefaultZnetSifre, query, orderID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(body), want) {
		return fmt.Errorf("%s: answered %q, want %s…", service, body, want)
	}
	return nil
}
