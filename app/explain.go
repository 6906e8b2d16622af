package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/explain"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
)

// Explanation is what omen stores with a prediction and serves from its
// API: SHAP-style attributions of the failure probability over feature
// groups (one per metric), the ranked root causes, and the window's data.
type Explanation struct {
	PredictionID string            `json:"prediction_id"`
	Entity       string            `json:"entity"`
	Labels       map[string]string `json:"labels"`
	T            int64             `json:"t"`
	Prob         float64           `json:"probability"`
	Threshold    float64           `json:"threshold"`
	Anomaly      float64           `json:"anomaly_score"`
	ModelVersion string            `json:"model_version"`
	// Attribution: Σ groups[i].phi = value − baseline.
	Attribution explain.Attribution `json:"attribution"`
	// Causes are the top metric groups and the top root-cause entities
	// (services when the dependency graph names services).
	Causes rootCause `json:"causes"`
	// Features name the window's columns; Window holds W rows of raw
	// values (null for missing), oldest first, ending at T; Step is the
	// time between rows in ms.
	Features []string    `json:"features"`
	Window   [][]float64 `json:"window"`
	Step     int64       `json:"step_ms"`
	// Error, when set, is why there are no attributions and causes: the
	// prediction's explanation failed when its alert fired (see
	// unexplained; such a document is stored under the alert's
	// fingerprint only).
	Error string `json:"error,omitempty"`
}

// rootCause is [explain.RootCause] as an explanation stores it: each
// root-cause entity comes with the live entity its links point to.
type rootCause struct {
	Metrics  []explain.GroupAttribution `json:"metrics"`
	Entities []entityCause              `json:"entities"`
}

// entityCause is a ranked root cause: an entity or, with a dependency
// graph, a service.
type entityCause struct {
	explain.Cause
	// WorstEntity is the cause's live entity with the highest evidence:
	// the cause itself when it is a live entity, else, for a service, the
	// entity of the service with the highest evidence (the one the
	// service's evidence is). It is "" when the cause has no live entity
	// (a service of the graph whose pods omen does not score), and is
	// always written, so that a reader tells "no live entity" ("") from a
	// document stored before the field existed (absent).
	WorstEntity string `json:"worst_entity"`
}

// rootCauseOf is rc with each entity's worst live entity looked up in
// worst (see evidenceOf).
func rootCauseOf(rc explain.RootCause, worst map[string]string) rootCause {
	out := rootCause{Metrics: rc.Metrics, Entities: make([]entityCause, len(rc.Entities))}
	if out.Metrics == nil {
		out.Metrics = []explain.GroupAttribution{}
	}
	for i, c := range rc.Entities {
		out.Entities[i] = entityCause{Cause: c, WorstEntity: worst[c.Entity]}
	}
	return out
}

// setWorstEntities sets the worst entity of each of n's nodes (services)
// from worst (see evidenceOf): the entity its links point to, "" for none.
func setWorstEntities(n *api.Neighbourhood, worst map[string]string) {
	for i := range n.Nodes {
		w := worst[n.Nodes[i].Name]
		n.Nodes[i].WorstEntity = &w
	}
}

// explainer computes explanations for predictions of the active model.
type explainer struct {
	store  *store.Store
	scorer *scorer

	mu    sync.RWMutex
	cfg   *config.Config
	graph *explain.Graph
}

func newExplainer(st *store.Store, sc *scorer, cfg *config.Config) *explainer {
	e := &explainer{store: st, scorer: sc}
	e.setConfig(cfg)
	return e
}

func (e *explainer) setConfig(cfg *config.Config) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg = cfg
	e.graph = buildGraph(cfg.Dependencies)
}

func buildGraph(deps []config.Dependency) *explain.Graph {
	if len(deps) == 0 {
		return nil
	}
	g := explain.NewGraph()
	for _, d := range deps {
		w := d.Weight
		if w == 0 {
			w = 1
		}
		_ = g.AddEdge(d.Source, d.Target, w) // validated by config.Load
	}
	return g
}

