package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrDiskFull is returned (wrapped) by every write while the free space on
// the store's filesystem is below Options.DiskReserve, and by Open when it
// is below the reserve at start. Reads keep working. Badger writes its
// memtable log, value log and tables through memory-mapped files that it
// sizes without reserving disk blocks, so on a full filesystem a write
// would not fail but kill the process (SIGBUS); refusing writes early
// keeps the daemon up.
var ErrDiskFull = errors.New("store disk full")

// Free-space watching defaults.
const (
	// diskMargin is added to Badger's next preallocations in the default
	// reserve: room for table flushes, compaction output and the
	// manifest.
	diskMargin = 64 << 20
	// defaultDiskInterval is how often the store re-reads free space.
	defaultDiskInterval = 2 * time.Second
	// diskRecheck is the age beyond which a write re-reads free space
	// itself (a statfs call) instead of trusting the watcher's last read:
	// a fast writer can fill 100 MB between two ticks of the watcher.
	diskRecheck = 100 * time.Millisecond
	// sizeRefresh is how long a computed omen_store_size_bytes is reused.
	sizeRefresh = 30 * time.Second
)

// DefaultDiskReserve is the reserve Open uses for the given (defaulted)
// value-log file and memtable sizes: two value-log files and two memtable
// logs (what Badger may map next) plus 64 MiB. With the defaults, 352 MiB.
func DefaultDiskReserve(valueLogFileSize, memTableSize int64) int64 {
	return 2*valueLogFileSize + 2*memTableSize + diskMargin
}

// diskState is the store's view of free space on its filesystem.
type diskState struct {
	watched   bool
	free      atomic.Int64 // last bytes free read (-1: unknown)
	low       atomic.Bool  // free < reserve
	readAt    atomic.Int64 // time of the last read, Unix ns
	errLogged atomic.Bool
	// opening: the check Open makes before Badger opens does not log a
	// low disk: Open's error says it, and OpenRegistry opens below the
	// reserve on purpose (omen model promote, rollback, delete).
	opening bool

	stop chan struct{}
	done chan struct{}
}

// existingDir is path or its nearest existing ancestor (Open may be given
// a directory Badger has yet to create).
func existingDir(path string) string {
	p := filepath.Clean(path)
	for {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p
		}
		p = parent
	}
}

// diskFullError describes free bytes below the reserve, wrapping
// ErrDiskFull.
func (s *Store) diskFullError(free int64) error {
	return fmt.Errorf("%w: %d bytes (%.0f MiB) free on the filesystem of %s, below the reserve of %d bytes (%.0f MiB, Options.DiskReserve)",
		ErrDiskFull, free, mib(free), s.opts.Path, s.opts.DiskReserve, mib(s.opts.DiskReserve))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// checkDisk reads free space and updates the store's state; it reports
// the bytes free, or -1 when unknown. A failing read keeps the previous
// state (logged once until a read succeeds again).
func (s *Store) checkDisk() int64 {
	d := &s.disk
	if !d.watched {
		return -1
	}
	free, err := s.opts.DiskFree(existingDir(s.opts.Path))
	if err != nil {
		if !d.errLogged.Swap(true) {
			s.logger.Warn("cannot read free disk space; writes are not refused for it", "path", s.opts.Path, "err", err)
		}
		return d.free.Load()
	}
	d.errLogged.Store(false)
	d.readAt.Store(time.Now().UnixNano())
	f := int64(min(free, uint64(1<<62)))
	d.free.Store(f)
	low := f < s.opts.DiskReserve
	if was := d.low.Swap(low); was != low && !d.opening {
		if low {
			s.logger.Error("store disk nearly full: refusing writes until space is freed",
				"path", s.opts.Path, "free_bytes", f, "reserve_bytes", s.opts.DiskReserve)
		} else {
			s.logger.Info("store disk space recovered: accepting writes again",
				"path", s.opts.Path, "free_bytes", f, "reserve_bytes", s.opts.DiskReserve)
		}
	}
	return f
}

// watchDisk re-reads free space every interval until stop is closed.
func (s *Store) watchDisk(interval time.Duration) {
	defer close(s.disk.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.disk.stop:
			return
		case <-t.C:
			s.checkDisk()
		}
	}
}

// stopDisk stops the watcher, if started. Idempotent only through Close.
func (s *Store) stopDisk() {
	if s.disk.stop != nil {
		close(s.disk.stop)
		<-s.disk.done
	}
}

