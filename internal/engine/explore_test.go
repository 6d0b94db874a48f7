package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"watan"
	"watan/internal/breaker"
	"watan/internal/engine"
	"watan/internal/jobs"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
	"watan/internal/webhooks"
)

// The interleaving explorer runs the real engine and store (both engines) with a
// scripted upstream whose calls yield, and explores schedules of two or three
// concurrent actors on one or two orders: dispatch and check jobs, batch checks,
// the sweeper, the deadline, operators' check now, re-dispatch, approve and reject,
// and a process that dies at a yield point and whose job is later rescued. Every
// scenario is explored depth-first up to a bound, then by seeded random sampling.
// After each schedule it checks that no pending order is left without a live job,
// runs every job to quiescence without the sweeper, and checks the invariants.
//
// WATAN_EXPLORE=long explores far more schedules (minutes); the default is bounded
// for CI. WATAN_EXPLORE_ONLY=text explores only the scenarios whose names contain
// text.

// scenario is a starting point and the actors that race from it.
type scenario struct {
	name string
	// fates scripts the upstream's answers to placements, per account ("a", "b").
	fates map[string][]placeFate
	// setup brings the world to the starting point, one step at a time.
	setup func(w *world)
	// actors race from there.
	actors func(w *world) []*actor
	// failChecks makes an account's next status calls fail in transit.
	failChecks map[string]int
	// end is what the upstream does with its pending orders once the actors are done.
	end watan.CheckOutcome
	// check adds the scenario's own expectations to the invariants.
	check func(w *world) []string
	// breaker sets the thresholds of every actor's circuit breakers (zero: the
	// production defaults, which no scenario comes near).
	breaker breaker.Config
}

// Actors.

func (w *world) worker(name, kind string, order int, mortal bool) *actor {
	eng := w.engine()
	return newActor(name, mortal, func(ctx context.Context) { w.work(ctx, eng, kind, w.orders[order].ID) })
}

func (w *world) sweeper(name string) *actor {
	eng := w.engine()
	return newActor(name, false, func(ctx context.Context) {
		if _, err := eng.Sweep(ctx); err != nil {
			w.problem("sweep: %v", err)
		}
	})
}

// poller runs rounds of the check poller, as a process's RunPoller does.
func (w *world) poller(name string, rounds int, mortal bool) *actor {
	eng := w.engine()
	return newActor(name, mortal, func(ctx context.Context) {
		for range rounds {
			if _, err := eng.PollChecks(ctx); err != nil && ctx.Err() == nil {
				w.problem("poll checks: %v", err)
			}
		}
	})
}

// pollerAcrossTime runs two rounds of one check poller with d passing between
// them: the second round sees what the first left, such as its open circuit.
func (w *world) pollerAcrossTime(name string, d time.Duration) *actor {
	eng := w.engine()
	return newActor(name, false, func(ctx context.Context) {
		for i := range 2 {
			if i > 0 {
				w.x.clock.Advance(d)
			}
			if _, err := eng.PollChecks(ctx); err != nil && ctx.Err() == nil {
				w.problem("poll checks: %v", err)
			}
		}
	})
}

// operator runs one or more of an operator's actions on order 0 in turn.
func (w *world) operator(name string, actions ...string) *actor {
	eng := w.engine()
	who := watan.OperatorActor("op")
	return newActor(name, false, func(ctx context.Context) {
		tid, id := w.tenant.ID, w.orders[0].ID
		for _, act := range actions {
			var err error
			switch act {
			case "check":
				_, err = eng.CheckNow(ctx, tid, id, who)
			case "approve":
				_, err = eng.Approve(ctx, tid, id, who, "OP-PIN", "explorer")
			case "reject":
				_, err = eng.Reject(ctx, tid, id, who, "explorer")
			case "redispatch-a":
				_, err = eng.Redispatch(ctx, tid, id, w.a.ID, who, "explorer")
			case "redispatch-b":
				_, err = eng.Redispatch(ctx, tid, id, w.b.ID, who, "explorer")
			default:
				panic("unknown operator action " + act)
			}
			w.operatorErr(act, err)
		}
	})
}