// backgroundWindows is the number of normal windows an explanation
// compares against.
const backgroundWindows = 16

// explain explains one scored prediction. It is computed with the model
// that scored p (p.Model), also when another one was promoted since.
func (e *explainer) explain(ctx context.Context, p prediction) (Explanation, error) {
	m, version := p.Model, p.ModelVersion
	if m == nil {
		return Explanation{}, fmt.Errorf("prediction %s: no model", p.ID)
	}
	cfg := m.Config()
	w, nf := cfg.Window, len(cfg.Features)
	if len(p.Window) != w*nf {
		return Explanation{}, fmt.Errorf("window of %d values, model wants %d×%d", len(p.Window), w, nf)
	}
	groups, err := explain.GroupsByMetric(w, nf, cfg.Features)
	if err != nil {
		return Explanation{}, err
	}
	bg := e.background(m, p)
	attr, err := explain.ForGroups(len(groups)).Explain(ctx, m, p.Window, bg, groups)
	if err != nil {
		return Explanation{}, fmt.Errorf("attribute prediction %s: %w", p.ID, err)
	}
	e.mu.RLock()
	g := e.graph
	e.mu.RUnlock()
	evidence, worst := e.evidenceOf(g != nil)
	// The root causes are those of p's entity: the walk starts at it (its
	// service with a dependency graph) and ranks it and what it depends
	// on, with p's own evidence (the prediction explained, which may no
	// longer be the latest).
	start := p.Entity
	if g != nil {
		start = serviceOf(p.Labels)
	}
	if own := evidence1(p.Anomaly, p.Prob); own > evidence[start] || worst[start] == "" {
		evidence[start] = max(evidence[start], own)
		worst[start] = p.Entity
	}
	rc, err := explain.Causes(attr, g, evidence, 5, explain.RankOptions{Start: start})
	if err != nil {
		return Explanation{}, fmt.Errorf("rank causes of %s: %w", p.ID, err)
	}
	causes := rootCauseOf(rc, worst)
	x := Explanation{
		PredictionID: p.ID, Entity: p.Entity, Labels: p.Labels, T: p.T, Prob: p.Prob,
		Threshold: p.Threshold, Anomaly: p.Anomaly, ModelVersion: version,
		Attribution: attr, Causes: causes, Features: cfg.Features,
		Step: e.scorer.step.Milliseconds(),
	}
	x.Window = windowRows(p.Window, w, nf)
	return x, nil
}

// background draws up to backgroundWindows recent normal windows of the
// entity from the store (windows whose steps carry no failure label,
// ending before the explained window starts); when the entity has too
// little history it falls back to the model's normalisation means, the
// window of an average entity. The windows are those the scorer would
// have held (storedRows.windows): on the step grid, a step without a
// vector a row of NaN, an absent entity's vector (stored for its failure
// label) no row, ending at the steps with a row. They are drawn every
// W/2 of those windows, from the newest back.
func (e *explainer) background(m *model.Model, p prediction) [][]float32 {
	cfg := m.Config()
	w, nf := cfg.Window, len(cfg.Features)
	step := e.scorer.step.Milliseconds()
	end := p.T - int64(w)*step
	from := end - int64(8*backgroundWindows*w)*step
	var bg [][]float32
	if r, err := e.storedRows(p.Entity, cfg.Features, from, end); err == nil {
		bg = r.sample(step, w)
	}
	if len(bg) >= 4 {
		return bg
	}
	mean, _ := m.Normalization()
	win := make([]float32, w*nf)
	for t := 0; t < w; t++ {
		copy(win[t*nf:], mean)
	}
	return [][]float32{win}
}

// storedRows are an entity's stored vectors as rows of its window: those
// the scorer puts in its window (not an absent entity's, stored only for
// its failure label), in a layout of nf features, with their times, and
// the times of the vectors carrying a failure label (absent ones too).
type storedRows struct {
	nf      int
	rows    []float32 // nf each
	times   []int64
	failing []int64
}

