//go:build !unix

package decode

import "time"

// processCPU is unavailable here; benchmarks then omit samples/cpu-s.
func processCPU() time.Duration { return 0 }
