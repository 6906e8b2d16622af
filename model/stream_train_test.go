package model

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
)

func TestStreamingMatchesWindowed(t *testing.T) {
	cases := []struct {
		name            string
		f, h, w, layers int
	}{
		{"one layer", 5, 8, 12, 1},
		{"two layers", 4, 6, 9, 2},
		{"bench shape", 38, 64, 32, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := testModel(t, tc.f, tc.h, tc.w, tc.layers, 0.2, 3)
			rng := rand.New(rand.NewPCG(5, 5))
			const n = 3
			x := randWindows(rng, n, tc.w, tc.f, 0.05)
			prob := make([]float64, n)
			fc := make([]float32, n*tc.f)
			if err := m.Forecast(x, n, prob, fc); err != nil {
				t.Fatal(err)
			}
			st := m.NewState()
			for i := range n {
				st.Reset()
				var p float64
				for s := range tc.w {
					p = m.Step(st, x[(i*tc.w+s)*tc.f:(i*tc.w+s+1)*tc.f])
				}
				if st.Steps() != tc.w || p != st.Prob() {
					t.Fatalf("steps %d prob %v/%v", st.Steps(), p, st.Prob())
				}
				if d := math.Abs(p - prob[i]); d > 1e-6 {
					t.Errorf("window %d: streaming prob %.8f, windowed %.8f", i, p, prob[i])
				}
				for j, v := range st.Forecast() {
					if d := math.Abs(float64(v-fc[i*tc.f+j]) / float64(m.std[j])); d > 1e-5 {
						t.Errorf("window %d feature %d: streaming forecast %v, windowed %v", i, j, v, fc[i*tc.f+j])
					}
				}
			}
		})
	}
}

func TestStreamStepDoesNotAllocate(t *testing.T) {
	m := testModel(t, 38, 64, 32, 2, 0, 1)
	st := m.NewState()
	x := make([]float32, 38)
	if a := testing.AllocsPerRun(100, func() { m.Step(st, x) }); a != 0 {
		t.Errorf("Step allocates %v times per call", a)
	}
	if p := m.Step(st, x[:3]); !math.IsNaN(p) {
		t.Errorf("Step with a short vector returned %v, want NaN", p)
	}
	other := testModel(t, 38, 32, 32, 1, 0, 1).NewState()
	if p := m.Step(other, x); !math.IsNaN(p) {
		t.Errorf("Step with a foreign state returned %v, want NaN", p)
	}
	if p := m.Step(nil, x); !math.IsNaN(p) {
		t.Errorf("Step with a nil state returned %v, want NaN", p)
	}
}

// plantedSet builds windows of F features of noise where positives have a
// ramp in feature 0 over the last k steps.
func plantedSet(rng *rand.Rand, n, w, f int) (x, next, label []float32) {
	const k = 6
	x = make([]float32, n*w*f)
	next = make([]float32, n*f)
	label = make([]float32, n)
	for i := range n {
		pos := rng.Float64() < 0.3
		if pos {
			label[i] = 1
		}
		for t := range w {
			for j := range f {
				v := float32(rng.NormFloat64())
				if j == 0 && pos && t >= w-k {
					v += float32(t-(w-k)+1) * 0.8
				}
				x[(i*w+t)*f+j] = v
			}
		}
		for j := range f {
			next[i*f+j] = float32(rng.NormFloat64())
		}
	}
	return x, next, label
}

func auc(score []float64, label []float32) float64 {
	idx := make([]int, len(score))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return score[idx[a]] < score[idx[b]] })
	var rankSum, npos, nneg float64
	for r, i := range idx {
		if label[i] == 1 {
			rankSum += float64(r + 1)
			npos++
		} else {
			nneg++
		}
	}
	return (rankSum - npos*(npos+1)/2) / (npos * nneg)
}

