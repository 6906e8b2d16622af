package registry

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
)

// ErrUnusable marks a registered model that cannot be used: its data
// does not decode, or it does not fit the configured features or step.
// The registry's methods answer it as api.Invalid.
var ErrUnusable = errors.New("unusable model")

// Daemon is the running daemon's part in registry changes (its scorer).
type Daemon interface {
	// Lock takes the lock that serialises registry changes with the
	// daemon's taking of reloaded features, so that a change checks and
	// installs its model against the same features; it returns the
	// unlock.
	Lock() func()
	// Features and Step are those models are checked against.
	Features() []string
	Step() time.Duration
	// Read reads and decodes a registered version and checks it against
	// the features in use; an unusable one wraps ErrUnusable. sha is the
	// sha256 (hex) of the data read.
	Read(version string) (m *model.Model, sha string, err error)
	// Use puts m, decoded from version's data of sha256 sha and checked,
	// in use (the caller holds Lock).
	Use(version, sha string, m *model.Model) error
	// InUse returns the version the daemon scores with.
	InUse() string
}

// hooker is a Daemon that wants to be called at named steps of registry
// changes (the daemon's tests interleave a configuration reload there).
type hooker interface {
	Hook(step string)
}

// Registry serves the API's model endpoints (api.ModelAdmin) over the
// store's registry: models are registered and promoted while the daemon
// holds the store, checked against the features in use first, and a
// promotion is in use when the call returns. Safe for concurrent use:
// registry changes (add with promote, promote, rollback, delete) hold one
// mutex from their checks to the model in use, so that each sees the
// others' effects whole (the daemon's is Daemon.Lock, which a
// configuration reload's new features wait for too: a change checks and
// installs its model against the same features, and one refused as not
// fitting has not changed the registry).
//
// Without a Daemon (New: no daemon), models are checked only to decode;
// their features are checked when a daemon loads them.
type Registry struct {
	st     *store.Store
	d      Daemon      // nil without a daemon
	mu     *sync.Mutex // without a daemon
	source string      // in the description of a registered model
}

// New manages the model registry of a store no daemon holds (omen model
// and omen train without --url); source goes into the description of the
// models it registers.
func New(st *store.Store, source string) *Registry {
	return &Registry{st: st, mu: new(sync.Mutex), source: source}
}

// ForDaemon manages the running daemon d's model registry in st; a nil
// d is New's registry (no daemon).
func ForDaemon(st *store.Store, d Daemon, source string) *Registry {
	if d == nil {
		return New(st, source)
	}
	return &Registry{st: st, d: d, source: source}
}

// lock takes the registry mutex; it returns the unlock.
func (r *Registry) lock() func() {
	if r.d != nil {
		return r.d.Lock()
	}
	r.mu.Lock()
	return r.mu.Unlock
}

// hook calls the daemon's test hook, if any, at a named step.
func (r *Registry) hook(step string) {
	if h, ok := r.d.(hooker); ok {
		h.Hook(step)
	}
}

// read reads a registered version and, with a daemon, decodes it and
// checks that it fits the features in use; without a daemon it returns
// a nil model (the data is only read, which verifies its checksum). sha
// is the data's sha256 (hex).
func (r *Registry) read(version string) (m *model.Model, sha string, err error) {
	if r.d == nil {
		_, meta, err := r.st.Model(version)
		return nil, meta.SHA256, err
	}
	return r.d.Read(version)
}

// promote makes version the active model and, with a daemon, puts m (the
// model decoded from version's data, of sha256 sha, and checked) in use
// before it returns, so that the file is decoded only once. The caller
// holds the registry lock.
func (r *Registry) promote(version, sha string, m *model.Model) (api.ModelVersion, error) {
	if err := r.st.Promote(version); err != nil {
		return api.ModelVersion{}, registryError(err)
	}
	r.hook("promoted")
	if r.d != nil {
		if err := r.d.Use(version, sha, m); err != nil {
			return api.ModelVersion{}, registryError(fmt.Errorf("load promoted model %s: %w", version, err))
		}
	}
	return r.info(version)
}

var _ api.ModelAdmin = (*Registry)(nil)

