package features

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// EntityPlaceholder in an expression stands for the entity labels joined by
// ", " (for example "namespace, pod"), so that "sum by (${entity}) (...)"
// aggregates to whatever entity_labels says.
const EntityPlaceholder = "${entity}"

// Defaults.
const (
	DefaultStep        = 15 * time.Second
	DefaultLookback    = 15 * time.Minute
	DefaultMaxSeries   = 1_000_000
	DefaultEventWindow = 10 * time.Minute
	// DefaultLookbackDelta is PromQL's instant-vector lookback.
	DefaultLookbackDelta = 5 * time.Minute
)

// Config defines entities, features and failure labels. Zero fields take
// the defaults (SetDefaults); Validate checks the rest.
type Config struct {
	// EntityLabels identify an entity; results and events are grouped by
	// them. Default ["namespace", "pod"]; e.g. ["service"] or ["module"].
	EntityLabels []string `yaml:"entity_labels"`
	// Step is the evaluation step. Default 15s.
	Step model.Duration `yaml:"step"`
	// Lookback is the window of samples kept in memory for PromQL. Default
	// 15m. Every expression's range (plus offset, or the 5m lookback of an
	// instant selector) plus one step must fit in it.
	Lookback model.Duration `yaml:"lookback"`
	// Features are PromQL features, each a vector (or scalar) expression
	// with the entity labels.
	Features []Feature `yaml:"features"`
	// EventFeatures count events per entity.
	EventFeatures []EventFeature `yaml:"event_features"`
	// Labels define failures, the training targets.
	Labels []LabelDef `yaml:"labels"`
	// MaxSeries limits the series held in memory. Default 1,000,000.
	MaxSeries int `yaml:"max_series"`
}

// Feature is a PromQL feature. Expr gives a vector whose series carry the
// entity labels (aggregate with "by (${entity})"); a scalar applies to every
// entity. When Expr yields several series for one entity the largest value
// is used (a number beats NaN; counted as duplicate_entity), and a series
// lacking an entity label is dropped (missing_labels). The rules are the
// same for the local evaluation, in remote mode (Extractor.AddPolled) and
// for training from Prometheus (dataset.PrometheusSource), which tell a
// scalar from a vector series without labels by the expression's type.
type Feature struct {
	Name string `yaml:"name"`
	Expr string `yaml:"expr"`
	Help string `yaml:"help"`
}

// EventFeature counts the events with one of Reasons per entity over the
// last Window (default 10m), in occurrences (Kubernetes event counts).
// Messages narrows a reason to the events whose message matches a pattern
// (see Messages); a reason without a pattern counts every message.
type EventFeature struct {
	Name    string   `yaml:"name"`
	Reasons []string `yaml:"reasons"`
	// Messages maps a reason of Reasons to a regular expression (RE2
	// syntax, Go's regexp) its events' message must match to count: the
	// kubelet reports different failures under one reason, e.g. BackOff
	// for "Back-off restarting failed container …" and for "Back-off
	// pulling image …", Failed for "Error: configmap \"x\" not found" and
	// for "Failed to pull image …". The pattern matches anywhere in the
	// message unless anchored with ^ or $ (the API server may prefix an
	// aggregated event's message with "(combined from similar events): "),
	// and is case-sensitive unless it starts with (?i). Every key must be
	// in Reasons; a reason not in Messages matches every message.
	Messages map[string]string `yaml:"messages,omitempty"`
	Window   model.Duration    `yaml:"window"`
	Help     string            `yaml:"help"`
}

// LabelDef defines a failure: at step time t an entity has failed when Expr
// is > 0 for it at t, or when an event with one of Reasons (and, for a
// reason in Messages, a message matching its pattern, as for
// EventFeature.Messages) occurred in the step (t-step, t]. At least one
// of Expr and Reasons is required.
type LabelDef struct {
	Name     string            `yaml:"name"`
	Expr     string            `yaml:"expr"`
	Reasons  []string          `yaml:"reasons"`
	Messages map[string]string `yaml:"messages,omitempty"`
	Help     string            `yaml:"help"`
}

