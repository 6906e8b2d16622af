package app

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
)

type evaluatorOptions struct {
	Extractor  *features.Extractor
	Store      *store.Store
	Ingest     *ingester
	Scorer     *scorer
	Alerts     *alerter
	Step       time.Duration
	WallClock  bool
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// evaluator evaluates features at every step boundary the data has passed,
// stores the vectors, scores them and hands the predictions to the alerts.
type evaluator struct {
	evaluatorOptions
	next int64 // next step to evaluate, ms; 0 before the first data

	steps    prometheus.Counter
	failures prometheus.Counter
	lastStep prometheus.Gauge
	known    map[string]int64 // entity → data time its sighting was last stored
	// instant caches features.Config.InstantFeatures for instantNames.
	instant      []bool
	instantNames []string
	// done is the last step evaluated (ms), for Progress.
	done atomic.Int64
}

// entityRefresh is how often a known entity's LastSeen is rewritten.
const entityRefresh = 10 * time.Minute

// maxCatchUp bounds how many steps one tick evaluates; a source that jumps
// far ahead makes the evaluator skip to the newest steps instead.
const maxCatchUp = 64

func newEvaluator(o evaluatorOptions) *evaluator {
	f := promauto.With(o.Registerer)
	return &evaluator{
		evaluatorOptions: o,
		known:            map[string]int64{},
		steps: f.NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "evaluator_steps_total", Help: "Steps evaluated.",
		}),
		failures: f.NewCounter(prometheus.CounterOpts{
			Namespace: "omen", Name: "evaluator_step_failures_total", Help: "Steps whose evaluation, storage or scoring failed.",
		}),
		lastStep: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "omen", Name: "evaluator_last_step_timestamp_seconds", Help: "Data time of the last evaluated step.",
		}),
	}
}

func (e *evaluator) run(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			e.tick(ctx)
		case <-e.Ingest.advanced:
			e.tick(ctx)
		}
	}
}

// tick evaluates every step boundary t with t + step ≤ watermark (one step
// of slack for late samples), capped by the wall clock in production.
func (e *evaluator) tick(ctx context.Context) {
	step := e.Step.Milliseconds()
	wm := e.Ingest.watermark.Load()
	if wm == 0 {
		return
	}
	if e.WallClock {
		if now := time.Now().UnixMilli(); wm > now {
			wm = now
		}
	}
	target := (wm - step) / step * step
	if e.next == 0 {
		e.next = target
	}
	if target-e.next > maxCatchUp*step {
		e.next = target - (maxCatchUp-1)*step
	}
	for ; e.next <= target; e.next += step {
		if ctx.Err() != nil {
			return
		}
		e.evaluate(ctx, e.next)
	}
}

func (e *evaluator) evaluate(ctx context.Context, t int64) {
	vs, err := e.Extractor.Evaluate(ctx, time.UnixMilli(t))
	if err != nil {
		e.failures.Inc()
		e.Logger.Error("evaluate features", "t", time.UnixMilli(t).UTC(), "err", err)
		return
	}
	e.steps.Inc()
	e.lastStep.Set(float64(t) / 1000)
	e.done.Store(t)
	vs = dropAbsent(vs, e.instantFeatures())
	if len(vs) == 0 {
		return
	}
	recs := make([]store.Vector, len(vs))
	var seen []store.EntityInfo
	for i, v := range vs {
		recs[i] = store.Vector{Entity: v.Entity, T: v.T, Values: v.Values, Failure: v.Failure}
		// New entities, and known ones every entityRefresh, in one
		// transaction: LastSeen stays current without a write per step.
		if last, ok := e.known[v.Entity]; !ok || v.T-last >= entityRefresh.Milliseconds() {
			seen = append(seen, store.EntityInfo{ID: v.Entity, Labels: v.Labels, FirstSeen: v.T, LastSeen: v.T})
		}
	}
	if len(seen) > 0 {
		if err := e.Store.PutEntities(seen); err != nil {
			e.Logger.Error("store entities", "n", len(seen), "err", err)
		} else {
			for _, en := range seen {
				e.known[en.ID] = en.LastSeen
			}
		}
	}
	if err := e.Store.PutVectors(recs); err != nil {
		e.failures.Inc()
		e.Logger.Error("store feature vectors", "t", time.UnixMilli(t).UTC(), "err", err)
	}
	preds := e.Scorer.score(ctx, t, vs)
	if len(preds) > 0 && e.Alerts != nil {
		e.Alerts.process(ctx, t, preds)
	}
}

// instantFeatures returns features.Config.InstantFeatures of the
// extractor's configuration, cached until the feature names change.
func (e *evaluator) instantFeatures() []bool {
	cfg := e.Extractor.Config()
	names := features.Names(cfg)
	if !slices.Equal(names, e.instantNames) {
		e.instant, e.instantNames = cfg.InstantFeatures(), names
	}
	return e.instant
}

// dropAbsent removes the vectors of entities that are no longer (or not
// yet) there: none of the instant PromQL features (instant[i]) has a value
// (with no instant feature, none of the PromQL features). A deleted pod
// keeps getting vectors for a while from its late events and from range
// functions over its last samples, but there is nothing to score or learn
// from, and scoring them raised false alarms on every pod a rollout
// removed. Their events stay in the event store.
func dropAbsent(vs []features.Vector, instant []bool) []features.Vector {
	someInstant := slices.Contains(instant, true)
	out := vs[:0]
	for _, v := range vs {
		for i, is := range instant {
			if i < len(v.Values) && (is || !someInstant) && v.Values[i] == v.Values[i] { // a value, not NaN
				out = append(out, v)
				break
			}
		}
	}
	return out
}
