// Package jobs runs the engine's work on River: a dispatch job per order, inserted in
// the transaction that creates the order; a check job per dispatched order that
// snoozes while the provider is pending; and a periodic sweeper job that runs on the
// elected leader only. It is the only package that knows River.
//
// On PostgreSQL it uses River's database/sql driver with a pgx listener for
// LISTEN/NOTIFY, so several processes (serve and worker nodes) share the queue; on
// SQLite it uses River's SQLite driver over the store's single writer connection,
// with River's notifications kept inside the process. Workers are told of new and
// due jobs and poll only as a safety net (wake.go), so an idle process costs little.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"watan"
	"watan/internal/engine"
)

// Queue names.
const (
	QueueDispatch    = "dispatch"
	QueueCheck       = "check"
	QueueMaintenance = "maintenance"
	QueueWebhook     = "webhook"
)

// Runner is the work the jobs carry out; *engine.Engine implements it.
type Runner interface {
	Dispatch(ctx context.Context, tenantID, orderID int64) (engine.Next, error)
	CheckGeneration(ctx context.Context, tenantID, orderID int64, generation int) (engine.Next, error)
	Sweep(ctx context.Context) (engine.SweepReport, error)
}

// Config configures the queue.
type Config struct {
	// DB is the store's pool. Required.
	DB *sql.DB
	// Postgres selects River's PostgreSQL driver; otherwise SQLite.
	Postgres bool
	// ListenURL is the PostgreSQL URL for a LISTEN/NOTIFY connection, so that new
	// jobs start at once instead of at the next poll. Empty means poll only.
	ListenURL string
	// Logger receives River's logs. Default discard.
	Logger *slog.Logger
	// Workers is the number of jobs each of the dispatch and check queues runs at
	// once in this process. Default 100: jobs mostly wait on providers.
	Workers int
	// SweepInterval is how often the leader runs the sweeper. Default 5 minutes.
	SweepInterval time.Duration
	// FetchCooldown and FetchPollInterval tune how fast jobs are picked up.
	// FetchCooldown defaults to 5 ms: River's own default (100 ms) caps a process
	// near 500 jobs a second. FetchPollInterval defaults to 5 s where workers are
	// told of new and due jobs (SQLite, and PostgreSQL with ListenURL; see
	// wake.go): there polling is a safety net for a lost notification, and
	// its wakeups were a third of an idle node's CPU at 1 s. It defaults to
	// 50 ms where workers can only poll (PostgreSQL without ListenURL).
	FetchCooldown     time.Duration
	FetchPollInterval time.Duration
	// RescueAfter is how long a job may run before River assumes its worker died
	// and runs it again. Default 3 minutes. Jobs time out after two thirds of it
	// (at most 2 minutes), so a live job is never rescued while it still runs.
	RescueAfter time.Duration
	// WebhookWorkers is the number of webhook deliveries this process sends at
	// once. Default 20.
	WebhookWorkers int
	// RetryDelay is the wait after the n-th failed attempt at a dispatch or
	// check job. Default engine.RetryDelay; tests shorten it.
	RetryDelay func(failures int) time.Duration
	// WebhookRetryDelay is the wait after the n-th failed attempt at a webhook
	// delivery. Default WebhookRetryDelay; tests shorten it.
	WebhookRetryDelay func(failures int) time.Duration
}

// Queue is the River client with the engine's workers. It implements engine.Queue.
type Queue struct {
	client   *river.Client[*sql.Tx]
	db       *sql.DB
	postgres bool
	listener *pgxpool.Pool
	due      *dueWaker // nil when polling only
	runner   atomic.Pointer[Runner]
	webhooks atomic.Pointer[WebhookDeliverer]
	working  sync.Map // IDs of the jobs whose Work is running in this process
}

// liveStates are the job states in which a job still has work ahead; uniqueness over
// them gives an order at most one live job of each kind.
var liveStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// DispatchArgs is a dispatch job of one order. Generation is the order's placement
// generation when the job was enqueued: it only makes the job unique, so that a job
// needed after a new generation began is enqueued even while an older one still
// runs. The job acts on the order as it is when it runs.
type DispatchArgs struct {
	TenantID   int64 `json:"tenant_id"`
	OrderID    int64 `json:"order_id"`
	Generation int   `json:"generation"`
}

