package features

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/omen-sre/omen/internal/errclass"
	"github.com/omen-sre/omen/telemetry"
)

// Vector is the feature vector of one entity at one step.
type Vector struct {
	// Entity is the canonical entity name: the entity label values joined
	// by "/", e.g. "payments/api-7f9c-x2k", each value's "/" written "%2F"
	// and its "%" "%25" (internal/entityid), so that distinct values give
	// distinct names ("col%2Fx/y" and "col/x%2Fy").
	Entity string
	// Labels are the entity labels and their values.
	Labels map[string]string
	// T is the step time in milliseconds.
	T int64
	// Values has one value per feature in FeatureNames order (PromQL
	// features, then event features); NaN where a PromQL feature has no
	// value for the entity. Event features are counts (0 when none).
	Values []float64
	// Failure has one flag per label definition (LabelNames order).
	Failure []bool
}

// ExtractorOptions configure an Extractor.
type ExtractorOptions struct {
	// Config defines the features; zero fields take defaults.
	Config Config
	// Head holds the samples the PromQL features read. Required.
	Head *Head
	// LookbackDelta is PromQL's instant-vector lookback. Default 5m.
	LookbackDelta time.Duration
	// MaxSamples bounds the samples one query may load. Default 50,000,000
	// (Prometheus's default).
	MaxSamples int
	// Timeout bounds one query. Default 1m.
	Timeout time.Duration
	// Parallelism is how many feature queries of one Evaluate run at
	// once. Default 1 (one after the other): on a 2-core machine busy
	// with ingest or other work, parallel queries only added contention
	// (docs/PERFORMANCE.md); more lowers an evaluation's latency when
	// cores are idle.
	Parallelism int
	// Registerer receives the metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger; nil discards.
	Logger *slog.Logger
}

// Extractor evaluates the configured features over a Head at step times.
//
// All methods are safe for concurrent use. AddEvents and AddPolled may run
// while Evaluate does; SetConfig swaps the definitions atomically.
type Extractor struct {
	opts   ExtractorOptions
	head   *Head
	engine *promql.Engine
	cfg    atomic.Pointer[compiled]
	events *eventStore
	polled *polledStore

	evaluations prometheus.Counter
	duration    prometheus.Histogram
	queryErrors *prometheus.CounterVec
	entities    prometheus.Gauge
	dropped     *prometheus.CounterVec
	dropMissing prometheus.Counter
	dropDupEnt  prometheus.Counter
	dropUnknown prometheus.Counter
	dropTooOld  prometheus.Counter
	lookbackMs  int64

	// failing holds each failing feature or label query's state, for
	// logging without flooding (see logQueries); failMu guards it.
	failMu  sync.Mutex
	failing errclass.Tracker[queryKey]
}

// queryKey names a feature or label query by its definition: a reload
// that changes the expression makes it another query.
type queryKey struct {
	name, expr string
	label      bool
}

// compiled is a validated, resolved configuration with its lookup tables.
type compiled struct {
	cfg          Config // resolved
	entityLabels []string
	names        []string
	labelNames   []string
	step         int64
	lookback     int64
	windows      []int64 // per event feature
	maxWindow    int64
	eventKeep    int64
	events       map[string]*reasonRules // by used reason
	polledNames  map[string]int          // feature index, or -1-label index
	polledScalar map[string]bool         // names whose expression gives a scalar
	// history is the longest data time any feature or label expression
	// reads before the evaluation time (ms; see Extractor.Oldest).
	history int64
	// selectors are the label matchers of the expressions' vector
	// selectors, each set once (see Extractor.Selectors).
	selectors [][]*labels.Matcher
}

