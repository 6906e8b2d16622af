package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	pmodel "github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/stream/decode"
	"github.com/omen-sre/omen/telemetry"
)

// This file holds a zero-copy decoder for the remote-write 1.0
// prompb.WriteRequest wire format. It reads only what omen needs (series
// labels and float samples), interns label sets in a bounded cache keyed by
// their raw encoding, and never allocates per sample on the hot path. Its
// results are checked against prompb's generated Unmarshal by a
// differential fuzz test.

var errProto = errors.New("malformed protobuf")

// Protobuf wire types.
const (
	wireVarint     = 0
	wireFixed64    = 1
	wireBytes      = 2
	wireStartGroup = 3
	wireEndGroup   = 4
	wireFixed32    = 5
)

// skipGroup skips the (deprecated) group whose start tag was just read and
// returns what follows its end tag. Like the generated code, it does not
// check field numbers inside the group.
func skipGroup(b []byte) ([]byte, error) {
	for depth := 1; ; {
		tag, k := readVarint(b)
		if k == 0 {
			return nil, errProto
		}
		b = b[k:]
		switch tag & 7 {
		case wireVarint:
			if _, k = readVarint(b); k == 0 {
				return nil, errProto
			}
			b = b[k:]
		case wireFixed64:
			if len(b) < 8 {
				return nil, errProto
			}
			b = b[8:]
		case wireFixed32:
			if len(b) < 4 {
				return nil, errProto
			}
			b = b[4:]
		case wireBytes:
			l, k := readVarint(b)
			if k == 0 || l > uint64(len(b)-k) {
				return nil, errProto
			}
			b = b[uint64(k)+l:]
		case wireStartGroup:
			depth++
		case wireEndGroup:
			depth--
			if depth == 0 {
				return b, nil
			}
		default:
			return nil, errProto
		}
	}
}

func readVarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		c := b[i]
		v |= uint64(c&0x7f) << (7 * uint(i))
		if c < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// field reads one field of a protobuf message. For wireBytes, val is the
// payload; for numeric types num holds the value. rest is what follows.
func nextField(b []byte) (num int, typ int, val []byte, n uint64, rest []byte, err error) {
	tag, k := readVarint(b)
	if k == 0 {
		return 0, 0, nil, 0, nil, errProto
	}
	b = b[k:]
	// Field numbers are read as int32, like the generated code does.
	num, typ = int(int32(tag>>3)), int(tag&7)
	if num <= 0 {
		return 0, 0, nil, 0, nil, errProto
	}
	switch typ {
	case wireVarint:
		v, k := readVarint(b)
		if k == 0 {
			return 0, 0, nil, 0, nil, errProto
		}
		return num, typ, nil, v, b[k:], nil
	case wireFixed64:
		if len(b) < 8 {
			return 0, 0, nil, 0, nil, errProto
		}
		return num, typ, nil, binary.LittleEndian.Uint64(b), b[8:], nil
	case wireFixed32:
		if len(b) < 4 {
			return 0, 0, nil, 0, nil, errProto
		}
		return num, typ, nil, uint64(binary.LittleEndian.Uint32(b)), b[4:], nil
	case wireBytes:
		l, k := readVarint(b)
		if k == 0 || l > uint64(len(b)-k) {
			return 0, 0, nil, 0, nil, errProto
		}
		b = b[k:]
		return num, typ, b[:l], 0, b[l:], nil
	case wireStartGroup:
		rest, err := skipGroup(b)
		return num, typ, nil, 0, rest, err
	default:
		return 0, 0, nil, 0, nil, errProto
	}
}

// rwStats counts what a decode dropped.
type rwStats struct {
	invalidSeries int // series rejected for bad labels (invalid_labels)
	limitSeries   int // series rejected for too many or too long labels (too_many_labels)
	tooOld        int // samples before the time window
	tooNew        int // samples after the time window
	histograms    int // native histograms dropped (unsupported)
	firstInvalid  string
}

// errTooManySamples and errTooManySeries end a decode whose request holds
// more samples or series than its limits allow.
var (
	errTooManySamples = errors.New("too many samples")
	errTooManySeries  = errors.New("too many series")
)

// rwDecoder decodes WriteRequests. It is not safe for concurrent use; the
// label cache it points to is.
type rwDecoder struct {
	cache *labelCache
	key   []byte
	sb    labels.ScratchBuilder

	// Per request, set by the receiver: samples outside [minT, maxT] are
	// dropped (counted too_old / too_new); more than maxSamples samples
	// (as sent, dropped ones included) or maxSeries series end the decode
	// with errTooManySamples / errTooManySeries. Zero limits disable them.
	minT, maxT            int64
	maxSamples, maxSeries int
	nSamples, nSeries     int
}

