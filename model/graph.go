package model

import (
	"errors"
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// graph is the reference definition of the network as a gorgonia
// expression graph for a batch of n windows, in float32 (the product's
// precision) or float64 (for gradient checks). Gates use separate per-gate
// matrices; loadParams and readGrads convert from and to the model's flat
// layout (gate columns i, f, g, o).
type graph struct {
	m    *Model
	dt   tensor.Dtype
	n    int
	g    *G.ExprGraph
	xs   []*G.Node   // per step (n,F) normalised input
	drop [][]*G.Node // [layer-1][t] (n,H) dropout masks
	y    *G.Node     // (n,F) normalised next step, 0 where missing
	ym   *G.Node     // (n,F) 1/nValid where present, 0 where missing
	lab  *G.Node     // (n,1) label, 0 where missing
	lw   *G.Node     // (n,1) class weight / nLab, 0 where missing
	fw   *G.Node     // scalar forecast weight
	// params, per layer: wx[4], wh[4], b[4] (gate order i f g o), then
	// wf, bf, wp, bp.
	params G.Nodes
	fc     *G.Node // (n,F) normalised forecast
	logit  *G.Node // (n,1)
	mse    *G.Node // scalar
	bce    *G.Node // scalar
	loss   *G.Node // scalar
	vm     G.VM
}

// scalar returns a constant of the graph's type.
func (gr *graph) scalar(v float64) *G.Node {
	if gr.dt == tensor.Float64 {
		return G.NewConstant(v)
	}
	return G.NewConstant(float32(v))
}

func (gr *graph) matrix(r, c int, name string) *G.Node {
	var backing any
	if gr.dt == tensor.Float64 {
		backing = make([]float64, r*c)
	} else {
		backing = make([]float32, r*c)
	}
	t := tensor.New(tensor.WithShape(r, c), tensor.WithBacking(backing))
	return G.NewMatrix(gr.g, gr.dt, G.WithShape(r, c), G.WithName(name), G.WithValue(t))
}

// newGraph builds the graph for n windows; withGrad adds the symbolic
// gradient of the loss with respect to every parameter. delta > 0 makes the
// forecast loss pseudo-Huber with that δ (LossHuber), 0 the squared error.
func newGraph(m *Model, n int, dt tensor.Dtype, withGrad bool, delta float64) (gr *graph, err error) {
	defer func() {
		// gorgonia panics on some internal inconsistencies; turn them into
		// errors rather than crash the daemon.
		if r := recover(); r != nil {
			gr, err = nil, fmt.Errorf("build gorgonia graph: %v", r)
		}
	}()
	w, f, h, L := m.cfg.Window, m.nf, m.h, m.cfg.Layers
	gr = &graph{m: m, dt: dt, n: n, g: G.NewGraph()}
	must := func(nd *G.Node, e error) *G.Node {
		if e != nil && err == nil {
			err = e
		}
		return nd
	}
	ones := gr.matrix(n, 1, "ones")
	for _, v := range []*G.Node{ones} {
		fill(v, 1)
	}
	for t := range w {
		gr.xs = append(gr.xs, gr.matrix(n, f, fmt.Sprintf("x%d", t)))
	}
	gates := []string{"i", "f", "g", "o"}
	type lnodes struct{ wx, wh, b [4]*G.Node }
	var ls []lnodes
	in := f
	for l := range L {
		var ln lnodes
		for k, gn := range gates {
			ln.wx[k] = gr.matrix(in, h, fmt.Sprintf("l%d.wx.%s", l, gn))
		}
		for k, gn := range gates {
			ln.wh[k] = gr.matrix(h, h, fmt.Sprintf("l%d.wh.%s", l, gn))
		}
		for k, gn := range gates {
			ln.b[k] = gr.matrix(1, h, fmt.Sprintf("l%d.b.%s", l, gn))
		}
		gr.params = append(gr.params, ln.wx[:]...)
		gr.params = append(gr.params, ln.wh[:]...)
		gr.params = append(gr.params, ln.b[:]...)
		ls = append(ls, ln)
		in = h
		if l > 0 {
			var ms []*G.Node
			for t := range w {
				mk := gr.matrix(n, h, fmt.Sprintf("drop%d.%d", l, t))
				fill(mk, 1)
				ms = append(ms, mk)
			}
			gr.drop = append(gr.drop, ms)
		}
	}
	wf := gr.matrix(h, f, "wf")
	bf := gr.matrix(1, f, "bf")
	wp := gr.matrix(h, 1, "wp")
	bp := gr.matrix(1, 1, "bp")
	gr.params = append(gr.params, wf, bf, wp, bp)

	inputs := gr.xs
	var hPrev *G.Node
	for l, ln := range ls {
		if l > 0 {
			dropped := make([]*G.Node, w)
			for t := range w {
				dropped[t] = must(G.HadamardProd(inputs[t], gr.drop[l-1][t]))
			}
			inputs = dropped
		}
		var outs []*G.Node
		var c *G.Node
		hPrev = nil
		for t := range w {
			var pre [4]*G.Node
			for k := range 4 {
				z := must(G.Mul(inputs[t], ln.wx[k]))
				if hPrev != nil {
					z = must(G.Add(z, must(G.Mul(hPrev, ln.wh[k]))))
				}
				pre[k] = must(G.Add(z, must(G.Mul(ones, ln.b[k]))))
				if err != nil {
					return nil, fmt.Errorf("build gorgonia graph: %w", err)
				}
			}
			ig := must(G.Sigmoid(pre[0]))
			fg := must(G.Sigmoid(pre[1]))
			gg := must(G.Tanh(pre[2]))
			og := must(G.Sigmoid(pre[3]))
			if c == nil {
				c = must(G.HadamardProd(ig, gg))
			} else {
				c = must(G.Add(must(G.HadamardProd(fg, c)), must(G.HadamardProd(ig, gg))))
			}
			hPrev = must(G.HadamardProd(og, must(G.Tanh(c))))
			if err != nil {
				return nil, fmt.Errorf("build gorgonia graph: %w", err)
			}
			outs = append(outs, hPrev)
		}
		inputs = outs
	}
	gr.fc = must(G.Add(must(G.Mul(hPrev, wf)), must(G.Mul(ones, bf))))
	gr.logit = must(G.Add(must(G.Mul(hPrev, wp)), must(G.Mul(ones, bp))))
	gr.y = gr.matrix(n, f, "y")
	gr.ym = gr.matrix(n, f, "ymask")
	gr.lab = gr.matrix(n, 1, "label")
	gr.lw = gr.matrix(n, 1, "lweight")
	if dt == tensor.Float64 {
		gr.fw = G.NewScalar(gr.g, dt, G.WithName("fw"), G.WithValue(1.0))
	} else {
		gr.fw = G.NewScalar(gr.g, dt, G.WithName("fw"), G.WithValue(float32(1)))
	}
	term := must(G.Square(must(G.Sub(gr.fc, gr.y))))
	if delta > 0 {
		// Pseudo-Huber: 2δ²(√(1 + d²/δ²) − 1), written 2d²/(√(1 + d²/δ²) + 1),
		// which keeps its precision for small d in float32 (the
		// difference √(1 + q²) − 1 loses all of it below q ≈ 3e-4).
		one := gr.scalar(1)
		den := must(G.Add(must(G.Sqrt(must(G.Add(must(G.Mul(term, gr.scalar(1/(delta*delta)))), one)))), one))
		term = must(G.HadamardDiv(must(G.Mul(term, gr.scalar(2))), den))
	}
	gr.mse = must(G.Sum(must(G.HadamardProd(term, gr.ym))))
	bt := must(G.Sub(must(G.Softplus(gr.logit)), must(G.HadamardProd(gr.lab, gr.logit))))
	gr.bce = must(G.Sum(must(G.HadamardProd(bt, gr.lw))))
	gr.loss = must(G.Add(must(G.Mul(gr.mse, gr.fw)), gr.bce))
	if err != nil {
		return nil, fmt.Errorf("build gorgonia graph: %w", err)
	}
	var opts []G.VMOpt
	if withGrad {
		if _, err := G.Grad(gr.loss, gr.params...); err != nil {
			return nil, fmt.Errorf("gorgonia gradient: %w", err)
		}
		opts = append(opts, G.BindDualValues(gr.params...))
	}
	gr.vm = G.NewTapeMachine(gr.g, opts...)
	gr.loadParams()
	return gr, nil
}

func fill(nd *G.Node, v float64) {
	switch d := nd.Value().Data().(type) {
	case []float32:
		for i := range d {
			d[i] = float32(v)
		}
	case []float64:
		for i := range d {
			d[i] = v
		}
	}
}

// set copies src into the node's backing array.
func set(nd *G.Node, src []float64) {
	switch d := nd.Value().Data().(type) {
	case []float32:
		for i := range d {
			d[i] = float32(src[i])
		}
	case []float64:
		copy(d, src)
	}
}

func get(v G.Value) []float64 {
	switch d := v.Data().(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x)
		}
		return out
	case []float64:
		return append([]float64(nil), d...)
	case float32:
		return []float64{float64(d)}
	case float64:
		return []float64{d}
	}
	return nil
}

