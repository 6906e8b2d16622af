package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// ErrNotFound is returned (wrapped) when a requested record does not exist.
var ErrNotFound = errors.New("not found")

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("store closed")

// Store is omen's durable state. All methods are safe for concurrent use.
// Slices passed in are not retained after a method returns; slices and
// values handed to callbacks or returned belong to the caller.
type Store struct {
	db     *badger.DB
	opts   Options
	logger *slog.Logger
	m      metrics

	valueThreshold int // values at least this long go to the value log
	deletedKept    int // registryDeleted; tests lower it

	testCommitHook    func(group []*part) error // tests: runs before each ingest commit
	testAfterDedup    func(waits int)           // tests: runs after deduplication, under the ingest lock
	testRetentionHook func()                    // tests: runs before each retention step and GC pass
	testIndexScan     func()                    // tests: runs in EachLatest's build, its snapshot taken

	// life counts the calls using the database (enter/exit), so that
	// Close waits for them; after Close starts, enter fails at once.
	life      sync.Mutex
	closed    bool
	calls     int           // calls in flight
	closeDone chan struct{} // closed once the database is closed
	closeErr  error         // set before closeDone is closed

	ing      ingestState
	gc       groupCommitter
	latestMu sync.Mutex // serialises latest-prediction and entity read-modify-writes
	newest   newestLatest
	index    latestIndex
	outMu    sync.Mutex // serialises outbox and alert-state read-modify-writes
	regMu    sync.Mutex // serialises registry changes
	schemaMu sync.Mutex

	active atomic.Pointer[activeModel]
	schema atomic.Pointer[Schema]

	disk diskState

	corruptAtOpen int // records found corrupt by init, counted once the metrics exist

	created    int64        // ms: the store's creation time ('I'), read or set by init
	lastBackup atomic.Int64 // ms: the last successful backup's time ('B'); 0: none
}

type metrics struct {
	writes    *prometheus.CounterVec
	writeSec  *prometheus.HistogramVec
	retention *prometheus.CounterVec
	dups      prometheus.Counter
	commits   prometheus.Counter
	corrupt   prometheus.Counter
	refused   *prometheus.CounterVec
	invalid   *prometheus.CounterVec
	runs      *prometheus.CounterVec
	lastRun   prometheus.Gauge

	backups       *prometheus.CounterVec
	backupLastOK  prometheus.Gauge
	backupLastBad prometheus.Gauge
	backupBytes   prometheus.Counter
	backupSeconds prometheus.Histogram
}

// Open opens (creating if needed) the store described by opts.
func Open(opts Options) (*Store, error) { return open(opts, false) }

// OpenRegistry opens the store as Open does, to manage its model registry
// while no daemon runs (omen model list, promote, rollback, delete): it
// opens while the free space on the store's filesystem is below
// Options.DiskReserve too, down to half of it, where Open refuses. That is
// the floor the running daemon keeps for its small writes (retention, the
// alert pipeline, registry changes): Badger maps its new memtable and
// value-log files sparse, so opening writes only the few pages that the
// registry's records and Badger's manifest take. Writes are refused as
// they are in a store Open opened (uploads below the reserve; promotions,
// rollbacks and deletes below half of it).
func OpenRegistry(opts Options) (*Store, error) { return open(opts, true) }

