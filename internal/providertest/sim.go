package providertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"watan"
)

// sim is what both simulators share: the order book, the scripted fates and faults,
// the request log and the server. Its exported methods are the controls tests use.
type sim struct {
	name      string
	log       *slog.Logger
	clock     watan.Clock
	delay     Delay
	cancel    float64
	stuck     float64
	rates     FaultRates
	slowDelay time.Duration
	maxReqs   int

	mu         sync.Mutex
	rng        *rand.Rand
	balance    watan.Amount
	nextID     int64
	orders     map[string]*order // by our reference
	byID       map[string]*order // by the provider's order id
	list       []*order          // in placement order
	placements map[string]int
	requests   []Request
	faults     []scripted
	fates      []Fate

	closeOnce sync.Once
	closed    chan struct{}
	srvMu     sync.Mutex
	srv       *http.Server
	url       string
}

type scripted struct {
	op    Op
	fault Fault
	left  int
}

type order struct {
	Order
	price      watan.Amount
	completeAt time.Time
	pin        string // drawn at placement so that draws do not depend on check timing
	dialect    int    // which of the protocol's equivalent wordings this order uses
}

func newSim(name string, o Options, firstID int64) *sim {
	s := &sim{
		name:       name,
		log:        o.Logger,
		clock:      o.Clock,
		delay:      o.Delay,
		cancel:     o.CancelRate,
		stuck:      o.StuckRate,
		rates:      o.Faults,
		slowDelay:  o.SlowDelay,
		maxReqs:    o.MaxRequests,
		nextID:     firstID,
		orders:     map[string]*order{},
		byID:       map[string]*order{},
		placements: map[string]int{},
		closed:     make(chan struct{}),
	}
	seed := o.Seed
	if seed == 0 {
		seed = DefaultSeed
	}
	// Two streams from one seed: PCG needs 128 bits of state.
	s.rng = rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15))
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("sim", name)
	if s.clock == nil {
		s.clock = watan.SystemClock{}
	}
	if s.delay == nil {
		s.delay = FixedDelay(0)
	}
	if s.slowDelay <= 0 {
		s.slowDelay = DefaultSlowDelay
	}
	bal := o.Balance
	if bal == "" {
		bal = DefaultBalance
	}
	amt, err := watan.ParseAmount(bal)
	if err != nil {
		panic(fmt.Sprintf("providertest: Options.Balance: %v", err))
	}
	s.balance = amt
	return s
}

// ScriptNext sets the fates of the next placements, in order; later placements
// draw theirs from the options again.
func (s *sim) ScriptNext(fates ...Fate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fates = append(s.fates, fates...)
}

// InjectFault makes the next n requests for op (OpAny: any operation) fail with f.
// Injections are used in the order they were made.
func (s *sim) InjectFault(op Op, f Fault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > 0 && f != FaultNone {
		s.faults = append(s.faults, scripted{op: op, fault: f, left: n})
	}
}

// Deliver completes a pending order now with its PIN and returns the PIN. It
// reports false if there is no such order or it is already final.
func (s *sim) Deliver(ref string) (pin string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[ref]
	if o == nil || o.State != StatePending {
		return "", false
	}
	s.finish(o, OutcomeDeliver)
	return o.PIN, true
}

// Cancel cancels a pending order now. It reports false if there is no such order
// or it is already final.
func (s *sim) Cancel(ref string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[ref]
	if o == nil || o.State != StatePending {
		return false
	}
	s.finish(o, OutcomeCancel)
	return true
}

// Order returns a snapshot of the order placed under ref, as of the clock's now.
func (s *sim) Order(ref string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[ref]
	if o == nil {
		return Order{}, false
	}
	s.settle(o)
	return o.snapshot(), true
}

// Orders returns snapshots of every order, in placement order.
func (s *sim) Orders() []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Order, 0, len(s.list))
	for _, o := range s.list {
		s.settle(o)
		out = append(out, o.snapshot())
	}
	return out
}

// Placements returns how many placement requests under ref the provider processed:
// the one that created the order, and every later one it refused (znet) or
// answered with the existing order (barakat) as a repeat. Requests that failed by
// a fault before processing are not counted; a lost reply is. Note that net/http
// re-sends a GET once when a kept-alive connection drops before the reply, so a
// lost reply on such a connection counts twice.
func (s *sim) Placements(ref string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.placements[ref]
}

