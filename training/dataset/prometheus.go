package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	pmodel "github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/omen-sre/omen/internal/entityid"
	"github.com/omen-sre/omen/internal/promurl"
	"github.com/omen-sre/omen/internal/tty"
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
	// URL is the server's base URL, which the query errors name (its
	// password and query's values hidden); a 404 says the URL's path looks wrong. Empty: the
	// errors name no server.
	URL string
	// Features are evaluated in order; each result series is assigned to
	// the entity named by its EntityLabels values (see Load).
	Features []NamedQuery
	// Failures are failure definitions; a step of an entity is labelled
	// when any of them has a sample > 0 there. Empty: no labels.
	Failures []NamedQuery
	// EntityLabels name the entity, e.g. ["namespace", "pod"]; the entity
	// id is their values joined by "/", a value's "/" written "%2F" and its
	// "%" "%25", as the daemon names entities (internal/entityid). Required.
	EntityLabels []string
	Start, End   time.Time
	Step         time.Duration
	// MaxPoints is the most grid points one range query asks for
	// (default DefaultMaxPoints).
	MaxPoints int
	// Progress, when not nil, receives the range queries' progress: a
	// redrawn line on a terminal, else one line when more than one range
	// query per expression was needed; and a line counting the values read
	// as missing because they were beyond ±MaxValue.
	Progress io.Writer
}

// DefaultMaxPoints is the most points per series one range query asks
// for when PrometheusSource.MaxPoints is 0: Prometheus refuses a
// query_range of more than 11,000 ("exceeded maximum resolution of 11,000
// points per timeseries").
const DefaultMaxPoints = 10000

