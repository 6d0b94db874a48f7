package cpustat

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// userHZ is the unit of /proc/stat: USER_HZ, 100 on every Linux architecture Go
// supports (the kernel converts to it whatever its internal tick rate).
const userHZ = 100

// MachineBusy reads the aggregate "cpu" line of /proc/stat: user nice system idle
// iowait irq softirq steal (guest time is already counted in user and nice). Busy
// is the total less idle and iowait.
func MachineBusy() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	return parseProcStat(b)
}

func parseProcStat(b []byte) (time.Duration, bool) {
	var err error
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 9 || string(f[0]) != "cpu" {
			continue
		}
		var ticks [8]uint64
		for i := range ticks {
			if ticks[i], err = strconv.ParseUint(string(f[i+1]), 10, 64); err != nil {
				return 0, false
			}
		}
		var total uint64
		for _, t := range ticks {
			total += t
		}
		busy := total - ticks[3] - ticks[4]
		return time.Duration(busy) * time.Second / userHZ, true
	}
	return 0, false
}

func processTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
