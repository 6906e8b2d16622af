//go:build unix

package app

import (
	"syscall"
	"time"
)

// processUsage returns the process's resource usage (zero when unknown).
func processUsage() syscall.Rusage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return syscall.Rusage{}
	}
	return ru
}

// processCPUSeconds returns the user plus system CPU time of the process.
func processCPUSeconds() float64 {
	ru := processUsage()
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// processMajorFaults returns the page faults of the process that read
// from disk.
func processMajorFaults() int64 { return processUsage().Majflt }
