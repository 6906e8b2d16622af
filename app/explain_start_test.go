package app

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/explain"
	"github.com/omen-sre/omen/features"
)

// TestRootCausesOfTheAlertingEntity: an explanation's root-cause entities
// are those of its own entity: its service and the services it depends
// on (transitively), the walk starting at it. Before, the ranking was the
// fleet's, the same for every alert: an etcd pod and a cart pod explained
// at the same step both named payment first, and a frontend alert whose own
// memory explained 99.97 % of the attribution ranked payment above the
// frontend (reviewer's finding).
func TestRootCausesOfTheAlertingEntity(t *testing.T) {
	cfg := config.Default()
	cfg.Dependencies = []config.Dependency{
		{Source: "frontend", Target: "checkout"}, {Source: "frontend", Target: "cart"},
		{Source: "checkout", Target: "payment"}, {Source: "batch", Target: "payment"},
	}
	names := features.Names(cfg.Config)
	s, st := newTestScorer(t, cfg, testModel(t, names, 4, 8, 1), prometheus.NewRegistry())
	ex := newExplainer(st, s, cfg)
	step := time.Duration(cfg.Step).Milliseconds()
	pods := []string{"frontend-6f7c9d8b4-q2w3e", "checkout-5c8d7b6a9-k3j2h", "cart-7d9f8c6b5-xk2p1", "payment-8b7c6d5e4-p9o8i", "batch-0", "etcd-0"}
	entity := func(pod string) string { return "shop/" + pod }
	ctx := context.Background()
	for i := int64(0); i < 6; i++ {
		var vs []features.Vector
		for j, p := range pods {
			vals := make([]float64, len(names))
			for k := range vals {
				vals[k] = float64((k+int(i)+3*j)%5) * 0.3 * float64(j+1)
			}
			l := map[string]string{"namespace": "shop", "pod": p}
			if p == "batch-0" || p == "etcd-0" {
				l["app"] = strings.TrimSuffix(p, "-0")
			}
			vs = append(vs, features.Vector{Entity: entity(p), Labels: l, T: i * step, Values: vals})
		}
		s.score(ctx, i*step, vs)
	}
	// The fleet's evidence: payment and batch the most anomalous, the
	// frontend's own prediction (the one explained) close behind.
	evidence := map[string][2]float64{ // anomaly, probability
		"frontend-6f7c9d8b4-q2w3e": {0.7, 0.95}, "checkout-5c8d7b6a9-k3j2h": {0.29, 0},
		"cart-7d9f8c6b5-xk2p1": {0.1, 0}, "payment-8b7c6d5e4-p9o8i": {1.2, 0.29},
		"batch-0": {3, 0.5}, "etcd-0": {0.2, 0},
	}
	s.mu.Lock()
	for pod, v := range evidence {
		p := s.latest[entity(pod)]
		p.Anomaly, p.Prob = v[0], v[1]
		s.latest[entity(pod)] = p
	}
	s.mu.Unlock()
	tests := []struct {
		pod  string
		want []string // the ranked entities, in order
	}{
		{"frontend-6f7c9d8b4-q2w3e", []string{"frontend", "payment", "checkout", "cart"}},
		{"checkout-5c8d7b6a9-k3j2h", []string{"payment", "checkout"}},
		{"cart-7d9f8c6b5-xk2p1", []string{"cart"}},
		{"etcd-0", []string{"etcd"}}, // not in the graph: alone
	}
	for _, tc := range tests {
		t.Run(tc.pod, func(t *testing.T) {
			p, ok := s.latestPrediction(entity(tc.pod))
			if !ok {
				t.Fatal("no prediction")
			}
			x, err := ex.explain(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range x.Causes.Entities {
				got = append(got, c.Entity)
				if c.Entity == serviceOf(p.Labels) && c.WorstEntity != p.Entity {
					t.Errorf("the alerting service's worst entity is %q, want %q", c.WorstEntity, p.Entity)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("root-cause entities %v, want %v (%+v)", got, tc.want, x.Causes.Entities)
			}
		})
	}
}

// TestCausesEncodeAsLists: an explanation without metric or entity causes
// stores them as [] (the OpenAPI document declares arrays), not null.
func TestCausesEncodeAsLists(t *testing.T) {
	x := Explanation{Causes: rootCauseOf(explain.RootCause{}, nil)}
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"causes":{"metrics":[],"entities":[]}`) {
		t.Errorf("explanation %s, want causes {\"metrics\":[],\"entities\":[]}", b)
	}
}
