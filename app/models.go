package app

import (
	"context"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/registry"
	"github.com/omen-sre/omen/store"
)

// registryAdmin serves the API's model endpoints (api.ModelAdmin) over the
// store's registry for the daemon: a registry.Registry whose Daemon is
// the scorer (scorerDaemon), so that models are checked against the
// features in use and a promotion is in use when the call returns. The
// registry's changes hold the scorer's regMu, which a configuration
// reload's new features wait for too (see registry.Registry).
type registryAdmin struct {
	st     *store.Store
	s      *scorer // nil: no daemon, as NewRegistry
	source string  // in the description of a registered model
}

// NewRegistry manages the model registry of a store no daemon holds
// (omen model and omen train without --url): registry.New.
func NewRegistry(st *store.Store, source string) api.ModelAdmin {
	return registry.New(st, source)
}

// Registry manages the running daemon's model registry, as the API's
// model endpoints do; source goes into the description of the models it
// registers.
func (a *App) Registry(source string) api.ModelAdmin {
	return registryAdmin{st: a.store, s: a.scorer, source: source}
}

// RegisterModel stores a model in the registry under a version derived
// from its metadata and returns the version (registry.Register).
func RegisterModel(st *store.Store, m *model.Model, data []byte, source string) (string, error) {
	return registry.Register(st, m, data, source, "")
}

// registry returns the registry r serves.
func (r registryAdmin) registry() *registry.Registry {
	if r.s == nil {
		return registry.New(r.st, r.source)
	}
	return registry.ForDaemon(r.st, scorerDaemon{r.s}, r.source)
}

var _ api.ModelAdmin = registryAdmin{}

// Models implements api.ModelAdmin.
func (r registryAdmin) Models(ctx context.Context) ([]api.ModelVersion, error) {
	return r.registry().Models(ctx)
}

// AddModel implements api.ModelAdmin.
func (r registryAdmin) AddModel(ctx context.Context, file []byte, opts api.AddOptions) (api.ModelVersion, error) {
	return r.registry().AddModel(ctx, file, opts)
}

// SetActive implements api.ModelAdmin.
func (r registryAdmin) SetActive(ctx context.Context, version string) (api.ModelVersion, error) {
	return r.registry().SetActive(ctx, version)
}

// DeleteModel implements api.ModelAdmin.
func (r registryAdmin) DeleteModel(ctx context.Context, version string) (api.ModelVersion, error) {
	return r.registry().DeleteModel(ctx, version)
}

// scorerDaemon is the scorer's part in registry changes
// (registry.Daemon).
type scorerDaemon struct{ s *scorer }

var _ registry.Daemon = scorerDaemon{}

// Lock implements registry.Daemon: the scorer's regMu.
func (d scorerDaemon) Lock() func() { return d.s.lockRegistry() }

// Features implements registry.Daemon.
func (d scorerDaemon) Features() []string { return d.s.currentFeatures() }

// Step implements registry.Daemon.
func (d scorerDaemon) Step() time.Duration { return d.s.step }

// Read implements registry.Daemon.
func (d scorerDaemon) Read(version string) (*model.Model, string, error) {
	return d.s.readModel(version)
}

// Use implements registry.Daemon.
func (d scorerDaemon) Use(version, sha string, m *model.Model) error { return d.s.use(version, sha, m) }

// InUse implements registry.Daemon.
func (d scorerDaemon) InUse() string {
	_, v := d.s.Model()
	return v
}

// Hook implements registry.Daemon: the scorer's testHook, if set.
func (d scorerDaemon) Hook(step string) {
	if d.s.testHook != nil {
		d.s.testHook(step)
	}
}
