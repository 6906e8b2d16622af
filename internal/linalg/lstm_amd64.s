//go:build amd64 && !purego

#include "textflag.h"

DATA lstmone<>+0(SB)/4, $0x3f800000
GLOBL lstmone<>(SB), RODATA|NOPTR, $4

// func lstmBackwardAVX2(rows, hidden int, gates, dGates, cPrev, tanhC, dh, dc *float32)
//
// The body of LSTMCellBackward for hidden a positive multiple of 8 and a
// non-nil cPrev; see the Go version for the formulas. Per 8 lanes:
// Y0..Y3 = i, f, g, o; Y4 = tanh(c); Y5 = dh; Y6 = dc, then dc total;
// Y7 = cPrev; Y15 = 1.
TEXT ·lstmBackwardAVX2(SB), NOSPLIT, $0-64
	MOVQ rows+0(FP), R12
	MOVQ hidden+8(FP), BX
	MOVQ gates+16(FP), DI
	MOVQ dGates+24(FP), SI
	MOVQ cPrev+32(FP), R8
	MOVQ tanhC+40(FP), R9
	MOVQ dh+48(FP), R10
	MOVQ dc+56(FP), R11
	SHLQ $2, BX              // BX = H in bytes (f block offset)
	LEAQ (BX)(BX*1), DX      // DX = 2H bytes (g)
	LEAQ (DX)(BX*1), R13     // R13 = 3H bytes (o)
	VBROADCASTSS lstmone<>(SB), Y15
	TESTQ R12, R12
	JZ bdone

brow:
	MOVQ BX, CX
	SHRQ $5, CX              // 8 lanes per iteration

blane:
	VMOVUPS (DI), Y0
	VMOVUPS (DI)(BX*1), Y1
	VMOVUPS (DI)(DX*1), Y2
	VMOVUPS (DI)(R13*1), Y3
	VMOVUPS (R9), Y4
	VMOVUPS (R10), Y5
	VMOVUPS (R11), Y6
	VMOVUPS (R8), Y7

	// dct = dc + dh·o·(1-t²)
	VMULPS Y4, Y4, Y8
	VSUBPS Y8, Y15, Y8
	VMULPS Y3, Y8, Y8
	VFMADD231PS Y8, Y5, Y6

	// do = dh·t·o·(1-o)
	VSUBPS Y3, Y15, Y9
	VMULPS Y3, Y9, Y9
	VMULPS Y4, Y5, Y10
	VMULPS Y9, Y10, Y10
	VMOVUPS Y10, (SI)(R13*1)

	// di = dct·g·i·(1-i)
	VSUBPS Y0, Y15, Y9
	VMULPS Y0, Y9, Y9
	VMULPS Y2, Y6, Y10
	VMULPS Y9, Y10, Y10
	VMOVUPS Y10, (SI)

	// dg = dct·i·(1-g²)
	VMULPS Y2, Y2, Y9
	VSUBPS Y9, Y15, Y9
	VMULPS Y0, Y6, Y10
	VMULPS Y9, Y10, Y10
	VMOVUPS Y10, (SI)(DX*1)

	// df = dct·cPrev·f·(1-f)
	VSUBPS Y1, Y15, Y9
	VMULPS Y1, Y9, Y9
	VMULPS Y7, Y6, Y10
	VMULPS Y9, Y10, Y10
	VMOVUPS Y10, (SI)(BX*1)

	// dcPrev = dct·f
	VMULPS Y1, Y6, Y6
	VMOVUPS Y6, (R11)

	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $32, R10
	ADDQ $32, R11
	DECQ CX
	JNZ blane

	// DI and SI went over the i block; skip f, g and o.
	ADDQ R13, DI
	ADDQ R13, SI
	DECQ R12
	JNZ brow

bdone:
	VZEROUPPER
	RET
