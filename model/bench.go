package model

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// BenchOptions configures Bench. Zero values take the defaults of
// /work/shared/peers/lstm_torch.py.
type BenchOptions struct {
	Features int     // F, default 38
	Hidden   int     // H, default 64
	Window   int     // W, default 32
	Batch    int     // B, default 256
	Seconds  float64 // time budget per measurement, default 3
	Threads  int     // goroutines for batch work, default 2
}

// BenchResult marshals to the same JSON fields as the PyTorch peer, plus
// stream_step_us.
type BenchResult struct {
	Peer             string  `json:"peer"`
	Threads          int     `json:"threads"`
	Features         int     `json:"features"`
	Hidden           int     `json:"hidden"`
	Window           int     `json:"window"`
	Batch            int     `json:"batch"`
	TrainWindowsPerS float64 `json:"train_windows_per_s"`
	InferWindowsPerS float64 `json:"infer_windows_per_s"`
	InferLatencyUs   float64 `json:"infer_latency_us"`
	StreamStepUs     float64 `json:"stream_step_us"`
}

// Bench measures the forecaster exactly like the PyTorch peer: one LSTM
// layer F→H over W steps, both heads, loss MSE+BCE, Adam lr 1e-3, float32,
// uniform random data; training windows/s at batch B (fast engine),
// inference windows/s at batch B (Forecast: both heads), latency at batch 1,
// and the streaming step per entity. Each measurement runs 3 warm-up calls
// and then for opts.Seconds. ctx cancels between calls.
func Bench(ctx context.Context, opts BenchOptions) (BenchResult, error) {
	if opts.Features == 0 {
		opts.Features = 38
	}
	if opts.Hidden == 0 {
		opts.Hidden = 64
	}
	if opts.Window == 0 {
		opts.Window = 32
	}
	if opts.Batch == 0 {
		opts.Batch = 256
	}
	if opts.Seconds == 0 {
		opts.Seconds = 3
	}
	if opts.Threads == 0 {
		opts.Threads = 2
	}
	if opts.Features < 1 || opts.Hidden < 1 || opts.Window < 1 || opts.Batch < 1 || opts.Threads < 1 || !(opts.Seconds > 0) {
		return BenchResult{}, fmt.Errorf("bench options %+v: sizes, threads and seconds must be positive", opts)
	}
	f, h, w, b := opts.Features, opts.Hidden, opts.Window, opts.Batch
	names := make([]string, f)
	for i := range names {
		names[i] = fmt.Sprintf("f%d", i)
	}
	m, err := New(Config{Features: names, Window: w, Hidden: h, Layers: 1, Seed: 1})
	if err != nil {
		return BenchResult{}, err
	}
	m.SetParallelism(opts.Threads)
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, b*w*f)
	for i := range x {
		x[i] = rng.Float32()
	}
	next := make([]float32, b*f)
	for i := range next {
		next[i] = rng.Float32()
	}
	label := make([]float32, b)
	for i := range label {
		if rng.Float32() > 0.9 {
			label[i] = 1
		}
	}
	tr, err := NewTrainer(m, TrainOptions{})
	if err != nil {
		return BenchResult{}, err
	}
	budget := time.Duration(opts.Seconds * float64(time.Second))
	timed := func(fn func() error, perCall int) (float64, error) {
		for range 3 {
			if err := fn(); err != nil {
				return 0, err
			}
		}
		start := time.Now()
		n := 0
		for time.Since(start) < budget {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			if err := fn(); err != nil {
				return 0, err
			}
			n++
		}
		return float64(perCall*n) / time.Since(start).Seconds(), nil
	}
	res := BenchResult{Peer: "omen", Threads: opts.Threads, Features: f, Hidden: h, Window: w, Batch: b}
	if res.TrainWindowsPerS, err = timed(func() error {
		_, _, _, err := tr.Step(x, next, label, b)
		return err
	}, b); err != nil {
		return res, fmt.Errorf("bench training: %w", err)
	}
	prob := make([]float64, b)
	fc := make([]float32, b*f)
	if res.InferWindowsPerS, err = timed(func() error { return m.Forecast(x, b, prob, fc) }, b); err != nil {
		return res, fmt.Errorf("bench inference: %w", err)
	}
	x1 := x[:w*f]
	one, err := timed(func() error { return m.Forecast(x1, 1, prob[:1], fc[:f]) }, 1)
	if err != nil {
		return res, fmt.Errorf("bench latency: %w", err)
	}
	res.InferLatencyUs = 1e6 / one
	st := m.NewState()
	steps := min(256, b*w)
	xs := x[:steps*f]
	sps, err := timed(func() error {
		for i := range steps {
			m.Step(st, xs[i*f:(i+1)*f])
		}
		return nil
	}, steps)
	if err != nil {
		return res, fmt.Errorf("bench streaming: %w", err)
	}
	res.StreamStepUs = 1e6 / sps
	return res, nil
}
