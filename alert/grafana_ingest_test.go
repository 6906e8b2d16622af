package alert

import (
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// TestGrafanaIngestErrorsSkipStringFields: every dashboard query of
// omen_ingest_errors_total tells reason string_field (influx string
// fields, skipped by design) apart, as the OmenIngestErrors rule does: the
// "Ingest errors" panel counted them as errors.
func TestGrafanaIngestErrorsSkipStringFields(t *testing.T) {
	d := readDashboard(t)
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			e, err := parser.NewParser(parser.Options{}).ParseExpr(strings.ReplaceAll(tg.Expr, "$namespace", ".*"))
			if err != nil {
				t.Fatalf("panel %q: %v", p.Title, err)
			}
			parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
				vs, ok := node.(*parser.VectorSelector)
				if !ok || vs.Name != "omen_ingest_errors_total" {
					return nil
				}
				n++
				for _, m := range vs.LabelMatchers {
					if m.Name == "reason" && (m.Type == labels.MatchNotEqual || m.Type == labels.MatchEqual) && m.Value == "string_field" {
						return nil
					}
				}
				t.Errorf("panel %q: %s counts reason string_field (skipped by design) with the errors", p.Title, tg.Expr)
				return nil
			})
		}
	}
	if n == 0 {
		t.Fatal("the dashboard does not query omen_ingest_errors_total")
	}
}
