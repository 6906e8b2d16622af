package store

import (
	"errors"
	"fmt"
	"sync"

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

// newestLatest keeps the time of the newest latest prediction
// (NewestPrediction) in memory.
type newestLatest struct {
	mu sync.Mutex
	// known: has and t hold what a scan of the latest predictions found
	// and the puts since (PutPredictions) advanced; entity is the one whose
	// latest prediction is at t.
	known, has bool
	t          int64
	entity     string
}

// noteLatest advances the newest latest prediction's time after
// PutPredictions wrote ps, whose newest of each entity is latest[entity];
// after a failed write (ok false), some of which may be stored, it is
// read again at the next NewestPrediction.
func (s *Store) noteLatest(ps []Prediction, latest map[string]int, ok bool) {
	n := &s.newest
	n.mu.Lock()
	defer n.mu.Unlock()
	if !ok {
		n.known = false
		return
	}
	if !n.known {
		return
	}
	for ent, i := range latest {
		if !n.has || ps[i].T > n.t {
			n.has, n.t, n.entity = true, ps[i].T, ent
		}
	}
}

// NewestPrediction returns the time (ms) of the newest of the entities'
// latest predictions (the newest T of LatestPredictions), or an error
// wrapping ErrNotFound when there is none. The first call reads every
// latest prediction; the time is then kept in memory (PutPredictions
// advances it), and each call checks, by one point lookup, that retention
// has not deleted the prediction at that time (it reads them all again
// when it has).
func (s *Store) NewestPrediction() (int64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.exit()
	n := &s.newest
	n.mu.Lock()
	defer n.mu.Unlock()
	err := s.db.View(func(txn *badger.Txn) error {
		if n.known && n.has {
			item, err := txn.Get(nameKey(pLatest, n.entity))
			switch {
			case err == nil:
				var p Prediction
				if err := item.Value(func(v []byte) error { p, err = decodePrediction(v); return err }); err != nil {
					return err
				}
				if p.T == n.t {
					return nil
				}
			case !errors.Is(err, badger.ErrKeyNotFound):
				return err
			}
		}
		if n.known && !n.has {
			return nil
		}
		n.known, n.has, n.t, n.entity = false, false, 0, ""
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: []byte{pLatest}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			var p Prediction
			if err := item.Value(func(v []byte) error {
				var err error
				p, err = decodePrediction(v)
				return err
			}); err != nil {
				return err
			}
			if !n.has || p.T > n.t {
				n.has, n.t, n.entity = true, p.T, string(item.Key()[1:])
			}
		}
		n.known = true
		return nil
	})
	if err != nil {
		n.known = false
		return 0, fmt.Errorf("newest prediction: %w", err)
	}
	if !n.has {
		return 0, fmt.Errorf("newest prediction: %w", ErrNotFound)
	}
	return n.t, nil
}
