package features

import (
	"math"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// polledParity evaluates cfg at base on the local path (local samples in
// the head) and on the remote path (polled, what the poller sends), and
// returns both results with their registries.
func polledParity(t *testing.T, cfg Config, local []telemetry.Sample, polled ...[]telemetry.Sample) map[string]struct {
	got map[string]Vector
	reg *prometheus.Registry
	e   *Extractor
} {
	t.Helper()
	out := map[string]struct {
		got map[string]Vector
		reg *prometheus.Registry
		e   *Extractor
	}{}
	for _, mode := range []string{"local", "remote"} {
		reg := prometheus.NewRegistry()
		h := newTestHead(t, reg, HeadOptions{})
		e := newTestExtractor(t, h, reg, cfg)
		if mode == "local" {
			appendAll(t, h, local)
		} else {
			for _, p := range polled {
				e.AddPolled(p)
			}
		}
		out[mode] = struct {
			got map[string]Vector
			reg *prometheus.Registry
			e   *Extractor
		}{evaluate(t, e, base), reg, e}
	}
	return out
}

func sameValues(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) })
}

// TestPolledSeveralSeriesLargest: one entity with several result series
// (two containers of a pod; the poller keeps only the entity labels, so
// both carry the same labels) takes the largest value in remote mode as
// locally, a number beating a NaN, and counts duplicate_entity the same;
// remote mode kept the last series' value. A later poll of the same time
// is a re-poll: its value replaces the first.
func TestPolledSeveralSeriesLargest(t *testing.T) {
	cfg := Config{Features: []Feature{{Name: "cpu", Expr: "cpu"}}}
	cpu := func(pod, container string) labels.Labels {
		return labels.FromStrings("__name__", "cpu", "namespace", "n", "pod", pod, "container", container)
	}
	polled := func(pod string, at int64, v float64) telemetry.Sample {
		return telemetry.Sample{Labels: labels.FromStrings("__name__", "cpu", "namespace", "n", "pod", pod), T: at, V: v}
	}
	var local []telemetry.Sample
	for _, s := range []struct {
		pod, container string
		v              float64
	}{{"a", "y", 10}, {"a", "x", 4}, {"b", "x", math.NaN()}, {"b", "y", 6}} {
		local = append(local, series(cpu(s.pod, s.container), base-60*sec, 5, func(int) float64 { return s.v })...)
	}
	res := polledParity(t, cfg, local, []telemetry.Sample{
		polled("a", base, 10), polled("a", base, 4),
		polled("b", base, math.NaN()), polled("b", base, 6),
	})
	for mode, r := range res {
		if got := r.got["n/a"].Values; !sameValues(got, []float64{10}) {
			t.Errorf("%s: n/a = %v, want [10] (the largest of 10 and 4)", mode, got)
		}
		if got := r.got["n/b"].Values; !sameValues(got, []float64{6}) {
			t.Errorf("%s: n/b = %v, want [6] (a number beats NaN)", mode, got)
		}
		if d := dropped(t, r.reg, ReasonDuplicateEntity); d != 2 {
			t.Errorf("%s: duplicate_entity = %v, want 2", mode, d)
		}
	}
	r := res["remote"]
	r.e.AddPolled([]telemetry.Sample{polled("a", base, 3)})
	if got := evaluate(t, r.e, base)["n/a"].Values; !sameValues(got, []float64{3}) {
		t.Errorf("after a re-poll of 3: n/a = %v, want [3]", got)
	}
	if d := dropped(t, r.reg, ReasonDuplicateEntity); d != 2 {
		t.Errorf("a re-poll counted as duplicate_entity: %v", d)
	}
}

