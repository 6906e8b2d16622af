package linalg

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refCell is the float64 LSTM cell on pre-activations pre (4H, order
// i f g o) and previous cell state cp; it returns c and h.
func refCell(pre, cp []float64, hidden int) (c, h []float64) {
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	c, h = make([]float64, hidden), make([]float64, hidden)
	for j := range hidden {
		i, f := sig(pre[j]), sig(pre[hidden+j])
		g, o := math.Tanh(pre[2*hidden+j]), sig(pre[3*hidden+j])
		c[j] = f*cp[j] + i*g
		h[j] = o * math.Tanh(c[j])
	}
	return c, h
}

func TestLSTMCell(t *testing.T) {
	const batch = 3
	for _, tc := range []struct {
		hidden    int
		zeroState bool
	}{{13, false}, {13, true}, {16, false}, {16, true}, {24, false}} {
		hidden, zeroState := tc.hidden, tc.zeroState
		withAsm(t, func(t *testing.T) {
			r := rand.New(rand.NewPCG(11, 12))
			pre := randSlice(r, batch*4*hidden)
			for i := range pre {
				pre[i] *= 3
			}
			var cPrev []float32
			if !zeroState {
				cPrev = randSlice(r, batch*hidden)
			}
			cpAt := func(k int) float64 {
				if cPrev == nil {
					return 0
				}
				return float64(cPrev[k])
			}
			gates := append([]float32(nil), pre...)
			c, h, tc := make([]float32, batch*hidden), make([]float32, batch*hidden), make([]float32, batch*hidden)
			LSTMCellForward(gates, cPrev, c, h, tc, batch, hidden)

			// Loss L = Σ wh⊙h + Σ wc⊙c, so dL/dh = wh and dL/dc (from
			// the future) = wc.
			wh, wc := randSlice(r, batch*hidden), randSlice(r, batch*hidden)
			dGates := make([]float32, batch*4*hidden)
			dc := append([]float32(nil), wc...)
			LSTMCellBackward(dGates, gates, cPrev, tc, wh, dc, batch, hidden)

			for b := range batch {
				p64 := make([]float64, 4*hidden)
				for k := range p64 {
					p64[k] = float64(pre[b*4*hidden+k])
				}
				cp64 := make([]float64, hidden)
				for k := range cp64 {
					cp64[k] = cpAt(b*hidden + k)
				}
				loss := func(p, cp []float64) float64 {
					c, h := refCell(p, cp, hidden)
					var l float64
					for j := range hidden {
						l += float64(wh[b*hidden+j])*h[j] + float64(wc[b*hidden+j])*c[j]
					}
					return l
				}
				c64, h64 := refCell(p64, cp64, hidden)
				for j := range hidden {
					if d := math.Abs(float64(c[b*hidden+j]) - c64[j]); d > 1e-6 {
						t.Errorf("c[%d,%d] = %v, want %v", b, j, c[b*hidden+j], c64[j])
					}
					if d := math.Abs(float64(h[b*hidden+j]) - h64[j]); d > 1e-6 {
						t.Errorf("h[%d,%d] = %v, want %v", b, j, h[b*hidden+j], h64[j])
					}
				}
				const eps = 1e-6
				for k := range p64 {
					save := p64[k]
					p64[k] = save + eps
					lp := loss(p64, cp64)
					p64[k] = save - eps
					lm := loss(p64, cp64)
					p64[k] = save
					want := (lp - lm) / (2 * eps)
					if got := float64(dGates[b*4*hidden+k]); math.Abs(got-want) > 1e-4 {
						t.Errorf("dGates[%d,%d] = %v, want %v", b, k, got, want)
					}
				}
				for k := range cp64 {
					save := cp64[k]
					cp64[k] = save + eps
					lp := loss(p64, cp64)
					cp64[k] = save - eps
					lm := loss(p64, cp64)
					cp64[k] = save
					want := (lp - lm) / (2 * eps)
					if got := float64(dc[b*hidden+k]); math.Abs(got-want) > 1e-4 {
						t.Errorf("dcPrev[%d,%d] = %v, want %v", b, k, got, want)
					}
				}
			}
		})
	}
}

// TestLSTMEndToEnd runs the kernel-built LSTM of the benchmarks (Sgemm,
// AddBias, SgemmPacked, LSTMCellForward, Dot, Sigmoid) against a float64
// LSTM written out directly; the outputs must agree within 1e-5, the
// tolerance omen's model is held to against gorgonia.
func TestLSTMEndToEnd(t *testing.T) {
	const f, h, w, batch = 38, 64, 32, 20
	withAsm(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(31, 32))
		m := newMiniLSTM(r, f, h, w, batch)
		m.forward()
		got := append([]float32(nil), m.out...)
		m.infer()
		g := 4 * h
		var worst float64
		defer func() { t.Logf("max |diff| %.3g", worst) }()
		for b := range batch {
			hs, cs := make([]float64, h), make([]float64, h)
			for step := range w {
				pre := make([]float64, g)
				for j := range g {
					s := float64(m.bias[j])
					for i := range f {
						s += float64(m.x[(step*batch+b)*f+i]) * float64(m.wx[i*g+j])
					}
					for i := range h {
						s += hs[i] * float64(m.wh[i*g+j])
					}
					pre[j] = s
				}
				cs, hs = refCell(pre, cs, h)
			}
			var logit float64
			for i := range h {
				logit += hs[i] * float64(m.wy[i])
			}
			want := 1 / (1 + math.Exp(-logit))
			worst = max(worst, math.Abs(float64(got[b])-want), math.Abs(float64(m.out[b])-want))
			if d := math.Abs(float64(got[b]) - want); d > 1e-5 {
				t.Errorf("window %d: forward %v, want %v (diff %g)", b, got[b], want, d)
			}
			if d := math.Abs(float64(m.out[b]) - want); d > 1e-5 {
				t.Errorf("window %d: infer %v, want %v (diff %g)", b, m.out[b], want, d)
			}
		}
	})
}
