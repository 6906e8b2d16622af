package app

import (
	"math"
	"testing"

	"github.com/omen-sre/omen/explain"
)

// TestCausesOfDropsSmallShares: metric groups under 2% of the positive
// attribution and dependencies with a root-cause score under 0.02 are not
// causes.
func TestCausesOfDropsSmallShares(t *testing.T) {
	x := Explanation{
		Attribution: explain.Attribution{Groups: []explain.GroupAttribution{
			{Name: "mem", Phi: 0.99}, {Name: "cpu", Phi: 0.01}, {Name: "net", Phi: 1e-9},
		}},
		Causes: rootCauseOf(explain.RootCause{Entities: []explain.Cause{{Entity: "db", Score: 0.9}, {Entity: "cache", Score: 0.01}}}, nil),
	}
	got := causesOf(x, "shop/a", nil)
	if len(got) != 2 || got[0].Name != "mem" || got[1].Name != "db" {
		t.Fatalf("causes %+v, want mem and db only", got)
	}
}

// TestCausesOfShareIsAPIShare: a cause's share in the alert (top_causes,
// omen_alert_cause_share) is the explanation's share as the API and UI
// show it, |φ| / Σ|φ| over all groups (explain.GroupAttribution.Share),
// also when a group pulls the other way; it was φ / Σφ⁺ (75% and 25%
// where the page says 60% and 20%). A group with φ < 0 is no cause.
func TestCausesOfShareIsAPIShare(t *testing.T) {
	for _, tc := range []struct {
		name   string
		groups []explain.GroupAttribution
		want   map[string]float64
	}{
		{"negative group", []explain.GroupAttribution{
			{Name: "mem", Phi: 0.6, Share: 0.6}, {Name: "net", Phi: -0.2, Share: 0.2}, {Name: "cpu", Phi: 0.2, Share: 0.2},
		}, map[string]float64{"mem": 0.6, "cpu": 0.2}},
		{"all positive", []explain.GroupAttribution{
			{Name: "mem", Phi: 0.3, Share: 0.75}, {Name: "cpu", Phi: 0.1, Share: 0.25},
		}, map[string]float64{"mem": 0.75, "cpu": 0.25}},
		{"large negative", []explain.GroupAttribution{
			{Name: "mem", Phi: 0.1, Share: 0.1}, {Name: "net", Phi: -0.9, Share: 0.9},
		}, map[string]float64{"mem": 0.1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := Explanation{Attribution: explain.Attribution{Groups: tc.groups}}
			got := causesOf(x, "shop/a", nil)
			if len(got) != len(tc.want) {
				t.Fatalf("causes %+v, want %v", got, tc.want)
			}
			for _, c := range got {
				want, ok := tc.want[c.Name]
				if !ok || math.Abs(c.Share-want) > 1e-12 {
					t.Errorf("cause %s share %v, want %v (the explanation's share)", c.Name, c.Share, want)
				}
			}
		})
	}
}
