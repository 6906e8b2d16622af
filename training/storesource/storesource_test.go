package storesource

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/omen-sre/omen/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLoadFromStore(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	st, err := store.Open(store.Options{Path: t.TempDir(), NoSync: true, Retention: 1000 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.PutSchema([]string{"cpu", "mem"}, []string{"crashloop"}); err != nil {
		t.Fatal(err)
	}
	const step = 60_000
	base := now.UnixMilli() - 10*step
	var vs []store.Vector
	for i, tt := range []int{0, 1, 3, 4} { // step 2 missing
		vs = append(vs, store.Vector{Entity: "ns/a", T: base + int64(tt)*step + 7, Values: []float64{float64(i), 10 * float64(i)}, Failure: []bool{tt == 4}})
	}
	vs = append(vs, store.Vector{Entity: "ns/b", T: base, Values: []float64{1, 2}, Failure: []bool{false}},
		store.Vector{Entity: "ns/b", T: base + step, Values: []float64{3, 4}, Failure: []bool{false}})
	if err := st.PutVectors(vs); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"ns/a", "ns/b"} {
		if err := st.PutEntity(e, map[string]string{"pod": e}, base); err != nil {
			t.Fatal(err)
		}
	}
	src := &Source{Store: st, From: base - step, To: now.UnixMilli(), Step: step}
	got, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Entity != "ns/a" || got[1].Entity != "ns/b" {
		t.Fatalf("series %+v", got)
	}
	a := got[0]
	if !reflect.DeepEqual(a.Features, []string{"cpu", "mem"}) || a.Steps() != 5 || a.Step != step {
		t.Fatalf("series a: features %v steps %d step %d", a.Features, a.Steps(), a.Step)
	}
	if !math.IsNaN(a.Values[4]) || a.Values[6] != 2 || a.Values[9] != 30 {
		t.Fatalf("values %v", a.Values)
	}
	if want := []bool{false, false, false, false, true}; !reflect.DeepEqual(a.Labels, want) {
		t.Fatalf("labels %v, want %v", a.Labels, want)
	}
	only := &Source{Store: st, Entities: []string{"ns/b"}, From: base, To: base, Step: step}
	if got, err := only.Load(context.Background()); err != nil || len(got) != 1 || got[0].Steps() != 1 {
		t.Fatalf("entity filter and range: %+v, %v", got, err)
	}
	if _, err := (&Source{Store: st, From: 0, To: 1, Step: step}).Load(context.Background()); !errors.Is(err, ErrNoData) ||
		!strings.Contains(err.Error(), "no feature data between 1970-01-01T00:00:00Z and 1970-01-01T00:00:00Z") {
		t.Fatalf("empty range: %v, want ErrNoData with RFC 3339 times", err)
	}
	empty, err := store.Open(store.Options{Path: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { empty.Close() })
	if _, err := (&Source{Store: empty, From: 0, To: 1, Step: step}).Load(context.Background()); !errors.Is(err, ErrNoData) {
		t.Fatalf("store without a schema: %v, want ErrNoData", err)
	}
	if _, err := (&Source{Store: st, From: 0, To: 1}).Load(context.Background()); err == nil {
		t.Fatal("zero step accepted")
	}
}

// schemaStep is a run of vectors put under one schema.
type schemaStep struct {
	features, labels []string
	step             time.Duration // recorded with the schema (0: none)
	// rows are the vectors of entity ns/x, one a step, in order.
	rows []row
}

type row struct {
	values  []float64
	failure []bool
}

// historyWith puts each step's schema and then its vectors, one grid step
// after the other, and returns the store and the first vector's time.
func historyWith(t *testing.T, steps []schemaStep) (*store.Store, int64) {
	t.Helper()
	now := time.UnixMilli(100_000_000)
	st, err := store.Open(store.Options{Path: t.TempDir(), NoSync: true, Retention: 1000 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	base := now.UnixMilli() - 100*testStep
	i := 0
	for _, s := range steps {
		if err := st.PutSchemaStep(s.features, s.labels, s.step); err != nil {
			t.Fatal(err)
		}
		var vs []store.Vector
		for _, r := range s.rows {
			vs = append(vs, store.Vector{Entity: "ns/x", T: base + int64(i)*testStep, Values: r.values, Failure: r.failure})
			i++
		}
		if err := st.PutVectors(vs); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutEntity("ns/x", nil, base); err != nil {
		t.Fatal(err)
	}
	return st, base
}

const testStep = 60_000

// currentOnly is a Reader without SchemaLister (as a reader of a daemon
// that cannot list its schemas).
type currentOnly struct{ r Reader }

func (c currentOnly) Schema() (store.Schema, error)         { return c.r.Schema() }
func (c currentOnly) Entities() ([]store.EntityInfo, error) { return c.r.Entities() }
func (c currentOnly) Vectors(e string, from, to int64, fn func(store.Vector) error) error {
	return c.r.Vectors(e, from, to, fn)
}

// unlisted is a SchemaLister whose list is not found (a daemon that does
// not serve it).
type unlisted struct{ currentOnly }

func (unlisted) Schemas() ([]store.Schema, error) {
	return nil, fmt.Errorf("schemas: %w", store.ErrNotFound)
}

// TestLoadOlderSchemas: vectors of every schema version are read, mapped
// by feature and label name into the current schema's layout (a schema
// change, even one reverted, left all earlier history untrainable).
func TestLoadOlderSchemas(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name     string
		steps    []schemaStep
		reader   func(*store.Store) Reader // nil: the store
		start    int                       // the series' first step, in steps after the first vector
		features []string
		values   []float64 // want, time-major (NaN: missing)
		labels   []bool
		progress []string // substrings of the progress line ("" none)
		noData   []string // substrings of the NoDataError, when one is wanted
	}{
		{
			name: "features reordered, replaced and added",
			steps: []schemaStep{
				{features: []string{"a", "b", "c"}, labels: []string{"crash", "oom"}, rows: []row{
					{[]float64{1, 2, 3}, []bool{false, false}},
					{[]float64{4, 5, 6}, []bool{true, false}}, // crash: no longer a label
					{[]float64{7, 8, 9}, []bool{false, true}},
				}},
				{features: []string{"c", "a", "d"}, labels: []string{"oom", "evicted"}, rows: []row{
					{[]float64{10, 11, 12}, []bool{false, false}},
					{[]float64{13, 14, 15}, []bool{false, true}},
				}},
			},
			features: []string{"c", "a", "d"},
			values:   []float64{3, 1, nan, 6, 4, nan, 9, 7, nan, 10, 11, 12, 13, 14, 15},
			labels:   []bool{false, false, true, false, true},
			progress: []string{"store source: 3 of 5 vectors from older schema versions, mapped by name into the current one (2) (version 1: 3, without features d (missing), without labels evicted (not failing))"},
		},
		{
			// The model computes in float32, where these are ±Inf and
			// read as missing: the series says so, and the line counts them.
			name: "values beyond float32",
			steps: []schemaStep{
				{features: []string{"a", "b"}, labels: []string{"crash"}, rows: []row{
					{[]float64{1, 1e39}, []bool{false}},
					{[]float64{math.Inf(-1), 3e38}, []bool{false}},
					{[]float64{-1e300, math.Inf(1)}, []bool{false}},
				}},
			},
			features: []string{"a", "b"},
			values:   []float64{1, nan, nan, 3e38, nan, nan},
			labels:   []bool{false, false, false},
			progress: []string{"store source: values beyond ±3.403e+38 (±Inf, or too large for the float32 the model computes in) read as missing: a 2, b 2\n"},
		},
		{
			name: "schema changed and changed back",
			steps: []schemaStep{
				{features: []string{"a", "b"}, labels: []string{"crash"}, rows: []row{
					{[]float64{1, 2}, []bool{false}},
					{[]float64{3, 4}, []bool{true}},
				}},
				{features: []string{"a", "b", "z"}, labels: []string{"crash"}, rows: []row{
					{[]float64{5, 6, 7}, []bool{false}},
				}},
				{features: []string{"a", "b"}, labels: []string{"crash"}, rows: []row{
					{[]float64{8, 9}, []bool{true}},
				}},
			},
			features: []string{"a", "b"},
			values:   []float64{1, 2, 3, 4, 5, 6, 8, 9},
			labels:   []bool{false, true, false, true},
			// Version 1 has the current layout: only version 2's vector
			// is mapped.
			progress: []string{"store source: 1 of 4 vectors from older schema versions, mapped by name into the current one (3) (version 2: 1)"},
		},
		{
			// An upgrade records the step in a new schema version of
			// the same layout: nothing is mapped or reported.
			name: "same layout, step recorded",
			steps: []schemaStep{
				{features: []string{"a", "b"}, labels: []string{"crash"}, rows: []row{
					{[]float64{1, 2}, []bool{false}},
				}},
				{features: []string{"a", "b"}, labels: []string{"crash"}, step: time.Minute, rows: []row{
					{[]float64{3, 4}, []bool{true}},
				}},
			},
			features: []string{"a", "b"},
			values:   []float64{1, 2, 3, 4},
			labels:   []bool{false, true},
		},
		{
			// A daemon restarted with another step: the older vectors
			// are reported, with both steps (reviewer's finding: they
			// were merged without a word).
			name: "same layout, other step",
			steps: []schemaStep{
				{features: []string{"a", "b"}, labels: []string{"crash"}, step: 30 * time.Second, rows: []row{
					{[]float64{1, 2}, []bool{false}},
				}},
				{features: []string{"a", "b"}, labels: []string{"crash"}, step: time.Minute, rows: []row{
					{[]float64{3, 4}, []bool{true}},
				}},
			},
			features: []string{"a", "b"},
			values:   []float64{1, 2, 3, 4},
			labels:   []bool{false, true},
			progress: []string{"store source: 1 of 2 vectors from older schema versions, mapped by name into the current one (2) (version 1: 1, stored at a step of 30s, read at 1m0s)"},
		},
		{
			name: "reader without schema list skips older versions",
			steps: []schemaStep{
				{features: []string{"a"}, labels: []string{"crash"}, rows: []row{{[]float64{1}, []bool{false}}}},
				{features: []string{"b", "a"}, labels: []string{"crash"}, rows: []row{{[]float64{2, 3}, []bool{true}}}},
			},
			reader:   func(st *store.Store) Reader { return currentOnly{st} },
			start:    1,
			features: []string{"b", "a"},
			values:   []float64{2, 3},
			labels:   []bool{true},
			progress: []string{"store source: 1 vector of other schema versions than the current (2) skipped (version 1: 1, the reader does not list older schema versions)"},
		},
		{
			name: "schema list not found skips older versions",
			steps: []schemaStep{
				{features: []string{"a"}, labels: []string{"crash"}, rows: []row{{[]float64{1}, []bool{false}}}},
				{features: []string{"b", "a"}, labels: []string{"crash"}, rows: []row{{[]float64{2, 3}, []bool{true}}}},
			},
			reader:   func(st *store.Store) Reader { return unlisted{currentOnly{st}} },
			start:    1,
			features: []string{"b", "a"},
			values:   []float64{2, 3},
			labels:   []bool{true},
			progress: []string{"store source: 1 vector of other schema versions than the current (2) skipped (version 1: 1, the reader does not list older schema versions)"},
		},
		{
			// A renamed failure label: the older failures would all train
			// as "not failing" (reviewer's finding): the older version is
			// skipped, saying why.
			name: "no failure label in common",
			steps: []schemaStep{
				{features: []string{"a"}, labels: []string{"module_load_failed"}, rows: []row{
					{[]float64{1}, []bool{false}}, {[]float64{2}, []bool{true}},
				}},
				{features: []string{"a"}, labels: []string{"module_load_failure"}, rows: []row{{[]float64{3}, []bool{true}}}},
			},
			start:    2,
			features: []string{"a"},
			values:   []float64{3},
			labels:   []bool{true},
			progress: []string{"(version 1: 2, no failure label in common with the current schema version 2)"},
		},
		{
			name: "no feature in common",
			steps: []schemaStep{
				{features: []string{"x"}, labels: []string{"crash"}, rows: []row{{[]float64{1}, []bool{false}}, {[]float64{2}, []bool{false}}}},
				{features: []string{"y"}, labels: []string{"crash"}},
			},
			noData: []string{"no feature data between", ": 2 vectors of other schema versions than the current (2) skipped (version 1: 2, no feature in common with the current schema version 2)"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, base := historyWith(t, c.steps)
			var r Reader = st
			if c.reader != nil {
				r = c.reader(st)
			}
			var progress strings.Builder
			src := &Source{Store: r, From: base - testStep, To: base + 10*testStep, Step: testStep, Progress: &progress}
			got, err := src.Load(context.Background())
			if c.noData != nil {
				var nd *NoDataError
				if !errors.Is(err, ErrNoData) || !errors.As(err, &nd) {
					t.Fatalf("err %v, want a NoDataError", err)
				}
				for _, s := range c.noData {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%d series, want 1", len(got))
			}
			s := got[0]
			if start := base + int64(c.start)*testStep; !reflect.DeepEqual(s.Features, c.features) || s.Start != start {
				t.Errorf("features %v start %d, want %v %d", s.Features, s.Start, c.features, start)
			}
			if len(s.Values) != len(c.values) {
				t.Fatalf("values %v, want %v", s.Values, c.values)
			}
			for i, v := range c.values {
				if g := s.Values[i]; g != v && !(math.IsNaN(g) && math.IsNaN(v)) {
					t.Fatalf("values %v, want %v", s.Values, c.values)
				}
			}
			if !reflect.DeepEqual(s.Labels, c.labels) {
				t.Errorf("labels %v, want %v", s.Labels, c.labels)
			}
			for _, p := range c.progress {
				if !strings.Contains(progress.String(), p) {
					t.Errorf("progress %q lacks %q", progress.String(), p)
				}
			}
			if c.progress == nil && progress.Len() > 0 {
				t.Errorf("progress %q, want none", progress.String())
			}
		})
	}
}

// TestEndedAgainstNewestVector: an entity has ended when it fell silent
// more than endedAfter steps before the newest vector of any entity, not
// before To. Offline training reads a stopped daemon's store with To =
// now: every entity was marked ended, so the last windows of every
// history were labelled "no failure" instead of masked as unknown.
func TestEndedAgainstNewestVector(t *testing.T) {
	now := time.UnixMilli(100_000_000)
	st, err := store.Open(store.Options{Path: t.TempDir(), NoSync: true, Retention: 1000 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.PutSchema([]string{"cpu"}, []string{"crashloop"}); err != nil {
		t.Fatal(err)
	}
	const step = 60_000
	base := now.UnixMilli() - 200*step // the daemon stopped 100 steps ago
	lastOf := map[string]int{"ns/a": 99, "ns/b": 99, "ns/gone": 90, "ns/recent": 96}
	var vs []store.Vector
	for e, last := range lastOf {
		for i := 0; i <= last; i++ {
			vs = append(vs, store.Vector{Entity: e, T: base + int64(i)*step, Values: []float64{float64(i)}, Failure: []bool{false}})
		}
		if err := st.PutEntity(e, map[string]string{"pod": e}, base); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutVectors(vs); err != nil {
		t.Fatal(err)
	}
	got, err := (&Source{Store: st, From: base, To: now.UnixMilli(), Step: step}).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ended := map[string]bool{}
	for _, s := range got {
		ended[s.Entity] = s.Ended
	}
	want := map[string]bool{"ns/a": false, "ns/b": false, "ns/gone": true, "ns/recent": false}
	if !reflect.DeepEqual(ended, want) {
		t.Fatalf("ended %v, want %v (silent more than %d steps before the newest vector)", ended, want, endedAfter)
	}
}
