package features

import (
	"context"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"

	"github.com/omen-sre/omen/telemetry"
)

// fixedSeries is a small series set whose feature values are computed by hand
// in TestEvaluatePromQL. Samples every 15s from base to base+10m (k=0..40);
// evaluation at t = base+10m.
func fixedSeries() [][]telemetry.Sample {
	m := func(ss ...string) labels.Labels { return labels.FromStrings(ss...) }
	return [][]telemetry.Sample{
		// Linear counters: 10 resp. 1 per 15s.
		series(m("__name__", "req_total", "namespace", "ns", "pod", "a", "code", "200"), base, 41, func(k int) float64 { return 10 * float64(k) }),
		series(m("__name__", "req_total", "namespace", "ns", "pod", "a", "code", "500"), base, 41, func(k int) float64 { return float64(k) }),
		// A counter reset at k=30 (t-150s): 290 → 5.
		series(m("__name__", "req_total", "namespace", "ns", "pod", "b", "code", "200"), base, 41, func(k int) float64 {
			if k < 30 {
				return 10 * float64(k)
			}
			return 10*float64(k-30) + 5
		}),
		// A gauge equal to k.
		series(m("__name__", "temp", "namespace", "ns", "pod", "a"), base, 41, func(k int) float64 { return float64(k) }),
		// Memory of two containers of pod a.
		series(m("__name__", "mem_used", "namespace", "ns", "pod", "a", "container", "c1"), base, 41, func(int) float64 { return 50 }),
		series(m("__name__", "mem_limit", "namespace", "ns", "pod", "a", "container", "c1"), base, 41, func(int) float64 { return 100 }),
		series(m("__name__", "mem_used", "namespace", "ns", "pod", "a", "container", "c2"), base, 41, func(int) float64 { return 30 }),
		series(m("__name__", "mem_limit", "namespace", "ns", "pod", "a", "container", "c2"), base, 41, func(int) float64 { return 40 }),
		// Pod b's gauge ends with a stale marker at t-60s.
		append(series(m("__name__", "temp", "namespace", "ns", "pod", "b"), base, 36, func(int) float64 { return 7 }),
			telemetry.Sample{Labels: m("__name__", "temp", "namespace", "ns", "pod", "b"), T: base + 10*60*sec - 60*sec, V: math.Float64frombits(value.StaleNaN)}),
		// Pod c's gauge just stops at t-60s (no stale marker): still seen.
		series(m("__name__", "temp", "namespace", "ns", "pod", "c"), base, 37, func(int) float64 { return 3 }),
		// No pod label: dropped as missing_labels.
		series(m("__name__", "temp", "namespace", "ns"), base, 41, func(int) float64 { return 1 }),
	}
}

