package store

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults applied by Open to zero Options fields.
const (
	DefaultRetention          = 15 * 24 * time.Hour
	DefaultIngestLogRetention = time.Hour
	// Badger's memory: each memtable's arena is allocated at once (about
	// MemTableSize plus 15 %), and its write-ahead log is a memory-mapped
	// file of about twice MemTableSize. omen's LSM writes are feature
	// vectors, predictions and index keys (ingest batches go to the value
	// log), a few hundred KB/s at 100,000 series, so small memtables
	// flush every few minutes. Badger's own defaults are 64 MiB × 5
	// memtables, 256 MiB block cache and 1 GiB value-log files.
	DefaultMemTableSize     = 16 << 20
	DefaultNumMemtables     = 2
	DefaultBlockCacheSize   = 16 << 20
	DefaultIndexCacheSize   = 8 << 20
	DefaultValueLogFileSize = 128 << 20
)

// Options configure Open. The zero value of every field but Path (or
// InMemory) is valid and means the documented default.
type Options struct {
	// Path is the directory holding the database. Required unless InMemory.
	Path string
	// InMemory keeps everything in memory (tests); Path must then be empty.
	InMemory bool
	// Retention is how long feature vectors, events, predictions,
	// explanations, entities, resolved alert states and undelivered outbox
	// items are kept. Default DefaultRetention (15 days).
	Retention time.Duration
	// IngestLogRetention is how long raw batches are kept: long enough to
	// rebuild the in-memory PromQL window after a restart. Default
	// DefaultIngestLogRetention (1 hour).
	IngestLogRetention time.Duration
	// SyncWrites fsyncs every write before it returns. Writes are fsync'd
	// by default (the zero value of this field does not turn that off, so
	// that Options{Path: p} is durable); setting it is equivalent to the
	// default. Use NoSync to trade durability for speed.
	SyncWrites bool
	// NoSync disables fsync on write (benchmarks, throw-away stores). A
	// crash may then lose acknowledged writes. Setting both NoSync and
	// SyncWrites is an error.
	NoSync bool
	// DisableIngestCompression stores ingest-log batches without snappy
	// (they are compressed by default).
	DisableIngestCompression bool
	// MemTableSize is the size of one Badger memtable in bytes (its
	// arena is allocated whole). Default DefaultMemTableSize (16 MiB).
	MemTableSize int64
	// NumMemtables is how many memtables (the active one plus those
	// waiting to be flushed) may be held. Default DefaultNumMemtables (2).
	NumMemtables int
	// BlockCacheSize is Badger's cache of LSM blocks in bytes (reads of
	// vectors and predictions). Default DefaultBlockCacheSize (16 MiB).
	BlockCacheSize int64
	// IndexCacheSize is Badger's cache of table indexes and bloom
	// filters in bytes. Default DefaultIndexCacheSize (8 MiB).
	IndexCacheSize int64
	// ValueLogFileSize is the size of one value-log file in bytes
	// (ingest batches and model chunks); smaller files let value-log GC
	// reclaim expired batches sooner. Default DefaultValueLogFileSize
	// (128 MiB).
	ValueLogFileSize int64
	// DiskReserve is the free space, in bytes, that the store's
	// filesystem must keep: below it every write (except RunRetention, the
	// outbox and alert-state writes and the model registry's promotions,
	// rollbacks and deletes, which go on down to half of it) fails with an
	// error wrapping ErrDiskFull, and Open refuses to start (OpenRegistry
	// opens down to half of it). Badger maps files it has not
	// reserved disk blocks for, so writing into a full filesystem kills the
	// process with SIGBUS instead of returning an error; the reserve covers
	// what Badger may allocate next. Default DefaultDiskReserve(
	// ValueLogFileSize, MemTableSize): two value-log files, two memtable
	// logs and 64 MiB (352 MiB with the defaults). Negative disables the
	// check. Free space is read at Open, every 2 seconds, and by a write
	// when the last read is over 100 ms old (Linux only; elsewhere it is
	// not watched).
	DiskReserve int64
	// DiskFree returns the bytes available on the filesystem holding dir
	// (statfs on Linux). Tests set it to simulate a full disk; nil means
	// the platform's.
	DiskFree func(dir string) (uint64, error)
	// diskInterval is how often free space is re-read (tests); default
	// defaultDiskInterval.
	diskInterval time.Duration
	// Now is the clock (default time.Now); tests set it.
	Now func() time.Time
	// Logger receives Badger's and the store's log lines. Default: discard.
	Logger *slog.Logger
	// Registerer receives the store's metrics. Default: none registered.
	Registerer prometheus.Registerer
}

func (o *Options) applyDefaults() {
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.IngestLogRetention == 0 {
		o.IngestLogRetention = DefaultIngestLogRetention
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.NumMemtables == 0 {
		o.NumMemtables = DefaultNumMemtables
	}
	if o.BlockCacheSize == 0 {
		o.BlockCacheSize = DefaultBlockCacheSize
	}
	if o.IndexCacheSize == 0 {
		o.IndexCacheSize = DefaultIndexCacheSize
	}
	if o.ValueLogFileSize == 0 {
		o.ValueLogFileSize = DefaultValueLogFileSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DiskReserve == 0 {
		o.DiskReserve = DefaultDiskReserve(o.ValueLogFileSize, o.MemTableSize)
	}
	if o.DiskFree == nil && diskWatched {
		o.DiskFree = statfsFree
	}
	if o.diskInterval == 0 {
		o.diskInterval = defaultDiskInterval
	}
}

func (o *Options) validate() error {
	var errs []error
	switch {
	case o.InMemory && o.Path != "":
		errs = append(errs, errors.New("path must be empty when in-memory"))
	case !o.InMemory && o.Path == "":
		errs = append(errs, errors.New("path is required"))
	}
	if o.Retention < 0 {
		errs = append(errs, fmt.Errorf("negative retention %v", o.Retention))
	}
	if o.IngestLogRetention < 0 {
		errs = append(errs, fmt.Errorf("negative ingest log retention %v", o.IngestLogRetention))
	}
	if o.MemTableSize < 1<<20 || o.MemTableSize > 1<<30 {
		errs = append(errs, fmt.Errorf("memtable size %d outside 1 MiB..1 GiB", o.MemTableSize))
	}
	if o.NumMemtables < 1 || o.NumMemtables > 16 {
		errs = append(errs, fmt.Errorf("number of memtables %d outside 1..16", o.NumMemtables))
	}
	if o.BlockCacheSize < 0 || o.IndexCacheSize < 0 {
		errs = append(errs, errors.New("negative block or index cache size"))
	}
	if o.ValueLogFileSize < 1<<20 || o.ValueLogFileSize >= 2<<30 {
		errs = append(errs, fmt.Errorf("value log file size %d outside 1 MiB..2 GiB", o.ValueLogFileSize))
	}
	if o.NoSync && o.SyncWrites {
		errs = append(errs, errors.New("sync writes and no-sync are both set"))
	}
	return errors.Join(errs...)
}