// decode appends the float samples of the WriteRequest in buf to out.
// A malformed message is an error; invalid series and values are counted
// in st and skipped.
func (d *rwDecoder) decode(buf []byte, out []telemetry.Sample, st *rwStats) ([]telemetry.Sample, error) {
	d.nSamples, d.nSeries = 0, 0
	if d.minT == 0 && d.maxT == 0 {
		d.minT, d.maxT = math.MinInt64, math.MaxInt64
	}
	for len(buf) > 0 {
		num, typ, val, _, rest, err := nextField(buf)
		if err != nil {
			return out, err
		}
		buf = rest
		if num != 1 {
			continue // metadata and unknown fields
		}
		if typ != wireBytes {
			return out, errProto
		}
		if d.nSeries++; d.maxSeries > 0 && d.nSeries > d.maxSeries {
			return out, errTooManySeries
		}
		if out, err = d.series(val, out, st); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (d *rwDecoder) series(ts []byte, out []telemetry.Sample, st *rwStats) ([]telemetry.Sample, error) {
	// First pass: gather the raw label fields into the key and validate
	// the framing of the whole series.
	d.key = d.key[:0]
	nsamples := 0
	for b := ts; len(b) > 0; {
		start := b
		num, typ, val, _, rest, err := nextField(b)
		if err != nil {
			return out, err
		}
		b = rest
		switch num {
		case 1:
			if typ != wireBytes {
				return out, errProto
			}
			d.key = append(d.key, start[:len(start)-len(rest)]...)
			_ = val
		case 2:
			if typ != wireBytes {
				return out, errProto
			}
			nsamples++
		case 4:
			st.histograms++
		}
	}
	if d.nSamples += nsamples; d.maxSamples > 0 && d.nSamples > d.maxSamples {
		return out, errTooManySamples
	}
	ls, rej, err := d.cache.get(d.key, &d.sb)
	if err != nil {
		return out, err
	}
	if rej != nil {
		if rej.limit {
			st.limitSeries++
		} else {
			st.invalidSeries++
		}
		if st.firstInvalid == "" {
			st.firstInvalid = describeKey(d.key) + ": " + rej.msg
		}
		return out, nil
	}
	if nsamples == 0 {
		return out, nil
	}
	for b := ts; len(b) > 0; {
		num, _, val, _, rest, err := nextField(b)
		if err != nil {
			return out, err
		}
		b = rest
		if num != 2 {
			continue
		}
		var v float64
		var t int64
		for s := val; len(s) > 0; {
			fnum, ftyp, _, n, srest, err := nextField(s)
			if err != nil {
				return out, err
			}
			s = srest
			switch {
			case fnum == 1 && ftyp == wireFixed64:
				v = math.Float64frombits(n)
			case fnum == 2 && ftyp == wireVarint:
				t = int64(n)
			case fnum == 1 || fnum == 2:
				return out, errProto
			}
		}
		// Every value is a sample, as in Prometheus: NaN (e.g. a summary
		// quantile without observations), ±Inf and the stale marker
		// (value.StaleNaN), which ends the series.
		if t < d.minT {
			st.tooOld++
			continue
		}
		if t > d.maxT {
			st.tooNew++
			continue
		}
		out = append(out, telemetry.Sample{Labels: ls, T: t, V: v})
	}
	return out, nil
}

// describeKey renders raw label fields for an error message.
func describeKey(key []byte) string {
	s := "{"
	for b := key; len(b) > 0; {
		_, _, val, _, rest, err := nextField(b)
		if err != nil {
			break
		}
		b = rest
		name, v, err := parseLabel(val)
		if err != nil {
			break
		}
		if len(s) > 1 {
			s += ", "
		}
		s += fmt.Sprintf("%.64q=%.64q", name, v)
		if len(s) > 200 {
			return s + "…}"
		}
	}
	return s + "}"
}

func parseLabel(b []byte) (name, val []byte, err error) {
	for len(b) > 0 {
		num, typ, v, _, rest, err := nextField(b)
		if err != nil {
			return nil, nil, err
		}
		b = rest
		switch {
		case num == 1 && typ == wireBytes:
			name = v
		case num == 2 && typ == wireBytes:
			val = v
		case num == 1 || num == 2:
			return nil, nil, errProto
		}
	}
	return name, val, nil
}

// labelLimits bound a series' labels: the NATS decoders' limits
// (decode.Options MaxLabels, MaxLabelValueLen).
type labelLimits struct {
	maxLabels int // labels with a non-empty value, __name__ included
	maxLen    int // bytes of a label name (other than __name__) or value
}

// rejection says why a label set is refused. limit is set when it breaks
// a labelLimits bound (reason too_many_labels), else it is invalid
// (invalid_labels).
type rejection struct {
	msg   string
	limit bool
}

var (
	rejInvalidName = &rejection{msg: "empty or non-UTF-8 label name"}
	rejUnsorted    = &rejection{msg: "label names not sorted or duplicated"}
	rejNoName      = &rejection{msg: "no metric name"}
)

// buildLabels turns raw label fields into labels.Labels. rej is non-nil
// when the set is refused: label names must be non-empty, valid UTF-8,
// strictly increasing (sorted, no duplicates); values valid UTF-8 without
// NUL bytes (decode.ValidLabelValue); a
// non-empty __name__ must be present; lim bounds the number of labels and
// the length of names and values. Labels with empty values are dropped, as
// in Prometheus.
func buildLabels(key []byte, sb *labels.ScratchBuilder, lim labelLimits) (labels.Labels, *rejection, error) {
	sb.Reset()
	var prev []byte
	first := true
	hasName := false
	n := 0
	for b := key; len(b) > 0; {
		_, _, val, _, rest, err := nextField(b)
		if err != nil {
			return labels.EmptyLabels(), nil, err
		}
		b = rest
		name, v, err := parseLabel(val)
		if err != nil {
			return labels.EmptyLabels(), nil, err
		}
		if len(name) == 0 || !utf8.Valid(name) {
			return labels.EmptyLabels(), rejInvalidName, nil
		}
		if !utf8.Valid(v) || bytes.IndexByte(v, 0) >= 0 {
			// Non-UTF-8, or a NUL (which the store refuses in entity
			// names), as in the NATS decoders (checked on the bytes: the
			// string only for the message).
			err := decode.ValidLabelValue(string(v))
			return labels.EmptyLabels(), &rejection{msg: fmt.Sprintf("label %.64q: %v", name, err)}, nil
		}
		if !first && string(prev) >= string(name) {
			return labels.EmptyLabels(), rejUnsorted, nil
		}
		first, prev = false, name
		isName := string(name) == pmodel.MetricNameLabel
		if isName && len(v) > 0 {
			hasName = true
		}
		if len(v) == 0 {
			continue
		}
		if lim.maxLen > 0 && (len(v) > lim.maxLen || !isName && len(name) > lim.maxLen) {
			return labels.EmptyLabels(), &rejection{limit: true, msg: fmt.Sprintf("label %.64q (name %d bytes, value %d bytes) is longer than the limit of %d bytes", name, len(name), len(v), lim.maxLen)}, nil
		}
		if n++; lim.maxLabels > 0 && n > lim.maxLabels {
			return labels.EmptyLabels(), &rejection{limit: true, msg: fmt.Sprintf("more than the limit of %d labels", lim.maxLabels)}, nil
		}
		sb.Add(string(name), string(v))
	}
	if !hasName {
		return labels.EmptyLabels(), rejNoName, nil
	}
	return sb.Labels(), nil, nil
}

// labelCache interns label sets by their raw remote-write encoding. It is
// bounded in entries and in bytes: when a shard reaches its share of
// either capacity its older generation (below) is dropped, then, if still
// full, the shard is cleared; a set costing more than an eighth of a
// shard's bytes is not cached at all. Rejected sets are cached too (with
// their rejection) so that a sender repeating a bad series costs one map
// lookup.
//
// With idle > 0 it also forgets the sets no request used for a while, so
// that series that stopped (churned pods) do not hold it at its capacity
// for good: each shard keeps two generations, the current one and the
// previous one; age makes the current one the previous one (dropping the
// older) every idle, and a hit in the previous one moves the entry back
// to the current one. An entry unused for two periods is gone, one used
// within the last period stays, and the label set of a series still
// sending is the same value throughout (the Head finds its series by its
// address).
type labelCache struct {
	seed     maphash.Seed
	shards   [cacheShards]cacheShard
	max      int // entries per shard
	maxBytes int // bytes per shard
	lim      labelLimits
	idle     int64        // nanoseconds between two agings; 0: never
	agedAt   atomic.Int64 // Unix nanoseconds of the last aging
}

const cacheShards = 32

type cacheEntry struct {
	ls  labels.Labels
	rej *rejection
}

// cacheGen is one generation of a shard: its entries and their
// estimated bytes.
type cacheGen struct {
	m     map[string]cacheEntry
	bytes int
}

type cacheShard struct {
	mu        sync.RWMutex
	cur, prev cacheGen // prev.m is nil when empty
}

// newLabelCache returns a cache of at most size entries and about
// maxBytes bytes (0: no byte bound) whose sets obey lim, whose entries
// unused for between idle and twice idle are dropped (see age; 0: never)
// and whose first period starts at now.
func newLabelCache(size, maxBytes int, lim labelLimits, idle time.Duration, now time.Time) *labelCache {
	c := &labelCache{seed: maphash.MakeSeed(), max: max(size/cacheShards, 1), lim: lim, idle: max(int64(idle), 0)}
	if maxBytes > 0 {
		c.maxBytes = max(maxBytes/cacheShards, 1)
	}
	for i := range c.shards {
		c.shards[i].cur.m = make(map[string]cacheEntry)
	}
	c.agedAt.Store(now.UnixNano())
	return c
}

// entryBytes estimates what an entry holds: its key, its label strings
// and headers, and the map slot.
func entryBytes(key []byte, e cacheEntry) int {
	n := 2*len(key) + 64
	if e.rej != nil {
		n += len(e.rej.msg)
	}
	return n + 16*e.ls.Len()
}

func (c *labelCache) get(key []byte, sb *labels.ScratchBuilder) (labels.Labels, *rejection, error) {
	sh := &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
	sh.mu.RLock()
	e, hit := sh.cur.m[string(key)]
	old := false
	if !hit && sh.prev.m != nil {
		e, old = sh.prev.m[string(key)]
	}
	sh.mu.RUnlock()
	if hit {
		return e.ls, e.rej, nil
	}
	if old {
		sh.mu.Lock()
		if pe, ok := sh.prev.m[string(key)]; ok { // else moved meanwhile
			delete(sh.prev.m, string(key))
			cost := entryBytes(key, pe)
			sh.prev.bytes -= cost
			if _, dup := sh.cur.m[string(key)]; !dup {
				sh.cur.m[string(key)] = pe
				sh.cur.bytes += cost
			}
		}
		sh.mu.Unlock()
		return e.ls, e.rej, nil
	}
	ls, rej, err := buildLabels(key, sb, c.lim)
	if err != nil {
		return ls, nil, err
	}
	e = cacheEntry{ls: ls, rej: rej}
	cost := entryBytes(key, e)
	if c.maxBytes > 0 && cost > c.maxBytes/8 {
		return ls, rej, nil // too big to keep
	}
	sh.mu.Lock()
	if sh.full(c, cost) && sh.prev.m != nil {
		sh.prev = cacheGen{}
	}
	if sh.full(c, cost) {
		sh.cur = cacheGen{m: make(map[string]cacheEntry, min(c.max, 1024))}
	}
	if _, dup := sh.cur.m[string(key)]; !dup {
		sh.cur.m[string(key)] = e
		sh.cur.bytes += cost
	}
	sh.mu.Unlock()
	return ls, rej, nil
}

// full reports whether the shard has no room for an entry of cost bytes.
// Callers hold its lock.
func (sh *cacheShard) full(c *labelCache, cost int) bool {
	return len(sh.cur.m)+len(sh.prev.m) >= c.max ||
		c.maxBytes > 0 && sh.cur.bytes+sh.prev.bytes+cost > c.maxBytes
}

// age starts a new generation in every shard, dropping the previous one,
// when idle has passed since the last aging (now, a request's time). A
// generation's map is new, so the memory of a shard that held many
// entries is freed with it.
func (c *labelCache) age(now time.Time) {
	if c.idle == 0 {
		return
	}
	last, t := c.agedAt.Load(), now.UnixNano()
	if t-last < c.idle || !c.agedAt.CompareAndSwap(last, t) {
		return
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.prev = cacheGen{}
		if len(sh.cur.m) > 0 {
			sh.prev = sh.cur
		}
		sh.cur = cacheGen{m: make(map[string]cacheEntry, min(len(sh.prev.m), 1024))}
		sh.mu.Unlock()
	}
}

// bytes returns the estimated bytes of the cached label sets.
func (c *labelCache) bytes() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += c.shards[i].cur.bytes + c.shards[i].prev.bytes
		c.shards[i].mu.RUnlock()
	}
	return n
}

// len returns the number of cached label sets.
func (c *labelCache) len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += len(c.shards[i].cur.m) + len(c.shards[i].prev.m)
		c.shards[i].mu.RUnlock()
	}
	return n
}
