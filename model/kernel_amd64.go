//go:build amd64 && !purego

package model

import "golang.org/x/sys/cpu"

// useAsm selects the AVX2+FMA kernels of kernel_amd64.s; tests flip it to
// cover the pure-Go path.
var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func kern6x16(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, bias *float32)

//go:noescape
func kern1x64(k int, a *float32, b *float32, ldb int, c *float32, bias *float32)

//go:noescape
func kern1x16(k int, a *float32, b *float32, ldb int, c *float32, bias *float32)
