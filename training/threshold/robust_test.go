package threshold

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestRobustPOTExponential(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float64, 200000)
	for i := range x {
		x[i] = r.ExpFloat64()
	}
	res, err := RobustPOT(x, POTOptions{Risk: 1e-4, Level: 0.98})
	if err != nil {
		t.Fatal(err)
	}
	if want := -math.Log(1e-4); math.Abs(res.Threshold-want)/want > 0.05 {
		t.Fatalf("threshold %v, want about %v (fit %+v)", res.Threshold, want, res.Fit)
	}
	if res.Fit.Method != "exp-median" || res.Peaks != 4000 {
		t.Fatalf("result %+v", res)
	}
}

// A few abnormal stretches in the calibration sample barely move the
// robust threshold, while they make POT's maximum-likelihood tail heavy.
func TestRobustPOTContamination(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	clean := make([]float64, 5000)
	for i := range clean {
		clean[i] = r.ExpFloat64()
	}
	dirty := append([]float64(nil), clean...)
	for i := 1000; i < 1030; i++ { // one abnormal stretch of 30 steps (0.6 %)
		dirty[i] = 50 + 100*r.Float64()
	}
	opts := POTOptions{Risk: 1e-3, Level: 0.98}
	rc, err := RobustPOT(clean, opts)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := RobustPOT(dirty, opts)
	if err != nil {
		t.Fatal(err)
	}
	pd, err := POT(dirty, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rel := math.Abs(rd.Threshold-rc.Threshold) / rc.Threshold; rel > 0.5 {
		t.Errorf("robust threshold moved from %v to %v", rc.Threshold, rd.Threshold)
	}
	if !(pd.Threshold > 3*rd.Threshold) {
		t.Errorf("POT threshold %v on contaminated data not far above the robust %v (test premise)", pd.Threshold, rd.Threshold)
	}
}

func TestRobustPOTErrors(t *testing.T) {
	if _, err := RobustPOT(make([]float64, 10), POTOptions{}); err == nil {
		t.Error("10 scores accepted")
	}
	if _, err := RobustPOT(make([]float64, 100), POTOptions{Level: 2}); err == nil {
		t.Error("level 2 accepted")
	}
	// Constant scores: no excess, just above the maximum.
	res, err := RobustPOT(make([]float64, 100), POTOptions{})
	if err != nil || res.Threshold != math.Nextafter(0, 1) || res.Fit.Method != "none" {
		t.Fatalf("constant scores: %+v, %v", res, err)
	}
}

// 9,990 scores tied at 1 and 10 larger: at q = 5e-3 the tail formula puts
// z_q below the initial threshold t = 1 (−11.8 robust, −7.85 GPD), so
// "score ≥ threshold" flagged every score. The threshold is now just above t.
func TestThresholdNotBelowInitial(t *testing.T) {
	x := make([]float64, 10000)
	for i := range x {
		x[i] = 1
	}
	for i := range 10 {
		x[i] = 2 + float64(i)
	}
	for _, q := range []float64{1e-3, 5e-3} {
		for _, c := range []struct {
			name string
			f    func([]float64, POTOptions) (POTResult, error)
		}{{"robust", RobustPOT}, {"pot", POT}} {
			name := c.name
			r, err := c.f(x, POTOptions{Risk: q, Level: 0.98})
			if err != nil {
				t.Fatal(err)
			}
			if !(r.Threshold > r.Initial) {
				t.Errorf("%s q %g: threshold %v not above the initial %v", name, q, r.Threshold, r.Initial)
			}
			flagged := 0
			for _, v := range x {
				if v >= r.Threshold {
					flagged++
				}
			}
			if flagged > 10 {
				t.Errorf("%s q %g: threshold %v flags %d of %d scores", name, q, r.Threshold, flagged, len(x))
			}
		}
	}
	// SPOT starts from the same floor and keeps it while streaming ties.
	res, err := SPOT(x, []float64{1, 1, 1, 5}, POTOptions{Risk: 5e-3, Level: 0.98}, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, z := range res.Threshold {
		if !(z > 1) {
			t.Errorf("SPOT threshold[%d] = %v, not above t = 1", i, z)
		}
	}
	// No peaks at all: the top scores tied at the maximum (997 at 0.5, 3
	// lower). The calibration maximum is t itself; the threshold is just
	// above it, so the tied mass is not flagged.
	tied := make([]float64, 1000)
	for i := range tied {
		tied[i] = 0.5
	}
	tied[0], tied[1], tied[2] = 0.1, 0.2, 0.3
	for _, c := range []struct {
		name string
		f    func([]float64, POTOptions) (POTResult, error)
	}{{"robust", RobustPOT}, {"pot", POT}} {
		r, err := c.f(tied, POTOptions{Risk: 1e-3, Level: 0.98})
		if err != nil {
			t.Fatal(err)
		}
		if r.Peaks != 0 || !(r.Threshold > 0.5) {
			t.Errorf("%s, tied maximum: threshold %v (initial %v, %d peaks), want just above 0.5", c.name, r.Threshold, r.Initial, r.Peaks)
		}
	}
	res, err = SPOT(tied, []float64{0.5, 0.5, 0.7}, POTOptions{Risk: 1e-3, Level: 0.98}, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Alarm[0] || res.Alarm[1] || !res.Alarm[2] {
		t.Errorf("SPOT on a tied maximum alarms %v, want only the 0.7", res.Alarm)
	}
}
