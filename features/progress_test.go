package features

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/omen-sre/omen/telemetry"
)

// TestHeadProgress: Progress is the least, over the series stamped at or
// after since that a stale marker has not ended, that have more than one
// sample and that one of the selectors selects (by all its label
// matchers), of newest sample time + 7/8 of the interval between the two
// newest samples, also when they arrived out of order. A series of one
// sample (a one-off push) is left out: it held every later step back.
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
		sample("m", "b", 120_000, 1), sample("m", "b", 104_000, 1), // out of order: through 120000 + 14000
		sample("m", "b", 112_000, 1),                                     // the second newest: through 120000 + 7000
		sample("m", "d", 90_000, 1),                                      // one sample: not counted
		sample("other", "c", 50_000, 1), sample("other", "c", 60_000, 1), // through 68750
		sample("m", "gone", 10_000, 1), sample("m", "gone", 20_000, stale), // ended
	})
	tests := []struct {
		name   string
		since  int64
		sels   []string // PromQL selectors; "": one without matchers
		want   int64
		series string
		ok     bool
	}{
		{name: "all stamped", since: 10, sels: []string{""}, want: 9000 + 7000, series: `{__name__="m", pod="old"}`, ok: true},
		{name: "live", since: 20, sels: []string{""}, want: 68_750, series: `{__name__="other", pod="c"}`, ok: true},
		{name: "metric m", since: 20, sels: []string{"m"}, want: 127_000, series: `{__name__="m", pod="b"}`, ok: true},
		{name: "m of pod a", since: 20, sels: []string{`m{pod="a"}`}, want: 130_000, series: `{__name__="m", pod="a"}`, ok: true},
		{name: "m of pods a or gone", since: 20, sels: []string{`m{pod=~"a|gone"}`}, want: 130_000, series: `{__name__="m", pod="a"}`, ok: true},
		{name: "m of pod a, or other", since: 20, sels: []string{`m{pod="a"}`, "other"}, want: 68_750, series: `{__name__="other", pod="c"}`, ok: true},
		{name: "names m or other, pod not c", since: 20, sels: []string{`{__name__=~"m|other", pod!="c"}`}, want: 127_000, series: `{__name__="m", pod="b"}`, ok: true},
		{name: "no name, pod a", since: 20, sels: []string{`{pod="a"}`}, want: 130_000, series: `{__name__="m", pod="a"}`, ok: true},
		{name: "no name, pod a, or m of pod b", since: 20, sels: []string{`{pod="a"}`, `m{pod="b"}`}, want: 127_000, series: `{__name__="m", pod="b"}`, ok: true},
		{name: "no series of the name", since: 20, sels: []string{"none"}},
		{name: "a series of one sample", since: 20, sels: []string{`m{pod="d"}`}},
		{name: "no series of the labels", since: 20, sels: []string{`m{pod="c"}`}},
		{name: "no selectors", since: 20},
		{name: "none stamped since", since: 21, sels: []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, lset, ok := h.Progress(Liveness{Since: tt.since}, parseSelectors(t, tt.sels))
			if ok != tt.ok || (ok && (got != tt.want || lset.String() != tt.series)) {
				t.Errorf("Progress(%d, %q) = %d, %s, %v; want %d, %s, %v", tt.since, tt.sels, got, lset, ok, tt.want, tt.series, tt.ok)
			}
		})
	}
	// Each series' match is cached for the selectors passed last: a
	// selector set passed again after another, and a new series, are
	// matched anew.
	podA, podB := parseSelectors(t, []string{`m{pod="a"}`}), parseSelectors(t, []string{`m{pod=~"b|z"}`})
	for i, tt := range []struct {
		sels [][]*labels.Matcher
		pod  string
	}{{podA, "a"}, {podA, "a"}, {podB, "b"}, {podA, "a"}, {podB, "z"}} {
		if i == 4 {
			appendAll(t, h, []telemetry.Sample{sample("m", "z", 100_000, 1), sample("m", "z", 110_000, 1)})
		}
		if _, lset, ok := h.Progress(Liveness{Since: 20}, tt.sels); !ok || lset.Get("pod") != tt.pod {
			t.Errorf("call %d: Progress of %v = %s (%v), want pod %s", i, tt.sels, lset, ok, tt.pod)
		}
	}
	// A sample after the stale marker brings the series back.
	h.SetStamp(30)
	appendAll(t, h, []telemetry.Sample{sample("m", "gone", 40_000, 1)})
	if got, lset, ok := h.Progress(Liveness{Since: 30}, parseSelectors(t, []string{""})); !ok || got != 40_000+17_500 || lset.Get("pod") != "gone" {
		t.Errorf("after a new sample: Progress = %d, %s, %v; want %d of pod gone", got, lset, ok, 40_000+17_500)
	}
}

// parseSelectors returns the label matchers of PromQL selectors ("": no
// matchers).
func parseSelectors(tb testing.TB, sels []string) [][]*labels.Matcher {
	tb.Helper()
	var out [][]*labels.Matcher
	for _, s := range sels {
		if s == "" {
			out = append(out, nil)
			continue
		}
		ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector(s)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, ms)
	}
	return out
}

// TestSelectors: the label matchers of the features' and labels' vector
// selectors, each set once.
func TestSelectors(t *testing.T) {
	tests := []struct {
		name  string
		exprs []string
		want  []string
	}{
		{name: "names", exprs: []string{`sum by (${entity}) (rate(a_total[5m]))`, `max by (${entity}) (b{job="x"}) / on (${entity}) a_total`},
			want: []string{`__name__="a_total"`, `job="x",__name__="b"`}},
		{name: "matchers", exprs: []string{`max by (${entity}) ({__name__="c", job!=""})`, `max by (${entity}) ({__name__=~"d|e"} offset 1m)`, `count by (${entity}) ({job="x"})`},
			want: []string{`__name__="a_total"`, `__name__="c",job!=""`, `__name__=~"d|e"`, `job="x"`}},
		{name: "the same matchers once", exprs: []string{`sum by (${entity}) (rate(a_total{code=~"5.."}[5m])) / sum by (${entity}) (rate(a_total[5m]))`},
			want: []string{`__name__="a_total"`, `code=~"5..",__name__="a_total"`}},
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
			var got []string
			for _, ms := range ex.Selectors() {
				var s []string
				for _, m := range ms {
					s = append(s, m.String())
				}
				got = append(got, strings.Join(s, ","))
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Selectors() = %q, want %q", got, tt.want)
			}
		})
	}
}

// BenchmarkHeadProgress measures one Progress scan of 100,000 series of
// 10 metrics: all counted (a selector without matchers), of one metric
// name, and the worst cases of label matchers, which match no series
// (each series is matched: one that matches and lowers the least time
// spares the matching of the series that would not).
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
		name string
		sels []string
		ok   bool
	}{
		{name: "all", sels: []string{""}, ok: true},
		{name: "one name", sels: []string{"m3"}, ok: true},
		{name: "one name, a label matcher matching half", sels: []string{`m3{pod=~".*[13579]"}`}, ok: true},
		{name: "one name, a label matcher matching none", sels: []string{`m3{pod="x"}`}},
		{name: "no name, a regexp matching none", sels: []string{`{pod=~"x.*"}`}},
	} {
		sels := parseSelectors(b, tt.sels)
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, ok := h.Progress(Liveness{Since: 1}, sels); ok != tt.ok {
					b.Fatalf("a series counted: %v, want %v", ok, tt.ok)
				}
			}
		})
	}
}
