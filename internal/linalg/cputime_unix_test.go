//go:build unix

package linalg

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user+system) this process has used. The
// benchmarks report throughput per CPU second next to wall-clock figures,
// since the machine they run on is shared and wall time is noisy.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