// TestPolledScalar: a scalar feature (or label) applies to every entity in
// remote mode as locally; it was dropped as missing_labels, leaving NaN.
// The poller sends a scalar with no label but its name, as it does a
// vector series without the entity labels: that one stays missing_labels
// on both paths (the expression's type tells them apart).
func TestPolledScalar(t *testing.T) {
	cfg := Config{
		Features: []Feature{
			{Name: "up", Expr: "max by (${entity}) (up)"},
			{Name: "total_up", Expr: "scalar(sum(up))"},
			{Name: "nolabels", Expr: "sum by (${entity}) (bare)"},
		},
		Labels: []LabelDef{{Name: "all_down", Expr: "scalar(sum(down))"}},
	}
	up := func(pod string) labels.Labels {
		return labels.FromStrings("__name__", "up", "namespace", "n", "pod", pod)
	}
	one := func(int) float64 { return 1 }
	var local []telemetry.Sample
	local = append(local, series(up("a"), base-60*sec, 5, one)...)
	local = append(local, series(up("b"), base-60*sec, 5, one)...)
	local = append(local, series(labels.FromStrings("__name__", "bare", "job", "j"), base-60*sec, 5, one)...)
	local = append(local, series(labels.FromStrings("__name__", "down", "job", "j"), base-60*sec, 5, one)...)
	name := func(n string, v float64, kv ...string) telemetry.Sample {
		return telemetry.Sample{Labels: labels.FromStrings(append([]string{"__name__", n}, kv...)...), T: base, V: v}
	}
	res := polledParity(t, cfg, local, []telemetry.Sample{
		name("up", 1, "namespace", "n", "pod", "a"),
		name("up", 1, "namespace", "n", "pod", "b"),
		name("total_up", 2),
		name("nolabels", 1),
		name("all_down", 1),
	})
	for mode, r := range res {
		if len(r.got) != 2 {
			t.Errorf("%s: entities %v, want n/a and n/b", mode, keys(r.got))
		}
		for _, ent := range []string{"n/a", "n/b"} {
			v := r.got[ent]
			if !sameValues(v.Values, []float64{1, 2, math.NaN()}) || !slices.Equal(v.Failure, []bool{true}) {
				t.Errorf("%s: %s = %v %v, want [1 2 NaN] [true]", mode, ent, v.Values, v.Failure)
			}
		}
		if d := dropped(t, r.reg, ReasonMissingLabels); d != 1 {
			t.Errorf("%s: missing_labels = %v, want 1 (nolabels' series)", mode, d)
		}
	}

	// A scalar feature changed to a vector: its scalar points are dropped,
	// not read as an entity's.
	r := res["remote"]
	next := cfg
	next.Features = slices.Clone(cfg.Features)
	next.Features[1].Expr = "max by (${entity}) (up)"
	if err := r.e.SetConfig(next); err != nil {
		t.Fatal(err)
	}
	if v := evaluate(t, r.e, base)["n/a"].Values; !math.IsNaN(v[1]) {
		t.Errorf("after total_up became a vector: n/a = %v, want total_up NaN", v)
	}
}

// TestPolledReloadChangedExpr: a reload that changes a polled feature's
// or label's expression drops its polled values, which are the old
// expression's: they were served for the lookback delta after the reload
// (a feature kept its old value, a label stayed set). An unchanged
// expression keeps its values; only the expression's text counts.
func TestPolledReloadChangedExpr(t *testing.T) {
	before := Config{
		Features: []Feature{{Name: "cpu", Expr: "max by (${entity}) (cpu)"}, {Name: "mem", Expr: "max by (${entity}) (mem)"}},
		Labels:   []LabelDef{{Name: "down", Expr: "max by (${entity}) (down)"}, {Name: "all_down", Expr: "scalar(sum(down))"}},
	}
	cases := []struct {
		name        string
		change      func(c *Config)
		wantValues  []float64
		wantFailure []bool
	}{
		{name: "unchanged", change: func(*Config) {}, wantValues: []float64{1, 2}, wantFailure: []bool{true, true}},
		{name: "feature changed", change: func(c *Config) { c.Features[0].Expr = "max by (${entity}) (cpu_new)" },
			wantValues: []float64{math.NaN(), 2}, wantFailure: []bool{true, true}},
		{name: "labels changed", change: func(c *Config) {
			c.Labels[0].Expr = "max by (${entity}) (down_new)"
			c.Labels[1].Expr = "scalar(sum(down_new))"
		}, wantValues: []float64{1, 2}, wantFailure: []bool{false, false}},
		{name: "placeholder expanded the same", change: func(c *Config) { c.Features[1].Expr = "max by (namespace, pod) (mem)" },
			wantValues: []float64{1, 2}, wantFailure: []bool{true, true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			e := newTestExtractor(t, newTestHead(t, reg, HeadOptions{}), reg, before)
			s := func(name string, v float64, kv ...string) telemetry.Sample {
				return telemetry.Sample{Labels: labels.FromStrings(append([]string{"__name__", name}, kv...)...), T: base - 10*sec, V: v}
			}
			pod := []string{"namespace", "n", "pod", "a"}
			e.AddPolled([]telemetry.Sample{s("cpu", 1, pod...), s("mem", 2, pod...), s("down", 1, pod...), s("all_down", 1)})
			if v := evaluate(t, e, base)["n/a"]; !sameValues(v.Values, []float64{1, 2}) || !slices.Equal(v.Failure, []bool{true, true}) {
				t.Fatalf("before the reload: n/a = %v %v", v.Values, v.Failure)
			}
			next := before
			next.Features = slices.Clone(before.Features)
			next.Labels = slices.Clone(before.Labels)
			tc.change(&next)
			p, err := e.PrepareConfig(next)
			if err != nil {
				t.Fatal(err)
			}
			e.ApplyConfig(p)
			// mem keeps the entity alive in every case.
			v := evaluate(t, e, base)["n/a"]
			if !sameValues(v.Values, tc.wantValues) || !slices.Equal(v.Failure, tc.wantFailure) {
				t.Errorf("after the reload: n/a = %v %v, want %v %v", v.Values, v.Failure, tc.wantValues, tc.wantFailure)
			}
		})
	}
}
