package training

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/omen-sre/omen/model"
)

// EvalOptions.Members trains that many forecasters, member r seeded
// Seed + r × 1,000,003, and scores their averaged forecast: the fitted
// detector's model forecasts the mean of the members trained alone.
func TestFitDetectorMembers(t *testing.T) {
	dir := t.TempDir()
	features, tr, va := splitRows(t, dir, "a", 200)
	opts := EvalOptions{Dir: dir, Window: 8, Hidden: 4, Epochs: 2, Seed: 7, Members: 2}
	if err := opts.defaults(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	det, err := fitDetector(ctx, opts, "a", features, tr, va)
	if err != nil {
		t.Fatal(err)
	}
	if got := det.model.Members(); got != 2 {
		t.Fatalf("members %d, want 2", got)
	}
	trw, err := MakeWindows(tr, WindowOptions{Window: opts.Window})
	if err != nil {
		t.Fatal(err)
	}
	vaw, err := MakeWindows(va, WindowOptions{Window: opts.Window})
	if err != nil {
		t.Fatal(err)
	}
	var alone []*model.Model
	for _, seed := range []int64{7, 7 + 1_000_003} {
		m, _, err := fitForecaster(ctx, opts, seed, "a", features, trw, vaw)
		if err != nil {
			t.Fatal(err)
		}
		alone = append(alone, m)
	}
	x, _, n := validationWindows(t, va, opts.Window)
	f := len(features)
	fc := make([][]float32, 3)
	for i, m := range []*model.Model{det.model, alone[0], alone[1]} {
		fc[i] = make([]float32, n*f)
		if err := m.Forecast(x, n, nil, fc[i]); err != nil {
			t.Fatal(err)
		}
	}
	var differ bool
	for i := range fc[0] {
		if mean := (fc[1][i] + fc[2][i]) / 2; math.Abs(float64(fc[0][i]-mean)) > 1e-5 {
			t.Fatalf("forecast %d: ensemble %v, members' mean %v (members %v, %v)", i, fc[0][i], mean, fc[1][i], fc[2][i])
		}
		differ = differ || fc[1][i] != fc[2][i]
	}
	if !differ {
		t.Fatal("the two members forecast the same: not seeded apart")
	}
}

func TestEvalDatasetMembers(t *testing.T) {
	dir := t.TempDir()
	writeRows(t, dir, "a", 200)
	run := func(members int) (Report, []float64) {
		t.Helper()
		var score []float64
		rep, err := EvalDataset(context.Background(), EvalOptions{Dir: dir, Window: 8, Hidden: 4, Epochs: 2, Seed: 1, Members: members,
			Inspect: func(_ string, _ float64, s []float64, _ []float32) { score = append([]float64(nil), s...) }})
		if err != nil {
			t.Fatal(err)
		}
		return rep, score
	}
	one, s1 := run(0)
	three, s3 := run(3)
	// Like the other options added later, members appears only when set
	// (the default report keeps its keys).
	if m, ok := one.Options["members"]; ok || three.Options["members"] != 3 {
		t.Errorf("options members %v (present %v) and %v, want absent and 3", m, ok, three.Options["members"])
	}
	if len(s1) != len(s3) || len(s1) == 0 {
		t.Fatalf("scores %d and %d", len(s1), len(s3))
	}
	same := true
	for i := range s1 {
		same = same && s1[i] == s3[i]
	}
	if same {
		t.Error("three members score exactly as one")
	}
	for _, tc := range []struct {
		o    EvalOptions
		want string
	}{
		{EvalOptions{Members: -1}, "members -1"},
		{EvalOptions{Members: 2, Detector: DetectorAR}, "more than 1 only with detector lstm"},
	} {
		tc.o.Dir = dir
		if _, err := EvalDataset(context.Background(), tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
}
