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