// Models implements api.ModelAdmin.
func (r *Registry) Models(context.Context) ([]api.ModelVersion, error) {
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
func (r *Registry) AddModel(_ context.Context, file []byte, opts api.AddOptions) (api.ModelVersion, error) {
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
	if r.d != nil {
		name := strconv.Quote(m.Meta().Version)
		if opts.Version != "" {
			name = strconv.Quote(opts.Version)
		}
		if err := m.CheckFeatures(r.d.Features()); err != nil {
			return api.ModelVersion{}, api.Invalid(fmt.Errorf("model %s does not fit the configured features: %w", name, err))
		}
		if err := m.CheckStep(r.d.Step()); err != nil {
			return api.ModelVersion{}, api.Invalid(fmt.Errorf("model %s does not fit the configured step: %w", name, err))
		}
	}
	version, err := Register(r.st, m, file, r.source, opts.Version)
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
func (r *Registry) SetActive(_ context.Context, version string) (api.ModelVersion, error) {
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
func (r *Registry) rollback() (api.ModelVersion, error) {
	prev, err := r.st.PreviousVersion()
	if errors.Is(err, store.ErrNotFound) {
		return api.ModelVersion{}, api.NotFound(noRollbackError(r.st))
	}
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
	if r.d != nil {
		if err := r.d.Use(prev, sha, m); err != nil {
			return api.ModelVersion{}, registryError(fmt.Errorf("load model %s: %w", prev, err))
		}
	}
	return r.info(prev)
}

// noRollbackError is the error of a rollback with no version before the
// active one in st's history (none promoted before it, or those deleted).
func noRollbackError(st *store.Store) error {
	active := "none is promoted"
	if cur, _ := st.ActiveVersion(); cur != "" {
		active = "active: " + cur
	}
	return fmt.Errorf("roll back model: no earlier promoted version to roll back to (%s)", active)
}

// DeleteModel implements api.ModelAdmin. The active version is refused,
// and so is the version a daemon scores with (the same one, unless the
// active version could not be loaded). The store drops the version from
// the rollback history: a rollback then goes to the version promoted
// before it; and it keeps the name from being registered again.
func (r *Registry) DeleteModel(_ context.Context, version string) (api.ModelVersion, error) {
	if version == "" {
		return api.ModelVersion{}, api.Invalid(errors.New("delete model: no version given"))
	}
	defer r.lock()()
	if r.d != nil {
		// The store refuses the active version itself.
		if inUse := r.d.InUse(); inUse == version {
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
func (r *Registry) meta(version string) (store.ModelMeta, error) {
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
func (r *Registry) info(version string) (api.ModelVersion, error) {
	meta, err := r.meta(version)
	if err != nil {
		return api.ModelVersion{}, registryError(fmt.Errorf("model %q: %w", version, err))
	}
	return modelVersion(meta), nil
}

// registryError maps the store's and the daemon's errors to the API's.
func registryError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return api.NotFound(err)
	case errors.Is(err, ErrUnusable), errors.Is(err, store.ErrInvalidVersion):
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

// Register stores a model, m decoded from data, in st's registry and
// returns its version. With version empty, the version is derived from
// its metadata: its metadata's version, or m<checksum> when that is
// empty or blank, or NAME-<checksum> when NAME is taken by other data or
// was deleted (the checksum is the first 8 hex digits of the data's
// sha256; NAME-<checksum> taken too fails with store.ErrExists); a
// metadata version the store refuses ("." or "..") fails with an error
// wrapping store.ErrInvalidVersion. With version set, it registers the
// model under exactly that version (the file's own version goes into the
// Params as "file_version"), or fails (store.ErrExists when it is taken
// by other data or was deleted, store.ErrInvalidVersion when it cannot
// name a model): a version the user chose is not renamed. source goes
// into its description ("from <source>"), and so does the warning Train
// records in the metadata when the failure threshold is uncertain.
func Register(st *store.Store, m *model.Model, data []byte, source, version string) (string, error) {
	override := version
	meta := m.Meta()
	version = meta.Version
	sum := shortSum(data)
	if override == "" && strings.TrimSpace(version) == "" {
		version = "m" + sum
	}
	th := m.Thresholds()
	desc := "from " + source
	if meta.TrainedOn != "" {
		desc += " (trained on " + meta.TrainedOn + ")"
	}
	// Train's warning that the failure threshold is uncertain (chosen
	// from too few validation failures; training.ThresholdWarningKey),
	// shown by omen model list.
	if w := meta.Extra[thresholdWarningKey]; w != "" {
		desc += "; " + w
	}
	reg := store.ModelMeta{
		Version:     version,
		Description: desc,
		Metrics:     map[string]float64{"val_loss": meta.ValLoss, "val_score": meta.ValScore, "threshold": th.Failure},
		Params: map[string]string{
			"window": fmt.Sprint(m.Config().Window), "horizon": fmt.Sprint(m.Config().Horizon),
			"hidden": fmt.Sprint(m.Config().Hidden), "features": strings.Join(m.Config().Features, ","),
			"threshold_method": th.Method, "members": fmt.Sprint(m.Members()),
		},
	}
	if st := m.Config().Step; st > 0 {
		reg.Params["step"] = st.String()
	}
	if th.Critical > 0 {
		// The model's critical probability (omen model list), which the
		// daemon follows unless alerting.critical_probability is set.
		reg.Metrics["critical"] = th.Critical
	}
	if override != "" {
		if override != version && strings.TrimSpace(version) != "" {
			reg.Params["file_version"] = version
			reg.Description += ", file version " + strconv.Quote(version)
		}
		version = override
	}
	err := st.PutModel(version, data, reg)
	if override == "" && errors.Is(err, store.ErrExists) {
		// Another model under the same version (two trainings in one
		// second, a deleted version's name): register this one under a
		// version naming its data.
		version += "-" + sum
		err = st.PutModel(version, data, reg)
	}
	if err != nil {
		return "", fmt.Errorf("register model %q: %w", version, err)
	}
	return version, nil
}

// thresholdWarningKey is training.ThresholdWarningKey (registry does not
// import training).
const thresholdWarningKey = "threshold_warning"

// shortSum names a model file's data in a version: the first 8 hex digits
// of its sha256. (Not its CRC-32C: a model file ends with the CRC-32C of
// the rest, so the CRC-32C of every whole file is the same constant, and
// every model named by it got the same name.)
func shortSum(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:4])
}