// Load runs every query and returns one Series per entity on the grid
// Start, Start+Step, … ≤ End, sorted by entity. An entity's series runs
// from its first feature sample to its last feature or failure sample
// (Series.Start says where): the steps before it existed, or before the
// server had data, are not history of it. Missing values inside are NaN.
//
// The daemon's rules for a feature's value (features.Feature) hold: when
// several result series of one query map to the same entity the largest
// value is used (a number beating NaN); a series lacking an entity label
// (or with it empty) is dropped; a scalar query (by the expression's type:
// its range query answers with one series of no labels) applies to every
// entity, within the steps its other features give it, and a scalar
// failure query fails every entity there. Progress gets a line with how
// many entities had several series and how many series were dropped, by
// query. A value beyond ±MaxValue, such as +Inf from histogram_quantile,
// is missing too: the model would read it as missing anyway, and Progress
// gets a line with how many each feature had. A range longer than
// MaxPoints steps is read in several range queries of at most MaxPoints
// points each.
func (p *PrometheusSource) Load(ctx context.Context) ([]*Series, error) {
	if p.API == nil || len(p.Features) == 0 || len(p.EntityLabels) == 0 {
		return nil, errors.New("prometheus source: want an API, features and entity labels")
	}
	if p.Step <= 0 || !p.End.After(p.Start) {
		return nil, fmt.Errorf("prometheus source: invalid range %s to %s at step %v: want a positive step and an end after the start", p.Start.UTC().Format(time.RFC3339), p.End.UTC().Format(time.RFC3339), p.Step)
	}
	steps := int(p.End.Sub(p.Start)/p.Step) + 1
	nf := len(p.Features)
	chunks := p.chunks(steps)
	pr := newQueryProgress(p.Progress, len(chunks)*(len(p.Features)+len(p.Failures)))
	pr.perQuery = p.maxPoints()
	byEntity := map[string]*Series{}
	sampled := false // a feature query returned a sample of an entity, finite or not
	// first and last are the grid steps of an entity's first and last
	// finite feature sample (last also of its last failure sample).
	first, last := map[string]int{}, map[string]int{}
	get := func(id string) *Series {
		s := byEntity[id]
		if s == nil {
			s = &Series{Entity: id, Features: names(p.Features), Start: p.Start.UnixMilli(), Step: p.Step.Milliseconds(), Values: make([]float64, steps*nf)}
			for i := range s.Values {
				s.Values[i] = math.NaN()
			}
			byEntity[id] = s
			first[id], last[id] = -1, -1
		}
		return s
	}
	// scalars holds the grid of each scalar feature, which applies to
	// every entity; several counts the entities with several result series
	// of a feature, and missing the series without an entity label, by
	// query (features, then failures).
	scalars := map[int][]float64{}
	several := make([]int, nf)
	missing := make([]int, nf+len(p.Failures))
	for j, q := range p.Features {
		m, err := p.query(ctx, q, chunks, pr)
		if err != nil {
			return nil, err
		}
		if isScalar(q.Query) {
			vals := make([]float64, steps)
			for i := range vals {
				vals[i] = math.NaN()
			}
			for _, ss := range m { // one series, of no labels
				for _, sp := range ss.Values {
					if i, ok := p.index(sp.Timestamp.Time(), steps); ok {
						vals[i] = float64(sp.Value)
					}
				}
			}
			scalars[j] = vals
			continue
		}
		nSeries := map[string]int{}
		for _, ss := range m {
			id, ok := p.entity(ss.Metric)
			if !ok {
				missing[j]++
				continue
			}
			if nSeries[id]++; nSeries[id] == 2 {
				several[j]++
			}
			s := get(id)
			sampled = sampled || len(ss.Values) > 0
			for _, sp := range ss.Values {
				i, ok := p.index(sp.Timestamp.Time(), steps)
				if !ok {
					continue
				}
				// The largest value of the entity's series, a number
				// beating NaN (0/0), as the daemon takes.
				if v, k := float64(sp.Value), i*nf+j; v > s.Values[k] || math.IsNaN(s.Values[k]) {
					s.Values[k] = v
				}
			}
		}
	}
	// nBeyond counts by feature the cells beyond ±MaxValue, read as
	// missing; an entity's series spans its finite feature values.
	nBeyond := make([]int, nf)
	for id, s := range byEntity {
		for j, vals := range scalars {
			for i, v := range vals {
				s.Values[i*nf+j] = v
			}
		}
		for k, v := range s.Values {
			switch {
			case math.IsNaN(v):
			case !InRange(v):
				s.Values[k] = math.NaN()
				nBeyond[k%nf]++
			case scalars[k%nf] == nil:
				if i := k / nf; first[id] < 0 || i < first[id] {
					first[id] = i
				}
				last[id] = max(last[id], k/nf)
			}
		}
	}
	if len(p.Failures) > 0 {
		for _, s := range byEntity {
			s.Labels = make([]bool, steps)
		}
		var all []bool // the steps a scalar failure query is > 0 at
		for f, q := range p.Failures {
			m, err := p.query(ctx, q, chunks, pr)
			if err != nil {
				return nil, err
			}
			if isScalar(q.Query) {
				if all == nil {
					all = make([]bool, steps)
				}
				for _, ss := range m {
					for _, sp := range ss.Values {
						if i, ok := p.index(sp.Timestamp.Time(), steps); ok && sp.Value > 0 {
							all[i] = true
						}
					}
				}
				continue
			}
			for _, ss := range m {
				id, ok := p.entity(ss.Metric)
				if !ok {
					missing[nf+f]++
					continue
				}
				s, ok := byEntity[id]
				if !ok || first[id] < 0 {
					continue // a failing entity without features cannot be learned from
				}
				for _, sp := range ss.Values {
					if i, ok := p.index(sp.Timestamp.Time(), steps); ok && sp.Value > 0 && i >= first[id] {
						s.Labels[i] = true
						last[id] = max(last[id], i)
					}
				}
			}
		}
		// A scalar failure applies to every entity, within its series
		// (it makes no step of an entity).
		for i, failing := range all {
			if !failing {
				continue
			}
			for id, s := range byEntity {
				if first[id] >= 0 && i >= first[id] && i <= last[id] {
					s.Labels[i] = true
				}
			}
		}
	}
	pr.done(len(p.Features) + len(p.Failures))
	p.reportBeyond(nBeyond)
	p.reportSeries(several, missing)
	out := make([]*Series, 0, len(byEntity))
	for id, s := range byEntity {
		if first[id] < 0 {
			continue // only NaN samples
		}
		out = append(out, s.Slice(first[id], last[id]+1))
	}
	if len(out) == 0 && sampled {
		return nil, fmt.Errorf("prometheus source: the feature queries returned only NaN or values beyond ±%.4g between %s and %s (e.g. histogram_quantile or a ratio over no requests): no step of any entity has a value to learn from", MaxValue, p.Start.UTC().Format(time.RFC3339), p.End.UTC().Format(time.RFC3339))
	}
	if n := sum(missing[:nf]); len(out) == 0 && n > 0 {
		return nil, fmt.Errorf("prometheus source: every result series of the feature queries between %s and %s lacked an entity label (%s), %s; aggregate with by (%s)",
			p.Start.UTC().Format(time.RFC3339), p.End.UTC().Format(time.RFC3339), strings.Join(p.EntityLabels, ", "),
			p.counts(missing[:nf], "series", "series"), strings.Join(p.EntityLabels, ", "))
	}
	if len(out) == 0 {
		var qs []string
		for _, q := range p.Features[:min(5, nf)] {
			qs = append(qs, fmt.Sprintf("%s (%q)", q.Name, q.Query))
		}
		if nf > 5 {
			qs = append(qs, fmt.Sprintf("and %d more", nf-5))
		}
		return nil, fmt.Errorf("prometheus source: %w between %s and %s: %s",
			ErrNoSeries, p.Start.UTC().Format(time.RFC3339), p.End.UTC().Format(time.RFC3339), strings.Join(qs, ", "))
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Entity < out[b].Entity })
	return out, nil
}

