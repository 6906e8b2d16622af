package features

import (
	"maps"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/schema"
)

// labelBound is an upper bound of the label names a series can carry:
// with any, every name but those in set; else only those in set.
type labelBound struct {
	any bool
	set map[string]bool
}

func (b labelBound) has(l string) bool { return b.any != b.set[l] }

func anyLabels(except ...string) labelBound { return labelBound{any: true}.mark(false, except...) }

func onlyLabels(names ...string) labelBound { return labelBound{}.mark(true, names...) }

// mark returns b with names carried (carry) or not.
func (b labelBound) mark(carry bool, names ...string) labelBound {
	out := labelBound{any: b.any, set: maps.Clone(b.set)}
	if out.set == nil {
		out.set = map[string]bool{}
	}
	for _, n := range names {
		if carry != b.any {
			out.set[n] = true
		} else {
			delete(out.set, n)
		}
	}
	return out
}

// merge returns the bound carrying n where f(b.has(n), o.has(n)): a name
// in neither set behaves as any does on each side.
func (b labelBound) merge(o labelBound, f func(x, y bool) bool) labelBound {
	out := labelBound{any: f(b.any, o.any), set: map[string]bool{}}
	for _, s := range []map[string]bool{b.set, o.set} {
		for n := range s {
			if f(b.has(n), o.has(n)) != out.any {
				out.set[n] = true
			}
		}
	}
	return out
}

func both(x, y bool) bool   { return x && y }
func either(x, y bool) bool { return x || y }

// within reports whether every name b can carry o can carry too.
func (b labelBound) within(o labelBound) bool {
	return o.merge(b, func(x, y bool) bool { return x || !y }).equal(anyLabels())
}

func (b labelBound) equal(o labelBound) bool { return b.any == o.any && maps.Equal(b.set, o.set) }

// missing returns the names of ent that b cannot carry.
func (b labelBound) missing(ent []string) []string {
	var out []string
	for _, l := range ent {
		if !b.has(l) {
			out = append(out, l)
		}
	}
	return out
}

// shapes are the alternatives for the labels of an expression's result
// series: each series fits (at least) one. They differ where series come
// from different places, as the two sides of `or` do: promql's VectorOr
// keeps each series' labels, so a label only one side has is never
// joined to a label only the other has, and that stays so through any
// operation above the `or` (each maps one series' labels, or a group's
// which all its series share).
type shapes []labelBound

// maxShapes caps the alternatives (a product of `or`s grows them): past
// it they are merged into one bound, which can only accept more.
const maxShapes = 32

// add appends b unless a shape already covers it; b replaces the shapes
// it covers, in the place of the first. Every operation is monotone in
// its input bound, so a covered shape never carries a label its cover
// cannot.
func (s shapes) add(b labelBound) shapes {
	for _, o := range s {
		if b.within(o) {
			return s
		}
	}
	i := slices.IndexFunc(s, func(o labelBound) bool { return o.within(b) })
	if i < 0 {
		return append(s, b)
	}
	s[i] = b
	return slices.DeleteFunc(s, func(o labelBound) bool { return o.within(b) && !o.equal(b) })
}

func (s shapes) each(f func(labelBound) labelBound) shapes {
	var out shapes
	for _, b := range s {
		out = out.add(f(b))
	}
	return out
}

func (s shapes) capped() shapes {
	if len(s) <= maxShapes {
		return s
	}
	u := s[0]
	for _, b := range s[1:] {
		u = u.merge(b, either)
	}
	return shapes{u}
}