func compile(cfg Config, lookbackDelta time.Duration) (*compiled, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid feature config: %w", err)
	}
	r := cfg.Resolved()
	c := &compiled{
		cfg:          r,
		entityLabels: r.EntityLabels,
		names:        r.FeatureNames(),
		labelNames:   r.LabelNames(),
		step:         time.Duration(r.Step).Milliseconds(),
		lookback:     time.Duration(r.Lookback).Milliseconds(),
		polledNames:  map[string]int{},
	}
	events, err := compileEventRules(r)
	if err != nil {
		return nil, fmt.Errorf("invalid feature config: %w", err)
	}
	c.events = events
	for _, f := range r.EventFeatures {
		w := time.Duration(f.Window).Milliseconds()
		c.windows = append(c.windows, w)
		c.maxWindow = max(c.maxWindow, w)
	}
	c.maxWindow = max(c.maxWindow, c.step)
	// Keep events long enough for evaluations that lag the newest event
	// by up to a lookback (catching up after a pause).
	c.eventKeep = c.maxWindow + c.lookback
	for i, l := range r.Labels {
		c.polledNames[l.Name] = -1 - i
	}
	for i, f := range r.Features {
		c.polledNames[f.Name] = i
	}
	c.polledScalar = scalarNames(r)
	exprs := make([]string, 0, len(r.Features)+len(r.Labels))
	for _, f := range r.Features {
		exprs = append(exprs, f.Expr)
	}
	for _, l := range r.Labels {
		exprs = append(exprs, l.Expr)
	}
	seen := map[string]bool{}
	for _, x := range exprs {
		if x == "" {
			continue
		}
		if pe, err := parseExpr(ExpandExpr(x, r.EntityLabels)); err == nil {
			c.history = max(c.history, history(pe, lookbackDelta).Milliseconds())
			c.selectors = appendSelectors(c.selectors, pe, seen)
		}
	}
	return c, nil
}

// NewExtractor returns an Extractor over opts.Head.
func NewExtractor(opts ExtractorOptions) (*Extractor, error) {
	if opts.Head == nil {
		return nil, errors.New("feature extractor: no head")
	}
	if opts.LookbackDelta == 0 {
		opts.LookbackDelta = DefaultLookbackDelta
	}
	if opts.MaxSamples == 0 {
		opts.MaxSamples = 50_000_000
	}
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Parallelism == 0 {
		opts.Parallelism = 1
	}
	if opts.LookbackDelta < 0 || opts.MaxSamples < 0 || opts.Timeout < 0 || opts.Parallelism < 0 {
		return nil, errors.New("feature extractor: negative lookback delta, max samples, timeout or parallelism")
	}
	c, err := compile(opts.Config, opts.LookbackDelta)
	if err != nil {
		return nil, err
	}
	if err := checkHead(c, opts.Head); err != nil {
		return nil, err
	}
	e := &Extractor{
		opts:       opts,
		head:       opts.Head,
		events:     newEventStore(opts.Head.opts.MaxSeries),
		polled:     newPolledStore(),
		lookbackMs: opts.LookbackDelta.Milliseconds(),
		// The engine's own metrics (prometheus_engine_*) are not
		// registered: omen exports its own.
		engine: promql.NewEngine(promql.EngineOpts{
			Logger:               opts.Logger.With("component", "promql"),
			MaxSamples:           opts.MaxSamples,
			Timeout:              opts.Timeout,
			LookbackDelta:        opts.LookbackDelta,
			EnableAtModifier:     true,
			EnableNegativeOffset: true,
		}),
	}
	e.cfg.Store(c)

	e.evaluations = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "omen", Subsystem: "feature", Name: "evaluations_total",
		Help: "Feature evaluations (one per step).",
	})
	e.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "omen", Subsystem: "feature", Name: "evaluation_seconds",
		Help:    "Time to evaluate all features at one step.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
	})
	e.queryErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "omen", Subsystem: "feature", Name: "query_errors_total",
		Help: "PromQL feature or label queries that failed; the value is NaN for that step.",
	}, []string{"feature"})
	e.entities = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "omen", Subsystem: "feature", Name: "entities",
		Help: "Entities with a feature vector at the last evaluation.",
	})
	if err := register(opts.Registerer, e.evaluations, e.duration, e.queryErrors, e.entities); err != nil {
		return nil, err
	}
	if e.dropped, err = droppedCounter(opts.Registerer); err != nil {
		return nil, err
	}
	e.dropMissing = e.dropped.WithLabelValues(ReasonMissingLabels)
	e.dropDupEnt = e.dropped.WithLabelValues(ReasonDuplicateEntity)
	e.dropUnknown = e.dropped.WithLabelValues(ReasonUnknownFeature)
	e.dropTooOld = e.dropped.WithLabelValues(ReasonTooOld)
	return e, nil
}

