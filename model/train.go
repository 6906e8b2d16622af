package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/omen-sre/omen/internal/linalg"
)

// Training engines.
const (
	EngineFast     = "fast"     // hand-written BPTT and Adam (default)
	EngineGorgonia = "gorgonia" // the reference gorgonia graph and its Adam solver
)

// Forecast losses.
const (
	// LossMSE is the mean squared error of the normalised forecast (default).
	LossMSE = "mse"
	// LossHuber is the mean pseudo-Huber loss 2δ²(√(1 + (d/δ)²) − 1) of
	// each normalised forecast error d: about d² (the MSE's term) for
	// |d| ≪ δ, about 2δ|d| for |d| ≫ δ, so a few large errors (abnormal
	// stretches in the training data) pull the fit less.
	LossHuber = "huber"
)

// TrainOptions configures a Trainer.
type TrainOptions struct {
	// LearningRate is Adam's step size (default 1e-3).
	LearningRate float64
	// PosWeight weighs the BCE term of positive labels (default 1). A
	// weight w multiplies the fitted odds of failure by w: correct them
	// with Model.ShiftFailureLogit(−ln w) after training.
	PosWeight float64
	// ForecastWeight weighs the forecast loss in the loss (default 1).
	ForecastWeight float64
	// Loss is the forecast loss: LossMSE (default) or LossHuber.
	Loss string
	// HuberDelta is LossHuber's δ, in training standard deviations (the
	// unit of the normalised forecast error); default 1. Only with
	// LossHuber.
	HuberDelta float64
	// ClipNorm, if > 0, rescales the gradient to at most this L2 norm
	// (fast engine) or clips each gradient element to ±ClipNorm (gorgonia
	// engine, whose solver only offers that).
	ClipNorm float64
	// Engine is EngineFast (default) or EngineGorgonia.
	Engine string
	// Seed fixes the dropout masks.
	Seed int64
}

func (o *TrainOptions) setDefaults() {
	if o.LearningRate == 0 {
		o.LearningRate = 1e-3
	}
	if o.PosWeight == 0 {
		o.PosWeight = 1
	}
	if o.ForecastWeight == 0 {
		o.ForecastWeight = 1
	}
	if o.Engine == "" {
		o.Engine = EngineFast
	}
	if o.Loss == "" {
		o.Loss = LossMSE
	}
	if o.Loss == LossHuber && o.HuberDelta == 0 {
		o.HuberDelta = 1
	}
}

func (o TrainOptions) validate() error {
	var errs []error
	if !(o.LearningRate > 0) || math.IsInf(o.LearningRate, 0) {
		errs = append(errs, fmt.Errorf("learning rate %v: want > 0", o.LearningRate))
	}
	if !(o.PosWeight > 0) || math.IsInf(o.PosWeight, 0) {
		errs = append(errs, fmt.Errorf("positive weight %v: want > 0", o.PosWeight))
	}
	if !(o.ForecastWeight >= 0) || math.IsInf(o.ForecastWeight, 0) {
		errs = append(errs, fmt.Errorf("forecast weight %v: want ≥ 0", o.ForecastWeight))
	}
	if !(o.ClipNorm >= 0) {
		errs = append(errs, fmt.Errorf("clip norm %v: want ≥ 0", o.ClipNorm))
	}
	if o.Engine != EngineFast && o.Engine != EngineGorgonia {
		errs = append(errs, fmt.Errorf("engine %q: want %q or %q", o.Engine, EngineFast, EngineGorgonia))
	}
	switch {
	case o.Loss != LossMSE && o.Loss != LossHuber:
		errs = append(errs, fmt.Errorf("loss %q: want %q or %q", o.Loss, LossMSE, LossHuber))
	case o.Loss == LossHuber && (!(o.HuberDelta > 0) || math.IsInf(o.HuberDelta, 0)):
		errs = append(errs, fmt.Errorf("huber delta %v: want > 0", o.HuberDelta))
	case o.Loss == LossMSE && o.HuberDelta != 0:
		errs = append(errs, fmt.Errorf("huber delta %v: only with loss %q", o.HuberDelta, LossHuber))
	}
	return errors.Join(errs...)
}

