package training

import (
	"bytes"
	"context"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"
	"time"
)

// TestTrainReproducible trains the same ensemble from the same seed and
// data under several GOMAXPROCS values and requires the same model file
// and training history bit for bit (but for the creation time): issue 3's
// "fixed seeds". The batches hold several chunks, so that the gradients
// are summed over workers, whose number followed GOMAXPROCS.
func TestTrainReproducible(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	r := rand.New(rand.NewPCG(3, 9))
	src := memSource{rampSeries(r, "x", 900), rampSeries(r, "y", 900), rampSeries(r, "z", 900)}
	train := func(procs int) ([]byte, TrainReport) {
		t.Helper()
		runtime.GOMAXPROCS(procs)
		m, rep, err := Train(context.Background(), TrainOptions{Source: src, Window: 8, Horizon: 4, Hidden: 8, Layers: 2, Dropout: 0.1,
			Epochs: 2, BatchSize: 200, Members: 2, LearningRate: 1e-2, Seed: 4, Version: "r"})
		if err != nil {
			t.Fatal(err)
		}
		mt := m.Meta()
		mt.CreatedAt = time.Time{}
		m.SetMeta(mt)
		data, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return data, rep
	}
	want, wantRep := train(1)
	for _, procs := range []int{1, 2, 3, 4} {
		got, rep := train(procs)
		if !bytes.Equal(got, want) {
			t.Errorf("GOMAXPROCS %d: another model file than with GOMAXPROCS 1", procs)
		}
		if got, want := losses(rep.History), losses(wantRep.History); !reflect.DeepEqual(got, want) {
			t.Errorf("GOMAXPROCS %d: epochs %v, with GOMAXPROCS 1 %v", procs, got, want)
		}
	}
}

// losses is h without its timings.
func losses(h History) []EpochStats {
	var out []EpochStats
	for _, e := range append(h.Epochs, h.Best) {
		e.WindowsPerS, e.DurationSecs = 0, 0
		out = append(out, e)
	}
	return out
}
