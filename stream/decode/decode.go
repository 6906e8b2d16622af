package decode

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// Reasons for rejecting a payload, line, item or sample. They are stable:
// callers use them as the reason label of omen_ingest_errors_total, except
// ReasonStringField, which is not an error (string fields are left out by
// design): the NATS consumer counts it in
// omen_ingest_ignored_samples_total{kind="string_field"}.
const (
	ReasonMalformed     = "malformed"       // syntax error, missing required field, invalid name or UTF-8
	ReasonWrongType     = "wrong_type"      // a JSON value of the wrong type
	ReasonInvalidValue  = "invalid_value"   // out-of-range numbers, integers and counts; NaN and ±Inf in influx fields
	ReasonTooOld        = "too_old"         // timestamp before now−MaxAge
	ReasonTooNew        = "too_new"         // timestamp after now+MaxFuture
	ReasonTooManyLabels = "too_many_labels" // more than MaxLabels labels, or a name or value longer than MaxLabelValueLen
	ReasonTooLarge      = "too_large"       // payload longer than MaxMessageBytes
	ReasonStringField   = "string_field"    // an influx string field (skipped by design, not an error)
	ReasonUnknownFormat = "unknown_format"  // Detect could not tell the format
	ReasonMissingLabels = "missing_labels"  // a configured required label is absent
)

// Reasons returns every reason a Decoder or Detect can report, so that
// callers can initialise their counters.
func Reasons() []string {
	return []string{
		ReasonMalformed, ReasonWrongType, ReasonInvalidValue, ReasonTooOld, ReasonTooNew,
		ReasonTooManyLabels, ReasonTooLarge, ReasonStringField, ReasonUnknownFormat, ReasonMissingLabels,
	}
}

// Error describes one rejected payload, line, item or sample.
type Error struct {
	// Reason is one of the Reason constants.
	Reason string
	// Line is the 1-based line (line formats) or item position (JSON); 0
	// for the whole payload.
	Line int
	// Msg is a human-readable detail. It is empty for errors beyond
	// Options.MaxErrorDetails in one Decode call.
	Msg string
}

// Error implements error.
func (e Error) Error() string {
	msg := e.Msg
	if msg == "" {
		msg = e.Reason
	} else {
		msg = e.Reason + ": " + msg
	}
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, msg)
	}
	return msg
}

// Result collects what Decode produced. Decode appends to it, so one Result
// can gather several payloads; Reset empties it keeping its capacity.
type Result struct {
	Samples []telemetry.Sample
	Events  []telemetry.Event
	// Errors holds one entry per rejected line, item or sample.
	Errors []Error
}

// Reset empties r, keeping the allocated capacity.
func (r *Result) Reset() {
	clear(r.Samples)
	clear(r.Events)
	r.Samples = r.Samples[:0]
	r.Events = r.Events[:0]
	r.Errors = r.Errors[:0]
}

// Defaults of Options.
const (
	DefaultMaxAge           = 2 * time.Hour
	DefaultMaxFuture        = 10 * time.Minute
	DefaultMaxMessageBytes  = 1 << 20
	DefaultMaxLabels        = 64
	DefaultMaxLabelValueLen = 2048
	DefaultPrecision        = time.Nanosecond
	DefaultCacheSize        = 1 << 16
	DefaultCacheIdle        = 10 * time.Minute
	DefaultMaxErrorDetails  = 64
	DefaultMaxInfluxFields  = MaxInfluxFields
)

