package storesource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/training/dataset"
)

// Reader is the part of *store.Store the source uses.
type Reader interface {
	Schema() (store.Schema, error)
	Entities() ([]store.EntityInfo, error)
	Vectors(entity string, from, to int64, fn func(store.Vector) error) error
}

// SchemaLister is implemented by a Reader that also lists every recorded
// schema version, oldest first (*store.Store does, and omen train's
// reader of a daemon's history, over api.HistoryClient).
// With it, Load reads the vectors of older schema versions too, mapped by
// name; without it, or when Schemas' error wraps store.ErrNotFound (a
// daemon that does not serve the list), only vectors of the current
// schema are read, and the others are skipped and counted.
type SchemaLister interface {
	Schemas() ([]store.Schema, error)
}

// Source loads per-entity series from a store.
type Source struct {
	Store Reader
	// Entities to load (default: every entity in the store). With a
	// list, no series is Born (dataset.Series.Born): the store's
	// entities, whose FirstSeen says it, are not listed.
	Entities []string
	// From and To bound the vectors (ms, inclusive).
	From, To int64
	// Step is the grid step in ms (required). A vector is placed on the
	// grid point nearest to its time; missing steps are NaN, unlabelled,
	// and not Present (dataset.Series.Present): training uses no window
	// ending there, as the daemon, which places the vectors on the same
	// grid, scores none.
	Step int64
	// Presence names the features whose value makes a stored vector a row
	// of the entity's history, as the daemon decides which vectors it puts
	// in its windows (app.PresenceFeatures: the instant PromQL features).
	// A vector with none of them (NaN) was stored only for its failure
	// label, the entity being absent: its step keeps the label but is a
	// missing row (NaN, not Present), as in the daemon's window. nil, or
	// no name of the current schema's features: every vector is a row.
	Presence []string
	// Features, when not nil, are the features the series are read into
	// instead of the current schema's (a configuration's, say): the
	// vectors of every schema version, the current one's too, are mapped
	// into them by name. A feature that no stored version has is missing
	// (NaN) throughout; the caller refuses that beforehand.
	Features []string
	// FeaturesOf names Features in messages (a configuration file, say).
	FeaturesOf string
	// Progress, when not nil, receives a line saying how many vectors
	// came from older schema versions (mapped by name) or were skipped,
	// when any did or were and Load returns series (else its error says
	// what was skipped); and a line counting the values read as missing
	// because they were beyond ±dataset.MaxValue (±Inf, or too large for
	// float32), when there were any.
	Progress io.Writer
}

// ErrNoData is wrapped by Load's error when the store holds no usable
// feature vectors in the range (or none at all). The error is then a
// *NoDataError.
var ErrNoData = errors.New("no feature data")

// NoDataError is Load's error when no series results. It wraps ErrNoData.
type NoDataError struct {
	// From and To are the range read (ms).
	From, To int64
	// Skipped counts the vectors in the range that could not be used, by
	// schema version; Why says why, by version. Both are empty when the
	// range holds no vector at all.
	Skipped map[uint32]int
	Why     map[uint32]string
	// Current is the current schema version (0 when there is none).
	Current uint32
	// other is whether the vectors were read into Source.Features, not
	// the current schema's: the current version's may be skipped too.
	other bool
}

func (e *NoDataError) Error() string {
	msg := fmt.Sprintf("store source: %v between %s and %s", ErrNoData,
		time.UnixMilli(e.From).UTC().Format(time.RFC3339), time.UnixMilli(e.To).UTC().Format(time.RFC3339))
	if d := e.SkippedDetail(); d != "" {
		msg += ": " + d
	}
	return msg
}

// Unwrap returns ErrNoData.
func (e *NoDataError) Unwrap() error { return ErrNoData }

// SkippedDetail describes the skipped vectors ("" when none were), e.g.
// "120 vectors of schema version 1 skipped (no feature in common with the
// current schema version 3)".
func (e *NoDataError) SkippedDetail() string {
	return skippedDetail(e.Skipped, e.Why, e.Current, e.other)
}

