package linalg

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"
)

// miniLSTM is a single-layer LSTM with a logistic output, built only from
// this package's kernels, time-major ([t][b][·]) like omen's model: it
// measures what the kernels allow end to end.
type miniLSTM struct {
	f, h, w, b int
	wx, wh     []float32 // F×4H, H×4H
	pwh, pwhT  *PackedB  // Wh and Whᵀ packed once per optimiser step
	pdG        PackedB   // dG packed once for both weight gradients
	bias       []float32 // 4H
	wy         []float32 // H
	// activations
	x     []float32 // W×B×F
	gates []float32 // W×B×4H
	cs    []float32 // (W+1)×B×H, cs[0] = 0
	hs    []float32 // (W+1)×B×H, hs[0] = 0
	tcs   []float32 // W×B×H
	// gradients
	dGates         []float32
	dh, dc, dhPrev []float32
	gwx, gwh, gb   []float32
	mwx, vwx       []float32
	mwh, vwh       []float32
	mb, vb         []float32
	out            []float32
	serial         bool // use only the serial GEMMs
}

func newMiniLSTM(r *rand.Rand, f, h, w, b int) *miniLSTM {
	g := 4 * h
	m := &miniLSTM{f: f, h: h, w: w, b: b,
		wx: randSlice(r, f*g), wh: randSlice(r, h*g), bias: randSlice(r, g), wy: randSlice(r, h),
		x: randSlice(r, w*b*f), gates: make([]float32, w*b*g),
		cs: make([]float32, (w+1)*b*h), hs: make([]float32, (w+1)*b*h), tcs: make([]float32, w*b*h),
		dGates: make([]float32, w*b*g), dh: make([]float32, b*h), dc: make([]float32, b*h), dhPrev: make([]float32, b*h),
		gwx: make([]float32, f*g), gwh: make([]float32, h*g), gb: make([]float32, g),
		mwx: make([]float32, f*g), vwx: make([]float32, f*g), mwh: make([]float32, h*g), vwh: make([]float32, h*g),
		mb: make([]float32, g), vb: make([]float32, g), out: make([]float32, b),
	}
	Scale(0.1, m.wx)
	Scale(0.1, m.wh)
	m.pwh = PackB(false, h, g, m.wh, g)
	m.pwhT = PackB(true, g, h, m.wh, g)
	return m
}

func (m *miniLSTM) forward() {
	g, bh := 4*m.h, m.b*m.h
	if m.serial {
		SgemmSerial(false, false, m.w*m.b, g, m.f, 1, m.x, m.f, m.wx, g, 0, m.gates, g)
	} else {
		Sgemm(false, false, m.w*m.b, g, m.f, 1, m.x, m.f, m.wx, g, 0, m.gates, g)
	}
	AddBias(m.gates, m.w*m.b, g, m.bias)
	for t := range m.w {
		gt := m.gates[t*m.b*g : (t+1)*m.b*g]
		SgemmPackedSerial(false, m.b, 1, m.hs[t*bh:(t+1)*bh], m.h, m.pwh, 1, gt, g)
		LSTMCellForward(gt, m.cs[t*bh:(t+1)*bh], m.cs[(t+1)*bh:(t+2)*bh], m.hs[(t+1)*bh:(t+2)*bh], m.tcs[t*bh:(t+1)*bh], m.b, m.h)
	}
	last := m.hs[m.w*bh:]
	for i := range m.b {
		m.out[i] = Dot(last[i*m.h:(i+1)*m.h], m.wy)
	}
	Sigmoid(m.out, m.out)
}

// infer is the inference-only forward pass: it projects the inputs step by
// step into one B×4H gate buffer and keeps only the current state, so that
// everything stays in cache.
func (m *miniLSTM) infer() {
	g, bh := 4*m.h, m.b*m.h
	gt := m.gates[:m.b*g]
	c, h, tc := m.cs[:bh], m.hs[:bh], m.tcs[:bh]
	clear(c)
	clear(h)
	for t := range m.w {
		SgemmSerial(false, false, m.b, g, m.f, 1, m.x[t*m.b*m.f:(t+1)*m.b*m.f], m.f, m.wx, g, 0, gt, g)
		AddBias(gt, m.b, g, m.bias)
		SgemmPackedSerial(false, m.b, 1, h, m.h, m.pwh, 1, gt, g)
		LSTMCellForward(gt, c, c, h, tc, m.b, m.h)
	}
	for i := range m.b {
		m.out[i] = Dot(h[i*m.h:(i+1)*m.h], m.wy)
	}
	Sigmoid(m.out, m.out)
}

