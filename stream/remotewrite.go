package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/telemetry"
)

// RemoteWritePath is where the remote-write receiver is usually mounted.
const RemoteWritePath = "/api/v1/write"

// RemoteWriteOptions configure a RemoteWriteReceiver.
type RemoteWriteOptions struct {
	// Source names the batches handed to the Appender. Default
	// "remote-write".
	Source string
	// MaxDecodedBytes bounds the snappy-decoded request size (and the
	// compressed body). Default 32 MiB.
	MaxDecodedBytes int
	// LabelCacheSize bounds the number of interned label sets; an entry
	// costs about twice its series' encoded labels (≈ 300–600 bytes for
	// Kubernetes series). When a shard fills up it is emptied, so more
	// active series than this only cost re-interning. Default 262144.
	LabelCacheSize int
	// AppendTimeout bounds one Append call. Default 30s.
	AppendTimeout time.Duration
}

func (o *RemoteWriteOptions) withDefaults() (RemoteWriteOptions, error) {
	r := *o
	if r.Source == "" {
		r.Source = "remote-write"
	}
	if r.MaxDecodedBytes == 0 {
		r.MaxDecodedBytes = 32 << 20
	}
	if r.LabelCacheSize == 0 {
		r.LabelCacheSize = 1 << 18
	}
	if r.AppendTimeout == 0 {
		r.AppendTimeout = 30 * time.Second
	}
	switch {
	case r.MaxDecodedBytes < 1024:
		return r, fmt.Errorf("remote-write options: MaxDecodedBytes %d below 1024", r.MaxDecodedBytes)
	case r.LabelCacheSize < 0:
		return r, fmt.Errorf("remote-write options: negative LabelCacheSize %d", r.LabelCacheSize)
	case r.AppendTimeout < 0:
		return r, fmt.Errorf("remote-write options: negative AppendTimeout %s", r.AppendTimeout)
	}
	return r, nil
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
//   - 413 when the body exceeds MaxDecodedBytes;
//   - 415 for a content type other than application/x-protobuf (remote-write
//     1.0; the 2.0 type proto=io.prometheus.write.v2.Request included) or an
//     encoding other than snappy (an absent Content-Encoding is read as
//     snappy, like Prometheus does);
//   - 405 for methods other than POST;
//   - 503 when the Appender fails with a retryable error; 400 when it fails
//     with ErrInvalid.
//
// NaN and ±Inf samples other than the stale marker are dropped and counted
// (omen_ingest_errors_total{reason="invalid_value"}) without failing the
// request; native histograms and exemplars are ignored (counted as
// reason="unsupported"). Remote-write batches carry Seq 0: a request the
// sender retries after a 5xx whose samples were in fact stored is stored
// again.
type RemoteWriteReceiver struct {
	opts   RemoteWriteOptions
	app    Appender
	logger *slog.Logger
	cache  *labelCache
	pool   sync.Pool
	m      *ingestMetrics

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
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
	h := &RemoteWriteReceiver{opts: o, app: app, logger: logger, m: m, cache: newLabelCache(o.LabelCacheSize)}
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
	h.pool.New = func() any { return &rwState{dec: rwDecoder{cache: h.cache}} }
	return h, nil
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
		if code == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
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
	if r.ContentLength > int64(h.opts.MaxDecodedBytes) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes exceeds limit %d", r.ContentLength, h.opts.MaxDecodedBytes)
	}
	st := h.pool.Get().(*rwState)
	defer h.put(st)

	body, err := readBody(r.Body, st.body[:0], r.ContentLength, h.opts.MaxDecodedBytes)
	st.body = body
	if errors.Is(err, errTooLarge) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds limit %d", h.opts.MaxDecodedBytes)
	}
	if err != nil {
		return http.StatusBadRequest, fmt.Sprintf("read body: %v", err)
	}
	n, err := snappy.DecodedLen(body)
	if err != nil {
		h.m.errors.WithLabelValues(ReasonUndecodable).Inc()
		return http.StatusBadRequest, fmt.Sprintf("snappy: %v", err)
	}
	if n > h.opts.MaxDecodedBytes {
		h.m.errors.WithLabelValues(ReasonTooLarge).Inc()
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("decoded body of %d bytes exceeds limit %d", n, h.opts.MaxDecodedBytes)
	}
	if cap(st.decoded) < n {
		st.decoded = make([]byte, n)
	}
	dec, err := snappy.Decode(st.decoded[:cap(st.decoded)], body)
	if err != nil {
		h.m.errors.WithLabelValues(ReasonUndecodable).Inc()
		return http.StatusBadRequest, fmt.Sprintf("snappy: %v", err)
	}
	var stats rwStats
	st.samples, err = st.dec.decode(dec, st.samples[:0], &stats)
	if err != nil {
		h.m.errors.WithLabelValues(ReasonUndecodable).Inc()
		return http.StatusBadRequest, fmt.Sprintf("decode write request: %v", err)
	}
	if stats.invalidValues > 0 {
		h.m.errors.WithLabelValues(ReasonInvalidValue).Add(float64(stats.invalidValues))
	}
	if stats.histograms > 0 {
		h.m.errors.WithLabelValues(ReasonUnsupported).Add(float64(stats.histograms))
	}
	if stats.invalidSeries > 0 {
		h.m.errors.WithLabelValues(ReasonInvalidLabel).Add(float64(stats.invalidSeries))
	}
	if len(st.samples) > 0 {
		st.batch[0] = telemetry.Batch{Source: h.opts.Source, Received: time.Now().UnixMilli(), Samples: st.samples}
		ctx, cancel := context.WithTimeout(r.Context(), h.opts.AppendTimeout)
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
				return http.StatusBadRequest, fmt.Sprintf("store samples: %v", err)
			}
			return http.StatusServiceUnavailable, fmt.Sprintf("store samples: %v", err)
		}
		h.m.samples.WithLabelValues(h.opts.Source).Add(float64(len(st.samples)))
	}
	if stats.invalidSeries > 0 {
		return http.StatusBadRequest, fmt.Sprintf("%d series with invalid labels dropped, first %s", stats.invalidSeries, stats.firstInvalid)
	}
	return http.StatusNoContent, ""
}

// put returns st to the pool unless it grew beyond what is worth keeping.
func (h *RemoteWriteReceiver) put(st *rwState) {
	if st.lent {
		return // the Appender may still read it; the collector frees it later
	}
	clear(st.samples) // drop label references
	if cap(st.samples) > 1<<20 || cap(st.decoded) > 64<<20 {
		return
	}
	h.pool.Put(st)
}

var errTooLarge = errors.New("body too large")

func readBody(r io.Reader, buf []byte, contentLength int64, limit int) ([]byte, error) {
	if contentLength > 0 {
		if cap(buf) < int(contentLength) {
			buf = make([]byte, contentLength)
		}
		buf = buf[:contentLength]
		_, err := io.ReadFull(r, buf)
		return buf, err
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
		if err == io.EOF {
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