func checkHead(c *compiled, h *Head) error {
	if lb := time.Duration(c.cfg.Lookback); lb > h.Lookback() {
		return fmt.Errorf("feature config lookback %v exceeds the head's %v", lb, h.Lookback())
	}
	return nil
}

// SetConfig replaces the definitions (a configuration reload): it is
// PrepareConfig then ApplyConfig. On error nothing changes.
func (e *Extractor) SetConfig(cfg Config) error {
	p, err := e.PrepareConfig(cfg)
	if err != nil {
		return err
	}
	e.ApplyConfig(p)
	return nil
}

// PreparedConfig is a configuration PrepareConfig checked for an
// Extractor, ready for its ApplyConfig.
type PreparedConfig struct{ c *compiled }

// FeatureNames returns the names of Vector.Values under the prepared
// configuration.
func (p *PreparedConfig) FeatureNames() []string { return slices.Clone(p.c.names) }

// LabelNames returns the names of Vector.Failure under the prepared
// configuration.
func (p *PreparedConfig) LabelNames() []string { return slices.Clone(p.c.labelNames) }

// EntityLabels returns the prepared configuration's entity labels.
func (p *PreparedConfig) EntityLabels() []string { return slices.Clone(p.c.entityLabels) }

// PrepareConfig checks cfg for a reload and compiles it, changing
// nothing: a reload that must change several components together
// prepares each before applying any. The Head is not resized: a lookback
// beyond the Head's is an error.
func (e *Extractor) PrepareConfig(cfg Config) (*PreparedConfig, error) {
	c, err := compile(cfg, e.opts.LookbackDelta)
	if err != nil {
		return nil, err
	}
	if err := checkHead(c, e.head); err != nil {
		return nil, err
	}
	return &PreparedConfig{c: c}, nil
}

// ApplyConfig puts p (from e's PrepareConfig) in force; it cannot fail.
// Events and polled values are kept unless the entity labels changed
// (then the event windows, the Kubernetes event UIDs seen and the polled
// values are dropped); polled values of features and labels p no longer
// defines, or defines by another expression, are dropped.
func (e *Extractor) ApplyConfig(p *PreparedConfig) {
	c := p.c
	old := e.cfg.Swap(c)
	changed := !slices.Equal(old.entityLabels, c.entityLabels)
	if changed {
		e.events.reset()
	}
	e.polled.retain(old, c, changed)
	e.forgetQueries(c)
}

// forgetQueries ends the failing state of the queries c no longer defines
// (removed by a reload, or given another expression), with an info
// record: no success will end it.
func (e *Extractor) forgetQueries(c *compiled) {
	e.failMu.Lock()
	defer e.failMu.Unlock()
	if e.failing.Len() == 0 {
		return
	}
	defined := map[queryKey]bool{}
	for _, f := range c.cfg.Features {
		defined[queryKey{name: f.Name, expr: f.Expr}] = true
	}
	for _, l := range c.cfg.Labels {
		if l.Expr != "" {
			defined[queryKey{name: l.Name, expr: l.Expr, label: true}] = true
		}
	}
	e.failing.Forget(func(k queryKey) bool { return defined[k] }, func(k queryKey, f errclass.Failure) {
		e.opts.Logger.Info("failing feature query no longer evaluated: a reload removed it or changed its expression",
			"feature", k.name, "failing_since", f.Since.UTC(), "failed_steps", f.Count)
	})
}

// Oldest returns the oldest evaluation time (ms since the epoch) at which
// every feature and label still reads all the history it needs from what
// is held in memory; ok is false while nothing is held. The Head keeps
// its Lookback before its newest sample, and the longest expression reads
// back its range (plus offset, or the instant-vector lookback delta): an
// evaluation at an older time, behind the newest sample by more than
// lookback minus that history, reads samples the Head has already dropped
// (too_old) or garbage-collected; long enough behind, none at all, and
// the step has no vectors. Polled values are kept a lookback before the
// newest and read back the lookback delta; events are kept their window
// and a lookback before the newest. A caller that evaluates steps after
// the data (catching up on a backlog) can skip the steps older than
// Oldest instead of evaluating them on part of their data.
func (e *Extractor) Oldest() (t int64, ok bool) {
	c := e.cfg.Load()
	t = math.MinInt64
	if mt := e.head.MaxTime(); mt != math.MinInt64 {
		t, ok = mt-e.head.lookback+c.history, true
	}
	e.polled.mu.Lock()
	if mt := e.polled.maxT; mt != math.MinInt64 {
		t, ok = max(t, mt-c.lookback+e.lookbackMs), true
	}
	e.polled.mu.Unlock()
	e.events.mu.Lock()
	if mt := e.events.maxT; mt != math.MinInt64 {
		t, ok = max(t, mt-c.eventKeep+c.maxWindow), true
	}
	e.events.mu.Unlock()
	return t, ok
}

