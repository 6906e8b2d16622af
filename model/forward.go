package model

import (
	"fmt"
	"math"
	"sync"

	"github.com/omen-sre/omen/internal/linalg"
)

// inferChunk is how many windows one worker pushes through the recurrence at
// a time; it keeps the precomputed gate projections (W·chunk·4H floats)
// cache-sized.
const inferChunk = 48

// chunkBudget bounds a chunk's largest buffer (the normalised input,
// W·chunk·F floats, or the gate pre-activations, W·chunk·4H) so that huge
// architectures shrink their chunks instead of allocating gigabytes.
const chunkBudget = 1 << 22

// chunkFor returns how many windows of this model fit one chunk of at most
// want windows.
func (m *Model) chunkFor(want int) int {
	per := m.cfg.Window * max(m.nf, 4*m.h)
	return max(1, min(want, chunkBudget/per))
}

// inferScratch is per-call working memory for up to b windows (b ≤
// m.ichunk); ensure grows it.
type inferScratch struct {
	b     int       // windows the buffers hold
	xn    []float32 // W·B·F normalised input, time-major over the batch
	g     []float32 // W·B·4H gate pre-activations
	hseq  []float32 // W·B·H hidden states of the current layer
	c     []float32 // B·H cell state
	tc    []float32 // B·H tanh(c)
	fc    []float32 // B·F forecast (normalised)
	logit []float64 // B failure logits
}

// ensure sizes s for at least b windows of m, so that a call with few
// windows does not allocate a full chunk's buffers.
func (s *inferScratch) ensure(m *Model, b int) {
	if s.b >= b {
		return
	}
	w, f, h := m.cfg.Window, m.nf, m.h
	*s = inferScratch{
		b:     b,
		logit: make([]float64, b),
		xn:    make([]float32, w*b*f),
		g:     make([]float32, w*b*4*h),
		hseq:  make([]float32, w*b*h),
		c:     make([]float32, b*h),
		tc:    make([]float32, b*h),
		fc:    make([]float32, b*f),
	}
}

type scratchPool struct{ infer, step sync.Pool }

func (p *scratchPool) init(*Model) {
	p.infer.New = func() any { return new(inferScratch) }
}

// normalizeInto writes the normalised windows x[i] (i in [0,b)) into dst,
// time-major over the batch: dst[(t*b+i)*F+f]. NaN and ±Inf (missing)
// become 0, the mean.
func (m *Model) normalizeInto(dst, x []float32, b int) {
	w, f := m.cfg.Window, m.nf
	mean, inv := m.mean[:f], m.invStd[:f]
	for t := range w {
		for i := range b {
			src := x[(i*w+t)*f : (i*w+t)*f+f]
			d := dst[(t*b+i)*f : (t*b+i)*f+f]
			d, mean, inv := d[:len(src)], mean[:len(src)], inv[:len(src)]
			for j, v := range src {
				if v-v != 0 { // NaN or ±Inf: missing
					d[j] = 0
				} else {
					d[j] = (v - mean[j]) * inv[j]
				}
			}
		}
	}
}

// forwardChunk runs b ≤ m.ichunk windows and leaves the normalised
// forecast in s.fc (b×F) and the failure logits in logit[:b]. It returns
// the last hidden state of the top layer (b×H, inside s.hseq).
func (m *Model) forwardChunk(s *inferScratch, x []float32, b int, logit []float64) {
	w, f, h := m.cfg.Window, m.nf, m.h
	m.normalizeInto(s.xn, x, b)
	u, in := s.xn[:w*b*f], f
	for _, lp := range m.p.layers {
		g := s.g[:w*b*4*h]
		gemmBias(w*b, 4*h, in, u, in, lp.wx, 4*h, g, 4*h, lp.b)
		c, tc := s.c[:b*h], s.tc[:b*h]
		for t := range w {
			gt := g[t*b*4*h : (t+1)*b*4*h]
			cPrev := c
			if t == 0 {
				cPrev = nil
			} else {
				gemmAcc(b, 4*h, h, s.hseq[(t-1)*b*h:t*b*h], h, lp.wh, 4*h, gt, 4*h)
			}
			linalg.LSTMCellForward(gt, cPrev, c, s.hseq[t*b*h:(t+1)*b*h], tc, b, h)
		}
		u, in = s.hseq[:w*b*h], h
	}
	last := s.hseq[(w-1)*b*h : w*b*h]
	fc := s.fc[:b*f]
	gemmBias(b, f, h, last, h, m.p.wf, f, fc, f, m.p.bf)
	for i := range b {
		hr := last[i*h : (i+1)*h]
		var z float32
		for j, v := range hr {
			z += v * m.p.wp[j]
		}
		logit[i] = float64(z + m.p.bp[0])
	}
}

