package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/omen-sre/omen/explain"
	"github.com/omen-sre/omen/store"
)

// MemBackend is an in-memory Backend for tests and UI development. Set its
// fields before use, or under Lock. Predictions holds every prediction;
// the latest of each entity answers a query without a time range.
// Explanations are keyed by prediction id; an alert's explanation is the
// one of its PredictionID. ExplainEntity returns the explanation of the
// entity's latest prediction unless Explain is set. Dependencies serves the
// neighbours of the entity's node in Edges (the node is Service[entity],
// else the entity itself) with the evidence in Evidence.
type MemBackend struct {
	sync.Mutex
	PredictionList []Prediction
	AlertList      []Alert
	Explanations   map[string]Explanation
	Model          *ModelInfo
	Edges          []explain.Edge
	Service        map[string]string
	Evidence       map[string]float64
	Explain        func(ctx context.Context, entity string) (Explanation, error)
	// NoModel, when Model is nil, is ModelInfo's error (else not found).
	NoModel error
}

var _ Backend = (*MemBackend)(nil)

// Predictions implements Backend.
func (m *MemBackend) Predictions(_ context.Context, q PredictionQuery) ([]Prediction, error) {
	m.Lock()
	defer m.Unlock()
	if q.From.IsZero() && q.To.IsZero() {
		latest := map[string]Prediction{}
		for _, p := range m.PredictionList {
			if l, ok := latest[p.Entity]; !ok || p.T > l.T {
				latest[p.Entity] = p
			}
		}
		out := make([]Prediction, 0, len(latest))
		for _, p := range latest {
			if q.Match(p) {
				out = append(out, p)
			}
		}
		return out, nil
	}
	var out []Prediction
	for _, p := range m.PredictionList {
		if q.Match(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Alerts implements Backend.
func (m *MemBackend) Alerts(_ context.Context, q AlertQuery) ([]Alert, error) {
	m.Lock()
	defer m.Unlock()
	var out []Alert
	for _, a := range m.AlertList {
		if q.Match(a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// Explanation implements Backend.
func (m *MemBackend) Explanation(_ context.Context, id string) (Explanation, error) {
	m.Lock()
	defer m.Unlock()
	for _, a := range m.AlertList {
		if a.HasFingerprint(id) {
			id = a.PredictionID
			break
		}
	}
	x, ok := m.Explanations[id]
	if !ok {
		return Explanation{}, fmt.Errorf("explanation %q: %w", id, ErrNotFound)
	}
	return cloneExplanation(x), nil
}

// ExplainEntity implements Backend.
func (m *MemBackend) ExplainEntity(ctx context.Context, entity string) (Explanation, error) {
	m.Lock()
	f := m.Explain
	var latest *Prediction
	for i, p := range m.PredictionList {
		if p.Entity == entity && (latest == nil || p.T > latest.T) {
			latest = &m.PredictionList[i]
		}
	}
	var x Explanation
	ok := false
	if latest != nil {
		x, ok = m.Explanations[latest.ID]
	}
	m.Unlock()
	if f != nil {
		return f(ctx, entity)
	}
	if latest == nil {
		return Explanation{}, fmt.Errorf("entity %q: %w", entity, ErrNotFound)
	}
	if !ok {
		return Explanation{}, fmt.Errorf("explanation of %q: %w", latest.ID, ErrNotFound)
	}
	return cloneExplanation(x), nil
}

// ModelInfo implements Backend.
func (m *MemBackend) ModelInfo(context.Context) (ModelInfo, error) {
	m.Lock()
	defer m.Unlock()
	if m.Model == nil && m.NoModel != nil {
		return ModelInfo{}, m.NoModel
	}
	if m.Model == nil {
		return ModelInfo{}, fmt.Errorf("model: %w", ErrNotFound)
	}
	return *m.Model, nil
}

// Dependencies implements Backend.
func (m *MemBackend) Dependencies(_ context.Context, entity string) (Neighbourhood, error) {
	m.Lock()
	defer m.Unlock()
	node := entity
	if s, ok := m.Service[entity]; ok {
		node = s
	}
	n := Neighbourhood{Entity: entity, Node: node, Edges: []explain.Edge{}}
	seen := map[string]bool{node: true}
	names := []string{node}
	for _, e := range m.Edges {
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
	if len(n.Edges) == 0 {
		known := false
		for _, p := range m.PredictionList {
			known = known || p.Entity == entity
		}
		if _, ok := m.Evidence[node]; !ok && !known {
			return Neighbourhood{}, fmt.Errorf("entity %q: %w", entity, ErrNotFound)
		}
	}
	for _, v := range names {
		n.Nodes = append(n.Nodes, Node{Name: v, Evidence: m.Evidence[v]})
	}
	return n, nil
}

func cloneExplanation(x Explanation) Explanation {
	x.Attribution.Groups = append([]explain.GroupAttribution(nil), x.Attribution.Groups...)
	x.Causes.Metrics = append([]MetricCause(nil), x.Causes.Metrics...)
	x.Causes.Entities = append([]EntityCause(nil), x.Causes.Entities...)
	x.Timestamps = nil
	x.Links = nil
	return x
}

// MemModels is an in-memory ModelAdmin for tests. A file is registered
// under version "m" followed by the first 8 hex digits of its SHA-256, or
// under AddOptions.Version (registering the same file again under the
// same version is a no-op; a version given that is taken by other data or
// was deleted is refused with ErrConflict, a blank one or one with white space around it,
// ".", ".." with ErrInvalid); Check, when set, refuses files (its error is
// wrapped with ErrInvalid). It keeps the promotion history for rollbacks.
type MemModels struct {
	Check func(file []byte) error

	mu       sync.Mutex
	versions []ModelVersion // registration order
	history  []string       // promotions; the last is active
	deleted  []string       // deleted versions' names
}

var _ ModelAdmin = (*MemModels)(nil)

// Models implements ModelAdmin.
func (m *MemModels) Models(context.Context) ([]ModelVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ModelVersion, 0, len(m.versions))
	for i := len(m.versions) - 1; i >= 0; i-- {
		out = append(out, m.withActive(m.versions[i]))
	}
	return out, nil
}

// AddModel implements ModelAdmin.
func (m *MemModels) AddModel(_ context.Context, file []byte, opts AddOptions) (ModelVersion, error) {
	if o := opts.Version; o != "" {
		if err := store.CheckVersion(o); err != nil {
			return ModelVersion{}, Invalid(err)
		}
	}
	if m.Check != nil {
		if err := m.Check(file); err != nil {
			return ModelVersion{}, Invalid(err)
		}
	}
	sum := sha256.Sum256(file)
	v := ModelVersion{Version: "m" + hex.EncodeToString(sum[:4]), Created: time.Now().UnixMilli(),
		Size: int64(len(file)), SHA256: hex.EncodeToString(sum[:])}
	if opts.Version != "" {
		v.Version = opts.Version
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch old, ok := m.find(v.Version); {
	case ok && old.SHA256 != v.SHA256:
		return ModelVersion{}, Conflict(fmt.Errorf("model %q: registered with sha256 %s", v.Version, old.SHA256))
	case ok:
		v = old
	case opts.Version != "" && slices.Contains(m.deleted, v.Version):
		return ModelVersion{}, Conflict(fmt.Errorf("model %q: a deleted version", v.Version))
	default:
		m.versions = append(m.versions, v)
	}
	if opts.Promote {
		m.promote(v.Version)
	}
	return m.withActive(v), nil
}

// SetActive implements ModelAdmin.
func (m *MemModels) SetActive(_ context.Context, version string) (ModelVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if version == "" {
		if len(m.history) < 2 {
			active := "none is promoted"
			if n := len(m.history); n > 0 {
				active = "active: " + m.history[n-1]
			}
			return ModelVersion{}, NotFound(fmt.Errorf("roll back model: no earlier promoted version to roll back to (%s)", active))
		}
		m.history = m.history[:len(m.history)-1]
		v, _ := m.find(m.history[len(m.history)-1])
		return m.withActive(v), nil
	}
	v, ok := m.find(version)
	if !ok {
		return ModelVersion{}, fmt.Errorf("model %q: %w", version, ErrNotFound)
	}
	m.promote(version)
	return m.withActive(v), nil
}

// DeleteModel implements ModelAdmin: it refuses the active version and
// drops the deleted one from the promotion history, as the store does.
func (m *MemModels) DeleteModel(_ context.Context, version string) (ModelVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.find(version)
	if !ok {
		return ModelVersion{}, fmt.Errorf("model %q: %w", version, ErrNotFound)
	}
	if v = m.withActive(v); v.Active {
		return ModelVersion{}, Conflict(fmt.Errorf("model %q is the active model: promote another version first", version))
	}
	m.versions = slices.DeleteFunc(m.versions, func(x ModelVersion) bool { return x.Version == version })
	m.deleted = append(m.deleted, version)
	m.history = slices.Compact(slices.DeleteFunc(m.history, func(x string) bool { return x == version }))
	return v, nil
}

func (m *MemModels) promote(version string) {
	if n := len(m.history); n == 0 || m.history[n-1] != version {
		m.history = append(m.history, version)
	}
}

func (m *MemModels) find(version string) (ModelVersion, bool) {
	for _, v := range m.versions {
		if v.Version == version {
			return v, true
		}
	}
	return ModelVersion{}, false
}

func (m *MemModels) withActive(v ModelVersion) ModelVersion {
	v.Active = len(m.history) > 0 && m.history[len(m.history)-1] == v.Version
	return v
}
