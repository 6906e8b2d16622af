package metrics

import (
	"fmt"
	"math"
	"testing"
)

func b(s string) []bool {
	out := make([]bool, len(s))
	for i, c := range s {
		out[i] = c == '1'
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestPointWiseAdjustedEvent(t *testing.T) {
	tests := []struct {
		name        string
		pred, label string
		point, adj  PRF
		event       PRF
	}{
		{
			// label segments [2,5) and [7,9); pred hits seg 1 once, misses seg 2, one FP at 0.
			name: "one hit one miss", pred: "1001000000", label: "0011100110",
			point: PRF{0.5, 0.2, 2 * 0.5 * 0.2 / 0.7},
			// adjusted: TP=3, FP=1, FN=2 → P=.75, R=.6
			adj: PRF{0.75, 0.6, 2 * 0.75 * 0.6 / 1.35},
			// event: P point-wise .5, R = 1/2 segments
			event: PRF{0.5, 0.5, 0.5},
		},
		{
			name: "perfect", pred: "0110", label: "0110",
			point: PRF{1, 1, 1}, adj: PRF{1, 1, 1}, event: PRF{1, 1, 1},
		},
		{
			name: "nothing flagged", pred: "0000", label: "0110",
			point: PRF{0, 0, 0}, adj: PRF{0, 0, 0}, event: PRF{0, 0, 0},
		},
		{
			// segments [0,1) [2,6): pred flags last point of seg 2 only.
			name: "late detection", pred: "000001", label: "101111",
			point: PRF{1, 0.2, 2 * 0.2 / 1.2},
			adj:   PRF{1, 0.8, 2 * 0.8 / 1.8},
			event: PRF{1, 0.5, 2 * 0.5 / 1.5},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, l := b(tc.pred), b(tc.label)
			for _, c := range []struct {
				what      string
				got, want PRF
			}{{"point", PointWise(p, l), tc.point}, {"adjusted", Adjusted(p, l), tc.adj}, {"event", Event(p, l), tc.event}} {
				if !near(c.got.Precision, c.want.Precision) || !near(c.got.Recall, c.want.Recall) || !near(c.got.F1, c.want.F1) {
					t.Errorf("%s = %+v, want %+v", c.what, c.got, c.want)
				}
			}
		})
	}
}

func TestPointAdjustDoesNotChangeInput(t *testing.T) {
	p := b("0100")
	got := PointAdjust(p, b("1110"))
	if want := b("1110"); !equal(got, want) {
		t.Fatalf("PointAdjust = %v, want %v", got, want)
	}
	if !equal(p, b("0100")) {
		t.Fatalf("input modified: %v", p)
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAveragePrecision(t *testing.T) {
	tests := []struct {
		name  string
		score []float64
		label string
		want  float64
	}{
		// sklearn example: y=[0,0,1,1], s=[.1,.4,.35,.8] → 0.8333…
		{"sklearn doc", []float64{0.1, 0.4, 0.35, 0.8}, "0011", (1.0 + 2.0/3) / 2},
		{"perfect", []float64{0.9, 0.8, 0.1}, "110", 1},
		// order: 1(.9,neg) 2(.8,pos) 3(.7,pos): P@2=.5 R=.5, P@3=2/3 R=1 → .25+.3333
		{"worst first", []float64{0.9, 0.8, 0.7}, "011", 0.5*0.5 + 0.5*2.0/3},
		// all tied: one threshold, P = 1/3, R = 1
		{"ties", []float64{1, 1, 1}, "100", 1.0 / 3},
		{"no positives", []float64{1, 2}, "00", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := AveragePrecision(tc.score, b(tc.label)); !near(got, tc.want) {
				t.Fatalf("AveragePrecision = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestROCAUC(t *testing.T) {
	tests := []struct {
		name  string
		score []float64
		label string
		want  float64
	}{
		{"sklearn doc", []float64{0.1, 0.4, 0.35, 0.8}, "0011", 0.75},
		{"perfect", []float64{3, 2, 1}, "110", 1},
		{"inverted", []float64{1, 2, 3}, "110", 0},
		{"ties half", []float64{1, 1, 1, 1}, "1010", 0.5},
		// pos {2,1}, neg {1,0}: pairs (2>1)(2>0)(1=1:½)(1>0) → 3.5/4
		{"partial tie", []float64{2, 1, 1, 0}, "1100", 3.5 / 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ROCAUC(tc.score, b(tc.label)); !near(got, tc.want) {
				t.Fatalf("ROCAUC = %v, want %v", got, tc.want)
			}
		})
	}
	if got := ROCAUC([]float64{1, 2}, b("00")); !math.IsNaN(got) {
		t.Fatalf("ROCAUC without positives = %v, want NaN", got)
	}
}

func TestHitRateNDCG(t *testing.T) {
	ranks := [][]int{
		{3, 1, 0, 2, 4}, // G={1,3}: top2 = {3,1} → hit 1; top3 (150%: ⌊3⌋) {3,1,0} → 1
		{0, 2, 1, 3, 4}, // G={1,3}: top2 {0,2} → 0; top3 {0,2,1} → 0.5
		{4, 0, 1, 2, 3}, // no cause: skipped
		{2, 0, 1, 3, 4}, // G={2}: top1 {2} → 1; 150%: ⌊1.5⌋=1 → 1
	}
	causes := [][]int{{1, 3}, {3, 1}, nil, {2}}
	hr100, n := HitRate(ranks, causes, 100)
	if n != 3 || !near(hr100, (1+0+1)/3.0) {
		t.Fatalf("HitRate@100 = %v over %d, want %v over 3", hr100, n, 2/3.0)
	}
	hr150, _ := HitRate(ranks, causes, 150)
	if !near(hr150, (1+0.5+1)/3.0) {
		t.Fatalf("HitRate@150 = %v, want %v", hr150, 2.5/3)
	}
	// NDCG@100: point 1 → 1; point 2 → 0; point 4 → 1.
	nd100, _ := NDCG(ranks, causes, 100)
	if !near(nd100, 2/3.0) {
		t.Fatalf("NDCG@100 = %v, want %v", nd100, 2/3.0)
	}
	// NDCG@150: point 1: k=3, DCG=1+1/log2(3), IDCG=1+1/log2(3) → 1;
	// point 2: DCG = 1/log2(4) = .5, IDCG = 1+1/log2(3); point 4: 1.
	idcg := 1 + 1/math.Log2(3)
	nd150, _ := NDCG(ranks, causes, 150)
	if want := (1 + 0.5/idcg + 1) / 3; !near(nd150, want) {
		t.Fatalf("NDCG@150 = %v, want %v", nd150, want)
	}
	if v, n := HitRate(nil, nil, 100); n != 0 || !math.IsNaN(v) {
		t.Fatalf("HitRate of nothing = %v, %d; want NaN, 0", v, n)
	}
}

func TestDetectedRankings(t *testing.T) {
	const f = 3
	nan := math.NaN()
	score := []float64{
		9, 9, 9, // t0: a true positive in no interval
		9, 9, 9, // t1: interval 0, not flagged: left out of the aggregate
		1, 5, 2, // t2: interval 0
		4, 0, 3, // t3: interval 0 → maximum {4, 5, 3}
		9, 1, 2, // t4: interval 1
		0, 8, 1, // t5: intervals 1 and 2: the first, 1 → maximum {9, 8, 2}
		0, 0, 7, // t6: interval 2
		nan, 1, 0, // t7: interval 2 → maximum {NaN, 1, 7}: NaN ranks last
		5, 5, 5, // t8: interval 3, not flagged
	}
	tp := []bool{true, false, true, true, true, true, true, true, false}
	intervals := []Interval{
		{Start: 1, End: 3, Dims: []int{0}},
		{Start: 4, End: 5, Dims: []int{1, 2}},
		{Start: 5, End: 7, Dims: []int{0}},
		{Start: 8, End: 8, Dims: []int{2}},
	}
	ranks, causes := DetectedRankings(score, f, tp, intervals)
	wantRanks := [][]int{nil, nil, {1, 0, 2}, {1, 0, 2}, {0, 1, 2}, {0, 1, 2}, {2, 1, 0}, {2, 1, 0}, nil}
	wantCauses := [][]int{nil, nil, {0}, {0}, {1, 2}, {1, 2}, {0}, {0}, nil}
	if len(ranks) != len(wantRanks) || len(causes) != len(wantCauses) {
		t.Fatalf("DetectedRankings returned %d rankings and %d cause sets, want %d", len(ranks), len(causes), len(wantRanks))
	}
	for i := range wantRanks {
		if fmt.Sprint(ranks[i]) != fmt.Sprint(wantRanks[i]) || fmt.Sprint(causes[i]) != fmt.Sprint(wantCauses[i]) {
			t.Fatalf("point %d: ranking %v causes %v, want %v and %v (all: %v %v)", i, ranks[i], causes[i], wantRanks[i], wantCauses[i], ranks, causes)
		}
	}
	// HitRate@100 over t2…t7: 0, 0, ½ (top 2 {0, 1} against {1, 2}), ½, 0, 0.
	hr, n := HitRate(ranks, causes, 100)
	if n != 6 || !near(hr, 1/6.0) {
		t.Fatalf("HitRate@100 = %v over %d, want %v over 6", hr, n, 1/6.0)
	}
	if r, c := DetectedRankings(score, 0, tp, intervals); len(r) != len(tp) || r[2] != nil || c[2] != nil {
		t.Fatalf("DetectedRankings with no features = %v %v, want all nil", r, c)
	}
	if r, _ := DetectedRankings(score[:6], f, tp, intervals); len(r) != 2 {
		t.Fatalf("DetectedRankings over 2 rows of scores ranked %d points, want 2", len(r))
	}
}

func TestRankDims(t *testing.T) {
	got := RankDims([]float64{0.1, math.NaN(), 0.5, 0.5, 0.2})
	want := []int{2, 3, 4, 0, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("RankDims = %v, want %v", got, want)
		}
	}
}

func BenchmarkAveragePrecision(b *testing.B) {
	n := 30000
	s := make([]float64, n)
	l := make([]bool, n)
	for i := range s {
		s[i] = float64((i*7919)%n) / float64(n)
		l[i] = i%17 == 0
	}
	for b.Loop() {
		AveragePrecision(s, l)
	}
}

// NaN scores are one tie group at the bottom: swapping the labels of two
// NaN-scored points must not move the AUC (it was 1 against 0.5).
func TestROCAUCNaNTies(t *testing.T) {
	nan := math.NaN()
	a := ROCAUC([]float64{1, nan, nan}, []bool{false, true, false})
	b := ROCAUC([]float64{1, nan, nan}, []bool{false, false, true})
	if a != b || a != 0.25 {
		t.Errorf("ROCAUC with NaN ties: %v and %v, want 0.25 for both", a, b)
	}
	if got := ROCAUC([]float64{2, nan, 1, nan}, []bool{true, false, false, true}); got != 0.625 {
		t.Errorf("ROCAUC = %v, want 0.625", got)
	}
}
