package features

import (
	"fmt"
	"slices"

	pmodel "github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// SelectedMetricNames returns the metric names that the vector selectors
// of c's PromQL features and failure labels select, sorted, each once:
// the series a remote-write sender has to send for the features to have
// their data, e.g. as the keep-list of its write_relabel_configs (omen
// stores every series it receives, up to max_series). A selector that
// does not name one metric (a __name__ regex, or no name at all) cannot
// be listed: unlisted names each such selector, with its feature or
// label. An expression that does not parse is an error naming it.
func (c Config) SelectedMetricNames() (names, unlisted []string, err error) {
	type expr struct{ what, expr string }
	var exprs []expr
	for _, f := range c.Features {
		exprs = append(exprs, expr{"feature " + f.Name, f.Expr})
	}
	for _, l := range c.Labels {
		if l.Expr != "" {
			exprs = append(exprs, expr{"label " + l.Name, l.Expr})
		}
	}
	for _, x := range exprs {
		e, err := parseExpr(ExpandExpr(x.expr, c.EntityLabels))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", x.what, err)
		}
	selectors:
		for _, vs := range vectorSelectors(e) {
			for _, m := range vs.LabelMatchers {
				if m.Name == pmodel.MetricNameLabel && m.Type == labels.MatchEqual {
					names = append(names, m.Value)
					continue selectors
				}
			}
			unlisted = append(unlisted, fmt.Sprintf("%s: %s", x.what, vs))
		}
	}
	slices.Sort(names)
	return slices.Compact(names), unlisted, nil
}