// provider finishes the upstream's pending orders of order i.
func (w *world) provider(name string, i int, outcome watan.CheckOutcome) *actor {
	return newActor(name, false, func(ctx context.Context) { w.up.complete(w.orders[i].ID, outcome) })
}

// tick lets time pass.
func (w *world) tick(name string, d time.Duration) *actor {
	return newActor(name, false, func(ctx context.Context) { w.x.clock.Advance(d) })
}

// runAll runs every waiting job of the world once, one after another (setup).
func (w *world) runAll() {
	eng := w.engine()
	for _, j := range w.liveJobs(waitingStates, 0) {
		w.runJob(w.x.ctx, eng, j)
	}
}

// checkAtOnce makes acct's first status check due at once: the dispatch run asks
// right after the placement, in the same run.
func (w *world) checkAtOnce(acct watan.ProviderAccount) {
	acct.Settings.FirstCheckDelay = -1
	acct.Credentials = nil // keep the stored ones
	if _, err := w.x.st.UpdateProviderAccount(w.x.ctx, acct); err != nil {
		w.x.t.Fatal(err)
	}
}

func (w *world) pause(acct watan.ProviderAccount) {
	if err := w.x.st.SetProviderPaused(w.x.ctx, w.tenant.ID, acct.ID, true, "explorer", watan.OperatorActor("explorer")); err != nil {
		w.x.t.Fatal(err)
	}
}

const (
	dispatchJob = engine.KindDispatch
	checkJob    = engine.KindCheck
)

