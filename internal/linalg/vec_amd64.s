//go:build amd64 && !purego

#include "textflag.h"

// expconst<> holds the constants of the Cephes single-precision exp, each
// replicated eight times so it can be a 256-bit memory operand.
DATA expconst<>+0(SB)/4, $0x3fb8aa3b // log2e
DATA expconst<>+4(SB)/4, $0x3fb8aa3b // log2e
DATA expconst<>+8(SB)/4, $0x3fb8aa3b // log2e
DATA expconst<>+12(SB)/4, $0x3fb8aa3b // log2e
DATA expconst<>+16(SB)/4, $0x3fb8aa3b // log2e
DATA expconst<>+20(SB)/4, $0x3fb8aa3b // log2e
DATA expconst<>+24(SB)/4, $0x3fb8aa3b // log2e
DATA expconst<>+28(SB)/4, $0x3fb8aa3b // log2e
DATA expconst<>+32(SB)/4, $0x3f318000 // c1
DATA expconst<>+36(SB)/4, $0x3f318000 // c1
DATA expconst<>+40(SB)/4, $0x3f318000 // c1
DATA expconst<>+44(SB)/4, $0x3f318000 // c1
DATA expconst<>+48(SB)/4, $0x3f318000 // c1
DATA expconst<>+52(SB)/4, $0x3f318000 // c1
DATA expconst<>+56(SB)/4, $0x3f318000 // c1
DATA expconst<>+60(SB)/4, $0x3f318000 // c1
DATA expconst<>+64(SB)/4, $0xb95e8083 // c2
DATA expconst<>+68(SB)/4, $0xb95e8083 // c2
DATA expconst<>+72(SB)/4, $0xb95e8083 // c2
DATA expconst<>+76(SB)/4, $0xb95e8083 // c2
DATA expconst<>+80(SB)/4, $0xb95e8083 // c2
DATA expconst<>+84(SB)/4, $0xb95e8083 // c2
DATA expconst<>+88(SB)/4, $0xb95e8083 // c2
DATA expconst<>+92(SB)/4, $0xb95e8083 // c2
DATA expconst<>+96(SB)/4, $0x39506967 // p0
DATA expconst<>+100(SB)/4, $0x39506967 // p0
DATA expconst<>+104(SB)/4, $0x39506967 // p0
DATA expconst<>+108(SB)/4, $0x39506967 // p0
DATA expconst<>+112(SB)/4, $0x39506967 // p0
DATA expconst<>+116(SB)/4, $0x39506967 // p0
DATA expconst<>+120(SB)/4, $0x39506967 // p0
DATA expconst<>+124(SB)/4, $0x39506967 // p0
DATA expconst<>+128(SB)/4, $0x3ab743ce // p1
DATA expconst<>+132(SB)/4, $0x3ab743ce // p1
DATA expconst<>+136(SB)/4, $0x3ab743ce // p1
DATA expconst<>+140(SB)/4, $0x3ab743ce // p1
DATA expconst<>+144(SB)/4, $0x3ab743ce // p1
DATA expconst<>+148(SB)/4, $0x3ab743ce // p1
DATA expconst<>+152(SB)/4, $0x3ab743ce // p1
DATA expconst<>+156(SB)/4, $0x3ab743ce // p1
DATA expconst<>+160(SB)/4, $0x3c088908 // p2
DATA expconst<>+164(SB)/4, $0x3c088908 // p2
DATA expconst<>+168(SB)/4, $0x3c088908 // p2
DATA expconst<>+172(SB)/4, $0x3c088908 // p2
DATA expconst<>+176(SB)/4, $0x3c088908 // p2
DATA expconst<>+180(SB)/4, $0x3c088908 // p2
DATA expconst<>+184(SB)/4, $0x3c088908 // p2
DATA expconst<>+188(SB)/4, $0x3c088908 // p2
DATA expconst<>+192(SB)/4, $0x3d2aa9c1 // p3
DATA expconst<>+196(SB)/4, $0x3d2aa9c1 // p3
DATA expconst<>+200(SB)/4, $0x3d2aa9c1 // p3
DATA expconst<>+204(SB)/4, $0x3d2aa9c1 // p3
DATA expconst<>+208(SB)/4, $0x3d2aa9c1 // p3
DATA expconst<>+212(SB)/4, $0x3d2aa9c1 // p3
DATA expconst<>+216(SB)/4, $0x3d2aa9c1 // p3
DATA expconst<>+220(SB)/4, $0x3d2aa9c1 // p3
DATA expconst<>+224(SB)/4, $0x3e2aaaaa // p4
DATA expconst<>+228(SB)/4, $0x3e2aaaaa // p4
DATA expconst<>+232(SB)/4, $0x3e2aaaaa // p4
DATA expconst<>+236(SB)/4, $0x3e2aaaaa // p4
DATA expconst<>+240(SB)/4, $0x3e2aaaaa // p4
DATA expconst<>+244(SB)/4, $0x3e2aaaaa // p4
DATA expconst<>+248(SB)/4, $0x3e2aaaaa // p4
DATA expconst<>+252(SB)/4, $0x3e2aaaaa // p4
DATA expconst<>+256(SB)/4, $0x3f000000 // p5
DATA expconst<>+260(SB)/4, $0x3f000000 // p5
DATA expconst<>+264(SB)/4, $0x3f000000 // p5
DATA expconst<>+268(SB)/4, $0x3f000000 // p5
DATA expconst<>+272(SB)/4, $0x3f000000 // p5
DATA expconst<>+276(SB)/4, $0x3f000000 // p5
DATA expconst<>+280(SB)/4, $0x3f000000 // p5
DATA expconst<>+284(SB)/4, $0x3f000000 // p5
DATA expconst<>+288(SB)/4, $0x3f800000 // one
DATA expconst<>+292(SB)/4, $0x3f800000 // one
DATA expconst<>+296(SB)/4, $0x3f800000 // one
DATA expconst<>+300(SB)/4, $0x3f800000 // one
DATA expconst<>+304(SB)/4, $0x3f800000 // one
DATA expconst<>+308(SB)/4, $0x3f800000 // one
DATA expconst<>+312(SB)/4, $0x3f800000 // one
DATA expconst<>+316(SB)/4, $0x3f800000 // one
DATA expconst<>+320(SB)/4, $0x40000000 // two
DATA expconst<>+324(SB)/4, $0x40000000 // two
DATA expconst<>+328(SB)/4, $0x40000000 // two
DATA expconst<>+332(SB)/4, $0x40000000 // two
DATA expconst<>+336(SB)/4, $0x40000000 // two
DATA expconst<>+340(SB)/4, $0x40000000 // two
DATA expconst<>+344(SB)/4, $0x40000000 // two
DATA expconst<>+348(SB)/4, $0x40000000 // two
DATA expconst<>+352(SB)/4, $0x0000007f // i127
DATA expconst<>+356(SB)/4, $0x0000007f // i127
DATA expconst<>+360(SB)/4, $0x0000007f // i127
DATA expconst<>+364(SB)/4, $0x0000007f // i127
DATA expconst<>+368(SB)/4, $0x0000007f // i127
DATA expconst<>+372(SB)/4, $0x0000007f // i127
DATA expconst<>+376(SB)/4, $0x0000007f // i127
DATA expconst<>+380(SB)/4, $0x0000007f // i127
DATA expconst<>+384(SB)/4, $0x80000000 // sign
DATA expconst<>+388(SB)/4, $0x80000000 // sign
DATA expconst<>+392(SB)/4, $0x80000000 // sign
DATA expconst<>+396(SB)/4, $0x80000000 // sign
DATA expconst<>+400(SB)/4, $0x80000000 // sign
DATA expconst<>+404(SB)/4, $0x80000000 // sign
DATA expconst<>+408(SB)/4, $0x80000000 // sign
DATA expconst<>+412(SB)/4, $0x80000000 // sign
DATA expconst<>+416(SB)/4, $0x42b16666 // hi
DATA expconst<>+420(SB)/4, $0x42b16666 // hi
DATA expconst<>+424(SB)/4, $0x42b16666 // hi
DATA expconst<>+428(SB)/4, $0x42b16666 // hi
DATA expconst<>+432(SB)/4, $0x42b16666 // hi
DATA expconst<>+436(SB)/4, $0x42b16666 // hi
DATA expconst<>+440(SB)/4, $0x42b16666 // hi
DATA expconst<>+444(SB)/4, $0x42b16666 // hi
DATA expconst<>+448(SB)/4, $0xc2ae999a // lo
DATA expconst<>+452(SB)/4, $0xc2ae999a // lo
DATA expconst<>+456(SB)/4, $0xc2ae999a // lo
DATA expconst<>+460(SB)/4, $0xc2ae999a // lo
DATA expconst<>+464(SB)/4, $0xc2ae999a // lo
DATA expconst<>+468(SB)/4, $0xc2ae999a // lo
DATA expconst<>+472(SB)/4, $0xc2ae999a // lo
DATA expconst<>+476(SB)/4, $0xc2ae999a // lo
GLOBL expconst<>(SB), RODATA|NOPTR, $480

