package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/internal/redact"
	"github.com/omen-sre/omen/internal/words"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/stream"
	"github.com/omen-sre/omen/stream/decode"
)

// Config is omen's configuration file. The zero value is not valid; use
// Default or Load, which apply defaults.
type Config struct {
	// Features holds the entity labels, the PromQL feature and failure
	// label definitions and the event features. Its keys sit at the top
	// level of the file (entity_labels, step, lookback, features,
	// event_features, labels, max_series).
	features.Config `yaml:",inline"`

	Ingest      IngestConfig      `yaml:"ingest"`
	NATS        NATSConfig        `yaml:"nats"`
	RemoteWrite RemoteWriteConfig `yaml:"remote_write"`
	Prometheus  []PollerConfig    `yaml:"prometheus"`
	Alerting    AlertingConfig    `yaml:"alerting"`
	Model       ModelConfig       `yaml:"model"`
	Storage     StorageConfig     `yaml:"storage"`
	Runtime     RuntimeConfig     `yaml:"runtime"`
	// Dependencies is the static part of the dependency graph used for
	// root-cause ranking: an edge means Source calls Target.
	Dependencies []Dependency `yaml:"dependencies"`
}

// IngestConfig bounds what the NATS decoders and the remote-write
// receiver accept.
type IngestConfig struct {
	// MaxSampleAge rejects samples and events older than this (reason
	// too_old), from NATS and remote-write. Default 2h; it must cover the
	// longest NATS redelivery and remote-write backlog.
	MaxSampleAge model.Duration `yaml:"max_sample_age"`
	// MaxSampleFuture rejects samples and events further ahead of the
	// clock than this (reason too_new), from NATS and remote-write; the
	// feature head drops samples beyond it too. Default 10m.
	MaxSampleFuture model.Duration `yaml:"max_sample_future"`
}

// NATSConfig configures the JetStream source.
type NATSConfig struct {
	// Stream is the JetStream stream, created if missing. Default OMEN.
	Stream string `yaml:"stream"`
	// Durable is the durable pull consumer's name. Replicas that share it
	// share the work. Default omen.
	Durable string `yaml:"durable"`
	// FilterSubjects restrict the consumer to some subjects, for example
	// one partition per replica ([omen.*.*.p0]: metrics and events of
	// partition 0). More than one subject needs nats-server 2.10 or
	// later. Default: all of omen.metrics and omen.events. Changed for an
	// existing durable, 2.10 and later update it in place (the new
	// filter's messages before its position are not read); 2.9 cannot,
	// and omen refuses to start rather than delete the durable.
	FilterSubjects []string `yaml:"filter_subjects"`
	// DeadLetterSubject receives poison messages: a subject without
	// wildcards outside the stream's (omen.metrics, omen.events and
	// below). Changing it updates the dead-letter stream's subject at the
	// next start. Default omen.dlq.
	DeadLetterSubject string `yaml:"dead_letter_subject"`
	// DeadLetterMaxAge is how long the dead-letter stream keeps
	// messages. Default 7d.
	DeadLetterMaxAge model.Duration `yaml:"dead_letter_max_age"`
	// DeadLetterMaxBytes bounds the dead-letter stream's size on disk;
	// when full, the oldest dead letters are dropped. Default -1 (0
	// too): no bound, only dead_letter_max_age. Both are applied at every
	// start, to an existing stream too. JetStream reserves the bound
	// against the server's file store limit (max_file_store), as for
	// max_bytes: when it does not fit, omen does not start, and the error
	// names this key (lower it, or -1).
	DeadLetterMaxBytes int64 `yaml:"dead_letter_max_bytes"`
	// MaxAge is how long the stream keeps messages, acknowledged or not.
	// Default ingest.max_sample_age + 1h (3h): omen rejects older samples
	// and events as too_old when it reads them, so a longer retention only
	// serves other readers of the stream (it was 24h before 2026-11-27).
	// Applied at every start, to an existing stream too (a
	// WARN names the change; its other settings and messages are kept).
	// The stream takes about B × series × samples per day × MaxAge in
	// days of disk, B ≈ 180–220 B per Influx sample (docs/PERFORMANCE.md,
	// Disk): 14 GB for 2,000 pods at the default 3h, 111 GB at 24h. omen
	// needs only what it has not read yet (it resumes from its durable
	// consumer) and not older than max_sample_age.
	MaxAge model.Duration `yaml:"max_age"`
	// MaxBytes bounds the stream's size on disk; when full, the oldest
	// messages are dropped (acknowledged or not, so leave room for a
	// backlog: the size max_age gives plus 25 %). 0 or -1 (default): no
	// bound, only max_age. Applied at every start like max_age. JetStream
	// reserves the bound against the server's file store limit (the
	// embedded server's: 75 % of the free disk, on the filesystem of
	// --storage.path, shared with Badger), so creating or updating the
	// stream fails when the bound does not fit, with an error naming this
	// key.
	MaxBytes int64 `yaml:"max_bytes"`
	// EmbeddedMaxMemory bounds the embedded server's JetStream memory
	// storage in bytes (omen's stream uses file storage). 0: 64 MiB;
	// -1: the server's own default (75 % of the machine's memory).
	EmbeddedMaxMemory int64 `yaml:"embedded_max_memory"`

	// The decoders' per-message limits (decode.Options). 0 (or a missing
	// key) takes the default; negative is an error. A reload applies them
	// to the running consumer from its next batch of messages; the other
	// nats keys take a restart.
	//
	// MaxMessageBytes bounds a message's payload; a longer message is
	// rejected whole (too_large) and dead-lettered. Default 1 MiB (the
	// NATS server's own max_payload default).
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// MaxLabels (__name__ included) and MaxLabelValueLength (bytes, per
	// label name or value) bound a series' or event's labels; one beyond
	// them is dropped (reason too_many_labels) and the message's others
	// are stored (a message left with nothing is dead-lettered). Defaults
	// 64 and 2048, as for remote_write.
	MaxLabels           int `yaml:"max_labels"`
	MaxLabelValueLength int `yaml:"max_label_value_length"`
	// MaxInfluxFields bounds the fields of one influx line; a longer
	// line is dropped (reason malformed). Default 1024.
	MaxInfluxFields int `yaml:"max_influx_fields"`

	// The decoders' other options; a reload applies them like the limits
	// above.
	//
	// InfluxPrecision is the unit of influx line protocol timestamps:
	// 1ns (the default; what Telegraf sends), 1us (or 1µs), 1ms or 1s
	// (the leading 1 may be left out: ns, us, ms, s). A producer that
	// sends seconds or milliseconds while omen reads nanoseconds has
	// every sample rejected as too_old. It applies to every influx
	// message; the other formats carry their own units.
	InfluxPrecision string `yaml:"influx_precision"`
	// RequiredLabels are labels every sample must carry with a non-empty
	// value (after influx tag names are sanitized); a sample without one
	// is dropped (reason missing_labels) and the message's others are
	// stored. For example the entity labels, so that series no entity
	// can use do not take the feature head's max_series budget. Default
	// none. (Events are not checked: those without the entity labels
	// are dropped by the event features.)
	RequiredLabels []string `yaml:"required_labels"`
	// LabelCacheSize is the number of label sets the NATS decoder interns
	// per cache generation (two generations are kept): a series seen
	// again costs no allocation and no validation. With more active
	// series than the cache holds, series miss and are interned again,
	// at about 8 times the CPU per sample (docs/PERFORMANCE.md:
	// BenchmarkInfluxFleet against BenchmarkInfluxFleetCold). Memory:
	// about 140 bytes per cached label set of five short labels
	// (measured), so up to about 70 MiB for the default's two
	// generations. Default 262144.
	LabelCacheSize int `yaml:"label_cache_size"`
}

