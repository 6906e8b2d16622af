package model

import (
	"fmt"
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
	members  []*State // an ensemble's member networks' states
}

// NewState returns a zero state (the state at the start of a window).
func (m *Model) NewState() *State {
	st := m.newState()
	for _, mem := range m.members {
		st.members = append(st.members, mem.newState())
	}
	return st
}

func (m *Model) newState() *State {
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
	for _, ms := range st.members {
		ms.Reset()
	}
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
	if st == nil || len(st.members) != len(m.members) {
		return math.NaN()
	}
	for i, mem := range m.members {
		// Every network's state is checked before any of them steps.
		if !mem.owns(st.members[i]) {
			return math.NaN()
		}
	}
	p := m.stepOne(st, x)
	if len(m.members) == 0 || math.IsNaN(p) {
		return p
	}
	for i, mem := range m.members {
		ms := st.members[i]
		pi := mem.stepOne(ms, x)
		if math.IsNaN(pi) {
			return pi
		}
		p += pi
		for j, v := range ms.forecast {
			st.forecast[j] += v
		}
	}
	k := float64(len(m.members) + 1)
	for j := range st.forecast {
		st.forecast[j] /= float32(k)
	}
	st.prob = p / k
	return st.prob
}

// stepOne is Step for this model's own network.
func (m *Model) stepOne(st *State, x []float32) (prob float64) {
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
		gemmBias(1, 4*h, lp.in, u, lp.in, lp.wx, 4*h, z, 4*h, lp.b)
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
	gemmBias(1, f, h, top, h, m.p.wf, f, fc, f, m.p.bf)
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

// stepScratch is StepBatch's working memory for up to inferChunk states.
type stepScratch struct {
	u, hh, c, tc, z, fc []float32
}

// StepBatch advances states[i] by the feature vector x[i*F:(i+1)*F] for
// every i and writes each state's new failure probability to prob[i]; each
// state's forecast is then available from its Forecast. It computes exactly
// what Step computes for each state, but multiplies by each weight matrix
// once per 48 states instead of once per state, which is several times
// cheaper per entity when many entities advance together. The states must
// be distinct; StepBatch does not start goroutines.
func (m *Model) StepBatch(states []*State, x []float32, prob []float64) error {
	for i, st := range states {
		if st == nil || len(st.members) != len(m.members) {
			return fmt.Errorf("step batch: state %d does not belong to this model", i)
		}
		for j, mem := range m.members {
			if !mem.owns(st.members[j]) {
				return fmt.Errorf("step batch: state %d does not belong to this model (member %d)", i, j)
			}
		}
	}
	if err := m.stepBatchOne(states, x, prob); err != nil || len(m.members) == 0 {
		return err
	}
	k := len(states)
	sub := make([]*State, k)
	p2 := make([]float64, k)
	for mi, mem := range m.members {
		for i, st := range states {
			sub[i] = st.members[mi]
		}
		if err := mem.stepBatchOne(sub, x, p2); err != nil {
			return fmt.Errorf("ensemble member: %w", err)
		}
		for i, st := range states {
			prob[i] += p2[i]
			for j, v := range sub[i].forecast {
				st.forecast[j] += v
			}
		}
	}
	n := float64(len(m.members) + 1)
	for i, st := range states {
		prob[i] /= n
		st.prob = prob[i]
		for j := range st.forecast {
			st.forecast[j] /= float32(n)
		}
	}
	return nil
}

// stepBatchOne is StepBatch for this model's own network.
func (m *Model) stepBatchOne(states []*State, x []float32, prob []float64) error {
	h, f, L := m.h, m.nf, m.cfg.Layers
	k := len(states)
	if len(x) != k*f {
		return fmt.Errorf("step batch: %d states need %d values, have %d", k, k*f, len(x))
	}
	if len(prob) < k {
		return fmt.Errorf("step batch: prob needs %d values, have %d", k, len(prob))
	}
	for i, st := range states {
		if st == nil || len(st.h) != L*h || len(st.xn) != f || len(st.z) != 4*h {
			return fmt.Errorf("step batch: state %d does not belong to a model of this shape", i)
		}
	}
	s, _ := m.pool.step.Get().(*stepScratch)
	if s == nil {
		b := inferChunk
		s = &stepScratch{
			u:  make([]float32, b*max(f, h)),
			hh: make([]float32, b*h),
			c:  make([]float32, b*h),
			tc: make([]float32, b*h),
			z:  make([]float32, b*4*h),
			fc: make([]float32, b*f),
		}
	}
	defer m.pool.step.Put(s)
	for start := 0; start < k; start += inferChunk {
		b := min(inferChunk, k-start)
		sts := states[start : start+b]
		u := s.u[:b*f]
		for i := range sts {
			src := x[(start+i)*f : (start+i+1)*f]
			d := u[i*f : (i+1)*f]
			for j, v := range src {
				if v-v != 0 {
					d[j] = 0
				} else {
					d[j] = (v - m.mean[j]) * m.invStd[j]
				}
			}
		}
		in := f
		for l, lp := range m.p.layers {
			z, hh, c, tc := s.z[:b*4*h], s.hh[:b*h], s.c[:b*h], s.tc[:b*h]
			for i, st := range sts {
				copy(hh[i*h:(i+1)*h], st.h[l*h:(l+1)*h])
				if st.steps > 0 {
					copy(c[i*h:(i+1)*h], st.c[l*h:(l+1)*h])
				} else {
					clear(c[i*h : (i+1)*h])
				}
			}
			gemmBias(b, 4*h, in, u, in, lp.wx, 4*h, z, 4*h, lp.b)
			gemmAcc(b, 4*h, h, hh, h, lp.wh, 4*h, z, 4*h)
			linalg.LSTMCellForward(z, c, c, hh, tc, b, h)
			for i, st := range sts {
				copy(st.h[l*h:(l+1)*h], hh[i*h:(i+1)*h])
				copy(st.c[l*h:(l+1)*h], c[i*h:(i+1)*h])
			}
			u, in = s.u[:b*h], h
			copy(u, hh)
		}
		top := s.hh[:b*h]
		fc := s.fc[:b*f]
		gemmBias(b, f, h, top, h, m.p.wf, f, fc, f, m.p.bf)
		for i, st := range sts {
			for j, v := range fc[i*f : (i+1)*f] {
				st.forecast[j] = v*m.std[j] + m.mean[j]
			}
			var zl float32
			for j, v := range top[i*h : (i+1)*h] {
				zl += v * m.p.wp[j]
			}
			st.prob = sigmoid64(float64(zl + m.p.bp[0]))
			st.steps++
			prob[start+i] = st.prob
		}
	}
	return nil
}

// owns reports whether st has the shape of this network's states.
func (m *Model) owns(st *State) bool {
	return st != nil && len(st.h) == m.cfg.Layers*m.h && len(st.xn) == m.nf && len(st.z) == 4*m.h
}