// Trainer updates a Model's weights in place with Adam. The loss of a batch
// is ForecastWeight·MSE(forecast, normalised next step) + BCE (with
// LossHuber, the mean pseudo-Huber loss in place of the MSE), where the MSE
// averages over the next-step values that are not NaN and the class-weighted
// BCE averages over the labels that are not NaN. A Trainer is not safe for
// concurrent use, and nothing else may use its Model during Step.
type Trainer struct {
	m    *Model
	opts TrainOptions
	rng  *rand.Rand

	// fast engine
	adamM, adamV []float32
	iter         int
	grad         []float32
	workers      []*trainScratch
	groups       []*gradGroup
	mask         []float32
	tw           transposed

	g *gorgoniaTrainer
}

// NewTrainer returns a trainer for m.
func NewTrainer(m *Model, opts TrainOptions) (*Trainer, error) {
	if m == nil {
		return nil, errors.New("trainer: nil model")
	}
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("train options: %w", err)
	}
	t := &Trainer{
		m:    m,
		opts: opts,
		rng:  rand.New(rand.NewPCG(uint64(opts.Seed), 0x74726169)),
	}
	if opts.Engine == EngineGorgonia {
		t.g = newGorgoniaTrainer(m, opts)
		return t, nil
	}
	t.adamM = make([]float32, len(m.w))
	t.adamV = make([]float32, len(m.w))
	t.grad = make([]float32, len(m.w))
	return t, nil
}

// Options returns the trainer's options with defaults filled in.
func (t *Trainer) Options() TrainOptions { return t.opts }

// Step does one Adam step on n windows. x is laid out as for Predict; next
// holds n×F raw next-step values (NaN or ±Inf = masked out of the MSE); label holds
// n values in [0,1] (NaN = no label, masked out of the BCE). It returns the
// mean loss before the step and its two parts: loss = ForecastWeight·
// forecastLoss + bceLoss, where forecastLoss is the MSE or, with
// LossHuber, the mean pseudo-Huber loss.
func (t *Trainer) Step(x, next, label []float32, n int) (loss, forecastLoss, bceLoss float64, err error) {
	b, err := t.prepare(x, next, label, n)
	if err != nil {
		return 0, 0, 0, err
	}
	if t.g != nil {
		return t.g.step(b, t.dropoutMask(n))
	}
	loss, forecastLoss, bceLoss = t.run(b, t.dropoutMask(n), true)
	t.adam()
	return loss, forecastLoss, bceLoss, nil
}

// Loss returns the loss of n windows (no dropout, no update).
func (t *Trainer) Loss(x, next, label []float32, n int) (loss, forecastLoss, bceLoss float64, err error) {
	b, err := t.prepare(x, next, label, n)
	if err != nil {
		return 0, 0, 0, err
	}
	if t.g != nil {
		return t.g.loss(b)
	}
	loss, forecastLoss, bceLoss = t.run(b, nil, false)
	return loss, forecastLoss, bceLoss, nil
}

// batch is a validated training batch with its loss scaling.
type batch struct {
	x, next, label []float32
	n              int
	nextn          []float32 // normalised next, NaN kept
	nValid, nLab   int
	fw, posW       float64
	delta          float64 // pseudo-Huber δ; 0: squared error
}

func (t *Trainer) prepare(x, next, label []float32, n int) (*batch, error) {
	m := t.m
	if err := m.checkX(x, n); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("train: empty batch")
	}
	f := m.nf
	if len(next) != n*f {
		return nil, fmt.Errorf("next: need %d values, have %d", n*f, len(next))
	}
	if len(label) != n {
		return nil, fmt.Errorf("label: need %d values, have %d", n, len(label))
	}
	b := &batch{x: x, next: next, label: label, n: n, fw: t.opts.ForecastWeight, posW: t.opts.PosWeight}
	if t.opts.Loss == LossHuber {
		b.delta = t.opts.HuberDelta
	}
	b.nextn = make([]float32, n*f)
	for i, v := range next {
		j := i % f
		if v-v != 0 { // NaN or ±Inf: masked out of the MSE
			b.nextn[i] = float32(math.NaN())
			continue
		}
		b.nextn[i] = (v - m.mean[j]) * m.invStd[j]
		b.nValid++
	}
	for i, y := range label {
		if y != y {
			continue
		}
		if y < 0 || y > 1 {
			return nil, fmt.Errorf("label[%d] = %v: want a value in [0,1] or NaN", i, y)
		}
		b.nLab++
	}
	return b, nil
}