// byVersion returns the schema versions counted in counts, in order, and
// the sum of the counts.
func byVersion(counts map[uint32]int) (vers []uint32, total int) {
	vers = make([]uint32, 0, len(counts))
	for v, k := range counts {
		total += k
		vers = append(vers, v)
	}
	slices.Sort(vers)
	return vers, total
}

func skippedDetail(skipped map[uint32]int, why map[uint32]string, current uint32, other bool) string {
	if len(skipped) == 0 {
		return ""
	}
	vers, n := byVersion(skipped)
	parts := make([]string, len(vers))
	for i, v := range vers {
		parts[i] = fmt.Sprintf("version %d: %d, %s", v, skipped[v], why[v])
	}
	if other {
		return fmt.Sprintf("%d %s skipped (%s)", n, plural(n, "vector"), strings.Join(parts, "; "))
	}
	return fmt.Sprintf("%d %s of other schema versions than the current (%d) skipped (%s)",
		n, plural(n, "vector"), current, strings.Join(parts, "; "))
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// layout maps the values and labels of vectors of one schema version to
// the current schema's, by name.
type layout struct {
	cols   []int  // column in the current features of each value (-1: none)
	lcols  []int  // index in the current labels of each label (-1: none)
	why    string // why the version's vectors are skipped ("": usable)
	note   string // what an older version lacks, for the progress line
	shared int    // features in common with the current schema
	// same is whether the version has the current one's features and
	// labels (it may differ in the step it records, or be the layout
	// changed and changed back): its vectors need no mapping and are not
	// reported as mapped.
	same bool
}

// layouts returns the layout of every known schema version against cur,
// and whether the reader listed them. Without a list only cur's version
// is known.
func (s *Source) layouts(cur store.Schema, target []string) (map[uint32]*layout, bool, error) {
	all := []store.Schema{cur}
	listed := false
	if l, ok := s.Store.(SchemaLister); ok {
		ss, err := l.Schemas()
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, false, fmt.Errorf("store source: list schemas: %w", err)
		default:
			all = append(ss, cur) // cur last: it wins over a listed copy
			listed = true
		}
	}
	out := make(map[uint32]*layout, len(all))
	for _, sc := range all {
		l := &layout{cols: store.Columns(sc.Features, target), lcols: store.Columns(sc.Labels, cur.Labels)}
		l.shared = len(sc.Features) - count(l.cols, -1)
		// A step recorded other than the one read at (a daemon restarted
		// with another step) leaves rows between its vectors missing.
		otherStep := sc.StepMS != 0 && sc.StepMS != s.Step
		l.same = slices.Equal(sc.Features, target) && slices.Equal(sc.Labels, cur.Labels) && !otherStep
		// The current names the version lacks.
		missF := missing(target, sc.Features)
		missL := missing(cur.Labels, sc.Labels)
		switch {
		case l.shared == 0 && len(target) > 0:
			l.why = "no feature in common with " + s.into(cur.Version)
		case len(missL) == len(cur.Labels) && len(cur.Labels) > 0:
			// Its failures (under other label names, e.g. a renamed
			// one) would all train as "not failing".
			l.why = fmt.Sprintf("no failure label in common with the current schema version %d", cur.Version)
		}
		var notes []string
		if len(missF) > 0 {
			notes = append(notes, "without features "+strings.Join(missF, ", ")+" (missing)")
		}
		if len(missL) > 0 {
			notes = append(notes, "without labels "+strings.Join(missL, ", ")+" (not failing)")
		}
		if otherStep {
			notes = append(notes, fmt.Sprintf("stored at a step of %v, read at %v", time.Duration(sc.StepMS)*time.Millisecond, time.Duration(s.Step)*time.Millisecond))
		}
		l.note = strings.Join(notes, ", ")
		out[sc.Version] = l
	}
	return out, listed, nil
}

// into names the layout the vectors are mapped into: the current schema
// version's (current), or Features.
func (s *Source) into(current uint32) string {
	if s.Features != nil {
		if s.FeaturesOf != "" {
			return "the features of " + s.FeaturesOf
		}
		return "the features asked for"
	}
	return fmt.Sprintf("the current schema version %d", current)
}

// count is how many of xs are x.
func count(xs []int, x int) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// missing returns the names of want that have lacks.
func missing(want, have []string) []string {
	var out []string
	for j, i := range store.Columns(want, have) {
		if i < 0 {
			out = append(out, want[j])
		}
	}
	return out
}

