package storesource

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
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

// Source loads per-entity series from a store.
type Source struct {
	Store Reader
	// Entities to load (default: every entity in the store).
	Entities []string
	// From and To bound the vectors (ms, inclusive).
	From, To int64
	// Step is the grid step in ms (required). A vector is placed on the
	// grid point nearest to its time; missing steps are NaN, unlabelled.
	Step int64
}

// ErrNoData is wrapped by Load's error when the store holds no feature
// vectors of the current schema in the range (or none at all).
var ErrNoData = errors.New("no feature data")

// endedAfter is how many steps of silence before Source.To mean that an
// entity has ended.
const endedAfter = 4

// Load returns one series per entity that has at least one vector of the
// current schema, sorted by entity. Vectors of other schema versions are
// skipped (their feature layout differs).
func (s *Source) Load(ctx context.Context) ([]*dataset.Series, error) {
	if s.Store == nil || s.Step <= 0 || s.To < s.From {
		return nil, errors.New("store source: want a store, a positive step and From ≤ To")
	}
	schema, err := s.Store.Schema()
	if errors.Is(err, store.ErrNotFound) {
		// No schema: the store has never held a vector.
		return nil, s.noData()
	}
	if err != nil {
		return nil, fmt.Errorf("store source: read schema: %w", err)
	}
	ents := s.Entities
	if len(ents) == 0 {
		infos, err := s.Store.Entities()
		if err != nil {
			return nil, fmt.Errorf("store source: list entities: %w", err)
		}
		for _, e := range infos {
			ents = append(ents, e.ID)
		}
		sort.Strings(ents)
	}
	nf := len(schema.Features)
	var out []*dataset.Series
	for _, ent := range ents {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("store source: %w", err)
		}
		var vs []store.Vector
		err := s.Store.Vectors(ent, s.From, s.To, func(v store.Vector) error {
			if v.Schema == schema.Version && len(v.Values) == nf {
				vs = append(vs, v)
			}
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
		ser := &dataset.Series{Entity: ent, Features: append([]string(nil), schema.Features...), Start: first, Step: s.Step,
			Values: make([]float64, steps*nf), Labels: make([]bool, steps),
			// Silent for more than a few steps before the end of the
			// range: the entity is gone (the daemon stores no vectors
			// for deleted pods).
			Ended: last < s.To-endedAfter*s.Step}
		for i := range ser.Values {
			ser.Values[i] = math.NaN()
		}
		for _, v := range vs {
			i := int((v.T - first + s.Step/2) / s.Step)
			if i < 0 || i >= steps {
				continue
			}
			copy(ser.Values[i*nf:(i+1)*nf], v.Values)
			for _, f := range v.Failure {
				if f {
					ser.Labels[i] = true
				}
			}
		}
		out = append(out, ser)
	}
	if len(out) == 0 {
		return nil, s.noData()
	}
	return out, nil
}

func (s *Source) noData() error {
	return fmt.Errorf("store source: %w between %s and %s", ErrNoData,
		time.UnixMilli(s.From).UTC().Format(time.RFC3339), time.UnixMilli(s.To).UTC().Format(time.RFC3339))
}
