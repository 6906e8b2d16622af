package training

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/omen-sre/omen/training/dataset"
)

// Trained on failures that nothing in the input foretells, at a rate p,
// the failure head's mean probability is p: Train weighs the positives by
// negatives/positives (PosWeight), which multiplied the model's odds by
// that weight (a mean near 0.45 at p 0.02), until the prior correction
// took ln(PosWeight) off its bias (reviewer's finding). Members 2 shifts
// each network before they are averaged.
func TestTrainCalibratedProbability(t *testing.T) {
	const p = 0.02
	r := rand.New(rand.NewPCG(11, 11))
	var src memSource
	for e := range 4 {
		n := 3000
		s := &dataset.Series{Entity: "e" + strconv.Itoa(e), Features: []string{"a"}, Labels: make([]bool, n), Values: make([]float64, n)}
		for i := range n {
			s.Values[i] = r.NormFloat64()
			s.Labels[i] = r.Float64() < p
		}
		src = append(src, s)
	}
	for _, members := range []int{1, 2} {
		opts := TrainOptions{Source: src, Window: 8, Horizon: 1, Hidden: 8, Epochs: 4, LearningRate: 1e-2, Seed: 1, Members: members}
		m, rep, err := Train(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if rep.PosWeight < 20 {
			t.Fatalf("members %d: positive weight %v, want about 1/p", members, rep.PosWeight)
		}
		if mt := m.Meta(); mt.Extra["failure_calibration"] != "prior" || mt.Extra["pos_weight"] != strconv.FormatFloat(rep.PosWeight, 'g', 4, 64) {
			t.Errorf("members %d: metadata %v, want the positive weight and failure_calibration prior", members, mt.Extra)
		}
		vaw := valWindows(t, src, &opts)
		prob, err := predictAll(context.Background(), m, vaw)
		if err != nil {
			t.Fatal(err)
		}
		mean, pos := 0.0, 0.0
		for i, v := range prob {
			mean += v
			if vaw.Label[i] > 0.5 {
				pos++
			}
		}
		mean /= float64(len(prob))
		t.Logf("members %d: positive weight %.1f, validation: mean P(failure) %.4f, failure rate %.4f, threshold %.4f",
			members, rep.PosWeight, mean, pos/float64(len(prob)), m.Thresholds().Failure)
		if c := rep.ValCalibration; c == nil || len(c.Bins) != 10 || math.Abs(c.MeanProb-mean) > 1e-9 || math.Abs(c.Rate-pos/float64(len(prob))) > 1e-9 {
			t.Errorf("members %d: report's validation calibration %+v, want mean %.6f, rate %.6f in 10 bins", members, c, mean, pos/float64(len(prob)))
		}
		if math.Abs(mean-p) > 0.3*p {
			t.Errorf("members %d: mean predicted P(failure) %.4f on labels independent of the input at rate %v, want within 30%%", members, mean, p)
		}
	}
}
