package explain

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

func benchPredictor(tb testing.TB) *SyntheticLSTM {
	tb.Helper()
	p, err := NewSyntheticLSTM(32, 38, 32, 7)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func BenchmarkSyntheticLSTMPredict(b *testing.B) {
	p := benchPredictor(b)
	rng := rand.New(rand.NewPCG(1, 2))
	x, _ := benchCase(rng, 32, 38, 0)
	out := make([]float64, 1)
	for b.Loop() {
		if err := p.Predict(x, 1, out); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkExplain(b *testing.B, e Explainer) {
	p := benchPredictor(b)
	rng := rand.New(rand.NewPCG(1, 2))
	x, bg := benchCase(rng, 32, 38, 16)
	groups, err := GroupsByMetric(32, 38, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := e.Explain(ctx, p, x, bg, groups); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExplain38Fast(b *testing.B) { benchmarkExplain(b, FastExplainer()) }

func BenchmarkExplain38Permutation(b *testing.B) {
	benchmarkExplain(b, Permutation{Permutations: 6, MaxBackground: 4})
}

func TestBenchSmall(t *testing.T) {
	p := benchPredictor(t)
	res, err := Bench(context.Background(), p, BenchOptions{Cases: 5, ExactCases: 3})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(res)
	t.Logf("%s", js)
	if res.Groups != 38 || res.MaxEfficiencyError > 1e-6 {
		t.Errorf("bench: %s", js)
	}
	if res.SpearmanVsExact < 0.9 {
		t.Errorf("spearman vs exact %.3f < 0.9", res.SpearmanVsExact)
	}
}