// Options configure a Decoder. The zero value of every field selects its
// default.
type Options struct {
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// MaxAge rejects (too_old) samples and events older than Now−MaxAge.
	// Default 2h (Prometheus' head block span: a short JetStream replay
	// still lands); negative disables the check.
	MaxAge time.Duration
	// MaxFuture rejects (too_new) samples and events later than
	// Now+MaxFuture. Default 10m (clock skew); negative disables the check.
	MaxFuture time.Duration
	// MaxMessageBytes rejects (too_large) longer payloads before decoding.
	// Default 1 MiB.
	MaxMessageBytes int
	// MaxLabels is the most labels (including __name__) a series or event
	// may have. Default 64.
	MaxLabels int
	// MaxLabelValueLen is the longest label name or value in bytes.
	// Default 2048.
	MaxLabelValueLen int
	// MaxInfluxFields is the most fields one influx line may have; a
	// longer line is rejected as malformed. Default MaxInfluxFields (1024).
	MaxInfluxFields int
	// Precision is the unit of influx line protocol timestamps: one of
	// time.Nanosecond (default), time.Microsecond, time.Millisecond,
	// time.Second.
	Precision time.Duration
	// RequiredLabels must all be present (non-empty) on every sample, or it
	// is rejected with missing_labels. Default none.
	RequiredLabels []string
	// RequiredEventLabels is RequiredLabels for events.
	RequiredEventLabels []string
	// CacheSize is the number of series label sets interned per cache
	// generation (two generations are kept). Default 65536.
	CacheSize int
	// CacheIdle is how long an interned label set no payload used stays
	// cached: the generations also turn every CacheIdle (by Now), so a
	// set unused for between one and two CacheIdle is dropped (the series
	// of churned pods do not stay until CacheSize new ones arrive).
	// Default 10m; negative: only CacheSize bounds the caches.
	CacheIdle time.Duration
	// MaxErrorDetails is how many errors per Decode call get a Msg; all
	// errors are reported, later ones without detail. Default 64.
	MaxErrorDetails int
}

func (o *Options) setDefaults() error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxFuture == 0 {
		o.MaxFuture = DefaultMaxFuture
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.MaxLabels == 0 {
		o.MaxLabels = DefaultMaxLabels
	}
	if o.MaxLabelValueLen == 0 {
		o.MaxLabelValueLen = DefaultMaxLabelValueLen
	}
	if o.MaxInfluxFields == 0 {
		o.MaxInfluxFields = DefaultMaxInfluxFields
	}
	if o.Precision == 0 {
		o.Precision = DefaultPrecision
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.CacheIdle == 0 {
		o.CacheIdle = DefaultCacheIdle
	}
	if o.MaxErrorDetails == 0 {
		o.MaxErrorDetails = DefaultMaxErrorDetails
	}
	switch {
	case o.MaxMessageBytes < 0:
		return fmt.Errorf("max message bytes %d is negative", o.MaxMessageBytes)
	case o.MaxLabels < 0:
		return fmt.Errorf("max labels %d is negative", o.MaxLabels)
	case o.MaxLabelValueLen < 0:
		return fmt.Errorf("max label value length %d is negative", o.MaxLabelValueLen)
	case o.MaxInfluxFields < 0:
		return fmt.Errorf("max influx fields %d is negative", o.MaxInfluxFields)
	case o.CacheSize < 0:
		return fmt.Errorf("cache size %d is negative", o.CacheSize)
	case o.MaxErrorDetails < 0:
		return fmt.Errorf("max error details %d is negative", o.MaxErrorDetails)
	}
	switch o.Precision {
	case time.Nanosecond, time.Microsecond, time.Millisecond, time.Second:
	default:
		return fmt.Errorf("precision %s is not one of 1ns, 1µs, 1ms, 1s", o.Precision)
	}
	for _, n := range o.RequiredLabels {
		if !validLabelName(n) {
			return fmt.Errorf("required label %q is not a valid label name", n)
		}
	}
	for _, n := range o.RequiredEventLabels {
		if !validLabelName(n) {
			return fmt.Errorf("required event label %q is not a valid label name", n)
		}
	}
	return nil
}

// Decoder decodes payloads. It holds the interned label sets and scratch
// buffers, so it is not safe for concurrent use: use one per goroutine.
type Decoder struct {
	opts  Options
	cache seriesCache // prometheus text and JSON series
	lines lineCache   // influx series keys

	// Per Decode call.
	now, minT, maxT int64
	recv            int64
	errStart        int

	// Scratch.
	key    []byte
	fields []influxField
	// seenFields: markLaterFields' scratch for lines of many fields.
	seenFields map[string]struct{}
	pairs      []labels.Label
	tags       []labels.Label // influx: the tags of the series key being built
	meas       string         // influx: its measurement
	builder    labels.ScratchBuilder
	json       jsonScratch
}

// New returns a Decoder with opts, after filling in defaults and validating.
func New(opts Options) (*Decoder, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, fmt.Errorf("decoder options: %w", err)
	}
	d := &Decoder{
		opts:    opts,
		builder: labels.NewScratchBuilder(16),
	}
	start := opts.Now().UnixMilli()
	d.cache.init(opts.CacheSize, opts.CacheIdle, start)
	d.lines.init(opts.CacheSize, opts.CacheIdle, start)
	return d, nil
}

// CachedSeries returns how many label sets the decoder currently interns
// (for a gauge of the caller's).
func (d *Decoder) CachedSeries() int { return d.cache.len() + d.lines.len() }

