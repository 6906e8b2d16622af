package store

import (
	"fmt"
	"maps"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// latestIndex keeps every entity's latest prediction and labels in memory
// for EachLatest: built by the first EachLatest from one scan of the
// latest predictions and entities, then kept by PutPredictions,
// PutEntities and retention (each holding latestMu, so that the index
// changes in the order of the writes).
type latestIndex struct {
	// scanMu serialises builds; it is not held by the writes, so that a
	// build (a scan of every entity kept) does not hold them up.
	scanMu sync.Mutex
	// mu guards the rest; EachLatest holds it for reading while it calls
	// its fn.
	mu sync.RWMutex
	// known: m holds what a build found and the writes since changed.
	known bool
	m     *latestSet
	// While a build scans (scanning), the writes go to pendPred and
	// pendLabels instead, applied to the build's result (a write during
	// the scan may be missing from its snapshot, never newer than what
	// they hold); a failed write or a retention delete sets dirty, and the
	// result serves the call that built it but is not kept.
	scanning, dirty bool
	pendPred        map[string]Prediction
	pendLabels      map[string]map[string]string
}

// latestEntry is one entity's: its latest prediction (if has) and stored
// labels (nil without an entity record). labels is never modified once
// set (a change replaces it), so that EachLatest's callers may keep it.
type latestEntry struct {
	id     string
	has    bool
	p      Prediction
	labels map[string]string
}

// latestSet holds the entries in one slice, which EachLatest walks (a
// walk of a map of them was twice as slow), and their positions by ID.
type latestSet struct {
	at      map[string]int
	entries []latestEntry
}

func newLatestSet() *latestSet { return &latestSet{at: map[string]int{}} }

// entry returns the entry of id, adding an empty one. The pointer is
// valid until the next entry or remove.
func (m *latestSet) entry(id string) *latestEntry {
	i, ok := m.at[id]
	if !ok {
		i = len(m.entries)
		m.entries = append(m.entries, latestEntry{id: id})
		m.at[id] = i
	}
	return &m.entries[i]
}

// remove removes the entry of id, moving the last into its place.
func (m *latestSet) remove(id string) {
	i, ok := m.at[id]
	if !ok {
		return
	}
	last := len(m.entries) - 1
	if i != last {
		m.entries[i] = m.entries[last]
		m.at[m.entries[i].id] = i
	}
	m.entries[last] = latestEntry{}
	m.entries = m.entries[:last]
	delete(m.at, id)
}

// setLabels sets e's labels to a copy of ls, keeping e's map when it holds
// the same (most entity writes only move LastSeen).
func (e *latestEntry) setLabels(ls map[string]string) {
	if e.labels != nil && maps.Equal(e.labels, ls) {
		return
	}
	e.labels = maps.Clone(ls)
	if e.labels == nil {
		e.labels = map[string]string{}
	}
}

// noteIndexPredictions records that PutPredictions wrote ps[i] as its
// entity's latest prediction, for each i of wrote (ok), or failed (some
// may be stored: the index is built again at the next EachLatest).
// latestMu is held.
func (s *Store) noteIndexPredictions(ps []Prediction, wrote []int, ok bool) {
	x := &s.index
	x.mu.Lock()
	defer x.mu.Unlock()
	if !ok {
		x.invalidate()
		return
	}
	if !x.known && !x.scanning {
		return
	}
	for _, i := range wrote {
		p := ps[i]
		if p.ID == "" {
			p.ID = PredictionID(p.Entity, p.T)
		}
		if x.known {
			e := x.m.entry(p.Entity)
			e.has, e.p = true, p
		} else {
			x.pendPred[p.Entity] = p
		}
	}
}

// noteIndexEntities records that PutEntities wrote es (ok), or failed.
// latestMu is held.
func (s *Store) noteIndexEntities(es []*EntityInfo, ok bool) {
	x := &s.index
	x.mu.Lock()
	defer x.mu.Unlock()
	if !ok {
		x.invalidate()
		return
	}
	for _, e := range es {
		switch {
		case x.known:
			x.m.entry(e.ID).setLabels(e.Labels)
		case x.scanning:
			x.pendLabels[e.ID] = maps.Clone(e.Labels)
		}
	}
}

// noteIndexDeleted records retention's deletes of latest predictions
// (pLatest keys) and entities (pEntity keys), or that some of its deletes
// may have failed (ok false). latestMu is held.
func (s *Store) noteIndexDeleted(keys [][]byte, ok bool) {
	x := &s.index
	x.mu.Lock()
	defer x.mu.Unlock()
	if !ok || x.scanning {
		// A scan's snapshot may hold what was deleted.
		x.invalidate()
		return
	}
	if !x.known {
		return
	}
	for _, k := range keys {
		id := string(k[1:])
		i, ok := x.m.at[id]
		if !ok {
			continue
		}
		e := &x.m.entries[i]
		switch k[0] {
		case pLatest:
			e.has, e.p = false, Prediction{}
		case pEntity:
			e.labels = nil
		}
		if !e.has && e.labels == nil {
			x.m.remove(id)
		}
	}
}

// invalidate drops the index (mu held): the next EachLatest builds it
// again, and a build in progress is not kept.
func (x *latestIndex) invalidate() {
	x.known, x.m = false, nil
	x.dirty = x.scanning
}

// EachLatest calls fn with every entity's latest prediction and the
// entity's stored labels (nil when the store holds no entity record of
// it), the predictions LatestPredictions returns, in no particular order,
// until fn returns false.
//
// The first call reads every latest prediction and entity (as
// LatestPredictions and Entities); they are then kept in memory, changed
// by PutPredictions, PutEntities and RunRetention (a failed write, or a
// retention run that may have failed to delete, has them read again at
// the next call). The reading does not hold the writes up. The memory is
// about a latest prediction and a label map per entity kept within
// retention (docs/PERFORMANCE.md), held from the first call on.
//
// EachLatest is safe for concurrent use; it holds the writes of latest
// predictions and entities up while fn runs, so fn must be quick and must
// not call the Store. *p is valid during the call only (copy it to keep
// it); labels may be kept but must not be modified.
func (s *Store) EachLatest(fn func(p *Prediction, labels map[string]string) bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	x := &s.index
	x.mu.RLock()
	if x.known {
		defer x.mu.RUnlock()
		eachEntry(x.m, fn)
		return nil
	}
	x.mu.RUnlock()
	m, err := s.buildIndex()
	if err != nil {
		return fmt.Errorf("latest predictions: %w", err)
	}
	// Kept or not (a write failed, or retention deleted, during the
	// scan), m is a snapshot no other call changes.
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.known {
		m = x.m
	}
	eachEntry(m, fn)
	return nil
}

func eachEntry(m *latestSet, fn func(p *Prediction, labels map[string]string) bool) {
	for i := range m.entries {
		if e := &m.entries[i]; e.has && !fn(&e.p, e.labels) {
			return
		}
	}
}

// buildIndex reads every latest prediction and entity into a new index,
// which it keeps unless a write failed or retention deleted during the
// scan (dirty). Another call's build, done while this one waited, is
// returned as it is.
func (s *Store) buildIndex() (*latestSet, error) {
	x := &s.index
	x.scanMu.Lock()
	defer x.scanMu.Unlock()
	x.mu.Lock()
	if x.known {
		defer x.mu.Unlock()
		return x.m, nil
	}
	x.scanning, x.dirty = true, false
	x.pendPred, x.pendLabels = map[string]Prediction{}, map[string]map[string]string{}
	x.mu.Unlock()

	m := newLatestSet()
	err := s.db.View(func(txn *badger.Txn) error {
		if s.testIndexScan != nil {
			s.testIndexScan()
		}
		if err := scanPrefix(txn, pLatest, func(id []byte, v []byte) error {
			p, err := decodePrediction(v)
			if err != nil {
				return fmt.Errorf("latest prediction %q: %w", id, err)
			}
			e := m.entry(p.Entity)
			e.has, e.p = true, p
			return nil
		}); err != nil {
			return err
		}
		return scanPrefix(txn, pEntity, func(id []byte, v []byte) error {
			info, err := decodeEntity(v)
			if err != nil {
				return fmt.Errorf("decode entity %q: %w", id, err)
			}
			m.entry(string(id)).setLabels(info.Labels)
			return nil
		})
	})

	x.mu.Lock()
	defer x.mu.Unlock()
	x.scanning = false
	pendPred, pendLabels := x.pendPred, x.pendLabels
	x.pendPred, x.pendLabels = nil, nil
	if err != nil {
		return nil, err
	}
	for id, p := range pendPred {
		e := m.entry(id)
		e.has, e.p = true, p
	}
	for id, ls := range pendLabels {
		m.entry(id).setLabels(ls)
	}
	if !x.dirty {
		x.known, x.m = true, m
	}
	return m, nil
}

// scanPrefix calls fn with the name (the key after its prefix byte) and
// value of every key under prefix, both valid during the call only.
func scanPrefix(txn *badger.Txn, prefix byte, fn func(name, v []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: []byte{prefix}})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		name := item.Key()[1:]
		if err := item.Value(func(v []byte) error { return fn(name, v) }); err != nil {
			return err
		}
	}
	return nil
}
