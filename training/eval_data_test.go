package training

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The mean leaves an entity out of the detection figures when its test
// file has no anomalous rows (its 0s are not measured; they halved the
// mean F1-PA of two entities) and out of HitRate/NDCG without
// interpretation labels; it says how many entities each averages
// (reviewer's finding).
func TestMeanReportLeavesOutUnmeasured(t *testing.T) {
	es := []EntityReport{
		{Entity: "a", F1PA: 0.9, F1: 0.5, AUCPR: 0.4, ROCAUC: 0.8, HitRate150: 0.6, TrainSeconds: 1, TestPoints: 100, AnomalousPoints: 10, InterpretedPoints: 5},
		{Entity: "b", F1PA: 0.7, F1: 0.3, AUCPR: 0.2, ROCAUC: 0.6, TrainSeconds: 3, TestPoints: 100, AnomalousPoints: 4},
		{Entity: "quiet", TrainSeconds: 2, TestPoints: 50},
	}
	m, n, ni := meanReport(es)
	near := func(a, b float64) bool { return a-b < 1e-12 && b-a < 1e-12 }
	if n != 2 || ni != 1 {
		t.Errorf("mean over %d and %d entities, want 2 (anomalous rows) and 1 (interpreted)", n, ni)
	}
	if !near(m.F1PA, 0.8) || !near(m.F1, 0.4) || !near(m.AUCPR, 0.3) || !near(m.ROCAUC, 0.7) || !near(m.HitRate150, 0.6) {
		t.Errorf("mean %+v, want F1-PA 0.8, F1 0.4, AUC-PR 0.3, ROC-AUC 0.7, HR@150 0.6", m)
	}
	if !near(m.TrainSeconds, 2) || m.TestPoints != 250 || m.AnomalousPoints != 14 || m.InterpretedPoints != 5 {
		t.Errorf("mean %+v, want train seconds averaged over all 3 and the points summed", m)
	}
	m, n, ni = meanReport(es[2:])
	if n != 0 || ni != 0 || m.F1PA != 0 || m.AnomalousPoints != 0 || !near(m.TrainSeconds, 2) {
		t.Errorf("mean of one entity without anomalies: %+v over %d, %d", m, n, ni)
	}
}

