package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/ui"
)

// The entity and alert pages judge a prediction's anomaly score against
// the anomaly threshold of the model version that scored it, which may
// not be the active one (a promotion since).
var _ ui.ModelVersionDescriber = uiBackend{}

// ModelVersionInfo implements ui.ModelVersionDescriber: a registered
// version's metadata, features, window and thresholds, read from its model
// file in the store (the UI keeps them: the store never registers other
// data under a version's name). The step and horizon are the model's own
// (0 for a model that does not record its step).
func (b uiBackend) ModelVersionInfo(ctx context.Context, version string) (api.ModelInfo, error) {
	if err := ctx.Err(); err != nil {
		return api.ModelInfo{}, err
	}
	data, meta, err := b.st.Model(version)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return api.ModelInfo{}, fmt.Errorf("model version %q: %w", version, api.ErrNotFound)
	case err != nil:
		return api.ModelInfo{}, fmt.Errorf("read model version %q: %w", version, err)
	}
	m, err := model.Unmarshal(data)
	if err != nil {
		return api.ModelInfo{}, fmt.Errorf("decode model version %q: %w", version, err)
	}
	cfg, th := m.Config(), m.Thresholds()
	info := api.ModelInfo{Version: version, Created: meta.Created, Size: meta.Size, SHA256: meta.SHA256,
		Description: meta.Description, Metrics: meta.Metrics, Params: meta.Params,
		Features: cfg.Features, Window: cfg.Window, Threshold: th.Failure, AnomalyThreshold: th.Anomaly}
	if cfg.Step > 0 {
		info.StepMs = cfg.Step.Milliseconds()
		info.HorizonMs = int64(cfg.Horizon) * info.StepMs
	}
	return info, nil
}
