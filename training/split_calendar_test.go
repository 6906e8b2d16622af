package training

import (
	"context"
	"testing"

	"github.com/omen-sre/omen/training/dataset"
)

// The time split cuts every entity at one time (reviewer's case: a pod of
// minutes 0–999 and one born at minute 500 were cut at 800 and 900, so
// minutes 800–899 validated the first and trained the second). Now no
// training window of any entity reaches the first validation step of
// any, and ValFraction of the steps validate; an entity that ended
// before the cut only trains, one born after it only validates; series
// spanning the same times are cut as SplitTime cuts each.
func TestTimeSplitOneCut(t *testing.T) {
	const min = int64(60_000)
	mk := func(name string, start int64, n int) *dataset.Series {
		return &dataset.Series{Entity: name, Features: []string{"a"}, Start: start * min, Step: min, Values: make([]float64, n), Labels: make([]bool, n)}
	}
	opts := TrainOptions{Source: memSource{}, Window: 8, Horizon: 2, ValFraction: 0.2}
	if err := opts.defaults(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name             string
		series           []*dataset.Series
		wantTr, wantVa   int
		wantValFirstMins []int64 // start of each validation part, minutes
	}{
		// 1,500 steps, 1,200 before minute 850.
		{"churn", []*dataset.Series{mk("old-pod", 0, 1000), mk("new-pod", 500, 500)}, 2, 2, []int64{850, 850}},
		// 1,350 steps, 1,080 before minute 780; "gone" only trains, "late"
		// (born at 950) only validates.
		{"ended and born", []*dataset.Series{mk("a", 0, 1000), mk("gone", 0, 300), mk("late", 950, 50)}, 2, 2, []int64{780, 950}},
		{"same span", []*dataset.Series{mk("a", 0, 1000), mk("b", 0, 1000)}, 2, 2, []int64{800, 800}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trs, vas, vaSeries, err := splitWindows(tc.series, opts, "time")
			if err != nil {
				t.Fatal(err)
			}
			if len(trs) != tc.wantTr || len(vas) != tc.wantVa {
				t.Fatalf("%d training and %d validation parts, want %d and %d", len(trs), len(vas), tc.wantTr, tc.wantVa)
			}
			for i := range vaSeries {
				if first := vaSeries[i].Start / min; first != tc.wantValFirstMins[i] {
					t.Errorf("validation part %d (%s) starts at minute %d, want %d", i, vaSeries[i].Entity, first, tc.wantValFirstMins[i])
				}
			}
		})
	}
}

// Train counts every entity it cut windows from: with one cut time an
// entity born after it only validates, and it was left out of
// TrainReport.Entities (2 of 3; code review).
func TestTrainCountsValidationOnlyEntities(t *testing.T) {
	const min = int64(60_000)
	mk := func(name string, start int64, n int) *dataset.Series {
		s := &dataset.Series{Entity: name, Features: []string{"a"}, Start: start * min, Step: min, Values: make([]float64, n), Labels: make([]bool, n)}
		for i := range n {
			s.Values[i] = float64(i % 7)
			s.Labels[i] = i%50 == 49
		}
		return s
	}
	src := memSource{mk("a", 0, 1000), mk("gone", 0, 300), mk("late", 950, 50)}
	_, rep, err := Train(context.Background(), TrainOptions{Source: src, Window: 8, Horizon: 2, ValFraction: 0.2, Epochs: 1, Hidden: 4, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ValSplit != "time" || rep.Entities != 3 {
		t.Errorf("split %q, %d entities, want time and 3", rep.ValSplit, rep.Entities)
	}
}