// endedAfter is how many steps of silence before the newest vector of
// any entity in the range mean that an entity has ended.
const endedAfter = 4

// Load returns one series per entity that has at least one usable vector,
// sorted by entity, in the current schema's layout. Vectors of older
// schema versions (when the Reader is a SchemaLister) are mapped into it
// by name, as the daemon's scorer reads them: a feature their schema lacks
// is missing (NaN), a label it lacks is not failing, and a feature or
// label the current schema lacks is dropped. Vectors of a version unknown
// to the reader, of a version with no feature in common with the current
// one, or whose length differs from their schema's are skipped. A series
// whose entity was first seen (store.EntityInfo.FirstSeen) at or after
// From is Born: the daemon's window of it started empty.
func (s *Source) Load(ctx context.Context) ([]*dataset.Series, error) {
	if s.Store == nil || s.Step <= 0 || s.To < s.From {
		return nil, errors.New("store source: want a store, a positive step and From ≤ To")
	}
	schema, err := s.Store.Schema()
	if errors.Is(err, store.ErrNotFound) {
		// No schema: the store has never held a vector.
		return nil, &NoDataError{From: s.From, To: s.To}
	}
	if err != nil {
		return nil, fmt.Errorf("store source: read schema: %w", err)
	}
	if s.Features != nil && slices.Equal(s.Features, schema.Features) {
		// The current layout: read as without Features.
		cp := *s
		cp.Features = nil
		s = &cp
	}
	target := schema.Features
	if s.Features != nil {
		target = s.Features
	}
	layouts, listed, err := s.layouts(schema, target)
	if err != nil {
		return nil, err
	}
	unknown := "the reader does not list older schema versions"
	if listed {
		unknown = "the schema version is not recorded"
	}
	ents := s.Entities
	// The entities first seen within the range: their series start where
	// the daemon's windows of them started empty (dataset.Series.Born).
	var born map[string]bool
	if len(ents) == 0 {
		infos, err := s.Store.Entities()
		if err != nil {
			return nil, fmt.Errorf("store source: list entities: %w", err)
		}
		born = make(map[string]bool)
		for _, e := range infos {
			ents = append(ents, e.ID)
			if e.FirstSeen >= s.From {
				born[e.ID] = true
			}
		}
		sort.Strings(ents)
	}
	nf := len(target)
	presence := presenceSet(s.Presence, target)
	skipped, why := map[uint32]int{}, map[uint32]string{}
	mapped := map[uint32]int{}
	beyond := make([]int, nf) // values beyond ±dataset.MaxValue, by feature
	total := 0
	var out []*dataset.Series
	var lasts []int64 // each series' last vector time, ms
	newest := int64(math.MinInt64)
	for _, ent := range ents {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("store source: %w", err)
		}
		var vs []store.Vector
		err := s.Store.Vectors(ent, s.From, s.To, func(v store.Vector) error {
			l := layouts[v.Schema]
			switch {
			case l == nil:
				why[v.Schema] = unknown
			case l.why != "":
				why[v.Schema] = l.why
			case len(v.Values) != len(l.cols):
				why[v.Schema] = fmt.Sprintf("%d values where the schema has %d features", len(v.Values), len(l.cols))
			default:
				if !l.same {
					mapped[v.Schema]++
				}
				total++
				vs = append(vs, v)
				return nil
			}
			skipped[v.Schema]++
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("store source: read vectors of %q: %w", ent, err)
		}
		if len(vs) == 0 {
			continue
		}
		first, last := vs[0].T, vs[len(vs)-1].T
		steps := int((last-first+s.Step/2)/s.Step) + 1
		ser := &dataset.Series{Entity: ent, Features: slices.Clone(target), Start: first, Step: s.Step,
			Values: make([]float64, steps*nf), Labels: make([]bool, steps), Present: make([]bool, steps), Born: born[ent]}
		for i := range ser.Values {
			ser.Values[i] = math.NaN()
		}
		for _, v := range vs {
			i := int((v.T - first + s.Step/2) / s.Step)
			if i < 0 || i >= steps {
				continue
			}
			l := layouts[v.Schema]
			for k, f := range v.Failure {
				if f && k < len(l.lcols) && l.lcols[k] >= 0 {
					ser.Labels[i] = true
				}
			}
			if !present(v, l.cols, presence) {
				continue // an absent entity's: its label only
			}
			ser.Present[i] = true
			row := ser.Values[i*nf : (i+1)*nf]
			for j := range row {
				row[j] = math.NaN()
			}
			for k, j := range l.cols {
				if j < 0 {
					continue
				}
				if x := v.Values[k]; dataset.InRange(x) {
					row[j] = x
				} else {
					beyond[j]++ // ±Inf or beyond float32: missing
				}
			}
		}
		out = append(out, ser)
		lasts = append(lasts, last)
		newest = max(newest, last)
	}
	// Silent for more than a few steps before the newest vector of any
	// entity: the entity is gone (the daemon stores no vectors for
	// deleted pods). Not before To: offline training reads the store of a
	// stopped daemon, whose entities all fell silent at its stop and whose
	// histories stop there (their last windows' futures are unknown, not
	// known to hold no failure).
	for i, ser := range out {
		ser.Ended = lasts[i] < newest-endedAfter*s.Step
	}
	if len(out) == 0 {
		// The error says what was skipped.
		return nil, &NoDataError{From: s.From, To: s.To, Skipped: skipped, Why: why, Current: schema.Version, other: s.Features != nil}
	}
	s.report(mapped, total, skipped, why, layouts, schema.Version)
	s.reportBeyond(target, beyond)
	return out, nil
}

