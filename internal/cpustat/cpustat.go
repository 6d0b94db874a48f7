// Package cpustat reads how much CPU time the machine and this process have used,
// for benchmarks that report CPU per order or per check. The machine's figure
// covers every process on it, the database on the same machine included; the
// process's figure is watan's alone. Both are known on Linux only; elsewhere a
// Sample says so and the figures derived from it are nil.
package cpustat

import "time"

// Sample is the CPU time used so far, taken at At.
type Sample struct {
	At time.Time
	// Machine is the time all CPUs together spent neither idle nor waiting for
	// I/O since boot (/proc/stat); MachineOK is false where that is not known.
	Machine   time.Duration
	MachineOK bool
	// Process is this process's user and system time.
	Process   time.Duration
	ProcessOK bool
}

// Take samples the CPU time used so far.
func Take() Sample {
	s := Sample{At: time.Now()}
	s.Machine, s.MachineOK = MachineBusy()
	s.Process, s.ProcessOK = processTime()
	return s
}

// Use is the CPU time used between two samples.
type Use struct {
	Elapsed              time.Duration
	Machine, Process     time.Duration
	MachineOK, ProcessOK bool
}

// Until is what was used from s to the later sample t.
func (s Sample) Until(t Sample) Use {
	return Use{Elapsed: t.At.Sub(s.At), Machine: t.Machine - s.Machine, Process: t.Process - s.Process,
		MachineOK: s.MachineOK && t.MachineOK, ProcessOK: s.ProcessOK && t.ProcessOK}
}

// PerOp returns the CPU milliseconds per operation of n, nil where unknown.
func (u Use) PerOp(n int) (machine, process *float64) {
	if n <= 0 {
		return nil, nil
	}
	return u.scaled(func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) })
}

// PercentOfCore returns the CPU used as a percentage of one core over the
// elapsed time, nil where unknown.
func (u Use) PercentOfCore() (machine, process *float64) {
	if u.Elapsed <= 0 {
		return nil, nil
	}
	return u.scaled(func(d time.Duration) float64 { return 100 * d.Seconds() / u.Elapsed.Seconds() })
}

func (u Use) scaled(f func(time.Duration) float64) (machine, process *float64) {
	if u.MachineOK {
		v := f(u.Machine)
		machine = &v
	}
	if u.ProcessOK {
		v := f(u.Process)
		process = &v
	}
	return machine, process
}

// Reporter is what a benchmark (testing.B) reports metrics to.
type Reporter interface {
	ReportMetric(n float64, unit string)
}

// Report reports u per operation of n to r as "machine-cpu-ms/<per>" and
// "process-cpu-ms/<per>", leaving out what is not known.
func (u Use) Report(r Reporter, n int, per string) {
	machine, process := u.PerOp(n)
	if machine != nil {
		r.ReportMetric(*machine, "machine-cpu-ms/"+per)
	}
	if process != nil {
		r.ReportMetric(*process, "process-cpu-ms/"+per)
	}
}
