package engine_test

import (
	"context"
	"math/rand/v2"
	"runtime"
	"strings"
)

// This file is the interleaving explorer's scheduler. Each actor (a job worker, the
// sweeper, an operator, the provider, the passing of time) runs in its own
// goroutine, but only one runs at a time: at every yield point it parks and the
// scheduler picks which actor takes the next step. Yield points are where another
// actor's step can change what this one sees: before every transaction, before a
// provider request is sent and after the provider has acted on it (its reply on
// the wire), and before a job's completion is recorded. The point after a
// transaction is the one before the actor's next step, so it needs no yield of its
// own. A mortal actor may also be killed at a yield point, as a process dies: it
// never takes another step, and what it held (a running job) is left for the
// rescuer.
//
// A schedule is the list of choices made at each decision; replaying a prefix and
// then taking the first choice everywhere enumerates schedules depth-first, and a
// seeded random choice samples them beyond exhaustive bounds.

type actorKey struct{}

// actor is one concurrent participant of a schedule.
type actor struct {
	name   string
	mortal bool // may be killed at a yield point
	fn     func(ctx context.Context)

	resume chan bool   // true: take the next step; false: die here
	parked chan string // the yield point reached; "" once the actor has ended
	label  string
	alive  bool // parked and able to go on
}

func newActor(name string, mortal bool, fn func(ctx context.Context)) *actor {
	return &actor{name: name, mortal: mortal, fn: fn, resume: make(chan bool), parked: make(chan string)}
}

// yieldPoint parks the calling actor (if ctx belongs to one) until the scheduler
// lets it go on; a killed actor's goroutine ends here.
func yieldPoint(ctx context.Context, label string) {
	a, _ := ctx.Value(actorKey{}).(*actor)
	if a == nil {
		return
	}
	a.parked <- label
	if !<-a.resume {
		runtime.Goexit()
	}
}

// scheduler makes the choices of one schedule.
type scheduler struct {
	prefix []int      // choices to replay
	rng    *rand.Rand // beyond the prefix: random if set, else the first choice
	trace  []int      // choices made
	widths []int      // options at each choice
	steps  []string   // what each choice did, for failure reports
	killed bool
	// script, when set, names the moves to make before any choice: "D" lets actor
	// D take one step, "D:label" lets it go on until it parks at label, "D*" until
	// it ends, and "!D" kills it where it stands.
	script []string
}

func (s *scheduler) choose(n int) int {
	i := len(s.trace)
	c := 0
	switch {
	case i < len(s.prefix):
		c = min(s.prefix[i], n-1)
	case s.rng != nil:
		c = s.rng.IntN(n)
	}
	s.trace, s.widths = append(s.trace, c), append(s.widths, n)
	return c
}

// next returns the prefix of the next schedule in depth-first order, or false once
// every schedule has been run.
func (s *scheduler) next() ([]int, bool) {
	for i := len(s.trace) - 1; i >= 0; i-- {
		if s.trace[i]+1 < s.widths[i] {
			p := append([]int(nil), s.trace[:i]...)
			return append(p, s.trace[i]+1), true
		}
	}
	return nil, false
}

// run plays one schedule of actors to its end: every actor has finished or died.
func (s *scheduler) run(ctx context.Context, actors []*actor) {
	for _, a := range actors {
		actx := context.WithValue(ctx, actorKey{}, a)
		go func() {
			defer func() { a.parked <- "" }()
			yieldPoint(actx, "start")
			a.fn(actx)
		}()
		a.label, a.alive = <-a.parked, true
	}
	for len(s.script) > 0 {
		step := s.script[0]
		s.script = s.script[1:]
		name, until, kill, all := step, "", false, false
		if rest, ok := strings.CutPrefix(name, "!"); ok {
			name, kill = rest, true
		}
		if rest, ok := strings.CutSuffix(name, "*"); ok {
			name, all = rest, true
		}
		name, until, _ = strings.Cut(name, ":")
		var a *actor
		for _, x := range actors {
			if x.name == name {
				a = x
			}
		}
		if a == nil || !a.alive {
			panic("explorer script: actor " + name + " cannot move at step " + step)
		}
		if kill {
			s.steps = append(s.steps, a.name+" dies at "+a.label)
			s.killed = true
			a.resume <- false
			<-a.parked
			a.alive = false
			continue
		}
		for a.alive {
			s.steps = append(s.steps, a.name+" goes on from "+a.label)
			a.resume <- true
			if label := <-a.parked; label != "" {
				a.label = label
			} else {
				a.alive = false
			}
			if !all && (until == "" || a.label == until) {
				break
			}
		}
	}
	type move struct {
		a    *actor
		kill bool
	}
	for {
		var moves []move
		for _, a := range actors {
			if !a.alive {
				continue
			}
			moves = append(moves, move{a, false})
			if a.mortal && !s.killed {
				moves = append(moves, move{a, true})
			}
		}
		if len(moves) == 0 {
			return
		}
		m := moves[s.choose(len(moves))]
		if m.kill {
			s.killed = true
			s.steps = append(s.steps, m.a.name+" dies at "+m.a.label)
			m.a.resume <- false
			<-m.a.parked
			m.a.alive = false
			continue
		}
		s.steps = append(s.steps, m.a.name+" goes on from "+m.a.label)
		m.a.resume <- true
		if label := <-m.a.parked; label != "" {
			m.a.label = label
		} else {
			m.a.alive = false
		}
	}
}

func (s *scheduler) String() string { return strings.Join(s.steps, "\n  ") }
