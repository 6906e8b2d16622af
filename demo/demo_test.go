package demo

import (
	"testing"
	"time"

	"github.com/omen-sre/omen/sim"
)

// TestWithOpening: the demo's live phase opens with one strong
// memory-growth failure and nothing else in its first 40 minutes, and the
// fleet accepts the schedule.
func TestWithOpening(t *testing.T) {
	live := 24 * time.Hour
	specs, err := schedule(1, live+4*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	specs = withOpening(specs, live)
	n := 0
	for _, s := range specs {
		if s.At+sim.DefaultFailFor >= live && s.At-s.Lead <= live+40*time.Minute {
			n++
			if s.Kind != sim.MemoryGrowth || s.Strength != 1 || s.At-s.Lead < live {
				t.Errorf("opening scenario %+v", s)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d scenarios in the opening, want 1", n)
	}
	if _, err := sim.New(sim.Options{Seed: 1, Start: time.Now().Add(-live).Truncate(Step), Step: Step, Scenarios: specs}); err != nil {
		t.Fatal(err)
	}
}
