//go:build !unix

package app

// processCPUSeconds is unavailable here; the CPU figures read 0.
func processCPUSeconds() float64 { return 0 }