// Requests returns every request received so far, in arrival order (with
// Options.MaxRequests, only the most recent ones).
func (s *sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// SetBalance sets the account's balance at the provider, e.g. to zero to make
// placements fail for lack of balance.
func (s *sim) SetBalance(a watan.Amount) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.balance = a
}

// Balance returns the account's balance at the provider.
func (s *sim) Balance() watan.Amount {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.balance
}

// URL returns the base URL of the started server, "" before Start.
func (s *sim) URL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return s.url
}

// Close stops the server, if started, and releases requests held by FaultSlow.
func (s *sim) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

// start serves h on l until Close.
func (s *sim) start(l net.Listener, h http.Handler) {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv != nil {
		panic("providertest: " + s.name + " started twice")
	}
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.url = "http://" + l.Addr().String()
	go func() {
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "err", err)
		}
	}()
}

// listenLoopback starts a simulator on a fresh loopback port for a test.
func listenLoopback(tb TB, start func(net.Listener), closeFn func() error) {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("providertest: listen: %v", err)
	}
	start(l)
	tb.Cleanup(func() { _ = closeFn() })
}

func (o *order) snapshot() Order {
	c := o.Order
	c.Params = make(map[string]string, len(o.Params))
	for k, v := range o.Params {
		c.Params[k] = v
	}
	return c
}

// response is an answer computed under the lock and written after it.
type response struct {
	status      int
	contentType string
	body        string
}

const (
	contentText = "text/html; charset=UTF-8" // what PHP sends for plain text answers
	contentJSON = "application/json"
)

func text(body string) response { return response{http.StatusOK, contentText, body} }

func (r response) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", r.contentType)
	w.WriteHeader(r.status)
	_, _ = io.WriteString(w, r.body)
}

const htmlPage = `<!DOCTYPE html>
<html><head><title>Site bakımda</title></head>
<body><h1>Site bakımda</h1><p>Lütfen daha sonra tekrar deneyin.</p></body></html>
`

const errorPage = `<html><head><title>500 Internal Server Error</title></head>
<body><h1>Internal Server Error</h1></body></html>
`

// serve records the request, applies a fault if one is due, and otherwise
// answers with handle's response.
func (s *sim) serve(w http.ResponseWriter, r *http.Request, op Op, authorized bool, query url.Values, handle func() response) {
	fault := s.record(r, op, authorized, query)
	if fault != FaultNone {
		s.log.Info("fault", "op", op, "fault", fault)
	}
	switch fault {
	case FaultDrop:
		hangUp(w)
		return
	case FaultEmpty:
		text("").write(w)
		return
	case FaultHTML:
		text(htmlPage).write(w)
		return
	case Fault500:
		response{http.StatusInternalServerError, contentText, errorPage}.write(w)
		return
	case FaultSlow:
		if !s.wait(r.Context(), s.slowDelay) {
			return // the client gave up: like PHP on a closed connection, do nothing
		}
	case FaultLostReply:
		handle()
		hangUp(w)
		return
	}
	handle().write(w)
}

// record appends the request to the log and returns the fault it gets.
func (s *sim) record(r *http.Request, op Op, authorized bool, query url.Values) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	fault := s.nextFault(op)
	if s.maxReqs > 0 && len(s.requests) >= s.maxReqs {
		// Keep the newer half: amortized, the log costs O(1) per request.
		n := copy(s.requests, s.requests[len(s.requests)-s.maxReqs/2:])
		clear(s.requests[n:])
		s.requests = s.requests[:n]
	}
	s.requests = append(s.requests, Request{
		Time: s.clock.Now(), Op: op, Method: r.Method, Path: r.URL.Path, Query: query,
		Authorized: authorized, Fault: fault,
	})
	return fault
}