// batchRun splits n windows into chunks and runs fn on each across the
// model's parallelism. fn gets the chunk's first window index and size.
func (m *Model) batchRun(n int, fn func(s *inferScratch, start, b int)) {
	chunk := m.ichunk
	chunks := (n + chunk - 1) / chunk
	workers := min(m.parallelism(), chunks)
	run := func(next func() (int, bool)) {
		s := m.pool.infer.Get().(*inferScratch)
		defer m.pool.infer.Put(s)
		s.ensure(m, min(chunk, n))
		for {
			ci, ok := next()
			if !ok {
				return
			}
			start := ci * chunk
			fn(s, start, min(chunk, n-start))
		}
	}
	if workers <= 1 {
		i := 0
		run(func() (int, bool) { i++; return i - 1, i-1 < chunks })
		return
	}
	var mu sync.Mutex
	i := 0
	next := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		i++
		return i - 1, i-1 < chunks
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(func() { run(next) })
	}
	run(next)
	wg.Wait()
}

// Predict writes P(failure within the horizon) for each of n windows into
// prob[:n]. x holds n windows back to back, each W×F raw (unnormalised)
// values, time-major: x[i*W*F + t*F + f]; NaN (or ±Inf) means missing, i.e.
// the feature mean. It is safe for
// concurrent use.
func (m *Model) Predict(x []float32, n int, prob []float64) error {
	return m.Forecast(x, n, prob, nil)
}

// Forecast is Predict plus the next-step forecast of every feature in raw
// units, written to forecast[i*F+f] (forecast may be nil; prob may be nil
// when forecast is not).
func (m *Model) Forecast(x []float32, n int, prob []float64, forecast []float32) error {
	if err := m.forecastOne(x, n, prob, forecast); err != nil || len(m.members) == 0 {
		return err
	}
	// An ensemble: the mean over the networks.
	var p2 []float64
	var f2 []float32
	if prob != nil {
		p2 = make([]float64, n)
	}
	if forecast != nil {
		f2 = make([]float32, n*m.nf)
	}
	for _, mem := range m.members {
		if err := mem.forecastOne(x, n, p2, f2); err != nil {
			return fmt.Errorf("ensemble member: %w", err)
		}
		for i := range p2 {
			prob[i] += p2[i]
		}
		for i := range f2 {
			forecast[i] += f2[i]
		}
	}
	k := float64(len(m.members) + 1)
	for i := range p2 {
		prob[i] /= k
	}
	for i := range f2 {
		forecast[i] /= float32(k)
	}
	return nil
}

