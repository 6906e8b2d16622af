package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/explain"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/ui"
)

// newAPI builds the explanation API and the UI over the store, the alert
// pipeline, the explainer and the model registry.
func (a *App) newAPI() (*api.API, error) {
	b, err := api.NewStoreBackend(api.StoreOptions{
		Store:        a.store,
		Alerts:       a.alerts.listed,
		Explain:      a.explainEntity,
		Model:        a.modelInfo,
		Dependencies: a.dependencies,
		InGraph:      a.inGraph,
	})
	if err != nil {
		return nil, fmt.Errorf("create API backend: %w", err)
	}
	// One gate for the API's and the UI's explain-now: the UI's went
	// past the API's limits.
	gate, err := api.NewExplainGate(0, 0)
	if err != nil {
		return nil, fmt.Errorf("create explain gate: %w", err)
	}
	u, err := ui.New(ui.Options{Backend: uiBackend{b, a.store}, ExplainGate: gate, Alertmanager: a.alertmanagerUI, Logger: a.logger.With("component", "ui")})
	if err != nil {
		return nil, fmt.Errorf("create UI: %w", err)
	}
	s, err := api.New(api.Options{
		Backend: b, ListenAddress: a.opts.ListenAddress, TokenFile: a.opts.TokenFile, UI: u, ExplainGate: gate,
		Models:     a.Registry("an API upload"),
		History:    historyReader{Store: a.store, a: a},
		Backup:     a.store,
		Stop:       a.streams,
		Registerer: a.reg, Logger: a.logger.With("component", "api"),
	})
	if err != nil {
		return nil, fmt.Errorf("create API: %w", err)
	}
	return s, nil
}

// alertmanagerUI is the Alertmanager whose UI a firing alert's page links
// to, of the configuration as last reloaded: "" when omen sends alerts to
// no Alertmanager (alerting.alertmanagers, then --alertmanager.url: none
// holds the alert), else alerting.alertmanager_ui_url, else the first of
// them. Without alertmanager_ui_url the URL omen posts to is taken as the
// one SREs reach too.
func (a *App) alertmanagerUI() string {
	cfg := a.cfg.Load()
	first := ""
	switch {
	case cfg != nil && len(cfg.Alerting.Alertmanagers) > 0:
		first = cfg.Alerting.Alertmanagers[0].URL
	case len(a.opts.AlertmanagerURLs) > 0:
		first = a.opts.AlertmanagerURLs[0]
	}
	if first != "" && cfg != nil && cfg.Alerting.AlertmanagerUIURL != "" {
		return cfg.Alerting.AlertmanagerUIURL
	}
	return first
}

// uiBackend is the API's backend with what only the UI asks for: an
// entity's newest stored explanation (ui.ExplanationFinder), read from the
// store's explanations of the entity without the backend's alert lookup.
type uiBackend struct {
	*api.StoreBackend
	st *store.Store
}

var _ ui.ExplanationFinder = uiBackend{}

// The entity and alert pages tell gone entities by the store's newest
// prediction time, not by reading every entity's latest prediction.
var _ ui.NewestFinder = uiBackend{}

// The overview, service pages and dependency graph read every entity's
// latest prediction from the store's memory (store.Store.EachLatest), not
// a listing of every entity kept within retention at each view.
var _ ui.LatestScanner = uiBackend{}

// EntityExplanation implements ui.ExplanationFinder. It reads the entity's
// stored explanations, not each of its predictions of the span (the
// overview asks for each heat-map row: docs/PERFORMANCE.md, UI).
func (b uiBackend) EntityExplanation(ctx context.Context, entity string, from, to int64) (api.Explanation, error) {
	if err := ctx.Err(); err != nil {
		return api.Explanation{}, err
	}
	_, doc, err := b.st.NewestExplanation(entity, from, to)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return api.Explanation{}, fmt.Errorf("no explanation of %q stored: %w", entity, api.ErrNotFound)
	case err != nil:
		return api.Explanation{}, err
	}
	return api.DecodeExplanation(doc)
}

// explainEntity explains the entity's latest scored window now and stores
// the explanation with its prediction.
func (a *App) explainEntity(ctx context.Context, entity string) (api.Explanation, error) {
	m, _ := a.scorer.Model()
	if m == nil {
		return api.Explanation{}, a.scorer.noModel()
	}
	p, ok := a.scorer.latestPrediction(entity)
	if !ok {
		if held, need, filling := a.scorer.filling(entity); filling {
			// 503 with when to retry, not 404: the entity exists and is
			// explained once scored.
			left := time.Duration(need-held) * a.scorer.step
			return api.Explanation{}, &api.RetryAfterError{After: left, Err: fmt.Errorf(
				"entity %q is not scored yet: its window holds %d of the %d steps the model scores from (about %s to go): %w",
				entity, held, need, left, api.ErrUnavailable)}
		}
		return api.Explanation{}, fmt.Errorf("entity %q has no current prediction: %w", entity, api.ErrNotFound)
	}
	x, err := a.explainer.explain(ctx, p)
	if err != nil {
		return api.Explanation{}, err
	}
	doc, err := a.explainer.storeExplanation(x)
	if err != nil {
		return api.Explanation{}, err
	}
	if a.alerts != nil {
		if err := a.alerts.explainedNow(x.PredictionID, doc); err != nil {
			return api.Explanation{}, err
		}
	}
	return api.DecodeExplanation(doc)
}