// SetDefaults fills zero fields with the defaults. It leaves the feature,
// event feature and label lists alone.
func (c *Config) SetDefaults() {
	if len(c.EntityLabels) == 0 {
		c.EntityLabels = []string{"namespace", "pod"}
	}
	if c.Step == 0 {
		c.Step = model.Duration(DefaultStep)
	}
	if c.Lookback == 0 {
		c.Lookback = model.Duration(DefaultLookback)
	}
	if c.MaxSeries == 0 {
		c.MaxSeries = DefaultMaxSeries
	}
	for i := range c.EventFeatures {
		if c.EventFeatures[i].Window == 0 {
			c.EventFeatures[i].Window = model.Duration(DefaultEventWindow)
		}
	}
}

// ExpandExpr replaces EntityPlaceholder in expr with the entity labels.
func ExpandExpr(expr string, entityLabels []string) string {
	if !strings.Contains(expr, EntityPlaceholder) {
		return expr
	}
	return strings.ReplaceAll(expr, EntityPlaceholder, strings.Join(entityLabels, ", "))
}

// Resolved returns a copy of c with defaults applied and every expression's
// placeholder expanded: the concrete PromQL, e.g. to send to a remote
// Prometheus.
func (c Config) Resolved() Config {
	r := c
	r.EntityLabels = append([]string(nil), c.EntityLabels...)
	r.EventFeatures = append([]EventFeature(nil), c.EventFeatures...)
	r.SetDefaults()
	r.Features = make([]Feature, len(c.Features))
	for i, f := range c.Features {
		f.Expr = ExpandExpr(f.Expr, r.EntityLabels)
		r.Features[i] = f
	}
	r.Labels = make([]LabelDef, len(c.Labels))
	for i, l := range c.Labels {
		l.Expr = ExpandExpr(l.Expr, r.EntityLabels)
		r.Labels[i] = l
	}
	return r
}

// FeatureNames returns the names of the vector's columns: the PromQL
// features, then the event features.
func (c Config) FeatureNames() []string {
	names := make([]string, 0, len(c.Features)+len(c.EventFeatures))
	for _, f := range c.Features {
		names = append(names, f.Name)
	}
	for _, f := range c.EventFeatures {
		names = append(names, f.Name)
	}
	return names
}

// Names returns c.FeatureNames(): the column names of Vector.Values.
func Names(c Config) []string { return c.FeatureNames() }

// LabelNames returns the failure label names in order.
func (c Config) LabelNames() []string {
	names := make([]string, len(c.Labels))
	for i, l := range c.Labels {
		names[i] = l.Name
	}
	return names
}

func parseExpr(expr string) (parser.Expr, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, errors.New("empty expression")
	}
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", expr, err)
	}
	switch t := e.Type(); t {
	case parser.ValueTypeVector, parser.ValueTypeScalar:
		return e, nil
	default:
		return nil, fmt.Errorf("expression %q gives a %s, need an instant vector or a scalar", expr, t)
	}
}

// InstantFeatures reports, per PromQL feature, whether its expression
// reads only instant vectors (no range selector or subquery). Such a
// feature has no value once the entity's series are gone (stale, or past
// the lookback), while a range function keeps answering for its whole
// range: the instant features tell whether an entity is still there.
// An expression that does not parse counts as not instant.
func (c Config) InstantFeatures() []bool {
	out := make([]bool, len(c.Features))
	for i, f := range c.Features {
		e, err := parseExpr(ExpandExpr(f.Expr, c.EntityLabels))
		if err != nil {
			continue
		}
		instant := true
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			switch n.(type) {
			case *parser.MatrixSelector, *parser.SubqueryExpr:
				instant = false
			}
			return nil
		})
		out[i] = instant
	}
	return out
}

// history returns how far back before the evaluation time expr reads, with
// the given instant-vector lookback: d means the left-open (t-d, t].
func history(e parser.Expr, lookbackDelta time.Duration) time.Duration {
	const at = int64(1) << 40
	ts := time.UnixMilli(at)
	mint, maxt := promql.FindMinMaxTime(&parser.EvalStmt{Expr: e, Start: ts, End: ts, LookbackDelta: lookbackDelta})
	// FindMinMaxTime gives 0, 0 when there is no selector (a constant such
	// as "1" or "vector(1)").
	if (mint == 0 && maxt == 0) || mint >= at { // no selectors, or only future ones
		return 0
	}
	return time.Duration(at-mint+1) * time.Millisecond
}

