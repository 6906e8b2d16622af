package dataset

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	pmodel "github.com/prometheus/common/model"
)

// RangeQuerier is the part of the Prometheus HTTP API client
// (v1.API from github.com/prometheus/client_golang/api/prometheus/v1)
// that PrometheusSource uses.
type RangeQuerier interface {
	QueryRange(ctx context.Context, query string, r v1.Range, opts ...v1.Option) (pmodel.Value, v1.Warnings, v1.Infos, error)
}

// NamedQuery is a PromQL expression that yields one feature (or, for
// failure definitions, a failure indicator: a sample > 0 means failing).
type NamedQuery struct {
	Name  string
	Query string
}

// PrometheusSource reads per-entity series with range queries.
type PrometheusSource struct {
	API RangeQuerier
	// Features are evaluated in order; each result series is assigned to
	// the entity named by its EntityLabels values.
	Features []NamedQuery
	// Failures are failure definitions; a step of an entity is labelled
	// when any of them has a sample > 0 there. Empty: no labels.
	Failures []NamedQuery
	// EntityLabels name the entity, e.g. ["namespace", "pod"]; the entity
	// id is their values joined by "/". Required.
	EntityLabels []string
	Start, End   time.Time
	Step         time.Duration
}

// Load runs every query and returns one Series per entity on the grid
// Start, Start+Step, … ≤ End, sorted by entity. Missing values are NaN.
// When several result series of one query map to the same entity their
// values are summed.
func (p *PrometheusSource) Load(ctx context.Context) ([]*Series, error) {
	if p.API == nil || len(p.Features) == 0 || len(p.EntityLabels) == 0 {
		return nil, errors.New("prometheus source: want an API, features and entity labels")
	}
	if p.Step <= 0 || !p.End.After(p.Start) {
		return nil, fmt.Errorf("prometheus source: invalid range %v–%v step %v", p.Start, p.End, p.Step)
	}
	steps := int(p.End.Sub(p.Start)/p.Step) + 1
	nf := len(p.Features)
	byEntity := map[string]*Series{}
	get := func(id string) *Series {
		s := byEntity[id]
		if s == nil {
			s = &Series{Entity: id, Features: names(p.Features), Start: p.Start.UnixMilli(), Step: p.Step.Milliseconds(), Values: make([]float64, steps*nf)}
			for i := range s.Values {
				s.Values[i] = math.NaN()
			}
			byEntity[id] = s
		}
		return s
	}
	r := v1.Range{Start: p.Start, End: p.End, Step: p.Step}
	for j, q := range p.Features {
		m, err := p.query(ctx, q, r)
		if err != nil {
			return nil, err
		}
		for _, ss := range m {
			s := get(p.entity(ss.Metric))
			for _, sp := range ss.Values {
				i, ok := p.index(sp.Timestamp.Time(), steps)
				if !ok {
					continue
				}
				v := float64(sp.Value)
				if cur := s.Values[i*nf+j]; !math.IsNaN(cur) {
					v += cur
				}
				s.Values[i*nf+j] = v
			}
		}
	}
	if len(p.Failures) > 0 {
		for _, s := range byEntity {
			s.Labels = make([]bool, steps)
		}
		for _, q := range p.Failures {
			m, err := p.query(ctx, q, r)
			if err != nil {
				return nil, err
			}
			for _, ss := range m {
				s, ok := byEntity[p.entity(ss.Metric)]
				if !ok {
					continue // a failing entity without features cannot be learned from
				}
				for _, sp := range ss.Values {
					if i, ok := p.index(sp.Timestamp.Time(), steps); ok && sp.Value > 0 {
						s.Labels[i] = true
					}
				}
			}
		}
	}
	out := make([]*Series, 0, len(byEntity))
	for _, s := range byEntity {
		out = append(out, s)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Entity < out[b].Entity })
	return out, nil
}

func (p *PrometheusSource) query(ctx context.Context, q NamedQuery, r v1.Range) (pmodel.Matrix, error) {
	v, _, _, err := p.API.QueryRange(ctx, q.Query, r)
	if err != nil {
		return nil, fmt.Errorf("query_range %s (%q): %w", q.Name, q.Query, err)
	}
	m, ok := v.(pmodel.Matrix)
	if !ok {
		return nil, fmt.Errorf("query_range %s: result is %s, want a matrix", q.Name, v.Type())
	}
	return m, nil
}

func (p *PrometheusSource) entity(m pmodel.Metric) string {
	parts := make([]string, len(p.EntityLabels))
	for i, l := range p.EntityLabels {
		parts[i] = string(m[pmodel.LabelName(l)])
	}
	return strings.Join(parts, "/")
}

func (p *PrometheusSource) index(t time.Time, steps int) (int, bool) {
	d := t.Sub(p.Start)
	if d < 0 {
		return 0, false
	}
	i := int((d + p.Step/2) / p.Step)
	return i, i < steps
}

func names(q []NamedQuery) []string {
	out := make([]string, len(q))
	for i, x := range q {
		out[i] = x.Name
	}
	return out
}
