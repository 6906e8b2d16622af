package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// RunRetention deletes records older than Options.Retention relative to now
// (ingest-log batches older than Options.IngestLogRetention), then runs
// Badger's value-log garbage collection. It returns the number of records
// deleted. "Older" means a time strictly before now - retention: vectors,
// events and predictions by T, entities by LastSeen, explanations by the
// time they were put (and with their prediction), outbox items by Created,
// non-firing alert states by Updated, batches by arrival. Schemas and
// models are kept. Deduplication keys of dropped batches are folded into a
// per-source floor: a batch whose Seq is at or below it counts as a
// duplicate (see AppendBatches).
//
// Safe to call concurrently with everything else; the daemon calls it
// periodically.
func (s *Store) RunRetention(now time.Time) (deleted int, err error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.exit()
	cutoff := now.Add(-s.opts.Retention).UnixMilli()
	logCutoff := now.Add(-s.opts.IngestLogRetention).UnixMilli()

	d := &deleter{counts: make(map[string]int)}
	steps := []struct {
		what string
		lock *sync.Mutex // held while finding and deleting, against read-modify-writes
		fn   func(*deleter) error
	}{
		{"ingest log", nil, func(d *deleter) error { return s.expireLog(d, logCutoff) }},
		{"vectors", nil, func(d *deleter) error { return s.expireTimed(d, pVector, "vector", cutoff, nil) }},
		{"events", nil, func(d *deleter) error { return s.expireTimed(d, pEvent, "event", cutoff, nil) }},
		{"predictions", nil, func(d *deleter) error {
			return s.expireTimed(d, pPred, "prediction", cutoff, func(entity []byte, t int64) error {
				return d.del("", nameKey(pExpl, PredictionID(string(entity), t)))
			})
		}},
		{"latest predictions", &s.latestMu, func(d *deleter) error {
			return s.expireValues(d, []byte{pLatest}, "", func(v []byte) (bool, error) {
				p, err := decodePrediction(v)
				return p.T < cutoff, err
			})
		}},
		{"explanations", nil, func(d *deleter) error {
			return s.expireValues(d, []byte{pExpl}, "explanation", func(v []byte) (bool, error) {
				t, ok := keyTime(v)
				if !ok {
					return false, errCorrupt
				}
				return t < cutoff, nil
			})
		}},
		{"entities", &s.latestMu, func(d *deleter) error {
			return s.expireValues(d, []byte{pEntity}, "entity", func(v []byte) (bool, error) {
				e, err := decodeEntity(v)
				return e.LastSeen < cutoff, err
			})
		}},
		{"alert states", &s.outMu, func(d *deleter) error {
			return s.expireValues(d, []byte{pAlert}, "alert_state", func(v []byte) (bool, error) {
				st, err := decodeAlertState(v)
				return st.State != AlertFiring && st.Updated < cutoff, err
			})
		}},
		{"outbox", &s.outMu, func(d *deleter) error { return s.expireOutbox(d, cutoff) }},
	}
	defer func() {
		for kind, n := range d.counts {
			s.m.retention.WithLabelValues(kind).Add(float64(n))
		}
	}()
	for _, st := range steps {
		if err := s.retentionStep(d, st.lock, st.fn); err != nil {
			return d.total(), fmt.Errorf("retention: %s: %w", st.what, err)
		}
	}
	if err := s.expireDedup(logCutoff); err != nil {
		return d.total(), fmt.Errorf("retention: deduplication keys: %w", err)
	}
	s.gcValueLog()
	return d.total(), nil
}

// retentionStep runs fn with a fresh write batch and commits its deletes,
// all with lock held if non-nil. Counts are added to d only on success.
func (s *Store) retentionStep(d *deleter, lock *sync.Mutex, fn func(*deleter) error) error {
	if lock != nil {
		lock.Lock()
		defer lock.Unlock()
	}
	step := &deleter{wb: s.db.NewWriteBatch(), counts: make(map[string]int)}
	defer step.wb.Cancel()
	if err := fn(step); err != nil {
		return err
	}
	if err := step.wb.Flush(); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	for k, n := range step.counts {
		d.counts[k] += n
	}
	return nil
}

type deleter struct {
	wb     *badger.WriteBatch
	counts map[string]int
}

// del deletes key (copied), counting it under kind unless kind is "".
func (d *deleter) del(kind string, key []byte) error {
	if err := d.wb.Delete(append([]byte(nil), key...)); err != nil {
		return err
	}
	if kind != "" {
		d.counts[kind]++
	}
	return nil
}

func (d *deleter) total() int {
	n := 0
	for _, c := range d.counts {
		n += c
	}
	return n
}

