package app

import (
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
