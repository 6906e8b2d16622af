package apitest

import (
	"math"
	"math/rand"
	"sort"
	"strconv"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/explain"
)

// T0 is the time of the fixture's latest predictions, ms.
const T0 int64 = 1764000000000

// Step is the fixture's step, ms.
const Step int64 = 15000

// Features are the fixture's features (one group each).
var Features = []string{"restarts", "cpu_usage", "memory_working_set", "oom_events",
	"mount_errors", "config_errors", "dns_errors", "latency_p99"}

// Fleet entities and their services.
var entities = []struct{ id, ns, pod, service string }{
	{"shop/cart-7d9f8b6c4-x2k9p", "shop", "cart-7d9f8b6c4-x2k9p", "cart"},
	{"shop/checkout-5c6d7e8f9-q8w7e", "shop", "checkout-5c6d7e8f9-q8w7e", "checkout"},
	{"shop/frontend-6b7c8d9e1-a1b2c", "shop", "frontend-6b7c8d9e1-a1b2c", "frontend"},
	{"infra/db-0", "infra", "db-0", "db"},
	{"infra/redis-0", "infra", "redis-0", "redis"},
}

// Alert fingerprints of the fixture.
const (
	FiringFingerprint   = "a1b2c3d4e5f60718"
	PendingFingerprint  = "0f1e2d3c4b5a6978"
	ResolvedFingerprint = "9988776655443322"
)

// CartEntity is the entity of the firing alert.
const CartEntity = "shop/cart-7d9f8b6c4-x2k9p"

// Backend returns a fresh fixture backend.
func Backend() *api.MemBackend {
	rng := rand.New(rand.NewSource(7))
	m := &api.MemBackend{
		Explanations: map[string]api.Explanation{},
		Service:      map[string]string{},
		Evidence:     map[string]float64{},
		Model: &api.ModelInfo{
			Version: "v3", Created: T0 - 86400000, Size: 123456,
			SHA256:      "3b5d5c3712955042212316173ccf37be800ee4b5f2a0c9ef8d1e2a3b4c5d6e7f",
			Description: "lstm hidden 64, trained on 14 days", Metrics: map[string]float64{"auc_pr": 0.81, "recall_at_p90": 0.64},
			Params:   map[string]string{"hidden": "64", "schema": "1"},
			Features: Features, Window: 8, StepMs: Step, HorizonMs: 600000, Threshold: 0.5, AnomalyThreshold: 2.5,
		},
		Edges: []explain.Edge{
			{From: "frontend", To: "cart", Weight: 1}, {From: "frontend", To: "checkout", Weight: 1},
			{From: "checkout", To: "cart", Weight: 0.5}, {From: "cart", To: "db", Weight: 1},
			{From: "checkout", To: "redis", Weight: 1},
		},
	}
	probs := map[string]float64{"cart": 0.91, "checkout": 0.62, "frontend": 0.2, "db": 0.35, "redis": 0.05}
	for ei, e := range entities {
		m.Service[e.id] = e.service
		labels := map[string]string{"namespace": e.ns, "pod": e.pod, "service": e.service}
		final := probs[e.service]
		for k := 19; k >= 0; k-- {
			t := T0 - int64(k)*Step
			p := final * math.Exp(-float64(k)/6) * (0.9 + 0.2*rng.Float64())
			if k == 0 {
				p = final
			}
			m.PredictionList = append(m.PredictionList, api.Prediction{
				ID: e.id + "@" + itoa(t), Entity: e.id, Labels: labels, T: t,
				Probability: round(p), Threshold: 0.5, AnomalyScore: round(3 * p), ModelVersion: "v3",
			})
		}
		m.Evidence[e.service] = round(3*final + final)
		x := explanation(rng, e.id, labels, final, ei)
		m.Explanations[x.PredictionID] = x
	}
	m.AlertList = []api.Alert{
		{Fingerprint: FiringFingerprint, State: api.AlertFiring, Entity: CartEntity,
			Labels:       map[string]string{"alertname": "ModuleLoadFailurePredicted", "namespace": "shop", "pod": "cart-7d9f8b6c4-x2k9p", "severity": "critical"},
			Annotations:  map[string]string{"summary": "cart is likely to fail to start within 10m"},
			PredictionID: CartEntity + "@" + itoa(T0), Probability: 0.91, Threshold: 0.5, ActiveAt: T0 - 4*Step,
			// Fired warning, escalated when its probability reached 0.9.
			EscalatedAt: T0 - Step},
		{Fingerprint: PendingFingerprint, State: api.AlertPending, Entity: "shop/checkout-5c6d7e8f9-q8w7e",
			Labels:       map[string]string{"alertname": "ModuleLoadFailurePredicted", "namespace": "shop", "pod": "checkout-5c6d7e8f9-q8w7e", "severity": "warning"},
			PredictionID: "shop/checkout-5c6d7e8f9-q8w7e@" + itoa(T0), Probability: 0.62, Threshold: 0.5, ActiveAt: T0 - Step},
		{Fingerprint: ResolvedFingerprint, State: api.AlertResolved, Entity: "infra/redis-0",
			Labels:       map[string]string{"alertname": "ModuleLoadFailurePredicted", "namespace": "infra", "pod": "redis-0", "severity": "warning"},
			PredictionID: "infra/redis-0@" + itoa(T0), Probability: 0.05, Threshold: 0.5, ActiveAt: T0 - 40*Step, ResolvedAt: T0 - 30*Step,
			// Resolved as the predicted failure began (outcome failure_began).
			FailureBeganAt: T0 - 30*Step},
	}
	return m
}