func open(opts Options, registry bool) (*Store, error) {
	opts.applyDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("open store: invalid options: %w", err)
	}
	bo := badgerOptions(opts)
	s := &Store{opts: opts, logger: opts.Logger, valueThreshold: int(bo.ValueThreshold), deletedKept: registryDeleted}
	s.disk.free.Store(-1)
	s.disk.watched = !opts.InMemory && opts.DiskReserve >= 0 && opts.DiskFree != nil
	// Refuse to start on a nearly full disk: Badger's Open maps new
	// memtable and value-log files and would die of SIGBUS.
	s.disk.opening = true
	free := s.checkDisk()
	s.disk.opening = false
	if s.disk.low.Load() {
		switch {
		case !registry:
			return nil, fmt.Errorf("open store %q: %w", opts.Path, s.diskFullError(free))
		case free < opts.DiskReserve/2:
			return nil, fmt.Errorf("open store %q to manage the model registry: %w; it opens down to half the reserve, %d bytes (%.0f MiB)",
				opts.Path, s.diskFullError(free), opts.DiskReserve/2, mib(opts.DiskReserve/2))
		}
	}
	if !opts.InMemory {
		if err := checkFiles(opts.Path, bo); err != nil {
			return nil, openError(opts.Path, err)
		}
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, openError(opts.Path, err)
	}
	s.db = db
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %q: %w", opts.Path, err)
	}
	s.registerMetrics(opts.Registerer)
	s.m.corrupt.Add(float64(s.corruptAtOpen))
	if s.disk.watched {
		s.disk.stop = make(chan struct{})
		s.disk.done = make(chan struct{})
		go s.watchDisk(opts.diskInterval)
	}
	return s, nil
}

// badgerOptions are the Badger options of the store opts describes
// (defaults applied): Open's, and Restore's for the store it writes.
func badgerOptions(opts Options) badger.Options {
	bo := badger.DefaultOptions(opts.Path).
		WithInMemory(opts.InMemory).
		WithSyncWrites(!opts.NoSync && !opts.InMemory).
		WithLogger(badgerLogger{opts.Logger}).
		WithNumGoroutines(2).
		WithNumCompactors(2).
		WithMetricsEnabled(false).
		// Ingest batches (kilobytes) and model chunks go to the value log,
		// keeping the LSM tree small; vectors, predictions and indexes
		// stay in the LSM tree.
		WithValueThreshold(1 << 10).
		// No block compression: the LSM holds float vectors and keys,
		// which snappy barely shrinks, and compressing a flushed memtable
		// pools buffers of several times its size.
		WithCompression(options.None).
		WithMemTableSize(opts.MemTableSize).
		WithNumMemtables(opts.NumMemtables).
		WithValueLogFileSize(opts.ValueLogFileSize).
		WithBlockCacheSize(opts.BlockCacheSize).
		WithIndexCacheSize(opts.IndexCacheSize)
	if opts.InMemory {
		// No value log in memory: values up to 1 MiB live in the tree.
		bo = bo.WithMemTableSize(min(opts.MemTableSize, 16<<20)).WithBlockCacheSize(min(opts.BlockCacheSize, 8<<20)).WithIndexCacheSize(0).
			WithValueThreshold(1 << 20)
	}
	return bo
}

// openError wraps an error of opening the database at dir: a directory
// another process holds wraps ErrInUse (Badger's own message says only
// "Another process is using this Badger database").
func openError(dir string, err error) error {
	if errors.Is(err, ErrInUse) || strings.Contains(err.Error(), "Cannot acquire directory lock") {
		return fmt.Errorf("open store %q: %w: another omen holds it (omen run, omen model or omen train while they work, or omen store verify); "+
			"stop it, or give this one another storage path", dir, ErrInUse)
	}
	return fmt.Errorf("open store %q: %w", dir, err)
}

func (s *Store) init() error {
	isNew, err := s.checkFormat()
	if err != nil {
		return err
	}
	if err := s.loadTimes(isNew); err != nil {
		return err
	}
	if err := s.ing.load(s.db); err != nil {
		return fmt.Errorf("load ingest log position: %w", err)
	}
	if err := s.loadActive(); err != nil {
		return fmt.Errorf("load model registry: %w", err)
	}
	if err := s.loadSchema(); err != nil {
		return fmt.Errorf("load schema: %w", err)
	}
	return nil
}

// formatVersion is the on-disk layout version stored under keyFormat.
// Version 2 writes prediction history records without the entity and time
// their key holds (see encodePredictionAt); a version-1 store is upgraded
// in place when opened, since this code reads both record formats. An
// older omen refuses a version-2 store at Open ("unsupported store
// format"), instead of failing later on the records it cannot read.
const formatVersion = 2

