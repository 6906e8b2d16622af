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
	return s.lookup(key, fn)
}

// lookup is get for a caller that has entered the store.
func (s *Store) lookup(key []byte, fn func(v []byte) error) error {
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
	return s.listEntities(after, limit, fmt.Sprintf("list entities after %q", after))
}

// listEntities is Entities and EntitiesAfter; what prefixes a read error.
func (s *Store) listEntities(after string, limit int, what string) ([]EntityInfo, error) {
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
			var info EntityInfo
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
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// newestLatest keeps the time of the newest latest prediction
// (NewestPrediction) in memory.
type newestLatest struct {
	// scanMu serialises NewestPrediction calls; it is not held by
	// PutPredictions, so a scan of every latest prediction does not hold
	// the writes up (the evaluator's step writes predictions).
	scanMu sync.Mutex
	mu     sync.Mutex
	// known: cur holds what a scan of the latest predictions found and
	// the puts since (PutPredictions) advanced.
	known bool
	cur   newestOf
	// While a scan runs (scanning), puts advance pend instead, merged
	// into the scan's result (a put during the scan may be missing from
	// its snapshot); a failed put sets dirty, and the result is not kept.
	scanning, dirty bool
	pend            newestOf
}

// newestOf is a newest latest prediction: its time and entity, if has.
type newestOf struct {
	has    bool
	t      int64
	entity string
}

func (o *newestOf) advance(t int64, entity string) {
	if !o.has || t > o.t {
		o.has, o.t, o.entity = true, t, entity
	}
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
		n.known, n.dirty = false, n.scanning
		return
	}
	switch {
	case n.known:
		for ent, i := range latest {
			n.cur.advance(ps[i].T, ent)
		}
	case n.scanning:
		for ent, i := range latest {
			n.pend.advance(ps[i].T, ent)
		}
	}
}

// NewestPrediction returns the time (ms) of the newest of the entities'
// latest predictions (the newest T of LatestPredictions), or an error
// wrapping ErrNotFound when there is none. The first call reads every
// latest prediction; the time is then kept in memory (PutPredictions
// advances it), and each call checks, by one point lookup, that retention
// has not deleted the prediction at that time (it reads them all again
// when it has). The reading of them all does not hold PutPredictions up.
func (s *Store) NewestPrediction() (int64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.exit()
	n := &s.newest
	n.scanMu.Lock()
	defer n.scanMu.Unlock()
	n.mu.Lock()
	valid, err := s.newestValid(n)
	if err != nil || valid {
		defer n.mu.Unlock()
		if err != nil {
			n.known = false
			return 0, fmt.Errorf("newest prediction: %w", err)
		}
		if !n.cur.has {
			return 0, fmt.Errorf("newest prediction: %w", ErrNotFound)
		}
		return n.cur.t, nil
	}
	n.known, n.scanning, n.dirty, n.pend = false, true, false, newestOf{}
	n.mu.Unlock()

	var found newestOf
	err = s.db.View(func(txn *badger.Txn) error {
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
			found.advance(p.T, string(item.Key()[1:]))
		}
		return nil
	})

	n.mu.Lock()
	defer n.mu.Unlock()
	n.scanning = false
	if err != nil {
		return 0, fmt.Errorf("newest prediction: %w", err)
	}
	if n.pend.has {
		found.advance(n.pend.t, n.pend.entity)
	}
	if !n.dirty {
		n.known, n.cur = true, found
	}
	if !found.has {
		return 0, fmt.Errorf("newest prediction: %w", ErrNotFound)
	}
	return found.t, nil
}

// newestValid reports whether n (n.mu held) holds the newest latest
// prediction still: known, and retention has not deleted the prediction
// at its time (one point lookup).
func (s *Store) newestValid(n *newestLatest) (bool, error) {
	if !n.known {
		return false, nil
	}
	if !n.cur.has {
		return true, nil
	}
	var p Prediction
	err := s.lookup(nameKey(pLatest, n.cur.entity), func(v []byte) error {
		var err error
		p, err = decodePrediction(v)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil && p.T == n.cur.t, err
}
