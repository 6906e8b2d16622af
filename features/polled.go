package features

import (
	"math"
	"slices"
	"strings"
	"sync"

	pmodel "github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/value"

	"github.com/omen-sre/omen/telemetry"
)

// polledStore keeps feature values evaluated by a remote Prometheus: per
// feature (or label) name and entity, the points of the last lookback.
type polledStore struct {
	mu     sync.Mutex
	byName map[string]map[string]*polledSeries
	maxT   int64
	nextGC int64
}

type polledSeries struct {
	labels map[string]string
	ts     []int64
	vs     []float64
}

func newPolledStore() *polledStore {
	return &polledStore{byName: map[string]map[string]*polledSeries{}, maxT: math.MinInt64, nextGC: math.MinInt64}
}

// add stores samples; it returns how many had an unknown name, lacked an
// entity label, or were too old. Every value is kept: NaN (a remote
// histogram_quantile over no requests) is a missing feature value, a stale
// marker ends the entity's value.
func (p *polledStore) add(c *compiled, samples []telemetry.Sample) (unknown, missing, old int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for i := range samples {
		s := &samples[i]
		name := s.Labels.Get(pmodel.MetricNameLabel)
		if _, ok := c.polledNames[name]; !ok {
			unknown++
			continue
		}
		key, ok := c.entityOf(s.Labels, &b)
		if !ok {
			missing++
			continue
		}
		if s.T > p.maxT {
			p.maxT = s.T
		}
		if s.T <= p.maxT-c.lookback {
			old++
			continue
		}
		m := p.byName[name]
		if m == nil {
			m = map[string]*polledSeries{}
			p.byName[strings.Clone(name)] = m // s may point into a reused buffer
		}
		ps := m[key]
		if ps == nil {
			ps = &polledSeries{labels: c.labelMap(s.Labels)}
			m[key] = ps
		}
		ps.insert(s.T, s.V)
	}
	if p.maxT != math.MinInt64 && p.maxT >= p.nextGC {
		p.nextGC = p.maxT + c.lookback/4
		p.gc(p.maxT - c.lookback)
	}
	return unknown, missing, old
}

func (ps *polledSeries) insert(t int64, v float64) {
	n := len(ps.ts)
	if n == 0 || t > ps.ts[n-1] {
		ps.ts = append(ps.ts, t)
		ps.vs = append(ps.vs, v)
		return
	}
	i, found := slices.BinarySearch(ps.ts, t)
	if found {
		ps.vs[i] = v // a re-poll of the same step: the newer answer wins
		return
	}
	ps.ts = slices.Insert(ps.ts, i, t)
	ps.vs = slices.Insert(ps.vs, i, v)
}

func (p *polledStore) gc(minValid int64) {
	for name, m := range p.byName {
		for key, ps := range m {
			i, _ := slices.BinarySearch(ps.ts, minValid+1)
			if i > 0 {
				ps.ts = slices.Delete(ps.ts, 0, i)
				ps.vs = slices.Delete(ps.vs, 0, i)
			}
			if len(ps.ts) == 0 {
				delete(m, key)
			}
		}
		if len(m) == 0 {
			delete(p.byName, name)
		}
	}
}

// retain drops the names the configuration no longer has, or everything
// when the entity labels changed.
func (p *polledStore) retain(c *compiled, all bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name := range p.byName {
		if _, ok := c.polledNames[name]; all || !ok {
			delete(p.byName, name)
		}
	}
}

// each calls f per entity with the value of name at t with instant-vector
// semantics: the newest point in (t-lookbackDelta, t], absent when that
// point is a stale marker.
func (p *polledStore) each(name string, t, lookbackDelta int64, f func(key string, lbls map[string]string, v float64)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, ps := range p.byName[name] {
		i, found := slices.BinarySearch(ps.ts, t)
		if !found {
			i--
		}
		if i < 0 || ps.ts[i] <= t-lookbackDelta || value.IsStaleNaN(ps.vs[i]) {
			continue
		}
		f(key, ps.labels, ps.vs[i])
	}
}
