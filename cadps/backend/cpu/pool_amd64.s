// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.
// AVX2 element-wise float32 maximum for the window reductions.

//go:build amd64 && !purego

#include "textflag.h"

// func maxVVAVX2(dst, a, b []float32)
// dst[i] = max(a[i], b[i]) for i < len(dst), as Go's max: NaN when either
// is NaN, +0 for a −0 and a +0. VMAXPS returns its second operand where the
// two are equal or either is NaN, so max(a, b) AND max(b, a) is the maximum
// where they differ and a AND b where they are equal (+0 for ±0); a blend
// takes a + b (NaN) where either is NaN.
TEXT ·maxVVAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	MOVQ b_base+48(FP), DX
maxVVAVX2_loop:
	CMPQ CX, $8
	JLT maxVVAVX2_tail
	VMOVUPS (SI), Y0
	VMOVUPS (DX), Y1
	VMAXPS Y1, Y0, Y2
	VMAXPS Y0, Y1, Y4
	VANDPS Y4, Y2, Y2
	VCMPPS $3, Y1, Y0, Y3
	VADDPS Y1, Y0, Y5
	VBLENDVPS Y3, Y5, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $8, CX
	JMP maxVVAVX2_loop
maxVVAVX2_tail:
	TESTQ CX, CX
	JZ maxVVAVX2_done
	VMOVSS (SI), X0
	VMOVSS (DX), X1
	VMAXSS X1, X0, X2
	VMAXSS X0, X1, X4
	VANDPS X4, X2, X2
	VCMPSS $3, X1, X0, X3
	VADDSS X1, X0, X5
	VBLENDVPS X3, X5, X2, X2
	VMOVSS X2, (DI)
	ADDQ $4, SI
	ADDQ $4, DX
	ADDQ $4, DI
	DECQ CX
	JMP maxVVAVX2_tail
maxVVAVX2_done:
	VZEROUPPER
	RET
