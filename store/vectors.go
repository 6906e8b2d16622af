package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Schema is the layout of feature vectors: the names of Vector.Values and
// Vector.Failure, in order. Each change of layout is a new Version
// (1, 2, …) recorded with the time it was first put.
type Schema struct {
	Version  uint32   `json:"version"`
	Since    int64    `json:"since"` // ms, store clock at PutSchema
	Features []string `json:"features"`
	Labels   []string `json:"labels"`
	// StepMS is the daemon's evaluation step in ms (PutSchemaStep); 0 when
	// not recorded (PutSchema, or a schema written before it was).
	StepMS int64 `json:"step_ms,omitempty"`
	// Presence names the features whose value makes a stored vector a
	// row of the daemon's windows (app.PresenceFeatures: its instant
	// PromQL features; PutSchemaPresence): a vector with none of them was
	// stored only for its failure label, the entity being absent. Empty,
	// not nil: every vector is a row. nil: not recorded (PutSchemaStep,
	// or a schema written before it was); the field is then absent from
	// the JSON record, which an older omen, ignoring unknown fields,
	// reads as before.
	Presence []string `json:"presence_features,omitzero"`
}

// Vector is the feature vector of one entity at one step.
type Vector struct {
	Entity string
	// T is the step time in ms since the epoch.
	T int64
	// Values are the features, in Schema.Features order.
	Values []float64
	// Failure are the failure labels, in Schema.Labels order.
	Failure []bool
	// Schema is the schema version the vector follows. PutVectors sets 0
	// to the current version.
	Schema uint32
}

// EntityInfo describes an entity (e.g. namespace/pod, or a module).
type EntityInfo struct {
	ID        string
	Labels    map[string]string
	FirstSeen int64 // ms
	LastSeen  int64 // ms
}

// MaxEntityLen is the longest entity ID the store accepts, in bytes
// (Badger keys are at most 65,000 bytes; an entity is part of several).
const MaxEntityLen = 8192

// ErrInvalidEntity is wrapped by ValidEntity's errors.
var ErrInvalidEntity = errors.New("invalid entity")

// ValidEntity returns why id cannot be an entity ID (wrapping
// ErrInvalidEntity), or nil: it must be non-empty, hold no NUL byte (the
// key separator) and be at most MaxEntityLen bytes.
func ValidEntity(id string) error {
	if err := validName("entity", id); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEntity, err)
	}
	if len(id) > MaxEntityLen {
		return fmt.Errorf("%w: entity %.64q… is %d bytes, longer than %d", ErrInvalidEntity, id, len(id), MaxEntityLen)
	}
	return nil
}

// skipInvalid counts and logs the n records of kind that were skipped for
// an invalid entity; err is the first one's reason.
func (s *Store) skipInvalid(kind string, n int, err error) {
	if n == 0 {
		return
	}
	s.m.invalid.WithLabelValues(kind).Add(float64(n))
	s.opts.Logger.Warn("store: records with an invalid entity skipped", "kind", kind, "n", n, "err", err)
}

func registerInvalidMetric(f promauto.Factory) *prometheus.CounterVec {
	c := f.NewCounterVec(prometheus.CounterOpts{
		Namespace: "omen", Subsystem: "store", Name: "invalid_records_total",
		Help: "Records skipped by a write call because their entity was invalid (empty, with a NUL byte, or longer than MaxEntityLen), by kind; the call's other records are written.",
	}, []string{"kind"})
	for _, k := range []string{"vector", "entity", "prediction"} {
		c.WithLabelValues(k)
	}
	return c
}

func schemaKey(v uint32) []byte { return binary.BigEndian.AppendUint32([]byte{pSchema}, v) }

func (s *Store) loadSchema() error {
	all, err := s.schemas()
	if err != nil {
		return err
	}
	if len(all) > 0 {
		cur := all[len(all)-1]
		s.schema.Store(&cur)
	}
	return nil
}

// PutSchema records the vector layout, without a step: PutSchemaStep
// with step 0.
func (s *Store) PutSchema(featureNames, labelNames []string) error {
	return s.PutSchemaStep(featureNames, labelNames, 0)
}

// PutSchemaStep records the vector layout and the evaluation step the
// vectors are on (whole ms; 0: not recorded), which offline commands
// check models against, without presence features (Schema.Presence nil:
// not recorded). If they equal the current schema's nothing changes (and
// nothing is written: it succeeds below the disk reserve too); otherwise
// a new version is recorded with Since = now. featureNames and
// labelNames are copied.
func (s *Store) PutSchemaStep(featureNames, labelNames []string, step time.Duration) error {
	return s.putSchema(featureNames, labelNames, step, nil)
}

