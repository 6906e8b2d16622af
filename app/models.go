package app

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
)

// registryAdmin serves the API's model endpoints (api.ModelAdmin) over the
// store's registry: models are registered and promoted while the daemon
// holds the store, checked against the features in use first, and a
// promotion is in use when the call returns. Safe for concurrent use:
// registry changes (add with promote, promote, rollback, delete) hold one
// mutex from their checks to the model in use, so that each sees the
// others' effects whole (the daemon's is the scorer's regMu, which a
// configuration reload's new features wait for too: a change checks and
// installs its model against the same features, and one refused as not
// fitting has not changed the registry).
//
// Without a scorer (NewRegistry: no daemon), models are checked only to
// decode; their features are checked when a daemon loads them.
type registryAdmin struct {
	st     *store.Store
	s      *scorer     // nil without a daemon
	mu     *sync.Mutex // without a daemon
	source string      // in the description of a registered model
}

// NewRegistry manages the model registry of a store no daemon holds
// (omen model and omen train without --url).
func NewRegistry(st *store.Store, source string) api.ModelAdmin {
	return registryAdmin{st: st, mu: new(sync.Mutex), source: source}
}

// Registry manages the running daemon's model registry, as the API's
// model endpoints do; source goes into the description of the models it
// registers.
func (a *App) Registry(source string) api.ModelAdmin {
	return registryAdmin{st: a.store, s: a.scorer, source: source}
}

// lock takes the registry mutex; it returns the unlock.
func (r registryAdmin) lock() func() {
	if r.s != nil {
		return r.s.lockRegistry()
	}
	if r.mu == nil {
		return func() {}
	}
	r.mu.Lock()
	return r.mu.Unlock
}

// hook calls the scorer's test hook, if set, at a named step.
func (r registryAdmin) hook(step string) {
	if r.s != nil && r.s.testHook != nil {
		r.s.testHook(step)
	}
}

// read reads a registered version and, with a daemon, decodes it and
// checks that it fits the features in use; without a daemon it returns
// a nil model (the data is only read, which verifies its checksum). sha
// is the data's sha256 (hex).
func (r registryAdmin) read(version string) (m *model.Model, sha string, err error) {
	if r.s == nil {
		_, meta, err := r.st.Model(version)
		return nil, meta.SHA256, err
	}
	return r.s.readModel(version)
}

// promote makes version the active model and, with a daemon, puts m (the
// model decoded from version's data, of sha256 sha, and checked) in use
// before it returns, so that the file is decoded only once. The caller
// holds the registry lock.
func (r registryAdmin) promote(version, sha string, m *model.Model) (api.ModelVersion, error) {
	if err := r.st.Promote(version); err != nil {
		return api.ModelVersion{}, registryError(err)
	}
	r.hook("promoted")
	if r.s != nil {
		if err := r.s.use(version, sha, m); err != nil {
			return api.ModelVersion{}, registryError(fmt.Errorf("load promoted model %s: %w", version, err))
		}
	}
	return r.info(version)
}

var _ api.ModelAdmin = registryAdmin{}

// Models implements api.ModelAdmin.
func (r registryAdmin) Models(context.Context) ([]api.ModelVersion, error) {
	ms, err := r.st.ListModels()
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	out := make([]api.ModelVersion, len(ms))
	for i, m := range ms {
		out[i] = modelVersion(m)
	}
	slices.SortStableFunc(out, func(a, b api.ModelVersion) int { return cmp.Compare(b.Created, a.Created) })
	return out, nil
}

// AddModel implements api.ModelAdmin.
func (r registryAdmin) AddModel(_ context.Context, file []byte, opts api.AddOptions) (api.ModelVersion, error) {
	promote := opts.Promote
	m, err := model.Unmarshal(file)
	if err != nil {
		return api.ModelVersion{}, api.Invalid(fmt.Errorf("not a model file: %w", err))
	}
	if promote {
		// Checked under the lock: a reload waits (featuresChanged), so the
		// model put in use fits the features it was checked against.
		defer r.lock()()
	}
	if r.s != nil {
		name := strconv.Quote(m.Meta().Version)
		if opts.Version != "" {
			name = strconv.Quote(opts.Version)
		}
		if err := m.CheckFeatures(r.s.currentFeatures()); err != nil {
			return api.ModelVersion{}, api.Invalid(fmt.Errorf("model %s does not fit the configured features: %w", name, err))
		}
		if err := m.CheckStep(r.s.step); err != nil {
			return api.ModelVersion{}, api.Invalid(fmt.Errorf("model %s does not fit the configured step: %w", name, err))
		}
	}
	version, err := registerModel(r.st, m, file, r.source, opts.Version)
	if err != nil {
		return api.ModelVersion{}, registryError(err)
	}
	if promote {
		sum := sha256.Sum256(file)
		return r.promote(version, hex.EncodeToString(sum[:]), m) // the registered data is file: m is its model
	}
	return r.info(version)
}