// scenarios are the explorer's starting points.
var scenarios = []scenario{
	{
		name:  "placement racing check-now, re-dispatch and a dying worker",
		setup: func(w *world) { w.order(routeA) },
		actors: func(w *world) []*actor {
			return []*actor{w.worker("D", dispatchJob, 0, true), w.operator("O", "check", "redispatch-b")}
		},
		end: watan.CheckDelivered,
	},
	{
		name:  "lost reply resolved by the dispatch job, a check-now and a dying worker",
		fates: map[string][]placeFate{"a": {fateLostReply}},
		setup: func(w *world) { w.order(routeA) },
		actors: func(w *world) []*actor {
			return []*actor{w.worker("D", dispatchJob, 0, true), w.operator("O", "check")}
		},
		end: watan.CheckDelivered,
	},
	{
		name:  "lost request: stale not-found racing the re-placement",
		fates: map[string][]placeFate{"a": {fateLostRequest, fateAccept}},
		setup: func(w *world) { w.order(routeA) },
		actors: func(w *world) []*actor {
			return []*actor{w.worker("D", dispatchJob, 0, false), w.operator("O", "check", "check"), w.tick("T", time.Minute)}
		},
		end: watan.CheckDelivered,
	},
	{
		name:  "refusal and fallback racing an operator's re-dispatch",
		fates: map[string][]placeFate{"a": {fateRefuse}},
		setup: func(w *world) { w.order(routeAB) },
		actors: func(w *world) []*actor {
			return []*actor{w.worker("D", dispatchJob, 0, true), w.operator("O", "redispatch-a")}
		},
		end: watan.CheckDelivered,
	},
	{
		name:  "paused account: queued dispatch racing re-dispatch and the deadline",
		setup: func(w *world) { w.order(routeA); w.pause(w.a); w.runAll() },
		actors: func(w *world) []*actor {
			return []*actor{w.worker("D", dispatchJob, 0, false), w.operator("O", "redispatch-b"), w.tick("T", 25*time.Hour)}
		},
		end: watan.CheckDelivered,
	},
	{
		name:  "delivery racing an operator's approval",
		setup: func(w *world) { w.order(routeA); w.runAll(); w.x.clock.Advance(15 * time.Second) },
		actors: func(w *world) []*actor {
			return []*actor{w.worker("C", checkJob, 0, true), w.operator("O", "approve"), w.provider("P", 0, watan.CheckDelivered)}
		},
		end: watan.CheckDelivered,
	},
	{
		name:  "cancellation racing an operator's rejection and re-dispatch",
		setup: func(w *world) { w.order(routeA); w.runAll(); w.x.clock.Advance(15 * time.Second) },
		actors: func(w *world) []*actor {
			return []*actor{w.worker("C", checkJob, 0, false), w.operator("O", "reject", "redispatch-b"), w.provider("P", 0, watan.CheckFailed)}
		},
		end: watan.CheckDelivered,
	},
	{
		name: "batch check of two orders racing one order's own check",
		setup: func(w *world) {
			w.order(routeB)
			w.order(routeB)
			w.runAll()
			w.x.clock.Advance(15 * time.Second)
		},
		actors: func(w *world) []*actor {
			return []*actor{w.worker("C0", checkJob, 0, false), w.worker("C1", checkJob, 1, true), w.provider("P", 1, watan.CheckDelivered)}
		},
		end: watan.CheckDelivered,
	},
	{
		// A hair-trigger breaker: the lost request opens account a's circuit in the
		// dispatching process, whose next round sends the order to the fallback,
		// racing the operator's check and re-dispatch to a and the cool-down.
		name:    "circuit opening mid-dispatch: fallback racing re-dispatch and the half-open trial",
		fates:   map[string][]placeFate{"a": {fateLostRequest}},
		breaker: breaker.Config{TransientInARow: 1, FailureRatio: 1, Trials: 1, CoolDown: 30 * time.Second},
		setup:   func(w *world) { w.order(routeAB) },
		actors: func(w *world) []*actor {
			return []*actor{w.worker("D", dispatchJob, 0, true), w.operator("O", "check", "redispatch-a"), w.tick("T", 31*time.Second)}
		},
		end: watan.CheckDelivered,
	},
	{
		name:  "first check at once: the dispatch run's own check racing check-now, the delivery and a dying worker",
		setup: func(w *world) { w.checkAtOnce(w.a); w.order(routeA) },
		actors: func(w *world) []*actor {
			return []*actor{w.worker("D", dispatchJob, 0, true), w.operator("O", "check"), w.provider("P", 0, watan.CheckDelivered)}
		},
		end: watan.CheckDelivered,
	},
	{
		name:  "first check at once: a cancellation racing an operator's rejection and re-dispatch",
		setup: func(w *world) { w.checkAtOnce(w.a); w.order(routeA) },
		actors: func(w *world) []*actor {
			return []*actor{w.worker("D", dispatchJob, 0, false), w.operator("O", "reject", "redispatch-b"), w.provider("P", 0, watan.CheckFailed)}
		},
		end: watan.CheckDelivered,
	},
	{
		name: "check poller racing a batch check, an order's own check, the delivery and a dying poller",
		setup: func(w *world) {
			w.order(routeB)
			w.order(routeB)
			w.order(routeA)
			w.runAll()
			w.x.clock.Advance(15 * time.Second)
		},
		actors: func(w *world) []*actor {
			return []*actor{w.poller("P", 1, true), w.worker("C0", checkJob, 0, false), w.provider("U", 1, watan.CheckDelivered)}
		},
		end: watan.CheckDelivered,
	},
	{
		name:  "two check pollers racing an operator's check-now and re-dispatch",
		setup: func(w *world) { w.order(routeA); w.runAll(); w.x.clock.Advance(15 * time.Second) },
		actors: func(w *world) []*actor {
			return []*actor{w.poller("P1", 1, false), w.poller("P2", 2, true), w.operator("O", "check", "redispatch-b")}
		},
		end: watan.CheckDelivered,
	},
	{
		// From its second round a poller plans the pending answer's next check at
		// the claim (planCheck): the round after the tick claims with a plan.
		name: "check poller planning next checks at its claims, racing another poller, the clock and a delivery",
		setup: func(w *world) {
			w.order(routeA)
			w.order(routeB)
			w.runAll()
			w.x.clock.Advance(15 * time.Second)
		},
		actors: func(w *world) []*actor {
			return []*actor{w.poller("P1", 3, true), w.tick("T", time.Minute), w.poller("P2", 1, false), w.provider("U", 1, watan.CheckDelivered)}
		},
		end: watan.CheckDelivered,
	},
	{
		// A poller whose call fails makes the orders its claim could not plan (a
		// request timeout longer than the poll interval rules plans out) due again
		// at their routine check or when its circuit, opened by that one failure,
		// half-opens; its next round, 40 s on, finds the other order due and the
		// circuit still open, and releases that one too (ReleaseChecks). Another
		// poller may claim them meanwhile.
		name:       "check poller's failed call and open circuit releasing its claims, racing another poller and a delivery",
		failChecks: map[string]int{"a": 1},
		breaker:    breaker.Config{TransientInARow: 1, FailureRatio: 1, Trials: 1, CoolDown: 45 * time.Second},
		setup: func(w *world) {
			acct := w.a
			acct.Settings.RequestTimeout, acct.Credentials = time.Minute, nil
			if _, err := w.x.st.UpdateProviderAccount(w.x.ctx, acct); err != nil {
				w.x.t.Fatal(err)
			}
			w.order(routeA)
			w.order(routeA)
			w.runAll()
			w.x.clock.Advance(15 * time.Second)
		},
		actors: func(w *world) []*actor {
			return []*actor{w.pollerAcrossTime("P1", 40*time.Second), w.poller("P2", 1, true), w.provider("U", 0, watan.CheckDelivered)}
		},
		end: watan.CheckDelivered,
	},
	{
		name:  "check poller racing the deadline, a cancellation and an operator's approval",
		setup: func(w *world) { w.order(routeA); w.runAll(); w.x.clock.Advance(15 * time.Second) },
		actors: func(w *world) []*actor {
			return []*actor{w.poller("P", 2, false), w.tick("T", 25*time.Hour), w.provider("U", 0, watan.CheckFailed), w.operator("O", "approve")}
		},
		end: watan.CheckDelivered,
	},
	{
		name:  "deadline racing a check and the sweeper",
		fates: map[string][]placeFate{"a": {fateLostReply}},
		setup: func(w *world) { w.order(routeA) },
		actors: func(w *world) []*actor {
			return []*actor{w.worker("D", dispatchJob, 0, true), w.tick("T", 25*time.Hour), w.sweeper("S")}
		},
		end: watan.CheckDelivered,
	},
}

