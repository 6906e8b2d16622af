package explain

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
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

func BenchmarkExplain38Fast(b *testing.B) { benchmarkExplain(b, Fast{}) }

// BenchmarkExplain38FastCover is the daemon's explainer for more than 12
// groups (app: explain.Fast{CoverBackground: true}).
func BenchmarkExplain38FastCover(b *testing.B) { benchmarkExplain(b, Fast{CoverBackground: true}) }

func BenchmarkExplain38Kernel(b *testing.B) {
	benchmarkExplain(b, Kernel{Samples: 512, Rotate: true})
}

func TestBenchSmall(t *testing.T) {
	p, err := NewSyntheticLSTM(8, 12, 8, 7)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Bench(context.Background(), p, BenchOptions{W: 8, F: 12, Cases: 5, ExactCases: 3, ExactGroups: 6, Background: 8})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(res)
	t.Logf("%s", js)
	if res.Groups != 12 || res.MaxEfficiencyError > 1e-6 || res.P99ms < res.P50ms || res.Method != "permutation" {
		t.Errorf("bench: %s", js)
	}
	if res.SpearmanVsExact < 0.8 {
		t.Errorf("spearman vs exact %.3f < 0.8", res.SpearmanVsExact)
	}
	for _, key := range []string{`"groups"`, `"p50_ms"`, `"p99_ms"`, `"max_efficiency_error"`, `"spearman_vs_exact"`} {
		if !strings.Contains(string(js), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
	if _, err := Bench(context.Background(), p, BenchOptions{W: 8, F: 12, ExactGroups: 13}); err == nil {
		t.Error("ExactGroups 13 accepted")
	}
}

// TestBenchFewFeatures: with fewer than 10 features the comparison with
// exact Shapley groups them all (`omen bench explain --features 2`
// failed with "ExactGroups 10 not in [2, min(12, F)]", an option the
// command does not have); one feature is refused, saying why.
func TestBenchFewFeatures(t *testing.T) {
	p, err := NewSyntheticLSTM(8, 2, 8, 7)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Bench(context.Background(), p, BenchOptions{W: 8, F: 2, Cases: 2, ExactCases: 2, Background: 4})
	if err != nil {
		t.Fatalf("Bench with 2 features: %v", err)
	}
	if res.Groups != 2 || res.ExactGroups != 2 {
		t.Errorf("groups %d, exact groups %d; want 2 and 2", res.Groups, res.ExactGroups)
	}
	p1, err := NewSyntheticLSTM(8, 1, 8, 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Bench(context.Background(), p1, BenchOptions{W: 8, F: 1}); err == nil || !strings.Contains(err.Error(), "want at least 2") {
		t.Errorf("Bench with 1 feature: %v, want an error saying at least 2", err)
	}
}
