//go:build !linux

package cpustat

import "time"

// MachineBusy is not known off Linux.
func MachineBusy() (time.Duration, bool) { return 0, false }

func processTime() (time.Duration, bool) { return 0, false }