// exploreBudget is how many schedules each scenario gets on an engine: depth-first
// first, then random. PostgreSQL commits cost milliseconds each, so its bounded
// run is smaller; the logic under test is the same, its locking is what differs.
func exploreBudget(kind store.Engine) (exhaustive, random int) {
	switch {
	case os.Getenv("WATAN_EXPLORE") == "long":
		return 5000, 2000
	case raceEnabled && kind == store.EnginePostgres:
		return 30, 8
	case raceEnabled:
		return 60, 15
	case kind == store.EnginePostgres:
		return 150, 40
	}
	return 600, 150
}

func newExplorer(t *testing.T, kind store.Engine) *explorer {
	clock := providertest.NewManualClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	st := storetest.OpenWith(t, storetest.Options{Engine: kind, Clock: clock})
	q, err := jobs.New(context.Background(), jobs.Config{DB: st.DB(), Postgres: kind == store.EnginePostgres})
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := webhooks.New(webhooks.Config{Store: st, Queue: q, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return &explorer{t: t, ctx: context.Background(), st: st, q: q, hooks: hooks, clock: clock, kind: kind}
}

// play runs one schedule of sc and returns what went wrong, if anything.
func (x *explorer) play(sc scenario, s *scheduler) (w *world, bad []string) {
	w = x.newWorld()
	acctID := func(name string) int64 {
		if name == "b" {
			return w.b.ID
		}
		return w.a.ID
	}
	for acct, fs := range sc.fates {
		w.up.fates[acctID(acct)] = append([]placeFate(nil), fs...)
	}
	for acct, n := range sc.failChecks {
		w.up.failChecks[acctID(acct)] = n
	}
	w.breaker = sc.breaker
	sc.setup(w)
	s.run(x.ctx, sc.actors(w))
	bad = w.checkLive()
	w.quiesce(sc.end)
	bad = append(bad, w.checkInvariants()...)
	if sc.check != nil {
		bad = append(bad, sc.check(w)...)
	}
	// River's table would be pruned of finished jobs; the webhook jobs never run
	// here. Dropping the schedule's jobs keeps every schedule as fast as the first.
	if _, err := x.st.DB().ExecContext(x.ctx, `DELETE FROM river_job WHERE `+w.jsonField("tenant_id")+` = $1`, w.tenant.ID); err != nil {
		x.t.Fatal(err)
	}
	if x.kind == store.EnginePostgres {
		// Each tenant has its own order-number sequence; tens of thousands of them
		// make dropping the test's schema run out of lock slots. The world is done
		// creating orders. (The name is the store's, see store.orderSequence.)
		if _, err := x.st.DB().ExecContext(x.ctx, fmt.Sprintf(`DROP SEQUENCE IF EXISTS order_number_%d`, w.tenant.ID)); err != nil {
			x.t.Fatal(err)
		}
	}
	return w, bad
}

func TestExploreInterleavings(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, kind store.Engine) {
		t.Parallel()
		x := newExplorer(t, kind)
		exhaustive, random := exploreBudget(kind)
		total := 0
		only := os.Getenv("WATAN_EXPLORE_ONLY")
		for _, sc := range scenarios {
			if !strings.Contains(sc.name, only) {
				continue
			}
			ran, complete := 0, false
			var prefix []int
			for ran < exhaustive {
				s := &scheduler{prefix: prefix}
				x.report(t, sc, s)
				ran++
				next, ok := s.next()
				if !ok {
					complete = true
					break
				}
				prefix = next
			}
			sampled := 0
			if !complete {
				rng := rand.New(rand.NewPCG(uint64(len(sc.name)), 42))
				for range random {
					x.report(t, sc, &scheduler{rng: rng})
					sampled++
				}
			}
			total += ran + sampled
			t.Logf("%s: %d schedules depth-first (all of them: %v), %d sampled", sc.name, ran, complete, sampled)
		}
		t.Logf("%s: %d schedules explored in all", kind, total)
	})
}