// dropoutMask draws inverted-dropout masks for the inputs of layers 1..L-1,
// laid out [layer-1][window][t][H], or returns nil without dropout.
func (t *Trainer) dropoutMask(n int) []float32 {
	cfg := t.m.cfg
	if cfg.Layers < 2 || cfg.Dropout == 0 {
		return nil
	}
	size := (cfg.Layers - 1) * n * cfg.Window * t.m.h
	if cap(t.mask) < size {
		t.mask = make([]float32, size)
	}
	mask := t.mask[:size]
	keep := float32(1 / (1 - cfg.Dropout))
	for i := range mask {
		if t.rng.Float64() < cfg.Dropout {
			mask[i] = 0
		} else {
			mask[i] = keep
		}
	}
	return mask
}

// sampleWeight is the BCE weight of a label.
func sampleWeight(y float32, posW float64) float64 {
	return posW*float64(y) + (1 - float64(y))
}

// trainChunk is how many windows a training worker pushes through forward
// and backward at a time (its activations must stay cache-friendly).
const trainChunk = 64

// gradGroups is how many gradient accumulators a batch's chunks are spread
// over (chunk c into accumulator c mod gradGroups), and so the most workers
// a batch uses. The accumulators, not the workers, sum the chunks, and they
// are summed in a fixed order, so that the floating-point result depends
// on the batch and the chunk size only, not on the parallelism
// (GOMAXPROCS by default, which differs between machines and follows a
// container's CPU limit): the same seed trains the same model.
const gradGroups = 16

// gradGroup accumulates the loss sums and (backward) gradient of the
// chunks c ≡ g (mod groups) of a batch, in chunk order.
type gradGroup struct {
	grad []float32
	gp   params
	sums [2]float64 // Σ forecast loss terms, Σ weighted BCE terms
}

// trainScratch is one worker's forward activations and backward buffers
// for a chunk of bsz windows.
type trainScratch struct {
	bsz   int
	xn    []float32
	u     [][]float32 // per layer input (layer 0: xn)
	a     [][]float32 // per layer W·B·4H activated gates
	cs    [][]float32 // per layer W·B·H cell states
	tc    [][]float32 // per layer W·B·H tanh(c)
	hs    [][]float32 // per layer (W+1)·B·H hidden states, block 0 zero
	fc    []float32
	logit []float64
	dfc   []float32
	dz    []float32
	dhl   []float32 // B·H gradient on the top layer's last hidden state
	dhrec []float32
	dh    []float32
	dc    []float32
	dZ    []float32
	dH    []float32 // W·B·H gradient on a layer's hidden states from above
}

func newTrainScratch(m *Model, bsz int) *trainScratch {
	w, f, h, L := m.cfg.Window, m.nf, m.h, m.cfg.Layers
	s := &trainScratch{bsz: bsz}
	s.xn = make([]float32, w*bsz*f)
	for l := range L {
		if l == 0 {
			s.u = append(s.u, s.xn)
		} else {
			s.u = append(s.u, make([]float32, w*bsz*h))
		}
		s.a = append(s.a, make([]float32, w*bsz*4*h))
		s.cs = append(s.cs, make([]float32, w*bsz*h))
		s.tc = append(s.tc, make([]float32, w*bsz*h))
		s.hs = append(s.hs, make([]float32, (w+1)*bsz*h))
	}
	s.fc = make([]float32, bsz*f)
	s.logit = make([]float64, bsz)
	s.dfc = make([]float32, bsz*f)
	s.dz = make([]float32, bsz)
	s.dhl = make([]float32, bsz*h)
	s.dhrec = make([]float32, bsz*h)
	s.dh = make([]float32, bsz*h)
	s.dc = make([]float32, bsz*h)
	s.dZ = make([]float32, w*bsz*4*h)
	s.dH = make([]float32, w*bsz*h)
	return s
}

