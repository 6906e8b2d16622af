package stream

import (
	"maps"
	"math"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"

	"github.com/omen-sre/omen/telemetry"
)

// seriesSet is the series one query's result held at a step, as the
// poller stores them (labels after EntityLabels), keyed by their labels'
// text.
type seriesSet map[string]labels.Labels

// endSeries returns samples, one query's results at the steps from..to
// (every multiple of step from from on; from == to for a live poll's
// instant query), with a stale marker (value.StaleNaN) for each series at
// each step it is absent from after a step it was present at, as
// Prometheus writes one when a scraped series disappears: at from, for
// each series of prev (those of the step before from) the results lack
// there; at each later step, for each series present at the step before
// and absent at it (a range result ending before to, or with a gap). A
// PromQL lookback (the evaluator's polled values, the 5m delta) then ends
// the series at the first step it is gone from, rather than serving its
// last value for 5 minutes: a failure label's query whose result becomes
// empty (the failure ended) reads as no failure from that step on, as it
// does over remote-write, which carries Prometheus's own markers. It also
// returns the series present at to, the next call's prev. With markers,
// the samples are returned in time order (stable: a series' samples stay
// in its order); without, samples is returned as it is.
func endSeries(prev seriesSet, samples []telemetry.Sample, from, to time.Time, step time.Duration) ([]telemetry.Sample, seriesSet) {
	f, l, st := from.UnixMilli(), to.UnixMilli(), step.Milliseconds()
	type seen struct {
		ls labels.Labels
		ts []int64
	}
	by := map[string]*seen{}
	var keys []string // in the order of the samples: the markers' order is deterministic
	var last *seen
	for i := range samples {
		s := &samples[i]
		// A range result's points of one series come together and share
		// its labels: their text is made once per run, not per point.
		e := last
		if e == nil || !labels.Equal(e.ls, s.Labels) {
			k := s.Labels.String()
			e = by[k]
			if e == nil {
				e = &seen{ls: s.Labels}
				by[k] = e
				keys = append(keys, k)
			}
			last = e
		}
		e.ts = append(e.ts, s.T)
	}
	var marks []telemetry.Sample
	stale := math.Float64frombits(value.StaleNaN) // a consumer's lookback ends the series at it
	mark := func(ls labels.Labels, t int64) {
		marks = append(marks, telemetry.Sample{Labels: ls, T: t, V: stale})
	}
	for _, k := range slices.Sorted(maps.Keys(prev)) {
		if e := by[k]; e == nil || slices.Min(e.ts) > f {
			mark(prev[k], f)
		}
	}
	cur := make(seriesSet, len(keys))
	for _, k := range keys {
		e := by[k]
		// Several result series may carry the same labels (a pod's
		// containers, EntityLabels keeping the pod's): one series here.
		slices.Sort(e.ts)
		e.ts = slices.Compact(e.ts)
		for i, t := range e.ts {
			if t+st > l {
				break
			}
			if i+1 < len(e.ts) && e.ts[i+1] == t+st {
				continue
			}
			mark(e.ls, t+st)
		}
		if e.ts[len(e.ts)-1] == l {
			cur[k] = e.ls
		}
	}
	if len(marks) == 0 {
		return samples, cur
	}
	out := append(slices.Clip(samples), marks...)
	slices.SortStableFunc(out, func(a, b telemetry.Sample) int {
		switch {
		case a.T < b.T:
			return -1
		case a.T > b.T:
			return 1
		}
		return 0
	})
	return out, cur
}

// backfilledSets is what a successful Backfill hands RunAfter: the series
// of each query at the newest step it fetched (end), so that RunAfter's
// first poll ends those gone by then (endSeries) as any later poll does.
type backfilledSets struct {
	end  time.Time
	sets map[string]seriesSet
}

// setBackfilled records the series of a successful Backfill ending at
// end (nil sets: a Backfill that failed, whose sets RunAfter must not
// take).
func (p *Poller) setBackfilled(end time.Time, sets map[string]seriesSet) {
	p.backfilledMu.Lock()
	defer p.backfilledMu.Unlock()
	if sets == nil {
		p.backfilled = nil
		return
	}
	p.backfilled = &backfilledSets{end: end, sets: sets}
}

// takeBackfilled returns the series of each query at last, recorded by a
// Backfill that ended there, and forgets them; an empty map without one
// (a start without a backfill, or a backfill that failed or ended
// elsewhere).
func (p *Poller) takeBackfilled(last time.Time) map[string]seriesSet {
	p.backfilledMu.Lock()
	defer p.backfilledMu.Unlock()
	b := p.backfilled
	p.backfilled = nil
	if b == nil || last.IsZero() || !b.end.Equal(last) {
		return map[string]seriesSet{}
	}
	return b.sets
}