// PutSchemaPresence is PutSchemaStep also recording the presence
// features (Schema.Presence), which offline training reads to see the
// windows the daemon scores; nil records none (every vector a row), as
// an empty list. A schema equal but for them is a new version. presence
// is copied.
func (s *Store) PutSchemaPresence(featureNames, labelNames []string, step time.Duration, presence []string) error {
	if presence == nil {
		presence = []string{}
	}
	return s.putSchema(featureNames, labelNames, step, presence)
}

// putSchema records a schema; presence nil: not recorded.
func (s *Store) putSchema(featureNames, labelNames []string, step time.Duration, presence []string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	cur := s.schema.Load()
	if cur != nil && slices.Equal(cur.Features, featureNames) && slices.Equal(cur.Labels, labelNames) && cur.StepMS == step.Milliseconds() &&
		(cur.Presence == nil) == (presence == nil) && slices.Equal(cur.Presence, presence) {
		return nil
	}
	if err := s.writable("schema"); err != nil {
		return fmt.Errorf("write schema: %w", err)
	}
	next := Schema{
		Version:  1,
		Since:    s.opts.Now().UnixMilli(),
		Features: slices.Clone(featureNames),
		Labels:   slices.Clone(labelNames),
		StepMS:   step.Milliseconds(),
		Presence: slices.Clone(presence), // nil stays nil
	}
	if cur != nil {
		next.Version = cur.Version + 1
	}
	doc, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("put schema: %w", err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(schemaKey(next.Version), doc) }); err != nil {
		return fmt.Errorf("put schema version %d: %w", next.Version, err)
	}
	s.schema.Store(&next)
	s.m.writes.WithLabelValues("schema").Inc()
	return nil
}

// Columns returns, for each of from's names, its index in to, or -1 when
// to lacks it: how values stored under one schema's names map by name
// onto another layout (a reload may have renamed, reordered, added or
// removed features since they were stored).
func Columns(from, to []string) []int {
	pos := make(map[string]int, len(to))
	for j, n := range to {
		pos[n] = j
	}
	cols := make([]int, len(from))
	for i, n := range from {
		j, ok := pos[n]
		if !ok {
			j = -1
		}
		cols[i] = j
	}
	return cols
}

// Schema returns the current schema, or an error wrapping ErrNotFound if
// none was put. The result is the caller's.
func (s *Store) Schema() (Schema, error) {
	if err := s.enter(); err != nil {
		return Schema{}, err
	}
	defer s.exit()
	cur := s.schema.Load()
	if cur == nil {
		return Schema{}, fmt.Errorf("schema: %w", ErrNotFound)
	}
	out := *cur
	out.Features, out.Labels, out.Presence = slices.Clone(cur.Features), slices.Clone(cur.Labels), slices.Clone(cur.Presence)
	return out, nil
}

// Schemas returns every recorded schema version, oldest first.
func (s *Store) Schemas() ([]Schema, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.exit()
	out, err := s.schemas()
	if err != nil {
		return nil, fmt.Errorf("list schemas: %w", err)
	}
	return out, nil
}

func (s *Store) schemas() ([]Schema, error) {
	var out []Schema
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: []byte{pSchema}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var sc Schema
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &sc) }); err != nil {
				return fmt.Errorf("decode schema %x: %w", it.Item().Key(), err)
			}
			out = append(out, sc)
		}
		return nil
	})
	return out, err
}

// PutVectors stores vs, replacing vectors of the same entity and T. A
// vector with Schema 0 is stored under the current schema version; when a
// schema exists, lengths must match it. One transaction per call (split if
// too big), fsync'd before returning. vs is not retained.
//
// A vector whose entity is invalid (see ValidEntity) is skipped, counted
// in omen_store_invalid_records_total{kind="vector"} and logged, and the
// others are stored: one bad entity name (e.g. from a label value the
// ingest let through) must not lose the whole step. It is not an error.
func (s *Store) PutVectors(vs []Vector) error { return s.putVectors(vs, nil) }