// Kind implements river.JobArgs.
func (DispatchArgs) Kind() string { return engine.KindDispatch }

// InsertOpts makes the job unique per order and generation while it is live.
func (DispatchArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDispatch, MaxAttempts: 25, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: liveStates}}
}

// CheckArgs is the status-check job of one placement generation of an order. It
// ends once the order has moved past that generation; the next generation gets a
// job of its own, so a check still running for an old one never makes the new
// one's enqueue a no-op. Generation 0 (jobs from before generations existed)
// means the order's current generation.
type CheckArgs struct {
	TenantID   int64 `json:"tenant_id"`
	OrderID    int64 `json:"order_id"`
	Generation int   `json:"generation"`
}

// Kind implements river.JobArgs.
func (CheckArgs) Kind() string { return engine.KindCheck }

// InsertOpts makes the job unique per order and generation while it is live. Pending answers
// snooze without using attempts; failed calls use them, and an order whose check
// job runs out of attempts is picked up again by the sweeper.
func (CheckArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueCheck, MaxAttempts: 100, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: liveStates}}
}

// SweepArgs is the periodic sweeper job.
type SweepArgs struct{}

// Kind implements river.JobArgs.
func (SweepArgs) Kind() string { return "watan_sweep" }

// InsertOpts keeps one sweep live at a time.
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: liveStates}}
}

// New builds the queue. Jobs can be enqueued at once; they run after Start.
func New(ctx context.Context, cfg Config) (*Queue, error) {
	if cfg.DB == nil {
		return nil, errors.New("jobs: DB is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 100
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = 5 * time.Minute
	}
	if cfg.FetchCooldown <= 0 {
		cfg.FetchCooldown = 5 * time.Millisecond
	}
	notified := !cfg.Postgres || cfg.ListenURL != ""
	if cfg.FetchPollInterval <= 0 {
		cfg.FetchPollInterval = 50 * time.Millisecond
		if notified {
			cfg.FetchPollInterval = 5 * time.Second
		}
	}
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = 3 * time.Minute
	}
	if cfg.WebhookWorkers <= 0 {
		cfg.WebhookWorkers = 20
	}
	if cfg.RetryDelay == nil {
		cfg.RetryDelay = engine.RetryDelay
	}
	if cfg.WebhookRetryDelay == nil {
		cfg.WebhookRetryDelay = WebhookRetryDelay
	}

	q := &Queue{db: cfg.DB, postgres: cfg.Postgres}
	// The sweeper's and the webhooks' queues poll less often still where workers
	// are told of their jobs: nobody waits on them by the millisecond.
	sidePoll := cfg.FetchPollInterval
	if notified {
		q.due = newDueWaker(cfg.FetchCooldown, q.notifyInsert)
		sidePoll = max(sidePoll, 5*time.Second)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &dispatchWorker{q: q})
	river.AddWorker(workers, &checkWorker{q: q})
	river.AddWorker(workers, &sweepWorker{q: q})
	river.AddWorker(workers, &webhookWorker{q: q, delay: cfg.WebhookRetryDelay})

	rcfg := &river.Config{
		Logger:               cfg.Logger,
		Workers:              workers,
		FetchCooldown:        cfg.FetchCooldown,
		FetchPollInterval:    cfg.FetchPollInterval,
		JobTimeout:           min(2*time.Minute, cfg.RescueAfter*2/3),
		RescueStuckJobsAfter: cfg.RescueAfter,
		RetryPolicy:          backoff(cfg.RetryDelay),
		Middleware:           []rivertype.Middleware{&wakeMiddleware{w: q.due}},
		Queues: map[string]river.QueueConfig{
			QueueDispatch:    {MaxWorkers: cfg.Workers},
			QueueCheck:       {MaxWorkers: cfg.Workers},
			QueueMaintenance: {MaxWorkers: 2, FetchPollInterval: sidePoll},
			QueueWebhook:     {MaxWorkers: cfg.WebhookWorkers, FetchPollInterval: sidePoll},
		},
		PeriodicJobs: []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(cfg.SweepInterval),
				func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{}, nil },
				&river.PeriodicJobOpts{ID: "sweep", RunOnStart: true}),
		},
	}

	var err error
	switch {
	case !cfg.Postgres:
		q.client, err = river.NewClient(newLocalDriver(riversqlite.New(cfg.DB)), rcfg)
	case cfg.ListenURL != "":
		pcfg, perr := pgxpool.ParseConfig(cfg.ListenURL)
		if perr != nil {
			return nil, fmt.Errorf("jobs: listener url: %w", perr)
		}
		pcfg.MinConns, pcfg.MaxConns = 0, 1
		if q.listener, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
			return nil, fmt.Errorf("jobs: listener pool: %w", err)
		}
		q.client, err = river.NewClient(riverdatabasesql.NewWithPgxListener(cfg.DB, q.listener), rcfg)
	default:
		rcfg.PollOnly = true
		q.client, err = river.NewClient(riverdatabasesql.New(cfg.DB), rcfg)
	}
	if err != nil {
		q.closeListener()
		return nil, fmt.Errorf("jobs: river client: %w", err)
	}
	return q, nil
}