// DefaultNATSLabelCacheSize is nats.label_cache_size's default: room for
// the 100,000 series of a mid-sized cluster without thrashing.
const DefaultNATSLabelCacheSize = 1 << 18

// DefaultInfluxPrecision is nats.influx_precision's default.
const DefaultInfluxPrecision = "1ns"

// influxPrecisions are nats.influx_precision's accepted values.
var influxPrecisions = map[string]time.Duration{
	"1ns": time.Nanosecond, "ns": time.Nanosecond,
	"1us": time.Microsecond, "us": time.Microsecond,
	"1µs": time.Microsecond, "µs": time.Microsecond, // U+00B5 micro sign
	"1μs": time.Microsecond, "μs": time.Microsecond, // U+03BC Greek mu
	"1ms": time.Millisecond, "ms": time.Millisecond,
	"1s": time.Second, "s": time.Second,
}

// InfluxPrecisionUnit returns the unit nats.influx_precision names (the
// decoder's Precision): decode.DefaultPrecision when it is empty, an
// error naming the key and the accepted values when it names none.
func (n NATSConfig) InfluxPrecisionUnit() (time.Duration, error) {
	if n.InfluxPrecision == "" {
		return decode.DefaultPrecision, nil
	}
	if d, ok := influxPrecisions[n.InfluxPrecision]; ok {
		return d, nil
	}
	return 0, fmt.Errorf("nats.influx_precision must be one of 1ns, 1us (or 1µs), 1ms, 1s, got %q", n.InfluxPrecision)
}

// StorageConfig sizes Badger's memory (package store); 0 takes the
// store's default (store.Default*). Memtables are allocated whole, and
// each has a memory-mapped write-ahead log of about the same size.
type StorageConfig struct {
	MemTableSize     int64 `yaml:"memtable_size"`       // bytes; default 16 MiB
	NumMemtables     int   `yaml:"num_memtables"`       // default 2
	BlockCacheSize   int64 `yaml:"block_cache_size"`    // bytes; default 16 MiB
	IndexCacheSize   int64 `yaml:"index_cache_size"`    // bytes; default 8 MiB
	ValueLogFileSize int64 `yaml:"value_log_file_size"` // bytes; default 128 MiB
	// DiskReserve is the free space (bytes) below which the store refuses
	// writes (and refuses to open) instead of letting Badger's
	// preallocated memory-mapped files crash the daemon. Default: two
	// value-log files, two memtables and 64 MiB; negative disables.
	DiskReserve int64 `yaml:"disk_reserve"`
}

// StoreOptions returns the store options s sets, for a store at path
// (the daemon's and the offline commands' alike); the caller sets the
// others (logger, registerer, retention).
func (s StorageConfig) StoreOptions(path string) store.Options {
	return store.Options{
		Path:             path,
		MemTableSize:     s.MemTableSize,
		NumMemtables:     s.NumMemtables,
		BlockCacheSize:   s.BlockCacheSize,
		IndexCacheSize:   s.IndexCacheSize,
		ValueLogFileSize: s.ValueLogFileSize,
		DiskReserve:      s.DiskReserve,
	}
}

// RuntimeConfig tunes the Go runtime's memory use. Zero values keep the
// runtime's settings (the GOGC and GOMEMLIMIT environment variables, or
// GOGC=100 and no limit).
type RuntimeConfig struct {
	// GOGC is the garbage collector's target heap growth in percent
	// (debug.SetGCPercent): lower keeps less garbage for more CPU.
	GOGC int `yaml:"gogc"`
	// MemoryLimit is a soft memory limit in bytes (debug.SetMemoryLimit):
	// near it the garbage collector runs more often and the runtime
	// returns freed memory sooner.
	MemoryLimit int64 `yaml:"memory_limit"`
	// MemoryReleaseInterval is how often the daemon checks whether the
	// heap memory the runtime has freed but still holds, plus the garbage
	// since the last collection, exceeds MemoryReleaseMinBytes, and if so
	// returns it to the OS (debug.FreeOSMemory: one forced collection);
	// when no collection has run since the previous check it forces
	// three, once, to free pooled buffers too. Default 10s; negative
	// disables.
	MemoryReleaseInterval model.Duration `yaml:"memory_release_interval"`
	// MemoryReleaseMinBytes: see MemoryReleaseInterval. Default 32 MiB.
	MemoryReleaseMinBytes int64 `yaml:"memory_release_min_bytes"`
	// KeepFilePages, when true, leaves the pages of the store's
	// memory-mapped files (Badger's tables and logs) resident until the
	// kernel reclaims them. By default the daemon pages them out every
	// MemoryReleaseInterval (Linux, madvise MADV_PAGEOUT): they are page
	// cache, and touching them again reads them from disk.
	KeepFilePages bool `yaml:"keep_file_pages"`
}

