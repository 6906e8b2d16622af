package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	badger "github.com/dgraph-io/badger/v4"
)

// ModelMeta describes a registered model version.
type ModelMeta struct {
	Version string `json:"version"`
	// Created is the registration time in ms; PutModel sets now when 0.
	Created int64 `json:"created"`
	// Size and SHA256 (hex) of the model data, set by PutModel.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Description, evaluation Metrics (e.g. "auc_pr") and Params (e.g.
	// hyper-parameters, feature schema version) are the caller's.
	Description string             `json:"description,omitempty"`
	Metrics     map[string]float64 `json:"metrics,omitempty"`
	Params      map[string]string  `json:"params,omitempty"`
	// Active is set on read when this is the active version.
	Active bool `json:"-"`
}

// ErrExists is returned (wrapped) by PutModel for a version already
// registered with different data.
var ErrExists = errors.New("already exists")

// ErrActive is returned (wrapped) by DeleteModel for the active version.
var ErrActive = errors.New("it is the active model")

// ErrInvalidVersion is returned (wrapped) by PutModel for a version that
// cannot name a model: empty or blank (only white space), "." or ".." (a
// URL path cannot name them), with white space around it, or with a NUL
// byte or another control character (they would break the listings), or
// not valid UTF-8 (no metric label, JSON or URL carries it unchanged).
var ErrInvalidVersion = errors.New("not a usable name")

// CheckVersion returns an error wrapping ErrInvalidVersion for a version
// that cannot name a model (see ErrInvalidVersion), nil otherwise: what
// PutModel refuses, for a registry kept elsewhere (tests' in-memory one).
func CheckVersion(version string) error {
	if err := validName("model version", version); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalidVersion)
	}
	switch {
	case strings.TrimSpace(version) == "":
		return fmt.Errorf("model version %q: %w (blank)", version, ErrInvalidVersion)
	case version == "." || version == "..":
		return fmt.Errorf("model version %q: %w (a URL path cannot name it)", version, ErrInvalidVersion)
	case strings.TrimSpace(version) != version:
		return fmt.Errorf("model version %q: %w (white space around it)", version, ErrInvalidVersion)
	case strings.ContainsFunc(version, unicode.IsControl):
		return fmt.Errorf("model version %q: %w (a control character)", version, ErrInvalidVersion)
	case !utf8.ValidString(version):
		return fmt.Errorf("model version %q: %w (not valid UTF-8)", version, ErrInvalidVersion)
	}
	return nil
}

const (
	modelChunk      = 1 << 20
	registryHistory = 100
)

// registryDeleted is how many deleted versions' names the registry
// record keeps (the newest): a name deleted longer ago may be registered
// again (Store.deletedKept, which tests lower).
const registryDeleted = 1000

type registryState struct {
	Generation uint64   `json:"generation"`
	History    []string `json:"history"` // promoted versions, last is active
	// Deleted are the versions DeleteModel removed, the newest
	// registryDeleted of them: their names are not registered again
	// (stored predictions name the version that scored them, so a reused
	// name would make that history ambiguous; the oldest predictions are
	// gone by retention long before a thousand more versions were deleted,
	// at any sane rate).
	Deleted []string `json:"deleted,omitempty"`
}

type activeModel struct {
	version    string
	generation uint64
}

func modelChunkKey(version string, i uint32) []byte {
	return binary.BigEndian.AppendUint32(namePrefix(pModelData, version), i)
}

func (s *Store) loadActive() error {
	st, err := s.registry(nil)
	if errors.Is(err, errCorrupt) {
		st, err = s.resetRegistry(err)
	}
	if err != nil {
		return err
	}
	s.setActive(st)
	return nil
}

