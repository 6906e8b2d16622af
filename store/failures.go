package store

import (
	"errors"
	"fmt"
	"slices"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// FailureMark names a failure label to set on a stored vector: the
// label Label (a Schema.Labels name) of entity Entity's vector at step T
// (ms).
type FailureMark struct {
	Entity string
	T      int64
	Label  string
}

// setFailuresRetries is how many times SetFailures retries its
// transaction when a concurrent write of one of its vectors conflicts: of
// calls that conflict, one commits each round, and the daemon's ingest
// runs at most 16 commits at once.
const setFailuresRetries = 32

// SetFailures sets the failure labels marks name on the stored vectors,
// in one transaction, leaving their values and other labels as they are:
// a failure learnt after its step's vector was stored (an event that came
// late). A mark whose vector does not exist (the entity had none at that
// step, retention deleted it, or it is not stored yet), whose vector's
// schema has no such label, or whose entity is invalid sets nothing. set
// is the number of marks whose label is now set on their vector (also
// those it was set on already); the others are not an error.
func (s *Store) SetFailures(marks []FailureMark) (set int, err error) {
	if len(marks) == 0 {
		return 0, nil
	}
	if err := s.enterWrite("vector"); err != nil {
		return 0, err
	}
	defer s.exit()
	start := time.Now()
	all, err := s.schemas()
	if err != nil {
		return 0, fmt.Errorf("set failure labels: %w", err)
	}
	labels := make(map[uint32][]string, len(all))
	for _, sc := range all {
		labels[sc.Version] = sc.Labels
	}
	written := 0
	for attempt := 0; ; attempt++ {
		set, written = 0, 0
		err = s.db.Update(func(txn *badger.Txn) error {
			for _, m := range marks {
				if ValidEntity(m.Entity) != nil {
					continue
				}
				k := nameTimeKey(pVector, m.Entity, m.T)
				item, err := txn.Get(k)
				if errors.Is(err, badger.ErrKeyNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				var v Vector
				if err := item.Value(func(b []byte) (err error) {
					v, err = decodeVector(b)
					return err
				}); err != nil {
					return fmt.Errorf("vector of %q at %d: %w", m.Entity, m.T, err)
				}
				li := slices.Index(labels[v.Schema], m.Label)
				if li < 0 || li >= len(v.Failure) {
					continue
				}
				set++
				if v.Failure[li] {
					continue
				}
				v.Failure[li] = true
				if err := txn.Set(k, encodeVector(v.Schema, &v)); err != nil {
					return err
				}
				written++
			}
			return nil
		})
		if !errors.Is(err, badger.ErrConflict) || attempt == setFailuresRetries {
			break
		}
	}
	if err != nil {
		return 0, fmt.Errorf("set %d failure labels: %w", len(marks), err)
	}
	if written > 0 {
		s.observe("vector", written, start)
	}
	return set, nil
}