// Selectors returns the label matchers of the vector selectors of the
// PromQL features and labels, each set of matchers once, for
// Head.Progress. The result must not be modified.
func (e *Extractor) Selectors() [][]*labels.Matcher { return e.cfg.Load().selectors }

// Selects reports whether one of the vector selectors of the PromQL
// features and labels (Selectors) selects the series of lset.
func (e *Extractor) Selects(lset labels.Labels) bool { return matchesAny(lset, e.Selectors()) }

// appendSelectors appends to sels the label matchers of e's vector
// selectors that are not in seen (by their text), and adds them to seen.
func appendSelectors(sels [][]*labels.Matcher, e parser.Expr, seen map[string]bool) [][]*labels.Matcher {
	for _, vs := range vectorSelectors(e) {
		var key strings.Builder
		for _, m := range vs.LabelMatchers {
			key.WriteString(m.String())
			key.WriteByte(',')
		}
		if !seen[key.String()] {
			seen[key.String()] = true
			sels = append(sels, vs.LabelMatchers)
		}
	}
	return sels
}

// vectorSelectors returns e's vector selectors in the order parser.Inspect
// visits them (those inside matrix selectors and subqueries too).
func vectorSelectors(e parser.Expr) []*parser.VectorSelector {
	var out []*parser.VectorSelector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out
}

// FeatureNames returns the names of Vector.Values: the PromQL features, then
// the event features.
func (e *Extractor) FeatureNames() []string { return slices.Clone(e.cfg.Load().names) }

// LabelNames returns the names of Vector.Failure.
func (e *Extractor) LabelNames() []string { return slices.Clone(e.cfg.Load().labelNames) }

// Config returns the configuration in use, resolved (defaults applied,
// placeholders expanded).
func (e *Extractor) Config() Config { return e.cfg.Load().cfg }

// AddEvents records events for the event features and event-defined
// failure labels. Only events that an event feature or label matches (by
// reason, and by message for a reason with a message pattern) are kept.
// A Kubernetes event re-sent with the same UID counts only the increase of
// its Count, so redeliveries count nothing. Events without the entity labels
// are dropped (missing_labels). Events of a new entity or with a new UID
// beyond the Head's MaxSeries entities or UIDs held are dropped
// (cardinality): the limit is shared by every publisher.
func (e *Extractor) AddEvents(evs []telemetry.Event) {
	e.addEvents(evs, 0, false)
}

// AddPolled records feature values a remote Prometheus evaluated (remote
// mode): a sample whose metric name is a feature's (or a label
// definition's) name and whose labels carry the entity labels is that
// feature's value for the entity at the sample time. At Evaluate such a
// value, the newest within the lookback delta, takes precedence over the
// local evaluation (a label value > 0 is a failure). A sample of a
// feature whose expression gives a scalar (the poller sends it with no
// label but its name) applies to every entity, as a local scalar does.
// Several result series of one entity in one call (one poll) give the
// largest value, as locally (counted as duplicate_entity). Other samples
// are dropped (unknown_feature, missing_labels: a vector series without
// the entity labels, such as sum(up)'s).
func (e *Extractor) AddPolled(samples []telemetry.Sample) {
	unknown, missing, old, dup := e.polled.add(e.cfg.Load(), samples)
	e.dropUnknown.Add(float64(unknown))
	e.dropMissing.Add(float64(missing))
	e.dropTooOld.Add(float64(old))
	e.dropDupEnt.Add(float64(dup))
}

