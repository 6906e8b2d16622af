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

// EntitiesAfter returns, ordered by ID, at most limit entities whose ID
// sorts after after ("": from the first; limit ≤ 0: no limit): a page of
// Entities, read without the entities before it or after it.
func (s *Store) EntitiesAfter(after string, limit int) ([]EntityInfo, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.exit()
	var out []EntityInfo
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: min(max(limit, 1), 100), Prefix: []byte{pEntity}})
		defer it.Close()
		for it.Seek(nameKey(pEntity, after)); it.Valid() && (limit <= 0 || len(out) < limit); it.Next() {
			item := it.Item()
			id := string(item.Key()[1:])
			if id <= after {
				continue
			}
			info := EntityInfo{ID: id}
			if err := item.Value(func(v []byte) error {
				var err error
				info, err = decodeEntity(v)
				return err
			}); err != nil {
				return fmt.Errorf("decode entity %q: %w", id, err)
			}
			info.ID = id
			out = append(out, info)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list entities after %q: %w", after, err)
	}
	return out, nil
}