// refusedKinds lists every kind a write can be refused under (the kind
// argument of enterWrite, enterAlertWrite and belowHalfReserve, and the
// label of omen_store_writes_refused_total): Open starts each at 0, so a
// rate or an alert on the counter has a series before the first refusal.
// TestRefusedKindsStartAtZero fails when a call names a kind missing here.
var refusedKinds = []string{
	// enterWrite: refused below the reserve.
	"batch", "event", "schema", "vector", "entity",
	"prediction", "explanation", "model", "step_cursor",
	// enterAlertWrite and retention: refused below half the reserve.
	"outbox", "outbox_ack", "alert_state", "alert_state_delete", "retention",
	"model_delete", "registry", "backup_time",
}

// writable fails with an error wrapping ErrDiskFull while free space is
// below the reserve. It re-reads free space when the last read is older
// than diskRecheck, and on every call while low, so writes stop before a
// fast writer fills the reserve and resume as soon as space is freed.
func (s *Store) writable(kind string) error {
	d := &s.disk
	if !d.watched {
		return nil
	}
	free := d.free.Load()
	if d.low.Load() || time.Now().UnixNano()-d.readAt.Load() > int64(diskRecheck) {
		free = s.checkDisk()
	}
	if !d.low.Load() {
		return nil
	}
	s.m.refused.WithLabelValues(kind).Inc()
	return s.diskFullError(free)
}

// enterWrite is enter for a method that writes records of kind: it also
// fails (with ErrDiskFull) while the disk is nearly full.
func (s *Store) enterWrite(kind string) error { return s.enterChecked(kind, s.writable) }

// enterAlertWrite is enterWrite for the alert pipeline's small writes
// (outbox items and acknowledgements, alert states): like retention they
// go on down to half the reserve, so that alerts, and the one saying the
// disk fills up, still reach Alertmanager while ingest is refused. Model
// deletes use it too: they free space, which is what an operator short of
// it does; and so do promotions and rollbacks (one small record: the way
// to back out of a bad model while the disk is short).
func (s *Store) enterAlertWrite(kind string) error { return s.enterChecked(kind, s.belowHalfReserve) }

// enterChecked is enter followed by the disk check of a write of kind.
func (s *Store) enterChecked(kind string, check func(kind string) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	if err := check(kind); err != nil {
		s.exit()
		return fmt.Errorf("write %s: %w", strings.ReplaceAll(kind, "_", " "), err)
	}
	return nil
}

// belowHalfReserve fails with ErrDiskFull (counted under kind) while free
// space is below half the reserve: the floor of retention and the alert
// pipeline's writes.
func (s *Store) belowHalfReserve(kind string) error {
	d := &s.disk
	if !d.watched || !d.low.Load() {
		return nil
	}
	if free := s.checkDisk(); free >= 0 && free < s.opts.DiskReserve/2 {
		s.m.refused.WithLabelValues(kind).Inc()
		return s.diskFullError(free)
	}
	return nil
}

// sizeCollector exports omen_store_size_bytes{kind}: disk space used by
// the store's files (allocated blocks on Linux, apparent sizes elsewhere),
// by kind (sst: LSM tables, vlog: value log, mem: memtable logs, other:
// manifest and the rest). The directory walk is cached for sizeRefresh.
type sizeCollector struct {
	dir  string
	desc *prometheus.Desc

	mu    sync.Mutex
	at    time.Time
	sizes map[string]int64
}

var sizeKinds = []string{"sst", "vlog", "mem", "other"}

func newSizeCollector(dir string) *sizeCollector {
	return &sizeCollector{dir: dir, desc: prometheus.NewDesc("omen_store_size_bytes",
		"Disk space used by the store's files (allocated blocks on Linux), by kind: sst (LSM tables), vlog (value log), mem (memtable logs), other; recomputed at most every 30 s.",
		[]string{"kind"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *sizeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *sizeCollector) Collect(ch chan<- prometheus.Metric) {
	sizes := c.get(time.Now())
	for _, k := range sizeKinds {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(sizes[k]), k)
	}
}

func (c *sizeCollector) get(now time.Time) map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sizes == nil || now.Sub(c.at) >= sizeRefresh {
		c.sizes = dirUsage(c.dir)
		c.at = now
	}
	return c.sizes
}

// dirUsage sums the disk usage of the files under dir by kind. Files that
// vanish during the walk (compaction) are skipped.
func dirUsage(dir string) map[string]int64 {
	sizes := make(map[string]int64, len(sizeKinds))
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return nil
		}
		kind := "other"
		switch filepath.Ext(e.Name()) {
		case ".sst":
			kind = "sst"
		case ".vlog":
			kind = "vlog"
		case ".mem":
			kind = "mem"
		}
		sizes[kind] += diskUsage(info)
		return nil
	})
	return sizes
}
