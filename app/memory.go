package app

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/omen-sre/omen/config"
)

// applyRuntimeConfig sets the garbage collector's percentage and the soft
// memory limit given in c (zero keeps the runtime's) and returns a
// function restoring the previous settings (both are process-wide).
func applyRuntimeConfig(c config.RuntimeConfig) (restore func()) {
	gogc, limit := -2, int64(-1)
	if c.GOGC > 0 {
		gogc = debug.SetGCPercent(c.GOGC)
	}
	if c.MemoryLimit > 0 {
		limit = debug.SetMemoryLimit(c.MemoryLimit)
	}
	return func() {
		if gogc != -2 {
			debug.SetGCPercent(gogc)
		}
		if limit >= 0 {
			debug.SetMemoryLimit(limit)
		}
	}
}

// memoryReleaser returns heap memory the Go runtime has freed but still
// holds to the operating system. After a garbage collection the runtime
// keeps the freed spans for reuse and gives back only what exceeds about
// 110 % of its heap goal (twice the live heap with GOGC=100), so after a
// burst of ingest or an evaluation step the daemon's resident set stays
// near twice its live heap until the next burst. Every interval the
// releaser reads the runtime's counters (runtime/metrics, no
// stop-the-world) and, when the free-but-held heap exceeds both minBytes
// and a quarter of the live heap, calls debug.FreeOSMemory, which forces a
// collection and returns every free span: one extra collection per
// interval at most (about 0.1 CPU-s for a 100 MiB heap), and page faults
// when the heap grows again.
type memoryReleaser struct {
	interval time.Duration
	minBytes uint64
	logger   *slog.Logger

	samples  []metrics.Sample
	releases prometheus.Counter
	released prometheus.Counter
}

func newMemoryReleaser(interval time.Duration, minBytes int64, reg prometheus.Registerer, logger *slog.Logger) *memoryReleaser {
	f := promauto.With(reg)
	return &memoryReleaser{
		interval: interval, minBytes: uint64(max(minBytes, 0)), logger: logger,
		samples: []metrics.Sample{
			{Name: "/memory/classes/heap/free:bytes"},
			{Name: "/gc/heap/live:bytes"},
		},
		releases: f.NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "memory_releases_total",
			Help: "Times freed heap memory was returned to the operating system (runtime.memory_release_interval).",
		}),
		released: f.NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "memory_released_bytes_total",
			Help: "Freed heap memory returned to the operating system by the releaser.",
		}),
	}
}

// run checks every interval until ctx ends.
func (m *memoryReleaser) run(ctx context.Context) error {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.check()
		}
	}
}

// check releases the free heap when it is large enough; it reports
// whether it did.
func (m *memoryReleaser) check() bool {
	free, live := m.read()
	if free < m.minBytes || free < live/4 {
		return false
	}
	debug.FreeOSMemory()
	after, _ := m.read()
	m.releases.Inc()
	if free > after {
		m.released.Add(float64(free - after))
	}
	m.logger.Debug("returned freed heap memory to the OS", "free_bytes", free, "live_bytes", live, "free_after_bytes", after)
	return true
}

// read returns the free-but-held heap and the live heap in bytes.
func (m *memoryReleaser) read() (free, live uint64) {
	metrics.Read(m.samples)
	if m.samples[0].Value.Kind() == metrics.KindUint64 {
		free = m.samples[0].Value.Uint64()
	}
	if m.samples[1].Value.Kind() == metrics.KindUint64 {
		live = m.samples[1].Value.Uint64()
	}
	return free, live
}
