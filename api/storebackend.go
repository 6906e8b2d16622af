package api

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/explain"
	"github.com/omen-sre/omen/store"
)

// StoreOptions configure NewStoreBackend.
type StoreOptions struct {
	// Store holds predictions, entities, explanations and the model
	// registry. Required.
	Store *store.Store
	// Alerts lists the alert manager's alerts: firing, resolved and
	// pending (alert.Manager's Alerts and Pending; nil: no alerts).
	Alerts func() []alert.Alert
	// Explain explains an entity's latest window now (nil: ExplainEntity
	// answers ErrUnavailable).
	Explain func(ctx context.Context, entity string) (Explanation, error)
	// Model describes the active model (nil: the registry's metadata of
	// the active version, without features, window, step, horizon and
	// threshold).
	Model func(ctx context.Context) (ModelInfo, error)
	// Dependencies returns an entity's neighbourhood (nil: ErrNotFound).
	Dependencies func(ctx context.Context, entity string) (Neighbourhood, error)
	// InGraph, optional, says whether the dependency graph holds
	// entity's node without computing the neighbourhood's evidence (the
	// API asks it for each name an explanation would link; without it,
	// Dependencies is asked).
	InGraph func(ctx context.Context, entity string) bool
}

// StoreBackend is a Backend over the daemon's store and alert manager,
// with hooks for what only the running daemon knows (explaining now, the
// model's shape, the dependency graph).
type StoreBackend struct{ o StoreOptions }

var _ Backend = (*StoreBackend)(nil)

// NewStoreBackend validates o and returns the backend.
func NewStoreBackend(o StoreOptions) (*StoreBackend, error) {
	if o.Store == nil {
		return nil, errors.New("api: store backend without a store")
	}
	return &StoreBackend{o: o}, nil
}

// labels returns every stored entity's labels and the entities' IDs in
// order: a scan of every entity kept within retention, for the answers
// that need them all (the latest predictions of the fleet, a range query
// over every entity).
func (b *StoreBackend) labels() (map[string]map[string]string, []string, error) {
	es, err := b.o.Store.Entities()
	if err != nil {
		return nil, nil, fmt.Errorf("list entities: %w", err)
	}
	m := make(map[string]map[string]string, len(es))
	ids := make([]string, len(es))
	for i, e := range es {
		m[e.ID] = e.Labels
		ids[i] = e.ID
	}
	return m, ids, nil
}

// entityLabels returns one entity's stored labels (nil when the store
// does not know it): a point lookup, for a query of one entity.
func (b *StoreBackend) entityLabels(id string) (map[string]string, error) {
	e, err := b.o.Store.Entity(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return e.Labels, nil
}

func fromStore(p store.Prediction, labels map[string]string) Prediction {
	return Prediction{ID: p.ID, Entity: p.Entity, Labels: labels, T: p.T, Probability: p.Prob,
		Threshold: p.Threshold, AnomalyScore: finite(p.Anomaly), ModelVersion: p.ModelVersion}
}

// finite maps NaN and ±Inf (which JSON cannot carry) to 0.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// errLimit stops a scan once a query's limit is reached.
var errLimit = errors.New("limit reached")

// Predictions implements Backend. A range query scans entities in ID order
// and each entity's predictions newest first (the API's order), and stops
// once q.Limit predictions are collected. A query of one entity
// (q.Entity) reads only that entity's records.
func (b *StoreBackend) Predictions(ctx context.Context, q PredictionQuery) ([]Prediction, error) {
	if q.Entity != "" {
		// One entity: its records only, not every entity's (Entities
		// reads all those kept within retention, 150,000 after a
		// fortnight of pod churn).
		return b.entityPredictions(ctx, q)
	}
	labels, ids, err := b.labels()
	if err != nil {
		return nil, err
	}
	if q.From.IsZero() && q.To.IsZero() {
		var out []Prediction
		ps, err := b.o.Store.LatestPredictions()
		if err != nil {
			return nil, fmt.Errorf("latest predictions: %w", err)
		}
		for _, p := range ps {
			if x := fromStore(p, labels[p.Entity]); q.Match(x) {
				out = append(out, x)
			}
		}
		return out, nil
	}
	return b.rangePredictions(ctx, q, ids, labels)
}

// NewestPrediction returns the time (ms) of the newest of the entities'
// latest predictions (the newest of Predictions(ctx, PredictionQuery{})),
// without reading them all (store.Store.NewestPrediction); an error
// wrapping ErrNotFound when there is none. The UI tells gone entities by
// it (ui.NewestFinder).
func (b *StoreBackend) NewestPrediction(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	t, err := b.o.Store.NewestPrediction()
	if errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("no prediction stored: %w", ErrNotFound)
	}
	return t, err
}