func (m *miniLSTM) backward(step int) {
	g, bh := 4*m.h, m.b*m.h
	// dL/dlogit = p - y with y = 0; dh_T = dlogit·wy.
	clear(m.dh)
	clear(m.dc)
	for i := range m.b {
		Axpy(m.out[i], m.wy, m.dh[i*m.h:(i+1)*m.h])
	}
	for t := m.w - 1; t >= 0; t-- {
		dgt := m.dGates[t*m.b*g : (t+1)*m.b*g]
		LSTMCellBackward(dgt, m.gates[t*m.b*g:(t+1)*m.b*g], m.cs[t*bh:(t+1)*bh], m.tcs[t*bh:(t+1)*bh], m.dh, m.dc, m.b, m.h)
		if t > 0 {
			SgemmPacked(false, m.b, 1, dgt, g, m.pwhT, 0, m.dh, m.h)
		}
	}
	// Both weight gradients multiply by dG: pack it once.
	m.pdG.Repack(false, m.w*m.b, g, m.dGates, g)
	SgemmPacked(true, m.f, 1, m.x, m.f, &m.pdG, 0, m.gwx, g)
	SgemmPacked(true, m.h, 1, m.hs[:m.w*bh], m.h, &m.pdG, 0, m.gwh, g)
	clear(m.gb)
	SumRows(m.gb, m.dGates, m.w*m.b, g)
	Adam(m.wx, m.gwx, m.mwx, m.vwx, 1e-3, 0.9, 0.999, 1e-8, step)
	Adam(m.wh, m.gwh, m.mwh, m.vwh, 1e-3, 0.9, 0.999, 1e-8, step)
	Adam(m.bias, m.gb, m.mb, m.vb, 1e-3, 0.9, 0.999, 1e-8, step)
	m.pwh.Repack(false, m.h, g, m.wh, g)
	m.pwhT.Repack(true, g, m.h, m.wh, g)
}

// BenchmarkLSTMWindows measures windows/s of a full forward pass
// (inference) and of a forward+BPTT+Adam step (training) for omen's shapes
// (F=38, H=64, W=32, B=256).
func BenchmarkLSTMWindows(b *testing.B) {
	const f, h, w, batch = 38, 64, 32, 256
	r := rand.New(rand.NewPCG(1, 2))
	m := newMiniLSTM(r, f, h, w, batch)
	for _, small := range []int{1, 16} {
		ms := newMiniLSTM(r, f, h, w, small)
		b.Run("inference_batch"+strconv.Itoa(small), func(b *testing.B) {
			cpu0 := processCPU()
			for b.Loop() {
				ms.forward()
			}
			reportWindows(b, small, cpu0)
		})
	}
	// The recommended way to use two cores: split the batch, each
	// goroutine runs its half through all steps with serial GEMMs.
	halves := [2]*miniLSTM{newMiniLSTM(r, f, h, w, batch/2), newMiniLSTM(r, f, h, w, batch/2)}
	halves[1].wx, halves[1].wh, halves[1].bias, halves[1].pwh = halves[0].wx, halves[0].wh, halves[0].bias, halves[0].pwh
	for _, hm := range halves {
		hm.serial = true
	}
	b.Run("inference_split2", func(b *testing.B) {
		cpu0 := processCPU()
		for b.Loop() {
			var wg sync.WaitGroup
			for _, hm := range halves {
				wg.Add(1)
				go func() {
					defer wg.Done()
					hm.forward()
				}()
			}
			wg.Wait()
		}
		reportWindows(b, batch, cpu0)
	})
	b.Run("inference_stream_split2", func(b *testing.B) {
		cpu0 := processCPU()
		for b.Loop() {
			var wg sync.WaitGroup
			for _, hm := range halves {
				wg.Add(1)
				go func() {
					defer wg.Done()
					hm.infer()
				}()
			}
			wg.Wait()
		}
		reportWindows(b, batch, cpu0)
	})
	b.Run("inference", func(b *testing.B) {
		cpu0 := processCPU()
		for b.Loop() {
			m.forward()
		}
		reportWindows(b, batch, cpu0)
	})
	b.Run("train", func(b *testing.B) {
		step := 0
		cpu0 := processCPU()
		for b.Loop() {
			step++
			m.forward()
			m.backward(step)
		}
		reportWindows(b, batch, cpu0)
	})
}

func BenchmarkActivations(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	x := randSlice(r, 256*256)
	dst := make([]float32, len(x))
	saved := useAsm
	b.Cleanup(func() { useAsm = saved })
	for _, on := range []bool{false, saved} {
		name := "generic"
		if on {
			name = "asm"
		}
		for _, fn := range []struct {
			name string
			f    func(dst, x []float32)
		}{{"Sigmoid", Sigmoid}, {"Tanh", Tanh}} {
			b.Run(fn.name+"/"+name, func(b *testing.B) {
				useAsm = on
				b.SetBytes(int64(4 * len(x)))
				for b.Loop() {
					fn.f(dst, x)
				}
				b.ReportMetric(float64(len(x)*b.N)/b.Elapsed().Seconds()/1e6, "Melem/s")
			})
		}
		if !saved {
			break
		}
	}
}

// reportWindows reports windows per wall-clock second and per CPU second
// (the latter is what two idle cores would give, times two).
func reportWindows(b *testing.B, batch int, cpu0 time.Duration) {
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "windows/s")
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(batch*b.N)/cpu.Seconds(), "windows/cpu-s")
	}
}
