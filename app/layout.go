package app

import (
	"fmt"
	"math"

	"github.com/omen-sre/omen/store"
)

// vectorLayout maps stored vectors, of whatever schema version they were
// stored under, to a list of feature names by name: a feature the
// vector's schema lacks is missing (NaN), one the names lack is dropped.
// It is what reads stored vectors back into a model's or the scorer's
// layout (a reload may have renamed, reordered, added or removed
// features since they were stored).
type vectorLayout struct {
	nf int
	to map[uint32][]int // schema version → column in names of each value (-1: none)
}

// newVectorLayout reads the store's schemas for names.
func newVectorLayout(st *store.Store, names []string) (*vectorLayout, error) {
	schemas, err := st.Schemas()
	if err != nil {
		return nil, fmt.Errorf("list schemas: %w", err)
	}
	l := &vectorLayout{nf: len(names), to: make(map[uint32][]int, len(schemas))}
	for _, sc := range schemas {
		l.to[sc.Version] = store.Columns(sc.Features, names)
	}
	return l, nil
}

// row writes v's values into dst (len nf) in the layout's order; it
// reports false, writing nothing, for a vector of a schema not recorded
// or of another length than its schema's.
func (l *vectorLayout) row(v store.Vector, dst []float32) bool {
	cols, ok := l.to[v.Schema]
	if !ok || len(cols) != len(v.Values) {
		return false
	}
	nan := float32(math.NaN())
	for j := range dst {
		dst[j] = nan
	}
	for i, j := range cols {
		if j >= 0 {
			dst[j] = float32(v.Values[i])
		}
	}
	return true
}