// resetRegistry replaces a registry record that does not decode (cause;
// e.g. its value-log file was cut short) with an empty one: no active
// model, no rollback history, no deleted names. The registered models
// (their metadata and data are records of their own) stay: the warning
// lists them, to promote one again. The generation restarts at the clock
// in ms, above any count of promotions the lost record held.
func (s *Store) resetRegistry(cause error) (registryState, error) {
	st := registryState{Generation: uint64(max(s.opts.Now().UnixMilli(), 1))}
	doc, err := json.Marshal(st)
	if err == nil {
		err = s.db.Update(func(txn *badger.Txn) error { return txn.Set(keyRegistry, doc) })
	}
	if err != nil {
		return st, fmt.Errorf("reset the model registry, whose record does not decode (%w): %w", cause, err)
	}
	s.corruptAtOpen++
	var versions []string
	keys, err := s.keysWithPrefix([]byte{pModelMeta})
	for _, k := range keys {
		versions = append(versions, string(k[1:]))
	}
	if err != nil {
		versions = append(versions, "(listing failed: "+err.Error()+")")
	}
	s.logger.Warn("model registry reset: its record does not decode, so the active model, the rollback history and the deleted versions' names are lost; "+
		"no model is active: promote one of the registered versions with omen model promote VERSION (omen model list shows them), or register one with omen model add",
		"path", s.opts.Path, "err", cause, "registered", versions)
	return st, nil
}

func (s *Store) setActive(st registryState) {
	a := &activeModel{generation: st.Generation}
	if n := len(st.History); n > 0 {
		a.version = st.History[n-1]
	}
	s.active.Store(a)
}

// registry reads the registry state, in txn if non-nil.
func (s *Store) registry(txn *badger.Txn) (registryState, error) {
	var st registryState
	read := func(txn *badger.Txn) error {
		item, err := txn.Get(keyRegistry)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("%w: model registry record of %d bytes: %w", errCorrupt, len(v), err)
			}
			return nil
		})
	}
	var err error
	if txn != nil {
		err = read(txn)
	} else {
		err = s.db.View(read)
	}
	return st, err
}

// PutModel registers model data under version. Registering the same data
// again is a no-op; different data under an existing version, and any
// data under a deleted version (DeleteModel), fails with ErrExists. An
// empty or blank version, "." and ".." are refused with ErrInvalidVersion.
// Data is written in chunks, the metadata last, so a model is visible
// only when complete. data is not retained.
func (s *Store) PutModel(version string, data []byte, meta ModelMeta) error {
	if err := s.enterWrite("model"); err != nil {
		return err
	}
	defer s.exit()
	if err := CheckVersion(version); err != nil {
		return fmt.Errorf("put model: %w", err)
	}
	start := time.Now()
	sum := sha256.Sum256(data)
	meta.Version = version
	meta.Size = int64(len(data))
	meta.SHA256 = hex.EncodeToString(sum[:])
	meta.Active = false
	if meta.Created == 0 {
		meta.Created = s.opts.Now().UnixMilli()
	}
	s.regMu.Lock()
	defer s.regMu.Unlock()
	old, err := s.modelMeta(version)
	switch {
	case err == nil && old.SHA256 == meta.SHA256:
		return nil
	case err == nil:
		return fmt.Errorf("put model %q: %w with sha256 %s", version, ErrExists, old.SHA256)
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("put model %q: %w", version, err)
	}
	reg, err := s.registry(nil)
	if err != nil {
		return fmt.Errorf("put model %q: %w", version, err)
	}
	if slices.Contains(reg.Deleted, version) {
		return fmt.Errorf("put model %q: %w as a deleted version (a deleted version's name is not reused: stored predictions may name it)", version, ErrExists)
	}
	// Remove chunks of an earlier, incomplete attempt.
	partial, err := s.keysWithPrefix(namePrefix(pModelData, version))
	if err == nil {
		_, err = s.deleteKeys(partial)
	}
	if err != nil {
		return fmt.Errorf("put model %q: clear partial data: %w", version, err)
	}
	var entries []kv
	for i := 0; i*modelChunk < len(data) || i == 0; i++ {
		end := min((i+1)*modelChunk, len(data))
		entries = append(entries, kv{modelChunkKey(version, uint32(i)), data[i*modelChunk : end]})
	}
	if err := s.writeKVs(entries); err != nil {
		return fmt.Errorf("put model %q: write data: %w", version, err)
	}
	doc, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("put model %q: %w", version, err)
	}
	if err := s.writeKVs([]kv{{nameKey(pModelMeta, version), doc}}); err != nil {
		return fmt.Errorf("put model %q: write metadata: %w", version, err)
	}
	s.observe("model", 1, start)
	return nil
}