// putVectors is PutVectors, writing extra after the vectors in the same
// transaction (the last one if it is split).
func (s *Store) putVectors(vs []Vector, extra []kv) error {
	if err := s.enterWrite("vector"); err != nil {
		return err
	}
	defer s.exit()
	start := time.Now()
	cur := s.schema.Load()
	var known map[uint32]Schema
	entries := make([]kv, 0, len(vs)+len(extra))
	invalid, firstErr := 0, error(nil)
	defer func() { s.skipInvalid("vector", invalid, firstErr) }()
	for i := range vs {
		v := &vs[i]
		if err := ValidEntity(v.Entity); err != nil {
			if invalid == 0 {
				firstErr = err
			}
			invalid++
			continue
		}
		ver := v.Schema
		if ver == 0 && cur != nil {
			ver = cur.Version
		}
		if ver != 0 {
			var sc Schema
			if cur != nil && ver == cur.Version {
				sc = *cur
			} else {
				if known == nil {
					all, err := s.schemas()
					if err != nil {
						return fmt.Errorf("put vectors: %w", err)
					}
					known = make(map[uint32]Schema, len(all))
					for _, x := range all {
						known[x.Version] = x
					}
				}
				var ok bool
				if sc, ok = known[ver]; !ok {
					return fmt.Errorf("put vectors: entity %q at %d: schema version %d: %w", v.Entity, v.T, ver, ErrNotFound)
				}
			}
			if len(v.Values) != len(sc.Features) || len(v.Failure) != len(sc.Labels) {
				return fmt.Errorf("put vectors: entity %q at %d: %d values and %d labels, schema %d has %d and %d",
					v.Entity, v.T, len(v.Values), len(v.Failure), ver, len(sc.Features), len(sc.Labels))
			}
		}
		entries = append(entries, kv{nameTimeKey(pVector, v.Entity, v.T), encodeVector(ver, v)})
	}
	n := len(entries)
	entries = append(entries, extra...)
	if err := s.writeKVs(entries); err != nil {
		return fmt.Errorf("put vectors: %w", err)
	}
	s.observe("vector", n, start)
	return nil
}

// Vectors calls fn, in time order, for each vector of entity with
// from ≤ T ≤ to (ms). fn owns the vector; an error from fn stops the scan
// and is returned wrapped.
func (s *Store) Vectors(entity string, from, to int64, fn func(Vector) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	err := s.scanRange(pVector, entity, from, to, func(t int64, _ []byte, val []byte) error {
		v, err := decodeVector(val)
		if err != nil {
			return err
		}
		v.Entity, v.T = entity, t
		return fn(v)
	})
	if err != nil {
		return fmt.Errorf("read vectors of %q: %w", entity, err)
	}
	return nil
}

// Vector encodings. Version 1 (still read): byte 1, uvarint schema,
// uvarint n, n × float64 (little-endian bits), uvarint m, ceil(m/8) bytes
// of failure bits (LSB first). Version 2 (written since 2026-11-26): the
// same with each value as appendXOR writes it (a tag byte of leading and
// trailing zero bytes, then the bytes between; 0 is one byte): event
// counts, flags and integers, most of a Kubernetes feature vector, take
// 1–3 bytes. A binary older than version 2 cannot read the vectors a newer
// one wrote (it reports them as corrupt): roll back the store with the
// binary, or not at all.
const (
	vectorV1 = 1
	vectorV2 = 2
)

// encodeVector encodes v (version 2) under schema version schema.
func encodeVector(schema uint32, v *Vector) []byte {
	b := make([]byte, 0, 4+3*len(v.Values)+len(v.Failure)/8+4)
	b = append(b, vectorV2)
	b = binary.AppendUvarint(b, uint64(schema))
	b = binary.AppendUvarint(b, uint64(len(v.Values)))
	for _, x := range v.Values {
		b = appendXOR(b, math.Float64bits(x))
	}
	b = binary.AppendUvarint(b, uint64(len(v.Failure)))
	var cur byte
	for i, f := range v.Failure {
		if f {
			cur |= 1 << (i % 8)
		}
		if i%8 == 7 {
			b = append(b, cur)
			cur = 0
		}
	}
	if len(v.Failure)%8 != 0 {
		b = append(b, cur)
	}
	return b
}

func decodeVector(data []byte) (Vector, error) {
	var v Vector
	r := reader{b: data}
	ver := r.byte1()
	if r.err == nil && ver != vectorV1 && ver != vectorV2 {
		return v, fmt.Errorf("%w: vector version %d", errCorrupt, ver)
	}
	sc := r.uvarint()
	if sc > math.MaxUint32 {
		r.fail("schema version out of range")
	}
	v.Schema = uint32(sc)
	switch ver {
	case vectorV1:
		n := r.count(8)
		if r.err == nil {
			v.Values = make([]float64, n)
			for i := range v.Values {
				v.Values[i] = math.Float64frombits(binary.LittleEndian.Uint64(r.b[8*i:]))
			}
			r.b = r.b[8*n:]
		}
	case vectorV2:
		n := r.count(1)
		if r.err == nil {
			v.Values = make([]float64, n)
			for i := range v.Values {
				v.Values[i] = math.Float64frombits(r.xor())
			}
		}
	}
	m := r.uvarint()
	if r.err == nil {
		if (m+7)/8 != uint64(len(r.b)) {
			r.fail("failure bits length mismatch")
		} else {
			v.Failure = make([]bool, m)
			for i := range v.Failure {
				v.Failure[i] = r.b[i/8]&(1<<(i%8)) != 0
			}
			r.b = nil
		}
	}
	if r.err != nil {
		return Vector{}, r.err
	}
	return v, nil
}

