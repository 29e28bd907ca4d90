// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.
// AVX2/FMA exp of float32 lanes: x = n·ln2 + r (ln2 in two parts), e^r by
// the Cephes expf polynomial, 2^n put into the exponent bits.

//go:build amd64 && !purego

#include "textflag.h"

DATA expConsts<>+0(SB)/4, $0xc2ae0000 // lo = -87.0
DATA expConsts<>+4(SB)/4, $0x42b00000 // hi = 88.0
DATA expConsts<>+8(SB)/4, $0x3fb8aa3b // log2e = 1.4426950408889634
DATA expConsts<>+12(SB)/4, $0x3f318000 // c1 = 0.693359375
DATA expConsts<>+16(SB)/4, $0xb95e8083 // c2 = -0.00021219444
DATA expConsts<>+20(SB)/4, $0x3f800000 // one = 1.0
DATA expConsts<>+24(SB)/4, $0x39506967 // p0 = 0.000198756915
DATA expConsts<>+28(SB)/4, $0x3ab743ce // p1 = 0.0013981999507
DATA expConsts<>+32(SB)/4, $0x3c088908 // p2 = 0.0083334519073
DATA expConsts<>+36(SB)/4, $0x3d2aa9c1 // p3 = 0.041665795894
DATA expConsts<>+40(SB)/4, $0x3e2aaaaa // p4 = 0.16666665459
DATA expConsts<>+44(SB)/4, $0x3f000000 // p5 = 0.50000001201
DATA expConsts<>+48(SB)/4, $127 // exponent bias
GLOBL expConsts<>(SB), RODATA|NOPTR, $52

// func expAVX2(dst, src []float32) int
TEXT ·expAVX2(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ src_base+24(FP), SI
	XORQ AX, AX
	VBROADCASTSS expConsts<>+0(SB), Y14
	VBROADCASTSS expConsts<>+4(SB), Y15
	VBROADCASTSS expConsts<>+8(SB), Y13
	VBROADCASTSS expConsts<>+12(SB), Y12
	VBROADCASTSS expConsts<>+16(SB), Y11
	VBROADCASTSS expConsts<>+20(SB), Y10
	VPBROADCASTD expConsts<>+48(SB), Y9
loop:
	MOVQ CX, DX
	SUBQ AX, DX
	CMPQ DX, $8
	JLT done
	VMOVUPS (SI)(AX*4), Y0
	VCMPPS $0x1d, Y14, Y0, Y1
	VCMPPS $0x12, Y15, Y0, Y2
	VANDPS Y2, Y1, Y1
	VMOVMSKPS Y1, DX
	CMPL DX, $0xff
	JNE done
	VMULPS Y13, Y0, Y3
	VROUNDPS $0, Y3, Y3
	VCVTPS2DQ Y3, Y4
	VFNMADD231PS Y12, Y3, Y0
	VFNMADD231PS Y11, Y3, Y0
	VBROADCASTSS expConsts<>+24(SB), Y5
	VBROADCASTSS expConsts<>+28(SB), Y6
	VFMADD213PS Y6, Y0, Y5
	VBROADCASTSS expConsts<>+32(SB), Y6
	VFMADD213PS Y6, Y0, Y5
	VBROADCASTSS expConsts<>+36(SB), Y6
	VFMADD213PS Y6, Y0, Y5
	VBROADCASTSS expConsts<>+40(SB), Y6
	VFMADD213PS Y6, Y0, Y5
	VBROADCASTSS expConsts<>+44(SB), Y6
	VFMADD213PS Y6, Y0, Y5
	VMULPS Y0, Y0, Y6
	VFMADD213PS Y0, Y6, Y5
	VADDPS Y10, Y5, Y5
	VPADDD Y9, Y4, Y4
	VPSLLD $23, Y4, Y4
	VMULPS Y4, Y5, Y5
	VMOVUPS Y5, (DI)(AX*4)
	ADDQ $8, AX
	JMP loop
done:
	MOVQ AX, ret+48(FP)
	VZEROUPPER
	RET
