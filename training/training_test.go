package training

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/training/dataset"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func series(steps, f int, labels string) *dataset.Series {
	s := &dataset.Series{Entity: "e"}
	for j := range f {
		s.Features = append(s.Features, string(rune('a'+j)))
	}
	for t := range steps {
		for j := range f {
			s.Values = append(s.Values, float64(t*10+j))
		}
	}
	if labels != "" {
		for _, c := range labels {
			s.Labels = append(s.Labels, c == '1')
		}
	}
	return s
}

func nanOr(v float32) string {
	if v != v {
		return "NaN"
	}
	return map[bool]string{true: "1", false: "0"}[v > 0.5]
}

func TestMakeWindowsLabels(t *testing.T) {
	tests := []struct {
		name    string
		labels  string
		opts    WindowOptions
		ends    []int
		wantLbl []string
	}{
		// W=2: windows end at 1..5 (target ≤ 6). H=2: label(t) = any in (t, t+2].
		{"horizon 2", "0000101", WindowOptions{Window: 2, Horizon: 2}, []int{1, 2, 3, 4, 5}, []string{"0", "1", "1", "1", "NaN"}},
		{"horizon 0 is next step", "0000101", WindowOptions{Window: 2}, []int{1, 2, 3, 4, 5}, []string{"0", "0", "1", "0", "1"}},
		{"stride", "0000101", WindowOptions{Window: 2, Stride: 2, Horizon: 1}, []int{1, 3, 5}, []string{"0", "1", "1"}},
		// MaskBeyond 1: a failure 2 steps ahead is masked, 1 step ahead positive.
		{"mask beyond", "0000100", WindowOptions{Window: 2, Horizon: 2, MaskBeyond: 1}, []int{1, 2, 3, 4, 5}, []string{"0", "NaN", "1", "0", "NaN"}},
		{"no labels", "", WindowOptions{Window: 3}, []int{2, 3, 4, 5}, []string{"NaN", "NaN", "NaN", "NaN"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := MakeWindows(series(7, 2, tc.labels), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(w.End, tc.ends) {
				t.Fatalf("ends %v, want %v", w.End, tc.ends)
			}
			var got []string
			for _, l := range w.Label {
				got = append(got, nanOr(l))
			}
			if !reflect.DeepEqual(got, tc.wantLbl) {
				t.Fatalf("labels %v, want %v", got, tc.wantLbl)
			}
		})
	}
	if _, err := MakeWindows(series(7, 2, ""), WindowOptions{Window: 0}); err == nil {
		t.Fatal("window 0 accepted")
	}
}

func TestGather(t *testing.T) {
	w, err := MakeWindows(series(5, 2, "00001"), WindowOptions{Window: 2, Horizon: 1})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 2*4)
	next := make([]float32, 2*2)
	label := make([]float32, 2)
	w.Gather([]int{2, 0}, x, next, label)
	// window 2 ends at step 3: rows 2,3 → 20,21,30,31; next row 4 → 40,41
	if want := []float32{20, 21, 30, 31, 0, 1, 10, 11}; !reflect.DeepEqual(x, want) {
		t.Fatalf("x %v, want %v", x, want)
	}
	if want := []float32{40, 41, 20, 21}; !reflect.DeepEqual(next, want) {
		t.Fatalf("next %v, want %v", next, want)
	}
	if want := []float32{1, 0}; !reflect.DeepEqual(label, want) {
		t.Fatalf("label %v, want %v", label, want)
	}
}

