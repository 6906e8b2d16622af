package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Prediction is the model's output for one entity at one step.
type Prediction struct {
	// ID is PredictionID(Entity, T); PutPredictions fills it in when empty.
	ID     string
	Entity string
	// T is the step the prediction was made at, ms since the epoch.
	T int64
	// Prob is P(failure within the model's horizon), in [0, 1].
	Prob float64
	// Anomaly is the forecast-residual anomaly score.
	Anomaly      float64
	ModelVersion string
	// Threshold is the alerting threshold in force for Prob.
	Threshold float64
}

// PredictionID returns the stable ID of the prediction for entity at t
// (ms): "<entity>@<t>".
func PredictionID(entity string, t int64) string {
	return entity + "@" + strconv.FormatInt(t, 10)
}

// ParsePredictionID splits an ID made by PredictionID.
func ParsePredictionID(id string) (entity string, t int64, err error) {
	i := strings.LastIndexByte(id, '@')
	if i <= 0 {
		return "", 0, fmt.Errorf("prediction id %q: no entity@time", id)
	}
	t, err = strconv.ParseInt(id[i+1:], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("prediction id %q: %w", id, err)
	}
	return id[:i], t, nil
}

// PutPredictions stores ps (replacing predictions of the same entity and
// T) and advances each entity's latest prediction. A non-empty ID must
// equal PredictionID(Entity, T). ps is not retained.
//
// A prediction whose entity is invalid (see ValidEntity) is skipped,
// counted in omen_store_invalid_records_total{kind="prediction"} and
// logged, and the others are stored; it is not an error.
func (s *Store) PutPredictions(ps []Prediction) error {
	if err := s.enterWrite("prediction"); err != nil {
		return err
	}
	defer s.exit()
	start := time.Now()
	latest := make(map[string]int, len(ps)) // entity → index of newest in ps
	entries := make([]kv, 0, len(ps))
	invalid, firstErr := 0, error(nil)
	defer func() { s.skipInvalid("prediction", invalid, firstErr) }()
	for i := range ps {
		p := &ps[i]
		if err := ValidEntity(p.Entity); err != nil {
			if invalid == 0 {
				firstErr = err
			}
			invalid++
			continue
		}
		if p.ID != "" && p.ID != PredictionID(p.Entity, p.T) {
			return fmt.Errorf("put predictions: id %q does not match entity %q at %d", p.ID, p.Entity, p.T)
		}
		entries = append(entries, kv{nameTimeKey(pPred, p.Entity, p.T), encodePredictionAt(p)})
		if j, ok := latest[p.Entity]; !ok || p.T >= ps[j].T {
			latest[p.Entity] = i
		}
	}
	s.latestMu.Lock()
	defer s.latestMu.Unlock()
	var wrote []int // indexes of ps written as their entity's latest
	err := s.db.View(func(txn *badger.Txn) error {
		for ent, i := range latest {
			item, err := txn.Get(nameKey(pLatest, ent))
			if errors.Is(err, badger.ErrKeyNotFound) {
				entries = append(entries, kv{nameKey(pLatest, ent), encodePrediction(&ps[i])})
				wrote = append(wrote, i)
				continue
			}
			if err != nil {
				return err
			}
			var old Prediction
			if err := item.Value(func(v []byte) error { old, err = decodePrediction(v); return err }); err != nil {
				return err
			}
			if ps[i].T >= old.T {
				entries = append(entries, kv{nameKey(pLatest, ent), encodePrediction(&ps[i])})
				wrote = append(wrote, i)
			}
		}
		return nil
	})
	if err == nil {
		err = s.writeKVs(entries)
		s.noteLatest(ps, latest, err == nil)
		s.noteIndexPredictions(ps, wrote, err == nil)
	}
	if err != nil {
		return fmt.Errorf("put predictions: %w", err)
	}
	s.observe("prediction", len(ps)-invalid, start)
	return nil
}