// storedRows reads entity's vectors of from ≤ T ≤ to into the layout of
// feats (by feature name: they may follow another schema than feats),
// leaving out a vector the scorer leaves out of its window
// (vectorLayout.appendRows, as storedWindows reads them).
func (e *explainer) storedRows(entity string, feats []string, from, to int64) (storedRows, error) {
	layout, err := newVectorLayout(e.store, feats)
	if err != nil {
		return storedRows{}, err
	}
	present := presenceColumns(feats, e.scorer.opts.Features(), e.scorer.opts.Instant())
	r := storedRows{nf: len(feats)}
	r.rows, r.times, err = layout.appendRows(e.store, entity, from, to, present, nil, nil, func(t int64) { r.failing = append(r.failing, t) })
	if err != nil {
		return storedRows{}, err
	}
	return r, nil
}

// windows replays the rows through a history as the scorer's window
// (history.pushAt, step ms, W+1 rows kept) and calls fn, for each step
// with a row after which the history holds at least w rows, with the
// window of the w rows ending at it (h.row(h.n-w) to h.row(h.n-1)), its
// index among those windows, and whether the w steps it spans carry no
// failure label.
func (r storedRows) windows(step int64, w int, fn func(i int, h *history, normal bool)) {
	if r.nf == 0 || w < 1 || step <= 0 {
		return
	}
	keep := max(w+1, 2)                                                // as scorer.predict
	steps := func(a, b int64) int64 { return (b - a + step/2) / step } // as pushAt
	h := &history{}
	v := make([]float64, r.nf)
	i, f := 0, 0
	for j, t := range r.times {
		for c, x := range r.rows[j*r.nf : (j+1)*r.nf] {
			v[c] = float64(x)
		}
		h.pushAt(t, step, v, keep)
		if j+1 < len(r.times) && steps(t, r.times[j+1]) <= 0 {
			continue // a second vector of the step replaces this one
		}
		if h.n < w {
			continue
		}
		for f < len(r.failing) && steps(r.failing[f], t) >= int64(w) {
			f++
		}
		normal := f == len(r.failing) || r.failing[f] > t+step/2 // the next label is after t
		fn(i, h, normal)
		i++
	}
}

// sample returns up to backgroundWindows normal windows (windows) of w
// rows, one every w/2 windows from the newest back, newest first.
func (r storedRows) sample(step int64, w int) [][]float32 {
	var normal []bool
	r.windows(step, w, func(_ int, _ *history, ok bool) { normal = append(normal, ok) })
	stride := max(w/2, 1)
	pick := map[int]int{} // window index → position in the background
	for i := len(normal) - 1; i >= 0 && len(pick) < backgroundWindows; i -= stride {
		if normal[i] {
			pick[i] = len(pick)
		}
	}
	if len(pick) == 0 {
		return nil
	}
	bg := make([][]float32, len(pick))
	r.windows(step, w, func(i int, h *history, _ bool) {
		k, ok := pick[i]
		if !ok {
			return
		}
		win := make([]float32, 0, w*r.nf)
		for j := h.n - w; j < h.n; j++ {
			win = append(win, h.row(j)...)
		}
		bg[k] = win
	})
	return bg
}

// evidenceOf is every live entity's anomaly evidence: its latest anomaly
// score raised by its failure probability. With byService (a dependency
// graph), entities are folded into their services (the max over the
// pods). worst names, for each entity or service, the live entity whose
// evidence it is (with byService, the service's entity of the highest
// evidence, ties broken by the smaller id; else the entity itself); it
// also names services whose evidence is 0, which are not in ev.
func (e *explainer) evidenceOf(byService bool) (ev map[string]float64, worst map[string]string) {
	e.scorer.mu.RLock()
	defer e.scorer.mu.RUnlock()
	ev = make(map[string]float64, len(e.scorer.latest))
	worst = make(map[string]string, len(e.scorer.latest))
	best := make(map[string]float64, len(e.scorer.latest))
	for id, p := range e.scorer.latest {
		key := id
		if byService {
			key = serviceOf(p.Labels)
		}
		v := evidence1(p.Anomaly, p.Prob)
		if v > ev[key] {
			ev[key] = v
		}
		if w, seen := worst[key]; !seen || v > best[key] || v == best[key] && id < w {
			best[key], worst[key] = v, id
		}
	}
	return ev, worst
}