// Start runs the workers until Stop or until ctx ends.
func (q *Queue) Start(ctx context.Context, r Runner) error {
	q.runner.Store(&r)
	q.watchDue()
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	return nil
}

// Stop lets running jobs finish (they are cancelled when ctx ends, and go back to
// the queue) and closes the listener.
func (q *Queue) Stop(ctx context.Context) error {
	defer q.closeListener()
	defer q.due.stop()
	if err := q.client.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("jobs: stop: %w", err)
	}
	return nil
}

func (q *Queue) closeListener() {
	if q.listener != nil {
		q.listener.Close()
	}
}

// Client is the River client, for River's UI.
func (q *Queue) Client() *river.Client[*sql.Tx] { return q.client }

// EnqueueDispatchTx implements engine.Queue.
func (q *Queue) EnqueueDispatchTx(ctx context.Context, tx *sql.Tx, o watan.Order) error {
	if _, err := q.client.InsertTx(ctx, tx, DispatchArgs{TenantID: o.TenantID, OrderID: o.ID, Generation: o.Generation}, nil); err != nil {
		return fmt.Errorf("enqueue dispatch of order %d: %w", o.ID, err)
	}
	return nil
}

// EnqueueCheckTx implements engine.Queue. A zero delay leaves ScheduledAt unset: a
// scheduled job waits for River's scheduler, which promotes jobs only every few
// seconds.
func (q *Queue) EnqueueCheckTx(ctx context.Context, tx *sql.Tx, o watan.Order, delay time.Duration) error {
	var opts *river.InsertOpts
	if delay > 0 {
		opts = &river.InsertOpts{ScheduledAt: time.Now().Add(delay)}
	}
	if _, err := q.client.InsertTx(ctx, tx, CheckArgs{TenantID: o.TenantID, OrderID: o.ID, Generation: o.Generation}, opts); err != nil {
		return fmt.Errorf("enqueue check of order %d: %w", o.ID, err)
	}
	return nil
}

var _ engine.Queue = (*Queue)(nil)

// track records that job id is being worked in this process until the returned
// func is called.
func (q *Queue) track(id int64) func() {
	q.working.Store(id, struct{}{})
	return func() { q.working.Delete(id) }
}

