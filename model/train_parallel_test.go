package model

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTrainIndependentOfParallelism trains copies of one model on the same
// batches with dropout and the same seed, each with another parallelism,
// and requires identical losses and weights bit for bit: a batch of more
// windows than a chunk is split over the workers, and summing the workers'
// gradients made the result depend on how many there were (GOMAXPROCS by
// default, which can differ between machines and change with a container's
// CPU limit). Run twice per setting, it also checks that a seed repeats.
func TestTrainIndependentOfParallelism(t *testing.T) {
	const f, h, w, n, steps = 5, 8, 6, 5*trainChunk + 17, 3
	rng := rand.New(rand.NewPCG(4, 2))
	x, next, label := randBatch(rng, n, w, f)
	base := testModel(t, f, h, w, 2, 0.2, 21)
	data, err := base.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	train := func(t *testing.T, threads int) ([]float64, []float32) {
		t.Helper()
		m, err := Unmarshal(data)
		if err != nil {
			t.Fatal(err)
		}
		m.SetParallelism(threads)
		tr, err := NewTrainer(m, TrainOptions{Seed: 5, ClipNorm: 1})
		if err != nil {
			t.Fatal(err)
		}
		var losses []float64
		for range steps {
			loss, _, _, err := tr.Step(x, next, label, n)
			if err != nil {
				t.Fatal(err)
			}
			losses = append(losses, loss)
		}
		loss, _, _, err := tr.Loss(x, next, label, n)
		if err != nil {
			t.Fatal(err)
		}
		return append(losses, loss), m.Weights()
	}
	wantLoss, wantW := train(t, 1)
	for _, threads := range []int{1, 2, 3, 4, 7} {
		for run := range 2 {
			gotLoss, gotW := train(t, threads)
			if !slices.Equal(gotLoss, wantLoss) {
				t.Errorf("parallelism %d, run %d: losses %v, with 1 %v", threads, run, gotLoss, wantLoss)
			}
			if !slices.Equal(gotW, wantW) {
				d := 0
				for i := range gotW {
					if gotW[i] != wantW[i] {
						d++
					}
				}
				t.Errorf("parallelism %d, run %d: %d of %d weights differ from those with parallelism 1", threads, run, d, len(gotW))
			}
		}
	}
}