// run computes the loss of batch b (with dropout masks if non-nil) and, if
// backward, the gradient into t.grad. It returns the loss and its parts.
func (t *Trainer) run(b *batch, mask []float32, backward bool) (loss, mse, bce float64) {
	m := t.m
	chunk := m.chunkFor(trainChunk)
	chunks := (b.n + chunk - 1) / chunk
	groups := min(gradGroups, chunks)
	workers := max(1, min(m.parallelism(), groups))
	for len(t.workers) < workers {
		t.workers = append(t.workers, nil)
	}
	for len(t.groups) < groups {
		t.groups = append(t.groups, new(gradGroup))
	}
	if backward {
		t.tw.update(m)
	}
	var wg sync.WaitGroup
	for wi := range workers {
		s := t.workers[wi]
		if s == nil || s.bsz < min(chunk, b.n) {
			s = newTrainScratch(m, min(chunk, b.n))
			t.workers[wi] = s
		}
		// Static assignment of groups to workers, and of chunks to
		// groups, keeps results independent of scheduling and of the
		// number of workers.
		work := func() {
			for gi := wi; gi < groups; gi += workers {
				g := t.groups[gi]
				g.sums = [2]float64{}
				if backward {
					if g.grad == nil {
						g.grad = make([]float32, len(m.w))
						g.gp = view(g.grad, m.nf, m.h, m.cfg.Layers)
					}
					clear(g.grad)
				}
				for c := gi; c < chunks; c += groups {
					start := c * chunk
					m.trainChunk(s, g, b, mask, start, min(b.n, start+chunk), backward, &t.tw)
				}
			}
		}
		if wi == workers-1 {
			work()
		} else {
			wg.Go(work)
		}
	}
	wg.Wait()
	var sq, bc float64
	for _, g := range t.groups[:groups] {
		sq += g.sums[0]
		bc += g.sums[1]
	}
	if b.nValid > 0 {
		mse = sq / float64(b.nValid)
	}
	if b.nLab > 0 {
		bce = bc / float64(b.nLab)
	}
	if backward {
		g := t.grad
		copy(g, t.groups[0].grad)
		for _, gg := range t.groups[1:groups] {
			for i, v := range gg.grad {
				g[i] += v
			}
		}
	}
	return b.fw*mse + bce, mse, bce
}