func TestSplitTimeNoLeakage(t *testing.T) {
	s := series(100, 1, strings.Repeat("0", 100))
	tr, va, err := SplitTime(s, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Steps() != 80 || va.Steps() != 20 || va.Values[0] != 800 {
		t.Fatalf("split %d/%d, first val value %v", tr.Steps(), va.Steps(), va.Values[0])
	}
	tw, _ := MakeWindows(tr, WindowOptions{Window: 5, Horizon: 3})
	x := make([]float32, 5)
	next := make([]float32, 1)
	for i := range tw.N() {
		tw.Gather([]int{i}, x, next, nil)
		for _, v := range append(x, next...) {
			if v >= 800 {
				t.Fatalf("training window %d sees validation value %v", i, v)
			}
		}
	}
	if _, _, err := SplitTime(s, 1); err == nil {
		t.Fatal("fraction 1 accepted")
	}
}

func TestJoinWindowsAndScoring(t *testing.T) {
	a, _ := MakeWindows(series(4, 1, ""), WindowOptions{Window: 2})
	b, _ := MakeWindows(series(3, 1, ""), WindowOptions{Window: 2})
	j, err := JoinWindows(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 2, 5}; !reflect.DeepEqual(j.End, want) {
		t.Fatalf("ends %v, want %v", j.End, want)
	}
	next := make([]float32, 3)
	j.Gather([]int{0, 1, 2}, nil, next, nil)
	if want := []float32{20, 30, 20}; !reflect.DeepEqual(next, want) {
		t.Fatalf("next %v, want %v", next, want)
	}
	sw, err := ScoringWindows(series(5, 1, ""), 2, 3)
	if err != nil || !reflect.DeepEqual(sw.End, []int{2, 3}) {
		t.Fatalf("scoring windows %v, %v", sw.End, err)
	}
	if _, err := ScoringWindows(series(5, 1, ""), 2, 1); err == nil {
		t.Fatal("scoring without context accepted")
	}
}

func TestWindowsGap(t *testing.T) {
	// Values are t*10 (one feature): a window ending at t with gap 2
	// targets step t+3.
	w, err := MakeWindows(series(7, 1, ""), WindowOptions{Window: 2, Gap: 2})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 2, 3}; !reflect.DeepEqual(w.End, want) {
		t.Fatalf("ends %v, want %v", w.End, want)
	}
	x := make([]float32, 3*2)
	next := make([]float32, 3)
	w.Gather([]int{0, 1, 2}, x, next, nil)
	if want := []float32{40, 50, 60}; !reflect.DeepEqual(next, want) {
		t.Fatalf("next %v, want %v", next, want)
	}
	if want := []float32{0, 10, 10, 20, 20, 30}; !reflect.DeepEqual(x, want) {
		t.Fatalf("x %v, want %v", x, want)
	}
	sw, err := ScoringWindowsGap(series(7, 1, ""), 2, 2, 4)
	if err != nil || !reflect.DeepEqual(sw.End, []int{1, 2, 3}) {
		t.Fatalf("scoring windows %v, %v", sw.End, err)
	}
	sw.Gather([]int{0, 2}, nil, next[:2], nil)
	if want := []float32{40, 60}; !reflect.DeepEqual(next[:2], want) {
		t.Fatalf("scoring targets %v, want %v", next[:2], want)
	}
	if _, err := ScoringWindowsGap(series(7, 1, ""), 2, 2, 3); err == nil {
		t.Fatal("scoring with too little context for the gap accepted")
	}
	if _, err := MakeWindows(series(7, 1, ""), WindowOptions{Window: 2, Gap: -1}); err == nil {
		t.Fatal("negative gap accepted")
	}
	if _, err := JoinWindows(w, mustWindows(t, series(7, 1, ""), WindowOptions{Window: 2})); err == nil {
		t.Fatal("joined windows with different gaps")
	}
}

func mustWindows(t *testing.T, s *dataset.Series, o WindowOptions) *Windows {
	t.Helper()
	w, err := MakeWindows(s, o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestPositiveWeight(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		l    []float32
		max  float64
		want float64
	}{
		{[]float32{1, 0, 0, 0, nan}, 100, 3},
		{[]float32{1, 0, 0, 0}, 2, 2},
		{[]float32{0, 0}, 100, 1},
	}
	for _, tc := range tests {
		if got := PositiveWeight(tc.l, tc.max); got != tc.want {
			t.Errorf("PositiveWeight(%v, %v) = %v, want %v", tc.l, tc.max, got, tc.want)
		}
	}
}

// fakeLearner's validation loss follows a script indexed by the epoch,
// which it derives from the windows seen (perEpoch a pass).
type fakeLearner struct {
	valLoss  []float64
	perEpoch int
	steps    int
	seen     int
	restored []byte
	cancel   func()
}

func (f *fakeLearner) epoch() int { return (f.seen - 1) / max(f.perEpoch, 1) }

func (f *fakeLearner) Step(x, next, label []float32, n int) (float64, float64, float64, error) {
	f.steps++
	f.seen += n
	if f.cancel != nil && f.steps == 3 {
		f.cancel()
	}
	return 1, 1, 0, nil
}

func (f *fakeLearner) Loss(x, next, label []float32, n int) (float64, float64, float64, error) {
	return f.valLoss[min(f.epoch(), len(f.valLoss)-1)], 0, 0, nil
}

func (f *fakeLearner) Snapshot() ([]byte, error) { return []byte{byte(f.epoch())}, nil }

func (f *fakeLearner) Restore(b []byte) error { f.restored = b; return nil }

func TestFitEarlyStopping(t *testing.T) {
	w, _ := MakeWindows(series(50, 2, ""), WindowOptions{Window: 3})
	f := &fakeLearner{valLoss: []float64{5, 3, 4, 4, 4, 1}, perEpoch: w.N()}
	var buf bytes.Buffer
	h, err := Fit(context.Background(), f, w, w, LoopOptions{Epochs: 6, BatchSize: 8, Patience: 2, Progress: &buf, Label: "e"})
	if err != nil {
		t.Fatal(err)
	}
	if h.BestEpoch != 2 || len(h.Epochs) != 4 || h.Stopped != "early-stopping" {
		t.Fatalf("history %+v", h)
	}
	if !reflect.DeepEqual(f.restored, []byte{1}) {
		t.Fatalf("restored %v, want the snapshot of epoch 2", f.restored)
	}
	if f.seen != 4*w.N() {
		t.Fatalf("saw %d windows, want %d", f.seen, 4*w.N())
	}
	out := buf.String()
	if !strings.Contains(out, "e epoch 2/6 loss 1.0000 val_loss 3.0000") || !strings.Contains(out, "early stop after epoch 4 (best 2)") {
		t.Fatalf("progress output:\n%s", out)
	}
	if strings.Contains(out, "\r") {
		t.Fatal("carriage returns written to a non-terminal")
	}
}

func TestFitCancelAndLimits(t *testing.T) {
	w, _ := MakeWindows(series(200, 2, ""), WindowOptions{Window: 3})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f := &fakeLearner{valLoss: []float64{1, 1, 1}, cancel: cancel}
	_, err := Fit(ctx, f, w, nil, LoopOptions{Epochs: 3, BatchSize: 4})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	g := &fakeLearner{valLoss: []float64{1, 1, 1}}
	h, err := Fit(context.Background(), g, w, nil, LoopOptions{Epochs: 2, BatchSize: 7, MaxWindowsPerEpoch: 20, Patience: -1})
	if err != nil {
		t.Fatal(err)
	}
	if g.seen != 40 || len(h.Epochs) != 2 {
		t.Fatalf("saw %d windows in %d epochs, want 40 in 2", g.seen, len(h.Epochs))
	}
	if _, err := Fit(context.Background(), g, w, nil, LoopOptions{BatchSize: -1}); err == nil {
		t.Fatal("negative batch size accepted")
	}
}

func TestProgressTerminalFormat(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, "m", 100, true)
	now := p.start
	p.now = func() time.Time { now = now.Add(time.Second); return now }
	p.advance(50, 1, 2, 0.5)
	if got := buf.String(); !strings.HasPrefix(got, "\r\033[Km epoch 1/2 ") || !strings.Contains(got, "50%") || !strings.Contains(got, "ETA") {
		t.Fatalf("bar %q", got)
	}
	p.epoch(1, 2, 0.5, 0.4, -0.4, true)
	buf.Reset()
	p.advance(50, 2, 2, 0.3)
	if got := buf.String(); !strings.Contains(got, "epoch 2/2") || !strings.Contains(got, "val_score -0.4000") || !strings.Contains(got, "100%") {
		t.Fatalf("bar after an epoch %q", got)
	}
}

