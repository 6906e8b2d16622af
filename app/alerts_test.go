package app

import (
	"math"
	"testing"

	"github.com/omen-sre/omen/explain"
)

func TestCausesOf(t *testing.T) {
	x := Explanation{
		Labels: map[string]string{"namespace": "shop", "pod": "cart-7d9f8c6b5-xk2p1"},
		Attribution: explain.Attribution{Groups: []explain.GroupAttribution{
			{Name: "memory_limit_ratio", Phi: 0.30},
			{Name: "cpu_usage_cores", Phi: -0.10},
			{Name: "events_oom_killed", Phi: 0.10},
			{Name: "request_rate", Phi: 0},
		}},
		Causes: rootCauseOf(explain.RootCause{Entities: []explain.Cause{
			{Entity: "cart", Score: 0.6}, {Entity: "redis", Score: 0.3},
		}}, nil),
	}
	got := causesOf(x, "shop/cart-7d9f8c6b5-xk2p1", map[string]bool{"events_oom_killed": true})
	want := []struct {
		name, kind string
		share      float64
	}{
		{"memory_limit_ratio", "metric", 0.6}, // |φ| / Σ|φ|: 0.30 / 0.50
		{"events_oom_killed", "event", 0.2},
		{"redis", "dependency", 0.3}, // the pod's own service "cart" is not a dependency
	}
	if len(got) != len(want) {
		t.Fatalf("causes %+v, want %d", got, len(want))
	}
	for i, w := range want {
		if got[i].Name != w.name || got[i].Kind != w.kind || math.Abs(got[i].Share-w.share) > 1e-12 {
			t.Errorf("cause %d = %+v, want %s/%s %.2f", i, got[i], w.name, w.kind, w.share)
		}
	}
}