// presenceSet marks the columns of features named in names; nil when
// none is (every vector is a row: a configuration other than the one the
// history was stored with would otherwise drop every vector).
func presenceSet(names, features []string) []bool {
	var set []bool
	for _, i := range store.Columns(names, features) {
		if i >= 0 {
			if set == nil {
				set = make([]bool, len(features))
			}
			set[i] = true
		}
	}
	return set
}

// present reports whether v, whose values map to the current columns
// cols, has a value (not NaN) in one of the columns set marks, or set is
// nil: as the daemon's scorer, which maps stored vectors by name and
// leaves out those with none.
func present(v store.Vector, cols []int, set []bool) bool {
	if set == nil {
		return true
	}
	for k, j := range cols {
		if j >= 0 && set[j] && !math.IsNaN(v.Values[k]) {
			return true
		}
	}
	return false
}

// reportBeyond writes the progress line counting, by feature, the values
// read as missing because they were beyond ±dataset.MaxValue.
func (s *Source) reportBeyond(features []string, n []int) {
	if s.Progress == nil {
		return
	}
	var parts []string
	for j, c := range n {
		if c > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", features[j], c))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(s.Progress, "store source: values beyond ±%.4g (±Inf, or too large for the float32 the model computes in) read as missing: %s\n", dataset.MaxValue, strings.Join(parts, ", "))
	}
}

// report writes the progress line about older schema versions.
func (s *Source) report(mapped map[uint32]int, total int, skipped map[uint32]int, why map[uint32]string, layouts map[uint32]*layout, current uint32) {
	if s.Progress == nil || (len(mapped) == 0 && len(skipped) == 0) {
		return
	}
	var parts []string
	if len(mapped) > 0 {
		vers, n := byVersion(mapped)
		each := make([]string, len(vers))
		for i, v := range vers {
			each[i] = fmt.Sprintf("version %d: %d", v, mapped[v])
			if note := layouts[v].note; note != "" {
				each[i] += ", " + note
			}
		}
		from, into := "older schema versions", fmt.Sprintf("the current one (%d)", current)
		if s.Features != nil {
			from, into = "schema versions of other features", s.into(current)
		}
		parts = append(parts, fmt.Sprintf("%d of %d %s from %s, mapped by name into %s (%s)",
			n, total, plural(total, "vector"), from, into, strings.Join(each, "; ")))
	}
	if d := skippedDetail(skipped, why, current, s.Features != nil); d != "" {
		parts = append(parts, d)
	}
	fmt.Fprintf(s.Progress, "store source: %s\n", strings.Join(parts, "; "))
}
