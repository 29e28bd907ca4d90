// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// The AVX2 element-wise kernels of elementwise_amd64.s. Each needs
// len(a) (and len(b)) ≥ len(dst); VV: dst[i] = a[i] op b[i], VS: a[i] op s,
// SV: s op a[i]. dst may be a or b.

//go:noescape
func addVVAVX2(dst, a, b []float32)

//go:noescape
func addVSAVX2(dst, a []float32, s float32)

//go:noescape
func addSVAVX2(dst, a []float32, s float32)

//go:noescape
func subVVAVX2(dst, a, b []float32)

//go:noescape
func subVSAVX2(dst, a []float32, s float32)

//go:noescape
func subSVAVX2(dst, a []float32, s float32)

//go:noescape
func mulVVAVX2(dst, a, b []float32)

//go:noescape
func mulVSAVX2(dst, a []float32, s float32)

//go:noescape
func mulSVAVX2(dst, a []float32, s float32)

//go:noescape
func divVVAVX2(dst, a, b []float32)

//go:noescape
func divVSAVX2(dst, a []float32, s float32)

//go:noescape
func divSVAVX2(dst, a []float32, s float32)

// float32Arith returns the vector kernels of op, or nil where the CPU lacks
// AVX2.
func float32Arith(op arithOp) *arithKernels {
	if !cpu.X86.HasAVX2 {
		return nil
	}
	switch op {
	case arithAdd:
		return &arithKernels{vv: addVVAVX2, vs: addVSAVX2, sv: addSVAVX2}
	case arithSub:
		return &arithKernels{vv: subVVAVX2, vs: subVSAVX2, sv: subSVAVX2}
	case arithMul:
		return &arithKernels{vv: mulVVAVX2, vs: mulVSAVX2, sv: mulSVAVX2}
	case arithDiv:
		return &arithKernels{vv: divVVAVX2, vs: divVSAVX2, sv: divSVAVX2}
	}
	return nil
}
