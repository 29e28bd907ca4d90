// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.
// AVX2 element-wise float32 arithmetic: dst[i] = a[i] op b[i] (VV),
// a[i] op s (VS) and s op a[i] (SV), 8 lanes at a time plus a scalar tail.

//go:build amd64 && !purego

#include "textflag.h"

// func addVVAVX2(dst, a, b []float32)
TEXT ·addVVAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	MOVQ b_base+48(FP), DX
addVVAVX2_loop:
	CMPQ CX, $8
	JLT addVVAVX2_tail
	VMOVUPS (SI), Y0
	VMOVUPS (DX), Y2
	VADDPS Y2, Y0, Y0
	ADDQ $32, DX
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP addVVAVX2_loop
addVVAVX2_tail:
	TESTQ CX, CX
	JZ addVVAVX2_done
	VMOVSS (SI), X0
	VMOVSS (DX), X2
	VADDSS X2, X0, X0
	ADDQ $4, DX
	VMOVSS X0, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP addVVAVX2_tail
addVVAVX2_done:
	VZEROUPPER
	RET

// func addVSAVX2(dst, a []float32, s float32)
TEXT ·addVSAVX2(SB), NOSPLIT, $0-52
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	VBROADCASTSS s+48(FP), Y1
addVSAVX2_loop:
	CMPQ CX, $8
	JLT addVSAVX2_tail
	VMOVUPS (SI), Y0
	VADDPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP addVSAVX2_loop
addVSAVX2_tail:
	TESTQ CX, CX
	JZ addVSAVX2_done
	VMOVSS (SI), X0
	VADDSS X1, X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP addVSAVX2_tail
addVSAVX2_done:
	VZEROUPPER
	RET

// func addSVAVX2(dst, a []float32, s float32)
TEXT ·addSVAVX2(SB), NOSPLIT, $0-52
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	VBROADCASTSS s+48(FP), Y1
addSVAVX2_loop:
	CMPQ CX, $8
	JLT addSVAVX2_tail
	VMOVUPS (SI), Y0
	VADDPS Y0, Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP addSVAVX2_loop
addSVAVX2_tail:
	TESTQ CX, CX
	JZ addSVAVX2_done
	VMOVSS (SI), X0
	VADDSS X0, X1, X0
	VMOVSS X0, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP addSVAVX2_tail
addSVAVX2_done:
	VZEROUPPER
	RET

// func subVVAVX2(dst, a, b []float32)
TEXT ·subVVAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	MOVQ b_base+48(FP), DX
subVVAVX2_loop:
	CMPQ CX, $8
	JLT subVVAVX2_tail
	VMOVUPS (SI), Y0
	VMOVUPS (DX), Y2
	VSUBPS Y2, Y0, Y0
	ADDQ $32, DX
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP subVVAVX2_loop
subVVAVX2_tail:
	TESTQ CX, CX
	JZ subVVAVX2_done
	VMOVSS (SI), X0
	VMOVSS (DX), X2
	VSUBSS X2, X0, X0
	ADDQ $4, DX
	VMOVSS X0, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP subVVAVX2_tail
subVVAVX2_done:
	VZEROUPPER
	RET

// func subVSAVX2(dst, a []float32, s float32)
TEXT ·subVSAVX2(SB), NOSPLIT, $0-52
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	VBROADCASTSS s+48(FP), Y1
subVSAVX2_loop:
	CMPQ CX, $8
	JLT subVSAVX2_tail
	VMOVUPS (SI), Y0
	VSUBPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP subVSAVX2_loop
subVSAVX2_tail:
	TESTQ CX, CX
	JZ subVSAVX2_done
	VMOVSS (SI), X0
	VSUBSS X1, X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP subVSAVX2_tail
subVSAVX2_done:
	VZEROUPPER
	RET

// func subSVAVX2(dst, a []float32, s float32)
TEXT ·subSVAVX2(SB), NOSPLIT, $0-52
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	VBROADCASTSS s+48(FP), Y1
subSVAVX2_loop:
	CMPQ CX, $8
	JLT subSVAVX2_tail
	VMOVUPS (SI), Y0
	VSUBPS Y0, Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP subSVAVX2_loop
subSVAVX2_tail:
	TESTQ CX, CX
	JZ subSVAVX2_done
	VMOVSS (SI), X0
	VSUBSS X0, X1, X0
	VMOVSS X0, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP subSVAVX2_tail
