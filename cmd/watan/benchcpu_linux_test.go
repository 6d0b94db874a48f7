package main

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
	if s := takeCPUSample(); !s.machineOK || !s.processOK {
		t.Fatalf("sample on Linux: %+v", s)
	}
}
