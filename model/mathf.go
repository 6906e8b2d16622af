package model

import (
	"math"

	"github.com/omen-sre/omen/internal/linalg"
)

// sgemm computes C = alpha·op(A)·op(B) + beta·C with row-major BLAS
// semantics on internal/linalg's packed AVX2/FMA kernel. It never starts
// goroutines: the callers parallelise over chunks of windows.
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	linalg.SgemmSerial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// expf is a float32 exp (Cephes expf polynomial, relative error ≈ 1e-7),
// clamped to the finite float32 range.
func expf(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
	)
	if x > 88.0 {
		x = 88.0
	} else if x < -87.33654475 {
		x = -87.33654475
	}
	fx := x*log2e + 0.5
	n := int32(fx)
	if fx < 0 && float32(n) != fx {
		n--
	}
	fn := float32(n)
	r := x - fn*c1 - fn*c2
	z := r * r
	p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	p = p*z + r + 1
	return p * math.Float32frombits(uint32(n+127)<<23)
}

func sigmoidf(x float32) float32 { return 1 / (1 + expf(-x)) }

func tanhf(x float32) float32 { return 1 - 2/(expf(2*x)+1) }

// sigmoid64 is the float64 logistic function for the probability output.
func sigmoid64(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// softplus64 is log(1+e^x), computed stably.
func softplus64(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}