// RemoteWriteConfig configures the Prometheus remote-write receiver
// (stream.RemoteWriteOptions). Its sample time window is the ingest
// section's. 0 (or a missing key) takes the default; negative is an
// error. A reload applies the limits to the running receiver (requests
// already being served keep the limits they started with); Disabled
// takes a restart.
type RemoteWriteConfig struct {
	// Disabled turns the /api/v1/write endpoint off. It takes a restart.
	Disabled bool `yaml:"disabled"`
	// MaxDecodedBytes bounds a request's snappy-decoded size (and its
	// compressed body); beyond it the request gets 413. Default 32 MiB,
	// at least 1024.
	MaxDecodedBytes int `yaml:"max_decoded_bytes"`
	// MaxSamplesPerRequest and MaxSeriesPerRequest bound the samples
	// (counted as sent) and the series of one request; beyond either the
	// request gets 413 and nothing of it is stored. Prometheus sends at
	// most queue_config.max_samples_per_send (default 2,000) per request.
	// Defaults 100,000 each.
	MaxSamplesPerRequest int `yaml:"max_samples_per_request"`
	MaxSeriesPerRequest  int `yaml:"max_series_per_request"`
	// MaxInFlight bounds the requests read, decoded and appended at once;
	// a request waits up to InFlightWait for a slot, then gets 503 with
	// Retry-After. The receiver's memory is about MaxInFlight × (2 ×
	// MaxDecodedBytes + 40 B × MaxSamplesPerRequest). Defaults 4 and 5s.
	MaxInFlight  int            `yaml:"max_in_flight"`
	InFlightWait model.Duration `yaml:"in_flight_wait"`
	// MaxLabels (__name__ included) and MaxLabelValueLength (bytes, per
	// label name or value) bound a series' labels; a series beyond them
	// is refused (reason too_many_labels; the request's other series are
	// stored, then 400). Defaults 64 and 2048, those of the NATS decoders.
	MaxLabels           int `yaml:"max_labels"`
	MaxLabelValueLength int `yaml:"max_label_value_length"`
	// LabelCacheSize (label sets) and LabelCacheBytes (estimated bytes)
	// bound the cache of interned label sets. Defaults 262144 and 128 MiB.
	LabelCacheSize  int `yaml:"label_cache_size"`
	LabelCacheBytes int `yaml:"label_cache_bytes"`
	// AppendTimeout bounds storing one request's samples; beyond it the
	// request gets 503. Default 30s.
	AppendTimeout model.Duration `yaml:"append_timeout"`
}

// PollerConfig configures one Prometheus server polled with the feature
// queries.
type PollerConfig struct {
	// URL is the server's base URL (http://prometheus:9090), with the
	// path it is served under behind a reverse proxy or with
	// --web.route-prefix (or a Kubernetes API server's proxy,
	// …/api/v1/namespaces/NS/services/NAME:PORT/proxy), not ending with
	// the API's path (…/api/v1, …/api/v1/query, …/api/v1/label/…: an
	// endpoint of the API after /api/v1) and without a fragment; a query
	// string (a proxy's tenant or token) is sent with every query, the
	// values of its parameters (any may be a secret: redact.URL) and its
	// password hidden (xxxxx) in logs, metric labels and errors. Two
	// entries whose pollers' source (Name, else the URL as shown) would
	// be one are refused.
	URL string `yaml:"url"`
	// Name, when set, names the poller: its source, a metric label and
	// log attribute, is prometheus/<name> instead of prometheus/<URL with
	// its secrets hidden>. Letters, digits, "_", ".", ":" and "-";
	// unique. Pollers whose URLs differ only in hidden parts (a
	// prom-label-proxy's ?namespace=team-a and ?namespace=team-b, or a
	// password) need one each.
	Name string `yaml:"name"`
	// Backfill is how much history query_range fetches at start, into
	// the in-memory window the features read (lookback): the first steps'
	// range functions then have their data. The window keeps at most
	// lookback, so a longer backfill is cut to it; the evaluator starts
	// at the newest step (history to train on comes from omen train
	// --source prometheus). Default: lookback.
	Backfill model.Duration `yaml:"backfill"`
	// Timeout per query. Default 30s.
	Timeout model.Duration `yaml:"timeout"`
	// HTTPClientConfig: tls_config, basic_auth and authorization, as in
	// Prometheus's configuration. Like the other keys of an entry, they
	// take a restart; the files they name are read again without one.
	HTTPClientConfig `yaml:",inline"`
}

// AlertingConfig configures alerts sent to Alertmanager.
type AlertingConfig struct {
	// Alertmanagers receive every alert (list both members of an HA pair).
	Alertmanagers []AlertmanagerConfig `yaml:"alertmanagers"`
	// ResendDelay is how often firing alerts are re-sent. Default 1m.
	ResendDelay model.Duration `yaml:"resend_delay"`
	// For is how many consecutive steps the probability must stay at or
	// over the threshold before the alert fires. Default 2.
	For int `yaml:"for"`
	// ResolveRatio sets the lower (resolve) threshold as a fraction of the
	// firing threshold (hysteresis). Default 0.8.
	ResolveRatio float64 `yaml:"resolve_ratio"`
	// ResolveFor is how many consecutive evaluation steps the probability
	// must stay below the resolve threshold before a firing alert
	// resolves (at the last of them); a step at or over it starts the
	// count again. Default 1: the first step below resolves. At a
	// calibrated, low threshold one dip below can resolve an alert shortly
	// before the failure it predicted: 2 or 3 keep it firing. An entity
	// without predictions still resolves after 3 steps.
	ResolveFor int `yaml:"resolve_for"`
	// CriticalProbability is the probability from which an alert's
	// severity label is critical rather than warning, in (0, 1]: at fire
	// time, and while it fires (a warning alert escalates to critical at
	// the first step its probability reaches it, and stays critical until
	// it resolves). Default (0 or unset): the model's, the critical
	// probability its training chose on validation (model.Thresholds'
	// Critical, midway between its failure threshold and the highest
	// validation probability, at least a quarter of the threshold's
	// distance to 0 or 1 over it), or 0.9 for a model file without one
	// (written before it was recorded). Set, it applies to every model:
	// one whose failure threshold is at or above it sends only critical
	// alerts (omen train warns), one whose probabilities never reach it
	// only warnings.
	CriticalProbability float64 `yaml:"critical_probability"`
	// MinLead is the least median warning time training asks of the
	// failure threshold on the validation data (omen train): when the
	// most accurate threshold warns later, a lower one is taken, at the
	// cost of more false alerts, provided validation holds at least 10
	// predicted failures (fewer say too little). Default 0: none.
	MinLead model.Duration `yaml:"min_lead"`
	// ExternalURL is omen's URL as seen by SREs, used in generatorURL and
	// explanation_url. Default http://<web.listen-address>.
	ExternalURL string `yaml:"external_url"`
	// AlertmanagerUIURL is Alertmanager's URL as seen by SREs, which a
	// firing alert's page in omen's UI links to. Default: the first of
	// Alertmanagers (then --alertmanager.url), the URL omen posts to.
	// Without an Alertmanager to send to there is no link.
	AlertmanagerUIURL string `yaml:"alertmanager_ui_url"`
	// Remediations map cause classes to recommended actions; they extend
	// and override the built-in table.
	Remediations []Remediation `yaml:"remediations"`
}

// AlertmanagerConfig is one Alertmanager.
type AlertmanagerConfig struct {
	URL string `yaml:"url"`
	// HTTPClientConfig: tls_config, basic_auth and authorization, as in
	// Prometheus's configuration; a reload applies them.
	HTTPClientConfig `yaml:",inline"`
}

