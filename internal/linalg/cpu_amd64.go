//go:build amd64 && !purego

package linalg

import "golang.org/x/sys/cpu"

// useAsm selects the AVX2+FMA assembly kernels. It is decided once from the
// CPU features (the OS must also save the YMM state, which x/sys/cpu checks
// for HasAVX2); tests flip it to cover the pure-Go path.
var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// sgemmKernel6x16 is the AVX2+FMA micro-kernel; see kernelFunc (strides
// in floats).
//
//go:noescape
func sgemmKernel6x16(k int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)

func kernelAsm(k int, a []float32, rsA, csA int, b []float32, csB int, c []float32, ldc int, alpha, beta float32) {
	_ = a[(mr-1)*rsA+(k-1)*csA]
	_ = b[(k-1)*csB+nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	sgemmKernel6x16(k, &a[0], rsA, csA, &b[0], csB, &c[0], ldc, alpha, beta)
}

//go:noescape
func sigmoidAVX2(dst, x *float32, n int)

//go:noescape
func tanhAVX2(dst, x *float32, n int)

// sigmoidAsm runs the assembly over the longest multiple-of-8 prefix and
// returns its length; the caller finishes the tail.
func sigmoidAsm(dst, x []float32) int {
	n := len(dst) &^ 7
	if n == 0 {
		return 0
	}
	_ = x[n-1]
	sigmoidAVX2(&dst[0], &x[0], n)
	return n
}

// tanhAsm is sigmoidAsm for tanh.
func tanhAsm(dst, x []float32) int {
	n := len(dst) &^ 7
	if n == 0 {
		return 0
	}
	_ = x[n-1]
	tanhAVX2(&dst[0], &x[0], n)
	return n
}

//go:noescape
func packRows16(dst, src *float32, k, ld int)

// packB16 copies k rows of 16 floats from src (row stride ld) to dst.
func packB16(dst, src []float32, k, ld int) {
	if k == 0 {
		return
	}
	_ = dst[16*k-1]
	_ = src[(k-1)*ld+15]
	if useAsm {
		packRows16(&dst[0], &src[0], k, ld)
		return
	}
	packB16Generic(dst, src, k, ld)
}

//go:noescape
func lstmBackwardAVX2(rows, hidden int, gates, dGates, cPrev, tanhC, dh, dc *float32)

// lstmBackwardAsm runs the assembly LSTM backward when it applies (hidden a
// multiple of 8, non-nil cPrev) and reports whether it did. Lengths are
// checked by the caller.
func lstmBackwardAsm(dGates, gates, cPrev, tanhC, dh, dc []float32, batch, hidden int) bool {
	if !useAsm || cPrev == nil || hidden%8 != 0 || batch == 0 || hidden == 0 {
		return false
	}
	lstmBackwardAVX2(batch, hidden, &gates[0], &dGates[0], &cPrev[0], &tanhC[0], &dh[0], &dc[0])
	return true
}

//go:noescape
func lstmForwardAVX2(rows, hidden int, gates, cPrev, c, h, tanhC *float32)

// lstmForwardAsm runs the assembly LSTM forward when it applies (hidden a
// multiple of 8, non-nil cPrev) and reports whether it did. Lengths are
// checked by the caller.
func lstmForwardAsm(gates, cPrev, c, h, tanhC []float32, batch, hidden int) bool {
	if !useAsm || cPrev == nil || hidden%8 != 0 || batch == 0 || hidden == 0 {
		return false
	}
	lstmForwardAVX2(batch, hidden, &gates[0], &cPrev[0], &c[0], &h[0], &tanhC[0])
	return true
}

// sgemmKernel1x16 is the AVX2+FMA one-row kernel; see rowKernelFunc.
//
//go:noescape
func sgemmKernel1x16(k int, a *float32, csA int, b, c *float32, alpha, beta float32)

func rowKernelAsm(k int, a []float32, csA int, b, c []float32, alpha, beta float32) {
	_ = a[(k-1)*csA]
	_ = b[(k-1)*nr+nr-1]
	_ = c[nr-1]
	sgemmKernel1x16(k, &a[0], csA, &b[0], &c[0], alpha, beta)
}

// sgemmKernel6x8 is the AVX2+FMA kernel for panels of at most 8 columns;
// see kernelFunc (it writes only 8 columns of C).
//
//go:noescape
func sgemmKernel6x8(k int, a *float32, rsA, csA int, b *float32, csB int, c *float32, ldc int, alpha, beta float32)

func kernel8Asm(k int, a []float32, rsA, csA int, b []float32, csB int, c []float32, ldc int, alpha, beta float32) {
	_ = a[(mr-1)*rsA+(k-1)*csA]
	_ = b[(k-1)*csB+7]
	_ = c[(mr-1)*ldc+7]
	sgemmKernel6x8(k, &a[0], rsA, csA, &b[0], csB, &c[0], ldc, alpha, beta)
}

//go:noescape
func axpyAVX2(alpha float32, x, y *float32, n int)

//go:noescape
func dotAVX2(x, y *float32, n int) float32

// axpyAsm runs y += alpha·x in assembly over the longest multiple-of-8
// prefix and returns its length. len(x) ≥ len(y) is checked by the caller.
func axpyAsm(alpha float32, x, y []float32) int {
	n := len(y) &^ 7
	if !useAsm || n == 0 {
		return 0
	}
	_ = x[n-1]
	axpyAVX2(alpha, &x[0], &y[0], n)
	return n
}

// dotAsm is axpyAsm for Dot: it returns the prefix length and its sum.
func dotAsm(x, y []float32) (int, float32) {
	n := len(x) &^ 7
	if !useAsm || n == 0 {
		return 0, 0
	}
	_ = y[n-1]
	return n, dotAVX2(&x[0], &y[0], n)
}