func TestBestF1Threshold(t *testing.T) {
	// scores .9(1) .8(0) .7(1) .1(0): thresholds .9 → F1 2/3·…; .7 → P=2/3 R=1 F1=.8
	thr, f1 := bestF1Threshold([]float64{0.9, 0.8, 0.7, 0.1}, []bool{true, false, true, false})
	if thr != 0.7 || math.Abs(f1-0.8) > 1e-12 {
		t.Fatalf("threshold %v F1 %v, want 0.7 0.8", thr, f1)
	}
}

// memSource is an in-memory Source.
type memSource []*dataset.Series

func (m memSource) Load(context.Context) ([]*dataset.Series, error) { return m, nil }

// valWindows applies o's defaults and returns the validation windows of
// src as Train cuts them (split as o.ValSplit says), joined.
func valWindows(t *testing.T, src memSource, o *TrainOptions) *Windows {
	t.Helper()
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	_, vas, _, err := splitWindows(src, *o, o.ValSplit)
	if err != nil {
		t.Fatal(err)
	}
	vaw, err := JoinWindows(vas...)
	if err != nil {
		t.Fatal(err)
	}
	return vaw
}

// rampSeries is n steps of one noisy feature "a" that ramps up for 5
// steps before every failure (every 40 steps).
func rampSeries(r *rand.Rand, name string, n int) *dataset.Series {
	s := &dataset.Series{Entity: name, Features: []string{"a"}, Labels: make([]bool, n)}
	for t := range n {
		a := r.NormFloat64() * 0.1
		if k := t % 40; k >= 30 && k < 35 {
			a += float64(k-29) * 0.5
		} else if k == 35 {
			s.Labels[t] = true
		}
		s.Values = append(s.Values, a)
	}
	return s
}