// Predictions calls fn, in time order, for each prediction of entity with
// from ≤ T ≤ to (ms). An error from fn stops the scan and is returned
// wrapped.
func (s *Store) Predictions(entity string, from, to int64, fn func(Prediction) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	err := s.scanRange(pPred, entity, from, to, func(t int64, _, val []byte) error {
		p, err := decodePredictionAt(val, entity, t)
		if err != nil {
			return err
		}
		return fn(p)
	})
	if err != nil {
		return fmt.Errorf("read predictions of %q: %w", entity, err)
	}
	return nil
}

// PredictionsNewestFirst is Predictions in reverse time order: fn is
// called for each prediction of entity with from ≤ T ≤ to, newest first,
// so a caller that wants the newest n can stop after n (return an error
// of its own from fn: it stops the scan and is returned wrapped).
func (s *Store) PredictionsNewestFirst(entity string, from, to int64, fn func(Prediction) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	if from > to {
		return nil
	}
	p := namePrefix(pPred, entity)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, PrefetchValues: true, PrefetchSize: 16, Prefix: p})
		defer it.Close()
		seek := append(appendTime(p, to), 0xff) // after every key at to
		for it.Seek(seek); it.Valid(); it.Next() {
			item := it.Item()
			t, ok := keyTime(item.Key()[len(p):])
			if !ok {
				return fmt.Errorf("malformed key %x", item.Key())
			}
			if t < from {
				return nil
			}
			if t > to {
				continue
			}
			if err := item.Value(func(v []byte) error {
				pr, err := decodePredictionAt(v, entity, t)
				if err != nil {
					return err
				}
				return fn(pr)
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read predictions of %q: %w", entity, err)
	}
	return nil
}

// LatestPredictions returns the newest prediction of every entity, ordered
// by entity.
func (s *Store) LatestPredictions() ([]Prediction, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.exit()
	var out []Prediction
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: []byte{pLatest}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var p Prediction
			if err := it.Item().Value(func(v []byte) error {
				var err error
				p, err = decodePrediction(v)
				return err
			}); err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("latest predictions: %w", err)
	}
	return out, nil
}

// Prediction encoding v1, the latest-prediction record (and, before
// format 2, every history record): byte 1, str entity, varint T,
// 3 × float64 (BE bits: prob, anomaly, threshold), str model version.
func encodePrediction(p *Prediction) []byte {
	b := make([]byte, 0, 40+len(p.Entity)+len(p.ModelVersion))
	b = append(b, 1)
	b = appendStr(b, p.Entity)
	b = binary.AppendVarint(b, p.T)
	return appendPredictionValues(b, p)
}

// Prediction encoding v2, the history record under a key that names the
// entity and T: byte 2, 3 × float64 (as v1), str model version. Leaving
// out what the key holds saves about a fifth of a prediction's bytes on
// disk (docs/PERFORMANCE.md, Disk).
func encodePredictionAt(p *Prediction) []byte {
	b := make([]byte, 0, 26+len(p.ModelVersion))
	b = append(b, 2)
	return appendPredictionValues(b, p)
}

func appendPredictionValues(b []byte, p *Prediction) []byte {
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(p.Prob))
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(p.Anomaly))
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(p.Threshold))
	return appendStr(b, p.ModelVersion)
}

// decodePrediction decodes a v1 record (the latest-prediction record).
func decodePrediction(data []byte) (Prediction, error) {
	return decodePredictionAt(data, "", 0)
}

// decodePredictionAt decodes a history record stored under the key of
// entity and t: v2, or v1 written by an earlier omen (its own entity and T
// are then used, as they always equal the key's). A v2 record needs the
// key: entity "" refuses it.
func decodePredictionAt(data []byte, entity string, t int64) (Prediction, error) {
	var p Prediction
	r := reader{b: data}
	switch ver := r.byte1(); {
	case r.err != nil:
	case ver == 1:
		p.Entity = r.str()
		p.T = r.varint()
	case ver == 2 && entity != "":
		p.Entity, p.T = entity, t
	default:
		return p, fmt.Errorf("%w: prediction version %d", errCorrupt, ver)
	}
	p.Prob = math.Float64frombits(r.fixed64())
	p.Anomaly = math.Float64frombits(r.fixed64())
	p.Threshold = math.Float64frombits(r.fixed64())
	p.ModelVersion = r.str()
	if err := r.done(); err != nil {
		return Prediction{}, err
	}
	p.ID = PredictionID(p.Entity, p.T)
	return p, nil
}