// Remediation maps a cause to an action. Cause matches, case-insensitively,
// a cause's kind ("metric", "event" or "dependency") or its name (a
// feature name, never an event reason; or a blamed service), exactly or
// as a glob (see alert.Remediation).
type Remediation struct {
	Cause      string `yaml:"cause"`
	Action     string `yaml:"action"`
	RunbookURL string `yaml:"runbook_url"`
}

// ModelConfig configures the forecaster used by the daemon.
type ModelConfig struct {
	// File loads a model file at start when the registry has no active
	// model.
	File string `yaml:"file"`
}

// Dependency is one edge of the call graph.
type Dependency struct {
	Source string  `yaml:"source"`
	Target string  `yaml:"target"`
	Weight float64 `yaml:"weight"`
}

// Default returns the configuration used when no file is given.
func Default() *Config {
	c := &Config{Config: features.DefaultConfig()}
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	if c.Ingest.MaxSampleAge == 0 {
		c.Ingest.MaxSampleAge = model.Duration(2 * time.Hour)
	}
	if c.Ingest.MaxSampleFuture == 0 {
		c.Ingest.MaxSampleFuture = model.Duration(10 * time.Minute)
	}
	if c.NATS.Stream == "" {
		c.NATS.Stream = "OMEN"
	}
	if c.NATS.Durable == "" {
		c.NATS.Durable = "omen"
	}
	if c.NATS.DeadLetterSubject == "" {
		c.NATS.DeadLetterSubject = "omen.dlq"
	}
	if c.NATS.MaxAge == 0 {
		// Older messages are rejected as too_old when read: keeping them
		// only costs disk (docs/PERFORMANCE.md, Disk).
		c.NATS.MaxAge = c.Ingest.MaxSampleAge + model.Duration(time.Hour)
	}
	if c.NATS.DeadLetterMaxAge == 0 {
		c.NATS.DeadLetterMaxAge = model.Duration(stream.DefaultDLQMaxAge)
	}
	if c.NATS.DeadLetterMaxBytes == 0 {
		c.NATS.DeadLetterMaxBytes = stream.DefaultDLQMaxBytes
	}
	setDefault(&c.NATS.MaxMessageBytes, decode.DefaultMaxMessageBytes)
	setDefault(&c.NATS.MaxLabels, decode.DefaultMaxLabels)
	setDefault(&c.NATS.MaxLabelValueLength, decode.DefaultMaxLabelValueLen)
	setDefault(&c.NATS.MaxInfluxFields, decode.DefaultMaxInfluxFields)
	setDefault(&c.NATS.LabelCacheSize, DefaultNATSLabelCacheSize)
	if c.NATS.InfluxPrecision == "" {
		c.NATS.InfluxPrecision = DefaultInfluxPrecision
	}
	rw := &c.RemoteWrite
	setDefault(&rw.MaxDecodedBytes, stream.DefaultRWMaxDecodedBytes)
	setDefault(&rw.MaxSamplesPerRequest, stream.DefaultRWMaxSamplesPerRequest)
	setDefault(&rw.MaxSeriesPerRequest, stream.DefaultRWMaxSeriesPerRequest)
	setDefault(&rw.MaxInFlight, stream.DefaultRWMaxInFlight)
	setDefault(&rw.InFlightWait, model.Duration(stream.DefaultRWInFlightWait))
	setDefault(&rw.MaxLabels, decode.DefaultMaxLabels)
	setDefault(&rw.MaxLabelValueLength, decode.DefaultMaxLabelValueLen)
	setDefault(&rw.LabelCacheSize, stream.DefaultRWLabelCacheSize)
	setDefault(&rw.LabelCacheBytes, stream.DefaultRWLabelCacheBytes)
	setDefault(&rw.AppendTimeout, model.Duration(stream.DefaultRWAppendTimeout))
	for i := range c.Prometheus {
		if c.Prometheus[i].Backfill == 0 {
			c.Prometheus[i].Backfill = c.Config.Resolved().Lookback
		}
		if c.Prometheus[i].Timeout == 0 {
			c.Prometheus[i].Timeout = model.Duration(30 * time.Second)
		}
	}
	if c.Runtime.MemoryReleaseInterval == 0 {
		c.Runtime.MemoryReleaseInterval = model.Duration(10 * time.Second)
	}
	if c.Runtime.MemoryReleaseMinBytes == 0 {
		c.Runtime.MemoryReleaseMinBytes = 32 << 20
	}
	if c.Alerting.ResendDelay == 0 {
		c.Alerting.ResendDelay = model.Duration(time.Minute)
	}
	if c.Alerting.For == 0 {
		c.Alerting.For = 2
	}
	if c.Alerting.ResolveRatio == 0 {
		c.Alerting.ResolveRatio = 0.8
	}
	if c.Alerting.ResolveFor == 0 {
		c.Alerting.ResolveFor = alert.DefaultResolveFor
	}
}

func setDefault[T int | model.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// Error is a configuration error at a position in the file.
type Error struct {
	File   string
	Line   int // 1-based; 0 when unknown
	Column int // 1-based; 0 when unknown
	Msg    string
	// unknownKey is the key of an unknown-key error (see unknownKeys).
	unknownKey string
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	default:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
}

// LoadFile reads and validates a configuration file. The error lists
// every problem found (errors.Join of *Error values).
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config %q: %w", path, err)
	}
	return Load(path, data)
}

