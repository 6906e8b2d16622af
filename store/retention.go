package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
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
// A record that does not decode is logged, counted in
// omen_store_corrupt_records_total and skipped (kept); a step that fails
// does not stop the others, and value-log garbage collection always runs
// (unless ctx ends, see below).
// The error joins the failed steps' errors. RunRetention still runs while
// free disk space is below Options.DiskReserve (it is how the store
// shrinks), down to half the reserve, below which it fails with
// ErrDiskFull.
//
// RunRetention stops early when ctx ends: between steps, between
// garbage-collection passes, and within a step's scan (the expired
// records it found so far are deleted and counted; the rest is left to
// the next run). It then returns the records deleted so far and an error
// wrapping ctx.Err(); such a run is counted in
// omen_store_retention_runs_total under none of its results. Stopping it
// is what lets Close (and so the daemon's shutdown) proceed: a run holds
// the store open.
//
// Safe to call concurrently with everything else; the daemon calls it
// periodically.
func (s *Store) RunRetention(ctx context.Context, now time.Time) (deleted int, err error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.exit()
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	if err := s.belowHalfReserve("retention"); err != nil {
		s.m.runs.WithLabelValues("refused").Inc()
		return 0, fmt.Errorf("retention: %w", err)
	}
	cutoff := now.Add(-s.opts.Retention).UnixMilli()
	logCutoff := now.Add(-s.opts.IngestLogRetention).UnixMilli()

	d := &deleter{counts: make(map[string]int)}
	steps := []struct {
		what string
		lock *sync.Mutex // held while finding and deleting, against read-modify-writes
		fn   func(*deleter) error
	}{
		{"ingest log", nil, func(d *deleter) error { return s.expireLog(ctx, d, logCutoff) }},
		{"vectors", nil, func(d *deleter) error { return s.expireTimed(ctx, d, pVector, "vector", cutoff, nil) }},
		{"events", nil, func(d *deleter) error { return s.expireTimed(ctx, d, pEvent, "event", cutoff, nil) }},
		{"predictions", nil, func(d *deleter) error {
			return s.expireTimed(ctx, d, pPred, "prediction", cutoff, func(txn *badger.Txn, entity []byte, t int64) error {
				// Most predictions have no explanation: delete only
				// those that exist (a bloom-filter lookup, mostly).
				return d.delIfExists(txn, "explanation", nameKey(pExpl, PredictionID(string(entity), t)))
			})
		}},
		{"latest predictions", &s.latestMu, func(d *deleter) error {
			return s.expireValues(ctx, d, []byte{pLatest}, "latest_prediction", func(v []byte) (bool, error) {
				p, err := decodePrediction(v)
				return p.T < cutoff, err
			})
		}},
		{"explanations", nil, func(d *deleter) error {
			return s.expireValues(ctx, d, []byte{pExpl}, "explanation", func(v []byte) (bool, error) {
				t, ok := keyTime(v)
				if !ok {
					return false, fmt.Errorf("%w: explanation of %d bytes", errCorrupt, len(v))
				}
				return t < cutoff, nil
			})
		}},
		{"entities", &s.latestMu, func(d *deleter) error {
			return s.expireValues(ctx, d, []byte{pEntity}, "entity", func(v []byte) (bool, error) {
				e, err := decodeEntity(v)
				return e.LastSeen < cutoff, err
			})
		}},
		{"alert states", &s.outMu, func(d *deleter) error {
			return s.expireValues(ctx, d, []byte{pAlert}, "alert_state", func(v []byte) (bool, error) {
				st, err := decodeAlertState(v)
				return st.State != AlertFiring && st.Updated < cutoff, err
			})
		}},
		{"outbox", &s.outMu, func(d *deleter) error { return s.expireOutbox(ctx, d, cutoff) }},
	}
	defer func() {
		for kind, n := range d.counts {
			s.m.retention.WithLabelValues(kind).Add(float64(n))
		}
	}()
	stopped := func() error {
		if s.testRetentionHook != nil {
			s.testRetentionHook()
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("retention: stopped: %w", err)
		}
		return nil
	}
	var errs []error
	for _, st := range steps {
		if err := stopped(); err != nil {
			return d.total(), err
		}
		if err := s.retentionStep(d, st.lock, st.fn); err != nil {
			if ctx.Err() != nil {
				return d.total(), fmt.Errorf("retention: %s: stopped: %w", st.what, ctx.Err())
			}
			errs = append(errs, fmt.Errorf("%s: %w", st.what, err))
		}
	}
	if err := stopped(); err != nil {
		return d.total(), err
	}
	if n, err := s.expireDedup(logCutoff); err != nil {
		errs = append(errs, fmt.Errorf("deduplication keys: %w", err))
	} else {
		d.counts["dedup"] += n
	}
	if err := s.gcValueLog(stopped); err != nil {
		return d.total(), err
	}
	if len(errs) > 0 {
		s.m.runs.WithLabelValues("error").Inc()
		return d.total(), fmt.Errorf("retention: %w", errors.Join(errs...))
	}
	s.m.runs.WithLabelValues("success").Inc()
	s.m.lastRun.Set(float64(s.opts.Now().UnixNano()) / 1e9)
	return d.total(), nil
}

