package features

import (
	"math"
	"slices"
	"strings"
	"sync"

	pmodel "github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/omen-sre/omen/telemetry"
)

// polledStore keeps feature values evaluated by a remote Prometheus: per
// feature (or label) name and entity, the points of the last lookback;
// per scalar feature (or label), its points, which apply to every entity.
type polledStore struct {
	mu      sync.Mutex
	byName  map[string]map[string]*polledSeries
	scalars map[string]*polledSeries
	maxT    int64
	nextGC  int64
	// call numbers the add calls: a point an add call sets twice came
	// from two result series of one entity (one poll, one query).
	call uint64
}

type polledSeries struct {
	labels map[string]string
	ts     []int64
	vs     []float64
	calls  []uint64 // the add call that set each point
}

func newPolledStore() *polledStore {
	return &polledStore{byName: map[string]map[string]*polledSeries{}, scalars: map[string]*polledSeries{},
		maxT: math.MinInt64, nextGC: math.MinInt64}
}

// scalarNames returns the names of the features and labels of r whose
// expression gives a scalar. The poller sends a scalar result as a sample
// with no label but its name, as it does a vector series with none of the
// entity labels (sum(up); a range query answers both with a series of no
// labels): the expression's type tells them apart, as the result's type
// does for the local evaluation, so that a remote scalar applies to every
// entity and such a vector series is missing_labels, on both paths.
func scalarNames(r Config) map[string]bool {
	out := map[string]bool{}
	isScalar := func(expr string) bool {
		e, err := parseExpr(ExpandExpr(expr, r.EntityLabels))
		return err == nil && e.Type() == parser.ValueTypeScalar
	}
	for _, l := range r.Labels {
		if l.Expr != "" && isScalar(l.Expr) {
			out[l.Name] = true
		}
	}
	for _, f := range r.Features {
		out[f.Name] = isScalar(f.Expr) // a feature's name wins over a label's, as in polledNames
	}
	return out
}

// add stores samples; it returns how many had an unknown name, lacked an
// entity label, or were too old, and how many were a further result series
// of an entity at a time the same call already gave it a value (dup).
// Every value is kept: NaN (a remote histogram_quantile over no requests)
// is a missing feature value, a stale marker ends the entity's value.
//
// One add call holds a poll's results (the poller appends an evaluation,
// or a backfilled query's range, as one batch). Several result series of
// one entity there (the poller keeps only the entity labels, so two
// containers of a pod carry the same labels) give the largest value, as
// the local evaluation does (a NaN or stale marker loses to a number); a
// later call's value at the same time is a re-poll and replaces it.
func (p *polledStore) add(c *compiled, samples []telemetry.Sample) (unknown, missing, old, dup int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.call++
	var b strings.Builder
	for i := range samples {
		s := &samples[i]
		name := s.Labels.Get(pmodel.MetricNameLabel)
		if _, ok := c.polledNames[name]; !ok {
			unknown++
			continue
		}
		scalar := c.polledScalar[name]
		var key string
		if !scalar {
			var ok bool
			if key, ok = c.entityOf(s.Labels, &b); !ok {
				missing++
				continue
			}
		}
		if s.T > p.maxT {
			p.maxT = s.T
		}
		if s.T <= p.maxT-c.lookback {
			old++
			continue
		}
		var ps *polledSeries
		if scalar {
			if ps = p.scalars[name]; ps == nil {
				ps = &polledSeries{}
				p.scalars[strings.Clone(name)] = ps // s may point into a reused buffer
			}
		} else {
			m := p.byName[name]
			if m == nil {
				m = map[string]*polledSeries{}
				p.byName[strings.Clone(name)] = m
			}
			if ps = m[key]; ps == nil {
				ps = &polledSeries{labels: c.labelMap(s.Labels)}
				m[key] = ps
			}
		}
		if ps.insert(s.T, s.V, p.call) {
			dup++
		}
	}
	if p.maxT != math.MinInt64 && p.maxT >= p.nextGC {
		p.nextGC = p.maxT + c.lookback/4
		p.gc(p.maxT - c.lookback)
	}
	return unknown, missing, old, dup
}

