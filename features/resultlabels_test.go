package features

import (
	"context"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// engineCheck says how a row is checked against the promql engine, over
// the series of resultLabelsData, with entity labels namespace and pod.
type engineCheck int

const (
	notRun     engineCheck = iota
	exact                  // some result series carries both entity labels iff the row is accepted
	permissive             // accepted, yet no result series carries both: the check cannot know
)

// resultLabelsCase: entity labels namespace and pod; want is what
// missingEntityLabels reports, why the promql rule behind it.
type resultLabelsCase struct {
	expr   string
	want   []string
	why    string
	engine engineCheck
}

// resultLabelsCases parse as the feature config parses.
var resultLabelsCases = []resultLabelsCase{
	// Selectors and aggregations.
	{`x`, nil, "a selector may carry any label", notRun},
	{`rate(x[5m])`, nil, "a function keeps its argument's labels", notRun},
	{`a{pod=""}`, []string{"pod"}, `l="" selects series without l`, exact},
	{`sum by (namespace, pod) (a{pod=""})`, []string{"pod"}, `l="" selects series without l`, notRun},
	{`sum by (namespace, pod) (rate(x[1m]))`, nil, "by keeps its labels", notRun},
	{`sum by (cluster, service) (rate(x[1m]))`, []string{"namespace", "pod"}, "by drops every other label", notRun},
	{`sum by (namespace) (x)`, []string{"pod"}, "by drops every other label", notRun},
	{`sum(x)`, []string{"namespace", "pod"}, "no grouping: no labels", notRun},
	{`sum without (pod) (x)`, []string{"pod"}, "without drops its labels", notRun},
	{`sum without (instance) (x)`, nil, "without keeps the others", notRun},
	{`(max by (namespace, pod) (x))`, nil, "parentheses change nothing", notRun},
	{`topk by (namespace) (1, sum by (namespace, pod) (x))`, nil, "topk returns its input's series", notRun},
	{`topk by (namespace) (1, a)`, nil, "topk returns its input's series", exact},
	{`count_values by (namespace) ("pod", a)`, nil, "count_values adds its label", exact},
	{`count_values without (pod) ("pod", a)`, []string{"pod"}, "count_values sets its label before grouping: without drops it (was accepted; found by the engine row)", exact},
	{`count_values without (x) ("pod", sum by (namespace, x) (a))`, nil, "count_values sets its label on each series", exact},
	{`count_values by (namespace) ("value", a)`, []string{"pod"}, "count_values adds only its own label", exact},
	{`histogram_quantile(0.9, sum by (le, namespace, pod) (rate(h[5m])))`, nil, "histogram_quantile keeps all but le", notRun},
	{`histogram_quantile(0.9, sum by (le, namespace, pod) (h_bucket))`, nil, "histogram_quantile keeps all but le", exact},
	{`max_over_time(sum by (namespace, pod) (x)[5m:1m])`, nil, "a subquery keeps its labels", notRun},
	{`max_over_time(sum by (namespace) (x)[5m:1m])`, []string{"pod"}, "a subquery keeps its labels", notRun},
	{`-sum by (namespace) (x)`, []string{"pod"}, "unary minus keeps its labels", notRun},

	// Functions without a vector argument, scalars.
	{`vector(1)`, []string{"namespace", "pod"}, "vector() has no labels", exact},
	{`hour()`, []string{"namespace", "pod"}, "hour() is vector(time()): no labels (was accepted)", exact},
	{`hour(timestamp(a))`, nil, "hour(v) keeps v's labels", exact},
	{`scalar(sum(x))`, nil, "a scalar applies to every entity", notRun},
	{`time()`, nil, "a scalar applies to every entity", notRun},
	{`2 * sum by (namespace, pod) (x)`, nil, "scalar op vector keeps the vector's labels", notRun},
	{`sum by (namespace, pod) (x) > bool 2`, nil, "scalar op vector keeps the vector's labels", notRun},

	// absent: only labels fixed by single equality matchers.
	{`absent(nope{namespace="n1", pod="p1"})`, nil, "absent takes equality matchers' labels", exact},
	{`absent_over_time(nope{namespace="n1", pod="p1"}[5m])`, nil, "absent_over_time takes equality matchers' labels", exact},
	{`absent(nope)`, []string{"namespace", "pod"}, "absent without matchers has no labels (was accepted)", exact},
	{`absent(nope{namespace="n1", pod=~"p.*"})`, []string{"pod"}, "a regex matcher gives no label (was accepted)", exact},
	{`absent(nope{namespace="n1", pod="p1", pod="p2"})`, []string{"pod"}, "a label matched twice is dropped (was accepted)", exact},
	{`absent(sum by (namespace, pod) (nope))`, []string{"namespace", "pod"}, "absent of a non-selector has no labels (was accepted)", exact},

	// label_replace and label_join set or delete their destination.
	{`label_replace(sum by (namespace) (a), "pod", "$1", "namespace", "(.*)")`, nil, "label_replace sets dst", exact},
	{`label_replace(sum by (namespace) (a), "pod", "", "namespace", "(.*)")`, []string{"pod"}, "an empty replacement deletes dst (was accepted)", exact},
	{`label_replace(a, "pod", "", "x", "9")`, nil, "dst is kept where the regex does not match", exact},
	{`label_replace(a, "pod", "", "x", ".*")`, nil, "whether a regex matches every value is not known here", permissive},
	{`label_replace(sum by (namespace) (a), "pod", "$1", "cluster", "(.*)")`, nil, `"$1" may expand to "": not known here`, permissive},
	{`label_join(sum by (namespace) (a), "pod", "-", "namespace")`, nil, "label_join sets dst", exact},
	{`label_join(a, "pod", ",")`, []string{"pod"}, "no source: dst is set to \"\", deleted (was accepted)", exact},
	{`label_join(sum by (namespace) (a), "pod", "", "cluster")`, []string{"pod"}, "only absent sources: dst deleted (was accepted)", exact},
	{`label_join(sum by (namespace) (a), "pod", "-", "cluster", "node")`, nil, `two absent sources join to "-"`, exact},

	// One-to-one matching: the signature's labels must be on both sides.
	{`max by (namespace, pod) (a) / max by (namespace, pod) (b)`, nil, "both sides carry the signature", exact},
	{`max by (namespace, pod) (a) / max by (namespace) (b)`, []string{"pod"}, "pod is in the signature but not on the right (was accepted)", exact},
	{`max by (namespace, pod) (a) / on (namespace) max by (namespace, pod) (b)`, []string{"pod"}, "on keeps only its labels", notRun},
	{`a / ignoring (pod) b`, []string{"pod"}, "ignoring drops its labels", exact},

	// Many-to-one and one-to-many.
	{`a * on (namespace, pod) group_left (node) b`, nil, "many side's labels", notRun},
	{`sum by (namespace, pod) (a) * on (namespace, pod) group_left (node) c`, nil, "many side's labels", exact},
	{`sum by (namespace) (a) * on (namespace) group_right () b`, nil, "group_right: the right side's labels", notRun},
	{`sum by (namespace) (a) * on (namespace) group_left () b`, []string{"pod"}, "group_left: the left side's labels", notRun},
	{`a * on (namespace, pod) group_left sum by (namespace) (b)`, []string{"pod"}, "pod is matched on, the one side has none (was accepted)", exact},
	{`a * on (namespace) group_left (pod) sum by (namespace) (b)`, []string{"pod"}, "group_left (pod) takes pod from the one side, which has none (was accepted)", exact},
	{`a * on (namespace) group_left (pod) o`, nil, "group_left (pod) takes pod from the one side", exact},
	{`c / ignoring (pod) group_left sum by (namespace) (b)`, nil, "ignored labels come from the many side", exact},
	{`sum by (namespace) (a) / ignoring (pod) group_left b`, []string{"pod"}, "the many side has no pod", exact},

	// Set operators: `or` gives either side's series unchanged, `and`
	// the left side's matched ones, `unless` the left side's.
	{`sum by (namespace) (a) or sum by (pod) (b)`, []string{"pod"}, "no series of one side has both", exact},
	{`sum by (pod) (a) or sum by (namespace) (b)`, []string{"namespace"}, "the first side missing fewest is named", notRun},
	{`sum by (cluster) (a) or sum by (pod) (b)`, []string{"namespace"}, "the side missing fewest is named", notRun},
	{`(sum by (namespace) (a) or sum by (pod) (b)) * 2`, []string{"pod"}, "or below a scalar op", notRun},
	{`abs(sum by (namespace) (a) or sum by (pod) (b))`, []string{"pod"}, "or below a function", notRun},
	{`max_over_time((sum by (namespace) (a) or sum by (pod) (b))[5m:1m])`, []string{"pod"}, "or below a subquery", notRun},
	{`(sum by (namespace) (a) or sum by (pod) (b)) and on () c`, []string{"pod"}, "and keeps the left side's series", exact},
	{`sum by (namespace, pod) (a) or vector(0)`, nil, "one side carries both", notRun},
	{`sum by (namespace) (a) or sum by (namespace, pod) (b)`, nil, "one side carries both", exact},
	{`sum by (namespace) (a) or (sum by (pod) (b) or sum by (namespace, pod) (c))`, nil, "a nested or's side carries both", notRun},
	{`sum by (namespace) (a) or (sum by (pod) (b) or sum by (namespace, x) (c))`, []string{"pod"}, "a covering shape takes the covered one's place: the first side is named", notRun},
	{`sum by (namespace, pod) (sum by (namespace, pod, x) (a) or sum by (namespace, pod, y) (b))`, nil, "both sides carry both", exact},
	{`max by (namespace, pod) (sum by (namespace) (a) or sum by (pod) (b))`, []string{"pod"}, "or inside an aggregation: each group comes from one side (was accepted)", exact},
	{`sum without (x) (sum by (namespace) (a) or sum by (pod) (b))`, []string{"pod"}, "or inside an aggregation (was accepted)", notRun},
	{`(sum by (namespace) (a) or sum by (pod) (b)) * on (namespace) group_left (pod) o`, nil, "the one side adds pod to the left side's series", exact},
	{`(sum by (namespace) (a) or sum by (pod) (b)) / on (namespace, pod) c`, []string{"pod"}, "or inside a vector match (was accepted)", notRun},
	{`sum by (namespace) (a) and sum by (namespace, pod) (b)`, []string{"pod"}, "and keeps the left side's labels", notRun},
	{`a and sum by (namespace) (b)`, []string{"pod"}, "and: the signature's labels must be on both sides (was accepted)", exact},
	{`a and on (namespace) sum by (namespace) (b)`, nil, "and on: only the on labels must be on both sides", exact},
	{`a unless sum by (namespace) (b)`, nil, "unless keeps the left side's series", exact},
	{`sum by (namespace) (a) unless sum by (namespace, pod) (b)`, []string{"pod"}, "unless keeps the left side's labels", notRun},
}

// resultLabelsExperimental: syntax the feature config does not parse
// (experimental functions, fill modifiers) is still bounded, never
// refused for a label it may carry.
var resultLabelsExperimental = []resultLabelsCase{
	{`histogram_quantiles(sum by (le, namespace) (h_bucket), "pod", 0.5, 0.9)`, nil, "histogram_quantiles adds its label", exact},
	{`histogram_quantiles(sum by (le) (h_bucket), "pod", 0.5)`, []string{"namespace"}, "histogram_quantiles adds only its label", exact},
	{`info(sum by (instance) (a))`, nil, "info may add any label", notRun},
	{`limitk by (namespace) (2, a)`, nil, "limitk returns its input's series", exact},
	{`limit_ratio(0.5, sum by (namespace) (a))`, []string{"pod"}, "limit_ratio returns its input's series", exact},
	{`max by (namespace, pod) (a) + fill(0) max by (namespace) (b)`, nil, "fill: an unmatched left series is kept", exact},
	{`max by (namespace, pod) (a) + fill_right(0) max by (namespace) (b)`, nil, "fill_right: an unmatched left series is kept", exact},
	{`max by (namespace) (a) + fill_left(0) max by (namespace, pod) (b)`, nil, "fill_left: an unmatched right series is kept", exact},
	{`max by (namespace) (a) + max by (namespace, pod) (b)`, []string{"pod"}, "without fill, pod must be on both sides", exact},
}

var experimentalParser = parser.Options{EnableExperimentalFunctions: true, EnableBinopFillModifiers: true}

// TestMissingEntityLabels: expressions whose result cannot carry the
// entity labels are found; those that can (or might) pass.
func TestMissingEntityLabels(t *testing.T) {
	ent := []string{"namespace", "pod"}
	for _, set := range []struct {
		opts  parser.Options
		cases []resultLabelsCase
	}{{parser.Options{}, resultLabelsCases}, {experimentalParser, resultLabelsExperimental}} {
		for _, tc := range set.cases {
			e, err := parser.NewParser(set.opts).ParseExpr(tc.expr)
			if err != nil {
				t.Fatalf("%s: %v", tc.expr, err)
			}
			if got := missingEntityLabels(e, ent); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: missing %q, want %q (%s)", tc.expr, got, tc.want, tc.why)
			}
		}
	}
}

