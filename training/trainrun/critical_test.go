package trainrun

import (
	"testing"
	"time"

	"github.com/omen-sre/omen/model"
)

// TestTrainCriticalThreshold: a model trained on a store's history
// carries, in its file, a critical probability chosen on validation with
// its failure threshold: midway between the threshold and the highest
// validation probability, so that the daemon (alerting.
// critical_probability unset) pages on alerts whose probability rises
// well over the threshold. Store-trained models' calibrated
// probabilities stayed far below the fixed default 0.9 (0.33-0.60 at
// most on validation), so none of their alerts was ever critical.
func TestTrainCriticalThreshold(t *testing.T) {
	dir := t.TempDir()
	writeStore(t, dir, 30*time.Second, 100)
	o, _ := options(dir)
	res, err := Train(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Close() })
	rep := res.Report
	if rep.ValCalibration == nil {
		t.Fatal("no validation calibration: the fixture wants validation failures")
	}
	th := rep.Thresholds
	if !(th.Failure > 0 && th.Failure < 1) {
		t.Fatalf("failure threshold %g: the fixture wants one that alerts", th.Failure)
	}
	want := model.CriticalProbability(th.Failure, rep.ValCalibration.MaxProb)
	data, err := res.Model.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Thresholds().Critical; got != want || !(got > th.Failure && got < 1) {
		t.Errorf("the model file's critical probability %g, want %g: between the failure threshold %g and the highest validation probability %g",
			got, want, th.Failure, rep.ValCalibration.MaxProb)
	}
}
