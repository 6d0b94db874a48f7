package main

import (
	"fmt"
	"time"
)

// cpuSample is the CPU time the machine and this process have used so far, for
// "watan bench" to report CPU per order: the machine's figure covers every process
// (the database included), the process's figure watan alone.
type cpuSample struct {
	at time.Time
	// machineBusy is the time all CPUs together spent neither idle nor waiting
	// for I/O, from /proc/stat; machineOK is false where that is not known.
	machineBusy time.Duration
	machineOK   bool
	// process is this process's user and system time.
	process   time.Duration
	processOK bool
}

// cpuUse is what a phase used between two samples.
type cpuUse struct {
	elapsed           time.Duration
	machine, process  time.Duration
	machineOK, procOK bool
}

func (a cpuSample) until(b cpuSample) cpuUse {
	return cpuUse{elapsed: b.at.Sub(a.at), machine: b.machineBusy - a.machineBusy, process: b.process - a.process,
		machineOK: a.machineOK && b.machineOK, procOK: a.processOK && b.processOK}
}

// perOrder returns CPU milliseconds per order, nil where unknown.
func (u cpuUse) perOrder(orders int) (machine, process *float64) {
	if orders <= 0 {
		return nil, nil
	}
	ms := func(d time.Duration) *float64 {
		v := float64(d.Microseconds()) / 1000 / float64(orders)
		return &v
	}
	if u.machineOK {
		machine = ms(u.machine)
	}
	if u.procOK {
		process = ms(u.process)
	}
	return machine, process
}

// percentOfCore returns the CPU used as a percentage of one core over the phase,
// nil where unknown.
func (u cpuUse) percentOfCore() (machine, process *float64) {
	if u.elapsed <= 0 {
		return nil, nil
	}
	pct := func(d time.Duration) *float64 {
		v := 100 * d.Seconds() / u.elapsed.Seconds()
		return &v
	}
	if u.machineOK {
		machine = pct(u.machine)
	}
	if u.procOK {
		process = pct(u.process)
	}
	return machine, process
}

// fmtOpt prints an optional figure, "n/a" when it is unknown (off Linux).
func fmtOpt(v *float64, format string) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf(format, *v)
}