func explanation(rng *rand.Rand, id string, labels map[string]string, prob float64, ei int) api.Explanation {
	const w = 8
	baseline := 0.08
	groups := make([]explain.GroupAttribution, len(Features))
	weights := make([]float64, len(Features))
	sum := 0.0
	for j := range Features {
		weights[j] = rng.Float64() * rng.Float64()
		if (j+ei)%3 == 0 {
			weights[j] += 0.6
		}
		if j%4 == 3 {
			weights[j] = -weights[j] / 4
		}
		sum += weights[j]
	}
	abs := 0.0
	for j, f := range Features {
		phi := round((prob - baseline) * weights[j] / sum)
		groups[j] = explain.GroupAttribution{Name: f, Kind: explain.KindMetric, Phi: phi}
		abs += math.Abs(phi)
	}
	value := baseline
	for j := range groups {
		groups[j].Share = math.Abs(groups[j].Phi) / abs
		value += groups[j].Phi
	}
	attr := explain.Attribution{Groups: groups, Baseline: baseline, Value: value, Method: "exact",
		Samples: 256, Evaluations: 4080, Background: 16}
	top := attr.Top(3)
	var causes api.Causes
	for _, g := range top {
		causes.Metrics = append(causes.Metrics, api.MetricCause{Name: g.Name, Kind: g.Kind, Phi: g.Phi, Share: g.Share})
	}
	ents := []api.EntityCause{
		{Entity: "db", Score: 0.46, Evidence: 1.4}, {Entity: "cart", Score: 0.31, Evidence: 3.64},
		{Entity: "checkout", Score: 0.15, Evidence: 2.48}, {Entity: "redis", Score: 0.08, Evidence: 0.2},
	}
	sort.SliceStable(ents, func(i, j int) bool { return ents[i].Score > ents[j].Score })
	causes.Entities = ents
	win := make([][]float64, w)
	for t := range win {
		win[t] = make([]float64, len(Features))
		for j := range Features {
			v := math.Round(100*rng.Float64()*float64(j+1)) / 100
			if (t+j+ei)%11 == 5 {
				v = math.NaN()
			}
			win[t][j] = v
		}
	}
	return api.Explanation{
		PredictionID: id + "@" + itoa(T0), Entity: id, Labels: labels, T: T0,
		Probability: prob, Threshold: 0.5, AnomalyScore: round(3 * prob), ModelVersion: "v3",
		Attribution: attr, Causes: causes, Features: Features, Window: win, Step: Step,
	}
}

func round(v float64) float64 { return math.Round(v*1e4) / 1e4 }

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