// PutEntity records that entity id was seen at t (ms) with labels: the
// first sighting sets FirstSeen, later ones move LastSeen forward, and the
// labels of the newest sighting win. labels is not retained.
func (s *Store) PutEntity(id string, labels map[string]string, t int64) error {
	return s.PutEntities([]EntityInfo{{ID: id, Labels: labels, FirstSeen: t, LastSeen: t}})
}

// PutEntities records many sightings in one transaction (one fsync): each
// element says entity ID was seen from FirstSeen (0: same as LastSeen) to
// LastSeen with Labels, merged as by PutEntity. es is not retained.
//
// A sighting whose ID is invalid (see ValidEntity) is skipped, counted in
// omen_store_invalid_records_total{kind="entity"} and logged, and the
// others are stored; it is not an error.
func (s *Store) PutEntities(es []EntityInfo) error {
	if err := s.enterWrite("entity"); err != nil {
		return err
	}
	defer s.exit()
	var invalid int
	var firstErr error
	for i := range es {
		if err := ValidEntity(es[i].ID); err != nil {
			if invalid == 0 {
				firstErr = err
				es = slices.Clone(es) // es is the caller's
			}
			invalid++
			es[i].ID = ""
		}
	}
	if invalid > 0 {
		es = slices.DeleteFunc(es, func(e EntityInfo) bool { return e.ID == "" })
		s.skipInvalid("entity", invalid, firstErr)
	}
	if len(es) == 0 {
		return nil
	}
	start := time.Now()
	s.latestMu.Lock()
	defer s.latestMu.Unlock()
	merged := make(map[string]*EntityInfo, len(es))
	var order []string
	err := s.db.View(func(txn *badger.Txn) error {
		for i := range es {
			e := es[i]
			if e.FirstSeen == 0 || e.FirstSeen > e.LastSeen {
				e.FirstSeen = e.LastSeen
			}
			cur := merged[e.ID]
			if cur == nil {
				item, err := txn.Get(nameKey(pEntity, e.ID))
				switch {
				case err == nil:
					var old EntityInfo
					if err := item.Value(func(v []byte) error { old, err = decodeEntity(v); return err }); err != nil {
						return fmt.Errorf("entity %q: %w", e.ID, err)
					}
					old.ID = e.ID
					cur = &old
				case errors.Is(err, badger.ErrKeyNotFound):
				default:
					return err
				}
			}
			if cur == nil {
				c := e
				cur = &c
				order = append(order, e.ID)
			} else {
				if _, seen := merged[e.ID]; !seen {
					order = append(order, e.ID)
				}
				cur.FirstSeen = min(cur.FirstSeen, e.FirstSeen)
				if e.LastSeen >= cur.LastSeen {
					cur.LastSeen, cur.Labels = e.LastSeen, e.Labels
				}
			}
			merged[e.ID] = cur
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put entities: %w", err)
	}
	entries := make([]kv, 0, len(order))
	written := make([]*EntityInfo, 0, len(order))
	for _, id := range order {
		entries = append(entries, kv{nameKey(pEntity, id), encodeEntity(merged[id])})
		written = append(written, merged[id])
	}
	err = s.writeKVs(entries)
	s.noteIndexEntities(written, err == nil)
	if err != nil {
		return fmt.Errorf("put entities: %w", err)
	}
	s.observe("entity", len(es), start)
	return nil
}

// Entities returns every known entity, ordered by ID.
func (s *Store) Entities() ([]EntityInfo, error) {
	return s.listEntities("", 0, "list entities")
}

// Entity encoding v1: byte 1, varint first, varint last, labels.
func encodeEntity(e *EntityInfo) []byte {
	b := []byte{1}
	b = binary.AppendVarint(b, e.FirstSeen)
	b = binary.AppendVarint(b, e.LastSeen)
	return appendLabelMap(b, e.Labels)
}

func decodeEntity(data []byte) (EntityInfo, error) {
	var e EntityInfo
	r := reader{b: data}
	if ver := r.byte1(); r.err == nil && ver != 1 {
		return e, fmt.Errorf("%w: entity version %d", errCorrupt, ver)
	}
	e.FirstSeen = r.varint()
	e.LastSeen = r.varint()
	e.Labels = r.labelMap()
	return e, r.done()
}

// appendLabelMap writes uvarint n, then n name/value strings sorted by name.
func appendLabelMap(b []byte, m map[string]string) []byte {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, k := range names {
		b = appendStr(b, k)
		b = appendStr(b, m[k])
	}
	return b
}

func (r *reader) labelMap() map[string]string {
	n := r.count(2)
	if r.err != nil || n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for i := 0; i < n && r.err == nil; i++ {
		k := r.str()
		m[k] = r.str()
	}
	return m
}
