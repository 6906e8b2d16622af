package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/stream/decode"
	"github.com/omen-sre/omen/telemetry"
)

// RemoteWritePath is where the remote-write receiver is usually mounted.
const RemoteWritePath = "/api/v1/write"

// Defaults of RemoteWriteOptions.
const (
	DefaultRWMaxDecodedBytes      = 32 << 20
	DefaultRWLabelCacheSize       = 1 << 18
	DefaultRWLabelCacheBytes      = 128 << 20
	DefaultRWLabelCacheIdle       = 10 * time.Minute
	DefaultRWMaxSamplesPerRequest = 100_000
	DefaultRWMaxSeriesPerRequest  = 100_000
	DefaultRWMaxInFlight          = 4
	DefaultRWInFlightWait         = 5 * time.Second
	DefaultRWAppendTimeout        = 30 * time.Second
)

// RemoteWriteOptions configure a RemoteWriteReceiver. The zero value of
// every field selects its default.
type RemoteWriteOptions struct {
	// Source names the batches handed to the Appender. Default
	// "remote-write".
	Source string
	// RemoteWriteLimits are the limits SetLimits can change later.
	RemoteWriteLimits
	// MaxSampleAge and MaxSampleFuture drop (and count, reasons too_old
	// and too_new) samples older than Now−MaxSampleAge or later than
	// Now+MaxSampleFuture, like the NATS decoders (decode.Options MaxAge
	// and MaxFuture, same defaults 2h and 10m); negative disables a bound.
	// The rest of the request is stored and answered 204.
	MaxSampleAge    time.Duration
	MaxSampleFuture time.Duration
	// LabelCacheIdle is how long a label set no request used stays in
	// the label cache: it is dropped between one and two LabelCacheIdle
	// after its last use (checked when a request arrives), so the sets of
	// series that stopped (churned pods) are freed instead of holding the
	// cache up to LabelCacheSize and LabelCacheBytes. Default 10m;
	// negative: never.
	LabelCacheIdle time.Duration
	// Now is the clock of the sample time window and of LabelCacheIdle.
	// Default time.Now.
	Now func() time.Time
}

// RemoteWriteLimits are the limits of a RemoteWriteReceiver, given in
// RemoteWriteOptions and changed while it runs by SetLimits. The zero
// value of every field selects its default.
type RemoteWriteLimits struct {
	// MaxDecodedBytes bounds the snappy-decoded request size (and the
	// compressed body). Default 32 MiB.
	MaxDecodedBytes int
	// MaxSamplesPerRequest bounds the samples of one request, counted as
	// sent (dropped ones included), and MaxSeriesPerRequest its series;
	// beyond either the request is refused with 413. A sample costs 2 bytes
	// on the wire but about 40 decoded, so MaxDecodedBytes alone would let
	// a 1.4 MB request take 2 GB. Prometheus sends at most
	// queue_config.max_samples_per_send (default 2,000) per request.
	// Defaults 100,000 each.
	MaxSamplesPerRequest int
	MaxSeriesPerRequest  int
	// MaxInFlight bounds the requests read, decoded and appended at once;
	// a request waits up to InFlightWait for a slot, then gets 503 with
	// Retry-After (Prometheus retries a 5xx; it drops a 429 unless
	// retry_on_http_429 is set). Memory of the receiver is thus
	// about MaxInFlight × (2 × MaxDecodedBytes + 40 B ×
	// MaxSamplesPerRequest). Defaults 4 and 5s.
	MaxInFlight  int
	InFlightWait time.Duration
	// MaxLabels and MaxLabelValueLen bound a series' labels like the NATS
	// decoders' (decode.Options, same defaults: 64 labels with a non-empty
	// value, __name__ included; 2048 bytes per name or value). A series
	// beyond them is refused (too_many_labels) like one with invalid
	// labels: the request's other series are stored, then 400.
	MaxLabels        int
	MaxLabelValueLen int
	// LabelCacheSize bounds the number of interned label sets; an entry
	// costs about twice its series' encoded labels (≈ 300–600 bytes for
	// Kubernetes series). When a shard fills up it is emptied, so more
	// active series than this only cost re-interning. Default 262144.
	LabelCacheSize int
	// LabelCacheBytes bounds the label cache's estimated bytes the same
	// way (a shard is emptied when it reaches its 1/32 share; a set above
	// 1/256 of it is not cached). Default 128 MiB.
	LabelCacheBytes int
	// AppendTimeout bounds one Append call. Default 30s.
	AppendTimeout time.Duration
}

