package alert

import (
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// TestIngestErrorsNotFiltered: omen counts the influx string fields it
// skips by design in omen_ingest_ignored_samples_total{kind="string_field"},
// not as ingest errors, so neither the OmenIngestErrors rule nor the
// dashboard filters reason string_field out of omen_ingest_errors_total
// any more (they did while string fields were counted there), and the
// dashboard shows the ignored samples by kind.
func TestIngestErrorsNotFiltered(t *testing.T) {
	type query struct{ where, expr string }
	var qs []query
	d := readDashboard(t)
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			qs = append(qs, query{"dashboard panel " + p.Title, strings.ReplaceAll(tg.Expr, "$namespace", ".*")})
		}
	}
	rf := readRules(t)
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{"rule " + r.Alert + r.Record, r.Expr})
		}
	}
	errorsQueried, ignoredByKind := false, false
	for _, q := range qs {
		e, err := parser.NewParser(parser.Options{}).ParseExpr(q.expr)
		if err != nil {
			t.Fatalf("%s: %v", q.where, err)
		}
		parser.Inspect(e, func(node parser.Node, path []parser.Node) error {
			vs, ok := node.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			switch vs.Name {
			case "omen_ingest_errors_total":
				errorsQueried = true
				for _, m := range vs.LabelMatchers {
					if m.Name == "reason" && m.Value == "string_field" {
						t.Errorf("%s: %s filters reason string_field, which omen_ingest_errors_total no longer counts", q.where, q.expr)
					}
				}
			case "omen_ingest_ignored_samples_total":
				for _, n := range path {
					if a, ok := n.(*parser.AggregateExpr); ok && !a.Without && len(a.Grouping) == 1 && a.Grouping[0] == "kind" {
						ignoredByKind = true
					}
				}
			}
			return nil
		})
	}
	if !errorsQueried {
		t.Error("neither the rules nor the dashboard query omen_ingest_errors_total")
	}
	if !ignoredByKind {
		t.Error("the dashboard does not show omen_ingest_ignored_samples_total by kind (string_field, native_histogram)")
	}
}
