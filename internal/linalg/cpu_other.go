//go:build !amd64 || purego

package linalg

// useAsm is false without the amd64 assembly; the variable exists so tests
// can flip it uniformly on every platform.
var useAsm = false

func kernelAsm(k int, ap, bp, c []float32, ldc int, alpha, beta float32) {
	kernelGeneric(k, ap, bp, c, ldc, alpha, beta)
}

func sigmoidAsm(dst, x []float32) int { return 0 }

func tanhAsm(dst, x []float32) int { return 0 }
