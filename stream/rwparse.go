package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"unicode/utf8"

	pmodel "github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"

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
	invalidSeries int // series rejected for bad labels
	invalidValues int // NaN/±Inf samples dropped
	histograms    int // native histograms dropped (unsupported)
	firstInvalid  string
}

// rwDecoder decodes WriteRequests. It is not safe for concurrent use; the
// label cache it points to is.
type rwDecoder struct {
	cache *labelCache
	key   []byte
	sb    labels.ScratchBuilder
}

// decode appends the float samples of the WriteRequest in buf to out.
// A malformed message is an error; invalid series and values are counted
// in st and skipped.
func (d *rwDecoder) decode(buf []byte, out []telemetry.Sample, st *rwStats) ([]telemetry.Sample, error) {
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
	ls, ok, err := d.cache.get(d.key, &d.sb)
	if err != nil {
		return out, err
	}
	if !ok {
		st.invalidSeries++
		if st.firstInvalid == "" {
			st.firstInvalid = describeKey(d.key)
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
		if (math.IsNaN(v) && !value.IsStaleNaN(v)) || math.IsInf(v, 0) {
			st.invalidValues++
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
		s += fmt.Sprintf("%q=%q", name, v)
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

// buildLabels turns raw label fields into labels.Labels. ok is false when
// the set is invalid for omen: label names must be non-empty, valid UTF-8,
// strictly increasing (sorted, no duplicates); values valid UTF-8; a
// non-empty __name__ must be present. Labels with empty values are
// dropped, as in Prometheus.
func buildLabels(key []byte, sb *labels.ScratchBuilder) (labels.Labels, bool, error) {
	sb.Reset()
	var prev []byte
	first := true
	hasName := false
	for b := key; len(b) > 0; {
		_, _, val, _, rest, err := nextField(b)
		if err != nil {
			return labels.EmptyLabels(), false, err
		}
		b = rest
		name, v, err := parseLabel(val)
		if err != nil {
			return labels.EmptyLabels(), false, err
		}
		if len(name) == 0 || !utf8.Valid(name) || !utf8.Valid(v) {
			return labels.EmptyLabels(), false, nil
		}
		if !first && string(prev) >= string(name) {
			return labels.EmptyLabels(), false, nil
		}
		first, prev = false, name
		if string(name) == pmodel.MetricNameLabel && len(v) > 0 {
			hasName = true
		}
		if len(v) == 0 {
			continue
		}
		sb.Add(string(name), string(v))
	}
	if !hasName {
		return labels.EmptyLabels(), false, nil
	}
	return sb.Labels(), true, nil
}

// labelCache interns label sets by their raw remote-write encoding. It is
// bounded: each shard is cleared when it reaches its share of the
// capacity. Invalid sets are cached too (as !ok) so that a sender
// repeating a bad series costs one map lookup.
type labelCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
	max    int // per shard
}

const cacheShards = 32

type cacheEntry struct {
	ls labels.Labels
	ok bool
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]cacheEntry
}

func newLabelCache(size int) *labelCache {
	c := &labelCache{seed: maphash.MakeSeed(), max: max(size/cacheShards, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]cacheEntry)
	}
	return c
}

func (c *labelCache) get(key []byte, sb *labels.ScratchBuilder) (labels.Labels, bool, error) {
	sh := &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
	sh.mu.RLock()
	e, hit := sh.m[string(key)]
	sh.mu.RUnlock()
	if hit {
		return e.ls, e.ok, nil
	}
	ls, ok, err := buildLabels(key, sb)
	if err != nil {
		return ls, false, err
	}
	sh.mu.Lock()
	if len(sh.m) >= c.max {
		sh.m = make(map[string]cacheEntry, c.max)
	}
	sh.m[string(key)] = cacheEntry{ls: ls, ok: ok}
	sh.mu.Unlock()
	return ls, ok, nil
}

// len returns the number of cached label sets.
func (c *labelCache) len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += len(c.shards[i].m)
		c.shards[i].mu.RUnlock()
	}
	return n
}