// report plays one schedule and fails the test with its story if it broke an
// invariant.
func (x *explorer) report(t *testing.T, sc scenario, s *scheduler) *world {
	t.Helper()
	w, bad := x.play(sc, s)
	if len(bad) > 0 {
		t.Fatalf("%s: schedule %v broke invariants:\n  %s\nschedule:\n  %s\ntimeline:\n%s", sc.name, s.trace,
			strings.Join(bad, "\n  "), s, w.timelines())
	}
	return w
}

// The six interleavings of issue 9, each as the exact schedule that broke the
// engine before placements had generations and leases. Each runs its script, then
// quiescence, then the invariants.

// scenarioNamed is the explorer's scenario whose name starts with prefix.
func scenarioNamed(t *testing.T, prefix string) scenario {
	t.Helper()
	for _, sc := range scenarios {
		if strings.HasPrefix(sc.name, prefix) {
			return sc
		}
	}
	t.Fatalf("no scenario named %q", prefix)
	return scenario{}
}

func runScript(t *testing.T, sc scenario, script ...string) {
	storetest.RunEngines(t, func(t *testing.T, kind store.Engine) {
		x := newExplorer(t, kind)
		s := &scheduler{script: script}
		w := x.report(t, sc, s)
		t.Logf("schedule:\n  %s\ntimeline:\n%s", s, w.timelines())
	})
}

// 1. A check (check-now) while the placement is on the wire found "not found" and
// let an operator re-dispatch the order to a second provider: placed twice.
func TestInterleavingCheckDuringPlacement(t *testing.T) {
	runScript(t, scenario{
		setup: func(w *world) { w.order(routeA) },
		actors: func(w *world) []*actor {
			return []*actor{w.worker("D", dispatchJob, 0, false), w.operator("O", "check", "redispatch-b")}
		},
		end: watan.CheckDelivered,
	}, "D:placement request on the wire", "O*", "D*")
}