// ErrNoSeries is PrometheusSource.Load's error when no feature query
// returned a sample in the range (metrics the server does not have).
var ErrNoSeries = errors.New("no feature query returned a sample")

// reportBeyond writes to Progress how many values of each feature were
// beyond ±MaxValue and read as missing.
func (p *PrometheusSource) reportBeyond(n []int) {
	if p.Progress == nil {
		return
	}
	var parts []string
	for j, c := range n {
		if c > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", p.Features[j].Name, c))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(p.Progress, "prometheus source: values beyond ±%.4g (±Inf, or too large for the float32 the model computes in) read as missing: %s\n", MaxValue, strings.Join(parts, ", "))
	}
}

// reportSeries writes to Progress, by query, how many entities had
// several result series of a feature (the largest value was kept) and how
// many result series lacked an entity label (dropped), as the daemon does
// (omen_feature_dropped_total{reason="duplicate_entity"} and
// {reason="missing_labels"}): both usually mean that the query lacks an
// aggregation by the entity labels.
func (p *PrometheusSource) reportSeries(several, missing []int) {
	if p.Progress == nil {
		return
	}
	if sum(several) > 0 {
		fmt.Fprintf(p.Progress, "prometheus source: several result series for one entity, the largest value kept as the daemon does (aggregate by %s?): %s\n",
			strings.Join(p.EntityLabels, ", "), p.counts(several, "entity", "entities"))
	}
	if sum(missing) > 0 {
		fmt.Fprintf(p.Progress, "prometheus source: result series without an entity label (%s) dropped, as the daemon does: %s\n",
			strings.Join(p.EntityLabels, ", "), p.counts(missing, "series", "series"))
	}
}

// counts names the queries (features, then failures) with a count above
// 0: "cpu 2 series, restarts 1 series".
func (p *PrometheusSource) counts(n []int, one, many string) string {
	var parts []string
	for k, c := range n {
		if c == 0 {
			continue
		}
		name := ""
		if k < len(p.Features) {
			name = p.Features[k].Name
		} else {
			name = p.Failures[k-len(p.Features)].Name
		}
		unit := many
		if c == 1 {
			unit = one
		}
		parts = append(parts, fmt.Sprintf("%s %d %s", name, c, unit))
	}
	return strings.Join(parts, ", ")
}

func sum(n []int) int {
	t := 0
	for _, c := range n {
		t += c
	}
	return t
}

// isScalar reports whether query gives a scalar: its range query answers
// with one series of no labels, as it does for a vector series without
// labels (sum(up)), which lacks the entity labels. The daemon tells them
// apart by the result's type; here the expression's type does. A query
// the parser refuses is taken for a vector.
func isScalar(query string) bool {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(query)
	return err == nil && e.Type() == parser.ValueTypeScalar
}

func (p *PrometheusSource) maxPoints() int {
	if p.MaxPoints <= 0 {
		return DefaultMaxPoints
	}
	return p.MaxPoints
}