// insert sets the point at t to v, set by add call call. It reports a
// point call already set (a further series of the entity): that keeps the
// larger value.
func (ps *polledSeries) insert(t int64, v float64, call uint64) (dup bool) {
	n := len(ps.ts)
	if n == 0 || t > ps.ts[n-1] {
		ps.ts = append(ps.ts, t)
		ps.vs = append(ps.vs, v)
		ps.calls = append(ps.calls, call)
		return false
	}
	i, found := slices.BinarySearch(ps.ts, t)
	if found {
		if ps.calls[i] == call {
			if v > ps.vs[i] || math.IsNaN(ps.vs[i]) {
				ps.vs[i] = v
			}
			return true
		}
		ps.vs[i] = v // a re-poll of the same step: the newer answer wins
		ps.calls[i] = call
		return false
	}
	ps.ts = slices.Insert(ps.ts, i, t)
	ps.vs = slices.Insert(ps.vs, i, v)
	ps.calls = slices.Insert(ps.calls, i, call)
	return false
}

// trim drops the points at or before minValid; it reports whether none
// are left.
func (ps *polledSeries) trim(minValid int64) bool {
	i, _ := slices.BinarySearch(ps.ts, minValid+1)
	if i > 0 {
		ps.ts = slices.Delete(ps.ts, 0, i)
		ps.vs = slices.Delete(ps.vs, 0, i)
		ps.calls = slices.Delete(ps.calls, 0, i)
	}
	return len(ps.ts) == 0
}

func (p *polledStore) gc(minValid int64) {
	for name, m := range p.byName {
		for key, ps := range m {
			if ps.trim(minValid) {
				delete(m, key)
			}
		}
		if len(m) == 0 {
			delete(p.byName, name)
		}
	}
	for name, ps := range p.scalars {
		if ps.trim(minValid) {
			delete(p.scalars, name)
		}
	}
}

// retain drops the names the configuration no longer has, or whose
// expression changed (from old's to c's; between a scalar and a vector
// too), or everything when the entity labels changed: a changed
// expression's last values are not its new form's, and were served for
// the lookback delta after a reload.
func (p *polledStore) retain(old, c *compiled, all bool) {
	was, now := polledExprs(old), polledExprs(c)
	keep := func(name string, scalar bool) bool {
		e, ok := now[name]
		return !all && ok && e == was[name] && c.polledScalar[name] == scalar
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for name := range p.byName {
		if !keep(name, false) {
			delete(p.byName, name)
		}
	}
	for name := range p.scalars {
		if !keep(name, true) {
			delete(p.scalars, name)
		}
	}
}

// polledExprs maps the names of c's features and labels to their
// expressions (a label's empty when it has none).
func polledExprs(c *compiled) map[string]string {
	out := make(map[string]string, len(c.cfg.Features)+len(c.cfg.Labels))
	for _, l := range c.cfg.Labels {
		out[l.Name] = l.Expr
	}
	for _, f := range c.cfg.Features {
		out[f.Name] = f.Expr
	}
	return out
}

// at returns the point of ps at t with instant-vector semantics: the
// newest point in (t-lookbackDelta, t], absent when that point is a stale
// marker.
func (ps *polledSeries) at(t, lookbackDelta int64) (float64, bool) {
	i, found := slices.BinarySearch(ps.ts, t)
	if !found {
		i--
	}
	if i < 0 || ps.ts[i] <= t-lookbackDelta || value.IsStaleNaN(ps.vs[i]) {
		return 0, false
	}
	return ps.vs[i], true
}

// each calls f per entity with the value of name at t (see
// polledSeries.at).
func (p *polledStore) each(name string, t, lookbackDelta int64, f func(key string, lbls map[string]string, v float64)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, ps := range p.byName[name] {
		if v, ok := ps.at(t, lookbackDelta); ok {
			f(key, ps.labels, v)
		}
	}
}

// scalar returns the value of the scalar feature (or label) name at t (see
// polledSeries.at), which applies to every entity.
func (p *polledStore) scalar(name string, t, lookbackDelta int64) (float64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ps := p.scalars[name]; ps != nil {
		return ps.at(t, lookbackDelta)
	}
	return 0, false
}
