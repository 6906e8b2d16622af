package features

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	pmodel "github.com/prometheus/common/model"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/omen-sre/omen/internal/mapshrink"
	"github.com/omen-sre/omen/telemetry"
)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("head closed")

// HeadOptions configure a Head.
type HeadOptions struct {
	// Lookback is how much data time the Head keeps: a sample older than
	// the newest sample time minus Lookback is dropped (too_old), and a
	// series without a sample for longer is garbage-collected. Default 15m.
	// It must cover the longest range (plus offset) of any feature, and the
	// 5m instant-vector lookback.
	Lookback time.Duration
	// MaxSeries limits the number of series held; samples of new series
	// beyond it are dropped with reason cardinality, and a warning says so
	// at most every cardinalityWarnEvery (wall time, Now). Default
	// 1,000,000.
	MaxSeries int
	// Shards is the number of independently locked series maps, rounded up
	// to a power of two. Default 256.
	Shards int
	// MaxFuture, when positive, drops samples more than MaxFuture ahead of
	// Now (reason future): the Head's clock is the newest sample time, so a
	// single sample from a clock far ahead would otherwise age out every
	// series. Zero (the default) accepts any time, for replays and
	// simulations that run ahead of the wall clock.
	MaxFuture time.Duration
	// ImmutableLabels promises that the label sets of appended samples
	// are never overwritten afterwards (no labels.ScratchBuilder.Overwrite
	// or other zero-copy construction), so a new series keeps the caller's
	// label set (e.g. a decoder's interned one) instead of a copy. omen's
	// decoders build fresh, immutable label sets.
	ImmutableLabels bool
	// Now is the wall clock for MaxFuture. Default time.Now.
	Now func() time.Time
	// Registerer receives the Head's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger; nil discards.
	Logger *slog.Logger
}