// skipCorrupt counts and logs an undecodable record that retention keeps.
func (s *Store) skipCorrupt(what string, key []byte, err error) {
	s.m.corrupt.Inc()
	s.logger.Error("retention: skipping undecodable "+what+" record", "key", fmt.Sprintf("%x", key), "err", err)
}

// retentionStep runs fn with a fresh write batch and commits its deletes,
// all with lock held if non-nil. The deletes fn queued before it failed
// or stopped (ctx) are committed and counted too: the write batch commits
// on its own whenever it reaches Badger's transaction limit, so some may
// be already, and every key fn queues is one it found expired (an
// outbox item and its markers are queued together).
func (s *Store) retentionStep(d *deleter, lock *sync.Mutex, fn func(*deleter) error) error {
	if lock != nil {
		lock.Lock()
		defer lock.Unlock()
	}
	step := &deleter{wb: s.db.NewWriteBatch(), counts: make(map[string]int)}
	defer step.wb.Cancel()
	err := fn(step)
	ferr := step.wb.Flush()
	if len(step.indexed) > 0 || ferr != nil && lock == &s.latestMu {
		// EachLatest's index (latestMu held): after a failed flush,
		// some of the deletes may be committed.
		s.noteIndexDeleted(step.indexed, ferr == nil)
	}
	if ferr != nil {
		// Some of the deletes may be committed (the batch's own commits):
		// not counted.
		return errors.Join(err, fmt.Errorf("delete: %w", ferr))
	}
	for k, n := range step.counts {
		d.counts[k] += n
	}
	return err
}

type deleter struct {
	wb     *badger.WriteBatch
	counts map[string]int
	// indexed are the deleted keys of latest predictions and entities,
	// which EachLatest's index holds.
	indexed [][]byte
}

// del deletes key (copied), counting it under kind.
func (d *deleter) del(kind string, key []byte) error {
	k := append([]byte(nil), key...)
	if err := d.wb.Delete(k); err != nil {
		return err
	}
	d.counts[kind]++
	if len(k) > 0 && (k[0] == pLatest || k[0] == pEntity) {
		d.indexed = append(d.indexed, k)
	}
	return nil
}

// delIfExists deletes key if txn sees it.
func (d *deleter) delIfExists(txn *badger.Txn, kind string, key []byte) error {
	_, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return d.del(kind, key)
}

func (d *deleter) total() int {
	n := 0
	for _, c := range d.counts {
		n += c
	}
	return n
}

func (s *Store) expireLog(ctx context.Context, d *deleter, cutoff int64) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pLog}})
		defer it.Close()
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if err := scanCheck(ctx, &n); err != nil {
				return err
			}
			t, _, ok := parseLogKey(it.Item().Key())
			if !ok {
				s.skipCorrupt("ingest-log", it.Item().Key(), errors.New("malformed key"))
				continue
			}
			if t >= cutoff {
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
func (s *Store) expireTimed(ctx context.Context, d *deleter, prefix byte, kind string, cutoff int64, also func(txn *badger.Txn, name []byte, t int64) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}})
		defer it.Close()
		it.Rewind()
		n := 0
		for it.Valid() {
			if err := scanCheck(ctx, &n); err != nil {
				return err
			}
			k := it.Item().Key()
			name, rest, ok := splitNameKey(k)
			t, tok := keyTime(rest)
			if !ok || !tok {
				s.skipCorrupt(kind, k, errors.New("malformed key"))
				it.Next()
				continue
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
				if err := also(txn, name, t); err != nil {
					return err
				}
			}
			it.Next()
		}
		return nil
	})
}

