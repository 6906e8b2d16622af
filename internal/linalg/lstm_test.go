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