// PutExplanation stores the explanation document (JSON) of a prediction,
// replacing any previous one. doc is copied. Explanations are deleted by
// retention together with their prediction, or Retention after being put.
func (s *Store) PutExplanation(predictionID string, doc []byte) error {
	if err := s.enterWrite("explanation"); err != nil {
		return err
	}
	defer s.exit()
	if err := validName("prediction id", predictionID); err != nil {
		return fmt.Errorf("put explanation: %w", err)
	}
	if !json.Valid(doc) {
		return fmt.Errorf("put explanation of %q: document is not valid JSON", predictionID)
	}
	start := time.Now()
	v := make([]byte, 0, 8+len(doc))
	v = appendTime(v, s.opts.Now().UnixMilli())
	v = append(v, doc...)
	if err := s.writeKVs([]kv{{nameKey(pExpl, predictionID), v}}); err != nil {
		return fmt.Errorf("put explanation of %q: %w", predictionID, err)
	}
	s.observe("explanation", 1, start)
	return nil
}

// Explanation returns the explanation document of a prediction, or an
// error wrapping ErrNotFound.
func (s *Store) Explanation(predictionID string) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.exit()
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(nameKey(pExpl, predictionID))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) < 8 {
				return fmt.Errorf("%w: explanation of %d bytes", errCorrupt, len(v))
			}
			out = append([]byte(nil), v[8:]...)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("explanation of %q: %w", predictionID, err)
	}
	return out, nil
}

// NewestExplanation returns the explanation document stored under the
// newest of entity's stored predictions with from ≤ T ≤ to (ms) that has
// one, with that prediction's id, or an error wrapping ErrNotFound when
// none has. It reads, in one transaction, the keys of the entity's
// explanations (few: omen explains a prediction when its alert fires or on
// request), not its predictions.
func (s *Store) NewestExplanation(entity string, from, to int64) (predictionID string, doc []byte, err error) {
	if err := s.enter(); err != nil {
		return "", nil, err
	}
	defer s.exit()
	if from > to {
		return "", nil, fmt.Errorf("explanation of %q: %w", entity, ErrNotFound)
	}
	p := nameKey(pExpl, entity+"@")
	err = s.db.View(func(txn *badger.Txn) error {
		// Explanation keys hold the time in decimal, which does not sort:
		// collect the span's, then try them newest first.
		var ts []int64
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		for it.Rewind(); it.Valid(); it.Next() {
			id := string(it.Item().Key()[1:])
			// An alert's fingerprint, or the id of another entity whose
			// name starts with entity + "@", is not the entity's.
			e, t, err := ParsePredictionID(id)
			if err == nil && e == entity && id == PredictionID(e, t) && from <= t && t <= to {
				ts = append(ts, t)
			}
		}
		it.Close()
		slices.Sort(ts)
		for i := len(ts) - 1; i >= 0; i-- {
			// An explanation counts only while its prediction is stored.
			if _, err := txn.Get(nameTimeKey(pPred, entity, ts[i])); errors.Is(err, badger.ErrKeyNotFound) {
				continue
			} else if err != nil {
				return err
			}
			id := PredictionID(entity, ts[i])
			item, err := txn.Get(nameKey(pExpl, id))
			if err != nil {
				return err
			}
			return item.Value(func(v []byte) error {
				if len(v) < 8 {
					return fmt.Errorf("%w: explanation of %d bytes", errCorrupt, len(v))
				}
				predictionID, doc = id, append([]byte(nil), v[8:]...)
				return nil
			})
		}
		return ErrNotFound
	})
	if err != nil {
		return "", nil, fmt.Errorf("explanation of %q: %w", entity, err)
	}
	return predictionID, doc, nil
}