subSVAVX2_done:
	VZEROUPPER
	RET

// func mulVVAVX2(dst, a, b []float32)
TEXT ·mulVVAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	MOVQ b_base+48(FP), DX
mulVVAVX2_loop:
	CMPQ CX, $8
	JLT mulVVAVX2_tail
	VMOVUPS (SI), Y0
	VMOVUPS (DX), Y2
	VMULPS Y2, Y0, Y0
	ADDQ $32, DX
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP mulVVAVX2_loop
mulVVAVX2_tail:
	TESTQ CX, CX
	JZ mulVVAVX2_done
	VMOVSS (SI), X0
	VMOVSS (DX), X2
	VMULSS X2, X0, X0
	ADDQ $4, DX
	VMOVSS X0, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP mulVVAVX2_tail
mulVVAVX2_done:
	VZEROUPPER
	RET

// func mulVSAVX2(dst, a []float32, s float32)
TEXT ·mulVSAVX2(SB), NOSPLIT, $0-52
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	VBROADCASTSS s+48(FP), Y1
mulVSAVX2_loop:
	CMPQ CX, $8
	JLT mulVSAVX2_tail
	VMOVUPS (SI), Y0
	VMULPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP mulVSAVX2_loop
mulVSAVX2_tail:
	TESTQ CX, CX
	JZ mulVSAVX2_done
	VMOVSS (SI), X0
	VMULSS X1, X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP mulVSAVX2_tail
mulVSAVX2_done:
	VZEROUPPER
	RET

// func mulSVAVX2(dst, a []float32, s float32)
TEXT ·mulSVAVX2(SB), NOSPLIT, $0-52
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	VBROADCASTSS s+48(FP), Y1
mulSVAVX2_loop:
	CMPQ CX, $8
	JLT mulSVAVX2_tail
	VMOVUPS (SI), Y0
	VMULPS Y0, Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP mulSVAVX2_loop
mulSVAVX2_tail:
	TESTQ CX, CX
	JZ mulSVAVX2_done
	VMOVSS (SI), X0
	VMULSS X0, X1, X0
	VMOVSS X0, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP mulSVAVX2_tail
mulSVAVX2_done:
	VZEROUPPER
	RET

// func divVVAVX2(dst, a, b []float32)
TEXT ·divVVAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	MOVQ b_base+48(FP), DX
divVVAVX2_loop:
	CMPQ CX, $8
	JLT divVVAVX2_tail
	VMOVUPS (SI), Y0
	VMOVUPS (DX), Y2
	VDIVPS Y2, Y0, Y0
	ADDQ $32, DX
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP divVVAVX2_loop
divVVAVX2_tail:
	TESTQ CX, CX
	JZ divVVAVX2_done
	VMOVSS (SI), X0
	VMOVSS (DX), X2
	VDIVSS X2, X0, X0
	ADDQ $4, DX
	VMOVSS X0, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP divVVAVX2_tail
divVVAVX2_done:
	VZEROUPPER
	RET

// func divVSAVX2(dst, a []float32, s float32)
TEXT ·divVSAVX2(SB), NOSPLIT, $0-52
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	VBROADCASTSS s+48(FP), Y1
divVSAVX2_loop:
	CMPQ CX, $8
	JLT divVSAVX2_tail
	VMOVUPS (SI), Y0
	VDIVPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP divVSAVX2_loop
divVSAVX2_tail:
	TESTQ CX, CX
	JZ divVSAVX2_done
	VMOVSS (SI), X0
	VDIVSS X1, X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP divVSAVX2_tail
divVSAVX2_done:
	VZEROUPPER
	RET

// func divSVAVX2(dst, a []float32, s float32)
TEXT ·divSVAVX2(SB), NOSPLIT, $0-52
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	VBROADCASTSS s+48(FP), Y1
divSVAVX2_loop:
	CMPQ CX, $8
	JLT divSVAVX2_tail
	VMOVUPS (SI), Y0
	VDIVPS Y0, Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP divSVAVX2_loop
divSVAVX2_tail:
	TESTQ CX, CX
	JZ divSVAVX2_done
	VMOVSS (SI), X0
	VDIVSS X0, X1, X0
	VMOVSS X0, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP divSVAVX2_tail
divSVAVX2_done:
	VZEROUPPER
	RET