// modelInfo describes the active model.
func (a *App) modelInfo(context.Context) (api.ModelInfo, error) {
	m, version := a.scorer.Model()
	if m == nil {
		return api.ModelInfo{}, a.scorer.noModel()
	}
	info := api.ModelInfo{Version: version}
	if _, meta, err := a.store.Model(version); err == nil {
		info.Created, info.Size, info.SHA256 = meta.Created, meta.Size, meta.SHA256
		info.Description, info.Metrics, info.Params = meta.Description, meta.Metrics, meta.Params
	} else if !errors.Is(err, store.ErrNotFound) {
		return api.ModelInfo{}, err
	}
	cfg := m.Config()
	info.Features, info.Window = cfg.Features, cfg.Window
	info.StepMs = a.scorer.step.Milliseconds()
	info.HorizonMs = int64(cfg.Horizon) * info.StepMs
	info.Threshold, info.AnomalyThreshold = m.Thresholds().Failure, m.Thresholds().Anomaly
	return info, nil
}

// dependencies is the entity's service neighbourhood in the call graph.
func (a *App) dependencies(_ context.Context, entity string) (api.Neighbourhood, error) {
	g, node := a.graphNode(entity)
	// Not in the graph (or no graph, the default): answered without the
	// evidence of every entity.
	if n, err := api.NeighbourhoodOf(g, entity, node, nil); err != nil {
		return n, err
	}
	ev, worst := a.explainer.evidenceOf(true)
	n, err := api.NeighbourhoodOf(g, entity, node, ev)
	setWorstEntities(&n, worst)
	return n, err
}

// inGraph says whether the dependency graph holds entity's node (see
// graphNode), without the evidence dependencies gathers: the API asks it
// for each name an explanation links.
func (a *App) inGraph(_ context.Context, entity string) bool {
	g, node := a.graphNode(entity)
	_, err := api.NeighbourhoodOf(g, entity, node, nil)
	return err == nil
}

// graphNode returns the dependency graph (nil: none) and entity's node
// in it: its service for a live or stored entity, else the name itself.
func (a *App) graphNode(entity string) (*explain.Graph, string) {
	a.explainer.mu.RLock()
	g := a.explainer.graph
	a.explainer.mu.RUnlock()
	if g == nil {
		return nil, entity
	}
	node := entity
	a.scorer.mu.RLock()
	p, live := a.scorer.latest[entity]
	a.scorer.mu.RUnlock()
	if live {
		node = serviceOf(p.Labels)
	} else if ls, ok := a.storedLabels(entity); ok {
		// A pod gone (the scorer drops it after its missing steps) is
		// still its service's, as its stored labels say.
		node = serviceOf(ls)
	}
	return g, node
}

// storedLabels returns the labels the store keeps for entity: a point
// lookup, not a list of every entity kept within retention.
func (a *App) storedLabels(entity string) (map[string]string, bool) {
	e, err := a.store.Entity(entity)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false
	}
	if err != nil {
		a.logger.Warn("read stored entity labels", "entity", entity, "err", err)
		return nil, false
	}
	return e.Labels, true
}

// mountAPI registers the API and UI; with a token configured, the mutating
// operational endpoints are protected too.
func (a *App) mountAPI(mux *http.ServeMux, s *api.API) {
	s.Register(mux)
}

// historyReader is the store's history with the daemon's settings that
// training from it needs (api.HistorySettings).
type historyReader struct {
	*store.Store
	a *App
}

// HistorySettings returns the step, the alert rule (with the critical
// probability) and the presence features in force (a reload cannot
// change the step: it needs a restart).
func (h historyReader) HistorySettings() api.HistorySettings {
	cfg := h.a.cfg.Load()
	critical := cfg.Alerting.CriticalProbability
	hs := api.HistorySettings{StepMs: time.Duration(cfg.Step).Milliseconds(), AlertFor: cfg.Alerting.For,
		AlertResolveRatio: cfg.Alerting.ResolveRatio, AlertResolveFor: cfg.Alerting.ResolveFor,
		AlertMinLeadMs: time.Duration(cfg.Alerting.MinLead).Milliseconds(),
		// Not nil: an empty list says every vector is a row.
		PresenceFeatures: append([]string{}, PresenceFeatures(cfg)...)}
	// Unset (0): the model's applies. Left out, not 0, which an older
	// omen train reads as set (every alert critical).
	if critical > 0 {
		hs.AlertCriticalProbability = &critical
	} else {
		hs.AlertCriticalFromModel = true
	}
	return hs
}
