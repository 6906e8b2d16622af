package features

import (
	"math/bits"
	"sync/atomic"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// seriesRefs is a direct-mapped cache from the address of a label set's
// bytes to the series that keeps that very label set. omen's decoders
// hand the Head the same interned, immutable label set for every sample
// of a series, and with HeadOptions.ImmutableLabels the Head keeps it, so
// a sample finds its series by one load instead of hashing its labels,
// probing the shard's map and comparing the label bytes. A hit is exact:
// the series' own label set has the sample's address and length, and a
// label set is never modified, so the bytes are the same. Misses (a new
// series, a label set built by another decoder, a slot taken by another
// series) take the hashed path and claim a slot; the Head's garbage
// collection clears the slots of the series it removes.
//
// A label set may occupy any of refWays adjacent slots. Slots are atomic
// pointers: appenders on several goroutines read and write them without
// a lock. The cache holds about two slots per series (8 bytes each); it
// is replaced by an empty one twice the size as the Head grows.
type seriesRefs struct {
	slots []atomic.Pointer[memSeries]
	shift uint8
}

func newSeriesRefs(n int) *seriesRefs {
	b := bits.Len(uint(max(n, refWays) - 1))
	return &seriesRefs{slots: make([]atomic.Pointer[memSeries], 1<<b), shift: uint8(64 - b)}
}

// refWays is the number of slots (one aligned group of 32 bytes) a label
// set may occupy: with one slot, about a third of 100,000 series would
// share theirs with another series at two slots per series and miss
// every other time.
const refWays = 4

// group returns the first slot of p's group (Fibonacci hashing of the
// address) and the slot a new entry of p replaces when the group is full.
func (r *seriesRefs) group(p *byte) (first, victim int) {
	h := (uint64(uintptr(unsafe.Pointer(p))) * 0x9E3779B97F4A7C15) >> r.shift
	return int(h &^ (refWays - 1)), int(h)
}

// lookup returns the series keeping ls, or nil. r may be nil.
func (r *seriesRefs) lookup(ls labels.Labels) *memSeries {
	if r == nil {
		return nil
	}
	p, n := telemetry.LabelsData(&ls)
	if n == 0 {
		return nil
	}
	g, _ := r.group(p)
	for i := g; i < g+refWays; i++ {
		if s := r.slots[i].Load(); s != nil {
			if q, m := telemetry.LabelsData(&s.lset); q == p && m == n {
				return s
			}
		}
	}
	return nil
}

// forget clears the slots holding s (a garbage-collected series), so
// that the cache does not keep it and its chunks allocated. r may be nil.
func (r *seriesRefs) forget(s *memSeries) {
	if r == nil {
		return
	}
	p, n := telemetry.LabelsData(&s.lset)
	if n == 0 {
		return
	}
	g, _ := r.group(p)
	for i := g; i < g+refWays; i++ {
		r.slots[i].CompareAndSwap(s, nil)
	}
}

// remember records s for lookups of ls when s keeps ls itself. r may be nil.
func (r *seriesRefs) remember(s *memSeries, ls labels.Labels) {
	if r == nil {
		return
	}
	p, n := telemetry.LabelsData(&ls)
	if q, m := telemetry.LabelsData(&s.lset); n == 0 || q != p || m != n {
		return
	}
	g, victim := r.group(p)
	for i := g; i < g+refWays; i++ {
		if r.slots[i].CompareAndSwap(nil, s) {
			return
		}
	}
	r.slots[victim].Store(s)
}

// growRefs replaces the cache by an empty one of twice the size when the
// Head holds more series than half its slots, and returns the cache to
// use. r may be nil (no cache).
func (h *Head) growRefs(r *seriesRefs) *seriesRefs {
	if r == nil || h.numSeries.Load() <= int64(len(r.slots)/2) {
		return r
	}
	n := newSeriesRefs(2 * len(r.slots))
	if h.refs.CompareAndSwap(r, n) {
		return n
	}
	return h.refs.Load()
}