func (o *HeadOptions) setDefaults() {
	if o.Lookback == 0 {
		o.Lookback = 15 * time.Minute
	}
	if o.MaxSeries == 0 {
		o.MaxSeries = 1_000_000
	}
	if o.Shards == 0 {
		o.Shards = 256
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func (o *HeadOptions) validate() error {
	if o.Lookback < time.Minute {
		return fmt.Errorf("head lookback %v: must be at least 1m", o.Lookback)
	}
	if o.MaxSeries < 1 {
		return fmt.Errorf("head max series %d: must be positive", o.MaxSeries)
	}
	if o.Shards < 1 || o.Shards > 1<<16 {
		return fmt.Errorf("head shards %d: must be in [1, 65536]", o.Shards)
	}
	if o.MaxFuture < 0 {
		return fmt.Errorf("head max future %v: must not be negative", o.MaxFuture)
	}
	return nil
}

// Head is a bounded in-memory window of series: per series the samples of
// the last Lookback of data time, XOR-compressed in chunks. "Now" is the
// newest sample time appended (data time, not the wall clock), so replays
// and simulations behave like live data.
//
// Samples may arrive out of order within the window: they are inserted by
// re-encoding the affected chunk (cheap when rare). A second sample at a
// time a series already has is dropped: as duplicate when the value is the
// same (a redelivery, compared bit for bit), as out_of_order otherwise.
// Every float64 is a value, as in Prometheus: NaN (a summary quantile
// without observations) and ±Inf are stored and evaluate as such. Stale
// markers (value.StaleNaN) are stored and end the series for PromQL (an
// instant selector finds no value at or after one); a stale marker for an
// unknown series is ignored.
//
// A Head is safe for concurrent use: Append from any number of goroutines
// while queriers read. Queriers see a snapshot taken at Select.
type Head struct {
	opts       HeadOptions
	lookback   int64 // ms
	chunkRange int64 // ms
	shards     []headShard
	mask       uint64

	// refs finds the series of a label set by the address of its bytes
	// (see seriesRefs); nil unless ImmutableLabels.
	refs atomic.Pointer[seriesRefs]
	// refPool holds AppendConcurrent's scratch (*[]sampleRef).
	refPool sync.Pool

	numSeries atomic.Int64
	maxT      atomic.Int64
	// stamp is what appends record on the series of their samples (see
	// SetStamp and Progress).
	stamp  atomic.Int64
	nextGC atomic.Int64
	gcMu   sync.Mutex
	closed atomic.Bool
	// progressMu guards progressSels, the selectors of the last Progress
	// call, and progressGen, a number for them that series cache their
	// match under (memSeries.selected).
	progressMu   sync.Mutex
	progressSels [][]*labels.Matcher
	progressGen  uint64

	// cardDropped counts the samples dropped for cardinality since the
	// last warning of it, cardExample names one of their series (nil:
	// none), cardWarnAt is the warning's wall time (ms; 0: none).
	cardDropped atomic.Int64
	cardExample atomic.Pointer[string]
	cardWarnAt  atomic.Int64

	appended prometheus.Counter
	removed  prometheus.Counter
	dropped  *prometheus.CounterVec
	drops    [numHeadReasons]prometheus.Counter
}

// cardinalityWarnEvery is the least wall time between two warnings that
// new series were refused for MaxSeries.
const cardinalityWarnEvery = time.Minute

// Head drop reasons indexed in Head.drops.
const (
	dropInvalid = iota
	dropTooOld
	dropCardinality
	dropOutOfOrder
	dropDuplicate
	dropClosed
	dropFuture
	numHeadReasons
)

var headReasons = [numHeadReasons]string{
	ReasonInvalid, ReasonTooOld, ReasonCardinality, ReasonOutOfOrder, ReasonDuplicate, ReasonClosed, ReasonFuture,
}

type headShard struct {
	mu     sync.RWMutex
	series map[uint64]*memSeries   // by labels hash; collisions chained
	byName map[string][]*memSeries // metric name index
	// peak is the most series the shard's map held at a garbage
	// collection since the map was made (see shrink).
	peak mapshrink.Peak
	_    [32]byte // keep shards on separate cache lines
}

// memSeries is one series; guarded by its shard's lock.
type memSeries struct {
	lset   labels.Labels
	next   *memSeries // hash collision chain
	closed []closedChunk
	// head is the chunk appended to; valid while app is not nil.
	head chunkenc.XORChunk
	app  chunkenc.Appender
	// headMint and headMaxt bound the head chunk; headMaxt is the newest
	// sample time of the series.
	headMint, headMaxt int64
	// gap is the time between the two newest samples (0: one sample,
	// which Progress leaves out),
	// and seen the Head's stamp at the last append of a sample of the
	// series (see Progress); arrival is the usual time (stamp units)
	// between its arrivals: the latest gap between two stamps of its
	// appends that is a new arrival (see arrived), or, if larger, 15/16 of
	// the previous arrival (a gap that varies, e.g. with a push agent's
	// flush jitter, counts by its larger values of the last dozen or so
	// arrivals).
	gap, seen, arrival int64
	// selected caches whether Progress's selectors select the series:
	// their Head.progressGen << 1, | 1 when they do (0: not known).
	selected atomic.Uint64
	lastV    float64
	dead     bool
	// marked: the series' latest append came from a source that ends
	// series with stale markers (AppendMarked); Progress holds it by
	// Liveness.Since alone. It fills padding: memSeries stays 160 bytes.
	marked bool
	shard  uint32 // index of its shard, immutable
}

type closedChunk struct {
	data       []byte // complete XOR chunk, immutable, exactly sized
	mint, maxt int64
}

const (
	maxSamplesPerChunk = 120
	maxBytesPerChunk   = chunkenc.MaxBytesPerXORChunkBeforeAppend
	initialChunkBytes  = 32
)

// NewHead returns an empty Head.
func NewHead(opts HeadOptions) (*Head, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	n := 1
	for n < opts.Shards {
		n <<= 1
	}
	h := &Head{
		opts:       opts,
		lookback:   opts.Lookback.Milliseconds(),
		chunkRange: max(opts.Lookback.Milliseconds()/3, 1000),
		shards:     make([]headShard, n),
		mask:       uint64(n - 1),
	}
	for i := range h.shards {
		h.shards[i].series = map[uint64]*memSeries{}
		h.shards[i].byName = map[string][]*memSeries{}
	}
	h.maxT.Store(math.MinInt64)
	h.nextGC.Store(math.MinInt64)
	if opts.ImmutableLabels && telemetry.LabelsHaveAddress() {
		h.refs.Store(newSeriesRefs(1024))
	}

	h.appended = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "omen", Name: "head_samples_appended_total",
		Help: "Samples appended to the in-memory feature head.",
	})
	h.removed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "omen", Name: "head_series_removed_total",
		Help: "Series garbage-collected from the head after a lookback without samples.",
	})
	series := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "omen", Name: "head_series",
		Help: "Series held in the in-memory feature head.",
	}, func() float64 { return float64(h.numSeries.Load()) })
	if err := register(opts.Registerer, h.appended, h.removed, series); err != nil {
		return nil, err
	}
	d, err := droppedCounter(opts.Registerer)
	if err != nil {
		return nil, err
	}
	h.dropped = d
	for i, r := range headReasons {
		h.drops[i] = d.WithLabelValues(r)
	}
	return h, nil
}

