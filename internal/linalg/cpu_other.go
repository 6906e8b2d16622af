//go:build !amd64 || purego

package linalg

// useAsm is false without the amd64 assembly; the variable exists so tests
// can flip it uniformly on every platform.
var useAsm = false

func kernelAsm(k int, a []float32, rsA, csA int, b []float32, csB int, c []float32, ldc int, alpha, beta float32) {
	kernelGeneric(k, a, rsA, csA, b, csB, c, ldc, alpha, beta)
}

func sigmoidAsm(dst, x []float32) int { return 0 }

func tanhAsm(dst, x []float32) int { return 0 }

func packB16(dst, src []float32, k, ld int) { packB16Generic(dst, src, k, ld) }

func lstmBackwardAsm(dGates, gates, cPrev, tanhC, dh, dc []float32, batch, hidden int) bool {
	return false
}

func lstmForwardAsm(gates, cPrev, c, h, tanhC []float32, batch, hidden int) bool {
	return false
}

func rowKernelAsm(k int, a []float32, csA int, b, c []float32, alpha, beta float32) {
	rowKernelGeneric(k, a, csA, b, c, alpha, beta)
}

func kernel8Asm(k int, a []float32, rsA, csA int, b []float32, csB int, c []float32, ldc int, alpha, beta float32) {
	kernel8Generic(k, a, rsA, csA, b, csB, c, ldc, alpha, beta)
}

func axpyAsm(alpha float32, x, y []float32) int { return 0 }

func dotAsm(x, y []float32) (int, float32) { return 0, 0 }