// checkFormat checks the store's format version, writing it in a new
// store (isNew).
func (s *Store) checkFormat() (isNew bool, err error) {
	err = s.db.Update(func(txn *badger.Txn) error {
		it, err := txn.Get(keyFormat)
		if errors.Is(err, badger.ErrKeyNotFound) {
			isNew = true
			return txn.Set(keyFormat, []byte{formatVersion})
		}
		if err != nil {
			return err
		}
		var v []byte
		if v, err = it.ValueCopy(nil); err != nil {
			return err
		}
		switch {
		case len(v) == 1 && v[0] == formatVersion:
			return nil
		case len(v) == 1 && v[0] == 1:
			s.logger.Warn("store format upgraded: an omen older than this one cannot open it any more", "path", s.opts.Path, "from", 1, "to", formatVersion)
			return txn.Set(keyFormat, []byte{formatVersion})
		}
		return fmt.Errorf("unsupported store format %v (this omen reads formats 1 and %d; a newer omen wrote it?)", v, formatVersion)
	})
	return isNew, err
}

func (s *Store) registerMetrics(reg prometheus.Registerer) {
	f := promauto.With(reg)
	s.m.writes = f.NewCounterVec(prometheus.CounterOpts{
		Namespace: "omen", Subsystem: "store", Name: "writes_total",
		Help: "Records written to the store, by kind.",
	}, []string{"kind"})
	s.m.writeSec = f.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "omen", Subsystem: "store", Name: "write_seconds",
		Help:    "Duration of store write calls (including fsync), by kind.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
	}, []string{"kind"})
	s.m.retention = f.NewCounterVec(prometheus.CounterOpts{
		Namespace: "omen", Subsystem: "store", Name: "retention_deleted_total",
		Help: "Records deleted by retention, by kind (latest_prediction: an entity's latest-prediction record; outbox_pending: an item's per-target pending marker; dedup: an ingest deduplication key).",
	}, []string{"kind"})
	// Start every series at 0 so rates work from the first increment.
	for _, k := range []string{"batch", "vector", "event", "prediction", "explanation", "entity", "outbox", "alert_state", "step_cursor", "backup_time"} {
		s.m.writes.WithLabelValues(k)
	}
	for _, k := range []string{"batch", "vector", "event", "prediction", "latest_prediction", "explanation", "entity", "outbox", "outbox_pending", "alert_state", "dedup"} {
		s.m.retention.WithLabelValues(k)
	}
	s.m.dups = f.NewCounter(prometheus.CounterOpts{
		Namespace: "omen", Subsystem: "store", Name: "duplicate_batches_total",
		Help: "Ingest batches skipped because their (source, seq) was already stored.",
	})
	s.m.commits = f.NewCounter(prometheus.CounterOpts{
		Namespace: "omen", Subsystem: "store", Name: "ingest_commits_total",
		Help: "Ingest-log transactions committed (each is one fsync); concurrent AppendBatches calls share them.",
	})
	s.m.corrupt = f.NewCounter(prometheus.CounterOpts{
		Namespace: "omen", Subsystem: "store", Name: "corrupt_records_total",
		Help: "Stored records skipped because they did not decode.",
	})
	s.m.refused = f.NewCounterVec(prometheus.CounterOpts{
		Namespace: "omen", Subsystem: "store", Name: "writes_refused_total",
		Help: "Write calls refused because free disk space was below the reserve (ErrDiskFull), by kind.",
	}, []string{"kind"})
	for _, k := range refusedKinds {
		s.m.refused.WithLabelValues(k)
	}
	s.m.invalid = registerInvalidMetric(f)
	s.m.runs = f.NewCounterVec(prometheus.CounterOpts{
		Namespace: "omen", Subsystem: "store", Name: "retention_runs_total",
		Help: "Retention runs, by result (success, error: some step failed, refused: disk full).",
	}, []string{"result"})
	for _, r := range []string{"success", "error", "refused"} {
		s.m.runs.WithLabelValues(r)
	}
	s.m.lastRun = f.NewGauge(prometheus.GaugeOpts{
		Namespace: "omen", Subsystem: "store", Name: "retention_last_success_timestamp_seconds",
		Help: "Unix time of the last retention run that completed every step (0: none since start).",
	})
	s.m.backups = f.NewCounterVec(prometheus.CounterOpts{
		Namespace: "omen", Subsystem: "store", Name: "backups_total",
		Help: "Backups of the store (POST /api/v1/store/backup), by result (success; failed: a read or write error, a client that read nothing for the write timeout; canceled: the client went away or omen stopped).",
	}, []string{"result"})
	for _, r := range []string{"success", "failed", "canceled"} {
		s.m.backups.WithLabelValues(r)
	}
	s.m.backupLastOK = f.NewGauge(prometheus.GaugeOpts{
		Namespace: "omen", Subsystem: "store", Name: "backup_last_success_timestamp_seconds",
		Help: "Unix time at which the last successful backup through the API finished, kept in the store from start to start (a restored store: when the backup it came from was taken; 0: none ever).",
	})
	s.m.backupLastOK.Set(float64(s.lastBackup.Load()) / 1e3)
	f.NewGauge(prometheus.GaugeOpts{
		Namespace: "omen", Subsystem: "store", Name: "created_timestamp_seconds",
		Help: "Unix time at which the store was created (one an older omen made: when an omen first opened it since; a restored store: its source's, or the backup's time if that is earlier).",
	}).Set(float64(s.created) / 1e3)
	s.m.backupLastBad = f.NewGauge(prometheus.GaugeOpts{
		Namespace: "omen", Subsystem: "store", Name: "backup_last_failure_timestamp_seconds",
		Help: "Unix time at which the last failed backup stopped (0: none since start; canceled ones are not failures).",
	})
	s.m.backupBytes = f.NewCounter(prometheus.CounterOpts{
		Namespace: "omen", Subsystem: "store", Name: "backup_bytes_total",
		Help: "Bytes of backups written, those of backups that did not finish included.",
	})
	s.m.backupSeconds = f.NewHistogram(prometheus.HistogramOpts{
		Namespace: "omen", Subsystem: "store", Name: "backup_duration_seconds",
		Help:    "Duration of the successful backups.",
		Buckets: prometheus.ExponentialBuckets(0.1, 4, 8),
	})
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "omen", Subsystem: "store", Name: "disk_free_bytes",
		Help: "Bytes available on the store's filesystem, as last read (every 2 s; -1: not watched or unknown).",
	}, func() float64 { return float64(s.disk.free.Load()) })
	f.NewGauge(prometheus.GaugeOpts{
		Namespace: "omen", Subsystem: "store", Name: "disk_reserve_bytes",
		Help: "Free bytes the store keeps on its filesystem: below it, writes are refused (negative: check disabled).",
	}).Set(float64(s.opts.DiskReserve))
	if reg != nil && !s.opts.InMemory {
		reg.MustRegister(newSizeCollector(s.opts.Path))
	}
}

