package app

import (
	"context"
	"log/slog"
	"runtime"
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
// stop-the-world) and, when the free-but-held heap plus the garbage
// since the last collection exceed minBytes, calls debug.FreeOSMemory, which forces a collection and
// returns every free span (some 0.05–0.1 CPU-s for a 100 MiB heap), and
// page faults when the heap grows again; see check for the collections
// it forces when the daemon is quiet (at most three per interval, and at
// most one such spell between two collections of the runtime's own).
//
// With filesDir set (absolute, symbolic links resolved), every interval
// it also pages out the resident pages of the files mapped under filesDir
// (Badger's memory-mapped tables, value log and memtable logs;
// pageOutFiles), which would otherwise stay in the daemon's resident set:
// clean ones are read again from disk when touched.
type memoryReleaser struct {
	interval time.Duration
	minBytes uint64
	filesDir string
	logger   *slog.Logger

	samples  []metrics.Sample
	releases prometheus.Counter
	released prometheus.Counter
	pagedOut prometheus.Counter
	warned   bool // a pass found no mapped file: warned once

	prevCycles   uint64 // collections at the previous check
	forcedCycles uint64 // collections right after check's last release
}

func newMemoryReleaser(interval time.Duration, minBytes int64, filesDir string, reg prometheus.Registerer, logger *slog.Logger) *memoryReleaser {
	f := promauto.With(reg)
	if filesDir != "" {
		if err := pageOutSupported(); err != nil {
			logger.Warn("the storage's memory-mapped files stay resident: paging out is not available", "err", err)
			filesDir = ""
		}
	}
	return &memoryReleaser{
		interval: interval, minBytes: uint64(max(minBytes, 0)), filesDir: filesDir, logger: logger,
		samples: []metrics.Sample{
			{Name: "/memory/classes/heap/free:bytes"},
			{Name: "/gc/heap/live:bytes"},
			{Name: "/memory/classes/heap/objects:bytes"},
			{Name: "/memory/classes/heap/released:bytes"},
			{Name: "/gc/cycles/total:gc-cycles"},
		},
		releases: f.NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "memory_releases_total",
			Help: "Times freed heap memory was returned to the operating system (runtime.memory_release_interval).",
		}),
		released: f.NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "memory_released_bytes_total",
			Help: "Freed heap memory returned to the operating system by the releaser (approximate: read from the runtime's released-heap gauge before and after).",
		}),
		pagedOut: f.NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "memory_file_mappings_paged_out_total",
			Help: "Memory mappings of the storage's files whose resident pages were paged out, summed over the passes (runtime.keep_file_pages false).",
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
			m.pageOut()
		}
	}
}

// check releases the free heap when it is large enough; it reports
// whether it did. What can be released is the free heap plus the
// garbage allocated since the last collection (after a burst no
// collection may run for a long time): FreeOSMemory collects it first.
// The objects that died before the last collection finished are not
// known to be garbage until the next one, and an idle daemon runs none:
// so when no collection has run since the previous check, check forces
// three (runtime.GC twice, then FreeOSMemory) once, whatever the figures
// say, and not again until a collection has run by itself. The later
// ones free what the first only moved: objects parked in sync.Pools
// survive one collection, and those handed to a pool by a cleanup
// (runtime.AddCleanup) two. The embedded NATS server's file store pools
// its 8 MiB message-block buffers that way (blkPoolBig); an idle daemon
// kept 8–34 MB of them after a burst. A release is itself a collection,
// so the quiet check comes an interval after it too. (So objects that
// die, or buffers pooled by a timer, after a forced spell with nothing
// allocated since stay until the next collection; and when collections
// are rarer than the interval, each is followed by three forced ones an
// interval later.)
func (m *memoryReleaser) check() bool {
	// No threshold relative to the live heap: the runtime's live figure
	// is that of the last collection, which after a burst may be the
	// burst's, and no collection runs while the daemon idles.
	st := m.read()
	quiet := st.cycles == m.prevCycles && st.cycles != m.forcedCycles
	m.prevCycles = st.cycles
	if st.free+st.garbage < m.minBytes && !quiet {
		return false
	}
	if quiet {
		runtime.GC()
		runtime.GC()
	}
	debug.FreeOSMemory()
	after := m.read()
	m.prevCycles = after.cycles
	if quiet {
		m.forcedCycles = after.cycles
	}
	m.releases.Inc()
	released := after.released - min(after.released, st.released)
	m.released.Add(float64(released))
	m.logger.Debug("returned freed heap memory to the OS", "released_bytes", released, "live_bytes", after.live, "idle", quiet)
	return true
}

// pageOut pages out the files mapped under filesDir, if set. After an
// error (EPERM) it logs and stops; a pass that finds no mapped file
// (Badger always maps its value log and memtable log) is logged once.
func (m *memoryReleaser) pageOut() {
	if m.filesDir == "" {
		return
	}
	n, err := pageOutFiles(m.filesDir)
	m.pagedOut.Add(float64(n))
	if err != nil {
		m.logger.Warn("stopped paging out the storage's memory-mapped files", "err", err)
		m.filesDir = ""
		return
	}
	if n == 0 && !m.warned {
		m.warned = true
		m.logger.Warn("no memory-mapped storage file found to page out", "dir", m.filesDir)
	}
	m.logger.Debug("paged out the storage's memory-mapped files", "mappings", n)
}

// heapState is what the releaser reads of the runtime's counters, in
// bytes: the free-but-held heap, the live heap at the last collection,
// the heap objects allocated since that are not live (garbage, or live
// objects allocated since), the heap returned to the OS, and the
// collections so far.
type heapState struct {
	free, live, garbage, released, cycles uint64
}

func (m *memoryReleaser) read() heapState {
	metrics.Read(m.samples)
	u := func(i int) uint64 {
		if m.samples[i].Value.Kind() == metrics.KindUint64 {
			return m.samples[i].Value.Uint64()
		}
		return 0
	}
	st := heapState{free: u(0), live: u(1), released: u(3), cycles: u(4)}
	if objs := u(2); objs > st.live {
		st.garbage = objs - st.live
	}
	return st
}
