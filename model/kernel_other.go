//go:build !amd64 || purego

package model

import "unsafe"

// Without the assembly, useAsm is false and gemmAcc runs gemmAccGo; these
// pure-Go kernels keep the same entry points compiling and correct.
var useAsm = false

func kern6x16(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int) {
	if k == 0 {
		return
	}
	gemmAccGo(6, 16, k, unsafe.Slice(a, 5*lda+k), lda, unsafe.Slice(b, (k-1)*ldb+16), ldb, unsafe.Slice(c, 5*ldc+16), ldc)
}

func kern1x64(k int, a *float32, b *float32, ldb int, c *float32) {
	if k == 0 {
		return
	}
	gemmAccGo(1, 64, k, unsafe.Slice(a, k), k, unsafe.Slice(b, (k-1)*ldb+64), ldb, unsafe.Slice(c, 64), 64)
}

func kern1x16(k int, a *float32, b *float32, ldb int, c *float32) {
	if k == 0 {
		return
	}
	gemmAccGo(1, 16, k, unsafe.Slice(a, k), k, unsafe.Slice(b, (k-1)*ldb+16), ldb, unsafe.Slice(c, 16), 16)
}
