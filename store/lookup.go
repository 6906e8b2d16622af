package store

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Entity returns one entity's record (its labels, first and last seen), or
// an error wrapping ErrNotFound when the store does not know it. It reads
// one key: a caller that needs one entity's labels need not list every
// entity kept within retention (Entities).
func (s *Store) Entity(id string) (EntityInfo, error) {
	var e EntityInfo
	err := s.get(nameKey(pEntity, id), func(v []byte) error {
		var err error
		e, err = decodeEntity(v)
		return err
	})
	if err != nil {
		return EntityInfo{}, fmt.Errorf("entity %q: %w", id, err)
	}
	e.ID = id
	return e, nil
}

// LatestPrediction returns entity's latest prediction, or an error
// wrapping ErrNotFound when it has none. It reads one key, where
// LatestPredictions reads every entity's.
func (s *Store) LatestPrediction(entity string) (Prediction, error) {
	var p Prediction
	err := s.get(nameKey(pLatest, entity), func(v []byte) error {
		var err error
		p, err = decodePrediction(v)
		return err
	})
	if err != nil {
		return Prediction{}, fmt.Errorf("latest prediction of %q: %w", entity, err)
	}
	return p, nil
}

// get calls fn with the value of key, or answers ErrNotFound.
func (s *Store) get(key []byte, fn func(v []byte) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	return s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return item.Value(fn)
	})
}
