package features

import (
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// TestEntityValuesWithSlash: label values holding "/" name distinct
// entities. namespace="col/x", pod="y" and namespace="col", pod="x/y" were
// both "col/x/y": one entity mixing both series (count 2, the larger max,
// counted as duplicate_entity) with the labels of whichever came first.
// Locally, in remote mode and for events alike; values without "/" keep
// their plain name.
func TestEntityValuesWithSlash(t *testing.T) {
	cfg := Config{
		Features: []Feature{
			{Name: "m_count_1m", Expr: `sum by (${entity}) (count_over_time(m[1m]))`},
			{Name: "m_max", Expr: `max by (${entity}) (m)`},
		},
		EventFeatures: []EventFeature{{Name: "backoff", Reasons: []string{"BackOff"}, Window: model.Duration(10 * time.Minute)}},
	}
	m := func(ns, pod string) labels.Labels {
		return labels.FromStrings("__name__", "m", "namespace", ns, "pod", pod)
	}
	local := []telemetry.Sample{
		{Labels: m("col/x", "y"), T: base - 10*sec, V: 100},
		{Labels: m("col", "x/y"), T: base - 10*sec, V: 200},
		{Labels: m("plain", "p-1"), T: base - 10*sec, V: 300},
		{Labels: m("a%2Fb", "c"), T: base - 10*sec, V: 400},
	}
	var polled []telemetry.Sample
	for _, s := range local {
		for _, f := range cfg.Features {
			v := s.V
			if f.Name == "m_count_1m" {
				v = 1
			}
			polled = append(polled, telemetry.Sample{Labels: labels.FromStrings("__name__", f.Name,
				"namespace", s.Labels.Get("namespace"), "pod", s.Labels.Get("pod")), T: base, V: v})
		}
	}
	want := map[string]struct {
		ns, pod string
		max     float64
	}{
		"col%2Fx/y": {"col/x", "y", 100},
		"col/x%2Fy": {"col", "x/y", 200},
		"plain/p-1": {"plain", "p-1", 300},
		"a%252Fb/c": {"a%2Fb", "c", 400},
	}
	for mode, r := range polledParity(t, cfg, local, polled) {
		r.e.AddEvents([]telemetry.Event{
			ev("BackOff", base-60*sec, 1, "", "namespace", "col/x", "pod", "y"),
			ev("BackOff", base-60*sec, 1, "", "namespace", "col", "kind", "Pod", "name", "x/y"),
			ev("BackOff", base-60*sec, 1, "", "namespace", "col", "kind", "Pod", "name", "x/y"),
		})
		got := evaluate(t, r.e, base)
		if len(got) != len(want) {
			t.Fatalf("%s: entities %q, want %d", mode, keys(got), len(want))
		}
		for id, w := range want {
			v, ok := got[id]
			if !ok {
				t.Fatalf("%s: no entity %q among %q", mode, id, keys(got))
			}
			if v.Entity != id || v.Labels["namespace"] != w.ns || v.Labels["pod"] != w.pod || len(v.Labels) != 2 {
				t.Errorf("%s: entity %q, labels %v; want namespace=%q pod=%q", mode, v.Entity, v.Labels, w.ns, w.pod)
			}
			wantBackoff := map[string]float64{"col%2Fx/y": 1, "col/x%2Fy": 2}[id]
			if v.Values[0] != 1 || v.Values[1] != w.max || v.Values[2] != wantBackoff {
				t.Errorf("%s: %s values %v, want [1 %v %v]", mode, id, v.Values, w.max, wantBackoff)
			}
		}
		if d := dropped(t, r.reg, ReasonDuplicateEntity); d != 0 {
			t.Errorf("%s: duplicate_entity = %v, want 0", mode, d)
		}
	}
}