// Lookback returns the window the Head keeps.
func (h *Head) Lookback() time.Duration { return h.opts.Lookback }

// NumSeries returns the number of series held.
func (h *Head) NumSeries() int { return int(h.numSeries.Load()) }

// MaxTime returns the newest sample time appended, in milliseconds, or
// math.MinInt64 when nothing was appended.
func (h *Head) MaxTime() int64 { return h.maxT.Load() }

// Close drops all series; later Appends return ErrClosed and queries see
// nothing.
func (h *Head) Close() error {
	h.closed.Store(true)
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		n := 0
		for _, s := range sh.series {
			for ; s != nil; s = s.next {
				n++
			}
		}
		sh.series = map[uint64]*memSeries{}
		sh.byName = map[string][]*memSeries{}
		sh.mu.Unlock()
		h.numSeries.Add(int64(-n))
	}
	return nil
}

// Append adds samples to the Head and returns how many were stored. The
// label sets of new series are copied (unless HeadOptions.ImmutableLabels),
// so samples may point into buffers the caller reuses. Samples that cannot be stored are counted in
// omen_feature_dropped_total{reason} and are not an error, so redelivering
// a batch is harmless (its samples count as duplicate). The error is
// ErrClosed after Close.
func (h *Head) Append(samples []telemetry.Sample) (int, error) {
	return h.AppendPart(samples, 0, 1)
}

// AppendMarked is Append for samples of a source that ends its series
// with stale markers (Prometheus remote write): their series count as
// still sending by Liveness.Since alone, not by their interval (see
// Liveness). A series takes the kind of its latest append.
func (h *Head) AppendMarked(samples []telemetry.Sample) (int, error) {
	n, err := h.appendPart(samples, nil, 0, 1, true)
	h.warnCardinality()
	return n, err
}

// AppendPart is Append restricted to the series in part (0 ≤ part <
// nparts) of nparts partitions of the Head's shards. Calls for every part
// of the same samples, made concurrently, append all of them as one Append
// would, each series' samples in order and without lock contention between
// the calls (except that when the samples span more than the lookback,
// which of the oldest are too old may depend on the parts' progress);
// drops the partitions cannot tell apart (invalid, future, too old) are
// counted by part 0. It returns how many samples of its part were stored.
func (h *Head) AppendPart(samples []telemetry.Sample, part, nparts int) (int, error) {
	if nparts < 1 || part < 0 || part >= nparts {
		return 0, fmt.Errorf("head append: part %d of %d", part, nparts)
	}
	n, err := h.appendPart(samples, nil, part, nparts, false)
	h.warnCardinality()
	return n, err
}

// sampleRef is a sample's series as resolved before appending: the
// series (nil when not found by address), else its label hash.
type sampleRef struct {
	ser  *memSeries
	hash uint64
}

// AppendConcurrent appends the samples of every slice of batches, in
// order, as Append would, on up to parts goroutines: each goroutine first
// resolves a share of the samples to their series (by label-set address,
// or hashes their labels), then each appends the samples of its part of
// the shards (see AppendPart), so no label set is resolved twice. It
// returns how many samples were stored.
func (h *Head) AppendConcurrent(batches [][]telemetry.Sample, parts int) (int, error) {
	return h.appendConcurrent(batches, parts, false)
}

// AppendConcurrentMarked is AppendConcurrent for samples of a source that
// ends its series with stale markers (see AppendMarked).
func (h *Head) AppendConcurrentMarked(batches [][]telemetry.Sample, parts int) (int, error) {
	return h.appendConcurrent(batches, parts, true)
}

