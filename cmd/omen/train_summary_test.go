package main

import (
	"testing"

	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/training"
)

// TestTrainSummaryUnits: omen train's summary says that its AUC-PR and
// F1 are of validation windows (each one prediction), apart from the
// threshold method's figures of failure onsets and alert groups. It read
// "val AUC-PR 1.000, val F1 1.000, … (…; 7 onsets, P 0.50 R 0.14, …)",
// as if 1 of 7 predicted failures scored F1 1.000 (reviewer's finding).
func TestTrainSummaryUnits(t *testing.T) {
	method := "failure: alert-episode F1-max on validation series (for 4 steps, resolve 0.8×1 step; failure onsets: 1 of 7 predicted, R 0.14; alert groups: 1 of 2 true, P 0.50; median lead 3 steps); anomaly: POT q=0.001 level=0.98 on validation scores"
	for _, tc := range []struct {
		name string
		rep  training.TrainReport
		want string
	}{
		{"scored", training.TrainReport{Entities: 3, TrainWindows: 1595, ValWindows: 30, TrainDataWindows: 1595, ValDataWindows: 30,
			Positives: 40, ValPositives: 9, ValAUCPR: 1, ValF1: 1, Thresholds: model.Thresholds{Failure: 0.2441, Method: method}, TrainSeconds: 12.34},
			"model v1 written to m.omen: 3 entities, 1595/30 train/val windows, validation windows (one prediction each): AUC-PR 1.000, F1 1.000; threshold 0.244 (" + method + "), 12.3s"},
		{"no validation failure, windows without data", training.TrainReport{Entities: 2, TrainWindows: 100, ValWindows: 20, TrainDataWindows: 90, ValDataWindows: 20,
			Positives: 4, Thresholds: model.Thresholds{Failure: 0.0004, Method: "failure: …"}, TrainSeconds: 1},
			"model v1 written to m.omen: 2 entities, 100/20 train/val windows (90/20 hold data), validation windows (one prediction each): AUC-PR n/a, F1 n/a; threshold 0.00040 (failure: …), 1.0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := trainSummary("v1", "m.omen", tc.rep); got != tc.want {
				t.Errorf("summary\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