// resultShapes bounds the labels of e's result series from its structure,
// in one walk. It is exact where promql's rules fix the labels and an
// upper bound (permissive) where they depend on data:
//
//   - a selector may carry any label but those it requires empty
//     (l=""); literals, scalars and vector() carry none;
//   - an aggregation keeps its `by` labels or drops its `without` ones
//     (topk, bottomk, limitk and limit_ratio return their input series);
//     count_values sets its label before grouping;
//   - absent and absent_over_time carry only the labels fixed by their
//     selector's single equality matchers;
//   - label_replace and label_join set or delete their destination;
//     histogram_quantiles adds its label; info may add any;
//   - vector matching: a label in the signature (on(…), or every label
//     but ignoring(…) ones) has equal values on both sides, so the result
//     carries it only if both sides can; one-to-one keeps the on labels
//     or drops the ignoring ones; group_left/right keep the many side's
//     and take each group_x label from the one side (deleted where that
//     side has none); `and` keeps the left side's matched series,
//     `unless` the left side's, `or` either side's;
//   - every other function keeps its vector argument's labels, or has
//     none without one (vector(), hour(), …).
func resultShapes(e parser.Expr) shapes {
	if t := e.Type(); t == parser.ValueTypeScalar || t == parser.ValueTypeString {
		return shapes{onlyLabels()}
	}
	switch e := e.(type) {
	case *parser.ParenExpr:
		return resultShapes(e.Expr)
	case *parser.StepInvariantExpr:
		return resultShapes(e.Expr)
	case *parser.UnaryExpr:
		return resultShapes(e.Expr)
	case *parser.SubqueryExpr:
		return resultShapes(e.Expr)
	case *parser.MatrixSelector:
		return resultShapes(e.VectorSelector)
	case *parser.VectorSelector:
		b := anyLabels()
		for _, m := range e.LabelMatchers {
			if m.Type == labels.MatchEqual && m.Value == "" {
				b = b.mark(false, m.Name) // selects series without it
			}
		}
		return shapes{b}
	case *parser.AggregateExpr:
		return aggregateShapes(e)
	case *parser.Call:
		return callShapes(e)
	case *parser.BinaryExpr:
		return binaryShapes(e)
	}
	return shapes{anyLabels()}
}

func aggregateShapes(e *parser.AggregateExpr) shapes {
	in := resultShapes(e.Expr)
	switch e.Op {
	case parser.TOPK, parser.BOTTOMK, parser.LIMITK, parser.LIMIT_RATIO:
		return in // the input's series, unchanged
	}
	grouping := e.Grouping
	if e.Op == parser.COUNT_VALUES {
		// The value label is set on each series (never empty) before
		// grouping, which a `by` extends with it: `without` can drop it.
		v := stringArg(e.Param)
		in = in.each(func(b labelBound) labelBound { return b.mark(true, v) })
		if !e.Without {
			grouping = append(slices.Clip(grouping), v)
		}
	}
	return in.each(func(b labelBound) labelBound {
		if e.Without {
			return b.mark(false, grouping...)
		}
		return b.merge(onlyLabels(grouping...), both)
	})
}

func callShapes(e *parser.Call) shapes {
	switch e.Func.Name {
	case "absent", "absent_over_time":
		return shapes{onlyLabels(absentLabels(e.Args[0])...)}
	case "info":
		// Adds the data labels of whatever info series match: unknown
		// here.
		return shapes{anyLabels()}
	}
	var in shapes
	for _, a := range e.Args {
		if t := a.Type(); t == parser.ValueTypeVector || t == parser.ValueTypeMatrix {
			in = resultShapes(a)
			break
		}
	}
	if in == nil { // vector(s), and hour() etc. at the evaluation time
		return shapes{onlyLabels()}
	}
	switch e.Func.Name {
	case "label_replace":
		// Where the regex matches the source value, the destination is set
		// to the expanded replacement, or deleted when that is empty;
		// elsewhere it is left alone. Whether a regex matches, or "$1"
		// expands to "", depends on the values: only a replacement that is
		// the empty string is known to never set it.
		dst, repl := stringArg(e.Args[1]), stringArg(e.Args[2])
		return in.each(func(b labelBound) labelBound { return b.mark(b.has(dst) || repl != "", dst) })
	case "label_join":
		// The destination is set to the joined source values, and deleted
		// when that string is empty: with no source label the series can
		// carry and at most one separator-free part.
		dst, sep := stringArg(e.Args[1]), stringArg(e.Args[2])
		var src []string
		for _, a := range e.Args[3:] {
			src = append(src, stringArg(a))
		}
		return in.each(func(b labelBound) labelBound {
			set := len(src) > 1 && sep != ""
			for _, s := range src {
				set = set || b.has(s)
			}
			return b.mark(set, dst)
		})
	case "histogram_quantiles":
		l := stringArg(e.Args[1])
		return in.each(func(b labelBound) labelBound { return b.mark(true, l) })
	}
	// histogram_quantile drops le from classic buckets but not from a
	// native histogram's labels: le is kept as possible.
	return in
}