func TestEvaluatePromQL(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newTestHead(t, reg, HeadOptions{})
	appendAll(t, h, fixedSeries()...)
	cfg := Config{Features: []Feature{
		{Name: "rate_sum", Expr: `sum by (${entity}) (rate(req_total[5m]))`},
		{Name: "increase_200", Expr: `sum by (${entity}) (increase(req_total{code="200"}[10m]))`},
		{Name: "error_ratio", Expr: `sum by (${entity}) (rate(req_total{code="500"}[5m])) / sum by (${entity}) (rate(req_total[5m]))`},
		{Name: "temp_avg_1m", Expr: `avg_over_time(temp[1m])`},
		{Name: "temp_last", Expr: `max by (${entity}) (temp)`},
		{Name: "mem_ratio", Expr: `max by (${entity}) (mem_used / mem_limit)`},
		{Name: "global", Expr: `scalar(count(temp))`},
	}}
	e := newTestExtractor(t, h, reg, cfg)
	got := evaluate(t, e, base+10*60*sec)
	nan := math.NaN()
	want := map[string][]float64{
		// rate: linear counters give their slope; increase extrapolates
		// (t-10m, t] to the whole 10m.
		// count(temp) at t: pods a, c and the pod-less series (b is stale).
		"ns/a": {10.0/15 + 1.0/15, 400, (1.0 / 15) / (11.0 / 15), (37 + 38 + 39 + 40) / 4.0, 40, 0.75, 3},
		// Reset at k=30: samples k=21..40 in (t-5m, t], increase with
		// correction 105-210+290 = 185 over 285s, extrapolated by 15s at the
		// start: rate = 185*300/285/300. Over 10m: k=1..40, 105-10+290 =
		// 385 over 585s, extrapolated to 600s.
		"ns/b": {185.0 / 285, 385 * 600.0 / 585, nan, nan, nan, nan, 3},
		// c's last sample is at t-60s: outside (t-1m, t], inside the 5m
		// lookback.
		"ns/c": {nan, nan, nan, nan, 3, nan, 3},
	}
	if len(got) != len(want) {
		t.Fatalf("entities: got %v, want %v", keys(got), len(want))
	}
	for ent, w := range want {
		v, ok := got[ent]
		if !ok {
			t.Fatalf("entity %q missing", ent)
		}
		for i := range w {
			if !near(v.Values[i], w[i]) {
				t.Errorf("%s %s: got %v, want %v", ent, cfg.Features[i].Name, v.Values[i], w[i])
			}
		}
		if v.T != base+10*60*sec {
			t.Errorf("%s: T = %d", ent, v.T)
		}
	}
	if l := got["ns/a"].Labels; l["namespace"] != "ns" || l["pod"] != "a" || len(l) != 2 {
		t.Errorf("labels: %v", l)
	}
	// temp{namespace="ns"} has no pod: avg_over_time, temp_last and count.
	if d := dropped(t, reg, ReasonMissingLabels); d != 2 {
		t.Errorf("missing_labels = %v, want 2", d)
	}
	if names := e.FeatureNames(); len(names) != 7 || names[0] != "rate_sum" {
		t.Errorf("FeatureNames = %v", names)
	}
	for _, m := range []string{
		"omen_feature_evaluations_total", "omen_feature_evaluation_seconds", "omen_feature_entities",
		"omen_feature_dropped_total", "omen_head_series", "omen_head_samples_appended_total",
	} {
		if n, err := testutil.GatherAndCount(reg, m); err != nil || n == 0 {
			t.Errorf("metric %s: %d series, %v", m, n, err)
		}
	}
}

func keys(m map[string]Vector) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func ev(reason string, at int64, count int, uid string, ls ...string) telemetry.Event {
	return telemetry.Event{T: at, Source: telemetry.SourceKubernetes, Reason: reason, Type: "Warning", Count: count, UID: uid, Labels: labels.FromStrings(ls...)}
}

