package jobs

// How the workers learn of work without polling often.
//
// River's producers fetch jobs when told that some were inserted, and otherwise
// every FetchPollInterval; polling is what an idle process spends its CPU on. On
// PostgreSQL they are told by LISTEN/NOTIFY. On SQLite River emulates NOTIFY with a
// table that each process reads every 50 ms; SQLite here is one process whose
// store has one connection, so localDriver delivers River's notifications inside
// the process instead: no table and no reading it. A notification sent inside a
// transaction (an insert's) arrives before the commit, but the fetch it starts
// waits for the one connection, so it runs after the commit and finds the job.
//
// Inserts notify; work that falls due later does not (a snoozed check, a retry, a
// job inserted to run later): River makes such jobs available ahead of time and
// leaves them to the next poll. dueWaker sends the same insert notification when
// they fall due, so FetchPollInterval is only a safety net and can be long. It
// learns of snoozes and retries from River's events, which come once the new state
// is written, and of jobs inserted to run later from an insert middleware.

import (
	"container/heap"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// insertTopic is River's notification topic for inserted jobs; its payload names
// the queue. Nodes of different River versions exchange it, so it is stable.
const insertTopic = "river_insert"

func insertPayload(queue string) string { return fmt.Sprintf(`{"queue": %q}`, queue) }

// localDriver is River's SQLite driver with notifications kept inside the process.
type localDriver struct {
	riverdriver.Driver[*sql.Tx]
	hub *localHub
}

func newLocalDriver(d riverdriver.Driver[*sql.Tx]) *localDriver {
	return &localDriver{Driver: d, hub: &localHub{listeners: map[*localListener]struct{}{}}}
}

func (d *localDriver) SupportsListener() bool     { return true }
func (d *localDriver) SupportsListenNotify() bool { return true }

func (d *localDriver) GetExecutor() riverdriver.Executor {
	return &localExec{Executor: d.Driver.GetExecutor(), hub: d.hub}
}

func (d *localDriver) GetListener(p *riverdriver.GetListenenerParams) riverdriver.Listener {
	return &localListener{hub: d.hub, schema: p.Schema, wake: make(chan struct{}, 1)}
}

func (d *localDriver) UnwrapExecutor(tx *sql.Tx) riverdriver.ExecutorTx {
	return &localExecTx{ExecutorTx: d.Driver.UnwrapExecutor(tx), hub: d.hub}
}

func (d *localDriver) UnwrapTx(e riverdriver.ExecutorTx) *sql.Tx {
	if l, ok := e.(*localExecTx); ok {
		e = l.ExecutorTx
	}
	return d.Driver.UnwrapTx(e)
}

// localExec and localExecTx send notifications to the hub instead of the table.
type localExec struct {
	riverdriver.Executor
	hub *localHub
}

func (e *localExec) Begin(ctx context.Context) (riverdriver.ExecutorTx, error) {
	tx, err := e.Executor.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &localExecTx{ExecutorTx: tx, hub: e.hub}, nil
}

func (e *localExec) NotifyMany(_ context.Context, p *riverdriver.NotifyManyParams) error {
	e.hub.publish(p.Topic, p.Payload)
	return nil
}

func (e *localExec) JobCancel(ctx context.Context, p *riverdriver.JobCancelParams) (*rivertype.JobRow, error) {
	return e.hub.jobCancel(ctx, e.Executor, p)
}

type localExecTx struct {
	riverdriver.ExecutorTx
	hub *localHub
}

func (e *localExecTx) Begin(ctx context.Context) (riverdriver.ExecutorTx, error) {
	tx, err := e.ExecutorTx.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &localExecTx{ExecutorTx: tx, hub: e.hub}, nil
}

func (e *localExecTx) NotifyMany(_ context.Context, p *riverdriver.NotifyManyParams) error {
	e.hub.publish(p.Topic, p.Payload)
	return nil
}

func (e *localExecTx) JobCancel(ctx context.Context, p *riverdriver.JobCancelParams) (*rivertype.JobRow, error) {
	return e.hub.jobCancel(ctx, e.ExecutorTx, p)
}

// localHub passes notifications to the process's listeners.
type localHub struct {
	mu        sync.Mutex
	listeners map[*localListener]struct{}
}

func (h *localHub) publish(topic string, payloads []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for l := range h.listeners {
		l.deliver(topic, payloads)
	}
}

// jobCancel cancels as River's SQLite driver does (which writes the running job's
// cancellation to the notification table) and tells the listeners too.
func (h *localHub) jobCancel(ctx context.Context, e riverdriver.Executor, p *riverdriver.JobCancelParams) (*rivertype.JobRow, error) {
	job, err := e.JobCancel(ctx, p)
	if err == nil && p.ControlTopic != "" {
		h.publish(p.ControlTopic, []string{fmt.Sprintf(`{"action": "cancel", "job_id": %d, "queue": %q}`, job.ID, job.Queue)})
	}
	return job, err
}

// localListener is River's listener over the hub.
type localListener struct {
	hub    *localHub
	schema string
	wake   chan struct{} // capacity 1: something is pending

	mu        sync.Mutex
	connected bool
	topics    map[string]bool
	pending   []riverdriver.Notification
}

func (l *localListener) Connect(context.Context) error {
	l.hub.mu.Lock()
	defer l.hub.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.connected {
		return errors.New("jobs: listener already connected")
	}
	l.connected, l.topics, l.pending = true, map[string]bool{}, nil
	l.hub.listeners[l] = struct{}{}
	return nil
}

func (l *localListener) Close(context.Context) error {
	l.hub.mu.Lock()
	delete(l.hub.listeners, l)
	l.hub.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.connected, l.topics, l.pending = false, nil, nil
	return nil
}

func (l *localListener) Listen(_ context.Context, topic string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.connected {
		return errors.New("jobs: listener is not connected")
	}
	l.topics[topic] = true
	return nil
}

func (l *localListener) Unlisten(_ context.Context, topic string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.connected {
		return errors.New("jobs: listener is not connected")
	}
	delete(l.topics, topic)
	return nil
}

func (l *localListener) Ping(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.connected {
		return errors.New("jobs: listener is not connected")
	}
	return nil
}

func (l *localListener) Schema() string               { return l.schema }
func (l *localListener) SetAfterConnectExec(_ string) {}

func (l *localListener) WaitForNotification(ctx context.Context) (*riverdriver.Notification, error) {
	for {
		l.mu.Lock()
		if !l.connected {
			l.mu.Unlock()
			return nil, errors.New("jobs: listener is not connected")
		}
		if len(l.pending) > 0 {
			n := l.pending[0]
			l.pending = l.pending[1:]
			l.mu.Unlock()
			return &n, nil
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-l.wake:
		}
	}
}

func (l *localListener) deliver(topic string, payloads []string) {
	l.mu.Lock()
	if !l.connected || !l.topics[topic] {
		l.mu.Unlock()
		return
	}
	for _, p := range payloads {
		n := riverdriver.Notification{Topic: topic, Payload: p}
		// An insert notification only wakes a queue: one still pending will do.
		if topic == insertTopic && slices.Contains(l.pending, n) {
			continue
		}
		l.pending = append(l.pending, n)
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// wakeGranularity coalesces wakes of a queue that fall due close together.
const wakeGranularity = 10 * time.Millisecond

// wakeMargin covers the moment River stamps on a job after the one a wake is
// computed from.
const wakeMargin = 2 * time.Millisecond

type wakeAt struct {
	at    int64 // UnixNano, a multiple of wakeGranularity
	queue string
}

type wakeHeap []wakeAt

func (h wakeHeap) Len() int           { return len(h) }
func (h wakeHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h wakeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *wakeHeap) Push(x any)        { *h = append(*h, x.(wakeAt)) }
func (h *wakeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// dueWaker notifies a queue's producers when a job of it falls due. A nil
// *dueWaker does nothing (PostgreSQL without a listener polls fast instead).
type dueWaker struct {
	notify   func(queue string)
	cooldown time.Duration // River's FetchCooldown

	mu         sync.Mutex
	stopped    bool
	timer      *time.Timer
	timerAt    int64
	due        wakeHeap
	set        map[wakeAt]bool
	lastInsert map[string]time.Time
}

func newDueWaker(cooldown time.Duration, notify func(queue string)) *dueWaker {
	return &dueWaker{notify: notify, cooldown: cooldown, set: map[wakeAt]bool{}, lastInsert: map[string]time.Time{}}
}

// at wakes queue just after t (rounded up to wakeGranularity).
func (w *dueWaker) at(queue string, t time.Time) {
	if w == nil {
		return
	}
	g := int64(wakeGranularity)
	k := wakeAt{at: (t.Add(wakeMargin).UnixNano() + g - 1) / g * g, queue: queue}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || w.set[k] {
		return
	}
	w.set[k] = true
	heap.Push(&w.due, k)
	w.armLocked()
}

// inserted notes a job inserted into queue, available at once. River notifies
// once per FetchCooldown and queue, so a job inserted within the cooldown of the
// last one may be missed by the fetch that notification starts; a wake when the
// cooldown ends picks it up.
func (w *dueWaker) inserted(queue string) {
	if w == nil {
		return
	}
	now := time.Now()
	w.mu.Lock()
	last := w.lastInsert[queue]
	w.lastInsert[queue] = now
	w.mu.Unlock()
	if now.Sub(last) < w.cooldown {
		w.at(queue, last.Add(w.cooldown))
	}
}

// armLocked points the timer at the earliest wake.
func (w *dueWaker) armLocked() {
	if len(w.due) == 0 {
		return
	}
	next := w.due[0].at
	if w.timer != nil && w.timerAt <= next && w.timerAt != 0 {
		return // fires sooner anyway and re-arms
	}
	d := time.Until(time.Unix(0, next))
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.fire)
	} else {
		w.timer.Reset(d)
	}
	w.timerAt = next
}

func (w *dueWaker) fire() {
	w.mu.Lock()
	now := time.Now().UnixNano()
	var queues []string
	for len(w.due) > 0 && w.due[0].at <= now {
		k := heap.Pop(&w.due).(wakeAt)
		delete(w.set, k)
		if !slices.Contains(queues, k.queue) {
			queues = append(queues, k.queue)
		}
	}
	w.timerAt = 0
	if !w.stopped {
		w.armLocked()
	}
	w.mu.Unlock()
	for _, q := range queues {
		w.notify(q)
	}
}

func (w *dueWaker) stop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
	}
}

