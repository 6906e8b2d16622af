package linalg

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestActivationsAccuracy(t *testing.T) {
	// A dense grid over [-30, 30] plus random points, fed with odd lengths
	// so that both the vector body and the scalar tail are covered.
	const steps = 600001
	xs := make([]float32, 0, steps+10000)
	for i := range steps {
		xs = append(xs, float32(-30+60*float64(i)/(steps-1)))
	}
	r := rand.New(rand.NewPCG(9, 9))
	for range 10000 {
		xs = append(xs, float32(r.Float64()*60-30))
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 88, -88, 100, -100, 1e30, -1e30)
	tests := []struct {
		name string
		f    func(dst, x []float32)
		ref  func(float64) float64
	}{
		{"Sigmoid", Sigmoid, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }},
		{"Tanh", Tanh, math.Tanh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withAsm(t, func(t *testing.T) {
				var worst, worstX float64
				for _, chunk := range []int{1, 7, 8, 31, 32, 33, 1000, len(xs)} {
					dst := make([]float32, len(xs))
					for lo := 0; lo < len(xs); lo += chunk {
						hi := min(lo+chunk, len(xs))
						tt.f(dst[lo:hi], xs[lo:hi])
					}
					for i, x := range xs {
						if d := math.Abs(float64(dst[i]) - tt.ref(float64(x))); !(d <= worst) {
							worst, worstX = d, float64(x)
						}
					}
				}
				t.Logf("max abs error %.3g at x=%g", worst, worstX)
				if worst > 1e-6 {
					t.Errorf("max abs error %g at x=%g > 1e-6", worst, worstX)
				}
			})
		})
	}
}

func TestActivationsSpecial(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	tests := []struct {
		name string
		f    func(dst, x []float32)
		in   float32
		want float32 // NaN means want NaN
	}{
		{"Sigmoid", Sigmoid, inf, 1},
		{"Sigmoid", Sigmoid, -inf, 0},
		{"Sigmoid", Sigmoid, nan, nan},
		{"Sigmoid", Sigmoid, 0, 0.5},
		{"Tanh", Tanh, inf, 1},
		{"Tanh", Tanh, -inf, -1},
		{"Tanh", Tanh, nan, nan},
		{"Tanh", Tanh, 0, 0},
	}
	withAsm(t, func(t *testing.T) {
		for _, tt := range tests {
			// Place the value at every position of a 40-element slice so
			// it passes through the 32-wide, 8-wide and scalar paths.
			for pos := range 40 {
				x := make([]float32, 40)
				for i := range x {
					x[i] = 0.25
				}
				x[pos] = tt.in
				dst := make([]float32, 40)
				tt.f(dst, x)
				got := dst[pos]
				if tt.want != tt.want {
					if got == got {
						t.Errorf("%s(%v) at %d = %v, want NaN", tt.name, tt.in, pos, got)
					}
				} else if got != tt.want {
					t.Errorf("%s(%v) at %d = %v, want %v", tt.name, tt.in, pos, got, tt.want)
				}
				other := (pos + 1) % 40
				if want := float32(0.25); math.Abs(float64(dst[other])-refAct(tt.name, want)) > 1e-6 {
					t.Errorf("%s: neighbour %d = %v disturbed", tt.name, other, dst[other])
				}
			}
		}
	})
}

func refAct(name string, x float32) float64 {
	if name == "Tanh" {
		return math.Tanh(float64(x))
	}
	return 1 / (1 + math.Exp(-float64(x)))
}

func TestActivationsInPlace(t *testing.T) {
	withAsm(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(2, 2))
		x := randSlice(r, 77)
		want := make([]float32, len(x))
		Sigmoid(want, x)
		got := append([]float32(nil), x...)
		Sigmoid(got, got)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("in-place Sigmoid differs at %d", i)
			}
		}
	})
}