// func sigmoidAVX2(dst, x *float32, n int)
//
// dst[i] = 1/(1+exp(-x[i])) for i < n; n must be a positive multiple of 8.
TEXT ·sigmoidAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VMOVUPS expconst<>+416(SB), Y14
	VMOVUPS expconst<>+448(SB), Y15
	CMPQ CX, $32
	JLT sigmoidAVX2_tail

sigmoidAVX2_loop32:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y3
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y9
	VXORPS expconst<>+384(SB), Y0, Y0
	VXORPS expconst<>+384(SB), Y3, Y3
	VXORPS expconst<>+384(SB), Y6, Y6
	VXORPS expconst<>+384(SB), Y9, Y9
	VMINPS Y0, Y14, Y0
	VMINPS Y3, Y14, Y3
	VMINPS Y6, Y14, Y6
	VMINPS Y9, Y14, Y9
	VMAXPS Y0, Y15, Y0
	VMAXPS Y3, Y15, Y3
	VMAXPS Y6, Y15, Y6
	VMAXPS Y9, Y15, Y9
	VMULPS expconst<>+0(SB), Y0, Y1
	VMULPS expconst<>+0(SB), Y3, Y4
	VMULPS expconst<>+0(SB), Y6, Y7
	VMULPS expconst<>+0(SB), Y9, Y10
	VROUNDPS $0, Y1, Y1
	VROUNDPS $0, Y4, Y4
	VROUNDPS $0, Y7, Y7
	VROUNDPS $0, Y10, Y10
	VFNMADD231PS expconst<>+32(SB), Y1, Y0
	VFNMADD231PS expconst<>+32(SB), Y4, Y3
	VFNMADD231PS expconst<>+32(SB), Y7, Y6
	VFNMADD231PS expconst<>+32(SB), Y10, Y9
	VFNMADD231PS expconst<>+64(SB), Y1, Y0
	VFNMADD231PS expconst<>+64(SB), Y4, Y3
	VFNMADD231PS expconst<>+64(SB), Y7, Y6
	VFNMADD231PS expconst<>+64(SB), Y10, Y9
	VMOVUPS expconst<>+96(SB), Y2
	VMOVUPS expconst<>+96(SB), Y5
	VMOVUPS expconst<>+96(SB), Y8
	VMOVUPS expconst<>+96(SB), Y11
	VFMADD213PS expconst<>+128(SB), Y0, Y2
	VFMADD213PS expconst<>+128(SB), Y3, Y5
	VFMADD213PS expconst<>+128(SB), Y6, Y8
	VFMADD213PS expconst<>+128(SB), Y9, Y11
	VFMADD213PS expconst<>+160(SB), Y0, Y2
	VFMADD213PS expconst<>+160(SB), Y3, Y5
	VFMADD213PS expconst<>+160(SB), Y6, Y8
	VFMADD213PS expconst<>+160(SB), Y9, Y11
	VFMADD213PS expconst<>+192(SB), Y0, Y2
	VFMADD213PS expconst<>+192(SB), Y3, Y5
	VFMADD213PS expconst<>+192(SB), Y6, Y8
	VFMADD213PS expconst<>+192(SB), Y9, Y11
	VFMADD213PS expconst<>+224(SB), Y0, Y2
	VFMADD213PS expconst<>+224(SB), Y3, Y5
	VFMADD213PS expconst<>+224(SB), Y6, Y8
	VFMADD213PS expconst<>+224(SB), Y9, Y11
	VFMADD213PS expconst<>+256(SB), Y0, Y2
	VFMADD213PS expconst<>+256(SB), Y3, Y5
	VFMADD213PS expconst<>+256(SB), Y6, Y8
	VFMADD213PS expconst<>+256(SB), Y9, Y11
	VMULPS Y0, Y2, Y2
	VMULPS Y3, Y5, Y5
	VMULPS Y6, Y8, Y8
	VMULPS Y9, Y11, Y11
	VFMADD213PS Y0, Y0, Y2
	VFMADD213PS Y3, Y3, Y5
	VFMADD213PS Y6, Y6, Y8
	VFMADD213PS Y9, Y9, Y11
	VADDPS expconst<>+288(SB), Y2, Y2
	VADDPS expconst<>+288(SB), Y5, Y5
	VADDPS expconst<>+288(SB), Y8, Y8
	VADDPS expconst<>+288(SB), Y11, Y11
	VCVTPS2DQ Y1, Y1
	VCVTPS2DQ Y4, Y4
	VCVTPS2DQ Y7, Y7
	VCVTPS2DQ Y10, Y10
	VPADDD expconst<>+352(SB), Y1, Y1
	VPADDD expconst<>+352(SB), Y4, Y4
	VPADDD expconst<>+352(SB), Y7, Y7
	VPADDD expconst<>+352(SB), Y10, Y10
	VPSLLD $23, Y1, Y1
	VPSLLD $23, Y4, Y4
	VPSLLD $23, Y7, Y7
	VPSLLD $23, Y10, Y10
	VMULPS Y1, Y2, Y0
	VMULPS Y4, Y5, Y3
	VMULPS Y7, Y8, Y6
	VMULPS Y10, Y11, Y9
	VADDPS expconst<>+288(SB), Y0, Y0
	VADDPS expconst<>+288(SB), Y3, Y3
	VADDPS expconst<>+288(SB), Y6, Y6
	VADDPS expconst<>+288(SB), Y9, Y9
	VMOVUPS expconst<>+288(SB), Y1
	VMOVUPS expconst<>+288(SB), Y4
	VMOVUPS expconst<>+288(SB), Y7
	VMOVUPS expconst<>+288(SB), Y10
	VDIVPS Y0, Y1, Y0
	VDIVPS Y3, Y4, Y3
	VDIVPS Y6, Y7, Y6
	VDIVPS Y9, Y10, Y9
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y3, 32(DI)
	VMOVUPS Y6, 64(DI)
	VMOVUPS Y9, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	CMPQ CX, $32
	JGE sigmoidAVX2_loop32