// paramBlocks lists, in gr.params order, where each per-gate node's
// elements live in the flat layout: for element (r,c) of node k the flat
// index is off + r*stride + col + c.
type paramBlock struct{ off, rows, cols, stride, col int }

func (gr *graph) blocks() []paramBlock {
	m := gr.m
	f, h, L := m.nf, m.h, m.cfg.Layers
	ts := layout(f, h, L)
	var bs []paramBlock
	in := f
	for l := range L {
		wx, wh, b := ts[3*l], ts[3*l+1], ts[3*l+2]
		for k := range 4 {
			bs = append(bs, paramBlock{wx.off, in, h, 4 * h, k * h})
		}
		for k := range 4 {
			bs = append(bs, paramBlock{wh.off, h, h, 4 * h, k * h})
		}
		for k := range 4 {
			bs = append(bs, paramBlock{b.off, 1, h, 4 * h, k * h})
		}
		in = h
	}
	k := 3 * L
	bs = append(bs,
		paramBlock{ts[k].off, h, f, f, 0},
		paramBlock{ts[k+1].off, 1, f, f, 0},
		paramBlock{ts[k+2].off, h, 1, 1, 0},
		paramBlock{ts[k+3].off, 1, 1, 1, 0})
	return bs
}

// loadParams copies the model's weights into the graph.
func (gr *graph) loadParams() { gr.loadFlat(toF64(gr.m.w)) }