// notifyInsert tells the producers of queue, in this process and others, that jobs
// are available, as River does after an insert. A failure only costs latency: the
// next poll finds the jobs.
func (q *Queue) notifyInsert(queue string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = q.client.Driver().GetExecutor().NotifyMany(ctx, &riverdriver.NotifyManyParams{
		Topic: insertTopic, Payload: []string{insertPayload(queue)}, Schema: q.client.Schema(),
	})
}

// watchDue wakes a queue when a job of it that snoozed or failed falls due again,
// from River's events (sent once the job's new state is written).
func (q *Queue) watchDue() {
	if q.due == nil {
		return
	}
	events, _ := q.client.SubscribeConfig(&river.SubscribeConfig{ChanSize: 10_000,
		Kinds: []river.EventKind{river.EventKindJobSnoozed, river.EventKindJobFailed}})
	go func() {
		for ev := range events { // closed when the client stops
			switch ev.Job.State {
			case rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable:
				q.due.at(ev.Job.Queue, ev.Job.ScheduledAt)
			}
		}
	}()
}

// wakeMiddleware schedules wakes for inserted jobs: when the insert notification
// may have been held back, and when a job is inserted to run later.
type wakeMiddleware struct {
	river.MiddlewareDefaults
	w *dueWaker
}

func (m *wakeMiddleware) InsertMany(ctx context.Context, ps []*rivertype.JobInsertParams, doInner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	res, err := doInner(ctx)
	if err != nil {
		return res, err
	}
	for _, p := range ps {
		switch {
		case p.State == rivertype.JobStateAvailable:
			m.w.inserted(p.Queue)
		case p.ScheduledAt != nil:
			m.w.at(p.Queue, *p.ScheduledAt)
		}
	}
	return res, nil
}
