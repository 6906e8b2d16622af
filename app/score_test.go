package app

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
)

// TestPredictionMetrics: the scorer exports omen_failure_probability and
// omen_anomaly_score per live entity with its entity labels, and removes
// an entity's series when it disappears.
func TestPredictionMetrics(t *testing.T) {
	for _, w := range []int{4, 1} { // 1: the window goes before the prediction
		t.Run(fmt.Sprintf("window %d", w), func(t *testing.T) { testPredictionMetrics(t, w) })
	}
}

func testPredictionMetrics(t *testing.T, w int) {
	cfg := config.Default()
	names := features.Names(cfg.Config)
	m := testModel(t, names, w, 8, 1)
	reg := prometheus.NewRegistry()
	s, st := newTestScorer(t, cfg, m, reg)
	t.Cleanup(func() { _ = st.Close() })
	step := time.Duration(cfg.Step).Milliseconds()
	vec := shopVectors(names, step)
	var preds []prediction
	for i := int64(0); i < 6; i++ {
		preds, _, _ = s.score(context.Background(), i*step, []features.Vector{vec("a", i*step), vec("b", i*step)})
	}
	if len(preds) != 2 {
		t.Fatalf("%d predictions, want 2", len(preds))
	}
	// The scored window is the last W vectors, oldest first, and the
	// probability the model's for it.
	var win []float32
	for i := 6 - int64(w); i < 6; i++ {
		for _, x := range vec("a", i*step).Values {
			win = append(win, float32(x))
		}
	}
	if !slices.Equal(preds[0].Window, win) {
		t.Fatalf("window %v, want %v", preds[0].Window, win)
	}
	if lp, ok := s.latestPrediction("shop/a"); !ok || !slices.Equal(lp.Window, win) || lp.ID != preds[0].ID {
		t.Fatalf("latest prediction %v %+v, want the scored window", ok, lp)
	}
	p := make([]float64, 1)
	if err := m.Predict(win, 1, p); err != nil {
		t.Fatal(err)
	}
	if math.Abs(preds[0].Prob-p[0]) > 1e-6 { // batch of 2 against 1: float32 sums in another order
		t.Fatalf("probability %v, the model's %v", preds[0].Prob, p[0])
	}
	if n := testutil.CollectAndCount(reg, "omen_failure_probability"); n != 2 {
		t.Fatalf("omen_failure_probability has %d series, want 2", n)
	}
	want := "# HELP omen_failure_probability Predicted probability of a module-load failure within the model's horizon.\n# TYPE omen_failure_probability gauge\n" +
		"omen_failure_probability{namespace=\"shop\",pod=\"a\"} " + fmtFloat(preds[0].Prob) + "\n" +
		"omen_failure_probability{namespace=\"shop\",pod=\"b\"} " + fmtFloat(preds[1].Prob) + "\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "omen_failure_probability"); err != nil {
		t.Error(err)
	}
	// Pod b disappears: its series go at the step its alert resolves
	// (the 4th without a vector, alert.DefaultMissingSteps), not after the
	// window (a reviewer saw a vanished pod's probability exported 8
	// minutes after omen resolved its alert, where rules read it).
	for i := int64(6); i < 20; i++ {
		s.score(context.Background(), i*step, []features.Vector{vec("a", i*step)})
		want := 2
		if i-5 > alert.DefaultMissingSteps {
			want = 1
		}
		for _, name := range []string{"omen_anomaly_score", "omen_failure_probability"} {
			if n := testutil.CollectAndCount(reg, name); n != want {
				t.Fatalf("%s has %d series %d steps after pod b's last vector, want %d", name, n, i-5, want)
			}
		}
	}
}

func fmtFloat(f float64) string { return strings.TrimSpace(prometheusFloat(f)) }