func (s *Store) keysWithPrefix(p []byte) ([][]byte, error) {
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	return keys, err
}

func (s *Store) modelMeta(version string) (ModelMeta, error) {
	var m ModelMeta
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(nameKey(pModelMeta, version))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return decodeModelMeta(v, &m) })
	})
	if err == nil {
		m.Active = s.active.Load().version == version
	}
	return m, err
}

// decodeModelMeta decodes a model's metadata record; an error wraps
// errCorrupt.
func decodeModelMeta(v []byte, m *ModelMeta) error {
	if err := json.Unmarshal(v, m); err != nil {
		return fmt.Errorf("%w: model metadata record of %d bytes: %w", errCorrupt, len(v), err)
	}
	return nil
}

// Model returns the data and metadata of version, verifying its checksum,
// or an error wrapping ErrNotFound.
func (s *Store) Model(version string) ([]byte, ModelMeta, error) {
	if err := s.enter(); err != nil {
		return nil, ModelMeta{}, err
	}
	defer s.exit()
	meta, err := s.modelMeta(version)
	if err != nil {
		return nil, ModelMeta{}, fmt.Errorf("model %q: %w", version, err)
	}
	data := make([]byte, 0, meta.Size)
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 4, Prefix: namePrefix(pModelData, version)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := it.Item().Value(func(v []byte) error { data = append(data, v...); return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, ModelMeta{}, fmt.Errorf("model %q: read data: %w", version, err)
	}
	sum := sha256.Sum256(data)
	if int64(len(data)) != meta.Size || !bytes.Equal(sum[:], mustHex(meta.SHA256)) {
		return nil, ModelMeta{}, fmt.Errorf("model %q: %w: data does not match size %d / sha256 %s", version, errCorrupt, meta.Size, meta.SHA256)
	}
	return data, meta, nil
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil
	}
	return b
}

// ListModels returns the metadata of every registered model, ordered by
// version string.
func (s *Store) ListModels() ([]ModelMeta, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.exit()
	active := s.active.Load().version
	var out []ModelMeta
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: []byte{pModelMeta}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var m ModelMeta
			err := it.Item().Value(func(v []byte) error { return decodeModelMeta(v, &m) })
			if errors.Is(err, errCorrupt) {
				// One unreadable record (a cut value log) does not hide
				// the others.
				s.m.corrupt.Inc()
				s.logger.Warn("model metadata record does not decode: listing the others; omen model delete VERSION removes it", "version", string(it.Item().Key()[1:]), "err", err)
				continue
			}
			if err != nil {
				return err
			}
			m.Active = m.Version == active
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	return out, nil
}

// Promote makes version the active model (it must be registered) and bumps
// the registry generation. Promoting the active version is a no-op. Like
// DeleteModel and Rollback it goes on below the disk reserve, down to half
// of it: it writes one small record, and backs out of a bad model while
// the disk is short.
func (s *Store) Promote(version string) error {
	if err := s.enterAlertWrite("registry"); err != nil {
		return err
	}
	defer s.exit()
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if _, err := s.modelMeta(version); err != nil {
		return fmt.Errorf("promote model %q: %w", version, err)
	}
	return s.changeRegistry("promote model "+version, func(st *registryState) error {
		if n := len(st.History); n > 0 && st.History[n-1] == version {
			return errNoChange
		}
		st.History = append(st.History, version)
		if len(st.History) > registryHistory {
			st.History = slices.Clone(st.History[len(st.History)-registryHistory:])
		}
		return nil
	})
}

// Rollback re-activates the previously active model. It fails with an
// error wrapping ErrNotFound when there is none. It goes on below the disk
// reserve, down to half of it (see Promote).
func (s *Store) Rollback() error {
	if err := s.enterAlertWrite("registry"); err != nil {
		return err
	}
	defer s.exit()
	s.regMu.Lock()
	defer s.regMu.Unlock()
	return s.changeRegistry("roll back model", func(st *registryState) error {
		if len(st.History) < 2 {
			return fmt.Errorf("previous model: %w", ErrNotFound)
		}
		st.History = st.History[:len(st.History)-1]
		return nil
	})
}

