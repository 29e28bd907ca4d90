// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.
// The two element-wise passes of logisticFloat32 around its exp, 8 lanes
// at a time.

//go:build amd64 && !purego

#include "textflag.h"

DATA logisticConsts<>+0(SB)/4, $0x80000000 // sign bit
DATA logisticConsts<>+4(SB)/4, $0x3f800000 // one = 1.0
GLOBL logisticConsts<>(SB), RODATA|NOPTR, $8

// func negAbsAVX2(dst, src []float32) int
TEXT ·negAbsAVX2(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	ANDQ $-8, CX
	XORQ AX, AX
	VBROADCASTSS logisticConsts<>+0(SB), Y1
negabs_loop:
	CMPQ AX, CX
	JGE negabs_done
	VORPS (SI)(AX*4), Y1, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	JMP negabs_loop
negabs_done:
	MOVQ CX, ret+48(FP)
	VZEROUPPER
	RET

// func logisticDivAVX2(d, x []float32) int
TEXT ·logisticDivAVX2(SB), NOSPLIT, $0-56
	MOVQ d_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	ANDQ $-8, CX
	XORQ AX, AX
	VBROADCASTSS logisticConsts<>+4(SB), Y2
div_loop:
	CMPQ AX, CX
	JGE div_done
	VMOVUPS (DI)(AX*4), Y0
	VMOVUPS (SI)(AX*4), Y1
	VPSRAD $31, Y1, Y1
	VANDPS Y1, Y0, Y3
	VANDNPS Y2, Y1, Y4
	VORPS Y4, Y3, Y3
	VADDPS Y2, Y0, Y0
	VDIVPS Y0, Y3, Y3
	VMOVUPS Y3, (DI)(AX*4)
	ADDQ $8, AX
	JMP div_loop
div_done:
	MOVQ CX, ret+48(FP)
	VZEROUPPER
	RET