// chunk is one range query's part of the grid: steps [from, to].
type chunk struct{ from, to int }

// chunks splits the grid of steps points into ranges of at most
// MaxPoints points.
func (p *PrometheusSource) chunks(steps int) []chunk {
	n := p.maxPoints()
	var out []chunk
	for from := 0; from < steps; from += n {
		out = append(out, chunk{from, min(from+n, steps) - 1})
	}
	return out
}

// query runs q over every chunk and returns the result series merged by
// label set, in the order they first appear.
func (p *PrometheusSource) query(ctx context.Context, q NamedQuery, chunks []chunk, pr *queryProgress) (pmodel.Matrix, error) {
	var out pmodel.Matrix
	byKey := map[string]*pmodel.SampleStream{}
	for k, c := range chunks {
		r := v1.Range{Start: p.Start.Add(time.Duration(c.from) * p.Step), End: p.Start.Add(time.Duration(c.to) * p.Step), Step: p.Step}
		v, _, _, err := p.API.QueryRange(ctx, q.Query, r)
		if err != nil {
			promurl.Scrub(err) // the request's URL, the base URL's query (a token) with it
			if p.URL != "" {
				err = promurl.QueryError(p.URL, err)
			}
			if len(chunks) > 1 {
				return nil, fmt.Errorf("query_range %s (%q), part %d of %d (%s–%s): %w", q.Name, q.Query, k+1, len(chunks),
					r.Start.UTC().Format(time.RFC3339), r.End.UTC().Format(time.RFC3339), err)
			}
			return nil, fmt.Errorf("query_range %s (%q): %w", q.Name, q.Query, err)
		}
		m, ok := v.(pmodel.Matrix)
		if !ok {
			return nil, fmt.Errorf("query_range %s: result is %s, want a matrix", q.Name, v.Type())
		}
		for _, ss := range m {
			fp := ss.Metric.String()
			if cur, ok := byKey[fp]; ok {
				cur.Values = append(cur.Values, ss.Values...)
				continue
			}
			byKey[fp] = ss
			out = append(out, ss)
		}
		pr.advance(q.Name)
	}
	return out, nil
}

// entity returns the entity of a result series: its EntityLabels values
// joined by "/", escaped as the daemon does (internal/entityid); false when one is missing or empty (the daemon drops such
// a series as missing_labels).
func (p *PrometheusSource) entity(m pmodel.Metric) (string, bool) {
	parts := make([]string, len(p.EntityLabels))
	for i, l := range p.EntityLabels {
		v := m[pmodel.LabelName(l)]
		if v == "" {
			return "", false
		}
		parts[i] = string(v)
	}
	return entityid.Join(parts), true
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

// queryProgress reports the range queries: a redrawn line on a terminal,
// otherwise one summary line at the end when there were more than one per
// expression (nil writer: silent).
type queryProgress struct {
	w           io.Writer
	tty         bool
	total, n    int
	perQuery    int
	lastOut     time.Time
	start       time.Time
	lastPrinted bool
}

func newQueryProgress(w io.Writer, total int) *queryProgress {
	p := &queryProgress{w: w, total: total, start: time.Now()}
	p.tty = tty.IsTerminal(w) // also through a writer wrapping a terminal (omen's CLI)
	return p
}

func (p *queryProgress) advance(name string) {
	p.n++
	if p.w == nil || !p.tty {
		return
	}
	if now := time.Now(); now.Sub(p.lastOut) >= 100*time.Millisecond || p.n == p.total {
		p.lastOut = now
		fmt.Fprintf(p.w, "\rprometheus source: range query %d/%d (%s)\033[K", p.n, p.total, name)
		p.lastPrinted = true
	}
}

// done ends the progress line; queries is the number of expressions.
func (p *queryProgress) done(queries int) {
	if p.w == nil {
		return
	}
	if p.lastPrinted {
		fmt.Fprintln(p.w)
	}
	if p.total > queries {
		fmt.Fprintf(p.w, "prometheus source: %d range queries (%d expressions, each in %d parts of at most %d points), %.1fs\n",
			p.total, queries, p.total/max(queries, 1), p.perQuery, time.Since(p.start).Seconds())
	}
}
