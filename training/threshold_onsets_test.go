package training

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/omen-sre/omen/training/dataset"
)

// onsetHistory is entities of two noisy features over n steps with a
// 3-step failure, its first feature ramping up before it, at each step
// of at: every entity at the steps of all, the first valEntities ones
// at the step of val too.
func onsetHistory(seed uint64, entities, n int, all []int, val, valEntities int) memSource {
	r := rand.New(rand.NewPCG(seed, 3))
	var src memSource
	for i := range entities {
		s := &dataset.Series{Entity: fmt.Sprintf("pod-%d", i), Features: []string{"a", "b"}, Values: make([]float64, 2*n), Labels: make([]bool, n)}
		for t := range n {
			s.Values[2*t], s.Values[2*t+1] = r.NormFloat64(), r.NormFloat64()
		}
		at := all
		if i < valEntities {
			at = append(append([]int(nil), all...), val)
		}
		for _, o := range at {
			for k := 1; k <= 6; k++ {
				s.Values[2*(o-k)] += 0.5 * float64(7-k)
			}
			for k := range 3 {
				s.Labels[o+k] = true
			}
		}
		src = append(src, s)
	}
	return src
}

// TestThresholdFromFewOnsetsWarns: a failure threshold chosen from fewer
// than MinLeadFloorOnsets validation failure onsets is logged as
// uncertain (a warning naming the onsets), and says so in the report, the
// model's threshold method and its metadata; from enough onsets it does
// not. Before, a threshold chosen from one onset was reported as "1
// onsets, P 1.00 R 1.00" with no warning, and three seeds of the same
// history gave 0.276, 0.039 and 0.183 (reviewer's finding). With no
// validation onset at all (failures in training only), the most uncertain
// case, it warns as loudly, saying the validation part holds none; it
// was silent there, and one history's thresholds were 0.021, 0.968 and
// 0.244 (reviewer's finding).
func TestThresholdFromFewOnsetsWarns(t *testing.T) {
	for _, tc := range []struct {
		name        string
		valEntities int // entities with a failure in the validation part
		alerts      bool
		warn        bool
		note        string // of the warning
	}{
		{"no validation onset, alert rule", 0, true, true, "uncertain: the validation part (the last 30 % of the history) holds no failure onset to choose it from"},
		{"no validation onset, window F1", 0, false, true, "uncertain: the validation part (the last 30 % of the history) holds no failure onset to choose it from"},
		{"one onset, alert rule", 1, true, true, "uncertain: chosen from 1 validation failure onset,"},
		{"two onsets, window F1", 2, false, true, "uncertain: chosen from 2 validation failure onsets,"},
		{"enough onsets", 12, true, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 300 steps: the last 30% (from step 210) validate.
			src := onsetHistory(5, 12, 300, []int{60, 140}, 260, tc.valEntities)
			var logs bytes.Buffer
			o := TrainOptions{Source: src, Window: 8, Horizon: 4, Hidden: 8, Epochs: 2, LearningRate: 1e-2, Seed: 1, ValFraction: 0.3,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			if tc.alerts {
				o.Alerts = &AlertRule{}
			}
			m, rep, err := Train(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if rep.ValOnsets != tc.valEntities {
				t.Fatalf("report counts %d validation onsets, want %d", rep.ValOnsets, tc.valEntities)
			}
			if tc.alerts && tc.valEntities > 0 && (rep.Episodes == nil || rep.Episodes.Episodes != rep.ValOnsets) {
				t.Fatalf("alert-episode choice %+v, want one over the %d onsets counted", rep.Episodes, rep.ValOnsets)
			}
			method, extra := m.Thresholds().Method, m.Meta().Extra
			if extra["val_onsets"] != fmt.Sprint(tc.valEntities) {
				t.Errorf("metadata val_onsets %q, want %d", extra["val_onsets"], tc.valEntities)
			}
			warned := strings.Contains(logs.String(), "level=WARN msg=\"the failure threshold is uncertain")
			if !tc.warn {
				if warned || rep.ThresholdWarning != "" || strings.Contains(method, "uncertain") || extra[ThresholdWarningKey] != "" {
					t.Errorf("warned of %d onsets: report %q, method %q, log:\n%s", rep.ValOnsets, rep.ThresholdWarning, method, logs.String())
				}
				return
			}
			if !warned || !strings.Contains(logs.String(), fmt.Sprintf("onsets=%d min=%d", tc.valEntities, MinLeadFloorOnsets)) {
				t.Errorf("no warning naming %d onsets logged:\n%s", tc.valEntities, logs.String())
			}
			if !strings.Contains(rep.ThresholdWarning, tc.note) || !strings.Contains(rep.ThresholdWarning, "train on a longer history") || extra[ThresholdWarningKey] != rep.ThresholdWarning {
				t.Errorf("report's warning %q, metadata's %q, want them to say %q and what to do", rep.ThresholdWarning, extra[ThresholdWarningKey], tc.note)
			}
			// In the method's failure part.
			if failure, _, _ := strings.Cut(method, "; anomaly:"); !strings.Contains(failure, tc.note) {
				t.Errorf("threshold method %q does not say it is uncertain", method)
			}
		})
	}
}
