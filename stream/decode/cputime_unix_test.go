//go:build unix

package decode

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user+system) the process has used, so
// that benchmarks can report throughput per CPU-second, which stays
// meaningful on a machine shared with other loads.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