// observe records a write of n records of kind that started at start.
func (s *Store) observe(kind string, n int, start time.Time) {
	s.m.writes.WithLabelValues(kind).Add(float64(n))
	s.m.writeSec.WithLabelValues(kind).Observe(time.Since(start).Seconds())
}

// Close waits for calls in flight, then flushes and closes the database;
// calls made once Close has started fail with ErrClosed at once (they do
// not wait for it). Close is idempotent. It must not be called from a
// callback passed to a Store method.
func (s *Store) Close() error { return s.CloseContext(context.Background()) }

// CloseContext is Close waiting for the calls in flight only until ctx
// ends (a shutdown deadline): it then returns an error wrapping ctx.Err()
// and the last of those calls closes the database as it returns. Long
// calls (RunRetention) take a context of their own to be stopped sooner.
func (s *Store) CloseContext(ctx context.Context) error {
	s.life.Lock()
	if !s.closed {
		s.closed = true
		s.closeDone = make(chan struct{})
		if s.calls == 0 {
			// No call can enter any more: close here.
			s.life.Unlock()
			s.shutdown()
			s.life.Lock()
		}
	}
	done, calls := s.closeDone, s.calls
	s.life.Unlock()
	select {
	case <-done: // closed (here, or before): the context does not matter
		return s.closeErr
	default:
	}
	select {
	case <-done:
		return s.closeErr
	case <-ctx.Done():
		return fmt.Errorf("close store: %d calls still in flight (the last closes the database): %w", calls, ctx.Err())
	}
}