func TestTrainFailureHead(t *testing.T) {
	// Two entities: feature a ramps up for 5 steps before every failure.
	r := rand.New(rand.NewPCG(7, 7))
	mk := func(name string, n int) *dataset.Series {
		s := &dataset.Series{Entity: name, Features: []string{"a", "b"}, Labels: make([]bool, n)}
		for t := range n {
			a, b := r.NormFloat64()*0.1, r.NormFloat64()
			if k := t % 40; k >= 30 && k < 35 {
				a += float64(k-29) * 0.5
			} else if k == 35 {
				s.Labels[t] = true
			}
			s.Values = append(s.Values, a, b)
		}
		return s
	}
	src := memSource{mk("x", 1200), mk("y", 1200)}
	m, rep, err := Train(context.Background(), TrainOptions{Source: src, Window: 8, Horizon: 4, Hidden: 8, Epochs: 8, Patience: 3, LearningRate: 1e-2, Seed: 1, Version: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entities != 2 || rep.Positives == 0 || rep.PosWeight <= 1 {
		t.Fatalf("report %+v", rep)
	}
	if rep.ValAUCPR < 0.5 {
		t.Fatalf("validation AUC-PR %v of an easy precursor task, want ≥ 0.5", rep.ValAUCPR)
	}
	th := m.Thresholds()
	if th.Failure <= 0 || th.Failure >= 1 || th.Anomaly <= 0 || th.Method == "" {
		t.Fatalf("thresholds %+v", th)
	}
	if mt := m.Meta(); mt.Version != "t1" || mt.Extra["entities"] != "2" {
		t.Fatalf("meta %+v", mt)
	}
	if _, _, err := Train(context.Background(), TrainOptions{Source: memSource{mk("z", 10)}, Window: 8}); err == nil {
		t.Fatal("training on 10 steps accepted")
	}
}

// TestTrainValSplitAfter: with ValSplit "after" the entities starting at
// or after ValFrom are validation, whole, and the others training; with
// none after it Train falls back to the time split and says so.
func TestTrainValSplitAfter(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	var src memSource
	for i := range 8 {
		s := rampSeries(r, fmt.Sprintf("fleet-%d/pod", i), 300)
		s.Start, s.Step = int64(i)*1_000_000, 1000
		src = append(src, s)
	}
	opts := TrainOptions{Source: src, Window: 8, Horizon: 4, ValSplit: "after", ValFrom: 5_000_000}
	if err := opts.defaults(); err != nil {
		t.Fatal(err)
	}
	_, _, vaSeries, err := splitWindows(src, opts, "after")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range vaSeries {
		got = append(got, s.Entity)
	}
	if want := []string{"fleet-5/pod", "fleet-6/pod", "fleet-7/pod"}; !slices.Equal(got, want) {
		t.Fatalf("validation entities %v, want %v", got, want)
	}
	_, rep, err := Train(context.Background(), TrainOptions{Source: src, Window: 8, Horizon: 4, Hidden: 8, Epochs: 1, LearningRate: 1e-2, Seed: 1,
		ValSplit: "after", ValFrom: 5_000_000})
	if err != nil {
		t.Fatal(err)
	}
	perEntity := 300 - 8 - 4 + 1
	if rep.ValSplit != "after" || rep.Entities != 8 || rep.ValWindows < 3*perEntity || rep.ValWindows > 3*300 {
		t.Fatalf("report %+v, want 3 validation entities of 8", rep)
	}
	// Nothing after ValFrom: the time split, reported.
	_, rep, err = Train(context.Background(), TrainOptions{Source: src, Window: 8, Horizon: 4, Hidden: 8, Epochs: 1, LearningRate: 1e-2, Seed: 1,
		ValSplit: "after", ValFrom: 9_000_000})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ValSplit != "time" {
		t.Fatalf("validation split %q with no entity after the cutoff, want time", rep.ValSplit)
	}
}

// TestTrainValSplitEntity: with ValSplit "entity" whole entities are held
// out (none is split in time), and the failure head still learns.
func TestTrainValSplitEntity(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	mk := func(name string, n int) *dataset.Series { return rampSeries(r, name, n) }
	var src memSource
	val := 0
	for i := range 12 {
		name := fmt.Sprintf("pod-%d", i)
		src = append(src, mk(name, 400))
		if heldOut(name, 0.3) {
			val++
		}
	}
	if val == 0 || val == 12 {
		t.Fatalf("%d of 12 entities held out at 0.3", val)
	}
	_, rep, err := Train(context.Background(), TrainOptions{Source: src, Window: 8, Horizon: 4, Hidden: 8, Epochs: 6, LearningRate: 1e-2, Seed: 1, ValSplit: "entity", ValFraction: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	perEntity := 400 - 8 - 4 + 1 // full windows with a full horizon
	if rep.Entities != 12 || rep.ValWindows < val*perEntity || rep.TrainWindows < (12-val)*perEntity || rep.TrainWindows+rep.ValWindows > 12*400 {
		t.Fatalf("report %+v with %d held-out entities", rep, val)
	}
	if rep.ValAUCPR < 0.5 {
		t.Fatalf("validation AUC-PR %v, want ≥ 0.5", rep.ValAUCPR)
	}
	// LabelHorizon widens the training labels only: more positives, the
	// model's horizon unchanged.
	m2, rep2, err := Train(context.Background(), TrainOptions{Source: src, Window: 8, Horizon: 4, LabelHorizon: 8, Hidden: 8, Epochs: 1, LearningRate: 1e-2, Seed: 1, ValSplit: "entity", ValFraction: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	if m2.Config().Horizon != 4 || rep2.Positives < rep.Positives*3/2 {
		t.Fatalf("label horizon 8: model horizon %d, %d positives (horizon 4: %d)", m2.Config().Horizon, rep2.Positives, rep.Positives)
	}
	if rep2.ValPositives != rep.ValPositives {
		t.Fatalf("label horizon 8 changed the validation labels: %d positives, %d with horizon 4", rep2.ValPositives, rep.ValPositives)
	}
	// Restarts keep the best validation score; the first restart is the
	// model of Seed.
	// (One short epoch, so that the two seeds score differently.)
	short := TrainOptions{Source: src, Window: 8, Horizon: 4, Hidden: 8, Epochs: 1, MaxWindowsPerEpoch: 64, LearningRate: 1e-2, ValSplit: "entity", ValFraction: 0.3}
	runs := make([]float64, 2)
	for i, seed := range []int64{1, 1 + 1_000_003} {
		o := short
		o.Seed = seed
		_, r, err := Train(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		runs[i] = r.History.Best.ValScore
	}
	o := short
	o.Seed, o.Restarts = 1, 2
	_, rep3, err := Train(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restart validation scores %v, kept %v", runs, rep3.History.Best.ValScore)
	if rep3.History.Best.ValScore != max(runs[0], runs[1]) || runs[0] == runs[1] {
		t.Fatalf("2 restarts: best validation score %v, want the better of the two seeds' %v", rep3.History.Best.ValScore, runs)
	}
	// Ensemble: the threshold of a model averaged with itself is its own;
	// averaged with another seed's model it is chosen on their mean.
	ens := TrainOptions{Source: src, Window: 8, Horizon: 4, Hidden: 8, Epochs: 2, LearningRate: 1e-2, Seed: 1, ValSplit: "entity", ValFraction: 0.3, Alerts: &AlertRule{}}
	mA, repA, err := Train(context.Background(), ens)
	if err != nil {
		t.Fatal(err)
	}
	self := ens
	self.Ensemble = []*model.Model{mA}
	_, repSelf, err := Train(context.Background(), self)
	if err != nil {
		t.Fatal(err)
	}
	if repA.Episodes == nil || repSelf.Thresholds.Failure != repA.Thresholds.Failure {
		t.Fatalf("ensemble with itself: threshold %v, alone %v (episodes %v)", repSelf.Thresholds.Failure, repA.Thresholds.Failure, repA.Episodes)
	}
	// Members: an ensemble of the seeds' networks, its output their mean.
	two := ens
	two.Members = 2
	mE, repE, err := Train(context.Background(), two)
	if err != nil {
		t.Fatal(err)
	}
	seedB := ens
	seedB.Seed = 1 + 1_000_003
	mB, _, err := Train(context.Background(), seedB)
	if err != nil {
		t.Fatal(err)
	}
	if mE.Members() != 2 || repE.Members != 2 || repE.Episodes == nil {
		t.Fatalf("members: model %d, report %d, episodes %v", mE.Members(), repE.Members, repE.Episodes)
	}
	if got := mE.Meta().ValScore; got != repE.ValAUCPR {
		t.Errorf("ensemble val score %v, want the ensemble's validation AUC-PR %v", got, repE.ValAUCPR)
	}
	if got, want := mE.Meta().ValLoss, (mA.Meta().ValLoss+mB.Meta().ValLoss)/2; math.Abs(got-want) > 1e-12 || mA.Meta().ValLoss == mB.Meta().ValLoss {
		t.Errorf("ensemble val loss %v, want the members' mean %v (members %v, %v)", got, want, mA.Meta().ValLoss, mB.Meta().ValLoss)
	}
	if got, want := mE.Meta().TrainLoss, (mA.Meta().TrainLoss+mB.Meta().TrainLoss)/2; math.Abs(got-want) > 1e-12 {
		t.Errorf("ensemble train loss %v, want the members' mean %v", got, want)
	}
	x := make([]float32, 8)
	for i := range x {
		x[i] = float32(i%3) * 0.4
	}
	pE, pA, pB := make([]float64, 1), make([]float64, 1), make([]float64, 1)
	for _, c := range []struct {
		m *model.Model
		p []float64
	}{{mE, pE}, {mA, pA}, {mB, pB}} {
		if err := c.m.Predict(x, 1, c.p); err != nil {
			t.Fatal(err)
		}
	}
	if math.Abs(pE[0]-(pA[0]+pB[0])/2) > 1e-9 {
		t.Fatalf("ensemble predicts %v, members %v and %v", pE[0], pA[0], pB[0])
	}
	other, err := model.New(model.Config{Features: []string{"a"}, Window: 6, Horizon: 4, Hidden: 8, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	bad := ens
	bad.Ensemble = []*model.Model{other}
	if _, _, err := Train(context.Background(), bad); err == nil {
		t.Error("an ensemble member with another window accepted")
	}
	for _, bad := range []TrainOptions{
		{Source: src, ValSplit: "pods"},
		{Source: src, Restarts: -1},
		{Source: src, Epochs: 3, AverageFrom: 4},
		{Source: src, Members: 2, Restarts: 2},
	} {
		if _, _, err := Train(context.Background(), bad); err == nil {
			t.Errorf("options %+v accepted", bad)
		}
	}
	// One entity cannot be both trained on and held out whole: Train falls
	// back to validating on the last part of its history.
	one := memSource{src[0]}
	_, rep4, err := Train(context.Background(), TrainOptions{Source: one, Window: 8, Horizon: 4, Hidden: 8, Epochs: 1, LearningRate: 1e-2, Seed: 1, ValSplit: "entity", ValFraction: 0.3})
	if err != nil {
		t.Fatalf("one entity with the entity split: %v", err)
	}
	if rep4.TrainWindows == 0 || rep4.ValWindows == 0 || rep4.TrainWindows+rep4.ValWindows > 400 || rep4.Entities != 1 {
		t.Fatalf("one entity, fallback to the time split: report %+v", rep4)
	}
}

func TestEvalDatasetSmoke(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "datasets", "smd")
	if _, err := os.Stat(dir); err != nil {
		dir = "/work/shared/datasets/smd"
	}
	rep, err := EvalDataset(context.Background(), EvalOptions{
		Kind: "smd", Dir: dir, Entities: []string{"machine-1-6"},
		Window: 8, Hidden: 8, Epochs: 1, MaxWindowsPerEpoch: 1024,
		MaxTrainSteps: 3000, MaxTestSteps: 8000, Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Entities) != 1 || rep.Mean.Entity != "mean" {
		t.Fatalf("report %+v", rep)
	}
	e := rep.Entities[0]
	if e.TestPoints != 8000 || e.AnomalousPoints == 0 || e.InterpretedPoints == 0 {
		t.Fatalf("entity report %+v", e)
	}
	if got := rep.Options["pot_risk_per_step"]; got != 1e-3 {
		t.Errorf("report's risk per step %v, want 1e-3 (1e-3 a minute, 1-minute steps)", got)
	}
	if e.InterpretedPointsTP == 0 || e.InterpretedPointsTP > e.InterpretedPoints {
		t.Errorf("%d points interpreted under the detected-points protocol, want 1…%d", e.InterpretedPointsTP, e.InterpretedPoints)
	}
	for name, v := range map[string]float64{"f1_pa": e.F1PA, "auc_pr": e.AUCPR, "hitrate_150": e.HitRate150, "ndcg_150": e.NDCG150, "hitrate_tp_150": e.HitRateTP150, "ndcg_tp_150": e.NDCGTP150} {
		if !(v > 0 && v <= 1) {
			t.Errorf("%s = %v, want in (0, 1]", name, v)
		}
	}
	if e.F1PA < e.F1 {
		t.Errorf("PA-F1 %v below F1 %v", e.F1PA, e.F1)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"entities"`, `"mean"`, `"precision_pa"`, `"recall_pa"`, `"f1_pa"`, `"f1_event"`, `"auc_pr"`, `"hitrate_100"`, `"hitrate_150"`, `"ndcg_100"`, `"ndcg_150"`, `"hitrate_tp_100"`, `"hitrate_tp_150"`, `"ndcg_tp_100"`, `"ndcg_tp_150"`, `"train_seconds"`} {
		if !bytes.Contains(b, []byte(k)) {
			t.Errorf("report JSON lacks %s", k)
		}
	}
	if _, err := EvalDataset(context.Background(), EvalOptions{Dir: dir, Kind: "nope"}); err == nil {
		t.Error("unknown kind accepted")
	}
}

func BenchmarkGather(b *testing.B) {
	w, _ := MakeWindows(series(30000, 38, ""), WindowOptions{Window: 16})
	idx := make([]int, 64)
	for i := range idx {
		idx[i] = i * 400
	}
	x := make([]float32, 64*16*38)
	next := make([]float32, 64*38)
	label := make([]float32, 64)
	for b.Loop() {
		w.Gather(idx, x, next, label)
	}
}

func TestWriteTable(t *testing.T) {
	r := Report{Entities: []EntityReport{{Entity: "m1", F1PA: 0.5}}, Mean: EntityReport{Entity: "mean", F1PA: 0.5}}
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "m1") || !strings.Contains(lines[2], "mean") || !strings.Contains(lines[1], "0.500") {
		t.Fatalf("table:\n%s", b.String())
	}
}

func TestEWMA(t *testing.T) {
	x := []float64{0, 10, 4, 20}
	ewma(x, 2, 3) // α = 0.5, two features interleaved
	if want := []float64{0, 10, 2, 15}; !reflect.DeepEqual(x, want) {
		t.Fatalf("ewma = %v, want %v", x, want)
	}
	y := []float32{1, 2}
	ewma(y, 1, 0)
	if y[1] != 2 {
		t.Fatal("span 0 changed the series")
	}
}

func TestTrainWithoutFailures(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	s := &dataset.Series{Entity: "u", Features: []string{"a", "b"}}
	for i := range 600 {
		s.Values = append(s.Values, math.Sin(float64(i)/5)+0.05*r.NormFloat64(), r.NormFloat64())
	}
	m, rep, err := Train(context.Background(), TrainOptions{Source: memSource{s}, Window: 8, Hidden: 4, Epochs: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if th := m.Thresholds(); th.Failure != 1 || th.Anomaly <= 0 || !strings.Contains(th.Method, "disabled") {
		t.Fatalf("thresholds %+v", th)
	}
	if rep.Positives != 0 || rep.PosWeight != 1 {
		t.Fatalf("report %+v", rep)
	}
}

// writeSynthetic writes an SMD-format entity: three sine-like features, a
// test file with two level-shift anomalies on feature 2 and an
// interpretation file naming it.
func writeSynthetic(t *testing.T, dir, name string, seed uint64) {
	t.Helper()
	writeShifted(t, dir, name, seed, [][2]int{{300, 320}, {600, 610}}, 0.6)
}

// writeShifted writes a three-feature entity whose test file has feature 2
// shifted by delta in the given [start, end) segments (labelled, cause 2).
func writeShifted(t *testing.T, dir, name string, seed uint64, segs [][2]int, delta float64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	row := func(i int) []float64 {
		x := float64(i)
		return []float64{0.5 + 0.3*math.Sin(x/7) + 0.02*r.NormFloat64(), 0.5 + 0.3*math.Cos(x/11) + 0.02*r.NormFloat64(), 0.4 + 0.1*math.Sin(x/5) + 0.02*r.NormFloat64()}
	}
	var tr, te strings.Builder
	tr.WriteString("t,m1,m2,m3\n")
	for i := range 1500 {
		v := row(i)
		fmt.Fprintf(&tr, "%d,%.5f,%.5f,%.5f\n", i, v[0], v[1], v[2])
	}
	te.WriteString("t,m1,m2,m3,label\n")
	for i := range 800 {
		v := row(1500 + i)
		l := 0
		for _, sg := range segs {
			if i >= sg[0] && i < sg[1] {
				v[1] += delta
				l = 1
			}
		}
		fmt.Fprintf(&te, "%d,%.5f,%.5f,%.5f,%d\n", i, v[0], v[1], v[2], l)
	}
	var interp strings.Builder
	for _, sg := range segs {
		fmt.Fprintf(&interp, "%d-%d:2\n", sg[0], sg[1])
	}
	for f, content := range map[string]string{name + ".train.csv": tr.String(), name + ".test.csv": te.String(), name + ".interpretation.txt": interp.String()} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEvalDatasetAnyFolder(t *testing.T) {
	dir := t.TempDir()
	writeSynthetic(t, dir, "a", 1)
	writeSynthetic(t, dir, "b", 2)
	for _, det := range []string{DetectorLSTM, DetectorAR} {
		t.Run(det, func(t *testing.T) {
			rep, err := EvalDataset(context.Background(), EvalOptions{Dir: dir, Detector: det, Window: 8, Hidden: 8, Epochs: 5, LearningRate: 5e-3, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Entities) != 2 || rep.Entities[0].Entity != "a" || rep.Entities[1].Entity != "b" {
				t.Fatalf("entities %+v", rep.Entities)
			}
			// A 0.6 level shift on one feature is obvious: both segments
			// are found and the shifted feature is ranked first at most
			// labelled points. A one-step forecaster adapts to a long shift
			// (the residual fades inside the segment) and may flag the
			// return to normal after it, so HitRate and precision need not
			// be 1.
			if rep.Mean.RecallPA < 0.99 || rep.Mean.F1PA < 0.75 || rep.Mean.HitRate100 < 0.7 {
				t.Fatalf("mean %+v", rep.Mean)
			}
		})
	}
	// The risk is per minute of data: 5-minute steps take five times the
	// risk per step, so a lower threshold on the same scores.
	var thr [2]float64
	for i, step := range []time.Duration{time.Minute, 5 * time.Minute} {
		rep, err := EvalDataset(context.Background(), EvalOptions{Dir: dir, Entities: []string{"a"}, Detector: DetectorAR, Step: step, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if want := 1e-3 * step.Minutes(); rep.Options["pot_risk_per_step"] != want {
			t.Fatalf("step %v: risk per step %v, want %v", step, rep.Options["pot_risk_per_step"], want)
		}
		thr[i] = rep.Entities[0].Threshold
	}
	if !(thr[1] < thr[0]) {
		t.Fatalf("thresholds with 1- and 5-minute steps %v, want the second lower", thr)
	}
}

// Keeping detected steps out of the context: on a long synthetic level
// shift the residual no longer fades inside the segment, so point-wise
// recall and F1 rise. (The ranking does not profit here: the replaced rows
// also perturb the unshifted features' context.)
func TestEvalDatasetClean(t *testing.T) {
	dir := t.TempDir()
	writeShifted(t, dir, "a", 1, [][2]int{{300, 450}}, 0.25)
	opts := EvalOptions{Dir: dir, Window: 8, Hidden: 8, Epochs: 5, LearningRate: 5e-3, Seed: 1}
	plain, err := EvalDataset(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Clean = 1000
	clean, err := EvalDataset(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	p, c := plain.Mean, clean.Mean
	t.Logf("plain %+v", p)
	t.Logf("clean %+v", c)
	if c.Recall < p.Recall+0.2 || c.F1 <= p.F1 || c.RecallPA < 0.99 || c.PrecisionPA < 0.99 {
		t.Fatalf("cleaned context: recall %v F1 %v HR@100 %v; plain: recall %v F1 %v HR@100 %v", c.Recall, c.F1, c.HitRate100, p.Recall, p.F1, p.HitRate100)
	}
	if clean.Options["clean"] != 1000 {
		t.Errorf("options %v", clean.Options)
	}
}

func TestOnsetLabels(t *testing.T) {
	s := &dataset.Series{Entity: "e", Features: []string{"a"}, Values: make([]float64, 10),
		Labels: []bool{false, false, false, false, true, true, false, false, false, false}}
	w, err := MakeWindows(s, WindowOptions{Window: 2, Horizon: 2, Onset: true})
	if err != nil {
		t.Fatal(err)
	}
	// Windows end at 1..8: end 1 → (2,3] no failure: 0; end 2 → (3,4]: 1;
	// end 3 → 1; ends 4, 5 failing now: masked; end 6 → 0; 7 → 0; 8: past end: masked.
	want := []float64{0, 1, 1, math.NaN(), math.NaN(), 0, 0, math.NaN()}
	for i, l := range w.Label {
		if got := float64(l); !(got == want[i] || math.IsNaN(got) && math.IsNaN(want[i])) {
			t.Errorf("label of window ending at %d = %v, want %v", w.End[i], got, want[i])
		}
	}
}

// TestOnsetEpisodes: with Onset, failing steps with at most a horizon of
// non-failing steps between them are one failure. An event-based label blinks through a crash loop (set
// at each BackOff event, 8 steps apart in the simulated fleet): each
// event after a gap was an onset, and the windows in the gaps, in the
// middle of the failure, its positives, so models trained with omen train
// alerted during failures (late alerts). Now the gaps are failing (no
// example) and only the H windows before the first event are positives.
func TestOnsetEpisodes(t *testing.T) {
	at := func(n int, steps ...int) []bool {
		l := make([]bool, n)
		for _, i := range steps {
			l[i] = true
		}
		return l
	}
	for _, tc := range []struct {
		name   string
		labels []bool
		gap    int
		want   []bool
	}{
		{"blinks within the gap", at(12, 3, 6, 9), 2, at(12, 3, 4, 5, 6, 7, 8, 9)},
		{"gap longer", at(12, 3, 7), 2, at(12, 3, 7)},
		{"gap equal", at(12, 3, 6), 2, at(12, 3, 4, 5, 6)},
		{"run", at(6, 1, 2, 3), 2, at(6, 1, 2, 3)},
		{"none", at(4), 2, at(4)},
		{"nil", nil, 2, nil},
	} {
		if got := FailureEpisodes(tc.labels, tc.gap); !slices.Equal(got, tc.want) {
			t.Errorf("%s: FailureEpisodes = %v, want %v", tc.name, got, tc.want)
		}
	}
	// Blinking at 10, 13, 16 (a 2-step gap), horizon 3.
	s := &dataset.Series{Entity: "e", Features: []string{"a"}, Values: make([]float64, 24), Labels: at(24, 10, 13, 16)}
	w, err := MakeWindows(s, WindowOptions{Window: 2, Horizon: 3, Onset: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, end := range w.End {
		var want float64
		switch {
		case end >= 7 && end <= 9:
			want = 1 // the H windows before the failure
		case end >= 10 && end <= 16 || end+3 >= 24:
			want = math.NaN() // failing, gaps included; past the end
		}
		if got := float64(w.Label[i]); !(got == want || math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("label of window ending at %d = %v, want %v", end, got, want)
		}
	}
}

// avgLearner is a fakeLearner whose one weight is the epoch it is in.
type avgLearner struct {
	fakeLearner
	set []float32
}

func (a *avgLearner) Weights() []float32 { return []float32{float32(a.epoch() + 1)} }

func (a *avgLearner) SetWeights(w []float32) error { a.set = w; return nil }

// Loss is the scripted validation loss until weights are set, then the
// set weight (so the averaged weights' validation loss is observable).
func (a *avgLearner) Loss(x, next, label []float32, n int) (float64, float64, float64, error) {
	if a.set != nil {
		return float64(a.set[0]), 0, 0, nil
	}
	return a.fakeLearner.Loss(x, next, label, n)
}

func TestFitAverageWeights(t *testing.T) {
	w, _ := MakeWindows(series(50, 2, ""), WindowOptions{Window: 3})
	// The validation loss would stop training after epoch 3 and restore
	// epoch 2; with averaging from epoch 3 every epoch runs and epochs
	// 3..6 (weights 3, 4, 5, 6) are averaged.
	a := &avgLearner{fakeLearner: fakeLearner{valLoss: []float64{5, 3, 4, 4, 4, 4}, perEpoch: w.N()}}
	h, err := Fit(context.Background(), a, w, w, LoopOptions{Epochs: 6, BatchSize: 8, Patience: 1, AverageFrom: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Epochs) != 6 || h.Averaged != 4 || h.BestEpoch != 6 || h.Stopped != "epochs" {
		t.Fatalf("history %+v", h)
	}
	if len(a.set) != 1 || a.set[0] != 4.5 {
		t.Fatalf("averaged weights %v, want [4.5]", a.set)
	}
	if a.restored != nil {
		t.Fatalf("restored a snapshot %v while averaging", a.restored)
	}
	if h.Best.ValLoss != 4.5 || h.Best.ValScore != -4.5 {
		t.Fatalf("best %+v, want the averaged weights' validation loss 4.5", h.Best)
	}
	// A learner without weights, or averaging past the last epoch, is an error.
	if _, err := Fit(context.Background(), &fakeLearner{valLoss: []float64{1}}, w, w, LoopOptions{Epochs: 2, AverageFrom: 1}); err == nil {
		t.Error("averaging a learner without weights accepted")
	}
	if _, err := Fit(context.Background(), a, w, w, LoopOptions{Epochs: 2, AverageFrom: 3}); err == nil {
		t.Error("averaging from epoch 3 of 2 accepted")
	}
}

func TestEvalStepRisk(t *testing.T) {
	for _, c := range []struct {
		name string
		opts EvalOptions
		want float64 // POT risk per step; 0: an error
	}{
		{"smd: one minute", EvalOptions{Dir: "d", Kind: "smd"}, 1e-3},
		{"any folder: one minute", EvalOptions{Dir: "d"}, 1e-3},
		{"asd: five minutes", EvalOptions{Dir: "d", Kind: "asd"}, 5e-3},
		{"15 s step", EvalOptions{Dir: "d", Kind: "asd", Step: 15 * time.Second}, 2.5e-4},
		{"risk per minute given", EvalOptions{Dir: "d", Risk: 2e-4, Step: 10 * time.Minute}, 2e-3},
		{"capped at half the tail", EvalOptions{Dir: "d", Step: time.Hour}, 0.01},
		{"capped with another level", EvalOptions{Dir: "d", Step: time.Hour, Level: 0.9}, 0.05},
		{"negative step", EvalOptions{Dir: "d", Step: -time.Minute}, 0},
		{"negative risk", EvalOptions{Dir: "d", Risk: -1}, 0},
		{"infinite risk", EvalOptions{Dir: "d", Risk: math.Inf(1)}, 0},
		{"NaN level", EvalOptions{Dir: "d", Level: math.NaN()}, 0},
		{"level 1", EvalOptions{Dir: "d", Level: 1}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := c.opts
			err := o.defaults()
			if c.want == 0 {
				if err == nil {
					t.Fatalf("options %+v accepted (risk per step %g)", c.opts, o.StepRisk())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := o.StepRisk(); math.Abs(got-c.want) > 1e-15 {
				t.Fatalf("risk per step %g, want %g", got, c.want)
			}
		})
	}
}
