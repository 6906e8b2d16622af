package training

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/omen-sre/omen/training/dataset"
	"github.com/omen-sre/omen/training/metrics"
)

// noisyPrecursors is an entity of two noisy features whose first ramps up
// over the 6 steps before each 3-step failure.
func noisyPrecursors(r *rand.Rand, name string, n int) *dataset.Series {
	s := &dataset.Series{Entity: name, Features: []string{"a", "b"}, Values: make([]float64, 2*n), Labels: make([]bool, n)}
	for t := range n {
		s.Values[2*t] = r.NormFloat64()
		s.Values[2*t+1] = r.NormFloat64()
	}
	for o := 30 + r.IntN(20); o+3 < n; o += 40 + r.IntN(30) {
		for k := 1; k <= 6; k++ {
			s.Values[2*(o-k)] += 0.5 * float64(7-k)
		}
		for k := range 3 {
			s.Labels[o+k] = true
		}
	}
	return s
}

// TestValF1AtAlertThreshold: with an alert rule the failure threshold is
// the alert-episode one, and the report's ValF1 is the validation
// windows' F1 at it. It kept the F1 of the F1-max threshold it replaced
// (omen train printed "val F1 0.832, threshold 0.944" where F1 at 0.944
// was 0.751; reviewer's finding).
func TestValF1AtAlertThreshold(t *testing.T) {
	differs := 0
	for seed := uint64(1); seed <= 3; seed++ {
		r := rand.New(rand.NewPCG(seed, 9))
		var src memSource
		for i := range 12 {
			src = append(src, noisyPrecursors(r, fmt.Sprintf("pod-%d", i), 400))
		}
		o := TrainOptions{Source: src, Window: 8, Horizon: 4, Hidden: 8, Epochs: 3, LearningRate: 1e-2, Seed: 1, ValSplit: "entity", ValFraction: 0.3, Alerts: &AlertRule{}}
		m, rep, err := Train(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Episodes == nil {
			t.Fatalf("seed %d: no alert-episode threshold (%s)", seed, m.Thresholds().Method)
		}
		// The validation windows as Train cuts them.
		vaw := valWindows(t, src, &o)
		prob, err := predictAll(context.Background(), m, vaw)
		if err != nil {
			t.Fatal(err)
		}
		p, l := labelled(prob, vaw.Label)
		at := metrics.PointWise(metrics.Threshold(p, m.Thresholds().Failure), l).F1
		if math.Abs(rep.ValF1-at) > 1e-12 {
			t.Errorf("seed %d: ValF1 %.4f, window F1 at the chosen threshold %.4f is %.4f", seed, rep.ValF1, m.Thresholds().Failure, at)
		}
		if _, best := bestF1Threshold(p, l); math.Abs(best-at) > 1e-9 {
			differs++
		}
	}
	if differs == 0 {
		t.Error("the alert-episode threshold's window F1 equals the F1-max in every seed: the test checks nothing")
	}
}

// TestWindowErrorsNameTheGap: a gap that does not fit is named (the
// errors read "shape 2×1 differs from 2×1" and "want window ≥ 1, stride
// ≥ 1, horizon ≥ 0" for a negative gap).
func TestWindowErrorsNameTheGap(t *testing.T) {
	s := &dataset.Series{Features: []string{"a"}, Values: make([]float64, 10)}
	a, err := MakeWindows(s, WindowOptions{Window: 2})
	if err != nil {
		t.Fatal(err)
	}
	b, err := MakeWindows(s, WindowOptions{Window: 2, Gap: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := JoinWindows(a, b); err == nil || err.Error() != "join windows: shape 2×1 with gap 1 differs from 2×1 with gap 0" {
		t.Errorf("join of gaps 0 and 1: %v", err)
	}
	if _, err := MakeWindows(s, WindowOptions{Window: 2, Gap: -1}); err == nil || !strings.HasSuffix(err.Error(), "gap ≥ 0") {
		t.Errorf("gap -1: %v, want it named", err)
	}
}
