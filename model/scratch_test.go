package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// A model with many features and a long window but a tiny hidden size: the
// chunk budget counted only the gate buffers (W·chunk·4H), not the input
// (W·chunk·F), and the scratch was sized for a full chunk whatever n, so
// Predict of one window of this 39 KB model allocated 202 MB. Now the input
// counts towards the budget and the scratch holds min(n, chunk) windows; a
// batch spanning several (smaller) chunks still matches window-by-window
// prediction.
func TestPredictScratchBounded(t *testing.T) {
	const f, w = 1024, 1024
	names := make([]string, f)
	for i := range names {
		names[i] = fmt.Sprintf("f%d", i)
	}
	m, err := New(Config{Features: names, Window: w, Hidden: 1})
	if err != nil {
		t.Fatal(err)
	}
	m.SetParallelism(1)
	if m.ichunk*w*f > chunkBudget {
		t.Fatalf("chunk of %d windows holds %d input floats, over the budget %d", m.ichunk, m.ichunk*w*f, chunkBudget)
	}
	const n = 9 // more than one chunk
	r := rand.New(rand.NewPCG(8, 9))
	x := make([]float32, n*w*f)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	p := make([]float64, n)
	var a, c runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	if err := m.Predict(x[:w*f], 1, p); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&c)
	in := uint64(4 * w * f)
	if got := c.TotalAlloc - a.TotalAlloc; got > 2*in {
		t.Errorf("Predict of one %d-byte window allocated %d bytes", in, got)
	}
	if err := m.Predict(x, n, p); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		q := make([]float64, 1)
		if err := m.Predict(x[i*w*f:(i+1)*w*f], 1, q); err != nil {
			t.Fatal(err)
		}
		if math.Abs(q[0]-p[i]) > 1e-6 {
			t.Errorf("window %d: batch %v, alone %v", i, p[i], q[0])
		}
	}
}