func (h *Head) appendConcurrent(batches [][]telemetry.Sample, parts int, marked bool) (int, error) {
	n := 0
	for _, b := range batches {
		n += len(b)
	}
	if parts < 2 || n == 0 {
		total := 0
		for _, b := range batches {
			k, err := h.appendPart(b, nil, 0, 1, marked)
			h.warnCardinality()
			total += k
			if err != nil {
				return total, err
			}
		}
		return total, nil
	}
	refs := h.refScratch(n)
	defer h.refPool.Put(refs)
	byBatch := make([][]sampleRef, len(batches))
	off := 0
	for i, b := range batches {
		byBatch[i] = (*refs)[off : off+len(b) : off+len(b)]
		off += len(b)
	}
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() {
			lo, hi := p*n/parts, (p+1)*n/parts
			off := 0
			for i, b := range batches {
				if off >= hi {
					break
				}
				if end := off + len(b); end > lo {
					from, to := max(lo-off, 0), min(hi-off, len(b))
					h.resolve(b[from:to], byBatch[i][from:to])
				}
				off += len(b)
			}
		})
	}
	wg.Wait()
	var stored atomic.Int64
	var failed atomic.Value
	for p := range parts {
		wg.Go(func() {
			for i, b := range batches {
				k, err := h.appendPart(b, byBatch[i], p, parts, marked)
				stored.Add(int64(k))
				if err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	h.warnCardinality()
	clear(*refs) // drop the series pointers
	if err, _ := failed.Load().(error); err != nil {
		return int(stored.Load()), err
	}
	return int(stored.Load()), nil
}

func (h *Head) refScratch(n int) *[]sampleRef {
	r, _ := h.refPool.Get().(*[]sampleRef)
	if r == nil {
		r = new([]sampleRef)
	}
	if cap(*r) < n {
		*r = make([]sampleRef, n)
	}
	*r = (*r)[:n]
	return r
}

// resolve fills refs[i] for samples[i]: the series found by address, or
// the label hash.
func (h *Head) resolve(samples []telemetry.Sample, refs []sampleRef) {
	r := h.refs.Load()
	for i := range samples {
		if ser := r.lookup(samples[i].Labels); ser != nil {
			refs[i] = sampleRef{ser: ser}
		} else {
			refs[i] = sampleRef{hash: samples[i].Labels.Hash()}
		}
	}
}

// appendPart is AppendPart with the samples' series resolved in
// resolved (nil: resolve them here).
func (h *Head) appendPart(samples []telemetry.Sample, resolved []sampleRef, part, nparts int, marked bool) (int, error) {
	first := part == 0
	if h.closed.Load() {
		if first {
			h.drops[dropClosed].Add(float64(len(samples)))
		}
		return 0, ErrClosed
	}
	var drops [numHeadReasons]int
	// refused is the label set of a sample dropped for cardinality.
	var refused labels.Labels
	appended := 0
	maxT := h.maxT.Load()
	stamp := h.stamp.Load()
	future := int64(math.MaxInt64)
	if h.opts.MaxFuture > 0 {
		future = h.opts.Now().Add(h.opts.MaxFuture).UnixMilli()
	}
	for i := range samples {
		s := &samples[i]
		v := s.V
		if s.Labels.IsEmpty() {
			if first {
				drops[dropInvalid]++
			}
			continue
		}
		if s.T > future {
			if first {
				drops[dropFuture]++
			}
			continue
		}
		if s.T > maxT {
			if nparts == 1 {
				maxT = h.advance(s.T)
			} else {
				// The parts see the same times in the same order,
				// whatever the other parts' progress.
				h.advance(s.T)
				maxT = s.T
			}
		}
		if s.T <= maxT-h.lookback {
			if first {
				drops[dropTooOld]++
			}
			continue
		}
		// A label set the Head already keeps (the decoder's interned
		// one) finds its series by address, without hashing its bytes.
		refs := h.refs.Load()
		var ser *memSeries
		var hash uint64
		if resolved != nil {
			ser, hash = resolved[i].ser, resolved[i].hash
		} else if ser = refs.lookup(s.Labels); ser == nil {
			hash = s.Labels.Hash()
		}
		var shard uint64
		if ser != nil {
			shard = uint64(ser.shard)
		} else {
			shard = hash & h.mask
		}
		if nparts > 1 && int(shard%uint64(nparts)) != part {
			continue
		}
		sh := &h.shards[shard]
		sh.mu.Lock()
		if ser != nil && ser.dead {
			ser = nil // garbage-collected; a new series may exist
			hash = s.Labels.Hash()
		}
		if ser == nil {
			ser = sh.get(hash, s.Labels)
			if ser != nil {
				refs.remember(ser, s.Labels)
			}
		}
		if ser == nil {
			if value.IsStaleNaN(v) {
				sh.mu.Unlock()
				continue
			}
			if s.Labels.Get(pmodel.MetricNameLabel) == "" {
				sh.mu.Unlock()
				drops[dropInvalid]++
				continue
			}
			if h.numSeries.Add(1) > int64(h.opts.MaxSeries) {
				h.numSeries.Add(-1)
				sh.mu.Unlock()
				if drops[dropCardinality] == 0 {
					refused = s.Labels
				}
				drops[dropCardinality]++
				continue
			}
			lset := s.Labels
			if !h.opts.ImmutableLabels {
				// The sample's labels may point into a reused buffer.
				lset = lset.Copy()
			}
			ser = sh.create(hash, uint32(shard), lset)
			refs = h.growRefs(refs)
			refs.remember(ser, s.Labels)
		}
		r := ser.append(s.T, v, h.chunkRange, maxT-h.lookback)
		ser.arrived(stamp)
		ser.marked = marked
		sh.mu.Unlock()
		if r == appendOK {
			appended++
		} else {
			drops[r]++
		}
	}
	h.appended.Add(float64(appended))
	for r, n := range drops {
		if n > 0 {
			h.drops[r].Add(float64(n))
		}
	}
	if n := drops[dropCardinality]; n > 0 {
		h.cardDropped.Add(int64(n))
		if h.cardExample.Load() == nil {
			ex := refused.String()
			h.cardExample.CompareAndSwap(nil, &ex)
		}
	}
	if maxT >= h.nextGC.Load() && h.gcMu.TryLock() {
		if maxT >= h.nextGC.Load() {
			h.nextGC.Store(maxT + h.chunkRange)
			h.gc(maxT - h.lookback)
		}
		h.gcMu.Unlock()
	}
	return appended, nil
}

// warnCardinality warns of the samples dropped for cardinality since the
// last warning, if any, unless that was less than cardinalityWarnEvery
// ago: the drops in between are named by the next warning, which the next
// append that drops some after that time gives. Append, AppendPart and
// AppendConcurrent call it once their samples are appended, so that one
// call's drops are named together.
func (h *Head) warnCardinality() {
	if h.cardDropped.Load() == 0 {
		return
	}
	now := h.opts.Now().UnixMilli()
	last := h.cardWarnAt.Load()
	if last != 0 && now >= last && now-last < cardinalityWarnEvery.Milliseconds() {
		return
	}
	if !h.cardWarnAt.CompareAndSwap(last, now) {
		return // another append warns
	}
	ex := ""
	if p := h.cardExample.Swap(nil); p != nil {
		ex = *p
	}
	args := []any{"samples_dropped", h.cardDropped.Swap(0), "max_series", h.opts.MaxSeries, "series", h.numSeries.Load(), "example_series", ex}
	if last != 0 {
		args = append(args, "since", time.Duration(now-last)*time.Millisecond)
	}
	h.opts.Logger.Warn("new series refused: the in-memory head holds max_series series, so the samples of series beyond it are dropped (omen_feature_dropped_total{reason=\"cardinality\"}) and entities whose features read them are not predicted; raise max_series in the configuration (memory grows with it, see omen_head_series) or stop sending series omen does not use", args...)
}

// advance raises the Head's newest time to t and returns the new newest time.
func (h *Head) advance(t int64) int64 {
	for {
		cur := h.maxT.Load()
		if t <= cur {
			return cur
		}
		if h.maxT.CompareAndSwap(cur, t) {
			return t
		}
	}
}

// SetStamp sets the stamp that appends record, from now on, on the series
// of their samples (a clock of the caller's: see Progress).
func (h *Head) SetStamp(stamp int64) { h.stamp.Store(stamp) }

// Liveness tells which series count as still sending for Progress, on
// the clock of the stamps (see SetStamp; ms). A series counts while its
// last append's stamp (seen) is at or after Since and, when PerInterval
// is not 0, while it is not overdue: Last (the stamp of the newest
// arrival of any data) minus seen is less than PerInterval of its
// interval (the larger of the time between its two newest samples and
// the usual time between its arrivals), at least Floor and at most Max;
// Max for a series whose samples so far all came in one arrival (a push
// agent that flushes a minute of 10 s samples at once: the time to its
// next flush is not known yet).
// A series from a source that ends its series with stale markers
// (AppendMarked: Prometheus remote write) counts by Since alone: it ends
// with a marker when it stops, and a remote-write shard that stalls (a
// request retried after remote_timeout) delays its series by a minute or
// more while the other shards keep sending.
// A series seen at or before Paused, the last arrival before the latest
// outage (a gap the caller's clock counted Outage of), is overdue by that
// much less: an outage ages no series, while a series that stops amid
// the others ages as the others arrive. Since alone is a fixed cut-off.
type Liveness struct {
	Since        int64
	Last, Paused int64
	Outage       int64
	PerInterval  int64
	Floor, Max   int64
}

// live reports whether a series seen at seen, whose two newest samples
// are gap apart and whose arrivals arrival apart (0: one arrival so far),
// counts as still sending; marked: its source ends series with stale
// markers (AppendMarked), so only Since applies.
func (l *Liveness) live(seen, gap, arrival int64, marked bool) bool {
	if seen < l.Since {
		return false
	}
	if l.PerInterval == 0 || marked {
		return true
	}
	over := l.Last - seen
	if seen <= l.Paused {
		over -= l.Outage
	}
	if arrival == 0 {
		return over < l.Max
	}
	return over < min(max(l.PerInterval*max(gap, arrival), l.Floor), l.Max)
}

// Progress tells how far the samples of the series still sending have
// arrived, for a caller that evaluates a time only once its inputs are
// in. Of the series one of sels selects (each the label matchers of a
// PromQL vector selector, e.g. Extractor.Selectors; one without matchers
// selects every series) that count as still sending by live (see
// Liveness) and whose newest sample is not a stale marker (which ends a
// series), it returns the least time through which a
// series' samples are all appended and the series' labels; ok is false
// when no series counts. That time is the series' newest sample time plus
// 7/8 of the interval between its two newest samples: a series is sent in
// time order, and its next sample, scraped at that interval, comes after
// it (1/8 of it is left for jitter); out-of-order samples count by
// time, not by arrival. A series with a single sample (a one-off push, a
// batch job's, a series just created) has no known interval and does not
// count: no next sample is due, and counted through its own time it held
// every later step back until it stopped counting. A series whose samples
// are rare counts through 7/8 of its long interval, minutes ahead. It
// scans the series of the selectors' metric names (every series when a
// selector names none) under their shards' read locks. A series is matched against the other
// label matchers once for a given sels, which the caller passes again
// unchanged (a new set of selectors is a new slice), and only when it
// would lower the least time.
func (h *Head) Progress(live Liveness, sels [][]*labels.Matcher) (t int64, lset labels.Labels, ok bool) {
	return h.ProgressExcept(live, sels, nil)
}

// ProgressExcept is Progress leaving out the series for which except
// (when not nil) returns true. except is called with a selected series'
// labels and the time through which its samples are all appended, only
// when the series would lower the least time, under its shard's read lock
// (it must not call the Head).
func (h *Head) ProgressExcept(live Liveness, sels [][]*labels.Matcher, except func(lset labels.Labels, through int64) bool) (t int64, lset labels.Labels, ok bool) {
	h.progressMu.Lock()
	if len(sels) != len(h.progressSels) || (len(sels) > 0 && &sels[0] != &h.progressSels[0]) {
		h.progressSels = sels
		h.progressGen++
	}
	gen := h.progressGen
	h.progressMu.Unlock()
	// By metric name, the selectors' other matchers; anyName: a selector
	// without a fixed set of names.
	type namedSels struct {
		name string
		rest [][]*labels.Matcher
	}
	var named []namedSels
	anyName := false
	for _, ms := range sels {
		names, rest := metricNames(ms)
		anyName = anyName || names == nil
		for _, n := range names {
			i := slices.IndexFunc(named, func(ns namedSels) bool { return ns.name == n })
			if i < 0 {
				i = len(named)
				named = append(named, namedSels{name: n})
			}
			named[i].rest = append(named[i].rest, rest)
		}
	}
	t = math.MaxInt64
	var least *memSeries
	// visit counts the series of list, of which sels, all selectors or
	// those of the series' name without their name matcher, tell whether
	// they are selected.
	visit := func(list []*memSeries, sels [][]*labels.Matcher) {
		for _, s := range list {
			if s.gap == 0 || value.IsStaleNaN(s.lastV) {
				continue
			}
			c := s.headMaxt + s.gap - s.gap/8
			if c >= t || !live.live(s.seen, s.gap, s.arrival, s.marked) {
				continue
			}
			sel := s.selected.Load()
			if sel>>1 != gen {
				sel = gen << 1
				if matchesAny(s.lset, sels) {
					sel |= 1
				}
				s.selected.Store(sel)
			}
			if sel&1 == 1 && (except == nil || !except(s.lset, c)) {
				t, least = c, s
			}
		}
	}
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		if anyName {
			for _, list := range sh.byName {
				visit(list, sels)
			}
		} else {
			for _, ns := range named {
				visit(sh.byName[ns.name], ns.rest)
			}
		}
		if least != nil && least.shard == uint32(i) {
			lset = least.lset
		}
		sh.mu.RUnlock()
	}
	if least == nil {
		return 0, labels.EmptyLabels(), false
	}
	return t, lset, true
}

// matchesAny reports whether lset matches all of one of sels' matchers.
func matchesAny(lset labels.Labels, sels [][]*labels.Matcher) bool {
	for _, ms := range sels {
		if matchesAll(lset, ms) {
			return true
		}
	}
	return false
}

// GC removes the series without a sample in the window and the chunks that
// fell out of it, and returns the number of series removed. Append runs it
// by itself every third of the lookback of data time.
func (h *Head) GC() int {
	h.gcMu.Lock()
	defer h.gcMu.Unlock()
	maxT := h.maxT.Load()
	if maxT == math.MinInt64 {
		return 0
	}
	return h.gc(maxT - h.lookback)
}

// gc drops everything at or before minValid. Callers hold gcMu.
func (h *Head) gc(minValid int64) int {
	removed := 0
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		// Loaded under the shard's lock, under which appenders remember
		// its series: a cache swapped in by growRefs meanwhile is seen.
		refs := h.refs.Load()
		n := 0
		sh.peak.Note(len(sh.series))
		for hash, first := range sh.series {
			var keep *memSeries
			var last *memSeries
			for s := first; s != nil; {
				next := s.next
				if s.headMaxt <= minValid {
					s.dead = true
					refs.forget(s)
					n++
				} else {
					s.truncate(minValid)
					s.next = nil
					if last == nil {
						keep = s
					} else {
						last.next = s
					}
					last = s
				}
				s = next
			}
			if keep == nil {
				delete(sh.series, hash)
			} else if keep != first {
				sh.series[hash] = keep
			}
		}
		if n > 0 {
			for name, list := range sh.byName {
				list = slices.DeleteFunc(list, func(s *memSeries) bool { return s.dead })
				if len(list) == 0 {
					delete(sh.byName, name)
				} else {
					sh.byName[name] = list
				}
			}
			sh.shrink()
		}
		sh.mu.Unlock()
		removed += n
	}
	left := h.numSeries.Add(int64(-removed))
	h.removed.Add(float64(removed))
	// The series-ref cache only grows (growRefs): after a churn it is
	// replaced by an empty one sized for the series left.
	if r := h.refs.Load(); removed > 0 && r != nil && len(r.slots) > 1024 && left < int64(len(r.slots)/(4*mapshrink.Factor)) {
		h.refs.CompareAndSwap(r, newSeriesRefs(max(4*int(left), 1024)))
	}
	return removed
}

// shrink rebuilds the shard's maps and name lists when it holds
// 1/mapshrink.Factor of its peak series or fewer (of a peak of at least
// mapshrink.Min): a Go map keeps the buckets of its
// deleted entries, so after a churn (pods that came and went) the head
// would hold the memory of its largest population with a few live series.
// Callers hold the shard's lock.
func (sh *headShard) shrink() {
	if !sh.peak.Shrunk(len(sh.series)) {
		return
	}
	series := make(map[uint64]*memSeries, len(sh.series))
	maps.Copy(series, sh.series)
	byName := make(map[string][]*memSeries, len(sh.byName))
	for name, list := range sh.byName {
		byName[name] = slices.Clone(list)
	}
	sh.series, sh.byName, sh.peak = series, byName, mapshrink.Peak(len(series))
}

func (sh *headShard) get(hash uint64, lset labels.Labels) *memSeries {
	for s := sh.series[hash]; s != nil; s = s.next {
		if labels.Equal(s.lset, lset) {
			return s
		}
	}
	return nil
}

func (sh *headShard) create(hash uint64, shard uint32, lset labels.Labels) *memSeries {
	name := lset.Get(pmodel.MetricNameLabel) // a substring of lset's own copy
	s := &memSeries{lset: lset, shard: shard, headMint: math.MinInt64, headMaxt: math.MinInt64}
	s.next = sh.series[hash]
	sh.series[hash] = s
	sh.byName[name] = append(sh.byName[name], s)
	return s
}

// append results; the drop reasons double as indexes into Head.drops.
const appendOK = -1

// append adds (t, v) to the series. minValid is the window's exclusive
// lower bound, used to drop closed chunks when a chunk is cut.
func (s *memSeries) append(t int64, v float64, chunkRange, minValid int64) int {
	switch {
	case s.app == nil:
		s.newHead(t)
	case t > s.headMaxt:
		if s.head.NumSamples() >= maxSamplesPerChunk || t-s.headMint >= chunkRange ||
			len(s.head.Bytes()) >= maxBytesPerChunk {
			s.cut()
			s.truncate(minValid)
			s.newHead(t)
		}
	case t == s.headMaxt:
		if math.Float64bits(v) == math.Float64bits(s.lastV) {
			return dropDuplicate
		}
		return dropOutOfOrder
	default:
		r := s.insert(t, v)
		if r == appendOK && (s.gap == 0 || t > s.headMaxt-s.gap) {
			s.gap = s.headMaxt - t // t is the second newest sample now
		}
		return r
	}
	s.app.Append(0, t, v)
	if s.headMaxt != math.MinInt64 {
		s.gap = t - s.headMaxt
	}
	s.headMaxt, s.lastV = t, v
	return appendOK
}

// burstStamps is the least difference (stamp units: ms of the caller's
// clock) between two stamps of a series' appends that is a new arrival
// of it, not the same one (a push agent's flush of several samples of a
// series, one message each).
const burstStamps = 1000

// arrivalDecay is the share (1/arrivalDecay) an arrival estimate loses
// at each new arrival shorter than it. At 1/4, Telegraf's flush_jitter
// (flushes 10 s + U(0, 60 s) apart) brought a 70 s estimate to 30 s
// after three quick flushes, and the next long gap released the series
// early: 8 late samples in 6 hours of a reviewer's simulation, 0 at 1/16.
const arrivalDecay = 16

// arrived records an append of the series at stamp. A gap between stamps
// of at least burstStamps and at least half the series' sample interval
// is a new arrival; a shorter one is the same arrival delivered in
// pieces (one flush's messages fetched in several pulls by a busy
// consumer, 1.2 s apart), not a sign that the series arrives often.
func (s *memSeries) arrived(stamp int64) {
	if g := stamp - s.seen; s.seen != 0 && g >= max(burstStamps, s.gap/2) {
		s.arrival = max(g, s.arrival-s.arrival/arrivalDecay)
	}
	s.seen = max(s.seen, stamp)
}

func (s *memSeries) newHead(t int64) {
	s.head.Reset(make([]byte, 2, initialChunkBytes))
	s.app, _ = s.head.Appender() // an empty XOR chunk always yields an appender
	s.headMint = t
}

// cut closes the head chunk; the next append starts a new one.
func (s *memSeries) cut() {
	// Grow the list exactly: a series holds only a few chunks.
	closed := make([]closedChunk, len(s.closed)+1)
	copy(closed, s.closed)
	closed[len(s.closed)] = closedChunk{data: slices.Clone(s.head.Bytes()), mint: s.headMint, maxt: s.headMaxt}
	s.closed = closed
	s.head.Reset(nil)
	s.app = nil
}

// truncate drops closed chunks entirely at or before minValid.
func (s *memSeries) truncate(minValid int64) {
	n := 0
	for n < len(s.closed) && s.closed[n].maxt <= minValid {
		n++
	}
	if n > 0 {
		clear(s.closed[:n])
		s.closed = s.closed[n:] // the next cut reallocates
		if len(s.closed) == 0 {
			s.closed = nil
		}
	}
}

// insert places an out-of-order sample (t < headMaxt) by re-encoding the
// chunk it belongs to.
func (s *memSeries) insert(t int64, v float64) int {
	idx := len(s.closed) // the head chunk
	for i := range s.closed {
		if t <= s.closed[i].maxt {
			idx = i
			break
		}
	}
	var data []byte
	if idx < len(s.closed) {
		data = s.closed[idx].data
	} else {
		data = s.head.Bytes()
	}
	ts, vs, ok := decodeXOR(data)
	if !ok {
		return dropOutOfOrder
	}
	pos, found := slices.BinarySearch(ts, t)
	if found {
		if math.Float64bits(vs[pos]) == math.Float64bits(v) {
			return dropDuplicate
		}
		return dropOutOfOrder
	}
	ts = slices.Insert(ts, pos, t)
	vs = slices.Insert(vs, pos, v)
	c, _ := chunkenc.FromData(chunkenc.EncXOR, make([]byte, 2, 2+len(data)+16))
	app, _ := c.Appender()
	for i := range ts {
		app.Append(0, ts[i], vs[i])
	}
	if idx < len(s.closed) {
		// Readers may hold the old slice: replace, never modify.
		s.closed[idx] = closedChunk{data: slices.Clone(c.Bytes()), mint: ts[0], maxt: ts[len(ts)-1]}
		return appendOK
	}
	// Take over the new chunk with its bit position, then rebuild the
	// appender on the copy.
	s.head = *c.(*chunkenc.XORChunk)
	s.app, _ = s.head.Appender()
	s.headMint = ts[0]
	return appendOK
}

func decodeXOR(data []byte) ([]int64, []float64, bool) {
	c, err := chunkenc.FromData(chunkenc.EncXOR, data)
	if err != nil {
		return nil, nil, false
	}
	n := c.NumSamples()
	ts, vs := make([]int64, 0, n+1), make([]float64, 0, n+1)
	it := c.Iterator(nil)
	for it.Next() == chunkenc.ValFloat {
		t, v := it.At()
		ts = append(ts, t)
		vs = append(vs, v)
	}
	return ts, vs, it.Err() == nil
}

// minTime returns the oldest time held by the series.
func (s *memSeries) minTime() int64 {
	if len(s.closed) > 0 {
		return s.closed[0].mint
	}
	return s.headMint
}