func (o *RemoteWriteOptions) withDefaults() (RemoteWriteOptions, error) {
	r := *o
	if r.Source == "" {
		r.Source = "remote-write"
	}
	setDefault(&r.MaxDecodedBytes, DefaultRWMaxDecodedBytes)
	setDefault(&r.MaxSamplesPerRequest, DefaultRWMaxSamplesPerRequest)
	setDefault(&r.MaxSeriesPerRequest, DefaultRWMaxSeriesPerRequest)
	setDefault(&r.MaxInFlight, DefaultRWMaxInFlight)
	setDefault(&r.InFlightWait, DefaultRWInFlightWait)
	setDefault(&r.MaxLabels, decode.DefaultMaxLabels)
	setDefault(&r.MaxLabelValueLen, decode.DefaultMaxLabelValueLen)
	setDefault(&r.MaxSampleAge, decode.DefaultMaxAge)
	setDefault(&r.MaxSampleFuture, decode.DefaultMaxFuture)
	setDefault(&r.LabelCacheSize, DefaultRWLabelCacheSize)
	setDefault(&r.LabelCacheBytes, DefaultRWLabelCacheBytes)
	setDefault(&r.AppendTimeout, DefaultRWAppendTimeout)
	setDefault(&r.LabelCacheIdle, DefaultRWLabelCacheIdle)
	if r.Now == nil {
		r.Now = time.Now
	}
	switch {
	case r.MaxDecodedBytes < 1024:
		return r, fmt.Errorf("remote-write options: MaxDecodedBytes %d below 1024", r.MaxDecodedBytes)
	case r.LabelCacheSize < 0:
		return r, fmt.Errorf("remote-write options: negative LabelCacheSize %d", r.LabelCacheSize)
	case r.LabelCacheBytes < 0:
		return r, fmt.Errorf("remote-write options: negative LabelCacheBytes %d", r.LabelCacheBytes)
	case r.AppendTimeout < 0:
		return r, fmt.Errorf("remote-write options: negative AppendTimeout %s", r.AppendTimeout)
	case r.MaxSamplesPerRequest < 0 || r.MaxSeriesPerRequest < 0:
		return r, fmt.Errorf("remote-write options: negative MaxSamplesPerRequest %d or MaxSeriesPerRequest %d", r.MaxSamplesPerRequest, r.MaxSeriesPerRequest)
	case r.MaxInFlight < 0 || r.InFlightWait < 0:
		return r, fmt.Errorf("remote-write options: negative MaxInFlight %d or InFlightWait %s", r.MaxInFlight, r.InFlightWait)
	case r.MaxLabels < 0 || r.MaxLabelValueLen < 0:
		return r, fmt.Errorf("remote-write options: negative MaxLabels %d or MaxLabelValueLen %d", r.MaxLabels, r.MaxLabelValueLen)
	}
	return r, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// RemoteWriteReceiver is an http.Handler for Prometheus remote-write 1.0
// (snappy-compressed prompb.WriteRequest).
//
// Status codes:
//   - 204 once every valid sample of the request is committed by the Appender;
//   - 400 for undecodable bodies and for series with invalid labels
//     (unsorted or duplicate names, empty or non-UTF-8 names, missing
//     __name__). The valid series of such a request are still stored
//     before the 400 is sent, so a sender that drops the request on 400 (as
//     Prometheus does) loses only the bad series;
//   - 400 also for series beyond MaxLabels or MaxLabelValueLen (reason
//     too_many_labels), with the same partial storing;
//   - 413 when the body exceeds MaxDecodedBytes, or the request holds more
//     than MaxSamplesPerRequest samples or MaxSeriesPerRequest series
//     (nothing of it is stored);
//   - 503 with Retry-After when MaxInFlight requests are being served and
//     no slot frees within InFlightWait (a 5xx: Prometheus retries it by
//     default, a 429 only with retry_on_http_429);
//   - 415 for a content type other than application/x-protobuf (remote-write
//     1.0; the 2.0 type proto=io.prometheus.write.v2.Request included) or an
//     encoding other than snappy (an absent Content-Encoding is read as
//     snappy, like Prometheus does);
//   - 405 for methods other than POST;
//   - 503 when the Appender fails with a retryable error; 400 when it fails
//     with ErrInvalid (permanent, e.g. a series too long for the store:
//     the sender drops the request; logged as a warning).
//
// Every float value is a sample, as in Prometheus: NaN (a summary quantile
// without observations) and ±Inf are stored, and the stale marker
// (value.StaleNaN) ends its series. Samples outside the MaxSampleAge /
// MaxSampleFuture window are dropped and counted without failing the
// request (omen_ingest_errors_total reasons too_old, too_new). Native
// histogram samples are left out and counted in
// omen_ingest_ignored_samples_total{kind="native_histogram"}, not as
// errors: a Prometheus with send_native_histograms sends every histogram
// it has, and features cannot read them. Exemplars are skipped without a
// count. Remote-write batches carry Seq 0: a request the
// sender retries after a 5xx whose samples were in fact stored is stored
// again.
type RemoteWriteReceiver struct {
	// opts are the options the receiver was built with, defaults
	// applied; its limits are those of limits, not opts'.
	opts   RemoteWriteOptions
	app    Appender
	logger *slog.Logger
	// histWarned: the warning about native histograms was logged.
	histWarned atomic.Bool
	pool       sync.Pool
	m          *ingestMetrics
	// limits are the current limits; a request loads them once and keeps
	// them. setMu serializes SetLimits.
	limits atomic.Pointer[rwLimits]
	setMu  sync.Mutex
	slots  *slots // MaxInFlight of the current limits

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// rwLimits are a receiver's limits (defaults applied) and the label cache
// whose entries were checked against them.
type rwLimits struct {
	RemoteWriteLimits
	cache *labelCache
}

func newRWLimits(o RemoteWriteOptions) *rwLimits {
	return &rwLimits{RemoteWriteLimits: o.RemoteWriteLimits,
		cache: newLabelCache(o.LabelCacheSize, o.LabelCacheBytes, labelLimits{maxLabels: o.MaxLabels, maxLen: o.MaxLabelValueLen}, o.LabelCacheIdle, o.Now())}
}

type rwState struct {
	body    []byte
	decoded []byte
	dec     rwDecoder
	samples []telemetry.Sample
	batch   [1]telemetry.Batch
	// lent is set when Append returned while its context was done: the
	// Appender may still be reading batch and samples, so the state must
	// not be reused (see Appender).
	lent bool
}

// NewRemoteWriteReceiver returns a receiver that hands decoded requests to
// app.
func NewRemoteWriteReceiver(app Appender, opts RemoteWriteOptions, reg prometheus.Registerer, logger *slog.Logger) (*RemoteWriteReceiver, error) {
	if app == nil {
		return nil, errors.New("remote-write receiver: nil Appender")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := newIngestMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("remote-write receiver metrics: %w", err)
	}
	h := &RemoteWriteReceiver{opts: o, app: app, logger: logger, m: m, slots: newSlots(o.MaxInFlight)}
	h.limits.Store(newRWLimits(o))
	if h.requests, err = counterVec(reg, prometheus.CounterOpts{
		Namespace: "omen", Name: "remote_write_requests_total",
		Help: "Remote-write requests received, by HTTP status code.",
	}, "code"); err != nil {
		return nil, fmt.Errorf("remote-write receiver metrics: %w", err)
	}
	if h.duration, err = histogramVec(reg, prometheus.HistogramOpts{
		Namespace: "omen", Name: "remote_write_request_duration_seconds",
		Help:    "Time to decode and commit a remote-write request.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
	}); err != nil {
		return nil, fmt.Errorf("remote-write receiver metrics: %w", err)
	}
	h.pool.New = func() any { return &rwState{} }
	return h, nil
}

// SetLimits changes the receiver's limits while it serves. It validates
// l first (0 takes the default, as in RemoteWriteOptions): on error
// nothing changes. A request already being served keeps the limits it
// started with; later ones get l. A lower MaxInFlight admits no new
// request until enough of those in flight have finished (none is cut
// short); a higher one admits waiting requests at once. New label limits
// or label cache sizes start a new, empty label cache (label sets are
// interned again). Safe for concurrent use with ServeHTTP.
func (h *RemoteWriteReceiver) SetLimits(l RemoteWriteLimits) error {
	opts := h.opts
	opts.RemoteWriteLimits = l
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	h.setMu.Lock()
	defer h.setMu.Unlock()
	cur := h.limits.Load()
	next := o.RemoteWriteLimits
	if next == cur.RemoteWriteLimits {
		return nil
	}
	nl := &rwLimits{RemoteWriteLimits: next, cache: cur.cache}
	if next.MaxLabels != cur.MaxLabels || next.MaxLabelValueLen != cur.MaxLabelValueLen ||
		next.LabelCacheSize != cur.LabelCacheSize || next.LabelCacheBytes != cur.LabelCacheBytes {
		nl = newRWLimits(o)
	}
	h.limits.Store(nl)
	h.slots.resize(next.MaxInFlight)
	return nil
}

// Limits returns the receiver's current limits, defaults applied. Safe
// for concurrent use.
func (h *RemoteWriteReceiver) Limits() RemoteWriteLimits {
	return h.limits.Load().RemoteWriteLimits
}

// ServeHTTP implements http.Handler.
func (h *RemoteWriteReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code, msg := h.serve(r)
	if code != http.StatusNoContent {
		if code >= 500 {
			h.logger.Warn("remote-write request", "code", code, "err", msg)
		} else {
			h.logger.Debug("remote-write request rejected", "code", code, "err", msg)
		}
		switch code {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", http.MethodPost)
		case http.StatusServiceUnavailable:
			w.Header().Set("Retry-After", "1")
		}
		http.Error(w, msg, code)
	} else {
		w.WriteHeader(code)
	}
	h.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	h.duration.WithLabelValues().Observe(time.Since(start).Seconds())
}

func (h *RemoteWriteReceiver) serve(r *http.Request) (int, string) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "only POST is allowed"
	}
	if code, msg := checkContentType(r.Header); code != 0 {
		return code, msg
	}
	lim := h.limits.Load()
	if r.ContentLength > int64(lim.MaxDecodedBytes) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes exceeds limit %d", r.ContentLength, lim.MaxDecodedBytes)
	}
	if !h.slots.acquire(r.Context(), lim.InFlightWait) {
		return http.StatusServiceUnavailable, fmt.Sprintf("%d requests in flight, retry later", lim.MaxInFlight)
	}
	defer h.slots.release()
	st := h.pool.Get().(*rwState)
	defer h.put(st)
	lim.cache.age(h.opts.Now())
	st.dec.cache = lim.cache

	body, err := readBody(r.Body, st.body[:0], r.ContentLength, lim.MaxDecodedBytes)
	st.body = body
	if errors.Is(err, errTooLarge) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds limit %d", lim.MaxDecodedBytes)
	}
	if err != nil {
		return http.StatusBadRequest, fmt.Sprintf("read body: %v", err)
	}
	n, err := snappy.DecodedLen(body)
	if err != nil {
		h.m.errors.WithLabelValues(ReasonUndecodable).Inc()
		return http.StatusBadRequest, fmt.Sprintf("undecodable body: %v", err) // err says "snappy: …"
	}
	if n > lim.MaxDecodedBytes {
		h.m.errors.WithLabelValues(ReasonTooLarge).Inc()
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("decoded body of %d bytes exceeds limit %d", n, lim.MaxDecodedBytes)
	}
	if cap(st.decoded) < n {
		st.decoded = make([]byte, n)
	}
	dec, err := snappy.Decode(st.decoded[:cap(st.decoded)], body)
	if err != nil {
		h.m.errors.WithLabelValues(ReasonUndecodable).Inc()
		return http.StatusBadRequest, fmt.Sprintf("undecodable body: %v", err) // err says "snappy: …"
	}
	var stats rwStats
	now := h.opts.Now().UnixMilli()
	st.dec.minT, st.dec.maxT = math.MinInt64, math.MaxInt64
	if h.opts.MaxSampleAge > 0 {
		st.dec.minT = now - h.opts.MaxSampleAge.Milliseconds()
	}
	if h.opts.MaxSampleFuture > 0 {
		st.dec.maxT = now + h.opts.MaxSampleFuture.Milliseconds()
	}
	st.dec.maxSamples, st.dec.maxSeries = lim.MaxSamplesPerRequest, lim.MaxSeriesPerRequest
	st.samples, err = st.dec.decode(dec, st.samples[:0], &stats)
	switch {
	case errors.Is(err, errTooManySamples):
		h.m.errors.WithLabelValues(ReasonTooLarge).Inc()
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request holds more than the limit of %d samples", lim.MaxSamplesPerRequest)
	case errors.Is(err, errTooManySeries):
		h.m.errors.WithLabelValues(ReasonTooLarge).Inc()
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request holds more than the limit of %d series", lim.MaxSeriesPerRequest)
	case err != nil:
		h.m.errors.WithLabelValues(ReasonUndecodable).Inc()
		return http.StatusBadRequest, fmt.Sprintf("decode write request: %v", err)
	}
	if stats.histograms > 0 {
		h.m.ignored.WithLabelValues(h.opts.Source, "native_histogram").Add(float64(stats.histograms))
		if h.histWarned.CompareAndSwap(false, true) {
			h.logger.Warn("remote-write sends native histograms, which omen leaves out (features cannot read them; a feature over a histogram's _bucket series stays empty when Prometheus keeps only the native histogram): counted in omen_ingest_ignored_samples_total; this is said once", "samples", stats.histograms)
		}
	}
	if stats.invalidSeries > 0 {
		h.m.errors.WithLabelValues(ReasonInvalidLabel).Add(float64(stats.invalidSeries))
	}
	if stats.limitSeries > 0 {
		h.m.errors.WithLabelValues(decode.ReasonTooManyLabels).Add(float64(stats.limitSeries))
	}
	if stats.tooOld > 0 {
		h.m.errors.WithLabelValues(decode.ReasonTooOld).Add(float64(stats.tooOld))
	}
	if stats.tooNew > 0 {
		h.m.errors.WithLabelValues(decode.ReasonTooNew).Add(float64(stats.tooNew))
	}
	if len(st.samples) > 0 {
		st.batch[0] = telemetry.Batch{Source: h.opts.Source, Received: time.Now().UnixMilli(), Samples: st.samples}
		ctx, cancel := context.WithTimeout(r.Context(), lim.AppendTimeout)
		err = h.app.Append(ctx, st.batch[:])
		if Lent(ctx, err) {
			st.lent = true
		} else {
			st.batch[0] = telemetry.Batch{}
		}
		cancel()
		if err != nil {
			h.m.errors.WithLabelValues(ReasonAppend).Inc()
			if errors.Is(err, ErrInvalid) {
				// Permanent: the sender drops the request on 400, so its
				// samples are lost; say so above debug level.
				h.logger.Warn("remote-write request dropped: the Appender refuses its samples", "samples", len(st.samples), "err", err)
				return http.StatusBadRequest, fmt.Sprintf("store samples: %v", err)
			}
			return http.StatusServiceUnavailable, fmt.Sprintf("store samples: %v", err)
		}
		h.m.samples.WithLabelValues(h.opts.Source).Add(float64(len(st.samples)))
	}
	if n := stats.invalidSeries + stats.limitSeries; n > 0 {
		return http.StatusBadRequest, fmt.Sprintf("%d series with invalid labels dropped, first %s", n, stats.firstInvalid)
	}
	return http.StatusNoContent, ""
}

