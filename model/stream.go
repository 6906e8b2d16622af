package model

import (
	"math"

	"github.com/omen-sre/omen/internal/linalg"
)

// State is one entity's streaming LSTM state: the hidden and cell state of
// every layer after the steps seen so far, plus the latest outputs. A State
// belongs to one Model (same architecture) and must not be used by two
// goroutines at once; distinct States may be stepped concurrently.
type State struct {
	h, c     []float32 // layers×H
	xn, z    []float32 // F and 4H scratch
	tc       []float32 // layers×H tanh(c)
	forecast []float32 // F, raw units
	prob     float64
	steps    int
}

// NewState returns a zero state (the state at the start of a window).
func (m *Model) NewState() *State {
	l, h := m.cfg.Layers, m.h
	return &State{
		h:        make([]float32, l*h),
		c:        make([]float32, l*h),
		xn:       make([]float32, m.nf),
		z:        make([]float32, 4*h),
		tc:       make([]float32, l*h),
		forecast: make([]float32, m.nf),
	}
}

// Reset returns the state to zero.
func (st *State) Reset() {
	clear(st.h)
	clear(st.c)
	clear(st.forecast)
	st.prob, st.steps = 0, 0
}

// Steps is how many steps were fed since the state was created or reset.
func (st *State) Steps() int { return st.steps }

// Prob is the failure probability after the latest step.
func (st *State) Prob() float64 { return st.prob }

// Forecast is the forecast of the next feature vector in raw units after
// the latest step. The slice is owned by the state and overwritten by Step.
func (st *State) Forecast() []float32 { return st.forecast }

// Step advances st by one raw feature vector x (len F, NaN = missing) and
// returns P(failure within the horizon); the forecast of the next step is
// then available from st.Forecast. Started from a zero state and fed the W
// steps of a window, it returns what Predict returns for that window. It
// costs O(layers·H·(F+H)) and does not allocate. It returns NaN if st does
// not belong to a model of this shape or len(x) != F.
func (m *Model) Step(st *State, x []float32) (prob float64) {
	h, f := m.h, m.nf
	if st == nil || len(x) != f || len(st.h) != m.cfg.Layers*h || len(st.xn) != f || len(st.z) != 4*h {
		return math.NaN()
	}
	for j, v := range x {
		if v-v != 0 { // NaN or ±Inf: missing
			st.xn[j] = 0
		} else {
			st.xn[j] = (v - m.mean[j]) * m.invStd[j]
		}
	}
	u := st.xn
	z := st.z
	for l, lp := range m.p.layers {
		hl := st.h[l*h : (l+1)*h]
		cl := st.c[l*h : (l+1)*h]
		copy(z, lp.b)
		gemmAcc(1, 4*h, lp.in, u, lp.in, lp.wx, 4*h, z, 4*h)
		if st.steps > 0 {
			gemmAcc(1, 4*h, h, hl, h, lp.wh, 4*h, z, 4*h)
		}
		var cPrev []float32
		if st.steps > 0 {
			cPrev = cl
		}
		linalg.LSTMCellForward(z, cPrev, cl, hl, st.tc[l*h:(l+1)*h], 1, h)
		u = hl
	}
	top := st.h[(m.cfg.Layers-1)*h:]
	fc := st.forecast
	copy(fc, m.p.bf)
	gemmAcc(1, f, h, top, h, m.p.wf, f, fc, f)
	for j := range fc {
		fc[j] = fc[j]*m.std[j] + m.mean[j]
	}
	var zl float32
	for j, v := range top {
		zl += v * m.p.wp[j]
	}
	st.prob = sigmoid64(float64(zl + m.p.bp[0]))
	st.steps++
	return st.prob
}
