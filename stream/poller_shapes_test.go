package stream

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestPollerResultShapes pins, against the Debian Prometheus, what the
// feature store's rules rely on (features.Extractor.AddPolled): series that
// differ only in a label beyond EntityLabels come with the same labels, at
// one time in one batch (so the store keeps the largest, not the last);
// a scalar result, instant or ranged ({"metric":{}}), comes with only its
// name, as does a vector series without labels (sum(x)), which only the
// expression's type tells apart.
func TestPollerResultShapes(t *testing.T) {
	promURL := testenv.Prometheus(t, "")
	const step = 15 * time.Second
	t0 := time.Now().Add(-10 * time.Minute).Truncate(step)
	const n = 8
	var wr prompb.WriteRequest
	for _, c := range []struct {
		container string
		v         float64
	}{{"x", 4}, {"y", 10}} {
		ts := prompb.TimeSeries{Labels: []prompb.Label{
			{Name: "__name__", Value: "omen_test_shapes_cpu"}, {Name: "container", Value: c.container},
			{Name: "namespace", Value: "shop"}, {Name: "pod", Value: "a"},
		}}
		for i := range n {
			ts.Samples = append(ts.Samples, prompb.Sample{Value: c.v, Timestamp: t0.Add(time.Duration(i) * step).UnixMilli()})
		}
		wr.Timeseries = append(wr.Timeseries, ts)
	}
	pushToPrometheus(t, promURL, &wr)

	app := &MemAppender{}
	p, err := NewPoller(app, PollerOptions{
		URL: promURL,
		Queries: map[string]string{
			"cpu":   `omen_test_shapes_cpu`,
			"total": `scalar(sum(omen_test_shapes_cpu))`,
			"sum":   `sum(omen_test_shapes_cpu)`,
		},
		Step: step, EntityLabels: []string{"namespace", "pod"}, MaxPointsPerQuery: 3,
	}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	entity := labels.FromStrings("__name__", "cpu", "namespace", "shop", "pod", "a")
	// byTime checks the labels of batch bi's samples (the entity's for
	// cpu, only the name for total and sum) and returns their values by
	// time and query.
	byTime := func(bi int) map[int64]map[string][]float64 {
		out := map[int64]map[string][]float64{}
		for _, s := range app.Batches()[bi].Samples {
			name := s.Labels.Get("__name__")
			want := labels.FromStrings("__name__", name)
			if name == "cpu" {
				want = entity
			}
			if !labels.Equal(s.Labels, want) {
				t.Errorf("batch %d: sample labels %s, want %s", bi, s.Labels, want)
			}
			if out[s.T] == nil {
				out[s.T] = map[string][]float64{}
			}
			out[s.T][name] = append(out[s.T][name], s.V)
		}
		return out
	}

	if err := p.Eval(ctx, t0.Add(3*step)); err != nil {
		t.Fatal(err)
	}
	if got := len(app.Batches()); got != 1 {
		t.Fatalf("eval made %d batches, want 1", got)
	}
	want := map[string][]float64{"cpu": {4, 10}, "total": {14}, "sum": {14}}
	for at, m := range byTime(0) {
		for name, vs := range m {
			slices.Sort(vs)
			if !slices.Equal(vs, want[name]) {
				t.Errorf("eval at %d: %s = %v, want %v", at, name, vs, want[name])
			}
		}
	}

	if err := p.Backfill(ctx, t0, t0.Add((n-1)*step)); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for bi := 1; bi < len(app.Batches()); bi++ {
		for at, m := range byTime(bi) {
			for name, vs := range m {
				seen++
				slices.Sort(vs)
				if !slices.Equal(vs, want[name]) {
					t.Errorf("backfill batch %d at %d: %s = %v, want %v (a time's series in one batch)", bi, at, name, vs, want[name])
				}
			}
		}
	}
	if seen != 3*n {
		t.Errorf("backfill gave %d (query, time) pairs, want %d", seen, 3*n)
	}
}
