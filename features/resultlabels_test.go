package features

import (
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// TestMissingEntityLabels: expressions whose result cannot carry the
// entity labels are found; those that can (or might) pass.
func TestMissingEntityLabels(t *testing.T) {
	ent := []string{"namespace", "pod"}
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`sum by (namespace, pod) (rate(x[1m]))`, nil},
		{`sum by (cluster, service) (rate(x[1m]))`, []string{"namespace", "pod"}},
		{`sum by (namespace) (x)`, []string{"pod"}},
		{`sum(x)`, []string{"namespace", "pod"}},
		{`sum without (pod) (x)`, []string{"pod"}},
		{`sum without (instance) (x)`, nil},
		{`x`, nil},
		{`rate(x[5m])`, nil},
		{`(max by (namespace, pod) (x))`, nil},
		{`max by (namespace, pod) (a) / max by (namespace, pod) (b)`, nil},
		{`max by (namespace, pod) (a) / on (namespace) max by (namespace, pod) (b)`, []string{"pod"}},
		{`a / ignoring (pod) b`, []string{"pod"}},
		{`a * on (namespace, pod) group_left (node) b`, nil},
		{`sum by (namespace) (a) * on (namespace) group_right () b`, nil},
		{`sum by (namespace) (a) * on (namespace) group_left () b`, []string{"pod"}},
		// The series of `or` come from one side each: one side must
		// carry every entity label (VectorOr keeps each series' labels).
		{`sum by (namespace) (a) or sum by (pod) (b)`, []string{"pod"}},
		{`sum by (pod) (a) or sum by (namespace) (b)`, []string{"namespace"}},
		{`sum by (cluster) (a) or sum by (pod) (b)`, []string{"namespace"}},
		{`(sum by (namespace) (a) or sum by (pod) (b)) * 2`, []string{"pod"}},
		{`abs(sum by (namespace) (a) or sum by (pod) (b))`, []string{"pod"}},
		{`max_over_time((sum by (namespace) (a) or sum by (pod) (b))[5m:1m])`, []string{"pod"}},
		{`(sum by (namespace) (a) or sum by (pod) (b)) and on () c`, []string{"pod"}},
		{`sum by (namespace, pod) (a) or vector(0)`, nil},
		{`sum by (namespace) (a) or sum by (namespace, pod) (b)`, nil},
		{`sum by (namespace) (a) or (sum by (pod) (b) or sum by (namespace, pod) (c))`, nil},
		// Nested in an aggregation, `or` is the union of both sides.
		{`sum by (namespace, pod) (sum by (namespace, pod, x) (a) or sum by (namespace, pod, y) (b))`, nil},
		// (An upper bound: the series from a would have no pod.)
		{`max by (namespace, pod) (sum by (namespace) (a) or sum by (pod) (b))`, nil},
		{`sum by (namespace) (a) and sum by (namespace, pod) (b)`, []string{"pod"}},
		{`2 * sum by (namespace, pod) (x)`, nil},
		{`sum by (namespace, pod) (x) > bool 2`, nil},
		{`label_replace(sum by (namespace) (x), "pod", "$1", "namespace", "(.*)")`, nil},
		{`label_join(sum by (namespace) (x), "pod", "-", "namespace")`, nil},
		{`topk by (namespace) (1, sum by (namespace, pod) (x))`, nil},
		{`count_values by (namespace) ("pod", x)`, nil},
		{`vector(1)`, []string{"namespace", "pod"}},
		{`scalar(sum(x))`, nil}, // a scalar applies to every entity
		{`histogram_quantile(0.9, sum by (le, namespace, pod) (rate(h[5m])))`, nil},
		{`max_over_time(sum by (namespace, pod) (x)[5m:1m])`, nil},
		{`max_over_time(sum by (namespace) (x)[5m:1m])`, []string{"pod"}},
		{`-sum by (namespace) (x)`, []string{"pod"}},
	} {
		e, err := parser.NewParser(parser.Options{}).ParseExpr(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if got := missingEntityLabels(e, ent); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: missing %q, want %q", tc.expr, got, tc.want)
		}
	}
}

// TestValidateEntityLabels: Validate reports a feature that can never
// match an entity.
func TestValidateEntityLabels(t *testing.T) {
	c := Config{EntityLabels: []string{"cluster", "service"},
		Features: []Feature{{Name: "r", Expr: `sum by (namespace, pod) (rate(x[30s]))`}, {Name: "ok", Expr: `sum by (${entity}) (x)`}}}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error for a feature without the entity labels")
	}
	want := `feature "r": its result cannot carry the entity label(s) ["cluster" "service"]`
	if got := err.Error(); !strings.Contains(got, want) || strings.Contains(got, `feature "ok"`) {
		t.Fatalf("error %q, want one naming feature r: %q", got, want)
	}
}
