package features

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"

	"github.com/omen-sre/omen/telemetry"
)

// TestHeadProgress: Progress is the least, over the series stamped at or
// after since that a stale marker has not ended (and of the given metric
// names), of newest sample time + 7/8 of the last interval.
func TestHeadProgress(t *testing.T) {
	sample := func(name, pod string, t int64, v float64) telemetry.Sample {
		return telemetry.Sample{Labels: labels.FromStrings("__name__", name, "pod", pod), T: t, V: v}
	}
	stale := math.Float64frombits(value.StaleNaN)
	h := newTestHead(t, nil, HeadOptions{})
	h.SetStamp(10)
	appendAll(t, h, []telemetry.Sample{
		sample("m", "old", 1000, 1), sample("m", "old", 9000, 1), // stamped 10: not counted from 20 on
	})
	h.SetStamp(20)
	appendAll(t, h, []telemetry.Sample{
		sample("m", "a", 100_000, 1), sample("m", "a", 116_000, 1), // through 116000 + 14000
		sample("m", "b", 120_000, 1),                                     // one sample: through 120000
		sample("other", "c", 50_000, 1), sample("other", "c", 60_000, 1), // through 68750
		sample("m", "gone", 10_000, 1), sample("m", "gone", 20_000, stale), // ended
	})
	tests := []struct {
		name   string
		since  int64
		names  []string
		want   int64
		series string
		ok     bool
	}{
		{name: "all stamped", since: 10, want: 9000 + 7000, series: `{__name__="m", pod="old"}`, ok: true},
		{name: "live", since: 20, want: 68_750, series: `{__name__="other", pod="c"}`, ok: true},
		{name: "metric m", since: 20, names: []string{"m"}, want: 120_000, series: `{__name__="m", pod="b"}`, ok: true},
		{name: "no series of the name", since: 20, names: []string{"none"}},
		{name: "none stamped since", since: 21},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, lset, ok := h.Progress(tt.since, tt.names)
			if ok != tt.ok || (ok && (got != tt.want || lset.String() != tt.series)) {
				t.Errorf("Progress(%d, %v) = %d, %s, %v; want %d, %s, %v", tt.since, tt.names, got, lset, ok, tt.want, tt.series, tt.ok)
			}
		})
	}
	// A sample after the stale marker brings the series back.
	h.SetStamp(30)
	appendAll(t, h, []telemetry.Sample{sample("m", "gone", 40_000, 1)})
	if got, lset, ok := h.Progress(30, nil); !ok || got != 40_000+17_500 || lset.Get("pod") != "gone" {
		t.Errorf("after a new sample: Progress = %d, %s, %v; want %d of pod gone", got, lset, ok, 40_000+17_500)
	}
}

// TestMetricNames: the metric names the features' selectors select, or
// nil when a selector has none.
func TestMetricNames(t *testing.T) {
	tests := []struct {
		name  string
		exprs []string
		want  []string
	}{
		{name: "names", exprs: []string{`sum by (${entity}) (rate(a_total[5m]))`, `max by (${entity}) (b{job="x"}) / on (${entity}) a_total`}, want: []string{"a_total", "b"}},
		{name: "name matcher and set", exprs: []string{`max by (${entity}) ({__name__="c"})`, `max by (${entity}) ({__name__=~"d|e"})`}, want: []string{"a_total", "c", "d", "e"}},
		{name: "any name", exprs: []string{`max by (${entity}) (a_total)`, `count by (${entity}) ({job="x"})`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Features = nil
			for i, x := range tt.exprs {
				cfg.Features = append(cfg.Features, Feature{Name: string(rune('p' + i)), Expr: x})
			}
			cfg.Labels = []LabelDef{{Name: "l", Expr: `max by (${entity}) (a_total)`}}
			ex, err := NewExtractor(ExtractorOptions{Config: cfg, Head: newTestHead(t, nil, HeadOptions{})})
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Clone(ex.MetricNames())
			slices.Sort(got)
			if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("MetricNames() = %q, want %q", got, tt.want)
			}
		})
	}
}

// BenchmarkHeadProgress measures one Progress scan of 100,000 series of
// 10 metrics, all counted (names nil) and of one metric name.
func BenchmarkHeadProgress(b *testing.B) {
	h := newTestHead(b, nil, HeadOptions{})
	h.SetStamp(1)
	var batch []telemetry.Sample
	for i := range 100_000 {
		ls := labels.FromStrings("__name__", fmt.Sprintf("m%d", i%10), "pod", fmt.Sprintf("p%d", i))
		batch = append(batch, telemetry.Sample{Labels: ls, T: 1000, V: 1}, telemetry.Sample{Labels: ls, T: 16000, V: 1})
	}
	appendAll(b, h, batch)
	for _, tt := range []struct {
		name  string
		names []string
	}{{name: "all"}, {name: "one name", names: []string{"m3"}}} {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, ok := h.Progress(1, tt.names); !ok {
					b.Fatal("no series counted")
				}
			}
		})
	}
}
