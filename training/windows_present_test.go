package training

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/omen-sre/omen/training/dataset"
	"github.com/omen-sre/omen/training/threshold"
)

// TestMakeWindowsPresent: over a series with steps without a vector
// (Series.Present, the store's history) the windows are those the daemon
// scores: a window ending at a step the daemon does not score (no
// vector, or its window restarted fewer than W steps before) has no
// label, one whose target is such a step no target, and one with neither
// is left out. Without Present every window is kept as before.
func TestMakeWindowsPresent(t *testing.T) {
	const w = 3
	x := []bool{true, true, true, true, false, false, true, true, true, false, false, false, false, true, true, true, true, true}
	// Steps 4-5 missing (2 ≤ W: the window goes on), 9-12 (4 > W: it
	// restarts at 13, scored from 16).
	// Born (the entity's first vector at step 0): the daemon's window
	// starts empty there and is first scored at step W; the window ending
	// at W−1 is only a forecast of it.
	tests := []struct {
		name     string
		present  []bool
		born     bool
		ends     []int
		labelled []int
		noTarget []int
		unscored []int
	}{
		{name: "no presence", present: nil,
			ends:     []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
			labelled: []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
		{name: "no presence born", present: nil, born: true,
			ends:     []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
			labelled: []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
		{name: "gaps", present: x,
			ends:     []int{2, 3, 5, 6, 7, 8, 15, 16},
			labelled: []int{2, 3, 6, 7, 8, 16},
			noTarget: []int{3, 8},
			unscored: []int{5, 15}},
		{name: "gaps born", present: x, born: true,
			ends:     []int{2, 3, 5, 6, 7, 8, 15, 16},
			labelled: []int{3, 6, 7, 8, 16},
			noTarget: []int{3, 8},
			unscored: []int{2, 5, 15}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := len(x)
			s := &dataset.Series{Entity: "a", Features: []string{"f"}, Values: make([]float64, n), Labels: make([]bool, n), Present: tc.present, Born: tc.born}
			for k := range n {
				s.Values[k] = float64(k)
				if tc.present != nil && !tc.present[k] {
					s.Values[k] = math.NaN()
				}
			}
			win, err := MakeWindows(s, WindowOptions{Window: w, Horizon: 1})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(win.End, tc.ends) {
				t.Errorf("ends %v, want %v", win.End, tc.ends)
			}
			var labelled, noTarget, unscored []int
			next := make([]float32, 1)
			for i, e := range win.End {
				if l := win.Label[i]; l == l {
					labelled = append(labelled, e)
				}
				if !win.Scored(i) {
					unscored = append(unscored, e)
				}
				win.Gather([]int{i}, make([]float32, w), next, nil)
				if !win.HasTarget(i) {
					noTarget = append(noTarget, e)
					if next[0] == next[0] {
						t.Errorf("window ending at %d: target %v, want NaN", e, next[0])
					}
				} else if next[0] != float32(e+1) {
					t.Errorf("window ending at %d: target %v, want %d", e, next[0], e+1)
				}
			}
			if !slices.Equal(labelled, tc.labelled) || !slices.Equal(noTarget, tc.noTarget) || !slices.Equal(unscored, tc.unscored) {
				t.Errorf("labelled %v, no target %v, unscored %v; want %v, %v, %v", labelled, noTarget, unscored, tc.labelled, tc.noTarget, tc.unscored)
			}
			// Joined after a series without Present, the flags stay with
			// their windows.
			plain := &dataset.Series{Entity: "p", Features: []string{"f"}, Values: make([]float64, 5)}
			pw, err := MakeWindows(plain, WindowOptions{Window: w, Horizon: 1})
			if err != nil {
				t.Fatal(err)
			}
			j, err := JoinWindows(pw, win)
			if err != nil {
				t.Fatal(err)
			}
			for i := range j.N() {
				k := i - pw.N()
				if want := k < 0 || win.Scored(k); j.Scored(i) != want {
					t.Errorf("joined window %d: scored %v, want %v", i, j.Scored(i), want)
				}
			}
		})
	}
}

// TestTrainThresholdMissingTargets: the anomaly threshold is fitted to the
// residuals of the validation steps the daemon scores; a window whose
// target has no vector scored 0 and was fitted too.
func TestTrainThresholdMissingTargets(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var src memSource
	for _, name := range []string{"a", "b", "c", "d"} {
		const n = 400
		s := &dataset.Series{Entity: name, Features: []string{"x", "y"}, Values: make([]float64, 2*n), Labels: make([]bool, n), Present: make([]bool, n)}
		for k := range n {
			s.Present[k] = k%3 != 1 // every third step missing
			for j := range 2 {
				s.Values[2*k+j] = math.NaN()
				if s.Present[k] {
					s.Values[2*k+j] = r.NormFloat64()
				}
			}
		}
		src = append(src, s)
	}
	o := TrainOptions{Source: src, Window: 6, Horizon: 2, Hidden: 4, Epochs: 1, Seed: 1, ValSplit: "time", ValFraction: 0.4}
	m, _, err := Train(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	vaw := valWindows(t, src, &o)
	an, _, err := scoreWindows(context.Background(), m, nil, vaw)
	if err != nil {
		t.Fatal(err)
	}
	var scored []float64
	for i, a := range an {
		if vaw.HasTarget(i) {
			scored = append(scored, a)
		}
	}
	if len(scored) == len(an) {
		t.Fatal("every validation window has a target")
	}
	pot, err := threshold.POT(scored, threshold.POTOptions{Risk: o.Risk, Level: o.Level})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Thresholds().Anomaly; math.Abs(got-pot.Threshold) > 1e-9*math.Abs(pot.Threshold) {
		t.Errorf("anomaly threshold %v, want %v (POT on the %d residuals of scored steps of %d windows)", got, pot.Threshold, len(scored), len(an))
	}
}
