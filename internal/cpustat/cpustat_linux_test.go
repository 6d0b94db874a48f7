package cpustat

import (
	"testing"
	"time"
)

func TestParseProcStatCountsBusyTime(t *testing.T) {
	stat := []byte("cpu  100 5 50 1000 20 3 2 1 7 0\ncpu0 50 2 25 500 10 1 1 0 0 0\nintr 1 2 3\n")
	busy, ok := parseProcStat(stat)
	// user+nice+system+irq+softirq+steal = 161 ticks of 10 ms; idle, iowait and
	// guest (already in user) are not busy.
	if !ok || busy != 1610*time.Millisecond {
		t.Fatalf("busy = %v, %v; want 1.61s", busy, ok)
	}
	if _, ok := parseProcStat([]byte("intr 1 2\n")); ok {
		t.Fatal("a /proc/stat without a cpu line parsed")
	}
	if s := Take(); !s.MachineOK || !s.ProcessOK {
		t.Fatalf("sample on Linux: %+v", s)
	}
}

func TestUseScalesPerOpAndPerCore(t *testing.T) {
	t0 := time.Unix(0, 0)
	a := Sample{At: t0, Machine: time.Second, MachineOK: true, Process: time.Second, ProcessOK: true}
	b := Sample{At: t0.Add(2 * time.Second), Machine: 3 * time.Second, MachineOK: true, Process: 1500 * time.Millisecond, ProcessOK: true}
	u := a.Until(b)
	m, p := u.PerOp(1000)
	if m == nil || p == nil || *m != 2 || *p != 0.5 {
		t.Fatalf("per op: %v %v, want 2 and 0.5 ms", m, p)
	}
	m, p = u.PercentOfCore()
	if m == nil || p == nil || *m != 100 || *p != 25 {
		t.Fatalf("percent of a core: %v %v, want 100 and 25", m, p)
	}
	b.MachineOK = false
	if m, _ := a.Until(b).PerOp(10); m != nil {
		t.Fatalf("machine per op from an unknown sample: %v, want nil", *m)
	}
}