// EachLatest calls fn with every entity's latest prediction, those
// Predictions of a zero PredictionQuery answers, in no particular order,
// until fn returns false: from the store's in-memory index
// (store.Store.EachLatest), not a read of every entity kept within
// retention. The UI's overview, service pages and dependency graph read
// the fleet through it (ui.LatestScanner).
//
// *p is valid during the call only (copy it to keep it); p.Labels may be
// kept but must not be modified. fn must be quick and must not call the
// backend: the store's writes of predictions and entities wait for it.
func (b *StoreBackend) EachLatest(ctx context.Context, fn func(p *Prediction) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var x Prediction
	return b.o.Store.EachLatest(func(p *store.Prediction, labels map[string]string) bool {
		x = fromStore(*p, labels)
		return fn(&x)
	})
}

// entityPredictions answers a query of one entity (q.Entity) by point
// lookups: its labels and its latest prediction or its range.
func (b *StoreBackend) entityPredictions(ctx context.Context, q PredictionQuery) ([]Prediction, error) {
	ls, err := b.entityLabels(q.Entity)
	if err != nil {
		return nil, fmt.Errorf("labels of %s: %w", q.Entity, err)
	}
	if q.From.IsZero() && q.To.IsZero() {
		p, err := b.o.Store.LatestPrediction(q.Entity)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("latest predictions: %w", err)
		}
		if x := fromStore(p, ls); q.Match(x) {
			return []Prediction{x}, nil
		}
		return nil, nil
	}
	return b.rangePredictions(ctx, q, []string{q.Entity}, map[string]map[string]string{q.Entity: ls})
}

// rangePredictions answers a range query over ids (in ID order) whose
// labels are given.
func (b *StoreBackend) rangePredictions(ctx context.Context, q PredictionQuery, ids []string, labels map[string]map[string]string) ([]Prediction, error) {
	var out []Prediction
	// No to: no upper bound. Predictions are stamped with their data
	// time, which runs ahead of the wall clock in a simulation faster than
	// real time (omen demo): bounding by now would hide the newest.
	from, to := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.From.IsZero() {
		from = q.From.UnixMilli()
	}
	if !q.To.IsZero() {
		to = q.To.UnixMilli()
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !matchEntity(q.Entity, q.Matchers, id, labels[id]) || !q.isAfter(id, math.MinInt64) {
			continue // an entity before q.After's
		}
		to := to
		if ae, at, err := store.ParsePredictionID(q.After); q.After != "" && err == nil && ae == id {
			to = min(to, at-1) // the entity of q.After: its older predictions
		}
		// Newest first (the API's order within an entity), stopping once
		// q.Limit are collected: ?from=0&limit=1 reads one record, not
		// the entity's whole history.
		err := b.o.Store.PredictionsNewestFirst(id, from, to, func(p store.Prediction) error {
			out = append(out, fromStore(p, labels[id]))
			if q.Limit > 0 && len(out) >= q.Limit {
				return errLimit
			}
			return nil
		})
		if err != nil && !errors.Is(err, errLimit) {
			return nil, fmt.Errorf("predictions of %s: %w", id, err)
		}
		if q.Limit > 0 && len(out) >= q.Limit {
			break
		}
	}
	return out, nil
}

// FromAlert converts an alert of the alert manager.
func FromAlert(a alert.Alert) Alert {
	x := Alert{Fingerprint: a.Fingerprint, State: a.State, Entity: a.Entity, Labels: a.Labels,
		Annotations: a.Annotations, PredictionID: a.PredictionID, FiredProbability: finite(a.FiredProbability),
		Probability: finite(a.Probability), Threshold: a.Threshold}
	if a.EscalatedFingerprint != "" {
		// Listed as Alertmanager shows it now: the critical alert.
		x.Fingerprint, x.FiredFingerprint = a.EscalatedFingerprint, a.Fingerprint
	}
	if !a.StartsAt.IsZero() {
		x.ActiveAt = a.StartsAt.UnixMilli()
	}
	if !a.ResolvedAt.IsZero() {
		x.ResolvedAt = a.ResolvedAt.UnixMilli()
	}
	if !a.EscalatedAt.IsZero() {
		x.EscalatedAt = a.EscalatedAt.UnixMilli()
	}
	if !a.FailureBeganAt.IsZero() {
		x.FailureBeganAt = a.FailureBeganAt.UnixMilli()
	}
	return x
}

