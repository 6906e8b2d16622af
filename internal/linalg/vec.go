package linalg

import (
	"math"
)

func checkLen(name string, n int, s ...[]float32) {
	for _, x := range s {
		if len(x) != n {
			panic("linalg: " + name + ": length mismatch")
		}
	}
}

// Axpy computes y += alpha·x. len(x) must equal len(y).
func Axpy(alpha float32, x, y []float32) {
	checkLen("Axpy", len(y), x)
	axpy(alpha, x, y)
}

// axpy is Axpy without the length check; len(x) ≥ len(y).
func axpy(alpha float32, x, y []float32) {
	x = x[:len(y)]
	i := axpyAsm(alpha, x, y)
	for ; i+4 <= len(y); i += 4 {
		yy := y[i : i+4 : i+4]
		xx := x[i : i+4 : i+4]
		yy[0] += alpha * xx[0]
		yy[1] += alpha * xx[1]
		yy[2] += alpha * xx[2]
		yy[3] += alpha * xx[3]
	}
	for ; i < len(y); i++ {
		y[i] += alpha * x[i]
	}
}

// Dot returns Σ x[i]·y[i], accumulated in float32 with four partial sums.
// len(x) must equal len(y).
func Dot(x, y []float32) float32 {
	checkLen("Dot", len(x), y)
	y = y[:len(x)]
	i, s0 := dotAsm(x, y)
	var s1, s2, s3 float32
	for ; i+4 <= len(x); i += 4 {
		xx := x[i : i+4 : i+4]
		yy := y[i : i+4 : i+4]
		s0 += xx[0] * yy[0]
		s1 += xx[1] * yy[1]
		s2 += xx[2] * yy[2]
		s3 += xx[3] * yy[3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// Scale computes x *= alpha.
func Scale(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// Add computes dst = x + y elementwise; dst may alias x or y.
func Add(dst, x, y []float32) {
	checkLen("Add", len(dst), x, y)
	x, y = x[:len(dst)], y[:len(dst)]
	for i := range dst {
		dst[i] = x[i] + y[i]
	}
}

// Mul computes dst = x ⊙ y elementwise; dst may alias x or y.
func Mul(dst, x, y []float32) {
	checkLen("Mul", len(dst), x, y)
	x, y = x[:len(dst)], y[:len(dst)]
	for i := range dst {
		dst[i] = x[i] * y[i]
	}
}

// MulAdd computes dst += x ⊙ y elementwise.
func MulAdd(dst, x, y []float32) {
	checkLen("MulAdd", len(dst), x, y)
	x, y = x[:len(dst)], y[:len(dst)]
	for i := range dst {
		dst[i] += x[i] * y[i]
	}
}

// AddBias adds bias[j] to every row of the m×n row-major matrix c (leading
// dimension n): c[i,j] += bias[j]. len(bias) must be n.
func AddBias(c []float32, m, n int, bias []float32) {
	if m < 0 || n < 0 || len(c) < m*n {
		panic("linalg: AddBias: bad size")
	}
	checkLen("AddBias", n, bias)
	for i := range m {
		axpy(1, bias, c[i*n:i*n+n])
	}
}

// SumRows accumulates the column sums of the m×n row-major matrix c into
// dst: dst[j] += Σ_i c[i,j] (the bias gradient of a batch). len(dst) must
// be n.
func SumRows(dst, c []float32, m, n int) {
	if m < 0 || n < 0 || len(c) < m*n {
		panic("linalg: SumRows: bad size")
	}
	checkLen("SumRows", n, dst)
	for i := range m {
		axpy(1, c[i*n:i*n+n], dst)
	}
}

// Adam applies one bias-corrected Adam step (Kingma & Ba; the same formula
// as PyTorch's torch.optim.Adam without weight decay) in place, for step
// t ≥ 1:
//
//	m = b1·m + (1-b1)·g
//	v = b2·v + (1-b2)·g²
//	w -= lr/(1-b1^t) · m / (sqrt(v/(1-b2^t)) + eps)
//
// w, g, m and v must have the same length.
func Adam(w, g, m, v []float32, lr, b1, b2, eps float32, t int) {
	checkLen("Adam", len(w), g, m, v)
	if t < 1 {
		panic("linalg: Adam: step t < 1")
	}
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	bc1 := 1 - math.Pow(float64(b1), float64(t))
	bc2 := 1 - math.Pow(float64(b2), float64(t))
	step := float32(float64(lr) / bc1)
	isq := float32(1 / math.Sqrt(bc2))
	c1, c2 := 1-b1, 1-b2
	for i := range w {
		gi := g[i]
		mi := b1*m[i] + c1*gi
		vi := b2*v[i] + c2*gi*gi
		m[i], v[i] = mi, vi
		w[i] -= step * mi / (float32(math.Sqrt(float64(vi)))*isq + eps)
	}
}

// Sigmoid computes dst[i] = 1/(1+exp(-x[i])) with an absolute error below
// 1e-6; ±Inf map to 1 and 0, NaN to NaN. dst may alias x.
func Sigmoid(dst, x []float32) {
	checkLen("Sigmoid", len(dst), x)
	i := 0
	if useAsm {
		i = sigmoidAsm(dst, x)
	}
	sigmoidGeneric(dst[i:], x[i:])
}

// Tanh computes dst[i] = tanh(x[i]) with an absolute error below 1e-6;
// ±Inf map to ±1, NaN to NaN. dst may alias x.
func Tanh(dst, x []float32) {
	checkLen("Tanh", len(dst), x)
	i := 0
	if useAsm {
		i = tanhAsm(dst, x)
	}
	tanhGeneric(dst[i:], x[i:])
}

func sigmoidGeneric(dst, x []float32) {
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] = 1 / (1 + expf(-v))
	}
}

func tanhGeneric(dst, x []float32) {
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] = 1 - 2/(1+expf(2*v))
	}
}

// Constants of the Cephes single-precision exp, shared with the assembly.
const (
	expHi    = 88.7 // rounds to n = 128: exp saturates to +Inf
	expLo    = -87.3
	log2e    = 1.44269504088896341
	expC1    = 0.693359375
	expC2    = -2.12194440e-4
	expP0    = 1.9875691500e-4
	expP1    = 1.3981999507e-3
	expP2    = 8.3334519073e-3
	expP3    = 4.1665795894e-2
	expP4    = 1.6666665459e-1
	expP5    = 5.0000001201e-1
	expScale = 127
)

// expf is exp for float32 with ~1 ulp relative error. Inputs are clamped
// to [expLo, expHi]: large inputs give +Inf (from about 88.0 on, slightly
// early), very negative ones the smallest normal range value instead of a
// subnormal or zero; callers (sigmoid, tanh) only need the saturated value.
// NaN propagates.
func expf(x float32) float32 {
	if x > expHi {
		x = expHi
	} else if x < expLo {
		x = expLo
	}
	n := float32(math.RoundToEven(float64(x * log2e)))
	r := x - n*expC1 - n*expC2
	p := float32(expP0)
	p = p*r + expP1
	p = p*r + expP2
	p = p*r + expP3
	p = p*r + expP4
	p = p*r + expP5
	y := p*r*r + r + 1
	if n != n {
		return n
	}
	return y * math.Float32frombits(uint32(int32(n)+expScale)<<23)
}

// Nrm2 returns the Euclidean norm of x, accumulated in float64 (for
// gradient-norm clipping; it neither overflows nor loses small terms for
// float32 inputs).
func Nrm2(x []float32) float32 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return float32(math.Sqrt(s))
}