// FieldError is one problem Validate found, with where it is: the key
// path of the configuration file it is about. Section is the top-level key
// ("entity_labels", "step", "lookback", "max_series", "features",
// "event_features" or "labels"); Index is the list item's index in it, or
// -1 when the error is about the section as a whole; Field is the key
// inside the item ("name", "expr", "reasons", "messages", "window"), or
// "" when the error is about the item as a whole; Key the map key inside
// Field (a reason of "messages"), or "". Err's message does not repeat the
// key (a caller placing the error at the key prints Path and Err, as the
// config package does); Error gives both, e.g. "lookback: must be at least
// 1m, got 30s".
type FieldError struct {
	Section string
	Index   int
	Field   string
	// Key is the key inside Field when Field is a map ("messages": the
	// reason), or "".
	Key string
	Err error
}

func (e *FieldError) Error() string {
	if p := e.Path(); p != "" {
		return p + ": " + e.Err.Error()
	}
	return e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// Path returns the key path, e.g. "features[2].expr" or
// "labels[0].messages.BackOff".
func (e *FieldError) Path() string {
	p := e.Section
	if e.Index >= 0 {
		p += fmt.Sprintf("[%d]", e.Index)
	}
	if e.Field != "" {
		p += "." + e.Field
	}
	if e.Key != "" {
		p += "." + e.Key
	}
	return p
}

// Validate checks c (with defaults applied to zero fields) and returns every
// problem found. Every error joined (errors.Join) is a *FieldError, so a
// caller can place it in a file; its message starts with its key path.
func (c Config) Validate() error {
	c.EntityLabels = append([]string(nil), c.EntityLabels...)
	c.EventFeatures = append([]EventFeature(nil), c.EventFeatures...)
	c.SetDefaults()
	var errs []error
	// at returns a function that reports a problem at section[index].field.
	at := func(section string, index int, field string) func(format string, args ...any) {
		return func(format string, args ...any) {
			errs = append(errs, &FieldError{Section: section, Index: index, Field: field, Err: fmt.Errorf(format, args...)})
		}
	}

	// entity holds the valid entity labels, each once: the expressions are
	// checked with them, so that an invalid or repeated entity label is
	// reported once, not again in every expression using ${entity}.
	var entity []string
	seenLabel := map[string]bool{}
	for i, l := range c.EntityLabels {
		switch {
		case !model.LegacyValidation.IsValidLabelName(l) || l == model.MetricNameLabel:
			at("entity_labels", i, "")("invalid label name %q", l)
		case seenLabel[l]:
			at("entity_labels", i, "")("%q given twice", l)
		default:
			entity = append(entity, l)
		}
		seenLabel[l] = true
	}
	step, lookback := time.Duration(c.Step), time.Duration(c.Lookback)
	if step <= 0 {
		at("step", -1, "")("must be positive, got %v", step)
	}
	if lookback < time.Minute {
		at("lookback", -1, "")("must be at least 1m, got %v", lookback)
	}
	// A step not shorter than lookback is reported once, at step, naming
	// both (which one is wrong cannot be told here), and not again in every
	// expression, each of which would then read "more than lookback minus
	// step". When step is under 1m, lookback is too and the error above
	// already says so.
	timing := step > 0 && step < lookback && lookback >= time.Minute
	if step > 0 && step >= lookback && step >= time.Minute {
		at("step", -1, "")("must be shorter than lookback %v, got %v", lookback, step)
	}
	if c.MaxSeries < 0 {
		at("max_series", -1, "")("must be positive, got %d", c.MaxSeries)
	}
	if len(c.Features)+len(c.EventFeatures) == 0 {
		at("features", -1, "")("none given: give features or event_features")
	}

	seen := map[string]string{}
	name := func(section string, i int, kind, n string) {
		bad := at(section, i, "name")
		if !model.LegacyValidation.IsValidMetricName(n) {
			bad("%s %q: name must match [a-zA-Z_:][a-zA-Z0-9_:]*", kind, n)
			return
		}
		if other, ok := seen[n]; ok {
			bad("%s %q: name already used by a %s", kind, n, other)
			return
		}
		seen[n] = kind
	}
	// Expressions that read more history than lookback allows: one is
	// reported at its expression; several at lookback, once, which is then
	// the likelier mistake (a lookback too short for the default features).
	type longExpr struct {
		section string
		i       int
		kind, n string
		need    time.Duration
	}
	var long []longExpr
	checkExpr := func(section string, i int, kind, n, expr string) {
		bad := at(section, i, "expr")
		if len(entity) == 0 && strings.Contains(expr, EntityPlaceholder) {
			// No valid entity label to put in: the entity_labels errors
			// say what to fix.
			return
		}
		e, err := parseExpr(ExpandExpr(expr, entity))
		if err != nil {
			bad("%s %q: %w", kind, n, err)
			return
		}
		if section == "labels" && len(parser.ExtractSelectors(e)) == 0 {
			bad("%s %q: reads no series, so it would mark every entity or none as failing", kind, n)
			return
		}
		if miss := missingEntityLabels(e, entity); len(miss) > 0 {
			bad("%s %q: its result cannot carry the entity label(s) %q, so every value would be dropped; keep them, e.g. sum by (${entity}) (…)", kind, n, miss)
		}
		// Evaluations lag the newest sample by about a step: keep a step
		// of margin.
		if need := history(e, DefaultLookbackDelta); timing && need+step > lookback {
			long = append(long, longExpr{section, i, kind, n, need})
		}
	}
	// checkMessages checks an item's message patterns, in the order of
	// their reasons, each at messages.<reason>.
	checkMessages := func(section string, i int, kind, n string, reasons []string, messages map[string]string) {
		for _, r := range slices.Sorted(maps.Keys(messages)) {
			bad := func(format string, args ...any) {
				errs = append(errs, &FieldError{Section: section, Index: i, Field: "messages", Key: r, Err: fmt.Errorf(format, args...)})
			}
			switch {
			case !slices.Contains(reasons, r):
				bad("%s %q: reason %q is not in reasons: list it there, a pattern only narrows a listed reason to the messages it matches", kind, n, r)
			case messages[r] == "":
				bad("%s %q: empty message pattern for reason %q: leave the reason out of messages to match every message", kind, n, r)
			default:
				if _, err := regexp.Compile(messages[r]); err != nil {
					bad("%s %q: message pattern %q for reason %q is not a valid regular expression (RE2 syntax): %w", kind, n, messages[r], r, err)
				}
			}
		}
	}
	for i, f := range c.Features {
		name("features", i, "feature", f.Name)
		checkExpr("features", i, "feature", f.Name, f.Expr)
	}
	for i, f := range c.EventFeatures {
		name("event_features", i, "event feature", f.Name)
		if len(f.Reasons) == 0 {
			at("event_features", i, "reasons")("event feature %q: no reasons", f.Name)
		}
		for _, r := range f.Reasons {
			if r == "" {
				at("event_features", i, "reasons")("event feature %q: empty reason", f.Name)
			}
		}
		checkMessages("event_features", i, "event feature", f.Name, f.Reasons, f.Messages)
		if f.Window <= 0 {
			at("event_features", i, "window")("event feature %q: window %v must be positive", f.Name, f.Window)
		}
	}
	for i, l := range c.Labels {
		name("labels", i, "label", l.Name)
		if l.Expr == "" && len(l.Reasons) == 0 {
			at("labels", i, "")("label %q: needs expr or reasons", l.Name)
		}
		if l.Expr != "" {
			checkExpr("labels", i, "label", l.Name, l.Expr)
		}
		for _, r := range l.Reasons {
			if r == "" {
				at("labels", i, "reasons")("label %q: empty reason", l.Name)
			}
		}
		checkMessages("labels", i, "label", l.Name, l.Reasons, l.Messages)
	}
	// An expression without a range selector reads history too: PromQL
	// takes an instant selector's newest sample within the lookback delta.
	instantNote := fmt.Sprintf(" (a selector without a range, e.g. go_goroutines, reads the %v before its step: PromQL's instant lookback; a range [d] reads d plus any offset)", DefaultLookbackDelta)
	switch len(long) {
	case 0:
	case 1:
		l := long[0]
		at(l.section, l.i, "expr")("%s %q: expression reads %v of history, more than lookback %v minus step %v%s", l.kind, l.n, l.need, lookback, step, instantNote)
	default:
		most := slices.MaxFunc(long, func(a, b longExpr) int { return cmp.Compare(a.need, b.need) })
		at("lookback", -1, "")("%v is too short for %d expressions, which read more history than lookback minus step (%v); the most is %s %q, %v: lookback must be at least %v%s",
			lookback, len(long), step, most.kind, most.n, most.need, most.need+step, instantNote)
	}
	return errors.Join(errs...)
}