// ReleaseUnreceived makes available again the jobs that this process's fetches
// took (marked running, attempted by this client) between from and to, by the
// database's clock, but that no worker here is running: fetches whose answer was
// lost when the connection to the database broke. Without it they would wait for
// River's rescuer (RescueAfter, 3 minutes by default). The attempt they never made
// is given back.
//
// Call it once the database answers again and River's completer has had time to
// record what finished during the outage (a few seconds): a job that finished but
// whose completion is still unrecorded would run once more. Every job is
// idempotent, so that costs work, not correctness. SQLite, embedded in the
// process, cannot lose an answer; there it does nothing.
func (q *Queue) ReleaseUnreceived(ctx context.Context, from, to time.Time) (int, error) {
	if !q.postgres {
		return 0, nil
	}
	busy := []int64{}
	q.working.Range(func(k, _ any) bool {
		busy = append(busy, k.(int64))
		return true
	})
	rows, err := q.db.QueryContext(ctx, `UPDATE river_job SET state = 'available', scheduled_at = now(), attempt = greatest(attempt - 1, 0)
		WHERE state = 'running' AND attempted_by[array_length(attempted_by, 1)] = $1
			AND attempted_at >= $2 AND attempted_at < $3 AND NOT (id = ANY($4))
		RETURNING id`, q.client.ID(), from, to, busy)
	if err != nil {
		return 0, fmt.Errorf("jobs: release unreceived jobs: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("jobs: release unreceived jobs: %w", err)
	}
	return n, nil
}

func (q *Queue) run() (Runner, error) {
	r := q.runner.Load()
	if r == nil {
		return nil, errors.New("jobs: worked before Start")
	}
	return *r, nil
}

// result turns an engine step's outcome into River's vocabulary.
func result(next engine.Next, err error) error {
	if err != nil {
		return err
	}
	if next.After > 0 {
		return river.JobSnooze(next.After)
	}
	return nil
}

type dispatchWorker struct {
	river.WorkerDefaults[DispatchArgs]
	q *Queue
}

func (w *dispatchWorker) Work(ctx context.Context, job *river.Job[DispatchArgs]) error {
	defer w.q.track(job.ID)()
	r, err := w.q.run()
	if err != nil {
		return err
	}
	return result(r.Dispatch(ctx, job.Args.TenantID, job.Args.OrderID))
}

type checkWorker struct {
	river.WorkerDefaults[CheckArgs]
	q *Queue
}

func (w *checkWorker) Work(ctx context.Context, job *river.Job[CheckArgs]) error {
	defer w.q.track(job.ID)()
	r, err := w.q.run()
	if err != nil {
		return err
	}
	return result(r.CheckGeneration(ctx, job.Args.TenantID, job.Args.OrderID, job.Args.Generation))
}

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	q *Queue
}

func (w *sweepWorker) Work(ctx context.Context, job *river.Job[SweepArgs]) error {
	defer w.q.track(job.ID)()
	r, err := w.q.run()
	if err != nil {
		return err
	}
	_, err = r.Sweep(ctx)
	return err
}

// backoff retries failed jobs by Config.RetryDelay (engine.RetryDelay: provider
// outages are usually minutes long, and the order's deadline bounds the total).
type backoff func(failures int) time.Duration

func (b backoff) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(b(job.Attempt))
}

// Batch is work enqueued together by EnqueueBatchTx.
type Batch struct {
	Dispatch []watan.Order
	Check    []DelayedCheck
	Webhook  []WebhookArgs
}

// DelayedCheck is a status check due after Delay (zero: at once).
type DelayedCheck struct {
	Order watan.Order
	Delay time.Duration
}

// EnqueueBatchTx inserts a batch of jobs in one statement, with the same arguments
// and uniqueness as the one-job methods: watan move re-creates thousands of jobs,
// and one insert each made it several times slower than its copy.
func (q *Queue) EnqueueBatchTx(ctx context.Context, tx *sql.Tx, b Batch) error {
	ps := make([]river.InsertManyParams, 0, len(b.Dispatch)+len(b.Check)+len(b.Webhook))
	for _, o := range b.Dispatch {
		ps = append(ps, river.InsertManyParams{Args: DispatchArgs{TenantID: o.TenantID, OrderID: o.ID, Generation: o.Generation}})
	}
	now := time.Now()
	for _, c := range b.Check {
		p := river.InsertManyParams{Args: CheckArgs{TenantID: c.Order.TenantID, OrderID: c.Order.ID, Generation: c.Order.Generation}}
		if c.Delay > 0 {
			p.InsertOpts = &river.InsertOpts{ScheduledAt: now.Add(c.Delay)}
		}
		ps = append(ps, p)
	}
	for _, w := range b.Webhook {
		ps = append(ps, river.InsertManyParams{Args: w})
	}
	if len(ps) == 0 {
		return nil
	}
	if _, err := q.client.InsertManyTx(ctx, tx, ps); err != nil {
		return fmt.Errorf("enqueue %d jobs: %w", len(ps), err)
	}
	return nil
}
