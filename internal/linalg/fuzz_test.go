package linalg

import (
	"math"
	"math/rand/v2"
	"testing"
)

// FuzzSgemmAsmVsGeneric checks that the assembly and pure-Go micro-kernels
// agree (up to float32 rounding) on arbitrary shapes, transposes, strides
// and scalars. Matrix entries come from data (cycled), so the fuzzer also
// controls the values.
func FuzzSgemmAsmVsGeneric(f *testing.F) {
	f.Add(uint8(0), uint8(6), uint8(16), uint8(7), uint8(0), uint8(0), []byte{1, 2, 3})
	f.Add(uint8(3), uint8(13), uint8(33), uint8(65), uint8(1), uint8(2), []byte{0x80, 0x7f, 0, 9})
	f.Add(uint8(1), uint8(1), uint8(1), uint8(1), uint8(2), uint8(1), []byte{})
	f.Add(uint8(2), uint8(40), uint8(17), uint8(255), uint8(5), uint8(4), []byte{5, 250, 17, 33, 99})
	f.Fuzz(func(t *testing.T, trans, m8, n8, k8, pad, scal uint8, data []byte) {
		if !useAsm {
			// Without the assembly there is nothing to compare; the
			// generic kernel is covered by the reference tests.
			return
		}
		tA, tB := trans&1 != 0, trans&2 != 0
		m, n, k := int(m8%70)+1, int(n8%70)+1, int(k8)
		alpha := []float32{1, -0.5, 0.75, 0}[scal&3]
		beta := []float32{0, 1, -0.5, 2}[(scal>>2)&3]
		ar, ac := m, k
		if tA {
			ar, ac = k, m
		}
		br, bc := k, n
		if tB {
			br, bc = n, k
		}
		lda, ldb, ldc := max(1, ac)+int(pad&3), max(1, bc)+int(pad>>2&3), n+int(pad>>4&3)
		val := func(i int) float32 {
			if len(data) == 0 {
				return float32(i%7) - 3
			}
			return float32(int8(data[i%len(data)]+byte(i/len(data)))) / 16
		}
		fill := func(s []float32, off int) {
			for i := range s {
				s[i] = val(i + off)
			}
		}
		a := make([]float32, max(0, lda*(ar-1)+ac))
		b := make([]float32, max(0, ldb*(br-1)+bc))
		c0 := make([]float32, ldc*(m-1)+n)
		fill(a, 0)
		fill(b, 1000)
		fill(c0, 2000)
		cg, ca := append([]float32(nil), c0...), append([]float32(nil), c0...)
		useAsm = false
		SgemmSerial(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, cg, ldc)
		useAsm = true
		SgemmSerial(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, ca, ldc)
		for i := range cg {
			// Entries are multiples of 1/16 below 8 in magnitude; the
			// sums are exact in float64 but not in float32.
			tol := 1e-5 * (1 + math.Abs(float64(cg[i]))) * float64(k+1)
			if d := math.Abs(float64(cg[i] - ca[i])); !(d <= tol) {
				t.Fatalf("C[%d]: generic %v, asm %v (m=%d n=%d k=%d tA=%v tB=%v)", i, cg[i], ca[i], m, n, k, tA, tB)
			}
		}
	})
}

// FuzzActivationsAsmVsGeneric compares the assembly and pure-Go sigmoid
// and tanh on arbitrary float32 bit patterns, including NaN and ±Inf.
func FuzzActivationsAsmVsGeneric(f *testing.F) {
	f.Add(uint32(0), uint32(0x7f800000), uint32(0xff800000), uint32(0x7fc00000))
	f.Add(uint32(0x42b00000), uint32(0xc2b00000), uint32(0x3f800000), uint32(0x00000001))
	f.Add(uint32(0x41f00000), uint32(0xc1f00000), uint32(0x42b1999a), uint32(0xc2ae999a))
	f.Fuzz(func(t *testing.T, b0, b1, b2, b3 uint32) {
		if !useAsm {
			return
		}
		r := rand.New(rand.NewPCG(uint64(b0), uint64(b1)))
		x := make([]float32, 48)
		for i := range x {
			switch i % 4 {
			case 0:
				x[i] = math.Float32frombits(b0 ^ uint32(i))
			case 1:
				x[i] = math.Float32frombits(b1)
			case 2:
				x[i] = math.Float32frombits(b2 + uint32(i))
			default:
				x[i] = math.Float32frombits(b3) * float32(r.Float64())
			}
		}
		for _, fn := range []struct {
			name string
			f    func(dst, x []float32)
		}{{"Sigmoid", Sigmoid}, {"Tanh", Tanh}} {
			g, a := make([]float32, len(x)), make([]float32, len(x))
			useAsm = false
			fn.f(g, x)
			useAsm = true
			fn.f(a, x)
			for i := range x {
				gn, an := g[i] != g[i], a[i] != a[i]
				if gn != an || (!gn && math.Abs(float64(g[i]-a[i])) > 2e-7) {
					t.Fatalf("%s(%v [%#x]): generic %v, asm %v", fn.name, x[i], math.Float32bits(x[i]), g[i], a[i])
				}
			}
		}
	})
}