// shutdown closes the database, once: by Close, or by the last call in
// flight when Close started.
func (s *Store) shutdown() {
	s.stopDisk()
	if err := s.db.Close(); err != nil {
		s.closeErr = fmt.Errorf("close store: %w", err)
	}
	close(s.closeDone)
}

// enter starts a call: it fails with ErrClosed once Close has started,
// else holds the database open until exit.
func (s *Store) enter() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.calls++
	return nil
}

func (s *Store) exit() {
	s.life.Lock()
	s.calls--
	last := s.closed && s.calls == 0
	s.life.Unlock()
	if last {
		s.shutdown()
	}
}

// check reports ErrClosed without holding Close off (for methods that
// only delegate to others).
func (s *Store) check() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// validName rejects identifiers that cannot be embedded in keys.
func validName(what, s string) error {
	if s == "" {
		return fmt.Errorf("empty %s", what)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s %q contains a NUL byte", what, s)
	}
	return nil
}

// badgerLogger adapts slog to Badger's logger; Badger's info lines are
// logged at debug level, its debug lines below it (badgerDebugLevel).
type badgerLogger struct{ l *slog.Logger }

// badgerDebugLevel is the level of Badger's debug lines: below slog's
// debug, which --log.level cannot select, as they would bury omen's own
// debug output (a "writeRequests called" line per write batch, several
// a second).
const badgerDebugLevel = slog.LevelDebug - 4

// badgerSendError is the format of the warning Badger's Stream logs when
// its Send fails (Stream.streamKVs); its argument is Send's error.
const badgerSendError = "Error while sending: %v"

func (b badgerLogger) Errorf(f string, v ...any) { b.log(slog.LevelError, f, v) }
func (b badgerLogger) Warningf(f string, v ...any) {
	// Badger warns about its caches' hit ratios every minute ("%s might be
	// too small"); omen's workload is mostly writes, so a low ratio is
	// expected, not a problem.
	if strings.Contains(f, "might be too small") || strings.HasPrefix(f, "Cache life expectancy") {
		b.log(slog.LevelDebug, f, v)
		return
	}
	// A backup's Stream warns of the error that stopped its Send, which
	// Backup returns to its caller: one that is a context's (the backup
	// was canceled: its client went away, omen is stopping) is expected,
	// and the caller says so.
	if strings.HasPrefix(f, badgerSendError) && len(v) == 1 {
		if err, ok := v[0].(error); ok && IsCanceled(err) {
			b.log(slog.LevelDebug, f, v)
			return
		}
	}
	b.log(slog.LevelWarn, f, v)
}
func (b badgerLogger) Infof(f string, v ...any)  { b.log(slog.LevelDebug, f, v) }
func (b badgerLogger) Debugf(f string, v ...any) { b.log(badgerDebugLevel, f, v) }

func (b badgerLogger) log(level slog.Level, f string, v []any) {
	ctx := context.Background()
	if !b.l.Enabled(ctx, level) {
		return
	}
	b.l.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(f, v...)), "component", "badger")
}
