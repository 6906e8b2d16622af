package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/omen-sre/omen/explain"
	"github.com/omen-sre/omen/store"
)

// ErrNotFound is returned (wrapped) by a Backend when the asked-for alert,
// prediction, explanation or entity does not exist; the API answers 404.
var ErrNotFound = errors.New("not found")

// ErrUnavailable is returned (wrapped) by a Backend that cannot answer yet,
// e.g. ExplainEntity before a model is loaded; the API answers 503.
var ErrUnavailable = errors.New("unavailable")

// NoModelError is a Backend's error when no model is loaded: it is
// ErrUnavailable (the API answers 503), and Reason says why, when a
// promoted model was refused (it does not fit the configured features or
// step, or does not decode; nil: none is promoted). The UI shows Reason.
type NoModelError struct {
	Reason error
}

func (e *NoModelError) Error() string {
	if e.Reason == nil {
		return "no model loaded"
	}
	return "no model loaded: " + e.Reason.Error()
}

// Is reports ErrUnavailable.
func (e *NoModelError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns Reason.
func (e *NoModelError) Unwrap() error { return e.Reason }

// RetryAfterError is an error of a Backend that says when the request may
// succeed: the API answers its status (that of Err, e.g. 503 for
// ErrUnavailable) with a Retry-After of After, in whole seconds rounded
// up (at least 1). For a wait the Backend can estimate, such as an
// entity's window that fills in a few steps.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// retryAfterSeconds is d in whole seconds for a Retry-After header,
// rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// Backend is what the API and the UI read: the predictions and alerts,
// their explanations, the active model and the dependencies. The
// contract of every part: implementations are safe for concurrent use;
// the slices and maps they return are owned by the caller (handlers do
// not modify them, but may sort returned slices); times are milliseconds
// since the Unix epoch; missing records are reported with errors
// wrapping ErrNotFound.
type Backend interface {
	PredictionReader
	Explainer
	ModelDescriber
	DependencyReader
}

// PredictionReader reads the stored predictions and alerts (Backend's
// contract).
type PredictionReader interface {
	// Predictions returns predictions matching q: the latest prediction of
	// each entity when q.From and q.To are both zero, otherwise every
	// prediction with From ≤ t ≤ To (a zero To means now). A backend may
	// return a superset (e.g. ignore the matchers): the API applies q again.
	Predictions(ctx context.Context, q PredictionQuery) ([]Prediction, error)
	// Alerts returns the alerts matching q (a superset is allowed, as for
	// Predictions).
	Alerts(ctx context.Context, q AlertQuery) ([]Alert, error)
}

// Explainer explains predictions: the explanation stored with an alert
// or a prediction, or one computed now (Backend's contract; an entity
// that cannot be explained yet, e.g. before a model is loaded, is an
// error wrapping ErrUnavailable).
type Explainer interface {
	// Explanation returns the stored explanation of an alert (id is its
	// fingerprint) or of a prediction (id is its prediction id).
	Explanation(ctx context.Context, id string) (Explanation, error)
	// ExplainEntity explains the entity's latest window now.
	ExplainEntity(ctx context.Context, entity string) (Explanation, error)
}

// ModelDescriber describes the model in use (Backend's contract).
type ModelDescriber interface {
	// ModelInfo describes the active model (ErrNotFound when none).
	ModelInfo(ctx context.Context) (ModelInfo, error)
}

// DependencyReader reads the dependency graph between entities
// (Backend's contract).
type DependencyReader interface {
	// Dependencies returns the dependency neighbourhood of an entity (or
	// of its service): its callers and callees with their edges.
	Dependencies(ctx context.Context, entity string) (Neighbourhood, error)
}

// PredictionQuery selects predictions.
type PredictionQuery struct {
	// Entity, when set, selects one entity.
	Entity string
	// Matchers select entities whose labels equal every given value.
	Matchers map[string]string
	// From and To bound the prediction time (inclusive; a zero one is no
	// bound); both zero means the latest prediction of each entity.
	From, To time.Time
	// After, when set, is a prediction id (entity@t): only the predictions
	// after it in the API's order (by entity, then newest first) are
	// selected, i.e. those of later entities and the entity's older ones:
	// the next page of a list cut at its limit.
	After string
	// Limit caps the number returned (0: no limit).
	Limit int
}

// Match reports whether p satisfies the entity, matchers and time range
// of q.
func (q PredictionQuery) Match(p Prediction) bool {
	return matchEntity(q.Entity, q.Matchers, p.Entity, p.Labels) && inRange(q.From, q.To, p.T) && q.isAfter(p.Entity, p.T)
}

// isAfter reports whether a prediction of entity at t comes after q.After
// in the API's order (always when After is not set or not an id).
func (q PredictionQuery) isAfter(entity string, t int64) bool {
	if q.After == "" {
		return true
	}
	e, at, err := store.ParsePredictionID(q.After)
	if err != nil {
		return true
	}
	return entity > e || entity == e && t < at
}

// AlertQuery selects alerts.
type AlertQuery struct {
	Entity   string
	Matchers map[string]string
	// State, when set, is AlertPending, AlertFiring or AlertResolved.
	State string
	// From and To, when set, select alerts active at some time in
	// [From, To] (data times, as ActiveAt and ResolvedAt).
	From, To time.Time
}

// Match reports whether a satisfies q.
func (q AlertQuery) Match(a Alert) bool {
	if !matchEntity(q.Entity, q.Matchers, a.Entity, a.Labels) {
		return false
	}
	if q.State != "" && q.State != a.State {
		return false
	}
	if !q.From.IsZero() && a.ResolvedAt != 0 && a.ResolvedAt < q.From.UnixMilli() {
		return false
	}
	if !q.To.IsZero() && a.ActiveAt > q.To.UnixMilli() {
		return false
	}
	return true
}

func matchEntity(entity string, matchers map[string]string, e string, labels map[string]string) bool {
	if entity != "" && entity != e {
		return false
	}
	for k, v := range matchers {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func inRange(from, to time.Time, t int64) bool {
	if !from.IsZero() && t < from.UnixMilli() {
		return false
	}
	if !to.IsZero() && t > to.UnixMilli() {
		return false
	}
	return true
}

// Prediction is the model's output for one entity at one step.
type Prediction struct {
	// ID is the prediction id (entity@t).
	ID     string            `json:"id"`
	Entity string            `json:"entity"`
	Labels map[string]string `json:"labels"`
	// T is the step the prediction was made at, in ms.
	T int64 `json:"t"`
	// Probability is P(failure within the horizon).
	Probability  float64 `json:"probability"`
	Threshold    float64 `json:"threshold"`
	AnomalyScore float64 `json:"anomaly_score"`
	ModelVersion string  `json:"model_version"`
}

// Alert states.
const (
	AlertPending  = "pending"
	AlertFiring   = "firing"
	AlertResolved = "resolved"
)

// Alert is one alert on an entity's prediction.
type Alert struct {
	// Fingerprint is the fingerprint of Labels, as Alertmanager computes
	// it (model.LabelSet.Fingerprint) and shows it for the alert: for an
	// alert escalated from warning to critical, the critical alert's.
	Fingerprint string `json:"fingerprint"`
	// FiredFingerprint is, for an escalated alert, the fingerprint of the
	// labels it fired with (severity warning), under which Alertmanager
	// knew it until it escalated; absent otherwise (it is Fingerprint).
	// Both resolve to the alert (HasFingerprint): its explanation and UI
	// page.
	FiredFingerprint string            `json:"fired_fingerprint,omitempty"`
	State            string            `json:"state"`
	Entity           string            `json:"entity"`
	Labels           map[string]string `json:"labels"`
	Annotations      map[string]string `json:"annotations,omitempty"`
	// PredictionID names the prediction the alert fired on, whose
	// explanation the alert's links show (for a pending alert, its newest
	// prediction); FiredProbability is that prediction's probability
	// (absent when unknown: an alert restored from a state stored before
	// it was kept).
	PredictionID     string  `json:"prediction_id"`
	FiredProbability float64 `json:"fired_probability,omitempty"`
	// Probability and Threshold are the newest prediction's: the alert's
	// state now, as its annotations (re-rendered at every send) show it.
	// While the alert fires they may differ from the fired prediction's.
	Probability float64 `json:"probability"`
	Threshold   float64 `json:"threshold"`
	// ActiveAt is the step the alert fired at or, for a pending alert
	// (over the threshold for fewer than alerting.for steps, not sent to
	// Alertmanager; its labels have no severity yet, so its fingerprint is
	// not the one it fires under), the step it started pending at;
	// ResolvedAt is the step it resolved at. Both are data times, the
	// clock of the predictions (Prediction.T): in production they lag the
	// wall clock by about a step, in omen demo they run ahead of it.
	// Alertmanager is sent the same startsAt and resolved endsAt (the
	// wall clock's time when they are ahead of it). In ms, 0 when not
	// applicable or unknown.
	ActiveAt   int64 `json:"active_at"`
	ResolvedAt int64 `json:"resolved_at,omitempty"`
	// EscalatedAt is the step (ms, a data time as ActiveAt) at which the
	// firing alert escalated from warning to critical, its severity label
	// then critical and its fingerprint the critical alert's (the warning
	// alert's is FiredFingerprint);
	// Alertmanager has the critical alert start then (when it was sent if
	// that step was ahead of the wall clock). 0 (absent from the
	// JSON) when it did not escalate: it fired critical, or is warning.
	EscalatedAt int64 `json:"escalated_at,omitempty"`
	// FailureBeganAt is the first step (ms, a data time as ActiveAt)
	// since the alert started pending at which the entity's failure
	// labels were set (the alert manager's Alert.FailureBeganAt): after
	// ActiveAt, the predicted failure began (a resolved alert's outcome
	// annotation failure_began or failure_ended); at or before it, the
	// alert fired during the failure (fired_during_failure). 0 (absent
	// from the JSON) when they have not been set, and for a pending
	// alert.
	FailureBeganAt int64 `json:"failure_began_at,omitempty"`
}

// HasFingerprint reports whether fp is one of the fingerprints a is known
// by: Fingerprint, or FiredFingerprint (an escalated alert's).
func (a Alert) HasFingerprint(fp string) bool {
	return fp != "" && (a.Fingerprint == fp || a.FiredFingerprint == fp)
}

// Explanation is one prediction's explanation. Its JSON is the document the
// daemon stores per prediction (prediction_id … step_ms), which the API
// completes with the window's timestamps, the alert fingerprint when it was
// asked for by alert, and links.
type Explanation struct {
	PredictionID string            `json:"prediction_id"`
	Entity       string            `json:"entity"`
	Labels       map[string]string `json:"labels"`
	T            int64             `json:"t"`
	Probability  float64           `json:"probability"`
	Threshold    float64           `json:"threshold"`
	AnomalyScore float64           `json:"anomaly_score"`
	ModelVersion string            `json:"model_version"`
	// Attribution: Σ groups[i].phi = value − baseline.
	Attribution explain.Attribution `json:"attribution"`
	Causes      Causes              `json:"causes"`
	// Features name the window's columns; Window holds W rows (oldest
	// first, ending at T) of raw values, NaN (null in JSON) when missing;
	// Step is the time between rows in ms.
	Features []string    `json:"features"`
	Window   [][]float64 `json:"window"`
	Step     int64       `json:"step_ms"`
	// Error, when set ("no explanation: <cause>"), is why there are no
	// attributions: the explanation failed when the prediction's alert
	// fired, and the document is stored under the alert's fingerprint.
	// Attribution and Causes are then zero; Features, Window and Step are
	// set only when the prediction's window was still available.
	Error string `json:"error,omitempty"`

	// Set by the API.
	Timestamps       []int64 `json:"timestamps,omitempty"`
	AlertFingerprint string  `json:"alert_fingerprint,omitempty"`
	Links            *Links  `json:"links,omitempty"`
}

// Causes are the top metric groups and the top root-cause entities.
type Causes struct {
	Metrics  []MetricCause `json:"metrics"`
	Entities []EntityCause `json:"entities"`
}

// MarshalJSON writes no causes as [] (the OpenAPI document's arrays), also
// for documents stored with null.
func (c Causes) MarshalJSON() ([]byte, error) {
	type plain Causes
	if c.Metrics == nil {
		c.Metrics = []MetricCause{}
	}
	if c.Entities == nil {
		c.Entities = []EntityCause{}
	}
	return json.Marshal(plain(c))
}

// MetricCause is a group with one of the largest attribution shares.
type MetricCause struct {
	Name  string  `json:"name"`
	Kind  string  `json:"kind"`
	Phi   float64 `json:"phi"`
	Share float64 `json:"share"`
	// Link is set by the API.
	Link string `json:"link,omitempty"`
}

// EntityCause is a ranked root-cause entity (or service).
type EntityCause struct {
	// Entity names the cause: an entity or, with a dependency graph, a
	// service.
	Entity   string  `json:"entity"`
	Score    float64 `json:"score"`
	Evidence float64 `json:"evidence"`
	// WorstEntity is the cause's live entity with the highest evidence
	// (Entity itself when Entity is a live entity), which Links point to;
	// "" when the cause has no live entity (then there are no Links). It
	// is nil (absent) in explanations stored before it existed, whose
	// Links point to Entity.
	WorstEntity *string `json:"worst_entity,omitempty"`
	// Links are set by the API.
	Links *Links `json:"links,omitempty"`
}

// Links point to related API resources and UI pages (paths relative to the
// server root).
type Links struct {
	Self         string `json:"self,omitempty"`
	Explain      string `json:"explain,omitempty"`
	Dependencies string `json:"dependencies,omitempty"`
	UI           string `json:"ui,omitempty"`
}

// DecodeExplanation decodes an explanation document as the daemon stores
// it (null window values become NaN).
func DecodeExplanation(doc []byte) (Explanation, error) {
	var x Explanation
	if err := json.Unmarshal(doc, &x); err != nil {
		return Explanation{}, fmt.Errorf("decode explanation: %w", err)
	}
	return x, nil
}

// MarshalJSON writes NaN and ±Inf window values as null.
func (x Explanation) MarshalJSON() ([]byte, error) {
	type plain Explanation
	return json.Marshal(struct {
		plain
		Window [][]*float64 `json:"window"`
	}{plain(x), nullable(x.Window)})
}

// UnmarshalJSON reads null window values as NaN.
func (x *Explanation) UnmarshalJSON(b []byte) error {
	type plain Explanation
	var v struct {
		*plain
		Window [][]*float64 `json:"window"`
	}
	v.plain = (*plain)(x)
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	x.Window = nil
	if v.Window != nil {
		x.Window = make([][]float64, len(v.Window))
		for i, r := range v.Window {
			x.Window[i] = make([]float64, len(r))
			for j, p := range r {
				x.Window[i][j] = math.NaN()
				if p != nil {
					x.Window[i][j] = *p
				}
			}
		}
	}
	return nil
}

func nullable(w [][]float64) [][]*float64 {
	if w == nil {
		return nil
	}
	out := make([][]*float64, len(w))
	for i, r := range w {
		out[i] = make([]*float64, len(r))
		for j := range r {
			if !math.IsNaN(r[j]) && !math.IsInf(r[j], 0) {
				out[i][j] = &r[j]
			}
		}
	}
	return out
}

// ModelInfo describes the active model.
type ModelInfo struct {
	Version     string             `json:"version"`
	Created     int64              `json:"created"`
	Size        int64              `json:"size,omitempty"`
	SHA256      string             `json:"sha256,omitempty"`
	Description string             `json:"description,omitempty"`
	Metrics     map[string]float64 `json:"metrics,omitempty"`
	Params      map[string]string  `json:"params,omitempty"`
	// Features the model reads, the window length W in steps, the step and
	// the prediction horizon in ms, and the alerting threshold.
	Features  []string `json:"features"`
	Window    int      `json:"window"`
	StepMs    int64    `json:"step_ms"`
	HorizonMs int64    `json:"horizon_ms"`
	Threshold float64  `json:"threshold"`
	// AnomalyThreshold is the model's anomaly threshold: the anomaly
	// score (Prediction.AnomalyScore) at or above which a forecast
	// residual is anomalous, chosen in training (peaks over threshold);
	// 0 when the model has none.
	AnomalyThreshold float64 `json:"anomaly_threshold"`
}

// Neighbourhood is an entity's (or its service's) dependency
// neighbourhood. Edges point from caller to callee.
type Neighbourhood struct {
	// Entity is the entity asked for; Node the graph node it maps to (its
	// service, or itself).
	Entity string         `json:"entity"`
	Node   string         `json:"node"`
	Nodes  []Node         `json:"nodes"`
	Edges  []explain.Edge `json:"edges"`
}

// Node is one entity or service of a neighbourhood.
type Node struct {
	Name string `json:"name"`
	// Evidence is the node's anomaly evidence (anomaly score raised by the
	// failure probability; 0 when unknown).
	Evidence float64 `json:"evidence"`
	// WorstEntity is the node's live entity with the highest evidence,
	// which Link points to; "" when the node (a service) has no live
	// entity (then there is no Link). A backend that leaves it nil links
	// the node by its name.
	WorstEntity *string `json:"worst_entity,omitempty"`
	// Link is set by the API.
	Link string `json:"link,omitempty"`
}