var errNoChange = errors.New("no change")

func (s *Store) changeRegistry(what string, fn func(*registryState) error) error {
	var next registryState
	err := s.db.Update(func(txn *badger.Txn) error {
		st, err := s.registry(txn)
		if err != nil {
			return err
		}
		if err := fn(&st); err != nil {
			return err
		}
		st.Generation++
		doc, err := json.Marshal(st)
		if err != nil {
			return err
		}
		next = st
		return txn.Set(keyRegistry, doc)
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	s.setActive(next)
	s.m.writes.WithLabelValues("registry").Inc()
	return nil
}

// Active returns the metadata of the active model, or an error wrapping
// ErrNotFound if none was promoted.
func (s *Store) Active() (ModelMeta, error) {
	if err := s.enter(); err != nil {
		return ModelMeta{}, err
	}
	defer s.exit()
	v := s.active.Load().version
	if v == "" {
		return ModelMeta{}, fmt.Errorf("active model: %w", ErrNotFound)
	}
	m, err := s.modelMeta(v)
	if err != nil {
		return ModelMeta{}, fmt.Errorf("active model %q: %w", v, err)
	}
	return m, nil
}

// PreviousVersion returns the version Rollback would make active, or an
// error wrapping ErrNotFound when there is none.
func (s *Store) PreviousVersion() (string, error) {
	if err := s.enter(); err != nil {
		return "", err
	}
	defer s.exit()
	st, err := s.registry(nil)
	if err != nil {
		return "", fmt.Errorf("previous model: %w", err)
	}
	if len(st.History) < 2 {
		return "", fmt.Errorf("previous model: %w", ErrNotFound)
	}
	return st.History[len(st.History)-2], nil
}

// ActiveVersion returns the active model version ("" if none) and the
// registry generation, which grows with every Promote and Rollback. It
// reads memory only, so a daemon can poll it cheaply and hot-reload when
// the generation changes.
func (s *Store) ActiveVersion() (version string, generation uint64) {
	a := s.active.Load()
	return a.version, a.generation
}

// DeleteModel removes an inactive model version and drops it from the
// rollback history (a later Rollback skips it); its name is remembered and
// not registered again (PutModel), until 1000 more versions have been
// deleted (the registry keeps the newest 1000 deleted names). Deleting the active version is refused
// with an error wrapping ErrActive; an unknown one fails with ErrNotFound.
// Deleting frees space, so it goes on below the disk reserve, down to half
// of it, like the alert pipeline's writes (Badger reclaims the space at
// its next compaction and value-log GC, not at once).
func (s *Store) DeleteModel(version string) error {
	if err := s.enterAlertWrite("model_delete"); err != nil {
		return err
	}
	defer s.exit()
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if s.active.Load().version == version {
		return fmt.Errorf("delete model %q: %w", version, ErrActive)
	}
	// A version whose metadata does not decode can be deleted (ListModels
	// names it in a warning).
	if _, err := s.modelMeta(version); err != nil && !errors.Is(err, errCorrupt) {
		return fmt.Errorf("delete model %q: %w", version, err)
	}
	err := s.changeRegistry("delete model "+version, func(st *registryState) error {
		st.History = slices.Compact(slices.DeleteFunc(st.History, func(v string) bool { return v == version }))
		if !slices.Contains(st.Deleted, version) {
			st.Deleted = append(st.Deleted, version)
		}
		if n := len(st.Deleted); n > s.deletedKept {
			st.Deleted = slices.Clone(st.Deleted[n-s.deletedKept:])
		}
		return nil
	})
	if err != nil {
		return err
	}
	keys, err := s.keysWithPrefix(namePrefix(pModelData, version))
	if err == nil {
		_, err = s.deleteKeys(append(keys, nameKey(pModelMeta, version)))
	}
	if err != nil {
		return fmt.Errorf("delete model %q: %w", version, err)
	}
	return nil
}