func (s *sim) nextFault(op Op) Fault {
	for i := range s.faults {
		f := &s.faults[i]
		if f.op != OpAny && f.op != op {
			continue
		}
		f.left--
		fault := f.fault
		if f.left == 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		return fault
	}
	// Draw only when some rate is set, so that adding a fault-free simulator's
	// requests does not shift the random stream of fates and PINs.
	table := s.rates.table()
	total := 0.0
	for _, t := range table {
		total += t.rate
	}
	if total <= 0 {
		return FaultNone
	}
	x := s.rng.Float64()
	for _, t := range table {
		if x < t.rate {
			return t.fault
		}
		x -= t.rate
	}
	return FaultNone
}

// wait holds a request for d, and reports false if the client or the simulator
// went away first.
func (s *sim) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}

// hangUp closes the connection without a response, which a client sees as a
// dropped connection.
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not HTTP/1 (or wrapped beyond reach): aborting the handler resets the
		// stream, which is the closest equivalent.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// create registers a new order under ref with a fate from the script or the
// options. atPlacementRate is the chance that a delivered order is delivered in
// the placement answer. The caller holds s.mu.
func (s *sim) create(ref, productID string, params map[string]string, qty int, price watan.Amount, atPlacementRate float64) *order {
	fate := s.drawFate(atPlacementRate)
	id := fmt.Sprint(s.nextID)
	s.nextID++
	o := &order{
		Order: Order{
			Ref: ref, ID: id, ProductID: productID, Params: params, Quantity: qty,
			Price: price.String(), State: StatePending, PlacedAt: s.clock.Now(), Fate: fate,
		},
		price:   price,
		pin:     fate.PIN,
		dialect: s.rng.IntN(1 << 16),
	}
	if o.pin == "" {
		o.pin = s.newPIN()
	}
	o.completeAt = o.PlacedAt.Add(fate.After)
	s.balance -= price
	s.orders[ref], s.byID[id] = o, o
	s.list = append(s.list, o)
	s.log.Info("order placed", "ref", ref, "order_id", id, "product", productID,
		"outcome", fate.Outcome, "after", fate.After, "at_placement", fate.AtPlacement)
	if fate.AtPlacement && fate.Outcome == OutcomeDeliver {
		s.finish(o, OutcomeDeliver)
	}
	return o
}

func (s *sim) drawFate(atPlacementRate float64) Fate {
	if len(s.fates) > 0 {
		f := s.fates[0]
		s.fates = s.fates[1:]
		if f.Outcome == "" {
			f.Outcome = OutcomeDeliver
		}
		return f
	}
	f := Fate{Outcome: OutcomeDeliver}
	switch x := s.rng.Float64(); {
	case x < s.stuck:
		f.Outcome = OutcomeStuck
	case x < s.stuck+s.cancel:
		f.Outcome = OutcomeCancel
	}
	f.After = max(s.delay(s.rng), 0)
	if f.Outcome == OutcomeDeliver && atPlacementRate > 0 && s.rng.Float64() < atPlacementRate {
		f.AtPlacement, f.After = true, 0
	}
	return f
}

// pinAlphabet leaves out characters people misread (0/O, 1/I).
const pinAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func (s *sim) newPIN() string {
	var b strings.Builder
	for i := range 16 {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(pinAlphabet[s.rng.IntN(len(pinAlphabet))])
	}
	return b.String()
}

// settle applies an order's fate once its time has come. The caller holds s.mu.
func (s *sim) settle(o *order) {
	if o.State != StatePending || o.Fate.Outcome == OutcomeStuck || s.clock.Now().Before(o.completeAt) {
		return
	}
	s.finish(o, o.Fate.Outcome)
}

func (s *sim) finish(o *order, out Outcome) {
	switch out {
	case OutcomeDeliver:
		o.State, o.PIN = StateDelivered, o.pin
	case OutcomeCancel:
		o.State = StateCancelled
		s.balance += o.price
	default:
		return
	}
	s.log.Info("order finished", "ref", o.Ref, "order_id", o.ID, "state", o.State)
}

// redactQuery copies q with the named credentials replaced.
func redactQuery(q url.Values, names ...string) url.Values {
	c := make(url.Values, len(q))
	for k, v := range q {
		c[k] = append([]string(nil), v...)
	}
	for _, n := range names {
		if _, ok := c[n]; ok {
			c[n] = []string{"[redacted]"}
		}
	}
	return c
}
