package features

import (
	"context"
	"slices"

	pmodel "github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
)

// Querier implements storage.Queryable. The querier reads the series whose
// samples overlap [mint, maxt] (inclusive, milliseconds); every Select takes
// a consistent snapshot of each series under its shard's read lock.
func (h *Head) Querier(mint, maxt int64) (storage.Querier, error) {
	return &headQuerier{h: h, mint: mint, maxt: maxt}, nil
}

type headQuerier struct {
	h          *Head
	mint, maxt int64
}

func (*headQuerier) Close() error { return nil }

// metricNames returns the metric names the matchers restrict to, or nil
// when any name may match, and the other matchers.
func metricNames(ms []*labels.Matcher) ([]string, []*labels.Matcher) {
	for i, m := range ms {
		if m.Name != pmodel.MetricNameLabel {
			continue
		}
		var names []string
		switch m.Type {
		case labels.MatchEqual:
			if m.Value != "" {
				names = []string{m.Value}
			}
		case labels.MatchRegexp:
			if set := m.SetMatches(); len(set) > 0 {
				set = slices.Clone(set)
				slices.Sort(set)
				names = slices.Compact(set)
			}
		}
		if names != nil {
			rest := make([]*labels.Matcher, 0, len(ms)-1)
			rest = append(append(rest, ms[:i]...), ms[i+1:]...)
			return names, rest
		}
	}
	return nil, ms
}

func matchesAll(lset labels.Labels, ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}

// each calls f for every series overlapping the querier's range that matches
// ms, holding the shard's read lock.
func (q *headQuerier) each(ctx context.Context, ms []*labels.Matcher, f func(*memSeries)) error {
	names, ms := metricNames(ms)
	visit := func(s *memSeries) {
		if s.headMaxt < q.mint || s.minTime() > q.maxt || !matchesAll(s.lset, ms) {
			return
		}
		f(s)
	}
	for i := range q.h.shards {
		if err := ctx.Err(); err != nil {
			return err
		}
		sh := &q.h.shards[i]
		sh.mu.RLock()
		if names != nil {
			for _, n := range names {
				for _, s := range sh.byName[n] {
					visit(s)
				}
			}
		} else {
			for _, s := range sh.series {
				for ; s != nil; s = s.next {
					visit(s)
				}
			}
		}
		sh.mu.RUnlock()
	}
	return nil
}

// candidates returns how many series the metric names ms restrict to
// hold, or 0 when ms restrict no name.
func (q *headQuerier) candidates(ms []*labels.Matcher) int {
	names, _ := metricNames(ms)
	if names == nil {
		return 0
	}
	n := 0
	for i := range q.h.shards {
		sh := &q.h.shards[i]
		sh.mu.RLock()
		for _, name := range names {
			n += len(sh.byName[name])
		}
		sh.mu.RUnlock()
	}
	return n
}

// Select implements storage.Querier.
func (q *headQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	// All chunks go to one slice, the head-chunk copies to arena blocks
	// that are never moved (so copies are made once); the series' views
	// into the chunk slice are set once it stopped growing.
	var (
		out   []snapSeries
		spans [][2]int
		chks  []snapChunk
		block []byte
	)
	if n := q.candidates(ms); n > 0 {
		// Sized for every candidate: growing them costs more than the
		// few that do not match.
		out = make([]snapSeries, 0, n)
		spans = make([][2]int, 0, n)
		chks = make([]snapChunk, 0, n+n/4)
	}
	err := q.each(ctx, ms, func(s *memSeries) {
		lo := len(chks)
		for _, c := range s.closed {
			if c.maxt >= q.mint && c.mint <= q.maxt {
				chks = append(chks, snapChunk{data: c.data, maxt: c.maxt})
			}
		}
		if s.app != nil && s.headMaxt >= q.mint && s.headMint <= q.maxt {
			// The head chunk is appended to in place: copy it.
			b := s.head.Bytes()
			if len(block)+len(b) > cap(block) {
				block = make([]byte, 0, max(arenaBlock, len(b)))
			}
			off := len(block)
			block = append(block, b...)
			chks = append(chks, snapChunk{data: block[off:len(block):len(block)], maxt: s.headMaxt})
		}
		if len(chks) > lo {
			out = append(out, snapSeries{lset: s.lset, mint: q.mint, maxt: q.maxt})
			spans = append(spans, [2]int{lo, len(chks)})
		}
	})
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	for i := range out {
		out[i].chunks = chks[spans[i][0]:spans[i][1]:spans[i][1]]
	}
	if sortSeries {
		slices.SortFunc(out, func(a, b snapSeries) int { return labels.Compare(a.lset, b.lset) })
	}
	if hints != nil && hints.Limit > 0 && len(out) > hints.Limit {
		out = out[:hints.Limit]
	}
	return &snapSet{series: out, i: -1}
}