// trainChunk runs windows [start,end) of b forward and (if backward)
// backward with s's buffers, adding their loss sums to g.sums and gradient
// to g.grad.
func (m *Model) trainChunk(s *trainScratch, g *gradGroup, b *batch, mask []float32, start, end int, backward bool, tw *transposed) {
	w, f, h, L := m.cfg.Window, m.nf, m.h, m.cfg.Layers
	B := end - start
	m.normalizeInto(s.xn, b.x[start*w*f:end*w*f], B)
	// Forward.
	for l, lp := range m.p.layers {
		in := lp.in
		u := s.u[l][:w*B*in]
		if l > 0 {
			// Inverted dropout on the previous layer's outputs.
			prev := s.hs[l-1][B*h : (w+1)*B*h]
			if mask == nil {
				copy(u, prev)
			} else {
				lm := mask[(l-1)*b.n*w*h:]
				for t := range w {
					for i := range B {
						mrow := lm[((start+i)*w+t)*h : ((start+i)*w+t+1)*h]
						src := prev[(t*B+i)*h : (t*B+i+1)*h]
						dst := u[(t*B+i)*h : (t*B+i+1)*h]
						for j := range dst {
							dst[j] = src[j] * mrow[j]
						}
					}
				}
			}
		}
		a, cs, tc, hs := s.a[l][:w*B*4*h], s.cs[l][:w*B*h], s.tc[l][:w*B*h], s.hs[l][:(w+1)*B*h]
		clear(hs[:B*h])
		gemmBias(w*B, 4*h, in, u, in, lp.wx, 4*h, a, 4*h, lp.b)
		for t := range w {
			at := a[t*B*4*h : (t+1)*B*4*h]
			if t > 0 {
				gemmAcc(B, 4*h, h, hs[t*B*h:(t+1)*B*h], h, lp.wh, 4*h, at, 4*h)
			}
			var cPrev []float32
			if t > 0 {
				cPrev = cs[(t-1)*B*h : t*B*h]
			}
			linalg.LSTMCellForward(at, cPrev, cs[t*B*h:(t+1)*B*h], hs[(t+1)*B*h:(t+2)*B*h], tc[t*B*h:(t+1)*B*h], B, h)
		}
	}
	top := m.p
	hlast := s.hs[L-1][w*B*h : (w+1)*B*h]
	fc := s.fc[:B*f]
	gemmBias(B, f, h, hlast, h, top.wf, f, fc, f, top.bf)
	// Loss and output gradients.
	var sq, bc float64
	dfc, dz := s.dfc[:B*f], s.dz[:B]
	fcScale := float32(0)
	if b.nValid > 0 {
		fcScale = float32(2 * b.fw / float64(b.nValid))
	}
	for i := range B {
		for j := range f {
			y := b.nextn[(start+i)*f+j]
			if y != y {
				dfc[i*f+j] = 0
				continue
			}
			d := fc[i*f+j] - y
			if b.delta == 0 {
				sq += float64(d) * float64(d)
				dfc[i*f+j] = fcScale * d
				continue
			}
			// Pseudo-Huber: 2δ²(√(1 + (d/δ)²) − 1) = 2d²/(√(1 + (d/δ)²) + 1)
			// (the form without a difference of near-equal terms),
			// derivative 2d/√(1 + (d/δ)²).
			d64 := float64(d)
			q := d64 / b.delta
			r := math.Sqrt(1 + q*q)
			sq += 2 * d64 * d64 / (r + 1)
			dfc[i*f+j] = fcScale * float32(d64/r)
		}
		var z float32
		hr := hlast[i*h : (i+1)*h]
		for j, v := range hr {
			z += v * top.wp[j]
		}
		zl := float64(z + top.bp[0])
		s.logit[i] = zl
		y := b.label[start+i]
		if y != y {
			dz[i] = 0
			continue
		}
		wgt := sampleWeight(y, b.posW)
		bc += wgt * (softplus64(zl) - float64(y)*zl)
		dz[i] = float32(wgt * (sigmoid64(zl) - float64(y)) / float64(b.nLab))
	}
	g.sums[0] += sq
	g.sums[1] += bc
	if !backward {
		return
	}
	// Backward (accumulating into g.grad).
	gp := g.gp
	sgemm(true, false, h, f, B, 1, hlast, h, dfc, f, 1, gp.wf, f)
	for i := range B {
		for j := range f {
			gp.bf[j] += dfc[i*f+j]
		}
		for j := range h {
			gp.wp[j] += hlast[i*h+j] * dz[i]
		}
		gp.bp[0] += dz[i]
	}
	dhl := s.dhl[:B*h]
	clear(dhl)
	gemmAcc(B, h, f, dfc, f, tw.wf, h, dhl, h)
	for i := range B {
		for j := range h {
			dhl[i*h+j] += dz[i] * top.wp[j]
		}
	}
	dZ := s.dZ[:w*B*4*h]
	dH := s.dH[:w*B*h]
	for l := L - 1; l >= 0; l-- {
		lp := m.p.layers[l]
		glp := gp.layers[l]
		a, cs, tc, hs := s.a[l], s.cs[l], s.tc[l], s.hs[l]
		dhrec, dc := s.dhrec[:B*h], s.dc[:B*h]
		clear(dhrec)
		clear(dc)
		for t := w - 1; t >= 0; t-- {
			dh := s.dh[:B*h]
			copy(dh, dhrec)
			if l == L-1 {
				if t == w-1 {
					linalg.Add(dh, dh, dhl)
				}
			} else {
				linalg.Add(dh, dh, dH[t*B*h:(t+1)*B*h])
			}
			var cPrev []float32
			if t > 0 {
				cPrev = cs[(t-1)*B*h : t*B*h]
			}
			linalg.LSTMCellBackward(dZ[t*B*4*h:(t+1)*B*4*h], a[t*B*4*h:(t+1)*B*4*h], cPrev, tc[t*B*h:(t+1)*B*h], dh, dc, B, h)
			if t > 0 {
				clear(dhrec)
				gemmAcc(B, h, 4*h, dZ[t*B*4*h:(t+1)*B*4*h], 4*h, tw.wh[l], h, dhrec, h)
			}
		}
		in := lp.in
		sgemm(true, false, in, 4*h, w*B, 1, s.u[l][:w*B*in], in, dZ, 4*h, 1, glp.wx, 4*h)
		sgemm(true, false, h, 4*h, w*B, 1, hs[:w*B*h], h, dZ, 4*h, 1, glp.wh, 4*h)
		for r := range w * B {
			row := dZ[r*4*h : (r+1)*4*h]
			for j, v := range row {
				glp.b[j] += v
			}
		}
		if l > 0 {
			clear(dH)
			gemmAcc(w*B, h, 4*h, dZ, 4*h, tw.wx[l], h, dH, h)
			if mask != nil {
				lm := mask[(l-1)*b.n*w*h:]
				for t := range w {
					for i := range B {
						mrow := lm[((start+i)*w+t)*h : ((start+i)*w+t+1)*h]
						d := dH[(t*B+i)*h : (t*B+i+1)*h]
						for j := range d {
							d[j] *= mrow[j]
						}
					}
				}
			}
		}
	}
}