// put returns st to the pool unless it grew beyond what is worth keeping.
func (h *RemoteWriteReceiver) put(st *rwState) {
	if st.lent {
		return // the Appender may still read it; the collector frees it later
	}
	clear(st.samples) // drop label references
	st.dec.cache = nil
	if cap(st.samples) > 1<<20 || cap(st.decoded) > 64<<20 {
		return
	}
	h.pool.Put(st)
}

var errTooLarge = errors.New("body too large")

// maxInitialBody caps the buffer allocated for a declared Content-Length
// before any byte arrives; it grows as data does.
const maxInitialBody = 1 << 20

func readBody(r io.Reader, buf []byte, contentLength int64, limit int) ([]byte, error) {
	if contentLength > 0 && cap(buf) < int(min(contentLength, maxInitialBody)) {
		buf = make([]byte, 0, min(contentLength, maxInitialBody))
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return buf, errTooLarge
		}
		if contentLength > 0 && int64(len(buf)) == contentLength {
			return buf, nil // all declared bytes (the server reads no further)
		}
		if err == io.EOF {
			if contentLength > 0 && int64(len(buf)) < contentLength {
				return buf, io.ErrUnexpectedEOF
			}
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// checkContentType returns 415 and a message for a request that is not
// remote-write 1.0.
func checkContentType(h http.Header) (int, string) {
	if ct := h.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-protobuf" {
			return http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported content type %q, want application/x-protobuf", ct)
		}
		if p, ok := params["proto"]; ok && p != "prometheus.WriteRequest" {
			return http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported remote-write message %q, only remote-write 1.0 (prometheus.WriteRequest) is accepted", p)
		}
	}
	if enc := h.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "snappy") {
		return http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported content encoding %q, want snappy", enc)
	}
	return 0, ""
}