// expireValues deletes keys under prefix whose value old reports as expired
// (counted under kind). A value old fails on is skipped as corrupt (logged
// under kind with spaces for underscores).
func (s *Store) expireValues(ctx context.Context, d *deleter, prefix []byte, kind string, old func(v []byte) (bool, error)) error {
	what := strings.ReplaceAll(kind, "_", " ")
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: prefix})
		defer it.Close()
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if err := scanCheck(ctx, &n); err != nil {
				return err
			}
			item := it.Item()
			var expired bool
			var decErr error
			if err := item.Value(func(v []byte) error {
				expired, decErr = old(v)
				return nil
			}); err != nil {
				return fmt.Errorf("read %s %x: %w", what, item.Key(), err)
			}
			if decErr != nil {
				s.skipCorrupt(what, item.Key(), decErr)
				continue
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

func (s *Store) expireOutbox(ctx context.Context, d *deleter, cutoff int64) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: []byte{pOutItem}})
		defer it.Close()
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if err := scanCheck(ctx, &n); err != nil {
				return err
			}
			item := it.Item()
			k := item.Key()
			if len(k) != 9 {
				s.skipCorrupt("outbox", k, errors.New("malformed key"))
				continue
			}
			id := binary.BigEndian.Uint64(k[1:])
			var o OutboxItem
			var decErr error
			if err := item.Value(func(v []byte) error {
				o, decErr = decodeOutboxItem(v)
				return nil
			}); err != nil {
				return fmt.Errorf("read outbox item %d: %w", id, err)
			}
			if decErr != nil {
				s.skipCorrupt("outbox", k, decErr)
				continue
			}
			if o.Created >= cutoff {
				continue
			}
			if err := d.del("outbox", k); err != nil {
				return err
			}
			for _, t := range o.Targets {
				// Pending only for targets that have not acknowledged it.
				if err := d.delIfExists(txn, "outbox_pending", outPendingKey(t, id)); err != nil {
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
func (s *Store) expireDedup(cutoff int64) (int, error) {
	keys, err := s.raiseFloors(cutoff)
	if err != nil {
		return 0, err
	}
	// Every dropped key has Seq ≤ its source's (durable) floor now, so the
	// deletes need not hold the ingest lock.
	return s.deleteKeys(keys)
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
				s.skipCorrupt("deduplication", item.Key(), err)
				continue
			}
			if unsortable(v) >= cutoff {
				continue
			}
			k := item.Key()
			src, rest, ok := splitNameKey(k)
			if !ok || len(rest) != 8 {
				s.skipCorrupt("deduplication", k, errors.New("malformed key"))
				continue
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

// gcValueLog runs up to 16 passes of Badger's value-log garbage
// collection (one rewrites at most one value-log file), calling stopped
// before each: an error from it ends the collection and is returned.
func (s *Store) gcValueLog(stopped func() error) error {
	if s.opts.InMemory {
		return nil
	}
	for range 16 {
		if err := stopped(); err != nil {
			return err
		}
		err := s.db.RunValueLogGC(0.5)
		if err == nil {
			continue
		}
		if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
			s.logger.Warn("value log garbage collection", "err", err)
		}
		return nil
	}
	return nil
}

// scanCheckEvery is how many keys a retention scan visits between checks
// of its context.
const scanCheckEvery = 1024

// scanCheck counts a key visited by a retention scan (*n) and returns
// ctx.Err() every scanCheckEvery keys.
func scanCheck(ctx context.Context, n *int) error {
	*n++
	if *n%scanCheckEvery != 0 {
		return nil
	}
	return ctx.Err()
}