// Alerts implements Backend.
func (b *StoreBackend) Alerts(_ context.Context, q AlertQuery) ([]Alert, error) {
	if b.o.Alerts == nil {
		return nil, nil
	}
	var out []Alert
	for _, a := range b.o.Alerts() {
		if x := FromAlert(a); q.Match(x) {
			out = append(out, x)
		}
	}
	return out, nil
}

// Explanation implements Backend: id is a prediction id or an alert
// fingerprint. A fingerprint of a current alert (the one it fired with,
// or an escalated alert's critical one) resolves to the prediction the
// alert fired on (Alert.PredictionID); an explanation stored under the
// fingerprint it fired with, then under id itself (the alerting pipeline
// stores the one of the latest firing under each fingerprint an alert was
// sent with, so its links keep working after the alert state is gone),
// answers otherwise.
func (b *StoreBackend) Explanation(_ context.Context, id string) (Explanation, error) {
	var ids []string
	if b.o.Alerts != nil {
		for _, a := range b.o.Alerts() {
			if a.Fingerprint != id && a.EscalatedFingerprint != id {
				continue
			}
			if a.PredictionID != "" {
				ids = append(ids, a.PredictionID)
			}
			if a.Fingerprint != id {
				ids = append(ids, a.Fingerprint)
			}
			break
		}
	}
	ids = append(ids, id)
	var doc []byte
	var err error
	for _, pid := range ids {
		if doc, err = b.o.Store.Explanation(pid); !errors.Is(err, store.ErrNotFound) {
			break
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return Explanation{}, fmt.Errorf("explanation %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Explanation{}, fmt.Errorf("explanation %q: %w", id, err)
	}
	return DecodeExplanation(doc)
}

// ExplainEntity implements Backend.
func (b *StoreBackend) ExplainEntity(ctx context.Context, entity string) (Explanation, error) {
	if b.o.Explain == nil {
		return Explanation{}, fmt.Errorf("explain %q now: %w", entity, ErrUnavailable)
	}
	return b.o.Explain(ctx, entity)
}

// ModelInfo implements Backend.
func (b *StoreBackend) ModelInfo(ctx context.Context) (ModelInfo, error) {
	if b.o.Model != nil {
		return b.o.Model(ctx)
	}
	m, err := b.o.Store.Active()
	if errors.Is(err, store.ErrNotFound) {
		return ModelInfo{}, fmt.Errorf("active model: %w", ErrNotFound)
	}
	if err != nil {
		return ModelInfo{}, fmt.Errorf("active model: %w", err)
	}
	return ModelInfo{Version: m.Version, Created: m.Created, Size: m.Size, SHA256: m.SHA256,
		Description: m.Description, Metrics: m.Metrics, Params: m.Params}, nil
}

// Dependencies implements Backend.
func (b *StoreBackend) Dependencies(ctx context.Context, entity string) (Neighbourhood, error) {
	if b.o.Dependencies == nil {
		return Neighbourhood{}, fmt.Errorf("dependencies of %q: no dependency graph: %w", entity, ErrNotFound)
	}
	return b.o.Dependencies(ctx, entity)
}

// InGraph says whether the dependency graph holds entity's node (see
// GraphMember): StoreOptions.InGraph, else whether Dependencies answers.
func (b *StoreBackend) InGraph(ctx context.Context, entity string) bool {
	if b.o.InGraph != nil {
		return b.o.InGraph(ctx, entity)
	}
	_, err := b.Dependencies(ctx, entity)
	return err == nil
}

// NeighbourhoodOf returns node's neighbourhood in g (its callers, its
// callees and the edges between them and node) with each node's evidence;
// entity is the entity asked for. It answers ErrNotFound when g is nil or
// does not know node.
func NeighbourhoodOf(g *explain.Graph, entity, node string, evidence map[string]float64) (Neighbourhood, error) {
	if g == nil {
		return Neighbourhood{}, fmt.Errorf("dependencies of %q: no dependency graph: %w", entity, ErrNotFound)
	}
	known := false
	for _, n := range g.Nodes() {
		known = known || n == node
	}
	if !known {
		return Neighbourhood{}, fmt.Errorf("dependencies of %q: %q is not in the dependency graph: %w", entity, node, ErrNotFound)
	}
	n := Neighbourhood{Entity: entity, Node: node, Edges: []explain.Edge{}}
	seen := map[string]bool{node: true}
	names := []string{node}
	for _, e := range g.Edges() {
		if e.From != node && e.To != node {
			continue
		}
		n.Edges = append(n.Edges, e)
		for _, v := range []string{e.From, e.To} {
			if !seen[v] {
				seen[v] = true
				names = append(names, v)
			}
		}
	}
	for _, v := range names {
		n.Nodes = append(n.Nodes, Node{Name: v, Evidence: finite(evidence[v])})
	}
	return n, nil
}
