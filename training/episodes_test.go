package training

import (
	"math"
	"strings"
	"testing"

	"github.com/omen-sre/omen/training/dataset"
)

func TestEpisodeScore(t *testing.T) {
	f := false
	T := true
	// Steps:          0    1    2    3    4    5    6    7    8    9   10   11   12   13   14   15
	prob := []float64{.1, .9, .9, .9, .1, .1, .1, .1, .8, .9, .9, .9, .9, .2, .9, .9}
	fail := []bool{f, f, f, f, f, f, f, f, f, f, f, T, T, f, f, f}
	seqs := []ProbSeq{{Prob: prob, Failing: fail}}
	cases := []struct {
		name    string
		th      float64
		horizon int
		rule    AlertRule
		want    EpisodeStats
	}{
		{
			// Alerts: fired 2 (resolved 4): a false one; fired 10 (onset 11,
			// horizon 3: [8, 11)): predicts it; fired 15: false.
			name: "threshold .85", th: .85, horizon: 3, rule: AlertRule{For: 2, ResolveRatio: .8, Lookback: 6},
			want: EpisodeStats{Threshold: .85, Episodes: 1, Predicted: 1, AlertGroups: 3, TruePositives: 1, FalsePositives: 2, LeadMedian: 1},
		},
		{
			// A lookback as short as the horizon still reaches step 9.
			name: "lookback = horizon", th: .85, horizon: 3, rule: AlertRule{For: 2, ResolveRatio: .8, Lookback: 3},
			want: EpisodeStats{Threshold: .85, Episodes: 1, Predicted: 1, AlertGroups: 3, TruePositives: 1, FalsePositives: 2, LeadMedian: 1},
		},
		{
			// for 4: fires only at 12, while failing: a late group.
			name: "for 4", th: .85, horizon: 3, rule: AlertRule{For: 4, ResolveRatio: .8, Lookback: 9},
			want: EpisodeStats{Threshold: .85, Episodes: 1, Predicted: 0, AlertGroups: 1, TruePositives: 0, FalsePositives: 0},
		},
		{
			// Threshold .95: nothing fires.
			name: "nothing", th: .95, horizon: 3, rule: AlertRule{},
			want: EpisodeStats{Threshold: .95, Episodes: 1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := EpisodeScore(seqs, c.th, c.horizon, c.rule)
			got.Precision, got.Recall, got.F1 = 0, 0, 0
			if got != c.want {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// TestEpisodeThreshold: probabilities rise before every onset to 0.7–0.9
// and noise peaks reach 0.5 and 0.95 once each: the best threshold lies
// between 0.5 and the lowest precursor peak, and the single 0.95 false
// alarm is the price of recall.
func TestEpisodeThreshold(t *testing.T) {
	var seqs []ProbSeq
	peaks := []float64{.7, .8, .9, .75}
	for e, pk := range peaks {
		n := 200
		prob := make([]float64, n)
		fail := make([]bool, n)
		for i := range prob {
			prob[i] = 0.05 + 0.01*math.Sin(float64(i+e))
		}
		for i := 100; i < 110; i++ { // precursor
			prob[i] = pk * float64(i-99) / 10
		}
		for i := 110; i < 120; i++ {
			fail[i] = true
		}
		if e == 1 {
			prob[40], prob[41], prob[42] = .5, .5, .5
		}
		if e == 2 {
			prob[160], prob[161] = .95, .95
		}
		seqs = append(seqs, ProbSeq{Prob: prob, Failing: fail})
	}
	st, ok := EpisodeThreshold(seqs, 10, AlertRule{Margin: -1})
	if !ok {
		t.Fatal("no onset found")
	}
	if !(st.Threshold > .5 && st.Threshold <= .7) || st.Recall != 1 || st.FalsePositives != 1 {
		t.Errorf("got %+v, want a threshold in (.5, .7], recall 1 and one false positive", st)
	}
	if _, ok := EpisodeThreshold([]ProbSeq{{Prob: []float64{.1, .2}, Failing: []bool{false, false}}}, 10, AlertRule{}); ok {
		t.Error("ok without onsets")
	}
}

// TestEpisodeThresholdMargin: the precursors' probabilities crowd at
// 0.997–0.999 (a cliff: any threshold above 0.997 loses failures) and the
// highest false alarm reaches 0.9; with the default margin the threshold
// keeps a quarter of a logit from both edges.
func TestEpisodeThresholdMargin(t *testing.T) {
	var seqs []ProbSeq
	for e := range 10 {
		n := 300
		prob := make([]float64, n)
		fail := make([]bool, n)
		for i := range prob {
			prob[i] = 0.01 * (1 + math.Sin(float64(i*7+e)))
		}
		for i := 100; i < 110; i++ { // precursor: a steep rise to its plateau
			prob[i] = 0.997 + 0.0002*float64(e)
		}
		prob[98], prob[99] = 0.5, 0.9
		for i := 110; i < 120; i++ {
			fail[i] = true
		}
		if e == 3 {
			prob[200], prob[201], prob[202] = .9, .9, .9
		}
		seqs = append(seqs, ProbSeq{Prob: prob, Failing: fail})
	}
	st, ok := EpisodeThreshold(seqs, 10, AlertRule{})
	if !ok {
		t.Fatal("no onset found")
	}
	lo, hi := logit(0.9)+0.25, logit(0.997)-0.25
	if z := logit(st.Threshold); z < lo || z > hi || st.Recall != 1 || st.FalsePositives != 0 {
		t.Errorf("got %+v (logit %.2f), want a logit in [%.2f, %.2f], recall 1, no false positive", st, z, lo, hi)
	}
}

// TestMakeWindowsEnded: the last windows of an entity that ended are
// labelled by the steps it had (0 here, 1 when it failed at its end); of
// one whose history merely stops they stay masked.
func TestMakeWindowsEnded(t *testing.T) {
	for _, c := range []struct {
		name      string
		ended     bool
		failAtEnd bool
		want      []float32 // labels of the last two windows; -1 = NaN
	}{
		{"history stops", false, false, []float32{-1, -1}},
		{"pod deleted", true, false, []float32{0, 0}},
		{"failed, then deleted", true, true, []float32{1, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := 12
			s := &dataset.Series{Entity: "e", Features: []string{"x"}, Values: make([]float64, n), Labels: make([]bool, n), Ended: c.ended}
			s.Labels[n-1] = c.failAtEnd
			w, err := MakeWindows(s, WindowOptions{Window: 3, Horizon: 4})
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range c.want {
				got := w.Label[w.N()-2+k]
				if want < 0 && got == got || want >= 0 && got != want {
					t.Errorf("window %d: label %v, want %v", w.N()-2+k, got, want)
				}
			}
		})
	}
}

// TestLogitSaturated: saturated probabilities give finite logits, so the
// logit grid of candidate thresholds exists even when some window scores
// exactly 1.
func TestLogitSaturated(t *testing.T) {
	for _, p := range []float64{0, 1, 0.5} {
		if z := logit(p); math.IsInf(z, 0) || math.IsNaN(z) {
			t.Errorf("logit(%g) = %g", p, z)
		}
	}
	if logit(1) <= logit(0.999999) || logit(0) >= logit(1e-6) {
		t.Error("logit is not monotone at the ends")
	}
}

func TestLeadFloor(t *testing.T) {
	curve := []EpisodeStats{
		{Threshold: .90, Predicted: 9, LeadMedian: 30},
		{Threshold: .95, Predicted: 9, LeadMedian: 27},
		{Threshold: .96, Predicted: 0, LeadMedian: 0},
		{Threshold: .97, Predicted: 8, LeadMedian: 22},
		{Threshold: .99, Predicted: 6, LeadMedian: 15},
	}
	cases := []struct {
		name    string
		chosen  int
		minLead int
		want    float64
		lowered bool
	}{
		{"off", 3, 0, .97, false},
		{"already enough", 3, 20, .97, false},
		{"lowered to the highest that reaches it", 4, 25, .95, true},
		{"lowered further", 4, 28, .90, true},
		{"none reaches it", 3, 40, .97, false},
	}
	for _, c := range cases {
		got, lowered := LeadFloor(curve, curve[c.chosen], c.minLead)
		if got.Threshold != c.want || lowered != c.lowered {
			t.Errorf("%s: threshold %v lowered %v, want %v %v", c.name, got.Threshold, lowered, c.want, c.lowered)
		}
	}
}

// TestApplyLeadFloor: the floor lowers the F1 choice only when it
// predicts at least MinLeadFloorOnsets validation failures.
func TestApplyLeadFloor(t *testing.T) {
	curve := []EpisodeStats{
		{Threshold: .90, Predicted: 30, LeadMedian: 30},
		{Threshold: .99, Predicted: 25, LeadMedian: 15},
	}
	got, note, _ := applyLeadFloor(curve, curve[1], 28)
	if got.Threshold != .90 || !strings.Contains(note, "lowered from 0.99") {
		t.Errorf("25 predicted failures: threshold %v, note %q; want lowered to 0.9", got.Threshold, note)
	}
	few := curve[1]
	few.Predicted = MinLeadFloorOnsets - 1
	got, note, tooFew := applyLeadFloor(curve, few, 28)
	if got.Threshold != .99 || !tooFew || !strings.Contains(note, "not applied") {
		t.Errorf("%d predicted failures: threshold %v, note %q, too few %v; want 0.99 kept", few.Predicted, got.Threshold, note, tooFew)
	}
	few.Predicted = MinLeadFloorOnsets
	if got, _, tooFew = applyLeadFloor(curve, few, 28); got.Threshold != .90 || tooFew {
		t.Errorf("%d predicted failures: threshold %v, too few %v; want lowered to 0.9", few.Predicted, got.Threshold, tooFew)
	}
	if got, note, _ = applyLeadFloor(curve, curve[0], 28); got.Threshold != .90 || note != "" {
		t.Errorf("floor already reached: threshold %v, note %q", got.Threshold, note)
	}
	reached := curve[0]
	reached.Predicted = 3
	if got, note, tooFew = applyLeadFloor(curve, reached, 28); got.Threshold != .90 || note != "" || tooFew {
		t.Errorf("few failures, floor already reached: threshold %v, note %q, too few %v", got.Threshold, note, tooFew)
	}
}