// The JSON of an entity without anomalous rows or interpretation labels
// says so with anomalous_points: 0 and interpreted_points: 0, as
// docs/EVALUATION.md documents: anomalous_points was omitempty, absent
// (reviewer's finding).
func TestEntityReportJSONZeroPoints(t *testing.T) {
	b, err := json.Marshal(EntityReport{Entity: "quiet", TestPoints: 50})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"anomalous_points":0`, `"interpreted_points":0`, `"interpreted_points_tp":0`, `"test_points":50`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("JSON %s: want %s", b, key)
		}
	}
}

// writeRows writes entity e to dir: a training file of n rows and a test
// file of 60 rows with an anomaly (3 features, no interpretation file).
func writeRows(t *testing.T, dir, e string, n int) {
	t.Helper()
	var tr, te strings.Builder
	tr.WriteString("t,m1,m2,m3\n")
	for i := range n {
		x := float64(i)
		fmt.Fprintf(&tr, "%d,%.4f,%.4f,%.4f\n", i, math.Sin(x/3), math.Cos(x/5), float64(i%7)/7)
	}
	te.WriteString("t,m1,m2,m3,label\n")
	for i := range 60 {
		x, l := float64(n+i), 0
		if i >= 40 && i < 45 {
			l = 1
		}
		fmt.Fprintf(&te, "%d,%.4f,%.4f,%.4f,%d\n", i, math.Sin(x/3)+3*float64(l), math.Cos(x/5), float64(i%7)/7, l)
	}
	for f, c := range map[string]string{e + ".train.csv": tr.String(), e + ".test.csv": te.String()} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A training file too short to evaluate is one error naming the file, its
// rows and the minimum, checked up front (it was "fit normalisation: 8
// steps shorter than a window of 16", "robust pot: 13 finite scores" or
// "series of 0 steps too short to split at 0.2", without the file); the
// minimum is exact: one row more evaluates (reviewer's finding).
func TestEvalTooFewTrainRows(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts EvalOptions
		need int
	}{
		{"defaults", EvalOptions{}, 83},
		{"gap and val calibration", EvalOptions{Window: 4, Gap: 2, Calibration: CalibrateVal}, 0},
		{"ar, val fraction 0.5", EvalOptions{Detector: DetectorAR, Window: 8, ValFraction: 0.5}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.Dir = "x"
			if err := o.defaults(); err != nil {
				t.Fatal(err)
			}
			need := o.minTrainRows()
			if tc.need != 0 && need != tc.need {
				t.Errorf("minimum %d rows, want %d", need, tc.need)
			}
			// The same minimum by brute force.
			for n := range need {
				cut := int(math.Round(float64(n) * (1 - o.ValFraction)))
				cal := n
				if o.Calibration == CalibrateVal {
					cal = n - cut
				}
				if cut > o.Window+o.Gap && n-cut > o.Window+o.Gap && cal-o.Window-o.Gap >= 20 {
					t.Fatalf("%d rows are enough, below the minimum %d", n, need)
				}
			}
			for _, n := range []int{0, need - 1, need} {
				dir := t.TempDir()
				writeRows(t, dir, "e", n)
				o := tc.opts
				o.Dir, o.Hidden, o.Epochs, o.Seed = dir, 4, 1, 1
				_, err := EvalDataset(context.Background(), o)
				want := fmt.Sprintf("entity \"e\": %s: %d rows, need at least %d (", filepath.Join(dir, "e.train.csv"), n, need)
				switch {
				case n == need && err != nil:
					t.Errorf("%d rows (the minimum): %v", n, err)
				case n < need && (err == nil || !strings.HasPrefix(err.Error(), want)):
					t.Errorf("%d rows: error %v, want %q…", n, err, want)
				}
			}
		})
	}
	// With MaxTrainSteps the message says the rows were cut.
	dir := t.TempDir()
	writeRows(t, dir, "e", 200)
	_, err := EvalDataset(context.Background(), EvalOptions{Dir: dir, MaxTrainSteps: 5, Hidden: 4, Epochs: 1})
	if want := "e.train.csv: 5 rows (the first 5 of 200), need at least 83"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("MaxTrainSteps 5: error %v, want %q", err, want)
	}
}

// Interpretation segments that start beyond the test file's rows are
// warned about, with the file, their count and the first one's line: they
// were clipped away silently, and the table then said the entity had no
// interpretation labels though the file exists (reviewer's finding).
func TestEvalInterpretationBeyondTest(t *testing.T) {
	dir := t.TempDir()
	writeRows(t, dir, "e", 100)
	ip := filepath.Join(dir, "e.interpretation.txt")
	if err := os.WriteFile(ip, []byte("40-44:1\n100-120:2\n200-210:1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	rep, err := EvalDataset(context.Background(), EvalOptions{Dir: dir, Hidden: 4, Epochs: 1, Seed: 1,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entities[0].InterpretedPoints != 5 {
		t.Errorf("%d interpreted points, want the 5 of the first segment", rep.Entities[0].InterpretedPoints)
	}
	want := fmt.Sprintf("msg=\"interpretation segments beyond the test file's rows ignored\" file=%s segments=2 of=3 first_line=2 test_file=%s test_rows=60", ip, filepath.Join(dir, "e.test.csv"))
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log %q, want %q", logs.String(), want)
	}
}

// A feature without a single value in the training file (every cell empty
// or NaN) is warned about: it was filled with zeros silently, exit 0
// (reviewer's finding).
func TestEvalEmptyFeatureWarned(t *testing.T) {
	dir := t.TempDir()
	writeRows(t, dir, "e", 100)
	path := filepath.Join(dir, "e.train.csv")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := 1; i < len(lines); i++ {
		c := strings.Split(lines[i], ",")
		c[2] = map[bool]string{true: "", false: "NaN"}[i%2 == 0]
		lines[i] = strings.Join(c, ",")
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	if _, err := EvalDataset(context.Background(), EvalOptions{Dir: dir, Hidden: 4, Epochs: 1, Seed: 1,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))}); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("file=%s rows=100 features=[m2]", path)
	if !strings.Contains(logs.String(), "features without a single value") || !strings.Contains(logs.String(), want) || strings.Count(logs.String(), "\n") != 1 {
		t.Errorf("log %q, want one warning with %q", logs.String(), want)
	}
}
