package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
)

// registryAdmin serves the API's model endpoints (api.ModelAdmin) over the
// store's registry: models are registered and promoted while the daemon
// holds the store, checked against the features in use first, and a
// promotion is in use when the call returns. Safe for concurrent use (the
// store serialises registry changes; the scorer locks its model).
//
// Without a scorer (NewRegistry: no daemon), models are checked only to
// decode; their features are checked when a daemon loads them.
type registryAdmin struct {
	st     *store.Store
	s      *scorer // nil without a daemon
	source string  // in the description of a registered model
}

// NewRegistry manages the model registry of a store no daemon holds
// (omen model and omen train without --url).
func NewRegistry(st *store.Store, source string) api.ModelAdmin {
	return registryAdmin{st: st, source: source}
}

// Registry manages the running daemon's model registry, as the API's
// model endpoints do; source goes into the description of the models it
// registers.
func (a *App) Registry(source string) api.ModelAdmin {
	return registryAdmin{st: a.store, s: a.scorer, source: source}
}

// read reads a registered version and, with a daemon, decodes it and
// checks that it fits the features in use; without a daemon it returns
// a nil model (the data is only read, which verifies its checksum).
func (r registryAdmin) read(version string) (*model.Model, error) {
	if r.s == nil {
		_, _, err := r.st.Model(version)
		return nil, err
	}
	return r.s.readModel(version)
}

// promote makes version the active model and, with a daemon, puts m (the
// model decoded from version and checked) in use before it returns, so
// that the file is decoded only once.
func (r registryAdmin) promote(version string, m *model.Model) (api.ModelVersion, error) {
	if err := r.st.Promote(version); err != nil {
		return api.ModelVersion{}, registryError(err)
	}
	if r.s != nil {
		if err := r.s.use(version, m); err != nil {
			return api.ModelVersion{}, fmt.Errorf("load promoted model %s: %w", version, err)
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
func (r registryAdmin) AddModel(_ context.Context, file []byte, promote bool) (api.ModelVersion, error) {
	m, err := model.Unmarshal(file)
	if err != nil {
		return api.ModelVersion{}, api.Invalid(fmt.Errorf("not a model file: %w", err))
	}
	if r.s != nil {
		if err := m.CheckFeatures(r.s.opts.Features()); err != nil {
			return api.ModelVersion{}, api.Invalid(fmt.Errorf("model %s does not fit the configured features: %w", m.Meta().Version, err))
		}
	}
	version, err := RegisterModel(r.st, m, file, r.source)
	if err != nil {
		return api.ModelVersion{}, err
	}
	if promote {
		return r.promote(version, m) // the registered data is file: m is its model
	}
	return r.info(version)
}

// SetActive implements api.ModelAdmin.
func (r registryAdmin) SetActive(_ context.Context, version string) (api.ModelVersion, error) {
	if version == "" {
		return r.rollback()
	}
	m, err := r.read(version)
	if err != nil {
		return api.ModelVersion{}, registryError(err)
	}
	return r.promote(version, m)
}

// rollback re-activates the previous model, unless it does not fit the
// features in use: then the current one is promoted back.
func (r registryAdmin) rollback() (api.ModelVersion, error) {
	cur, err := r.st.Active()
	if err != nil {
		return api.ModelVersion{}, registryError(err)
	}
	if err := r.st.Rollback(); err != nil {
		return api.ModelVersion{}, registryError(err)
	}
	prev, err := r.st.Active()
	if err != nil {
		return api.ModelVersion{}, registryError(err)
	}
	m, err := r.read(prev.Version)
	if err != nil {
		if perr := r.st.Promote(cur.Version); perr != nil {
			return api.ModelVersion{}, fmt.Errorf("roll back to %s: %w; restore %s: %w", prev.Version, err, cur.Version, perr)
		}
		return api.ModelVersion{}, fmt.Errorf("roll back to %s (%s stays active): %w", prev.Version, cur.Version, registryError(err))
	}
	if r.s != nil {
		if err := r.s.use(prev.Version, m); err != nil {
			return api.ModelVersion{}, fmt.Errorf("load model %s: %w", prev.Version, err)
		}
	}
	return r.info(prev.Version)
}

// DeleteModel implements api.ModelAdmin. The active version is refused,
// and so is the version a daemon scores with (the same one, unless the
// active version could not be loaded). The store drops the version from
// the rollback history: a rollback then goes to the version promoted
// before it.
func (r registryAdmin) DeleteModel(_ context.Context, version string) (api.ModelVersion, error) {
	if version == "" {
		return api.ModelVersion{}, fmt.Errorf("delete model: no version: %w", api.ErrNotFound)
	}
	if r.s != nil {
		// The store refuses the active version itself.
		if _, inUse := r.s.Model(); inUse == version {
			if a, _ := r.st.ActiveVersion(); a != version {
				return api.ModelVersion{}, api.Conflict(fmt.Errorf("delete model %q: the daemon still scores with it (the active version %q is not loaded): promote another version first", version, a))
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
		return fmt.Errorf("%w: %w", api.ErrNotFound, err)
	case errors.Is(err, errUnusableModel):
		return api.Invalid(err)
	case errors.Is(err, store.ErrActive):
		return api.Conflict(fmt.Errorf("%w: promote another version first", err))
	}
	return err
}

func modelVersion(m store.ModelMeta) api.ModelVersion {
	return api.ModelVersion{Version: m.Version, Active: m.Active, Created: m.Created, Size: m.Size,
		SHA256: m.SHA256, Description: m.Description, Metrics: m.Metrics, Params: m.Params}
}
