package features

import (
	"slices"
	"sort"

	"github.com/prometheus/prometheus/promql/parser"
)

// labelBound is an upper bound of the label names an expression's result
// can carry: with any, every name but those in set; else only those in
// set.
type labelBound struct {
	any bool
	set map[string]bool
}

func (b labelBound) has(l string) bool { return b.any != b.set[l] }

func anyLabels(except ...string) labelBound {
	return labelBound{any: true, set: toSet(except)}
}

func onlyLabels(names ...string) labelBound {
	return labelBound{set: toSet(names)}
}

func toSet(names []string) map[string]bool {
	s := make(map[string]bool, len(names))
	for _, n := range names {
		s[n] = true
	}
	return s
}

// with adds names.
func (b labelBound) with(names ...string) labelBound {
	out := labelBound{any: b.any, set: map[string]bool{}}
	for n, v := range b.set {
		out.set[n] = v
	}
	for _, n := range names {
		if b.any {
			delete(out.set, n)
		} else {
			out.set[n] = true
		}
	}
	return out
}

// without removes names.
func (b labelBound) without(names ...string) labelBound {
	out := labelBound{any: b.any, set: map[string]bool{}}
	for n, v := range b.set {
		out.set[n] = v
	}
	for _, n := range names {
		if b.any {
			out.set[n] = true
		} else {
			delete(out.set, n)
		}
	}
	return out
}

// keep intersects with names.
func (b labelBound) keep(names ...string) labelBound {
	var kept []string
	for _, n := range names {
		if b.has(n) {
			kept = append(kept, n)
		}
	}
	return onlyLabels(kept...)
}

// union of two bounds.
func (b labelBound) union(o labelBound) labelBound {
	switch {
	case b.any && o.any: // excluded by both
		var ex []string
		for n := range b.set {
			if o.set[n] {
				ex = append(ex, n)
			}
		}
		return anyLabels(ex...)
	case b.any:
		return b.with(sortedNames(o.set)...)
	case o.any:
		return o.with(sortedNames(b.set)...)
	}
	return b.with(sortedNames(o.set)...)
}

