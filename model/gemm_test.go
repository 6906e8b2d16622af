package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestGemmAccMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{{1, 1, 1}, {1, 16, 3}, {1, 64, 102}, {1, 256, 38}, {1, 38, 64}, {5, 17, 9}, {6, 16, 1}, {7, 80, 64}, {13, 33, 5}, {32, 256, 64}, {64, 38, 64}}
	for _, mode := range []struct{ asm, bias bool }{{true, false}, {true, true}, {false, false}, {false, true}} {
		asm := mode.asm
		if asm && !useAsm {
			continue
		}
		for _, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			lda, ldb, ldc := k+3, n+5, n+2
			a := make([]float32, m*lda)
			b := make([]float32, k*ldb)
			c := make([]float32, m*ldc)
			for _, v := range [][]float32{a, b, c} {
				for i := range v {
					v[i] = float32(rng.NormFloat64())
				}
			}
			var bias []float32
			if mode.bias {
				bias = make([]float32, n)
				for i := range bias {
					bias[i] = float32(rng.NormFloat64())
				}
			}
			want := make([]float64, len(c))
			for i := range m {
				for j := range ldc {
					want[i*ldc+j] = float64(c[i*ldc+j])
					if bias != nil && j < n {
						want[i*ldc+j] = float64(bias[j])
					}
					if j < n {
						for p := range k {
							want[i*ldc+j] += float64(a[i*lda+p]) * float64(b[p*ldb+j])
						}
					}
				}
			}
			saved := useAsm
			useAsm = asm
			if bias != nil {
				gemmBias(m, n, k, a, lda, b, ldb, c, ldc, bias)
			} else {
				gemmAcc(m, n, k, a, lda, b, ldb, c, ldc)
			}
			useAsm = saved
			for i := range c {
				if d := math.Abs(float64(c[i]) - want[i]); d > 1e-4*(1+math.Abs(want[i])) {
					t.Fatalf("asm=%v bias=%v %dx%dx%d: c[%d] = %v, want %v", asm, mode.bias, m, n, k, i, c[i], want[i])
				}
			}
		}
	}
}