// Load parses and validates configuration data; name is used in error
// positions. Unknown fields are errors. Fields not given take the
// defaults of Default, except that a file which lists features replaces
// the default feature set as a whole.
func Load(name string, data []byte) (*Config, error) {
	c := &Config{}
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root) // positions only; Decode reports syntax errors
	// keyErrs are the unknown keys: yaml.v3 decodes the rest of the file
	// regardless, which is checked as well, so that one run reports the
	// key and the other errors.
	var keyErrs []error
	if len(bytes.TrimSpace(data)) > 0 {
		if err := decodeStrict(name, data, c, &root); err != nil {
			keyErrs = Unjoin(err)
			for _, e := range keyErrs {
				if ce := (*Error)(nil); !errors.As(e, &ce) || ce.unknownKey == "" {
					return nil, err
				}
			}
		}
		// yaml.v3 truncates a number with a fraction decoded into an
		// integer field (alerting.for: 1.5 ran as 1).
		if errs := nonIntegers(name, &root, reflect.TypeFor[Config](), nil); len(errs) > 0 {
			return nil, errors.Join(append(keyErrs, errs...)...)
		}
	}

	def := features.DefaultConfig()
	// defaulted: the top-level keys whose value is a built-in default.
	defaulted := map[string]bool{}
	if len(c.Features) == 0 && len(c.EventFeatures) == 0 && len(c.Labels) == 0 {
		c.Features, c.EventFeatures, c.Labels = def.Features, def.EventFeatures, def.Labels
		defaulted["features"], defaulted["event_features"], defaulted["labels"] = true, true, true
	}
	if len(c.EntityLabels) == 0 {
		c.EntityLabels = def.EntityLabels
		defaulted["entity_labels"] = true
	}
	if c.Step == 0 {
		c.Step = def.Step
		defaulted["step"] = true
	}
	if c.Lookback == 0 {
		c.Lookback = def.Lookback
		defaulted["lookback"] = true
	}
	if c.MaxSeries == 0 {
		c.MaxSeries = def.MaxSeries
		defaulted["max_series"] = true
	}
	c.applyDefaults()

	errs := keyErrs
	at := func(path []any, msg string) {
		line, col := position(&root, path)
		errs = append(errs, &Error{File: name, Line: line, Column: col, Msg: msg})
	}
	if err := c.Validate(); err != nil {
		for _, e := range Unjoin(err) {
			errs = append(errs, validationError(name, &root, defaulted, e))
		}
	}
	sources := map[string]int{} // poller source: the first entry showing as it
	for i, p := range c.Prometheus {
		if err := validURL(p.URL); err != nil {
			at([]any{"prometheus", i, "url"}, err.Error())
		} else if err := stream.CheckPrometheusURL(p.URL); err != nil {
			// The API's path (every query would get a 404) or a
			// fragment (the client drops it: not what was meant).
			at([]any{"prometheus", i, "url"}, fmt.Sprintf("prometheus[%d].url: %v", i, err))
		} else if _, _, d := positionDepth(&root, []any{"prometheus", i, "name"}); p.Name == "" && d == 3 {
			at([]any{"prometheus", i, "name"}, fmt.Sprintf("prometheus[%d].name is empty: name the poller or remove the key", i))
		} else if p.Name != "" && !validPollerName(p.Name) {
			at([]any{"prometheus", i, "name"}, fmt.Sprintf("prometheus[%d].name %q: use only letters, digits, '_', '.', ':' and '-'", i, p.Name))
		} else if j, ok := sources[stream.PollerSource(p.Name, p.URL)]; ok && p.Name != "" {
			at([]any{"prometheus", i, "name"}, fmt.Sprintf("prometheus[%d].name %q is prometheus[%d].name too: give each poller its own", i, p.Name, j))
		} else if ok {
			// One source label, one stale marker for two pollers: their
			// metrics merge, and one down hides behind the other.
			at([]any{"prometheus", i, "url"}, fmt.Sprintf("prometheus[%d].url shows as prometheus[%d].url, %q (password and query values hidden): the two pollers' source, in metrics, logs and the evaluator's staleness, would be one; poll each server once, or give the two entries distinct `name`s", i, j, redact.URL(p.URL)))
		} else {
			sources[stream.PollerSource(p.Name, p.URL)] = i
		}
		for _, e := range p.problems(p.URL) {
			at(append([]any{"prometheus", i}, e.key...), fmt.Sprintf("prometheus[%d].%s", i, e.msg))
		}
	}
	for i, am := range c.Alerting.Alertmanagers {
		if err := validURL(am.URL); err != nil {
			at([]any{"alerting", "alertmanagers", i, "url"}, err.Error())
		}
		for _, e := range am.problems(am.URL) {
			at(append([]any{"alerting", "alertmanagers", i}, e.key...), fmt.Sprintf("alerting.alertmanagers[%d].%s", i, e.msg))
		}
	}
	if c.Alerting.ExternalURL != "" {
		if err := validURL(c.Alerting.ExternalURL); err != nil {
			at([]any{"alerting", "external_url"}, err.Error())
		}
	}
	if c.Alerting.AlertmanagerUIURL != "" {
		if err := validURL(c.Alerting.AlertmanagerUIURL); err != nil {
			at([]any{"alerting", "alertmanager_ui_url"}, err.Error())
		}
	}
	if c.Alerting.For < 1 {
		at([]any{"alerting", "for"}, fmt.Sprintf("alerting.for must be at least 1 step, got %d", c.Alerting.For))
	}
	if r := c.Alerting.ResolveRatio; r <= 0 || r > 1 {
		at([]any{"alerting", "resolve_ratio"}, fmt.Sprintf("alerting.resolve_ratio must be in (0, 1], got %g", r))
	}
	if c.Alerting.ResolveFor < 1 {
		at([]any{"alerting", "resolve_for"}, fmt.Sprintf("alerting.resolve_for must be at least 1 step, got %d", c.Alerting.ResolveFor))
	}
	if p := c.Alerting.CriticalProbability; !(p >= 0 && p <= 1) {
		at([]any{"alerting", "critical_probability"}, fmt.Sprintf("alerting.critical_probability must be in (0, 1], or 0 or unset to follow the model's critical probability, got %g", p))
	}
	if c.Alerting.MinLead < 0 {
		at([]any{"alerting", "min_lead"}, fmt.Sprintf("alerting.min_lead must not be negative, got %s", c.Alerting.MinLead))
	}
	if c.NATS.MaxBytes < -1 {
		at([]any{"nats", "max_bytes"}, fmt.Sprintf("nats.max_bytes must be positive or -1 (no bound), got %d", c.NATS.MaxBytes))
	}
	for i := range c.NATS.FilterSubjects {
		// The first bad one, with the ones before it (overlaps).
		if err := stream.CheckFilterSubjects(c.NATS.FilterSubjects[:i+1], nil); err != nil {
			at([]any{"nats", "filter_subjects", i}, fmt.Sprintf("nats.filter_subjects[%d]: %v", i, err))
			break
		}
	}
	if err := stream.CheckDLQSubject(c.NATS.DeadLetterSubject, stream.DefaultNATSSubjects); err != nil {
		at([]any{"nats", "dead_letter_subject"}, "nats.dead_letter_subject: "+err.Error())
	}
	if c.NATS.DeadLetterMaxAge < 0 {
		at([]any{"nats", "dead_letter_max_age"}, fmt.Sprintf("nats.dead_letter_max_age must be positive, got %s", c.NATS.DeadLetterMaxAge))
	}
	if c.NATS.DeadLetterMaxBytes < -1 {
		at([]any{"nats", "dead_letter_max_bytes"}, fmt.Sprintf("nats.dead_letter_max_bytes must be positive or -1 (no bound), got %d", c.NATS.DeadLetterMaxBytes))
	}
	if c.NATS.EmbeddedMaxMemory < -1 {
		at([]any{"nats", "embedded_max_memory"}, fmt.Sprintf("nats.embedded_max_memory must be positive, 0 or -1, got %d", c.NATS.EmbeddedMaxMemory))
	}
	for _, l := range []struct {
		key string
		v   int
	}{
		{"max_message_bytes", c.NATS.MaxMessageBytes},
		{"max_labels", c.NATS.MaxLabels},
		{"max_label_value_length", c.NATS.MaxLabelValueLength},
		{"max_influx_fields", c.NATS.MaxInfluxFields},
		{"label_cache_size", c.NATS.LabelCacheSize},
	} {
		if l.v < 0 {
			at([]any{"nats", l.key}, fmt.Sprintf("nats.%s must not be negative, got %d", l.key, l.v))
		}
	}
	if _, err := c.NATS.InfluxPrecisionUnit(); err != nil {
		at([]any{"nats", "influx_precision"}, err.Error())
	}
	for i, n := range c.NATS.RequiredLabels {
		if !validLabelName(n) {
			at([]any{"nats", "required_labels", i}, fmt.Sprintf("nats.required_labels[%d]: %q is not a valid label name (letters, digits and _, not starting with a digit)", i, n))
		}
	}
	rw := c.RemoteWrite
	for _, l := range []struct {
		key      string
		negative bool
		v        any
	}{
		{"max_decoded_bytes", rw.MaxDecodedBytes < 0, rw.MaxDecodedBytes},
		{"max_samples_per_request", rw.MaxSamplesPerRequest < 0, rw.MaxSamplesPerRequest},
		{"max_series_per_request", rw.MaxSeriesPerRequest < 0, rw.MaxSeriesPerRequest},
		{"max_in_flight", rw.MaxInFlight < 0, rw.MaxInFlight},
		{"in_flight_wait", rw.InFlightWait < 0, time.Duration(rw.InFlightWait)},
		{"max_labels", rw.MaxLabels < 0, rw.MaxLabels},
		{"max_label_value_length", rw.MaxLabelValueLength < 0, rw.MaxLabelValueLength},
		{"label_cache_size", rw.LabelCacheSize < 0, rw.LabelCacheSize},
		{"label_cache_bytes", rw.LabelCacheBytes < 0, rw.LabelCacheBytes},
		{"append_timeout", rw.AppendTimeout < 0, time.Duration(rw.AppendTimeout)},
	} {
		if l.negative {
			at([]any{"remote_write", l.key}, fmt.Sprintf("remote_write.%s must not be negative, got %v", l.key, l.v))
		}
	}
	if rw.MaxDecodedBytes > 0 && rw.MaxDecodedBytes < 1024 {
		at([]any{"remote_write", "max_decoded_bytes"}, fmt.Sprintf("remote_write.max_decoded_bytes must be at least 1024, got %d", rw.MaxDecodedBytes))
	}
	if st := c.Storage; st.MemTableSize < 0 || st.NumMemtables < 0 || st.BlockCacheSize < 0 || st.IndexCacheSize < 0 || st.ValueLogFileSize < 0 {
		at([]any{"storage"}, "storage sizes must not be negative")
	}
	// The store writes records of at most half a value-log file; a batch
	// is split into several, but one event (of up to a message's size)
	// cannot be: it would be refused and dead-lettered.
	if vl := c.Storage.ValueLogFileSize; vl > 0 && int64(c.NATS.MaxMessageBytes) > vl/2 {
		at([]any{"nats", "max_message_bytes"}, fmt.Sprintf("nats.max_message_bytes (%d) must be at most half of storage.value_log_file_size (%d): the store cannot write an event larger than that", c.NATS.MaxMessageBytes, vl))
	}
	if c.Runtime.GOGC < 0 || c.Runtime.MemoryLimit < 0 || c.Runtime.MemoryReleaseMinBytes < 0 {
		at([]any{"runtime"}, "runtime gogc, memory_limit and memory_release_min_bytes must not be negative")
	}
	// What the alert pipeline refuses (omen run's start and reload check
	// it again: a Config may not come from a file), at its line.
	for i, r := range c.Alerting.Remediations {
		if err := alert.CheckRemediation(alert.Remediation{Cause: r.Cause, Action: r.Action, RunbookURL: r.RunbookURL}); err != nil {
			key := []any{"alerting", "remediations", i}
			if r.Cause != "" && r.Action != "" {
				key = append(key, "cause") // the pattern
			}
			at(key, fmt.Sprintf("alerting.remediations[%d]: %v", i, err))
		}
	}
	for i, d := range c.Dependencies {
		if d.Source == "" || d.Target == "" {
			at([]any{"dependencies", i}, "dependency needs source and target")
		}
		if d.Weight < 0 {
			at([]any{"dependencies", i, "weight"}, fmt.Sprintf("negative weight %g", d.Weight))
		}
	}
	if len(errs) > 0 {
		// In file order; errors without a line (built-in defaults) last.
		slices.SortStableFunc(errs, func(a, b error) int {
			return cmp.Compare(errLine(a), errLine(b))
		})
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// validLabelName reports whether s is a Prometheus label name
// ([a-zA-Z_][a-zA-Z0-9_]*), as the decoders require of required labels.
func validLabelName(s string) bool {
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return s != ""
}

// emptyDocument reports whether a decoded document holds nothing but a
// null (a bare "---" or comments).
func emptyDocument(n *yaml.Node) bool {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// errLine orders errors for Load: an *Error's line, MaxInt without one.
func errLine(err error) int {
	var e *Error
	if errors.As(err, &e) && e.Line > 0 {
		return e.Line
	}
	return math.MaxInt
}

// validPollerName reports whether s, a prometheus entry's name, is made of
// letters, digits, "_", ".", ":" and "-" only (and is not empty).
func validPollerName(s string) bool {
	ok := func(r rune) bool {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("_.:-", r)
	}
	for _, r := range s {
		if !ok(r) {
			return false
		}
	}
	return s != ""
}

func validURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a password
		}
		if strings.Contains(s, "@") {
			// The parser's detail may quote part of the password
			// (`invalid port ":s3" after host` for "user:s3?cret@…").
			return fmt.Errorf("invalid URL %q: does not parse (check its user:password@host part)", redact.URL(s))
		}
		return fmt.Errorf("invalid URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("invalid URL %q: scheme must be http or https", redact.URL(s))
	}
	if u.Host == "" {
		return fmt.Errorf("invalid URL %q: no host", redact.URL(s))
	}
	return nil
}