func (gr *graph) loadFlat(flat []float64) {
	for k, b := range gr.blocks() {
		vals := make([]float64, b.rows*b.cols)
		for r := range b.rows {
			for c := range b.cols {
				vals[r*b.cols+c] = flat[b.off+r*b.stride+b.col+c]
			}
		}
		set(gr.params[k], vals)
	}
}

// storeParams copies the graph's weights back into the model.
func (gr *graph) storeParams() {
	for k, b := range gr.blocks() {
		vals := get(gr.params[k].Value())
		for r := range b.rows {
			for c := range b.cols {
				gr.m.w[b.off+r*b.stride+b.col+c] = float32(vals[r*b.cols+c])
			}
		}
	}
}

// grads returns the gradient of the loss in the model's flat layout.
func (gr *graph) grads() ([]float64, error) {
	out := make([]float64, len(gr.m.w))
	for k, b := range gr.blocks() {
		gv, err := gr.params[k].Grad()
		if err != nil {
			return nil, fmt.Errorf("gradient of %s: %w", gr.params[k].Name(), err)
		}
		vals := get(gv)
		for r := range b.rows {
			for c := range b.cols {
				out[b.off+r*b.stride+b.col+c] = vals[r*b.cols+c]
			}
		}
	}
	return out, nil
}

func toF64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// setBatch loads inputs, targets and loss weights. mask are dropout masks
// as drawn by Trainer.dropoutMask (nil = none).
func (gr *graph) setBatch(b *batch, mask []float32) error {
	m := gr.m
	w, f, h, n := m.cfg.Window, m.nf, m.h, gr.n
	xn := make([]float32, w*n*f)
	m.normalizeInto(xn, b.x, n)
	for t := range w {
		set(gr.xs[t], toF64(xn[t*n*f:(t+1)*n*f]))
	}
	for l := range gr.drop {
		for t := range w {
			vals := make([]float64, n*h)
			for i := range vals {
				vals[i] = 1
			}
			if mask != nil {
				for i := range n {
					for j := range h {
						vals[i*h+j] = float64(mask[l*n*w*h+(i*w+t)*h+j])
					}
				}
			}
			set(gr.drop[l][t], vals)
		}
	}
	y := make([]float64, n*f)
	ym := make([]float64, n*f)
	for i, v := range b.nextn {
		if v == v {
			y[i] = float64(v)
			ym[i] = 1 / float64(b.nValid)
		}
	}
	set(gr.y, y)
	set(gr.ym, ym)
	lab := make([]float64, n)
	lw := make([]float64, n)
	for i, v := range b.label {
		if v == v {
			lab[i] = float64(v)
			lw[i] = sampleWeight(v, b.posW) / float64(b.nLab)
		}
	}
	set(gr.lab, lab)
	set(gr.lw, lw)
	var fw any = b.fw
	if gr.dt == tensor.Float32 {
		fw = float32(b.fw)
	}
	if err := G.Let(gr.fw, fw); err != nil {
		return fmt.Errorf("set forecast weight: %w", err)
	}
	return nil
}