// Decode decodes payload in format f, received at the given time (used for
// samples and events without a timestamp; zero means Options.Now()), and
// appends samples, events and errors to res. It returns a non-nil error
// wrapping an Error when the payload yielded no sample and no event and
// some of it was rejected (the Errors appended to res say why), unless
// all that was rejected were influx string fields. A payload that holds
// nothing and rejects nothing is a well-formed empty batch, and Decode
// returns nil: an empty or blank payload, comment lines only (influx
// "#" lines; Prometheus text comments, HELP and TYPE lines), an empty
// JSON batch ([], null, {"samples":[]}, {"items":[]}, {"events":[]}, or
// null for the array). Samples and events never share memory with
// payload.
func (d *Decoder) Decode(f Format, payload []byte, received time.Time, res *Result) error {
	nowT := d.opts.Now()
	d.now = nowT.UnixMilli()
	d.minT, d.maxT = minInt64, maxInt64
	if d.opts.MaxAge > 0 {
		d.minT = d.now - d.opts.MaxAge.Milliseconds()
	}
	if d.opts.MaxFuture > 0 {
		d.maxT = d.now + d.opts.MaxFuture.Milliseconds()
	}
	if received.IsZero() {
		d.recv = d.now
	} else {
		d.recv = received.UnixMilli()
	}
	d.errStart = len(res.Errors)
	nSamples, nEvents := len(res.Samples), len(res.Events)
	d.cache.age(d.now)
	d.lines.age(d.now)

	if len(payload) > d.opts.MaxMessageBytes {
		e := Error{Reason: ReasonTooLarge, Msg: fmt.Sprintf("payload of %d bytes exceeds %d", len(payload), d.opts.MaxMessageBytes)}
		res.Errors = append(res.Errors, e)
		return fmt.Errorf("decode %s payload: %w", f, e)
	}

	switch f {
	case FormatInflux:
		d.decodeInflux(payload, res)
	case FormatPromText:
		d.decodePromText(payload, false, res)
	case FormatOpenMetrics:
		d.decodePromText(payload, true, res)
	case FormatJSON:
		d.decodeJSONSamples(payload, res)
	case FormatKubernetesEvents, FormatModuleEvents, FormatEvents:
		d.decodeEvents(f, payload, res)
	default:
		e := Error{Reason: ReasonUnknownFormat, Msg: fmt.Sprintf("format %q", string(f))}
		res.Errors = append(res.Errors, e)
		return fmt.Errorf("decode payload: %w", e)
	}

	if len(res.Samples) > nSamples || len(res.Events) > nEvents {
		return nil
	}
	// Only string fields (Telegraf sending one metric of them a message,
	// e.g. systemd_units' active="active"): skipped by design, not a
	// payload to dead-letter.
	if n := len(res.Errors) - d.errStart; n > 0 && !slices.ContainsFunc(res.Errors[d.errStart:], func(e Error) bool { return e.Reason != ReasonStringField }) {
		return nil
	}
	if len(res.Errors) == d.errStart {
		return nil // a well-formed batch of nothing (see above)
	}
	return fmt.Errorf("decode %s payload: %w", f, res.Errors[d.errStart])
}

// detail reports whether the next error of this Decode call gets a message.
func (d *Decoder) detail(res *Result) bool {
	return len(res.Errors)-d.errStart < d.opts.MaxErrorDetails
}

// addErr appends an error; msg should be "" unless d.detail(res).
func (d *Decoder) addErr(res *Result, reason string, line int, msg string) {
	res.Errors = append(res.Errors, Error{Reason: reason, Line: line, Msg: msg})
}

// checkTime returns the reason a timestamp in ms is out of bounds, or "".
func (d *Decoder) checkTime(t int64) string {
	switch {
	case t < d.minT:
		return ReasonTooOld
	case t > d.maxT:
		return ReasonTooNew
	}
	return ""
}

// quote renders raw input for error messages, truncated.
func quote(b []byte) string {
	const max = 64
	if len(b) > max {
		return fmt.Sprintf("%q…", b[:max])
	}
	return fmt.Sprintf("%q", b)
}

// AsError returns the Error err wraps, if any.
func AsError(err error) (Error, bool) {
	var e Error
	ok := errors.As(err, &e)
	return e, ok
}

const (
	minInt64 = -1 << 63
	maxInt64 = 1<<63 - 1
)
