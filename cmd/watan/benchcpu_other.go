//go:build !linux

package main

import "time"

// takeCPUSample knows no CPU figures off Linux: the bench prints "n/a".
func takeCPUSample() cpuSample { return cpuSample{at: time.Now()} }
