package training

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/omen-sre/omen/training/dataset"
)

// onsetSeries is one entity of n steps whose label fails over each
// [from, to) of runs.
func onsetSeries(n int, runs ...[2]int) *dataset.Series {
	s := &dataset.Series{Entity: "a", Features: []string{"a"}, Values: make([]float64, n), Labels: make([]bool, n)}
	for i := range n {
		s.Values[i] = float64(i % 7)
	}
	for _, r := range runs {
		for i := r[0]; i < r[1]; i++ {
			s.Labels[i] = true
		}
	}
	return s
}

// With Onset, failures are merged into episodes in each part of the time
// split after the cut (code review: Train merged whole series before
// splitWindows cut them, so a training failure ending a horizon or less
// before a validation failure made the validation part begin "failing":
// its onset moved to the first step, and the windows before it, positives
// of the validation part alone, were masked). 1,000 steps cut at 800,
// window 4, horizon 10; the training part fails at 300, 600 and 790-795,
// the validation part at 806-810 (10 non-failing steps after 795) and
// 900-904. Each part's windows, labels and onsets are those of the part
// alone: Train on the history without the training part's last failure
// validates the same, and without the validation part's first failure
// trains the same. Before, 10 validation positives instead of 13 (the
// 3 windows before the onset at 806 masked).
func TestOnsetEpisodesPerPart(t *testing.T) {
	const h = 10
	train := func(t *testing.T, s *dataset.Series) TrainReport {
		t.Helper()
		_, rep, err := Train(context.Background(), TrainOptions{Source: memSource{s}, Window: 4, Horizon: h, Onset: true, ValFraction: 0.2, Epochs: 1, Hidden: 4, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	trainRuns := [][2]int{{300, 305}, {600, 605}}
	tail, valFirst, valLast := [2]int{790, 796}, [2]int{806, 811}, [2]int{900, 905}
	all := train(t, onsetSeries(1000, append(trainRuns, tail, valFirst, valLast)...))
	noTail := train(t, onsetSeries(1000, append(trainRuns, valFirst, valLast)...))
	noValFirst := train(t, onsetSeries(1000, append(trainRuns, tail, valLast)...))
	if all.ValOnsets != 2 || all.ValPositives != 3+h {
		t.Errorf("%d validation onsets and %d validation positives, want 2 and %d (the 3 windows before the onset at 806, the first ending at 803, and the %d before 900)", all.ValOnsets, all.ValPositives, 3+h, h)
	}
	if all.ValOnsets != noTail.ValOnsets || all.ValPositives != noTail.ValPositives {
		t.Errorf("validation: %d onsets and %d positives, without the training part's last failure %d and %d: a training failure shaped the validation labels",
			all.ValOnsets, all.ValPositives, noTail.ValOnsets, noTail.ValPositives)
	}
	if all.Positives != 3*h || all.Positives != noValFirst.Positives {
		t.Errorf("%d training positives, without the validation part's first failure %d, want %d", all.Positives, noValFirst.Positives, 3*h)
	}

	// The validation series the alerts are scored on keep the onset at
	// 806, and the training windows are those of the training part alone.
	o := TrainOptions{Source: memSource{}, Window: 4, Horizon: h, Onset: true, ValFraction: 0.2}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	s := onsetSeries(1000, append(trainRuns, tail, valFirst, valLast)...)
	trs, vas, vaSeries, err := splitWindows([]*dataset.Series{s}, o, "time")
	if err != nil {
		t.Fatal(err)
	}
	if len(trs) != 1 || len(vas) != 1 {
		t.Fatalf("%d training and %d validation parts, want 1 and 1", len(trs), len(vas))
	}
	if first := slices.Index(vaSeries[0].Labels, true); first != 6 {
		t.Errorf("the validation part's first failing step is %d, want 6 (step 806)", first)
	}
	alone, err := MakeWindows(s.Slice(0, 800), WindowOptions{Window: 4, Horizon: h, Onset: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(trs[0].End, alone.End) || !equalLabels(trs[0].Label, alone.Label) {
		t.Error("the training windows differ from those of the training part alone")
	}
}

// With LabelHorizon above Horizon the training windows merged failures
// over LabelHorizon (MakeWindows' gap was its Horizon), the validation
// windows over Horizon (code review). Both parts now take failing steps
// with at most Horizon non-failing steps between them for one failure:
// each part fails at (local) steps 100 and 106 (5 between: Horizon 3 <
// 5 ≤ LabelHorizon 8, two failures) and at 150 and 154 (3 between: one).
// Before, the training windows ending at 101-105 were masked (in
// failure), the validation ones not.
func TestOnsetEpisodesOneGap(t *testing.T) {
	o := TrainOptions{Source: memSource{}, Window: 4, Horizon: 3, LabelHorizon: 8, Onset: true, ValFraction: 0.2}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	var runs [][2]int
	for _, off := range []int{0, 800} {
		for _, at := range []int{100, 106, 150, 154} {
			runs = append(runs, [2]int{off + at, off + at + 1})
		}
	}
	trs, vas, _, err := splitWindows([]*dataset.Series{onsetSeries(1000, runs...)}, o, "time")
	if err != nil {
		t.Fatal(err)
	}
	if len(trs) != 1 || len(vas) != 1 {
		t.Fatalf("%d training and %d validation parts, want 1 and 1", len(trs), len(vas))
	}
	for _, part := range []struct {
		name string
		w    *Windows
	}{{"training", trs[0]}, {"validation", vas[0]}} {
		for i, end := range part.w.End {
			masked := math.IsNaN(float64(part.w.Label[i]))
			switch {
			case end >= 101 && end <= 105 && masked:
				t.Errorf("%s window ending at %d masked: 5 non-failing steps are more than the horizon 3, the failure at 106 is a new one", part.name, end)
			case end >= 150 && end <= 154 && !masked:
				t.Errorf("%s window ending at %d not masked: 3 non-failing steps between 150 and 154, one failure", part.name, end)
			}
		}
	}
}

// equalLabels compares labels, NaN equal to NaN.
func equalLabels(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return x == y || math.IsNaN(float64(x)) && math.IsNaN(float64(y)) })
}
