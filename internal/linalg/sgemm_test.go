package linalg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// withAsm runs f once per available implementation, naming the subtests.
func withAsm(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	saved := useAsm
	t.Cleanup(func() { useAsm = saved })
	modes := []bool{false}
	if saved {
		modes = append(modes, true)
	}
	for _, on := range modes {
		name := "generic"
		if on {
			name = "asm"
		}
		t.Run(name, func(t *testing.T) {
			useAsm = on
			defer func() { useAsm = saved }()
			f(t)
		})
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.Float64()*2 - 1)
	}
	return s
}

// refSgemm is the naive float64 reference.
func refSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) []float64 {
	out := make([]float64, len(c))
	for i := range c {
		out[i] = float64(c[i])
	}
	for i := range m {
		for j := range n {
			var s float64
			for l := range k {
				var av, bv float32
				if transA {
					av = a[l*lda+i]
				} else {
					av = a[i*lda+l]
				}
				if transB {
					bv = b[j*ldb+l]
				} else {
					bv = b[l*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			out[i*ldc+j] = v
		}
	}
	return out
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	padA, padB     int
	padC           int
	alpha, beta    float32
}

func (g gemmCase) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,m=%d,n=%d,k=%d,alpha=%g,beta=%g,pad=%d/%d/%d",
		g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.beta, g.padA, g.padB, g.padC)
}

// run executes the case with fn and compares against the reference. C
// starts as NaN when beta is zero so that any read of C shows up.
func (g gemmCase) run(t *testing.T, r *rand.Rand, fn func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int)) {
	t.Helper()
	ar, ac := g.m, g.k
	if g.transA {
		ar, ac = g.k, g.m
	}
	br, bc := g.k, g.n
	if g.transB {
		br, bc = g.n, g.k
	}
	lda, ldb, ldc := max(1, ac)+g.padA, max(1, bc)+g.padB, max(1, g.n)+g.padC
	a := randSlice(r, max(0, lda*(ar-1)+ac))
	b := randSlice(r, max(0, ldb*(br-1)+bc))
	c := randSlice(r, ldc*g.m) // includes padding after the last row
	if g.beta == 0 {
		for i := range g.m {
			for j := range g.n {
				c[i*ldc+j] = float32(math.NaN())
			}
		}
	}
	want := refSgemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, ldc)
	fn(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, ldc)
	tol := 1e-5 * float64(g.k+2)
	for i := range c {
		row, col := i/ldc, i%ldc
		if col >= g.n {
			if float64(c[i]) != want[i] {
				t.Fatalf("%v: padding C[%d,%d] changed: %v -> %v", g, row, col, want[i], c[i])
			}
			continue
		}
		if d := math.Abs(float64(c[i]) - want[i]); !(d <= tol) {
			t.Fatalf("%v: C[%d,%d] = %v, want %v (|diff| %g > %g)", g, row, col, c[i], want[i], d, tol)
		}
	}
}

func TestSgemmSizes(t *testing.T) {
	sizes := []int{1, 2, 3, 5, 7, 15, 16, 17, 31, 33, 64, 100, 255, 256, 257}
	withAsm(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		n := 0
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for _, m := range sizes {
					for _, nn := range sizes {
						for _, k := range sizes {
							// Sample the cube; keep every small case and the
							// corners, a random subset of the rest.
							big := m*nn*k > 64*64*64
							if big && r.IntN(8) != 0 {
								continue
							}
							g := gemmCase{
								transA: tA, transB: tB, m: m, n: nn, k: k,
								padA: r.IntN(3), padB: r.IntN(3), padC: r.IntN(3),
								alpha: []float32{1, -0.5, 0.75}[r.IntN(3)],
								beta:  []float32{0, 1, -0.5}[r.IntN(3)],
							}
							switch n % 3 {
							case 0:
								g.run(t, r, Sgemm)
							case 1:
								g.run(t, r, SgemmSerial)
							default:
								g.run(t, r, viaPacked(false))
							}
							n++
						}
					}
				}
			}
		}
		t.Logf("%d cases", n)
	})
}

func TestSgemmAlphaBeta(t *testing.T) {
	withAsm(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, alpha := range []float32{0, 1, -0.5} {
			for _, beta := range []float32{0, 1, -0.5} {
				for _, tA := range []bool{false, true} {
					for _, tB := range []bool{false, true} {
						for _, sz := range [][3]int{{7, 17, 33}, {64, 64, 64}, {100, 31, 257}, {13, 300, 600}, {12, 24, 70}, {30, 8, 9}, {8, 40, 300}} {
							g := gemmCase{transA: tA, transB: tB, m: sz[0], n: sz[1], k: sz[2], padA: 3, padB: 1, padC: 5, alpha: alpha, beta: beta}
							t.Run(g.String(), func(t *testing.T) {
								g.run(t, r, Sgemm)
								g.run(t, r, SgemmSerial)
								g.run(t, r, viaPacked(false))
								g.run(t, r, viaPacked(true))
							})
						}
					}
				}
			}
		}
	})
}