// absentLabels returns the labels absent() gives its one series, as
// promql's createLabelsForAbsentFunction does: those of a selector
// argument (not parenthesised) matched by equality to a non-empty value,
// unless a later matcher names them again.
func absentLabels(arg parser.Expr) []string {
	var ms []*labels.Matcher
	switch a := arg.(type) {
	case *parser.VectorSelector:
		ms = a.LabelMatchers
	case *parser.MatrixSelector:
		if vs, ok := a.VectorSelector.(*parser.VectorSelector); ok {
			ms = vs.LabelMatchers
		}
	}
	set, seen := map[string]bool{}, map[string]bool{}
	for _, m := range ms {
		if schema.IsMetadataLabel(m.Name) {
			continue
		}
		set[m.Name] = m.Type == labels.MatchEqual && !seen[m.Name] && m.Value != ""
		seen[m.Name] = seen[m.Name] || m.Type == labels.MatchEqual
	}
	var out []string
	for n, ok := range set {
		if ok {
			out = append(out, n)
		}
	}
	return out
}

func binaryShapes(e *parser.BinaryExpr) shapes {
	lv, rv := e.LHS.Type() == parser.ValueTypeVector, e.RHS.Type() == parser.ValueTypeVector
	switch {
	case !rv:
		return resultShapes(e.LHS)
	case !lv:
		return resultShapes(e.RHS)
	}
	l, r := resultShapes(e.LHS), resultShapes(e.RHS)
	if e.Op == parser.LOR {
		out := slices.Clone(l)
		for _, b := range r {
			out = out.add(b)
		}
		return out.capped()
	}
	if e.Op == parser.LUNLESS {
		return l // the left side's unmatched series
	}
	m := e.VectorMatching
	if m == nil { // not produced by the parser for two vectors
		m = &parser.VectorMatching{Card: parser.CardOneToOne}
	}
	var out shapes
	pair := func(lb, rb labelBound) {
		out = out.add(matchResult(e.Op, m, lb, rb))
	}
	for _, lb := range l {
		for _, rb := range r {
			pair(lb, rb)
		}
	}
	// A fill modifier pairs an unmatched series with a made-up one
	// (parser.Options.EnableBinopFillModifiers): as if the other side
	// could carry anything.
	if m.FillValues.RHS != nil || m.FillValues.LHS != nil {
		for _, lb := range l {
			pair(lb, anyLabels())
		}
		for _, rb := range r {
			pair(anyLabels(), rb)
		}
	}
	return out.capped()
}

// matchResult bounds the labels of a series of `l op r` with matching m
// (not `or`, `unless`).
func matchResult(op parser.ItemType, m *parser.VectorMatching, l, r labelBound) labelBound {
	many, one := l, r
	if m.Card == parser.CardOneToMany {
		many, one = r, l
	}
	// Outside the signature a label is free; in it, its value is equal
	// on both sides (missing = ""), so it is carried only if both can.
	outside := onlyLabels(append([]string{model.MetricNameLabel, model.MetricTypeLabel, model.MetricUnitLabel}, m.MatchingLabels...)...)
	if m.On {
		outside = anyLabels(m.MatchingLabels...)
	}
	b := many.merge(one.merge(outside, either), both)
	switch {
	case op == parser.LAND:
	case m.Card == parser.CardOneToOne && m.On:
		b = b.merge(onlyLabels(m.MatchingLabels...), both)
	case m.Card == parser.CardOneToOne:
		b = b.mark(false, m.MatchingLabels...)
	}
	for _, n := range m.Include {
		b = b.mark(one.has(n), n)
	}
	return b
}

// stringArg returns a string argument's value: the parser gives string
// arguments only as literals, perhaps parenthesised.
func stringArg(e parser.Expr) string {
	for {
		switch s := e.(type) {
		case *parser.ParenExpr:
			e = s.Expr
		case *parser.StringLiteral:
			return s.Val
		default:
			return ""
		}
	}
}

// missingEntityLabels returns the entity labels e's result cannot carry
// (nil for a scalar result, which applies to every entity): nil if one
// shape can carry them all, else the missing labels of the shape missing
// fewest (the first of those).
func missingEntityLabels(e parser.Expr, entityLabels []string) []string {
	if e.Type() != parser.ValueTypeVector {
		return nil
	}
	var best []string
	for i, b := range resultShapes(e) {
		miss := b.missing(entityLabels)
		if len(miss) == 0 {
			return nil
		}
		if i == 0 || len(miss) < len(best) {
			best = miss
		}
	}
	return slices.Clip(best)
}