// SetActive implements api.ModelAdmin.
func (r registryAdmin) SetActive(_ context.Context, version string) (api.ModelVersion, error) {
	defer r.lock()()
	if version == "" {
		return r.rollback()
	}
	m, sha, err := r.read(version)
	if err != nil {
		return api.ModelVersion{}, registryError(err)
	}
	return r.promote(version, sha, m)
}

// rollback re-activates the previous model, unless it does not fit the
// features in use (or cannot be read): then the registry is not changed.
// The caller holds the registry lock.
func (r registryAdmin) rollback() (api.ModelVersion, error) {
	prev, err := r.st.PreviousVersion()
	if err != nil {
		return api.ModelVersion{}, registryError(fmt.Errorf("roll back model: %w", err))
	}
	m, sha, err := r.read(prev)
	if err != nil {
		cur, _ := r.st.ActiveVersion()
		return api.ModelVersion{}, registryError(fmt.Errorf("roll back to %s (%s stays active): %w", prev, cur, err))
	}
	r.hook("rollback checked")
	if err := r.st.Rollback(); err != nil {
		return api.ModelVersion{}, registryError(err)
	}
	if r.s != nil {
		if err := r.s.use(prev, sha, m); err != nil {
			return api.ModelVersion{}, registryError(fmt.Errorf("load model %s: %w", prev, err))
		}
	}
	return r.info(prev)
}

// DeleteModel implements api.ModelAdmin. The active version is refused,
// and so is the version a daemon scores with (the same one, unless the
// active version could not be loaded). The store drops the version from
// the rollback history: a rollback then goes to the version promoted
// before it; and it keeps the name from being registered again.
func (r registryAdmin) DeleteModel(_ context.Context, version string) (api.ModelVersion, error) {
	if version == "" {
		return api.ModelVersion{}, api.Invalid(errors.New("delete model: no version given"))
	}
	defer r.lock()()
	if r.s != nil {
		// The store refuses the active version itself.
		if _, inUse := r.s.Model(); inUse == version {
			if a, _ := r.st.ActiveVersion(); a != version {
				return api.ModelVersion{}, api.Conflict(fmt.Errorf("delete model %q: the daemon still scores with it (the active version %q could not be loaded): promote another version first", version, a))
			}
		}
	}
	meta, err := r.meta(version)
	if err != nil {
		return api.ModelVersion{}, registryError(fmt.Errorf("delete model %q: %w", version, err))
	}
	if err := r.st.DeleteModel(version); err != nil {
		return api.ModelVersion{}, registryError(err)
	}
	meta.Active = false
	return modelVersion(meta), nil
}

// meta returns the registered metadata of version (ErrNotFound when it
// is not registered) without reading the model data.
func (r registryAdmin) meta(version string) (store.ModelMeta, error) {
	if a, _ := r.st.ActiveVersion(); a == version {
		if m, err := r.st.Active(); err == nil && m.Version == version {
			return m, nil // one metadata read instead of all of them
		}
	}
	ms, err := r.st.ListModels()
	if err != nil {
		return store.ModelMeta{}, err
	}
	for _, m := range ms {
		if m.Version == version {
			return m, nil
		}
	}
	return store.ModelMeta{}, store.ErrNotFound
}

// info returns the registered metadata of version (not reading the
// model data: the callers have read or written it).
func (r registryAdmin) info(version string) (api.ModelVersion, error) {
	meta, err := r.meta(version)
	if err != nil {
		return api.ModelVersion{}, registryError(fmt.Errorf("model %q: %w", version, err))
	}
	return modelVersion(meta), nil
}

// registryError maps the store's and the scorer's errors to the API's.
func registryError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return api.NotFound(err)
	case errors.Is(err, errUnusableModel), errors.Is(err, store.ErrInvalidVersion):
		return api.Invalid(err)
	case errors.Is(err, store.ErrActive):
		return api.Conflict(fmt.Errorf("%w: promote another version first", err))
	case errors.Is(err, store.ErrExists):
		return api.Conflict(err)
	}
	return err
}

func modelVersion(m store.ModelMeta) api.ModelVersion {
	return api.ModelVersion{Version: m.Version, Active: m.Active, Created: m.Created, Size: m.Size,
		SHA256: m.SHA256, Description: m.Description, Metrics: m.Metrics, Params: m.Params}
}