func (s *Store) expireLog(d *deleter, cutoff int64) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pLog}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			t, _, ok := parseLogKey(it.Item().Key())
			if !ok || t >= cutoff {
				return nil
			}
			if err := d.del("batch", it.Item().Key()); err != nil {
				return err
			}
		}
		return nil
	})
}

// expireTimed deletes prefix | name | 0x00 | sortable(t) | … keys with
// t < cutoff, seeking past each name's retained keys. also runs for every
// deleted key.
func (s *Store) expireTimed(d *deleter, prefix byte, kind string, cutoff int64, also func(name []byte, t int64) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}})
		defer it.Close()
		it.Rewind()
		for it.Valid() {
			k := it.Item().Key()
			name, rest, ok := splitNameKey(k)
			t, tok := keyTime(rest)
			if !ok || !tok {
				return fmt.Errorf("malformed key %x", k)
			}
			if t >= cutoff {
				// Skip the rest of this name: prefix | name | 0x01.
				next := append([]byte{prefix}, name...)
				it.Seek(append(next, 1))
				continue
			}
			if err := d.del(kind, k); err != nil {
				return err
			}
			if also != nil {
				if err := also(name, t); err != nil {
					return err
				}
			}
			it.Next()
		}
		return nil
	})
}

// expireValues deletes keys under prefix whose value old reports as expired.
func (s *Store) expireValues(d *deleter, prefix []byte, kind string, old func(v []byte) (bool, error)) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			var expired bool
			if err := item.Value(func(v []byte) error {
				var err error
				expired, err = old(v)
				return err
			}); err != nil {
				return fmt.Errorf("key %x: %w", item.Key(), err)
			}
			if expired {
				if err := d.del(kind, item.Key()); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (s *Store) expireOutbox(d *deleter, cutoff int64) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: []byte{pOutItem}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			if len(k) != 9 {
				return fmt.Errorf("malformed outbox key %x", k)
			}
			id := binary.BigEndian.Uint64(k[1:])
			var o OutboxItem
			if err := item.Value(func(v []byte) error {
				var err error
				o, err = decodeOutboxItem(v)
				return err
			}); err != nil {
				return fmt.Errorf("outbox item %d: %w", id, err)
			}
			if o.Created >= cutoff {
				continue
			}
			if err := d.del("outbox", k); err != nil {
				return err
			}
			for _, t := range o.Targets {
				if err := d.del("", outPendingKey(t, id)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// expireDedup drops deduplication keys of batches that arrived before
// cutoff and raises each source's floor to the highest Seq dropped. It
// holds the ingest lock so that no append sees a key gone before the floor
// covers it.
func (s *Store) expireDedup(cutoff int64) error {
	keys, err := s.raiseFloors(cutoff)
	if err != nil {
		return err
	}
	// Every dropped key has Seq ≤ its source's (durable) floor now, so the
	// deletes need not hold the ingest lock.
	_, err = s.deleteKeys(keys)
	return err
}

// raiseFloors durably raises the floors over the dedup keys older than
// cutoff and returns those keys. The scan runs without the ingest lock:
// keys that old are never written again.
func (s *Store) raiseFloors(cutoff int64) ([][]byte, error) {
	g := &s.ing
	floors := make(map[string]uint64)
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: []byte{pDedup}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			v, err := readU64(item)
			if err != nil {
				return err
			}
			if unsortable(v) >= cutoff {
				continue
			}
			k := item.Key()
			src, rest, ok := splitNameKey(k)
			if !ok || len(rest) != 8 {
				return fmt.Errorf("malformed key %x", k)
			}
			seq := binary.BigEndian.Uint64(rest)
			if seq > floors[string(src)] {
				floors[string(src)] = seq
			}
			keys = append(keys, item.KeyCopy(nil))
		}
		return nil
	})
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var entries []kv
	for src, seq := range floors {
		old, err := s.floorOf(src)
		if err != nil {
			return nil, err
		}
		if seq > old {
			entries = append(entries, kv{nameKey(pFloor, src), u64(seq)})
			if _, cached := g.cp[src]; cached {
				g.floor[src] = seq
			}
		}
	}
	// Floors first, so a crash between the two never loses deduplication.
	if err := s.writeKVs(entries); err != nil {
		return nil, err
	}
	return keys, nil
}

func (s *Store) floorOf(src string) (uint64, error) {
	if f, ok := s.ing.floor[src]; ok {
		if _, cached := s.ing.cp[src]; cached {
			return f, nil
		}
	}
	var f uint64
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		f, err = getU64(txn, nameKey(pFloor, src))
		return err
	})
	return f, err
}

func (s *Store) gcValueLog() {
	if s.opts.InMemory {
		return
	}
	for range 16 {
		err := s.db.RunValueLogGC(0.5)
		if err == nil {
			continue
		}
		if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
			s.logger.Warn("value log garbage collection", "err", err)
		}
		return
	}
}