func sortedNames(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// resultLabels bounds the label names of e's result from its structure:
// aggregations keep their grouping, one-to-one vector matching on() keeps
// the matching labels, label_replace and label_join add one; everything
// else keeps its input's labels (an upper bound: a function may drop
// some).
func resultLabels(e parser.Expr) labelBound {
	switch e := e.(type) {
	case *parser.ParenExpr:
		return resultLabels(e.Expr)
	case *parser.StepInvariantExpr:
		return resultLabels(e.Expr)
	case *parser.UnaryExpr:
		return resultLabels(e.Expr)
	case *parser.SubqueryExpr:
		return resultLabels(e.Expr)
	case *parser.MatrixSelector:
		return resultLabels(e.VectorSelector)
	case *parser.VectorSelector:
		return anyLabels()
	case *parser.NumberLiteral, *parser.StringLiteral:
		return onlyLabels()
	case *parser.AggregateExpr:
		inner := resultLabels(e.Expr)
		switch e.Op {
		case parser.TOPK, parser.BOTTOMK, parser.LIMITK, parser.LIMIT_RATIO:
			return inner // the input's series, unchanged
		}
		var b labelBound
		if e.Without {
			b = inner.without(e.Grouping...)
		} else {
			b = inner.keep(e.Grouping...)
		}
		if e.Op == parser.COUNT_VALUES {
			if s, ok := e.Param.(*parser.StringLiteral); ok {
				b = b.with(s.Val)
			}
		}
		return b
	case *parser.Call:
		switch e.Func.Name {
		case "vector", "time", "pi", "scalar":
			return onlyLabels()
		case "label_replace", "label_join":
			b := resultLabels(e.Args[0])
			if s, ok := unparen(e.Args[1]).(*parser.StringLiteral); ok {
				b = b.with(s.Val)
			} else {
				b = anyLabels()
			}
			return b
		}
		for _, a := range e.Args {
			if t := a.Type(); t == parser.ValueTypeVector || t == parser.ValueTypeMatrix {
				return resultLabels(a)
			}
		}
		return anyLabels()
	case *parser.BinaryExpr:
		lt, rt := e.LHS.Type(), e.RHS.Type()
		switch {
		case lt != parser.ValueTypeVector && rt != parser.ValueTypeVector:
			return onlyLabels()
		case lt != parser.ValueTypeVector:
			return resultLabels(e.RHS)
		case rt != parser.ValueTypeVector:
			return resultLabels(e.LHS)
		}
		l, r := resultLabels(e.LHS), resultLabels(e.RHS)
		m := e.VectorMatching
		if m == nil {
			return l.union(r)
		}
		switch {
		case e.Op == parser.LOR:
			return l.union(r)
		case e.Op == parser.LAND || e.Op == parser.LUNLESS:
			return l
		case m.Card == parser.CardOneToOne && m.On:
			return l.keep(m.MatchingLabels...)
		case m.Card == parser.CardOneToOne:
			return l.without(m.MatchingLabels...)
		case m.Card == parser.CardManyToOne:
			return l.with(m.Include...)
		case m.Card == parser.CardOneToMany:
			return r.with(m.Include...)
		}
		return l.union(r)
	}
	return anyLabels()
}

func unparen(e parser.Expr) parser.Expr {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}

// missingEntityLabels returns the entity labels e's result cannot carry
// (nil for a scalar result, which applies to every entity).
func missingEntityLabels(e parser.Expr, entityLabels []string) []string {
	if e.Type() != parser.ValueTypeVector {
		return nil
	}
	return slices.Clip(missingIn(e, entityLabels))
}

// missingIn returns the entity labels e's result series cannot carry. The
// series of `l or r` are l's and r's, each unchanged (promql's VectorOr),
// so no series carries a label that only the other side has: when `or` is
// the outermost operation (through parentheses and operations that keep
// their input's series' labels), it is enough that one side carries them
// all, and otherwise the side missing fewer is reported. Below anything
// else (an aggregation, a vector match), the bound of resultLabels, where
// `or` is the union of both sides, applies.
func missingIn(e parser.Expr, ent []string) []string {
	switch e := e.(type) {
	case *parser.ParenExpr:
		return missingIn(e.Expr, ent)
	case *parser.StepInvariantExpr:
		return missingIn(e.Expr, ent)
	case *parser.UnaryExpr:
		return missingIn(e.Expr, ent)
	case *parser.SubqueryExpr:
		return missingIn(e.Expr, ent)
	case *parser.AggregateExpr:
		switch e.Op {
		case parser.TOPK, parser.BOTTOMK, parser.LIMITK, parser.LIMIT_RATIO:
			return missingIn(e.Expr, ent) // the input's series, unchanged
		}
	case *parser.Call:
		switch e.Func.Name {
		case "vector", "time", "pi", "scalar", "label_replace", "label_join":
		default:
			for _, a := range e.Args {
				if t := a.Type(); t == parser.ValueTypeVector || t == parser.ValueTypeMatrix {
					return missingIn(a, ent)
				}
			}
		}
	case *parser.BinaryExpr:
		lv, rv := e.LHS.Type() == parser.ValueTypeVector, e.RHS.Type() == parser.ValueTypeVector
		switch {
		case lv && !rv:
			return missingIn(e.LHS, ent)
		case rv && !lv:
			return missingIn(e.RHS, ent)
		case lv && e.Op == parser.LOR:
			l, r := missingIn(e.LHS, ent), missingIn(e.RHS, ent)
			if len(r) < len(l) {
				return r
			}
			return l
		case lv && (e.Op == parser.LAND || e.Op == parser.LUNLESS):
			return missingIn(e.LHS, ent) // the left side's series
		}
	}
	b := resultLabels(e)
	var missing []string
	for _, l := range ent {
		if !b.has(l) {
			missing = append(missing, l)
		}
	}
	return missing
}