// decodeStrict decodes data, the file name, into *v (a *Config or a
// *HTTPClientConfig): a key v has no field for is an error, as is a
// second YAML document. root is data's node tree, for the positions of
// errors without a line.
func decodeStrict[T any](name string, data []byte, v *T, root *yaml.Node) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return yamlError(name, err, root, reflect.TypeFor[T]())
	}
	// A second document ("---") would be ignored silently; an empty
	// one (a trailing "---", comments) is harmless.
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return yamlError(name, err, root, reflect.TypeFor[T]())
		}
		if !emptyDocument(&next) {
			msg := "a second YAML document: the configuration is one document (remove the '---' and merge the keys)"
			if emptyDocument(root) {
				msg = "the configuration's keys follow an empty YAML document: remove the '---' before them"
			}
			return errors.Join(&Error{File: name, Line: next.Line, Column: next.Column, Msg: msg})
		}
	}
}

// yamlError turns a yaml.v3 error ("yaml: line 3: ...") into an *Error.
// An error without a line (a value's own decoder, such as a duration's:
// 'unknown unit " seconds" in duration "15 seconds"') is placed at the
// value that fails to decode into its field, found by walking root along
// t, the type decoded into (see failingValue), with its key path.
func yamlError(name string, err error, root *yaml.Node, t reflect.Type) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make([]error, 0, len(te.Errors))
		var keys []*Error
		for _, m := range te.Errors {
			e := lineError(name, m)
			if key, ok := unknownField(e.Msg); ok {
				// yaml.v3's "field lookbak not found in type
				// config.Config": said with the key's section and the
				// nearest key it takes.
				if keys == nil {
					keys = unknownKeys(name, root, t, nil, map[*yaml.Node]bool{})
				}
				e = &Error{File: name, Line: e.Line, Msg: fmt.Sprintf("unknown key %q", key), unknownKey: key}
				for _, k := range keys {
					if k.Line == e.Line && k.unknownKey == key {
						e = k
						break
					}
				}
			}
			errs = append(errs, e)
		}
		return errors.Join(errs...)
	}
	e := lineError(name, strings.TrimPrefix(err.Error(), "yaml: "))
	if e.Line == 0 {
		if n, path, ferr := failingValue(root, t, nil); n != nil && ferr.Error() == err.Error() {
			e.Line, e.Column = n.Line, n.Column
			e.Msg = pathString(path) + ": " + e.Msg
		}
	}
	// A value's own decoder stops yaml.v3 at its error: the unknown keys
	// are reported with it, as they are with a type mismatch.
	keys := unknownKeys(name, root, t, nil, map[*yaml.Node]bool{})
	if len(keys) == 0 {
		return e
	}
	errs := make([]error, 0, len(keys)+1)
	for _, k := range keys {
		errs = append(errs, k)
	}
	errs = append(errs, e)
	slices.SortStableFunc(errs, func(a, b error) int { return cmp.Compare(errLine(a), errLine(b)) })
	return errors.Join(errs...)
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// unknownField returns the key of yaml.v3's error message of a key the
// type decoded into has no field for ("field K not found in type T").
func unknownField(msg string) (string, bool) {
	rest, ok := strings.CutPrefix(msg, "field ")
	if !ok {
		return "", false
	}
	key, _, ok := strings.Cut(rest, " not found in type ")
	return key, ok
}