// resultLabelsData is the series set the engine rows run over: entity
// labels on some series, one or none on others; o has one series per
// namespace (a "one" side for group_left).
var resultLabelsData = []string{
	`a{namespace="n1", pod="p1", x="1"} 3`,
	`a{namespace="n1", x="2"} 2`,
	`a{pod="p2", x="3"} 1`,
	`b{namespace="n1", pod="p1", y="1"} 3`,
	`b{namespace="n2", y="2"} 2`,
	`b{pod="p3", y="3"} 1`,
	`c{namespace="n1", pod="p1"} 1`,
	`o{namespace="n1", pod="p1"} 1`,
	`o{namespace="n2"} 1`,
	`h_bucket{namespace="n1", pod="p1", le="1"} 1`,
	`h_bucket{namespace="n1", pod="p1", le="+Inf"} 2`,
}

// TestMissingEntityLabelsEngine runs the rows marked for it through
// promql over resultLabelsData: a refused expression gives no series
// carrying both entity labels, an accepted one does (exact) or, where the
// check is knowingly permissive, does not.
func TestMissingEntityLabelsEngine(t *testing.T) {
	h := newTestHead(t, nil, HeadOptions{})
	for _, line := range resultLabelsData {
		metric, v, _ := strings.Cut(line, "} ")
		m, err := parser.NewParser(parser.Options{}).ParseMetric(metric + "}")
		if err != nil {
			t.Fatal(err)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatal(err)
		}
		appendAll(t, h, series(m, base, 20, func(int) float64 { return f }))
	}
	p := parser.NewParser(experimentalParser)
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: DefaultLookbackDelta, Parser: p})
	at := time.UnixMilli(base + 19*15*sec)
	ent := []string{"namespace", "pod"}
	ran := 0
	for _, tc := range append(slices.Clip(resultLabelsCases), resultLabelsExperimental...) {
		if tc.engine == notRun {
			continue
		}
		q, err := engine.NewInstantQuery(context.Background(), h, nil, tc.expr, at)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		res := q.Exec(context.Background())
		if res.Err != nil {
			t.Fatalf("%s: %v", tc.expr, res.Err)
		}
		vec, err := res.Vector()
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		q.Close()
		var witness labels.Labels
		for _, s := range vec {
			if s.Metric.Get("namespace") != "" && s.Metric.Get("pod") != "" {
				witness = s.Metric
			}
		}
		e, err := p.ParseExpr(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		ran++
		accepted := missingEntityLabels(e, ent) == nil
		switch want := tc.engine == exact && accepted; {
		case want && witness.IsEmpty():
			t.Errorf("%s: accepted, but no result series carries both entity labels: %v", tc.expr, vec)
		case !want && !witness.IsEmpty():
			t.Errorf("%s: accepted %v, engine check %d, but the result has %v", tc.expr, accepted, tc.engine, witness)
		}
		if tc.engine == permissive && !accepted {
			t.Errorf("%s: marked permissive but refused", tc.expr)
		}
	}
	t.Logf("%d rows checked against the engine", ran)
}

