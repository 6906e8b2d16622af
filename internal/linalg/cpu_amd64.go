//go:build amd64 && !purego

package linalg

import "golang.org/x/sys/cpu"

// useAsm selects the AVX2+FMA assembly kernels. It is decided once from the
// CPU features (the OS must also save the YMM state, which x/sys/cpu checks
// for HasAVX2); tests flip it to cover the pure-Go path.
var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// sgemmKernel6x16 is the AVX2+FMA micro-kernel; see kernelFunc. k ≥ 0,
// a points to 6·k floats, b to 16·k floats, c to a 6×16 tile with row
// stride ldc floats.
//
//go:noescape
func sgemmKernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32)

func kernelAsm(k int, ap, bp, c []float32, ldc int, alpha, beta float32) {
	_ = ap[k*mr-1]
	_ = bp[k*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	sgemmKernel6x16(k, &ap[0], &bp[0], &c[0], ldc, alpha, beta)
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
