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
	gen := func(e int) *dataset.Series {
		n := 3000
		s := &dataset.Series{Entity: "e" + strconv.Itoa(e), Features: []string{"a"}, Labels: make([]bool, n), Values: make([]float64, n)}
		for i := range n {
			s.Values[i] = r.NormFloat64()
			s.Labels[i] = r.Float64() < p
		}
		return s
	}
	for e := range 4 {
		src = append(src, gen(e))
	}
	// Entities the model never sees, for a held-out calibration.
	var held memSource
	for e := range 4 {
		held = append(held, gen(10+e))
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
		if mt := m.Meta(); mt.Extra["failure_calibration"] != "prior+validation-intercept" || mt.Extra["pos_weight"] != strconv.FormatFloat(rep.PosWeight, 'g', 4, 64) {
			t.Errorf("members %d: metadata %v, want the positive weight and failure_calibration prior+validation-intercept", members, mt.Extra)
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
		c, err := Calibrate(context.Background(), m, held, WindowOptions{Window: opts.Window, Horizon: opts.Horizon}, 10)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("members %d: held-out entities: mean P(failure) %.4f, failure rate %.4f", members, c.MeanProb, c.Rate)
		if math.Abs(c.MeanProb-c.Rate) > 0.3*c.Rate || len(c.Bins) != 10 {
			t.Errorf("members %d: held-out calibration %+v, want the mean P(failure) within 30%% of the rate in 10 bins", members, c)
		}
	}
}

// interceptShift finds the intercept of logistic outcomes: labels drawn
// with P = σ(z + d₀) from logits z give back d₀ from the probabilities
// σ(z); without both classes it is 0.
func TestInterceptShift(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, d0 := range []float64{-3, -0.5, 0, 2} {
		const n = 200_000
		prob, label := make([]float64, n), make([]bool, n)
		for i := range n {
			z := r.NormFloat64()*1.5 - 2
			prob[i] = 1 / (1 + math.Exp(-z))
			label[i] = r.Float64() < 1/(1+math.Exp(-(z+d0)))
		}
		if d := interceptShift(prob, label); math.Abs(d-d0) > 0.05 {
			t.Errorf("d₀ %v: shift %.4f", d0, d)
		}
	}
	// Saturated probabilities stay finite.
	if d := interceptShift([]float64{0, 1, 1, 0.5}, []bool{true, false, false, false}); math.IsNaN(d) || math.IsInf(d, 0) {
		t.Errorf("saturated: shift %v", d)
	}
	if d := interceptShift([]float64{0.1, 0.2}, []bool{false, false}); d != 0 {
		t.Errorf("no positive: shift %v, want 0", d)
	}
	// A NaN probability: no fit (the clamp kept it and the search ran to
	// a shift of 400).
	if d := interceptShift([]float64{0.1, math.NaN(), 0.3}, []bool{true, false, false}); d != 0 {
		t.Errorf("NaN probability: shift %v, want 0", d)
	}
}

// The intercept is fitted on the validation windows: trained on entities
// failing at 2 % and validated on held-out ones failing at 6 % (labels
// independent of the input), the model's mean P(failure) is the
// validation rate, where the prior correction alone gives the training
// rate.
func TestTrainCalibratesOnValidation(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 12))
	var src memSource
	for e := range 6 {
		p, start := 0.02, int64(0)
		if e >= 4 {
			p, start = 0.06, 1_000_000
		}
		n := 3000
		s := &dataset.Series{Entity: "e" + strconv.Itoa(e), Features: []string{"a"}, Labels: make([]bool, n), Values: make([]float64, n), Start: start, Step: 1000}
		for i := range n {
			s.Values[i] = r.NormFloat64()
			s.Labels[i] = r.Float64() < p
		}
		src = append(src, s)
	}
	opts := TrainOptions{Source: src, Window: 8, Horizon: 1, Hidden: 8, Epochs: 4, LearningRate: 1e-2, Seed: 1, ValSplit: "after", ValFrom: 1_000_000}
	_, rep, err := Train(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	c := rep.ValCalibration
	if rep.ValSplit != "after" || c == nil {
		t.Fatalf("split %q, calibration %+v", rep.ValSplit, c)
	}
	t.Logf("validation: mean P(failure) %.4f, failure rate %.4f", c.MeanProb, c.Rate)
	if math.Abs(c.MeanProb-c.Rate) > 0.1*c.Rate {
		t.Errorf("validation mean P(failure) %.4f, failure rate %.4f: want the intercept fitted on validation", c.MeanProb, c.Rate)
	}
}