// run executes the graph once (forward, and backward if built withGrad).
func (gr *graph) run() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("run gorgonia graph: %v", r)
		}
	}()
	defer gr.vm.Reset()
	if err := gr.vm.RunAll(); err != nil {
		return fmt.Errorf("run gorgonia graph: %w", err)
	}
	return nil
}

func (gr *graph) losses() (loss, mse, bce float64) {
	return get(gr.loss.Value())[0], get(gr.mse.Value())[0], get(gr.bce.Value())[0]
}

// GorgoniaForecast is Forecast computed by the reference gorgonia graph
// (float32). It is much slower than Forecast and meant for verification.
func (m *Model) GorgoniaForecast(x []float32, n int, prob []float64, forecast []float32) error {
	if len(m.members) > 0 {
		return fmt.Errorf("gorgonia forecast: the model is an ensemble of %d networks; this reference path runs one", m.Members())
	}
	if err := m.checkX(x, n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if (prob != nil && len(prob) < n) || (forecast != nil && len(forecast) < n*m.nf) {
		return errors.New("gorgonia forecast: output slices too short")
	}
	gr, err := newGraph(m, n, tensor.Float32, false, 0)
	if err != nil {
		return err
	}
	nan := make([]float32, n*m.nf)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	if err := gr.setBatch(&batch{x: x, n: n, nextn: nan, label: nan[:n], fw: 1, posW: 1}, nil); err != nil {
		return err
	}
	if err := gr.run(); err != nil {
		return err
	}
	fc, lg := get(gr.fc.Value()), get(gr.logit.Value())
	for i := range n {
		if prob != nil {
			prob[i] = sigmoid64(lg[i])
		}
		if forecast != nil {
			for j := range m.nf {
				forecast[i*m.nf+j] = float32(fc[i*m.nf+j])*m.std[j] + m.mean[j]
			}
		}
	}
	return nil
}

// gorgoniaTrainer trains through the gorgonia graph with gorgonia's Adam.
type gorgoniaTrainer struct {
	m      *Model
	opts   TrainOptions
	gr     *graph // with gradients, rebuilt when the batch size changes
	eval   *graph
	solver *G.AdamSolver
}

func newGorgoniaTrainer(m *Model, opts TrainOptions) *gorgoniaTrainer {
	so := []G.SolverOpt{G.WithLearnRate(opts.LearningRate)}
	if opts.ClipNorm > 0 {
		so = append(so, G.WithClip(opts.ClipNorm))
	}
	return &gorgoniaTrainer{m: m, opts: opts, solver: G.NewAdamSolver(so...)}
}

func (gt *gorgoniaTrainer) graphFor(n int, withGrad bool) (*graph, error) {
	cur := &gt.eval
	if withGrad {
		cur = &gt.gr
	}
	if *cur == nil || (*cur).n != n {
		var delta float64
		if gt.opts.Loss == LossHuber {
			delta = gt.opts.HuberDelta
		}
		gr, err := newGraph(gt.m, n, tensor.Float32, withGrad, delta)
		if err != nil {
			return nil, err
		}
		// The solver keeps its moment estimates by parameter position,
		// which is the same in every graph, so it carries over.
		*cur = gr
	}
	(*cur).loadParams()
	return *cur, nil
}

func (gt *gorgoniaTrainer) step(b *batch, mask []float32) (loss, mse, bce float64, err error) {
	gr, err := gt.graphFor(b.n, true)
	if err != nil {
		return 0, 0, 0, err
	}
	if err := gr.setBatch(b, mask); err != nil {
		return 0, 0, 0, err
	}
	if err := gr.run(); err != nil {
		return 0, 0, 0, err
	}
	loss, mse, bce = gr.losses()
	if err := gt.solver.Step(G.NodesToValueGrads(gr.params)); err != nil {
		return 0, 0, 0, fmt.Errorf("gorgonia adam step: %w", err)
	}
	gr.storeParams()
	return loss, mse, bce, nil
}

func (gt *gorgoniaTrainer) loss(b *batch) (loss, mse, bce float64, err error) {
	gr, err := gt.graphFor(b.n, false)
	if err != nil {
		return 0, 0, 0, err
	}
	if err := gr.setBatch(b, nil); err != nil {
		return 0, 0, 0, err
	}
	if err := gr.run(); err != nil {
		return 0, 0, 0, err
	}
	loss, mse, bce = gr.losses()
	return loss, mse, bce, nil
}