// unknownKeys returns an error for every key under n that the Go type t
// it is decoded into (as walkTyped follows it) has no field for: at the
// key, naming its section ("in alerting", "in prometheus[0]", "in the
// top level") and the nearest key the section takes. seen holds the
// mappings walked (an anchor's, once).
func unknownKeys(name string, n *yaml.Node, t reflect.Type, path []any, seen map[*yaml.Node]bool) []*Error {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		return unknownKeys(name, n.Content[0], t, path, seen)
	}
	n = unalias(n)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	sub := func(c *yaml.Node, t reflect.Type, k any) []*Error {
		return unknownKeys(name, c, t, append(path[:len(path):len(path)], k), seen)
	}
	var errs []*Error
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		if seen[n] {
			return nil
		}
		seen[n] = true
		fields := map[string]reflect.Type{}
		yamlFields(t, fields)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := unalias(n.Content[i]), n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge") {
				// A merge: the merged mappings' keys are the section's.
				merged := []*yaml.Node{v}
				if m := unalias(v); m.Kind == yaml.SequenceNode {
					merged = m.Content
				}
				for _, m := range merged {
					errs = append(errs, unknownKeys(name, m, t, path, seen)...)
				}
				continue
			}
			if ft, ok := fields[k.Value]; ok {
				errs = append(errs, sub(v, ft, k.Value)...)
				continue
			}
			section := "the top level"
			if len(path) > 0 {
				section = pathString(path)
			}
			msg := fmt.Sprintf("unknown key %q in %s", k.Value, section)
			if near := words.Nearest(k.Value, slices.Sorted(maps.Keys(fields))); near != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", near)
			}
			errs = append(errs, &Error{File: name, Line: k.Line, Column: k.Column, Msg: msg, unknownKey: k.Value})
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for _, e := range mappingEntries(n) {
			errs = append(errs, sub(e.value, t.Elem(), e.key)...)
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			errs = append(errs, sub(c, t.Elem(), i)...)
		}
	}
	return errs
}

// failingValue returns the first node under n (in the order yaml.v3
// decodes them: a mapping's own keys before merged ones) that
// fails to decode into the field of Go type t it is decoded into,
// following yaml tags, inline structs, slices, maps, aliases and "<<"
// merge keys as yaml.v3 does (walkTyped), with its key path and error
// (an alias's at the alias); nil when every value decodes.
func failingValue(n *yaml.Node, t reflect.Type, path []any) (*yaml.Node, []any, error) {
	var fn *yaml.Node
	var fp []any
	var ferr error
	walkTyped(n, t, path, func(at, n *yaml.Node, t reflect.Type, path []any) bool {
		// A type mismatch is reported with its line; go on past it.
		var te *yaml.TypeError
		if err := n.Decode(reflect.New(t).Interface()); err != nil && !errors.As(err, &te) {
			fn, fp, ferr = at, path, err
			return true
		}
		return false
	})
	return fn, fp, ferr
}

// nonIntegers returns an error for every number under n that is decoded
// into an integer field of the Go type t (walkTyped) but is not a whole
// number (1.5, 1e-3, .inf): yaml.v3 truncates it toward zero (or sets
// the minimum int for -.inf) without an error.
func nonIntegers(name string, n *yaml.Node, t reflect.Type, path []any) []error {
	var errs []error
	walkTyped(n, t, path, func(at, n *yaml.Node, t reflect.Type, path []any) bool {
		integer := t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64 || t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr
		if !integer || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!float" || reflect.PointerTo(t).Implements(unmarshalerType) {
			return false
		}
		var f float64
		if err := n.Decode(&f); err == nil && (f != math.Trunc(f) || math.IsInf(f, 0)) {
			value := n.Value
			if at != n {
				value += " (the alias *" + at.Value + ")"
			}
			errs = append(errs, &Error{File: name, Line: at.Line, Column: at.Column,
				Msg: fmt.Sprintf("%s: %s is not a whole number: want an integer", pathString(path), value)})
		}
		return false
	})
	return errs
}