// 2. A "not found" computed before a re-placement under the same reference was
// applied to the new placement and lost it.
func TestInterleavingStaleNotFoundAfterReplacement(t *testing.T) {
	runScript(t, scenario{
		fates: map[string][]placeFate{"a": {fateLostRequest, fateAccept}},
		setup: func(w *world) { w.order(routeA) },
		actors: func(w *world) []*actor {
			return []*actor{w.worker("D", dispatchJob, 0, false), w.operator("O", "check")}
		},
		end: watan.CheckDelivered,
	},
		"D:placement reply on the wire", "D:status request on the wire", // D's call failed; D asks about it
		"O:status reply on the wire",      // O asks too and hears "not found"
		"D:placement request on the wire", // D hears "not found" and places again, same reference
		"O*", "D*")
}

// 3. An order that waited in "not found" for a paused account past its deadline
// was placed when the account resumed, then expired and refunded while the
// provider delivered.
func TestInterleavingPlacedAfterDeadline(t *testing.T) {
	runScript(t, scenario{
		fates:      map[string][]placeFate{"a": {fateLostRequest}},
		failChecks: map[string]int{"a": 1},
		setup: func(w *world) {
			w.order(routeA)
			w.runAll() // placement lost, its check fails: the check job takes over
			w.runAll() // "not found": a dispatch job to place again
			w.pause(w.a)
			w.runAll() // waits for the paused account
			w.x.clock.Advance(25 * time.Hour)
			if err := w.x.st.SetProviderPaused(w.x.ctx, w.tenant.ID, w.a.ID, false, "", watan.OperatorActor("explorer")); err != nil {
				w.x.t.Fatal(err)
			}
		},
		actors: func(w *world) []*actor { return []*actor{w.worker("D", dispatchJob, 0, false)} },
		end:    watan.CheckDelivered,
		check: func(w *world) []string {
			if n := w.up.created[w.orders[0].ID]; n != 0 {
				return []string{fmt.Sprintf("order placed %d times after its deadline", n)}
			}
			return nil
		},
	}, "D*")
}

// 4. A provider's late answer rewrote an operator-approved order's PIN and state.
func TestInterleavingLateAnswerAfterOperatorDecision(t *testing.T) {
	runScript(t, scenario{
		setup: func(w *world) { w.order(routeA); w.runAll(); w.x.clock.Advance(15 * time.Second) },
		actors: func(w *world) []*actor {
			return []*actor{w.provider("P", 0, watan.CheckDelivered), w.worker("C", checkJob, 0, false), w.operator("O", "approve")}
		},
		end: watan.CheckDelivered,
	}, "P*", "C:status reply on the wire", "O*", "C*")
}

// 5. After a re-placement the new check job was not enqueued because the previous
// one was still running, and the order sat until the sweeper.
func TestInterleavingCheckJobLostToUniqueness(t *testing.T) {
	runScript(t, scenario{
		fates:      map[string][]placeFate{"a": {fateLostRequest, fateAccept}},
		failChecks: map[string]int{"a": 1},
		setup: func(w *world) {
			w.order(routeA)
			w.runAll() // placement lost, its check fails: the check job takes over
		},
		actors: func(w *world) []*actor {
			return []*actor{w.worker("C", checkJob, 0, false), w.worker("D", dispatchJob, 0, false)}
		},
		end: watan.CheckDelivered,
	}, "C:before the job's result is recorded", "D*", "C*")
}

// 6. A dispatch job that read the order before an operator re-dispatched it to
// account b wrote its own choice, a, back.
func TestInterleavingRedispatchOverridesQueuedJob(t *testing.T) {
	runScript(t, scenario{
		fates:      map[string][]placeFate{"a": {fateLostRequest}},
		failChecks: map[string]int{"a": 1},
		setup: func(w *world) {
			w.order(routeA)
			w.runAll() // placement lost, its check fails: the check job takes over
			w.runAll() // "not found": a dispatch job to place again at a
		},
		actors: func(w *world) []*actor {
			return []*actor{w.worker("D", dispatchJob, 0, false), w.operator("O", "redispatch-b")}
		},
		end: watan.CheckDelivered,
		check: func(w *world) []string {
			o, err := w.x.st.FindOrder(w.x.ctx, w.tenant.ID, w.orders[0].ID)
			if err != nil {
				w.x.t.Fatal(err)
			}
			if o.ProviderAccountID != w.b.ID {
				return []string{fmt.Sprintf("order went to account %d, the operator chose %d", o.ProviderAccountID, w.b.ID)}
			}
			return nil
		},
	}, "D:before a transaction", "O*", "D*")
}