sigmoidAVX2_tail:
	TESTQ CX, CX
	JZ sigmoidAVX2_done

sigmoidAVX2_loop8:
	VMOVUPS 0(SI), Y0
	VXORPS expconst<>+384(SB), Y0, Y0
	VMINPS Y0, Y14, Y0
	VMAXPS Y0, Y15, Y0
	VMULPS expconst<>+0(SB), Y0, Y1
	VROUNDPS $0, Y1, Y1
	VFNMADD231PS expconst<>+32(SB), Y1, Y0
	VFNMADD231PS expconst<>+64(SB), Y1, Y0
	VMOVUPS expconst<>+96(SB), Y2
	VFMADD213PS expconst<>+128(SB), Y0, Y2
	VFMADD213PS expconst<>+160(SB), Y0, Y2
	VFMADD213PS expconst<>+192(SB), Y0, Y2
	VFMADD213PS expconst<>+224(SB), Y0, Y2
	VFMADD213PS expconst<>+256(SB), Y0, Y2
	VMULPS Y0, Y2, Y2
	VFMADD213PS Y0, Y0, Y2
	VADDPS expconst<>+288(SB), Y2, Y2
	VCVTPS2DQ Y1, Y1
	VPADDD expconst<>+352(SB), Y1, Y1
	VPSLLD $23, Y1, Y1
	VMULPS Y1, Y2, Y0
	VADDPS expconst<>+288(SB), Y0, Y0
	VMOVUPS expconst<>+288(SB), Y1
	VDIVPS Y0, Y1, Y0
	VMOVUPS Y0, 0(DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ sigmoidAVX2_loop8

sigmoidAVX2_done:
	VZEROUPPER
	RET

// func tanhAVX2(dst, x *float32, n int)
//
// dst[i] = 1-2/(1+exp(2·x[i])) for i < n; n must be a positive multiple of 8.
TEXT ·tanhAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VMOVUPS expconst<>+416(SB), Y14
	VMOVUPS expconst<>+448(SB), Y15
	CMPQ CX, $32
	JLT tanhAVX2_tail

tanhAVX2_loop32:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y3
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y9
	VADDPS Y0, Y0, Y0
	VADDPS Y3, Y3, Y3
	VADDPS Y6, Y6, Y6
	VADDPS Y9, Y9, Y9
	VMINPS Y0, Y14, Y0
	VMINPS Y3, Y14, Y3
	VMINPS Y6, Y14, Y6
	VMINPS Y9, Y14, Y9
	VMAXPS Y0, Y15, Y0
	VMAXPS Y3, Y15, Y3
	VMAXPS Y6, Y15, Y6
	VMAXPS Y9, Y15, Y9
	VMULPS expconst<>+0(SB), Y0, Y1
	VMULPS expconst<>+0(SB), Y3, Y4
	VMULPS expconst<>+0(SB), Y6, Y7
	VMULPS expconst<>+0(SB), Y9, Y10
	VROUNDPS $0, Y1, Y1
	VROUNDPS $0, Y4, Y4
	VROUNDPS $0, Y7, Y7
	VROUNDPS $0, Y10, Y10
	VFNMADD231PS expconst<>+32(SB), Y1, Y0
	VFNMADD231PS expconst<>+32(SB), Y4, Y3
	VFNMADD231PS expconst<>+32(SB), Y7, Y6
	VFNMADD231PS expconst<>+32(SB), Y10, Y9
	VFNMADD231PS expconst<>+64(SB), Y1, Y0
	VFNMADD231PS expconst<>+64(SB), Y4, Y3
	VFNMADD231PS expconst<>+64(SB), Y7, Y6
	VFNMADD231PS expconst<>+64(SB), Y10, Y9
	VMOVUPS expconst<>+96(SB), Y2
	VMOVUPS expconst<>+96(SB), Y5
	VMOVUPS expconst<>+96(SB), Y8
	VMOVUPS expconst<>+96(SB), Y11
	VFMADD213PS expconst<>+128(SB), Y0, Y2
	VFMADD213PS expconst<>+128(SB), Y3, Y5
	VFMADD213PS expconst<>+128(SB), Y6, Y8
	VFMADD213PS expconst<>+128(SB), Y9, Y11
	VFMADD213PS expconst<>+160(SB), Y0, Y2
	VFMADD213PS expconst<>+160(SB), Y3, Y5
	VFMADD213PS expconst<>+160(SB), Y6, Y8
	VFMADD213PS expconst<>+160(SB), Y9, Y11
	VFMADD213PS expconst<>+192(SB), Y0, Y2
	VFMADD213PS expconst<>+192(SB), Y3, Y5
	VFMADD213PS expconst<>+192(SB), Y6, Y8
	VFMADD213PS expconst<>+192(SB), Y9, Y11
	VFMADD213PS expconst<>+224(SB), Y0, Y2
	VFMADD213PS expconst<>+224(SB), Y3, Y5
	VFMADD213PS expconst<>+224(SB), Y6, Y8
	VFMADD213PS expconst<>+224(SB), Y9, Y11
	VFMADD213PS expconst<>+256(SB), Y0, Y2
	VFMADD213PS expconst<>+256(SB), Y3, Y5
	VFMADD213PS expconst<>+256(SB), Y6, Y8
	VFMADD213PS expconst<>+256(SB), Y9, Y11
	VMULPS Y0, Y2, Y2
	VMULPS Y3, Y5, Y5
	VMULPS Y6, Y8, Y8
	VMULPS Y9, Y11, Y11
	VFMADD213PS Y0, Y0, Y2
	VFMADD213PS Y3, Y3, Y5
	VFMADD213PS Y6, Y6, Y8
	VFMADD213PS Y9, Y9, Y11
	VADDPS expconst<>+288(SB), Y2, Y2
	VADDPS expconst<>+288(SB), Y5, Y5
	VADDPS expconst<>+288(SB), Y8, Y8
	VADDPS expconst<>+288(SB), Y11, Y11
	VCVTPS2DQ Y1, Y1
	VCVTPS2DQ Y4, Y4
	VCVTPS2DQ Y7, Y7
	VCVTPS2DQ Y10, Y10
	VPADDD expconst<>+352(SB), Y1, Y1
	VPADDD expconst<>+352(SB), Y4, Y4
	VPADDD expconst<>+352(SB), Y7, Y7
	VPADDD expconst<>+352(SB), Y10, Y10
	VPSLLD $23, Y1, Y1
	VPSLLD $23, Y4, Y4
	VPSLLD $23, Y7, Y7
	VPSLLD $23, Y10, Y10
	VMULPS Y1, Y2, Y0
	VMULPS Y4, Y5, Y3
	VMULPS Y7, Y8, Y6
	VMULPS Y10, Y11, Y9
	VADDPS expconst<>+288(SB), Y0, Y0
	VADDPS expconst<>+288(SB), Y3, Y3
	VADDPS expconst<>+288(SB), Y6, Y6
	VADDPS expconst<>+288(SB), Y9, Y9
	VMOVUPS expconst<>+320(SB), Y1
	VMOVUPS expconst<>+320(SB), Y4
	VMOVUPS expconst<>+320(SB), Y7
	VMOVUPS expconst<>+320(SB), Y10
	VDIVPS Y0, Y1, Y1
	VDIVPS Y3, Y4, Y4
	VDIVPS Y6, Y7, Y7
	VDIVPS Y9, Y10, Y10
	VMOVUPS expconst<>+288(SB), Y0
	VMOVUPS expconst<>+288(SB), Y3
	VMOVUPS expconst<>+288(SB), Y6
	VMOVUPS expconst<>+288(SB), Y9
	VSUBPS Y1, Y0, Y0
	VSUBPS Y4, Y3, Y3
	VSUBPS Y7, Y6, Y6
	VSUBPS Y10, Y9, Y9
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y3, 32(DI)
	VMOVUPS Y6, 64(DI)
	VMOVUPS Y9, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	CMPQ CX, $32
	JGE tanhAVX2_loop32

tanhAVX2_tail:
	TESTQ CX, CX
	JZ tanhAVX2_done

tanhAVX2_loop8:
	VMOVUPS 0(SI), Y0
	VADDPS Y0, Y0, Y0
	VMINPS Y0, Y14, Y0
	VMAXPS Y0, Y15, Y0
	VMULPS expconst<>+0(SB), Y0, Y1
	VROUNDPS $0, Y1, Y1
	VFNMADD231PS expconst<>+32(SB), Y1, Y0
	VFNMADD231PS expconst<>+64(SB), Y1, Y0
	VMOVUPS expconst<>+96(SB), Y2
	VFMADD213PS expconst<>+128(SB), Y0, Y2
	VFMADD213PS expconst<>+160(SB), Y0, Y2
	VFMADD213PS expconst<>+192(SB), Y0, Y2
	VFMADD213PS expconst<>+224(SB), Y0, Y2
	VFMADD213PS expconst<>+256(SB), Y0, Y2
	VMULPS Y0, Y2, Y2
	VFMADD213PS Y0, Y0, Y2
	VADDPS expconst<>+288(SB), Y2, Y2
	VCVTPS2DQ Y1, Y1
	VPADDD expconst<>+352(SB), Y1, Y1
	VPSLLD $23, Y1, Y1
	VMULPS Y1, Y2, Y0
	VADDPS expconst<>+288(SB), Y0, Y0
	VMOVUPS expconst<>+320(SB), Y1
	VDIVPS Y0, Y1, Y1
	VMOVUPS expconst<>+288(SB), Y0
	VSUBPS Y1, Y0, Y0
	VMOVUPS Y0, 0(DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ tanhAVX2_loop8

tanhAVX2_done:
	VZEROUPPER
	RET

// func lstmForwardAVX2(rows, hidden int, gates, cPrev, c, h, tanhC *float32)
//
// The body of LSTMCellForward for hidden a positive multiple of 8 and a
// non-nil cPrev. Per 8 lanes: Y0..Y3 = i, f, g, o (activated in place),
// Y12 = c, Y13 = tanh(c); Y14/Y15 hold the exp clamp bounds.
TEXT ·lstmForwardAVX2(SB), NOSPLIT, $0-56
	MOVQ rows+0(FP), R12
	MOVQ hidden+8(FP), BX
	MOVQ gates+16(FP), DI
	MOVQ cPrev+24(FP), R8
	MOVQ c+32(FP), R9
	MOVQ h+40(FP), R10
	MOVQ tanhC+48(FP), R11
	SHLQ $2, BX
	LEAQ (BX)(BX*1), DX
	LEAQ (DX)(BX*1), R13
	VMOVUPS expconst<>+416(SB), Y14
	VMOVUPS expconst<>+448(SB), Y15
	TESTQ R12, R12
	JZ fdone

frow:
	MOVQ BX, CX
	SHRQ $5, CX

flane:
	VMOVUPS (DI), Y0
	VMOVUPS (DI)(BX*1), Y1
	VMOVUPS (DI)(DX*1), Y2
	VMOVUPS (DI)(R13*1), Y3
	VXORPS expconst<>+384(SB), Y0, Y0
	VXORPS expconst<>+384(SB), Y1, Y1
	VADDPS Y2, Y2, Y2
	VXORPS expconst<>+384(SB), Y3, Y3
	VMINPS Y0, Y14, Y0
	VMINPS Y1, Y14, Y1
	VMINPS Y2, Y14, Y2
	VMINPS Y3, Y14, Y3
	VMAXPS Y0, Y15, Y0
	VMAXPS Y1, Y15, Y1
	VMAXPS Y2, Y15, Y2
	VMAXPS Y3, Y15, Y3
	VMULPS expconst<>+0(SB), Y0, Y4
	VMULPS expconst<>+0(SB), Y1, Y6
	VMULPS expconst<>+0(SB), Y2, Y8
	VMULPS expconst<>+0(SB), Y3, Y10
	VROUNDPS $0, Y4, Y4
	VROUNDPS $0, Y6, Y6
	VROUNDPS $0, Y8, Y8
	VROUNDPS $0, Y10, Y10
	VFNMADD231PS expconst<>+32(SB), Y4, Y0
	VFNMADD231PS expconst<>+32(SB), Y6, Y1
	VFNMADD231PS expconst<>+32(SB), Y8, Y2
	VFNMADD231PS expconst<>+32(SB), Y10, Y3
	VFNMADD231PS expconst<>+64(SB), Y4, Y0
	VFNMADD231PS expconst<>+64(SB), Y6, Y1
	VFNMADD231PS expconst<>+64(SB), Y8, Y2
	VFNMADD231PS expconst<>+64(SB), Y10, Y3
	VMOVUPS expconst<>+96(SB), Y5
	VMOVUPS expconst<>+96(SB), Y7
	VMOVUPS expconst<>+96(SB), Y9
	VMOVUPS expconst<>+96(SB), Y11
	VFMADD213PS expconst<>+128(SB), Y0, Y5
	VFMADD213PS expconst<>+128(SB), Y1, Y7
	VFMADD213PS expconst<>+128(SB), Y2, Y9
	VFMADD213PS expconst<>+128(SB), Y3, Y11
	VFMADD213PS expconst<>+160(SB), Y0, Y5
	VFMADD213PS expconst<>+160(SB), Y1, Y7
	VFMADD213PS expconst<>+160(SB), Y2, Y9
	VFMADD213PS expconst<>+160(SB), Y3, Y11
	VFMADD213PS expconst<>+192(SB), Y0, Y5
	VFMADD213PS expconst<>+192(SB), Y1, Y7
	VFMADD213PS expconst<>+192(SB), Y2, Y9
	VFMADD213PS expconst<>+192(SB), Y3, Y11
	VFMADD213PS expconst<>+224(SB), Y0, Y5
	VFMADD213PS expconst<>+224(SB), Y1, Y7
	VFMADD213PS expconst<>+224(SB), Y2, Y9
	VFMADD213PS expconst<>+224(SB), Y3, Y11
	VFMADD213PS expconst<>+256(SB), Y0, Y5
	VFMADD213PS expconst<>+256(SB), Y1, Y7
	VFMADD213PS expconst<>+256(SB), Y2, Y9
	VFMADD213PS expconst<>+256(SB), Y3, Y11
	VMULPS Y0, Y5, Y5
	VMULPS Y1, Y7, Y7
	VMULPS Y2, Y9, Y9
	VMULPS Y3, Y11, Y11
	VFMADD213PS Y0, Y0, Y5
	VFMADD213PS Y1, Y1, Y7
	VFMADD213PS Y2, Y2, Y9
	VFMADD213PS Y3, Y3, Y11
	VADDPS expconst<>+288(SB), Y5, Y5
	VADDPS expconst<>+288(SB), Y7, Y7
	VADDPS expconst<>+288(SB), Y9, Y9
	VADDPS expconst<>+288(SB), Y11, Y11
	VCVTPS2DQ Y4, Y4
	VCVTPS2DQ Y6, Y6
	VCVTPS2DQ Y8, Y8
	VCVTPS2DQ Y10, Y10
	VPADDD expconst<>+352(SB), Y4, Y4
	VPADDD expconst<>+352(SB), Y6, Y6
	VPADDD expconst<>+352(SB), Y8, Y8
	VPADDD expconst<>+352(SB), Y10, Y10
	VPSLLD $23, Y4, Y4
	VPSLLD $23, Y6, Y6
	VPSLLD $23, Y8, Y8
	VPSLLD $23, Y10, Y10
	VMULPS Y4, Y5, Y0
	VMULPS Y6, Y7, Y1
	VMULPS Y8, Y9, Y2
	VMULPS Y10, Y11, Y3
	VADDPS expconst<>+288(SB), Y0, Y0
	VADDPS expconst<>+288(SB), Y1, Y1
	VADDPS expconst<>+288(SB), Y2, Y2
	VADDPS expconst<>+288(SB), Y3, Y3
	VMOVUPS expconst<>+288(SB), Y4
	VMOVUPS expconst<>+288(SB), Y6
	VMOVUPS expconst<>+320(SB), Y8
	VMOVUPS expconst<>+288(SB), Y10
	VDIVPS Y0, Y4, Y0
	VDIVPS Y1, Y6, Y1
	VDIVPS Y2, Y8, Y8
	VDIVPS Y3, Y10, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, (DI)(BX*1)
	VMOVUPS expconst<>+288(SB), Y2
	VMOVUPS Y3, (DI)(R13*1)
	VSUBPS Y8, Y2, Y2
	VMOVUPS Y2, (DI)(DX*1)
	VMULPS (R8), Y1, Y12
	VFMADD231PS Y2, Y0, Y12
	VMOVUPS Y12, (R9)
	VMOVAPS Y12, Y13
	VADDPS Y13, Y13, Y13
	VMINPS Y13, Y14, Y13
	VMAXPS Y13, Y15, Y13
	VMULPS expconst<>+0(SB), Y13, Y4
	VROUNDPS $0, Y4, Y4
	VFNMADD231PS expconst<>+32(SB), Y4, Y13
	VFNMADD231PS expconst<>+64(SB), Y4, Y13
	VMOVUPS expconst<>+96(SB), Y5
	VFMADD213PS expconst<>+128(SB), Y13, Y5
	VFMADD213PS expconst<>+160(SB), Y13, Y5
	VFMADD213PS expconst<>+192(SB), Y13, Y5
	VFMADD213PS expconst<>+224(SB), Y13, Y5
	VFMADD213PS expconst<>+256(SB), Y13, Y5
	VMULPS Y13, Y5, Y5
	VFMADD213PS Y13, Y13, Y5
	VADDPS expconst<>+288(SB), Y5, Y5
	VCVTPS2DQ Y4, Y4
	VPADDD expconst<>+352(SB), Y4, Y4
	VPSLLD $23, Y4, Y4
	VMULPS Y4, Y5, Y13
	VADDPS expconst<>+288(SB), Y13, Y13
	VMOVUPS expconst<>+320(SB), Y4
	VDIVPS Y13, Y4, Y4
	VMOVUPS expconst<>+288(SB), Y13
	VSUBPS Y4, Y13, Y13
	VMOVUPS Y13, (R11)
	VMULPS Y3, Y13, Y13
	VMOVUPS Y13, (R10)
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $32, R10
	ADDQ $32, R11
	DECQ CX
	JNZ flane

	ADDQ R13, DI
	DECQ R12
	JNZ frow

fdone:
	VZEROUPPER
	RET
