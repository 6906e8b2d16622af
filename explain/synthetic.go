package explain

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// SyntheticLSTM is a randomly initialised single-layer LSTM with a sigmoid
// read-out of the last hidden state: a stand-in predictor with the cost and
// the nonlinear, interacting behaviour of the real forecaster, for tests and
// benchmarks. It is safe for concurrent use.
type SyntheticLSTM struct {
	w, f, h int
	wt      []float32 // 4h × (f+h), gates i, f, g, o
	b       []float32 // 4h
	out     []float32 // h
	outB    float32
}

// NewSyntheticLSTM returns an LSTM for W×F windows with hidden size h and
// weights drawn from seed.
func NewSyntheticLSTM(w, f, h int, seed int64) (*SyntheticLSTM, error) {
	if w <= 0 || f <= 0 || h <= 0 {
		return nil, fmt.Errorf("explain: synthetic lstm %d×%d hidden %d: sizes must be positive", w, f, h)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6c73746d))
	s := &SyntheticLSTM{w: w, f: f, h: h,
		wt: make([]float32, 4*h*(f+h)), b: make([]float32, 4*h), out: make([]float32, h)}
	scale := 1.5 / math.Sqrt(float64(f+h))
	for i := range s.wt {
		s.wt[i] = float32(rng.NormFloat64() * scale)
	}
	for i := range s.b {
		s.b[i] = float32(rng.NormFloat64() * 0.1)
	}
	for i := h; i < 2*h; i++ { // forget-gate bias
		s.b[i] += 1
	}
	for i := range s.out {
		s.out[i] = float32(rng.NormFloat64() * 3 / math.Sqrt(float64(h)))
	}
	s.outB = -1
	return s, nil
}

// Predict implements [Predictor].
func (s *SyntheticLSTM) Predict(x []float32, n int, out []float64) error {
	size := s.w * s.f
	if len(x) != n*size || len(out) < n {
		return fmt.Errorf("synthetic lstm: %d values and %d outputs for %d windows of %d", len(x), len(out), n, size)
	}
	h, f := s.h, s.f
	in := make([]float32, f+h)
	c := make([]float32, h)
	g := make([]float32, 4*h)
	for k := 0; k < n; k++ {
		win := x[k*size : (k+1)*size]
		clear(in[f:])
		clear(c)
		for t := 0; t < s.w; t++ {
			copy(in[:f], win[t*f:(t+1)*f])
			for r := 0; r < 4*h; r++ {
				row := s.wt[r*(f+h) : (r+1)*(f+h)]
				acc := s.b[r]
				for j, v := range in {
					acc += row[j] * v
				}
				g[r] = acc
			}
			for j := 0; j < h; j++ {
				ig := sigm(g[j])
				fg := sigm(g[h+j])
				gg := float32(math.Tanh(float64(g[2*h+j])))
				og := sigm(g[3*h+j])
				c[j] = fg*c[j] + ig*gg
				in[f+j] = og * float32(math.Tanh(float64(c[j])))
			}
		}
		acc := s.outB
		for j := 0; j < h; j++ {
			acc += s.out[j] * in[f+j]
		}
		out[k] = float64(sigm(acc))
	}
	return nil
}

func sigm(v float32) float32 { return float32(1 / (1 + math.Exp(-float64(v)))) }