// An order an operator rejected while its provider still held it stays watched:
// the provider's later delivery reaches the timeline with its PIN, and nothing else
// about the order changes.
func TestAfterCareRecordsLateDelivery(t *testing.T) {
	runScript(t, scenario{
		setup: func(w *world) { w.order(routeA); w.runAll() },
		actors: func(w *world) []*actor {
			return []*actor{w.operator("O", "reject")}
		},
		end: watan.CheckDelivered,
		check: func(w *world) []string {
			o, err := w.x.st.FindOrder(w.x.ctx, w.tenant.ID, w.orders[0].ID)
			if err != nil {
				w.x.t.Fatal(err)
			}
			var bad []string
			if o.Status != watan.StatusRejected || o.PIN != "" || o.ProviderState != watan.StateSent || o.NextCheckAt != nil {
				bad = append(bad, fmt.Sprintf("after the late delivery the order is %s/%s with PIN %q, next check %v", o.Status, o.ProviderState, o.PIN, o.NextCheckAt))
			}
			evs, err := w.x.st.OrderEvents(w.x.ctx, w.tenant.ID, o.ID)
			if err != nil {
				w.x.t.Fatal(err)
			}
			late := 0
			for _, e := range evs {
				if e.Kind == engine.EventLateAnswer && e.Data["pin"] == fmt.Sprintf("PIN-%d-%s", w.a.ID, o.ProviderReferans) {
					late++
				}
			}
			if late != 1 {
				bad = append(bad, fmt.Sprintf("%d late answers carry the provider's PIN, want 1", late))
			}
			return bad
		},
	}, "O*")
}

// The circuit breaker's path through the explorer's scenario, run to the end by
// the dispatching process alone: its lost request opens account a's circuit, the
// resolving check hears "not found", and the next round sends the order to the
// fallback without another call to a.
func TestInterleavingCircuitOpenSendsToFallback(t *testing.T) {
	runScript(t, scenario{
		fates:   map[string][]placeFate{"a": {fateLostRequest}},
		breaker: breaker.Config{TransientInARow: 1, FailureRatio: 1, Trials: 1, CoolDown: 30 * time.Second},
		setup:   func(w *world) { w.order(routeAB) },
		actors:  func(w *world) []*actor { return []*actor{w.worker("D", dispatchJob, 0, false)} },
		end:     watan.CheckDelivered,
		check: func(w *world) []string {
			o, err := w.x.st.FindOrder(w.x.ctx, w.tenant.ID, w.orders[0].ID)
			if err != nil {
				w.x.t.Fatal(err)
			}
			if o.ProviderAccountID != w.b.ID || !strings.Contains(w.timelines(), "has its circuit open until") {
				return []string{fmt.Sprintf("order ended at account %d without going to the fallback for the open circuit", o.ProviderAccountID)}
			}
			return nil
		},
	}, "D*")
}

// 7. Found by the long run (WATAN_EXPLORE=long): the dispatching process took
// the lease for its placement at the fallback, then stalled while time passed
// beyond the lease; an operator's check asked the fallback, which had no order
// yet, and the placement left after all. The "not found", applied once the
// lease had run out, let the order be placed again elsewhere: placed twice. A
// placement request may not leave after its lease (less the margin), whatever
// the request timeout says.
func TestInterleavingPlacementOutlivesItsLease(t *testing.T) {
	runScript(t, scenarioNamed(t, "circuit opening mid-dispatch"), "D:placement request on the wire", "D:placement request on the wire", "T*", "O:status reply on the wire",
		"D", "D", "D", "!D", "O*")
}