func TestEventFeatures(t *testing.T) {
	t0 := base + 20*60*sec
	pod := func(p string) []string { return []string{"namespace", "ns", "pod", p} }
	tests := []struct {
		name   string
		events [][]telemetry.Event // batches
		want   map[string][2]float64
		miss   float64
	}{
		{
			name: "counts within window",
			events: [][]telemetry.Event{{
				ev("BackOff", t0-5*60*sec, 1, "", pod("a")...),
				ev("BackOff", t0-11*60*sec, 1, "", pod("a")...), // outside 10m
				ev("FailedMount", t0-60*sec, 2, "", pod("a")...),
				ev("BackOff", t0+sec, 1, "", pod("a")...), // after t
			}},
			want: map[string][2]float64{"ns/a": {1, 2}},
		},
		{
			name: "count increases by uid and redelivery",
			events: [][]telemetry.Event{
				{ev("BackOff", t0-5*60*sec, 1, "u1", pod("a")...)},
				{ev("BackOff", t0-2*60*sec, 3, "u1", pod("a")...)},
				{ev("BackOff", t0-2*60*sec, 3, "u1", pod("a")...)}, // redelivered
				{ev("BackOff", t0-3*60*sec, 2, "u1", pod("a")...)}, // older copy
				{ev("BackOff", t0-60*sec, 2, "", pod("a")...)},     // no UID: adds Count
				{ev("BackOff", t0-60*sec, 4, "u2", pod("b")...)},   // first sight: whole Count
			},
			want: map[string][2]float64{"ns/a": {5, 0}, "ns/b": {4, 0}},
		},
		{
			name: "missing labels and kind fallback",
			events: [][]telemetry.Event{{
				ev("BackOff", t0-60*sec, 1, "", "namespace", "ns"),
				ev("FailedMount", t0-60*sec, 1, "", "namespace", "ns", "kind", "Pod", "name", "c"),
				ev("Scheduled", t0-60*sec, 1, "", "namespace", "ns"), // unused reason: ignored
			}},
			want: map[string][2]float64{"ns/c": {0, 1}},
			miss: 1,
		},
		{
			name:   "zero count counts once",
			events: [][]telemetry.Event{{ev("BackOff", t0, 0, "", pod("a")...)}},
			want:   map[string][2]float64{"ns/a": {1, 0}},
		},
	}
	cfg := Config{
		Features: []Feature{{Name: "temp", Expr: `max by (${entity}) (temp)`}},
		EventFeatures: []EventFeature{
			{Name: "backoff", Reasons: []string{"BackOff"}, Window: model.Duration(10 * time.Minute)},
			{Name: "mount", Reasons: []string{"FailedMount"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			e := newTestExtractor(t, newTestHead(t, reg, HeadOptions{}), reg, cfg)
			for _, b := range tc.events {
				e.AddEvents(b)
			}
			got := evaluate(t, e, t0)
			if len(got) != len(tc.want) {
				t.Fatalf("entities %v, want %v", keys(got), tc.want)
			}
			for ent, w := range tc.want {
				v := got[ent]
				if !math.IsNaN(v.Values[0]) || v.Values[1] != w[0] || v.Values[2] != w[1] {
					t.Errorf("%s: values %v, want [NaN %v %v]", ent, v.Values, w[0], w[1])
				}
			}
			if d := dropped(t, reg, ReasonMissingLabels); d != tc.miss {
				t.Errorf("missing_labels = %v, want %v", d, tc.miss)
			}
		})
	}
}

func TestLabelDefinitions(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newTestHead(t, reg, HeadOptions{})
	t0 := base + 10*60*sec
	m := func(p string, v float64) []telemetry.Sample {
		return series(labels.FromStrings("__name__", "crash", "namespace", "ns", "pod", p), base, 41, func(int) float64 { return v })
	}
	appendAll(t, h, m("a", 1), m("b", 0))
	cfg := Config{
		Features: []Feature{{Name: "crash", Expr: `max by (${entity}) (crash)`}},
		Labels: []LabelDef{
			{Name: "crashloop", Expr: `max by (${entity}) (crash)`, Reasons: []string{"CrashLoopBackOff"}},
			{Name: "mount", Reasons: []string{"FailedMount"}},
		},
	}
	e := newTestExtractor(t, h, reg, cfg)
	pod := func(p string) []string { return []string{"namespace", "ns", "pod", p} }
	e.AddEvents([]telemetry.Event{
		ev("CrashLoopBackOff", t0-10*sec, 1, "", pod("c")...), // in the step (t-15s, t]
		ev("FailedMount", t0-20*sec, 1, "", pod("b")...),      // before the step
		ev("FailedMount", t0, 1, "", pod("d")...),             // at t: in the step
	})
	got := evaluate(t, e, t0)
	want := map[string][]bool{
		"ns/a": {true, false},
		"ns/b": {false, false},
		"ns/c": {true, false},
		"ns/d": {false, true},
	}
	for ent, w := range want {
		v, ok := got[ent]
		if !ok {
			t.Fatalf("entity %s missing (have %v)", ent, keys(got))
		}
		for i := range w {
			if v.Failure[i] != w[i] {
				t.Errorf("%s %s: %v, want %v", ent, cfg.Labels[i].Name, v.Failure[i], w[i])
			}
		}
	}
	// ns/b has a FailedMount event 20s before t: it is an entity (the event
	// is kept), but no failure in this step.
	if len(got) != len(want) {
		t.Errorf("entities %v", keys(got))
	}
	if n := e.LabelNames(); len(n) != 2 || n[1] != "mount" {
		t.Errorf("LabelNames = %v", n)
	}
}

func TestPolled(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newTestHead(t, reg, HeadOptions{})
	t0 := base + 10*60*sec
	appendAll(t, h, series(labels.FromStrings("__name__", "temp", "namespace", "ns", "pod", "a"), base, 41, func(int) float64 { return 5 }))
	cfg := Config{
		Features: []Feature{
			{Name: "temp_max", Expr: `max by (${entity}) (temp)`},
			{Name: "remote_only", Expr: `max by (${entity}) (not_streamed)`},
		},
		Labels: []LabelDef{{Name: "failing", Expr: `max by (${entity}) (not_streamed)`}},
	}
	e := newTestExtractor(t, h, reg, cfg)
	s := func(name, pod string, at int64, v float64) telemetry.Sample {
		return telemetry.Sample{Labels: labels.FromStrings("__name__", name, "namespace", "ns", "pod", pod), T: at, V: v}
	}
	e.AddPolled([]telemetry.Sample{
		s("remote_only", "a", t0-30*sec, 2),
		s("remote_only", "a", t0-15*sec, 3), // newest at t
		s("remote_only", "a", t0+15*sec, 4), // after t
		s("temp_max", "b", t0-6*60*sec, 9),  // older than the 5m lookback
		s("temp_max", "c", t0-60*sec, 8),
		s("failing", "c", t0-60*sec, 1),
		s("something_else", "c", t0, 1),
		{Labels: labels.FromStrings("__name__", "temp_max", "namespace", "ns"), T: t0, V: 1},
	})
	got := evaluate(t, e, t0)
	if v := got["ns/a"].Values; v[0] != 5 || v[1] != 3 {
		t.Errorf("ns/a = %v, want [5 3]", v)
	}
	if _, ok := got["ns/b"]; ok {
		t.Errorf("ns/b present: polled value older than lookback delta")
	}
	if v := got["ns/c"]; v.Values[0] != 8 || !math.IsNaN(v.Values[1]) || !v.Failure[0] {
		t.Errorf("ns/c = %+v", v)
	}
	if d := dropped(t, reg, ReasonUnknownFeature); d != 1 {
		t.Errorf("unknown_feature = %v", d)
	}
	if d := dropped(t, reg, ReasonMissingLabels); d != 1 {
		t.Errorf("missing_labels = %v", d)
	}
	// A stale marker ends the polled series.
	e.AddPolled([]telemetry.Sample{s("remote_only", "a", t0, math.Float64frombits(value.StaleNaN))})
	if v := evaluate(t, e, t0)["ns/a"].Values[1]; !math.IsNaN(v) {
		t.Errorf("after stale marker: %v", v)
	}
	// A NaN (a remote histogram_quantile over no requests) is the
	// newest value, not an invalid sample under which the older one
	// would be carried forward.
	e.AddPolled([]telemetry.Sample{s("temp_max", "c", t0-30*sec, math.NaN())})
	if v := evaluate(t, e, t0)["ns/c"]; !math.IsNaN(v.Values[0]) {
		t.Errorf("after NaN: ns/c = %+v, want NaN", v)
	}
	if d := dropped(t, reg, ReasonInvalid); d != 0 {
		t.Errorf("invalid = %v, want 0", d)
	}
}

func TestSetConfig(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newTestHead(t, reg, HeadOptions{})
	appendAll(t, h, series(labels.FromStrings("__name__", "temp", "namespace", "ns", "pod", "a", "service", "svc"), base, 41, func(int) float64 { return 5 }))
	cfg := Config{Features: []Feature{{Name: "temp_max", Expr: `max by (${entity}) (temp)`}}}
	e := newTestExtractor(t, h, reg, cfg)
	if _, ok := evaluate(t, e, base+10*60*sec)["ns/a"]; !ok {
		t.Fatal("ns/a missing")
	}
	cfg.EntityLabels = []string{"service"}
	if err := e.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	got := evaluate(t, e, base+10*60*sec)
	if v, ok := got["svc"]; !ok || v.Values[0] != 5 || v.Labels["service"] != "svc" {
		t.Fatalf("after reload: %v", got)
	}
	if err := e.SetConfig(Config{Features: []Feature{{Name: "x", Expr: `rate(temp[5m]`}}}); err == nil {
		t.Error("invalid config accepted")
	}
	if err := e.SetConfig(Config{Lookback: model.Duration(time.Hour), Features: cfg.Features}); err == nil {
		t.Error("lookback beyond the head accepted")
	}
}

// TestPrepareConfigChangesNothing: PrepareConfig of a configuration with
// other entity labels and without a polled feature keeps the definitions,
// the events, the event UIDs seen and the polled values until
// ApplyConfig, which then drops them.
func TestPrepareConfigChangesNothing(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newTestHead(t, reg, HeadOptions{})
	cfg := Config{
		Features:      []Feature{{Name: "temp_max", Expr: `max by (${entity}) (temp)`}},
		EventFeatures: []EventFeature{{Name: "errs", Reasons: []string{"ModuleLoadError"}}},
	}
	e := newTestExtractor(t, h, reg, cfg)
	t0 := base + 10*60*sec
	ev := telemetry.Event{T: t0, Reason: "ModuleLoadError", Count: 2, UID: "u1",
		Labels: labels.FromStrings("namespace", "ns", "pod", "a")}
	e.AddEvents([]telemetry.Event{ev})
	e.AddPolled([]telemetry.Sample{{Labels: labels.FromStrings("__name__", "temp_max", "namespace", "ns", "pod", "a"), T: t0, V: 7}})
	want := []float64{7, 2}
	check := func(when string, want []float64) {
		t.Helper()
		got := evaluate(t, e, t0)["ns/a"].Values
		if !slices.Equal(got, want) {
			t.Errorf("%s: ns/a = %v, want %v", when, got, want)
		}
	}
	check("at start", want)

	next := Config{
		EntityLabels:  []string{"namespace"},
		EventFeatures: []EventFeature{{Name: "errs", Reasons: []string{"ModuleLoadError"}}},
	}
	p, err := e.PrepareConfig(next)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.FeatureNames(); !slices.Equal(got, []string{"errs"}) {
		t.Errorf("prepared features %q", got)
	}
	check("prepared", want)
	e.AddEvents([]telemetry.Event{ev}) // a redelivery: nothing new
	check("prepared, event re-sent", want)
	if got := e.FeatureNames(); !slices.Equal(got, []string{"temp_max", "errs"}) {
		t.Errorf("features %q before ApplyConfig", got)
	}

	e.ApplyConfig(p)
	if got := evaluate(t, e, t0); len(got) != 0 {
		t.Errorf("after ApplyConfig with other entity labels: %v, want no vector (state dropped)", got)
	}
	if _, err := e.PrepareConfig(Config{Features: []Feature{{Name: "x", Expr: `rate(temp[5m]`}}}); err == nil {
		t.Error("invalid config prepared")
	}
}

func TestEvaluateCancelled(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newTestHead(t, reg, HeadOptions{})
	appendAll(t, h, fixedSeries()...)
	e := newTestExtractor(t, h, reg, Config{Features: []Feature{{Name: "x", Expr: `sum by (${entity}) (rate(req_total[5m]))`}}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Evaluate(ctx, time.UnixMilli(base+10*60*sec)); err == nil {
		t.Error("Evaluate with a cancelled context succeeded")
	}
}

// TestReusedLabelBuffers appends samples and events whose labels point into
// a buffer that is overwritten afterwards (as zero-copy decoders do): what
// the Head and the Extractor keep must not change.
func TestReusedLabelBuffers(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newTestHead(t, reg, HeadOptions{})
	e := newTestExtractor(t, h, reg, Config{
		Features:      []Feature{{Name: "g", Expr: `max by (${entity}) (gauge_a)`}},
		EventFeatures: []EventFeature{{Name: "b", Reasons: []string{"BackOff"}}},
	})
	var sb labels.ScratchBuilder
	var ls labels.Labels
	build := func(kv ...string) labels.Labels {
		sb.Reset()
		for i := 0; i < len(kv); i += 2 {
			sb.Add(kv[i], kv[i+1])
		}
		sb.Sort()
		sb.Overwrite(&ls)
		return ls
	}
	t0 := base + 60*sec
	if _, err := h.Append([]telemetry.Sample{{Labels: build("__name__", "gauge_a", "namespace", "ns", "pod", "p1"), T: t0, V: 1}}); err != nil {
		t.Fatal(err)
	}
	e.AddEvents([]telemetry.Event{{T: t0, Reason: "BackOff", Count: 1, UID: "u1", Labels: build("namespace", "ns", "pod", "p1")}})
	e.AddPolled([]telemetry.Sample{{Labels: build("__name__", "g", "namespace", "ns", "pod", "p2"), T: t0, V: 2}})
	build("__name__", "gauge_b", "namespace", "xx", "pod", "zz") // overwrite the buffer
	got := evaluate(t, e, t0)
	if v, ok := got["ns/p1"]; !ok || v.Values[0] != 1 || v.Values[1] != 1 || v.Labels["pod"] != "p1" {
		t.Errorf("ns/p1 = %+v (entities %v)", v, keys(got))
	}
	if v, ok := got["ns/p2"]; !ok || v.Values[0] != 2 || v.Labels["pod"] != "p2" {
		t.Errorf("ns/p2 = %+v", v)
	}
	if s := readAll(t, h, 0, math.MaxInt64, nameIs("gauge_a")); len(s) != 1 {
		t.Errorf("head series by name: %v", s)
	}
}

// TestEvaluateParallel: queries run on several goroutines give the same
// vectors as one after the other.
func TestEvaluateParallel(t *testing.T) {
	h := newTestHead(t, nil, HeadOptions{})
	appendAll(t, h, ksmCadvisor()...)
	at := base + 10*60*sec
	var got [2][]Vector
	for k, par := range []int{1, 4} {
		e, err := NewExtractor(ExtractorOptions{Config: DefaultConfig(), Head: h, Parallelism: par})
		if err != nil {
			t.Fatal(err)
		}
		if got[k], err = e.Evaluate(context.Background(), time.UnixMilli(at)); err != nil || len(got[k]) == 0 {
			t.Fatalf("parallelism %d: %d vectors, %v", par, len(got[k]), err)
		}
	}
	if len(got[0]) != len(got[1]) {
		t.Fatalf("%d vectors one by one, %d in parallel", len(got[0]), len(got[1]))
	}
	for i := range got[0] {
		a, b := got[0][i], got[1][i]
		if a.Entity != b.Entity || !slices.Equal(a.Failure, b.Failure) || !maps.Equal(a.Labels, b.Labels) ||
			!slices.EqualFunc(a.Values, b.Values, near) {
			t.Fatalf("vector %d differs:\n%+v\n%+v", i, a, b)
		}
	}
	if _, err := NewExtractor(ExtractorOptions{Config: DefaultConfig(), Head: h, Parallelism: -1}); err == nil {
		t.Fatal("negative parallelism accepted")
	}
}