func TestTrainingLearnsPlantedPrecursor(t *testing.T) {
	for _, engine := range []string{EngineFast, EngineGorgonia} {
		t.Run(engine, func(t *testing.T) {
			const f, w = 4, 16
			m, err := New(Config{Features: featureNames(f), Window: w, Hidden: 16, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(42, 42))
			trainX, trainNext, trainLab := plantedSet(rng, 512, w, f)
			testX, _, testLab := plantedSet(rng, 300, w, f)
			if err := m.FitNormalization(trainX, 512); err != nil {
				t.Fatal(err)
			}
			tr, err := NewTrainer(m, TrainOptions{LearningRate: 1e-2, PosWeight: 2, ForecastWeight: 0.5, ClipNorm: 5, Engine: engine, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			const bs = 64
			steps := 120
			if engine == EngineGorgonia {
				steps = 60
			}
			var first, last float64
			for s := range steps {
				i := s % (512 / bs)
				loss, _, _, err := tr.Step(trainX[i*bs*w*f:(i+1)*bs*w*f], trainNext[i*bs*f:(i+1)*bs*f], trainLab[i*bs:(i+1)*bs], bs)
				if err != nil {
					t.Fatal(err)
				}
				if s == 0 {
					first = loss
				}
				last = loss
			}
			prob := make([]float64, 300)
			if err := m.Predict(testX, 300, prob); err != nil {
				t.Fatal(err)
			}
			a := auc(prob, testLab)
			t.Logf("%s: loss %.4f → %.4f, held-out AUC %.4f", engine, first, last, a)
			if a <= 0.95 {
				t.Errorf("held-out AUC %.4f, want > 0.95", a)
			}
		})
	}
}

func TestBadShapes(t *testing.T) {
	m := testModel(t, 3, 4, 5, 1, 0, 1)
	tr, err := NewTrainer(m, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 2*5*3)
	nan := float32(math.NaN())
	tests := []struct {
		name string
		call func() error
	}{
		{"predict short x", func() error { return m.Predict(x[:7], 2, make([]float64, 2)) }},
		{"predict negative n", func() error { return m.Predict(x, -1, make([]float64, 2)) }},
		{"predict short prob", func() error { return m.Predict(x, 2, make([]float64, 1)) }},
		{"forecast nil outputs", func() error { return m.Forecast(x, 2, nil, nil) }},
		{"forecast short forecast", func() error { return m.Forecast(x, 2, nil, make([]float32, 5)) }},
		{"anomaly short next", func() error { return m.AnomalyScores(x, make([]float32, 5), 2, make([]float64, 2), nil) }},
		{"anomaly short score", func() error { return m.AnomalyScores(x, make([]float32, 6), 2, nil, nil) }},
		{"anomaly short per-feature", func() error {
			return m.AnomalyScores(x, make([]float32, 6), 2, make([]float64, 2), make([]float32, 1))
		}},
		{"train short next", func() error { _, _, _, err := tr.Step(x, make([]float32, 5), make([]float32, 2), 2); return err }},
		{"train short label", func() error { _, _, _, err := tr.Step(x, make([]float32, 6), make([]float32, 1), 2); return err }},
		{"train label out of range", func() error { _, _, _, err := tr.Step(x, make([]float32, 6), []float32{2, 0}, 2); return err }},
		{"train empty", func() error { _, _, _, err := tr.Step(nil, nil, nil, 0); return err }},
		{"loss wrong x", func() error { _, _, _, err := tr.Loss(x[:3], make([]float32, 6), []float32{nan, 0}, 2); return err }},
		{"normalization length", func() error { return m.SetNormalization([]float32{0}, []float32{1}) }},
		{"normalization zero std", func() error { return m.SetNormalization([]float32{0, 0, 0}, []float32{1, 0, 1}) }},
		{"normalization NaN mean", func() error { return m.SetNormalization([]float32{0, nan, 0}, []float32{1, 1, 1}) }},
		{"fit normalization short", func() error { return m.FitNormalization(x[:4], 2) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err == nil {
				t.Error("no error")
			}
		})
	}
	configs := []Config{
		{},
		{Features: []string{"a", "a"}},
		{Features: []string{""}},
		{Features: []string{"a"}, Window: -1},
		{Features: []string{"a"}, Hidden: maxHidden + 1},
		{Features: []string{"a"}, Layers: maxLayers + 1},
		{Features: []string{"a"}, Dropout: 1},
		{Features: []string{"a"}, Dropout: math.NaN()},
	}
	for _, c := range configs {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v): no error", c)
		}
	}
	for _, o := range []TrainOptions{
		{LearningRate: -1}, {Engine: "torch"}, {PosWeight: math.Inf(1)}, {ClipNorm: -1},
		{Loss: "l1"}, {Loss: LossHuber, HuberDelta: -1}, {Loss: LossHuber, HuberDelta: math.Inf(1)},
		{Loss: LossHuber, HuberDelta: math.NaN()}, {HuberDelta: 1},
	} {
		if _, err := NewTrainer(m, o); err == nil {
			t.Errorf("NewTrainer(%+v): no error", o)
		}
	}
	if _, err := NewTrainer(nil, TrainOptions{}); err == nil {
		t.Error("NewTrainer(nil): no error")
	}
}

func TestMaskedTargetsAndAnomalyScores(t *testing.T) {
	m := testModel(t, 3, 4, 5, 1, 0, 2)
	rng := rand.New(rand.NewPCG(8, 8))
	x := randWindows(rng, 4, 5, 3, 0)
	fc := make([]float32, 12)
	if err := m.Forecast(x, 4, nil, fc); err != nil {
		t.Fatal(err)
	}
	// The forecast itself as the next step scores 0; a shifted feature
	// scores its squared normalised shift.
	next := append([]float32(nil), fc...)
	nan := float32(math.NaN())
	next[1] += 2 * m.std[1]
	next[5] = nan
	score := make([]float64, 4)
	per := make([]float32, 12)
	if err := m.AnomalyScores(x, next, 4, score, per); err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(per[1])-4) > 1e-3 || math.Abs(score[0]-4.0/3) > 1e-3 {
		t.Errorf("shifted feature: per-feature %v, score %v; want 4 and 4/3", per[1], score[0])
	}
	if per[5] != 0 || score[1] > 1e-9 || score[2] > 1e-9 {
		t.Errorf("masked/unchanged: per[5] %v, scores %v", per[5], score)
	}
	tr, err := NewTrainer(m, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	allNaN := []float32{nan, nan, nan, nan}
	nextNaN := make([]float32, 12)
	for i := range nextNaN {
		nextNaN[i] = nan
	}
	loss, fl, bl, err := tr.Loss(x, nextNaN, allNaN, 4)
	if err != nil || loss != 0 || fl != 0 || bl != 0 {
		t.Errorf("fully masked loss = %v %v %v, %v; want zeros", loss, fl, bl, err)
	}
}

func TestConcurrentPredict(t *testing.T) {
	m := testModel(t, 6, 8, 10, 2, 0, 4)
	rng := rand.New(rand.NewPCG(2, 3))
	const n = 100
	x := randWindows(rng, n, 10, 6, 0.02)
	want := make([]float64, n)
	m.SetParallelism(1)
	if err := m.Predict(x, n, want); err != nil {
		t.Fatal(err)
	}
	m.SetParallelism(3)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			got := make([]float64, n)
			for range 5 {
				if err := m.Predict(x, n, got); err != nil {
					t.Error(err)
					return
				}
				for i := range got {
					if got[i] != want[i] {
						t.Errorf("goroutine %d window %d: %v, want %v", g, i, got[i], want[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestEnginesAgree(t *testing.T) {
	for _, tc := range []struct {
		name  string
		loss  string
		delta float64
	}{
		{"mse", LossMSE, 0},
		{"huber", LossHuber, 0.3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enginesAgree(t, TrainOptions{PosWeight: 2, ForecastWeight: 0.5, Seed: 4, Loss: tc.loss, HuberDelta: tc.delta})
		})
	}
}

// enginesAgree trains the same model with the fast and the gorgonia
// engine and opts, and compares losses and weights.
func enginesAgree(t *testing.T, opts TrainOptions) {
	t.Helper()
	const f, h, w, layers, n = 4, 5, 6, 2, 8
	fast := testModel(t, f, h, w, layers, 0.3, 9)
	ref := testModel(t, f, h, w, layers, 0.3, 9)
	tf, err := NewTrainer(fast, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Engine = EngineGorgonia
	tg, err := NewTrainer(ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(6, 6))
	for step := range 4 {
		n := n + step%2 // the gorgonia engine rebuilds its graph for a new batch size
		x, next, label := randBatch(rng, n, w, f)
		l1, m1, b1, err := tf.Step(x, next, label, n)
		if err != nil {
			t.Fatal(err)
		}
		l2, m2, b2, err := tg.Step(x, next, label, n)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(l1-l2) > 1e-4 || math.Abs(m1-m2) > 1e-4 || math.Abs(b1-b2) > 1e-4 {
			t.Errorf("step %d: fast loss %v (%v, %v), gorgonia %v (%v, %v)", step, l1, m1, b1, l2, m2, b2)
		}
		e1, _, _, err := tf.Loss(x, next, label, n)
		if err != nil {
			t.Fatal(err)
		}
		e2, _, _, err := tg.Loss(x, next, label, n)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(e1-e2) > 1e-4 {
			t.Errorf("step %d: evaluation loss fast %v, gorgonia %v", step, e1, e2)
		}
	}
	var maxd float64
	for i := range fast.w {
		maxd = math.Max(maxd, math.Abs(float64(fast.w[i]-ref.w[i])))
	}
	// Adam moves every weight by about lr per step; the engines must agree
	// far more closely than that.
	if maxd > 1e-4 {
		t.Errorf("weights differ by up to %v after 4 steps", maxd)
	}
	t.Logf("max weight difference after 4 Adam steps: %.3g", maxd)
}

func TestMissingInputsAreTheMean(t *testing.T) {
	m := testModel(t, 3, 4, 5, 1, 0, 12)
	mean, _ := m.Normalization()
	x := make([]float32, 5*3)
	filled := make([]float32, 5*3)
	for i := range x {
		switch i % 4 {
		case 0:
			x[i] = float32(math.NaN())
		case 1:
			x[i] = float32(math.Inf(1))
		case 2:
			x[i] = float32(math.Inf(-1))
		default:
			x[i] = float32(i)
		}
		filled[i] = x[i]
		if i%4 != 3 {
			filled[i] = mean[i%3]
		}
	}
	p := make([]float64, 2)
	if err := m.Predict(append(x, filled...), 2, p); err != nil {
		t.Fatal(err)
	}
	if math.IsNaN(p[0]) || math.Abs(p[0]-p[1]) > 1e-7 {
		t.Errorf("missing inputs give %v, the means give %v", p[0], p[1])
	}
	st := m.NewState()
	var ps float64
	for s := range 5 {
		ps = m.Step(st, x[s*3:(s+1)*3])
	}
	if math.Abs(ps-p[1]) > 1e-6 {
		t.Errorf("streaming with missing inputs gives %v, want %v", ps, p[1])
	}
}

func TestStepBatchMatchesStep(t *testing.T) {
	for _, layers := range []int{1, 2} {
		m := testModel(t, 5, 8, 6, layers, 0, 13)
		rng := rand.New(rand.NewPCG(4, 4))
		const k = 53 // more than one chunk
		single := make([]*State, k)
		batched := make([]*State, k)
		for i := range k {
			single[i], batched[i] = m.NewState(), m.NewState()
		}
		prob := make([]float64, k)
		for step := range 7 {
			x := randWindows(rng, k, 1, 5, 0.05)
			if err := m.StepBatch(batched, x, prob); err != nil {
				t.Fatal(err)
			}
			for i := range k {
				want := m.Step(single[i], x[i*5:(i+1)*5])
				if math.Abs(prob[i]-want) > 1e-6 || batched[i].Prob() != prob[i] || batched[i].Steps() != step+1 {
					t.Fatalf("layers %d step %d entity %d: batch %v (state %v), single %v", layers, step, i, prob[i], batched[i].Prob(), want)
				}
				for j, v := range batched[i].Forecast() {
					if d := math.Abs(float64(v - single[i].Forecast()[j])); d > 1e-5 {
						t.Fatalf("forecast differs by %v", d)
					}
				}
			}
		}
	}
	m := testModel(t, 5, 8, 6, 1, 0, 13)
	other := testModel(t, 5, 4, 6, 1, 0, 13)
	if err := m.StepBatch([]*State{m.NewState()}, make([]float32, 4), make([]float64, 1)); err == nil {
		t.Error("short x: no error")
	}
	if err := m.StepBatch([]*State{other.NewState()}, make([]float32, 5), make([]float64, 1)); err == nil {
		t.Error("foreign state: no error")
	}
	if err := m.StepBatch([]*State{nil}, make([]float32, 5), make([]float64, 1)); err == nil {
		t.Error("nil state: no error")
	}
	if err := m.StepBatch([]*State{m.NewState()}, make([]float32, 5), nil); err == nil {
		t.Error("short prob: no error")
	}
}

func TestChunkingDoesNotChangeResults(t *testing.T) {
	big, err := New(Config{Features: []string{"a", "b"}, Window: 4096, Hidden: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if big.ichunk != 1 || big.chunkFor(trainChunk) != 1 {
		t.Errorf("W=4096 H=1024: chunks %d/%d, want 1 to bound scratch memory", big.ichunk, big.chunkFor(trainChunk))
	}
	m := testModel(t, 4, 6, 5, 2, 0, 17)
	rng := rand.New(rand.NewPCG(9, 1))
	const n = 11
	x := randWindows(rng, n, 5, 4, 0.05)
	want := make([]float64, n)
	if err := m.Predict(x, n, want); err != nil {
		t.Fatal(err)
	}
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	m2.ichunk = 3
	m2.pool.init(m2)
	got := make([]float64, n)
	if err := m2.Predict(x, n, got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-7 {
			t.Errorf("window %d: chunk 3 gives %v, chunk %d gives %v", i, got[i], m.ichunk, want[i])
		}
	}
}