// Evaluate computes the feature vectors at t, one per entity that has any
// value, sorted by Entity. A feature query that fails is logged, counted in
// omen_feature_query_errors_total and leaves NaN; Evaluate fails only when
// ctx ends or when every query failed.
func (e *Extractor) Evaluate(ctx context.Context, t time.Time) ([]Vector, error) {
	start := time.Now()
	c := e.cfg.Load()
	ts := t.UnixMilli()
	nf, ne, nl := len(c.cfg.Features), len(c.cfg.EventFeatures), len(c.cfg.Labels)

	byEntity := map[string]*Vector{}
	// newVector adds the entity key with its labels, which it keeps.
	newVector := func(key string, lbls map[string]string) *Vector {
		v := &Vector{Entity: key, Labels: lbls, T: ts, Values: make([]float64, nf+ne), Failure: make([]bool, nl)}
		for i := range nf {
			v.Values[i] = math.NaN()
		}
		byEntity[key] = v
		return v
	}
	get := func(key string, lbls map[string]string) *Vector {
		v := byEntity[key]
		if v == nil {
			// The event and polled stores keep their maps: hand out copies.
			v = newVector(key, maps.Clone(lbls))
		}
		return v
	}
	var b strings.Builder
	var queries, failed int
	scalars := map[int]float64{}
	var scalarLabels []int

	// The queries run concurrently (they only read the head); their
	// results are merged below one after the other, in definition order.
	var jobs []queryJob
	for i, f := range c.cfg.Features {
		jobs = append(jobs, queryJob{index: i, name: f.Name, expr: f.Expr})
	}
	for i, l := range c.cfg.Labels {
		if l.Expr != "" {
			jobs = append(jobs, queryJob{index: i, name: l.Name, expr: l.Expr, label: true})
		}
	}
	e.runJobs(ctx, jobs, t)

	// merge applies one query's result: f per entity with its value; it
	// returns the scalar value when the result is a scalar.
	merge := func(j *queryJob, f func(v *Vector, val float64)) (float64, bool, error) {
		queries++
		if j.err != nil {
			if ctx.Err() != nil {
				return 0, false, ctx.Err()
			}
			failed++
			e.queryErrors.WithLabelValues(j.name).Inc()
			return 0, false, nil // logged by logQueries
		}
		for _, s := range j.samples {
			key, ok := c.entityOf(s.lset, &b)
			if !ok {
				e.dropMissing.Inc()
				continue
			}
			v := byEntity[key]
			if v == nil {
				v = newVector(strings.Clone(key), c.labelMap(s.lset))
			}
			f(v, s.v)
		}
		return j.scalar, j.isScalar, nil
	}

	for k := range jobs {
		j := &jobs[k]
		if j.label {
			continue
		}
		i := j.index
		seen := map[*Vector]bool{}
		s, isScalar, err := merge(j, func(v *Vector, val float64) {
			if seen[v] {
				e.dropDupEnt.Inc()
				if val > v.Values[i] || math.IsNaN(v.Values[i]) {
					v.Values[i] = val
				}
				return
			}
			seen[v] = true
			v.Values[i] = val
		})
		if err != nil {
			return nil, err
		}
		if isScalar {
			scalars[i] = s
		}
	}
	for k := range jobs {
		j := &jobs[k]
		if !j.label {
			continue
		}
		i := j.index
		s, isScalar, err := merge(j, func(v *Vector, val float64) {
			if val > 0 {
				v.Failure[i] = true
			}
		})
		if err != nil {
			return nil, err
		}
		if isScalar && s > 0 {
			scalarLabels = append(scalarLabels, i)
		}
	}
	e.logQueries(jobs, t)
	if queries > 0 && failed == queries {
		return nil, fmt.Errorf("evaluate features at %v: all %d queries failed", t.UTC(), queries)
	}

	// Remote mode: values a remote Prometheus evaluated win; a scalar
	// applies to every entity, as a local one.
	for i, f := range c.cfg.Features {
		if val, ok := e.polled.scalar(f.Name, ts, e.lookbackMs); ok {
			scalars[i] = val
			continue
		}
		e.polled.each(f.Name, ts, e.lookbackMs, func(key string, lbls map[string]string, val float64) {
			get(key, lbls).Values[i] = val
		})
	}
	for i, l := range c.cfg.Labels {
		if val, ok := e.polled.scalar(l.Name, ts, e.lookbackMs); ok {
			scalarLabels = slices.DeleteFunc(scalarLabels, func(k int) bool { return k == i })
			if val > 0 {
				scalarLabels = append(scalarLabels, i)
			}
			continue
		}
		e.polled.each(l.Name, ts, e.lookbackMs, func(key string, lbls map[string]string, val float64) {
			get(key, lbls).Failure[i] = val > 0
		})
	}

	e.events.fill(c, ts, get)

	out := make([]Vector, 0, len(byEntity))
	for _, v := range byEntity {
		for i, s := range scalars {
			if math.IsNaN(v.Values[i]) {
				v.Values[i] = s
			}
		}
		for _, i := range scalarLabels {
			v.Failure[i] = true
		}
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b Vector) int { return strings.Compare(a.Entity, b.Entity) })
	e.evaluations.Inc()
	e.entities.Set(float64(len(out)))
	e.duration.Observe(time.Since(start).Seconds())
	return out, nil
}

