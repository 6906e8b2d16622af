//go:build !unix

package app

// processCPUSeconds is unavailable here; the CPU figures read 0.
func processCPUSeconds() float64 { return 0 }

// processMajorFaults is unavailable here; it reads 0.
func processMajorFaults() int64 { return 0 }
