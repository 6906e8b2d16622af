//go:build !amd64 || purego

package model

import "unsafe"

// Without the assembly, useAsm is false and gemmAcc runs gemmAccGo; these
// pure-Go kernels keep the same entry points compiling and correct.
var useAsm = false

func kernGo(rows, cols, k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, bias *float32) {
	cs := unsafe.Slice(c, (rows-1)*ldc+cols)
	if bias != nil {
		bs := unsafe.Slice(bias, cols)
		for i := range rows {
			copy(cs[i*ldc:i*ldc+cols], bs)
		}
	}
	if k == 0 {
		return
	}
	gemmAccGo(rows, cols, k, unsafe.Slice(a, (rows-1)*lda+k), lda, unsafe.Slice(b, (k-1)*ldb+cols), ldb, cs, ldc)
}

func kern6x16(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, bias *float32) {
	kernGo(6, 16, k, a, lda, b, ldb, c, ldc, bias)
}

func kern1x64(k int, a *float32, b *float32, ldb int, c *float32, bias *float32) {
	kernGo(1, 64, k, a, k, b, ldb, c, 64, bias)
}

func kern1x16(k int, a *float32, b *float32, ldb int, c *float32, bias *float32) {
	kernGo(1, 16, k, a, k, b, ldb, c, 16, bias)
}