// TestMissingEntityLabelsCap: past maxShapes alternatives (a product of
// `or`s) the shapes merge into one bound, which accepts more: 6 x 6
// group_left results with one entity label each are accepted, 5 x 6 are
// refused.
func TestMissingEntityLabelsCap(t *testing.T) {
	ors := func(labels ...string) string {
		var parts []string
		for _, l := range labels {
			parts = append(parts, "sum by ("+l+") (a)")
		}
		return "(" + strings.Join(parts, " or ") + ")"
	}
	many := []string{"namespace", "pod", "l3", "l4", "l5", "l6"}
	one := []string{"m1", "m2", "m3", "m4", "m5", "m6"}
	for _, tc := range []struct {
		many []string
		want []string
	}{
		{many[:5], []string{"pod"}}, // 30 shapes: none has both
		{many, nil},                 // 36: merged
	} {
		expr := ors(tc.many...) + " * on () group_left (" + strings.Join(one, ", ") + ") " + ors(one...)
		e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resultShapes(e)); n > maxShapes {
			t.Errorf("%d shapes, want at most %d", n, maxShapes)
		}
		if got := missingEntityLabels(e, []string{"namespace", "pod"}); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%d x %d alternatives: missing %q, want %q", len(tc.many), len(one), got, tc.want)
		}
	}
}