// forecastOne is Forecast for this model's own network.
func (m *Model) forecastOne(x []float32, n int, prob []float64, forecast []float32) error {
	if err := m.checkX(x, n); err != nil {
		return err
	}
	if prob == nil && forecast == nil {
		return fmt.Errorf("forecast: both outputs are nil")
	}
	if prob != nil && len(prob) < n {
		return fmt.Errorf("prob: need %d values, have %d", n, len(prob))
	}
	if forecast != nil && len(forecast) < n*m.nf {
		return fmt.Errorf("forecast: need %d values, have %d", n*m.nf, len(forecast))
	}
	wf := m.cfg.Window * m.nf
	f := m.nf
	m.batchRun(n, func(s *inferScratch, start, b int) {
		logit := s.logit[:b]
		m.forwardChunk(s, x[start*wf:(start+b)*wf], b, logit)
		if prob != nil {
			for i := range b {
				prob[start+i] = sigmoid64(logit[i])
			}
		}
		if forecast != nil {
			for i := range b {
				src := s.fc[i*f : (i+1)*f]
				dst := forecast[(start+i)*f : (start+i+1)*f]
				for j, v := range src {
					dst[j] = v*m.std[j] + m.mean[j]
				}
			}
		}
	})
	return nil
}

// AnomalyScores compares each window's forecast with the actual next step
// next[i*F+f] (raw units) in normalised units: perFeature[i*F+f] is the
// squared normalised residual (0 where next is NaN or ±Inf) and score[i] its mean
// over the features with a value (0 if none). perFeature may be nil. Safe
// for concurrent use.
func (m *Model) AnomalyScores(x []float32, next []float32, n int, score []float64, perFeature []float32) error {
	if err := m.checkX(x, n); err != nil {
		return err
	}
	f := m.nf
	if len(next) != n*f {
		return fmt.Errorf("next: need %d values, have %d", n*f, len(next))
	}
	if len(score) < n {
		return fmt.Errorf("score: need %d values, have %d", n, len(score))
	}
	if perFeature != nil && len(perFeature) < n*f {
		return fmt.Errorf("perFeature: need %d values, have %d", n*f, len(perFeature))
	}
	if len(m.members) > 0 {
		return m.ensembleAnomalyScores(x, next, n, score, perFeature)
	}
	wf := m.cfg.Window * f
	m.batchRun(n, func(s *inferScratch, start, b int) {
		m.forwardChunk(s, x[start*wf:(start+b)*wf], b, s.logit[:b])
		for i := range b {
			var per []float32
			if perFeature != nil {
				per = perFeature[(start+i)*f : (start+i+1)*f]
			}
			score[start+i] = m.residualScore(s.fc[i*f:(i+1)*f], next[(start+i)*f:(start+i+1)*f], per)
		}
	})
	return nil
}

// residualScore compares one normalised forecast fc with the raw next step
// nx: per[j] (per may be nil) is feature j's squared normalised residual,
// 0 where nx is NaN or ±Inf, and the result their mean over the features
// with a value (0 if none). The residual is computed in float64: in
// float32 a value far from the mean (1e20 for mean 0, std 1) squared to
// +Inf. per[j] is capped at the largest float32.
func (m *Model) residualScore(fc, nx, per []float32) float64 {
	var sum float64
	cnt := 0
	for j, v := range nx {
		var r float64
		if v-v == 0 { // not NaN or ±Inf
			d := float64(fc[j]) - (float64(v)-float64(m.mean[j]))*float64(m.invStd[j])
			r = d * d
			sum += r
			cnt++
		}
		if per != nil {
			per[j] = float32(min(r, math.MaxFloat32))
		}
	}
	if cnt == 0 {
		return 0
	}
	return sum / float64(cnt)
}

// ensembleAnomalyScores is AnomalyScores on the ensemble's mean forecast
// (the residual in this model's normalised units, as for one network).
func (m *Model) ensembleAnomalyScores(x, next []float32, n int, score []float64, perFeature []float32) error {
	f := m.nf
	fc := make([]float32, n*f)
	if err := m.Forecast(x, n, nil, fc); err != nil {
		return err
	}
	for i := range n {
		row := fc[i*f : (i+1)*f]
		for j, v := range row { // raw → this model's normalised units
			row[j] = (v - m.mean[j]) * m.invStd[j]
		}
		var per []float32
		if perFeature != nil {
			per = perFeature[i*f : (i+1)*f]
		}
		score[i] = m.residualScore(row, next[i*f:(i+1)*f], per)
	}
	return nil
}