// evidence1 is one prediction's anomaly evidence: its anomaly score (0
// when NaN or negative) plus its failure probability.
func evidence1(anomaly, prob float64) float64 {
	if math.IsNaN(anomaly) || anomaly < 0 {
		anomaly = 0
	}
	return anomaly + prob
}

// serviceOf names an entity's service (api.ServiceOf: the UI's service
// pages use the same mapping).
func serviceOf(labels map[string]string) string { return api.ServiceOf(labels) }

// storeExplanation saves x under its prediction id and returns the
// document stored.
func (e *explainer) storeExplanation(x Explanation) ([]byte, error) {
	doc, err := json.Marshal(x)
	if err != nil {
		return nil, fmt.Errorf("encode explanation: %w", err)
	}
	if err := e.store.PutExplanation(x.PredictionID, doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// unexplained is the document stored, when the explanation of the
// prediction p an alert fires on failed with cause, under the alert's
// fingerprint (not under the prediction's id, which stays free for an
// explanation on demand): the prediction without attributions and why
// (Explanation.Error). The alert's generatorURL and explanation_url name
// the fingerprint, and an SRE following them sees the prediction and why
// it is not explained rather than a 404. The window is included when p is
// still the entity's latest prediction.
func (e *explainer) unexplained(p alert.Prediction, cause error) ([]byte, error) {
	x := Explanation{
		PredictionID: p.ID, Entity: p.Entity, Labels: p.Labels, T: p.T.UnixMilli(), Prob: p.Prob,
		Threshold: p.Threshold, Anomaly: p.Anomaly, ModelVersion: p.ModelVersion,
		Error: "no explanation: " + cause.Error(),
	}
	if _, t, err := store.ParsePredictionID(p.ID); err == nil {
		x.T = t // the data time of the step
	}
	if pred, ok := e.scorer.latestPrediction(p.Entity); ok && pred.ID == p.ID {
		x.Labels = pred.Labels
		if m := pred.Model; m != nil {
			if cfg := m.Config(); len(pred.Window) == cfg.Window*len(cfg.Features) {
				x.Features, x.Step = cfg.Features, e.scorer.step.Milliseconds()
				x.Window = windowRows(pred.Window, cfg.Window, len(cfg.Features))
			}
		}
	}
	doc, err := json.Marshal(x)
	if err != nil {
		return nil, fmt.Errorf("encode explanation: %w", err)
	}
	return doc, nil
}

// windowRows splits a W×F time-major window into rows, NaN for missing
// (non-finite) values.
func windowRows(win []float32, w, nf int) [][]float64 {
	rows := make([][]float64, w)
	for t := 0; t < w; t++ {
		row := make([]float64, nf)
		for f := 0; f < nf; f++ {
			v := float64(win[t*nf+f])
			if math.IsNaN(v) || math.IsInf(v, 0) {
				v = math.NaN()
			}
			row[f] = v
		}
		rows[t] = row
	}
	return rows
}

// MarshalJSON writes NaN window values as null.
func (x Explanation) MarshalJSON() ([]byte, error) {
	type plain Explanation
	win := make([][]*float64, len(x.Window))
	for i, r := range x.Window {
		win[i] = make([]*float64, len(r))
		for j := range r {
			if !math.IsNaN(r[j]) {
				win[i][j] = &r[j]
			}
		}
	}
	return json.Marshal(struct {
		plain
		Window [][]*float64 `json:"window"`
	}{plain(x), win})
}