func testVectorHelpers(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	for _, n := range []int{0, 1, 3, 4, 5, 8, 16, 33, 64, 257} {
		x, y := randSlice(r, n), randSlice(r, n)
		// Dot
		var want float64
		for i := range x {
			want += float64(x[i]) * float64(y[i])
		}
		if got := Dot(x, y); math.Abs(float64(got)-want) > 1e-5*float64(n+1) {
			t.Errorf("Dot n=%d = %v, want %v", n, got, want)
		}
		// Axpy
		yy := append([]float32(nil), y...)
		Axpy(-0.5, x, yy)
		for i := range yy {
			if w := y[i] - 0.5*x[i]; math.Abs(float64(yy[i]-w)) > 1e-6 {
				t.Fatalf("Axpy n=%d [%d] = %v, want %v", n, i, yy[i], w)
			}
		}
		// Add, Mul, MulAdd, Scale
		d := make([]float32, n)
		Add(d, x, y)
		for i := range d {
			if d[i] != x[i]+y[i] {
				t.Fatalf("Add [%d]", i)
			}
		}
		Mul(d, x, y)
		for i := range d {
			if d[i] != x[i]*y[i] {
				t.Fatalf("Mul [%d]", i)
			}
		}
		MulAdd(d, x, y)
		for i := range d {
			if math.Abs(float64(d[i]-2*x[i]*y[i])) > 1e-6 {
				t.Fatalf("MulAdd [%d]", i)
			}
		}
		var n2 float64
		for _, v := range x {
			n2 += float64(v) * float64(v)
		}
		if got, want := Nrm2(x), math.Sqrt(n2); math.Abs(float64(got)-want) > 1e-6*(1+want) {
			t.Errorf("Nrm2 n=%d = %v, want %v", n, got, want)
		}
		Scale(2, d)
		for i := range d {
			if math.Abs(float64(d[i]-4*x[i]*y[i])) > 1e-6 {
				t.Fatalf("Scale [%d]", i)
			}
		}
	}
}

func testBiasHelpers(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	m, n := 7, 45
	c := randSlice(r, m*n)
	orig := append([]float32(nil), c...)
	bias := randSlice(r, n)
	AddBias(c, m, n, bias)
	for i := range m {
		for j := range n {
			if c[i*n+j] != orig[i*n+j]+bias[j] {
				t.Fatalf("AddBias [%d,%d]", i, j)
			}
		}
	}
	sum := make([]float32, n)
	for j := range sum {
		sum[j] = float32(j + 1)
	}
	SumRows(sum, orig, m, n)
	for j := range n {
		want := float64(j + 1)
		for i := range m {
			want += float64(orig[i*n+j])
		}
		if math.Abs(float64(sum[j])-want) > 1e-5 {
			t.Errorf("SumRows [%d] = %v, want %v", j, sum[j], want)
		}
	}
}

func TestVectorHelpers(t *testing.T) { withAsm(t, testVectorHelpers) }

func TestBiasHelpers(t *testing.T) { withAsm(t, testBiasHelpers) }

func TestAdam(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	const n = 37
	w, g := randSlice(r, n), randSlice(r, n)
	m, v := make([]float32, n), make([]float32, n)
	w64 := make([]float64, n)
	m64, v64 := make([]float64, n), make([]float64, n)
	for i := range w {
		w64[i] = float64(w[i])
	}
	const lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
	for step := 1; step <= 5; step++ {
		for i := range g {
			g[i] = float32(r.Float64()*2 - 1)
		}
		Adam(w, g, m, v, lr, b1, b2, eps, step)
		for i := range w64 {
			gi := float64(g[i])
			m64[i] = b1*m64[i] + (1-b1)*gi
			v64[i] = b2*v64[i] + (1-b2)*gi*gi
			mh := m64[i] / (1 - math.Pow(b1, float64(step)))
			vh := v64[i] / (1 - math.Pow(b2, float64(step)))
			w64[i] -= lr * mh / (math.Sqrt(vh) + eps)
		}
	}
	for i := range w {
		if d := math.Abs(float64(w[i]) - w64[i]); d > 1e-6 {
			t.Errorf("w[%d] = %v, want %v", i, w[i], w64[i])
		}
		if d := math.Abs(float64(m[i]) - m64[i]); d > 1e-6 {
			t.Errorf("m[%d] = %v, want %v", i, m[i], m64[i])
		}
	}
}

func TestLengthPanics(t *testing.T) {
	a, b := make([]float32, 3), make([]float32, 4)
	tests := []struct {
		name string
		f    func()
	}{
		{"Axpy", func() { Axpy(1, a, b) }},
		{"Dot", func() { Dot(a, b) }},
		{"Sigmoid", func() { Sigmoid(a, b) }},
		{"Tanh", func() { Tanh(b, a) }},
		{"AddBias", func() { AddBias(b, 2, 2, a) }},
		{"SumRows", func() { SumRows(a, b, 2, 2) }},
		{"Adam", func() { Adam(a, a, a, b, 1, 0.9, 0.99, 1e-8, 1) }},
		{"Adam t=0", func() { Adam(a, a, a, a, 1, 0.9, 0.99, 1e-8, 0) }},
		{"LSTMCellForward", func() { LSTMCellForward(b, nil, a, a, a, 1, 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic")
				}
			}()
			tt.f()
		})
	}
}
