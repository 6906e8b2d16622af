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
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
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
	if o.NoSync && o.SyncWrites {
		errs = append(errs, errors.New("sync writes and no-sync are both set"))
	}
	return errors.Join(errs...)
}