// LabelValues implements storage.LabelQuerier.
func (q *headQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	seen := map[string]struct{}{}
	err := q.each(ctx, ms, func(s *memSeries) {
		if v := s.lset.Get(name); v != "" {
			seen[v] = struct{}{}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return sortedLimited(seen, hints), nil, nil
}

// LabelNames implements storage.LabelQuerier.
func (q *headQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	seen := map[string]struct{}{}
	err := q.each(ctx, ms, func(s *memSeries) {
		s.lset.Range(func(l labels.Label) { seen[l.Name] = struct{}{} })
	})
	if err != nil {
		return nil, nil, err
	}
	return sortedLimited(seen, hints), nil, nil
}

func sortedLimited(set map[string]struct{}, hints *storage.LabelHints) []string {
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	slices.Sort(out)
	if hints != nil && hints.Limit > 0 && len(out) > hints.Limit {
		out = out[:hints.Limit]
	}
	return out
}

type snapChunk struct {
	data []byte
	maxt int64
}

// arenaBlock is the size of the blocks Select copies head chunks into.
const arenaBlock = 64 << 10

// snapSeries is a series as it was at Select: immutable chunks.
type snapSeries struct {
	lset       labels.Labels
	chunks     []snapChunk
	mint, maxt int64
}

func (s *snapSeries) Labels() labels.Labels { return s.lset }

func (s *snapSeries) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	ci, ok := it.(*chunksIterator[int64])
	if !ok {
		ci = &chunksIterator[int64]{}
	}
	ci.reset(s)
	return ci
}

type snapSet struct {
	series []snapSeries
	i      int
}

func (s *snapSet) Next() bool {
	if s.i+1 >= len(s.series) {
		s.i = len(s.series)
		return false
	}
	s.i++
	return true
}

func (s *snapSet) At() storage.Series              { return &s.series[s.i] }
func (*snapSet) Err() error                        { return nil }
func (*snapSet) Warnings() annotations.Annotations { return nil }

// chunksIterator iterates the samples of a snapSeries within [mint, maxt].
//
// It is generic over its time type only so that go vet's stdmethods check,
// which expects io.Seeker's signature of every method named Seek with an
// int64 first parameter, does not misfire on chunkenc.Iterator's Seek; it is
// always used as chunksIterator[int64].
type chunksIterator[T ~int64] struct {
	chunks     []snapChunk
	mint, maxt int64
	next       int // index of the next chunk to open
	inChunk    bool
	xc         chunkenc.XORChunk
	xit        chunkenc.Iterator
	t          int64
	v          float64
	valid      bool
	done       bool
	err        error
}

func (it *chunksIterator[T]) reset(s *snapSeries) {
	it.chunks, it.mint, it.maxt = s.chunks, s.mint, s.maxt
	it.next, it.inChunk, it.valid, it.done, it.err = 0, false, false, false, nil
}

func (it *chunksIterator[T]) Next() chunkenc.ValueType {
	if it.done {
		return chunkenc.ValNone
	}
	for {
		if !it.inChunk {
			if it.next >= len(it.chunks) {
				return it.finish()
			}
			it.xc.Reset(it.chunks[it.next].data)
			it.xit = it.xc.Iterator(it.xit)
			it.next++
			it.inChunk = true
		}
		if it.xit.Next() == chunkenc.ValNone {
			if err := it.xit.Err(); err != nil {
				it.err = err
				return it.finish()
			}
			it.inChunk = false
			continue
		}
		t, v := it.xit.At()
		if t < it.mint {
			continue
		}
		if t > it.maxt {
			return it.finish()
		}
		it.t, it.v, it.valid = t, v, true
		return chunkenc.ValFloat
	}
}

func (it *chunksIterator[T]) finish() chunkenc.ValueType {
	it.done, it.valid = true, false
	return chunkenc.ValNone
}

func (it *chunksIterator[T]) Seek(ts T) chunkenc.ValueType {
	t := int64(ts)
	if it.done {
		return chunkenc.ValNone
	}
	if it.valid && it.t >= t {
		return chunkenc.ValFloat
	}
	// Skip whole chunks that end before t.
	if !it.inChunk {
		for it.next < len(it.chunks) && it.chunks[it.next].maxt < t {
			it.next++
		}
	} else if it.chunks[it.next-1].maxt < t {
		it.inChunk = false
		for it.next < len(it.chunks) && it.chunks[it.next].maxt < t {
			it.next++
		}
	}
	for {
		if it.Next() == chunkenc.ValNone {
			return chunkenc.ValNone
		}
		if it.t >= t {
			return chunkenc.ValFloat
		}
	}
}

func (it *chunksIterator[T]) At() (int64, float64) { return it.t, it.v }
func (it *chunksIterator[T]) AtT() int64           { return it.t }
func (*chunksIterator[T]) AtST() int64             { return 0 }
func (it *chunksIterator[T]) Err() error           { return it.err }

func (it *chunksIterator[T]) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	return it.t, nil
}

func (it *chunksIterator[T]) AtFloatHistogram(*histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	return it.t, nil
}