// adam applies one Adam update (β1 .9, β2 .999, ε 1e-8, PyTorch's form)
// with t.grad, after optional global-norm clipping.
func (t *Trainer) adam() {
	g := t.grad
	if t.opts.ClipNorm > 0 {
		var ss float64
		for _, v := range g {
			ss += float64(v) * float64(v)
		}
		if norm := math.Sqrt(ss); norm > t.opts.ClipNorm {
			sc := float32(t.opts.ClipNorm / norm)
			for i := range g {
				g[i] *= sc
			}
		}
	}
	const b1, b2, eps = 0.9, 0.999, 1e-8
	t.iter++
	c1 := 1 - math.Pow(b1, float64(t.iter))
	c2 := 1 - math.Pow(b2, float64(t.iter))
	stepSize := float32(t.opts.LearningRate / c1)
	invC2 := float32(1 / math.Sqrt(c2))
	w, mm, vv := t.m.w, t.adamM, t.adamV
	for i, gi := range g {
		mi := b1*mm[i] + (1-b1)*gi
		vi := b2*vv[i] + (1-b2)*gi*gi
		mm[i], vv[i] = mi, vi
		w[i] -= stepSize * mi / (float32(math.Sqrt(float64(vi)))*invC2 + eps)
	}
}

// gradient returns the gradient of the loss of the last backward run (the
// fast engine only); for tests.
func (t *Trainer) gradient() []float32 { return t.grad }

// transposed holds transposed copies of the weights the backward pass
// multiplies by on the right (Wh, Wx of layers > 0, the forecast head), so
// that those products run on gemmAcc without packing.
type transposed struct {
	wh, wx [][]float32 // per layer: 4H×H and 4H×in (layer 0 unused)
	wf     []float32   // F×H
}

func transposeInto(dst, src []float32, rows, cols int) []float32 {
	if cap(dst) < rows*cols {
		dst = make([]float32, rows*cols)
	}
	dst = dst[:rows*cols]
	for r := range rows {
		row := src[r*cols : (r+1)*cols]
		for c, v := range row {
			dst[c*rows+r] = v
		}
	}
	return dst
}

func (tw *transposed) update(m *Model) {
	h := m.h
	for len(tw.wh) < len(m.p.layers) {
		tw.wh = append(tw.wh, nil)
		tw.wx = append(tw.wx, nil)
	}
	for l, lp := range m.p.layers {
		tw.wh[l] = transposeInto(tw.wh[l], lp.wh, h, 4*h)
		if l > 0 {
			tw.wx[l] = transposeInto(tw.wx[l], lp.wx, lp.in, 4*h)
		}
	}
	tw.wf = transposeInto(tw.wf, m.p.wf, h, m.nf)
}