func prometheusFloat(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func TestHistoryRing(t *testing.T) {
	rows := func(h *history) [][]float32 {
		var out [][]float32
		for k := range h.n {
			out = append(out, slices.Clone(h.row(k)))
		}
		return out
	}
	var h history
	for i := range 5 {
		h.push([]float64{float64(i), float64(10 * i)}, 3)
	}
	if got, want := rows(&h), [][]float32{{2, 20}, {3, 30}, {4, 40}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("keep 3: %v, want %v", got, want)
	}
	// A longer window keeps what there is; a shorter one the newest rows.
	h.push([]float64{5, 50}, 5)
	if got, want := rows(&h), [][]float32{{2, 20}, {3, 30}, {4, 40}, {5, 50}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("keep 5: %v, want %v", got, want)
	}
	h.push([]float64{6, 60}, 2)
	if got, want := rows(&h), [][]float32{{5, 50}, {6, 60}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("keep 2: %v, want %v", got, want)
	}
	// Another feature count starts afresh.
	h.push([]float64{7, 70, 700}, 2)
	if got, want := rows(&h), [][]float32{{7, 70, 700}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("3 features: %v, want %v", got, want)
	}
	h.push(nil, 2)
	if h.n != 1 {
		t.Fatalf("an empty vector changed the history: %d rows", h.n)
	}
}

// BenchmarkScorerRetained measures what the scorer keeps per entity once
// its windows are full (a model with the sim's window of 32 steps, the
// default features): retained heap bytes per entity.
func BenchmarkScorerRetained(b *testing.B) {
	cfg := config.Default()
	names := features.Names(cfg.Config)
	m, err := model.New(model.Config{Features: names, Window: 32, Hidden: 32, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	step := time.Duration(cfg.Step).Milliseconds()
	const entities = 1000
	vs := make([]features.Vector, entities)
	for i := range vs {
		pod := "pod-" + strconv.Itoa(i)
		vs[i] = features.Vector{Entity: "shop/" + pod, Labels: map[string]string{"namespace": "shop", "pod": pod}, Values: make([]float64, len(names))}
	}
	var perEntity float64
	for b.Loop() {
		s, st := newTestScorer(b, cfg, m, prometheus.NewRegistry())
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for k := int64(0); k < 40; k++ {
			for i := range vs {
				vs[i].T = k * step
				vs[i].Values[0] = float64(k)
			}
			s.score(context.Background(), k*step, vs)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEntity = float64(after.HeapAlloc-before.HeapAlloc) / entities
		runtime.KeepAlive(s)
		_ = st.Close()
	}
	b.ReportMetric(perEntity, "retained_B/entity")
}

// newTestScorer registers and promotes m in a new in-memory store (the
// caller closes it) and starts a scorer on it.
func newTestScorer(tb testing.TB, cfg *config.Config, m *model.Model, reg prometheus.Registerer) (*scorer, *store.Store) {
	tb.Helper()
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	promoteTestModel(tb, st, m)
	s, err := newScorer(scorerOptions{Store: st, Config: cfg, Registerer: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	return s, st
}

// promoteTestModel registers m in st and promotes it; it returns the
// version and m's encoding.
func promoteTestModel(tb testing.TB, st *store.Store, m *model.Model) (string, []byte) {
	tb.Helper()
	data, err := m.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	v, err := RegisterModel(st, m, data, "test")
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.Promote(v); err != nil {
		tb.Fatal(err)
	}
	return v, data
}

// testModel is an untrained model of names (window, hidden size, seed)
// with the failure threshold 0.5.
func testModel(tb testing.TB, names []string, window, hidden int, seed int64) *model.Model {
	tb.Helper()
	m, err := model.New(model.Config{Features: names, Window: window, Hidden: hidden, Seed: seed})
	if err != nil {
		tb.Fatal(err)
	}
	m.SetThresholds(model.Thresholds{Failure: 0.5})
	return m
}

// TestModelInfoInvalidUTF8: a version registered before invalid UTF-8
// was refused does not fail the scrape (a label value must be UTF-8:
// client_golang answered 500 for the whole /metrics page).
func TestModelInfoInvalidUTF8(t *testing.T) {
	cfg := config.Default()
	reg := prometheus.NewRegistry()
	s, st := newTestScorer(t, cfg, testModel(t, features.Names(cfg.Config), 4, 8, 1), reg)
	t.Cleanup(func() { _ = st.Close() })
	s.mu.Lock()
	s.version, s.shownVersion = "v\xff", "v\xff"
	s.mu.Unlock()
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
	if n := testutil.CollectAndCount(reg, "omen_model_info"); n != 1 {
		t.Fatalf("omen_model_info has %d series, want 1", n)
	}
}

// TestPredictionMetricsAcrossPromotion: between a promotion and the new
// model's first step, /metrics still exports the previous model's
// predictions with its threshold and info (clearing them made a scrape
// in between mark omen_failure_probability stale, and Prometheus's rule
// alerts resolve and fire again after their `for`); at that step the new
// model's predictions, threshold and info replace them together (an
// entity the new model did not score is not exported against its
// threshold with the old model's probability).
func TestPredictionMetricsAcrossPromotion(t *testing.T) {
	cfg := config.Default()
	names := features.Names(cfg.Config)
	reg := prometheus.NewRegistry()
	s, st := newTestScorer(t, cfg, testModel(t, names, 4, 8, 1), reg)
	step := time.Duration(cfg.Step).Milliseconds()
	vec := shopVectors(names, step)
	var old []prediction
	for i := int64(0); i < 6; i++ {
		old, _, _ = s.score(context.Background(), i*step, []features.Vector{vec("a", i*step), vec("b", i*step)})
	}
	if len(old) != 2 {
		t.Fatalf("%d predictions, want 2", len(old))
	}
	s.mu.RLock()
	oldVersion, oldSHA := s.version, s.sha
	s.mu.RUnlock()

	m2 := testModel(t, names, 4, 8, 2)
	m2.SetThresholds(model.Thresholds{Failure: 0.3})
	promoteTestModel(t, st, m2)
	if err := s.reloadModel(); err != nil {
		t.Fatal(err)
	}
	s.mu.RLock()
	newVersion, newSHA := s.version, s.sha
	s.mu.RUnlock()
	if newVersion == oldVersion {
		t.Fatalf("the promoted model (version %s) was not loaded", newVersion)
	}

	want := func(when string, preds []prediction, version, sha string, threshold float64) {
		t.Helper()
		exp := "# HELP omen_model_failure_threshold The loaded model's failure threshold: an entity whose omen_failure_probability stays at or above it for alerting.for steps alerts (absent without a model).\n" +
			"# TYPE omen_model_failure_threshold gauge\nomen_model_failure_threshold " + fmtFloat(threshold) + "\n" +
			"# HELP omen_model_info The loaded model: its registry version and the sha256 of its file (always 1; absent without a model).\n" +
			"# TYPE omen_model_info gauge\nomen_model_info{sha256=\"" + sha + "\",version=\"" + version + "\"} 1\n" +
			"# HELP omen_failure_probability Predicted probability of a module-load failure within the model's horizon.\n# TYPE omen_failure_probability gauge\n"
		for _, p := range preds {
			exp += "omen_failure_probability{namespace=\"shop\",pod=\"" + p.Labels["pod"] + "\"} " + fmtFloat(p.Prob) + "\n"
		}
		if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "omen_failure_probability", "omen_model_failure_threshold", "omen_model_info"); err != nil {
			t.Errorf("%s: %v", when, err)
		}
	}
	want("between the promotion and the next step", old, oldVersion, oldSHA, 0.5)

	// The new model's first step scores pod a only (b sends nothing).
	preds, _, err := s.score(context.Background(), 6*step, []features.Vector{vec("a", 6*step)})
	if err != nil || len(preds) != 1 || preds[0].ModelVersion != newVersion {
		t.Fatalf("step after the promotion: %d predictions (%+v), %v; want 1 of %s", len(preds), preds, err, newVersion)
	}
	want("after the new model's first step", preds, newVersion, newSHA, 0.3)
}

// shopVectors returns a maker of pod's (namespace shop) feature vector of
// names at t (ms), its values cycling with the step.
func shopVectors(names []string, step int64) func(pod string, t int64) features.Vector {
	return func(pod string, t int64) features.Vector {
		vals := make([]float64, len(names))
		for i := range vals {
			vals[i] = float64((i+int(t/step))%3) * 0.1
		}
		return features.Vector{Entity: "shop/" + pod, Labels: map[string]string{"namespace": "shop", "pod": pod}, T: t, Values: vals}
	}
}
