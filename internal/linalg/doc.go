// Package linalg provides the float32 kernels behind omen's LSTM: a
// row-major single-precision GEMM (Sgemm, SgemmSerial) and the fused vector
// helpers the LSTM cell, its backward pass and the Adam optimiser need.
//
// Everything is pure Go by default (no cgo). On amd64 CPUs with AVX2 and FMA
// the hot loops (the 6×16 GEMM micro-kernel and the sigmoid/tanh
// activations) run in hand-written assembly; the choice is made at run time
// from golang.org/x/sys/cpu, and the pure-Go path produces the same results
// up to float32 rounding.
//
// # GEMM
//
// Sgemm follows cblas_sgemm with CblasRowMajor: C = alpha·op(A)·op(B) +
// beta·C, where op(X) is X or Xᵀ. Matrices are row-major with explicit
// leading dimensions. When beta is zero C is never read, so it may hold
// NaNs. The implementation packs A and B into contiguous panels (Goto/BLIS
// scheme: MC×KC blocks of A for the L2 cache, KC×NR micro-panels of B for L1)
// and runs a register-blocked 6×16 micro-kernel over them. Sgemm splits large
// problems over up to runtime.GOMAXPROCS goroutines; SgemmSerial never starts
// a goroutine, for callers that already parallelise.
//
// # Contracts
//
// All functions are safe for concurrent use on disjoint outputs; they keep no
// state between calls apart from pooled scratch buffers. Like gonum's BLAS,
// they panic only on programmer errors (negative sizes, leading dimensions
// too small, slices too short, mismatched vector lengths); they never return
// errors.
//
// # LSTM gate layout
//
// The fused LSTM helpers (LSTMCellForward, LSTMCellBackward) use PyTorch's
// gate order: each row of the B×4H gate matrix is [i | f | g | o], each block
// H wide, i, f, o through the logistic sigmoid and g through tanh.
package linalg