// logQueries logs the failed queries of jobs, evaluated at t, without
// flooding the log with a query that fails at every step, as the
// Prometheus poller does its queries: a warning when a query starts
// failing or fails with another class of error (queryErrorClass), then
// debug records while the class stays the same (each with the error's
// full text), and an info record when it succeeds again. The failures
// are counted by omen_feature_query_errors_total. A warning at every
// step (every 5s by default) drowned the log.
func (e *Extractor) logQueries(jobs []queryJob, t time.Time) {
	e.failMu.Lock()
	defer e.failMu.Unlock()
	for k := range jobs {
		j := &jobs[k]
		key := queryKey{name: j.name, expr: j.expr, label: j.label}
		if j.err == nil {
			if f, ended := e.failing.Succeed(key); ended {
				e.opts.Logger.Info("feature query succeeds again", "feature", j.name, "t", t.UTC(), "failing_since", f.Since.UTC(), "failed_steps", f.Count)
			}
			continue
		}
		if f, started := e.failing.Fail(key, queryErrorClass(j.err), t); started {
			e.opts.Logger.Warn("feature query failed; while it fails with this error, logged at debug level", "feature", j.name, "t", t.UTC(), "err", j.err)
		} else {
			e.opts.Logger.Debug("feature query still failing", "feature", j.name, "t", t.UTC(), "failing_since", f.Since.UTC(), "failed_steps", f.Count, "err", j.err)
		}
	}
}

// queryErrorClass is the class of a feature query's error that logQueries
// compares: "timeout" for a query that timed out, else the error's text
// without its volatile parts (errclass.Of).
func queryErrorClass(err error) string {
	var timeout promql.ErrQueryTimeout
	if errors.As(err, &timeout) || errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return errclass.Of(err.Error())
}

// queryJob is one feature or label query of an Evaluate and its result.
type queryJob struct {
	index int // feature or label index
	name  string
	expr  string
	label bool

	samples  []querySample
	scalar   float64
	isScalar bool
	err      error
}

type querySample struct {
	lset labels.Labels
	v    float64
}

// runJobs runs the queries of jobs at t on up to Parallelism goroutines.
func (e *Extractor) runJobs(ctx context.Context, jobs []queryJob, t time.Time) {
	do := func(j *queryJob) {
		j.scalar, j.isScalar, j.err = e.query(ctx, j.expr, t, func(lset labels.Labels, v float64) {
			j.samples = append(j.samples, querySample{lset, v})
		})
	}
	workers := min(e.opts.Parallelism, len(jobs))
	if workers <= 1 {
		for k := range jobs {
			do(&jobs[k])
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(jobs) {
					return
				}
				do(&jobs[k])
			}
		})
	}
	wg.Wait()
}

// query runs expr as an instant query at t and calls f for every float
// sample of a vector result; for a scalar result it returns the value.
func (e *Extractor) query(ctx context.Context, expr string, t time.Time, f func(labels.Labels, float64)) (float64, bool, error) {
	q, err := e.engine.NewInstantQuery(ctx, e.head, nil, expr, t)
	if err != nil {
		return 0, false, fmt.Errorf("prepare query %q: %w", expr, err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return 0, false, fmt.Errorf("run query %q: %w", expr, res.Err)
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		for _, s := range v {
			if s.H != nil {
				continue
			}
			f(s.Metric, s.F)
		}
		return 0, false, nil
	case promql.Scalar:
		return v.V, true, nil
	default:
		return 0, false, fmt.Errorf("query %q gave a %s, need a vector or scalar", expr, res.Value.Type())
	}
}
