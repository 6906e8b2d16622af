package model

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestBenchJSON(t *testing.T) {
	res, err := Bench(context.Background(), BenchOptions{Features: 5, Hidden: 8, Window: 4, Batch: 16, Seconds: 0.02, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"peer":"omen"`, `"features":5`, `"hidden":8`, `"window":4`, `"batch":16`, `"threads":1`, `"train_windows_per_s":`, `"infer_windows_per_s":`, `"infer_latency_us":`, `"stream_step_us":`} {
		if !strings.Contains(string(data), k) {
			t.Errorf("bench JSON %s lacks %s", data, k)
		}
	}
	if res.TrainWindowsPerS <= 0 || res.InferWindowsPerS <= 0 || res.InferLatencyUs <= 0 || res.StreamStepUs <= 0 {
		t.Errorf("non-positive figures: %+v", res)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Bench(ctx, BenchOptions{Seconds: 1}); err == nil {
		t.Error("cancelled Bench returned no error")
	}
	if _, err := Bench(context.Background(), BenchOptions{Batch: -1}); err == nil {
		t.Error("Bench with a negative batch returned no error")
	}
}

func benchModel(b *testing.B) *Model {
	names := make([]string, 38)
	for i := range names {
		names[i] = featureNames(38)[i]
	}
	m, err := New(Config{Features: names, Window: 32, Hidden: 64, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func BenchmarkPredict(b *testing.B) {
	for _, n := range []int{1, 256} {
		b.Run(map[int]string{1: "batch1", 256: "batch256"}[n], func(b *testing.B) {
			m := benchModel(b)
			rng := rand.New(rand.NewPCG(1, 1))
			x := randWindows(rng, n, 32, 38, 0)
			prob := make([]float64, n)
			b.ReportAllocs()
			for b.Loop() {
				if err := m.Predict(x, n, prob); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "windows/s")
		})
	}
}

func BenchmarkTrainStep(b *testing.B) {
	for _, engine := range []string{EngineFast, EngineGorgonia} {
		b.Run(engine, func(b *testing.B) {
			m := benchModel(b)
			tr, err := NewTrainer(m, TrainOptions{Engine: engine})
			if err != nil {
				b.Fatal(err)
			}
			const n = 256
			rng := rand.New(rand.NewPCG(1, 1))
			x := randWindows(rng, n, 32, 38, 0)
			next := randWindows(rng, n, 1, 38, 0)
			label := make([]float32, n)
			for i := range label {
				if i%10 == 0 {
					label[i] = 1
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := tr.Step(x, next, label, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "windows/s")
		})
	}
}

func BenchmarkPredictGorgonia(b *testing.B) {
	m := benchModel(b)
	const n = 256
	rng := rand.New(rand.NewPCG(1, 1))
	x := randWindows(rng, n, 32, 38, 0)
	prob := make([]float64, n)
	for b.Loop() {
		if err := m.GorgoniaForecast(x, n, prob, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "windows/s")
}

func BenchmarkStreamStep(b *testing.B) {
	m := benchModel(b)
	st := m.NewState()
	rng := rand.New(rand.NewPCG(1, 1))
	x := randWindows(rng, 1, 64, 38, 0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Step(st, x[i*38:(i+1)*38])
		i = (i + 1) % 64
	}
}

func BenchmarkStreamStepBatch(b *testing.B) {
	m := benchModel(b)
	const k = 480
	states := make([]*State, k)
	for i := range states {
		states[i] = m.NewState()
	}
	rng := rand.New(rand.NewPCG(1, 1))
	x := randWindows(rng, k, 1, 38, 0)
	prob := make([]float64, k)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.StepBatch(states, x, prob); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k), "ns/entity-step")
}
