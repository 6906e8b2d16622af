package dataset

import (
	"context"
	"testing"
	"time"

	pmodel "github.com/prometheus/common/model"
)

// TestPrometheusSourceEntityWithSlash: omen train --source prometheus names
// entities as the daemon does: values holding "/" give distinct entities
// (namespace="col/x", pod="y" and namespace="col", pod="x/y" were both
// "col/x/y", merged as one), plain values their plain name.
func TestPrometheusSourceEntityWithSlash(t *testing.T) {
	start := time.Unix(1000, 0)
	step := 15 * time.Second
	api := fakeAPI{"m": {
		stream(pmodel.LabelSet{"namespace": "col/x", "pod": "y"}, start, step, 100, 100),
		stream(pmodel.LabelSet{"namespace": "col", "pod": "x/y"}, start, step, 200, 200),
		stream(pmodel.LabelSet{"namespace": "plain", "pod": "p-1"}, start, step, 300, 300),
	}}
	src := &PrometheusSource{API: api, Features: []NamedQuery{{"m", "m"}},
		EntityLabels: []string{"namespace", "pod"}, Start: start, End: start.Add(step), Step: step}
	got, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"col%2Fx/y": 100, "col/x%2Fy": 200, "plain/p-1": 300}
	if len(got) != len(want) {
		t.Fatalf("%d series, want %d: %+v", len(got), len(want), got)
	}
	for _, s := range got {
		if w, ok := want[s.Entity]; !ok || len(s.Values) != 2 || s.Values[0] != w || s.Values[1] != w {
			t.Errorf("series %q %v; want one of %v", s.Entity, s.Values, want)
		}
	}
}
