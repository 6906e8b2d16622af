package threshold

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSPOT(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	calib := make([]float64, 5000)
	for i := range calib {
		calib[i] = r.ExpFloat64()
	}
	// A calm stream (half the scale) lowers the threshold; a noisy one
	// (twice the scale) raises it; clear outliers are alarms and do not
	// enter the tail.
	for _, tc := range []struct {
		name  string
		scale float64
		lower bool
	}{{"calm", 0.5, true}, {"noisy", 2, false}} {
		for _, robust := range []bool{true, false} {
			stream := make([]float64, 8000)
			for i := range stream {
				stream[i] = tc.scale * r.ExpFloat64()
			}
			stream[100] = 1000
			res, err := SPOT(calib, stream, POTOptions{Risk: 1e-3, Level: 0.98}, robust)
			if err != nil {
				t.Fatal(err)
			}
			first, last := res.Threshold[0], res.Threshold[len(stream)-1]
			if first != res.Init.Threshold {
				t.Errorf("%s robust=%v: first threshold %v, want the calibration's %v", tc.name, robust, first, res.Init.Threshold)
			}
			if tc.lower != (last < first) {
				t.Errorf("%s robust=%v: threshold %v → %v", tc.name, robust, first, last)
			}
			if !res.Alarm[100] || res.Threshold[101] != res.Threshold[100] {
				t.Errorf("%s robust=%v: outlier alarm %v, threshold %v → %v", tc.name, robust, res.Alarm[100], res.Threshold[100], res.Threshold[101])
			}
		}
	}
	if _, err := SPOT(make([]float64, 3), nil, POTOptions{}, true); err == nil {
		t.Error("3 calibration scores accepted")
	}
}

// A stream score equal to the threshold in force is an alarm, as
// metrics.Threshold flags score ≥ threshold (SPOT compared with >).
func TestSPOTAlarmAtThreshold(t *testing.T) {
	calib := make([]float64, 100)
	for i := range calib {
		calib[i] = float64(i % 10)
	}
	calib[0] = 50 // the one excess over t: the threshold is the maximum
	res, err := SPOT(calib, []float64{50, 49}, POTOptions{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Init.Threshold != 50 || res.Threshold[0] != 50 {
		t.Fatalf("threshold %v (init %+v), want the calibration maximum 50", res.Threshold, res.Init)
	}
	if !res.Alarm[0] || res.Alarm[1] {
		t.Errorf("alarms %v for scores 50, 49 at threshold 50, want [true false]", res.Alarm)
	}
}

// TestSPOTNonFinite: a +Inf score is an alarm (metrics.Threshold flags it
// too) and leaves the threshold as it was; NaN and -Inf are never alarms
// and leave it too.
func TestSPOTNonFinite(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	calib := make([]float64, 1000)
	for i := range calib {
		calib[i] = r.ExpFloat64()
	}
	stream := []float64{0.5, 1e300, math.Inf(1), math.NaN(), math.Inf(-1), 0.3}
	for _, robust := range []bool{false, true} {
		res, err := SPOT(calib, stream, POTOptions{}, robust)
		if err != nil {
			t.Fatal(err)
		}
		if want := []bool{false, true, true, false, false, false}; !slices.Equal(res.Alarm, want) {
			t.Errorf("robust=%v: alarms %v, want %v", robust, res.Alarm, want)
		}
		for i := 2; i < len(stream); i++ {
			if res.Threshold[i] != res.Threshold[1] {
				t.Errorf("robust=%v: thresholds %v, want the non-finite scores to leave it", robust, res.Threshold)
				break
			}
		}
	}
}