// walkTyped walks n as yaml.v3 decodes it into a value of Go type t:
// into the fields of a struct (yaml tags, inline structs), a map's and a
// sequence's elements, following aliases and "<<" merge keys
// (mappingEntries), in decoding order. It calls leaf with every other
// value (a scalar, a type implementing yaml.Unmarshaler, a node of
// another kind than its type's): at is the node as written (an alias),
// n the value it stands for, t its type (not a pointer), path its keys.
// It stops, returning true, at the first leaf that returns true.
func walkTyped(n *yaml.Node, t reflect.Type, path []any, leaf func(at, n *yaml.Node, t reflect.Type, path []any) bool) bool {
	if n.Kind == yaml.DocumentNode {
		return len(n.Content) > 0 && walkTyped(n.Content[0], t, path, leaf)
	}
	at := n
	n = unalias(n)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return leaf(at, n, t, path)
	}
	sub := func(c *yaml.Node, t reflect.Type, k any) bool {
		return walkTyped(c, t, append(path[:len(path):len(path)], k), leaf)
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		yamlFields(t, fields)
		for _, e := range mappingEntries(n) {
			if ft, ok := fields[e.key]; ok && sub(e.value, ft, e.key) {
				return true
			}
		}
		return false
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for _, e := range mappingEntries(n) {
			if sub(e.value, t.Elem(), e.key) {
				return true
			}
		}
		return false
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			if sub(c, t.Elem(), i) {
				return true
			}
		}
		return false
	}
	return leaf(at, n, t, path)
}

// entry is a key of a YAML mapping and its value.
type entry struct {
	key   string
	value *yaml.Node
}

// mappingEntries returns the keys and values of mapping n that yaml.v3
// decodes, as if written inline: n's own, then those of the mappings
// merged in with "<<" (a mapping, an alias of one, or a sequence of
// them) that no key before set, so that n's own keys win over merged
// ones and a sequence's first mapping over the next; a merged mapping's
// own merges follow its keys.
func mappingEntries(n *yaml.Node) []entry {
	var entries []entry
	seen := map[string]bool{}
	// walked stops a merge that refers back to a mapping being walked
	// (`a: &a {<<: *a}`), which yaml.v3 refuses to decode: its error
	// is placed through here.
	walked := map[*yaml.Node]bool{}
	var walk func(m *yaml.Node)
	walk = func(m *yaml.Node) {
		if walked[m] {
			return
		}
		walked[m] = true
		var merge *yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			k := unalias(m.Content[i])
			if k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge") {
				merge = m.Content[i+1]
				continue
			}
			if seen[k.Value] {
				continue
			}
			seen[k.Value] = true
			entries = append(entries, entry{k.Value, m.Content[i+1]})
		}
		if merge == nil {
			return
		}
		switch merge = unalias(merge); merge.Kind {
		case yaml.MappingNode:
			walk(merge)
		case yaml.SequenceNode:
			for _, c := range merge.Content {
				if c = unalias(c); c.Kind == yaml.MappingNode {
					walk(c)
				}
			}
		}
	}
	walk(n)
	return entries
}

// unalias returns the node an alias node (*name) refers to; n itself
// when it is not an alias.
func unalias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// yamlFields adds the yaml keys of struct type t's fields (inline
// structs' too) and their types to fields.
func yamlFields(t reflect.Type, fields map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		key, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				yamlFields(ft, fields)
			}
			continue
		}
		if key == "" {
			key = strings.ToLower(f.Name)
		}
		fields[key] = f.Type
	}
}

// pathString formats a key path as "features[2].expr".
func pathString(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch k := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", k)
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, k)
		}
	}
	return b.String()
}

// validationError places an error of features.Config.Validate at the key
// path its *features.FieldError gives, prefixing the message with that
// path: at the key's value in the file; at the nearest enclosing key
// found when the key itself is not in the file (a missing "reasons" is
// placed at its list item); without a line when the whole section is not
// in the file, marked "(built-in default)" when the value is one. An
// error without a FieldError (none is expected) keeps its bare message,
// without a line.
func validationError(name string, root *yaml.Node, defaulted map[string]bool, err error) *Error {
	var fe *features.FieldError
	if !errors.As(err, &fe) {
		return &Error{File: name, Msg: err.Error()}
	}
	path := []any{fe.Section}
	if fe.Index >= 0 {
		path = append(path, fe.Index)
	}
	if fe.Field != "" {
		path = append(path, fe.Field)
	}
	if fe.Key != "" {
		path = append(path, fe.Key)
	}
	line, col, depth := positionDepth(root, path)
	msg := pathString(path) + ": " + fe.Err.Error()
	if defaulted[fe.Section] {
		// The built-in value is in use: the file may still name the key
		// (an empty "features:"), whose line is then the one to show.
		msg = pathString(path) + " (built-in default): " + fe.Err.Error()
	}
	if depth == 0 {
		// Not in the file: no position rather than a made-up one.
		line, col = 0, 0
	}
	return &Error{File: name, Line: line, Column: col, Msg: msg}
}

// Unjoin splits an errors.Join error, such as LoadFile's, into its parts
// (err alone when it is not one).
func Unjoin(err error) []error {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		return j.Unwrap()
	}
	return []error{err}
}

func lineError(name, msg string) *Error {
	var line int
	if _, err := fmt.Sscanf(msg, "line %d:", &line); err == nil {
		if i := strings.Index(msg, ":"); i >= 0 {
			msg = strings.TrimSpace(msg[i+1:])
		}
	}
	return &Error{File: name, Line: line, Msg: msg}
}

// position finds the node at path (map keys and sequence indexes) and
// returns its line and column, or the nearest ancestor's.
func position(root *yaml.Node, path []any) (line, col int) {
	line, col, _ = positionDepth(root, path)
	return line, col
}

// positionDepth is position, also returning how many elements of path
// were found (0: none, the position is the document's). It follows the
// path as yaml.v3 decodes the file: through aliases and "<<" merge keys
// (mappingEntries: a mapping's own key wins over a merged one), so that
// a key given only by a merge is found, at its line in the merged
// mapping; a value written as an alias is placed at the alias.
func positionDepth(root *yaml.Node, path []any) (line, col, depth int) {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line, col = n.Line, n.Column
	for _, p := range path {
		n = unalias(n)
		var next *yaml.Node
		switch k := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for _, e := range mappingEntries(n) {
					if e.key == k {
						next = e.value
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k < len(n.Content) {
				next = n.Content[k]
			}
		}
		if next == nil {
			return line, col, depth
		}
		n = next
		line, col = n.Line, n.Column
		depth++
	}
	return line, col, depth
}
