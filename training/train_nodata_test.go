package training

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/training/dataset"
)

// TestTrainFeatureWithoutData: a feature with no value in the training
// part of the history (a server that holds only the last minutes, a
// metric that appeared lately) is refused by name, rather than normalised
// with mean 0 and std 1 into a model that scores its real values as
// enormous anomalies; windows that hold no value at all are counted.
func TestTrainFeatureWithoutData(t *testing.T) {
	mk := func(name string, n, bFrom, emptyUntil int) *dataset.Series {
		r := rand.New(rand.NewPCG(3, uint64(len(name))))
		s := &dataset.Series{Entity: name, Features: []string{"a", "b"}, Labels: make([]bool, n)}
		for t := range n {
			a, b := r.NormFloat64(), 1e7+r.NormFloat64()*1e5
			if t < bFrom {
				b = math.NaN()
			}
			if t < emptyUntil {
				a, b = math.NaN(), math.NaN()
			}
			s.Labels[t] = t%50 == 49
			s.Values = append(s.Values, a, b)
		}
		return s
	}
	opts := func(src ...*dataset.Series) TrainOptions {
		return TrainOptions{Source: memSource(src), Window: 8, Horizon: 4, Hidden: 4, Epochs: 1, Seed: 1}
	}
	// b only in the last 15 % (validation is the last 20 %).
	_, rep, err := Train(context.Background(), opts(mk("x", 400, 340, 0), mk("y", 400, 340, 0)))
	if err == nil || !strings.Contains(err.Error(), `feature "b" has no value in the training part`) ||
		!strings.Contains(err.Error(), "120 of its validation steps have one") {
		t.Fatalf("b missing from training: %v (report %+v)", err, rep)
	}
	// b from step 100 on; x holds nothing at all before step 50: its
	// training windows ending at steps 7…49 (43) hold no data.
	_, rep, err = Train(context.Background(), opts(mk("x", 400, 100, 50), mk("y", 400, 100, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if rep.TrainDataWindows != rep.TrainWindows-43 || rep.ValDataWindows != rep.ValWindows {
		t.Fatalf("%d/%d train/val windows hold data of %d/%d, want %d/%d", rep.TrainDataWindows, rep.ValDataWindows,
			rep.TrainWindows, rep.ValWindows, rep.TrainWindows-43, rep.ValWindows)
	}
}

// TestTrainTooShortSaysLongest: too short a history says how long the
// longest entity's is (a Prometheus that holds only a minute of data).
func TestTrainTooShortSaysLongest(t *testing.T) {
	short := func(name string, n int) *dataset.Series {
		s := &dataset.Series{Entity: name, Features: []string{"a"}, Step: 15_000, Values: make([]float64, n)}
		return s
	}
	_, _, err := Train(context.Background(), TrainOptions{Source: memSource{short("a", 4), short("b", 10)}, Window: 8, Horizon: 4})
	// The minimum it names is the true one (it named W+H = 12 steps, while
	// 38 and 21 steps were refused alike).
	if want := `an entity needs at least 48 steps (a training part of more than 12 and a validation part of more than 9), and the anomaly threshold 20 validation windows in all (one per validation step beyond the first 8): one entity alone needs at least 138 steps (the longest, "b", has 10 at a 15s step: 2m30s of history)`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err %v, want %q", err, want)
	}
	for _, n := range []int{47, 48} {
		noisy := func(name string) *dataset.Series {
			r := rand.New(rand.NewPCG(uint64(n), uint64(len(name))))
			s := &dataset.Series{Entity: name, Features: []string{"a"}, Step: 15_000}
			for range n {
				s.Values = append(s.Values, r.NormFloat64())
			}
			return s
		}
		// Enough entities for the anomaly threshold's 20 validation scores.
		src := memSource{noisy("a"), noisy("b"), noisy("c"), noisy("d"), noisy("e")}
		_, _, err := Train(context.Background(), TrainOptions{Source: src, Window: 8, Horizon: 4, Hidden: 2, Epochs: 1, Seed: 1})
		if tooShort := err != nil && strings.Contains(err.Error(), "no entity has enough history"); tooShort != (n < 48) {
			t.Errorf("%d steps: %v; want refused as too short only below 48", n, err)
		}
	}
}

// TestTrainRecordsStep: the model records the history's step (a daemon of
// another step refuses it), or none when the step is unknown (CSV).
func TestTrainRecordsStep(t *testing.T) {
	mk := func(name string) *dataset.Series {
		r := rand.New(rand.NewPCG(5, uint64(len(name))))
		s := &dataset.Series{Entity: name, Features: []string{"a"}, Labels: make([]bool, 200)}
		for i := range 200 {
			s.Labels[i] = i%50 == 49
			s.Values = append(s.Values, r.NormFloat64())
		}
		return s
	}
	for _, step := range []time.Duration{0, 30 * time.Second} {
		m, _, err := Train(context.Background(), TrainOptions{Source: memSource{mk("x"), mk("y")}, Step: step, Window: 8, Horizon: 4, Hidden: 4, Epochs: 1, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Config().Step; got != step {
			t.Errorf("model records step %v, want %v", got, step)
		}
	}
}

// TestFailureSteps: the failing steps of a history and its onsets, a
// failing step after one not failing (a series' first step is none).
func TestFailureSteps(t *testing.T) {
	l := func(s string) []bool {
		var out []bool
		for _, c := range s {
			out = append(out, c == '1')
		}
		return out
	}
	for _, tc := range []struct {
		labels          []string
		failing, onsets int
	}{
		{nil, 0, 0},
		{[]string{"0000"}, 0, 0},
		{[]string{"1100"}, 2, 0},
		{[]string{"0110", "1011"}, 5, 2},
		{[]string{"1111"}, 4, 0},
	} {
		var ss []*dataset.Series
		for _, s := range tc.labels {
			ss = append(ss, &dataset.Series{Labels: l(s)})
		}
		if f, o := failureSteps(ss); f != tc.failing || o != tc.onsets {
			t.Errorf("failureSteps(%q) = %d, %d; want %d, %d", tc.labels, f, o, tc.failing, tc.onsets)
		}
	}
}