func TestSgemmZeroK(t *testing.T) {
	withAsm(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, beta := range []float32{0, 1, -0.5} {
			g := gemmCase{m: 9, n: 20, k: 0, alpha: 1, beta: beta}
			g.run(t, r, Sgemm)
		}
	})
}

// TestSgemmLSTMShapes covers the shapes omen's LSTM uses, including the
// parallel split along m and along n.
func TestSgemmLSTMShapes(t *testing.T) {
	cases := []gemmCase{
		{m: 2048, n: 256, k: 38, alpha: 1, beta: 0},               // input projection (reduced batch)
		{m: 256, n: 256, k: 64, alpha: 1, beta: 1},                // recurrent
		{transA: true, m: 38, n: 256, k: 2048, alpha: 1, beta: 1}, // dWx = Xᵀ·dG
		{transA: true, m: 64, n: 256, k: 256, alpha: 1, beta: 1},  // dWh = Hᵀ·dG
		{transB: true, m: 2048, n: 38, k: 256, alpha: 1, beta: 0}, // dX = dG·Wxᵀ
		{transB: true, m: 256, n: 64, k: 256, alpha: 1, beta: 0},  // dH = dG·Whᵀ
		{transA: true, transB: true, m: 70, n: 90, k: 600, alpha: -0.5, beta: -0.5},
	}
	withAsm(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, g := range cases {
			t.Run(g.String(), func(t *testing.T) {
				g.run(t, r, Sgemm)
				g.run(t, r, SgemmSerial)
				g.run(t, r, viaPacked(false))
			})
		}
	})
}

func TestSgemmPanics(t *testing.T) {
	a := make([]float32, 12)
	tests := []struct {
		name string
		f    func()
	}{
		{"negative m", func() { Sgemm(false, false, -1, 2, 2, 1, a, 2, a, 2, 0, a, 2) }},
		{"small lda", func() { Sgemm(false, false, 2, 2, 3, 1, a, 2, a, 2, 0, a, 2) }},
		{"small lda trans", func() { Sgemm(true, false, 3, 2, 2, 1, a, 2, a, 2, 0, a, 2) }},
		{"small ldb", func() { Sgemm(false, false, 2, 3, 2, 1, a, 2, a, 2, 0, a, 3) }},
		{"small ldc", func() { Sgemm(false, false, 2, 3, 2, 1, a, 2, a, 3, 0, a, 2) }},
		{"short A", func() { Sgemm(false, false, 7, 1, 2, 1, a, 2, a, 1, 0, a, 1) }},
		{"short B", func() { SgemmSerial(false, false, 1, 1, 13, 1, a, 13, a, 1, 0, a, 1) }},
		{"short C", func() { Sgemm(false, false, 4, 4, 1, 1, a, 1, a, 4, 0, a, 4) }},
		{"PackB short", func() { PackB(false, 4, 4, a, 4) }},
		{"PackB ldb", func() { PackB(true, 4, 2, a, 3) }},
		{"SgemmPacked nil", func() { SgemmPacked(false, 1, 1, a, 1, nil, 0, a, 1) }},
		{"SgemmPacked short A", func() { SgemmPacked(false, 5, 1, a, 3, PackB(false, 3, 3, a, 3), 0, make([]float32, 100), 3) }},
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

// viaPacked adapts PackB + SgemmPacked (or SgemmPackedSerial) to Sgemm's
// signature. It packs into a PackedB that first held a different, larger
// matrix, so that Repack's memory reuse is exercised too.
func viaPacked(serial bool) func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int) {
	return func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		junk := make([]float32, (k+3)*(n+20))
		for i := range junk {
			junk[i] = float32(i)
		}
		p := PackB(false, k+3, n+20, junk, n+20)
		p.Repack(transB, k, n, b, ldb)
		if kk, nn := p.Dims(); kk != k || nn != n {
			panic("Dims mismatch")
		}
		if serial {
			SgemmPackedSerial(transA, m, alpha, a, lda, p, beta, c, ldc)
			return
		}
		SgemmPacked(transA, m, alpha, a, lda, p, beta, c, ldc)
	}
}
