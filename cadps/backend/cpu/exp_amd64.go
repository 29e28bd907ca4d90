// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// expAVX2 writes e^src[i] to dst[i] for whole blocks of 8 from the start,
// stopping before the first block with a value outside [−87, 88] (or NaN),
// and returns how many it wrote. len(dst) ≥ len(src) is not checked: it
// reads and writes len(dst) elements at most.
//
//go:noescape
func expAVX2(dst, src []float32) int

// vectorExp returns the vector exp kernel, or nil where the CPU lacks
// AVX2 and FMA.
func vectorExp() func(dst, src []float32) int {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		return expAVX2
	}
	return nil
}

// negAbsAVX2 writes −|src[i]| (src[i] with its sign bit set) to dst[i] for
// the whole blocks of 8 of src and returns how many it wrote; len(dst) ≥
// len(src) is not checked.
//
//go:noescape
func negAbsAVX2(dst, src []float32) int

// logisticDivAVX2 replaces d[i] = e with e/(1+e) where x[i]'s sign bit is
// set and 1/(1+e) elsewhere, for the whole blocks of 8 of x, and returns
// how many it replaced; len(d) ≥ len(x) is not checked.
//
//go:noescape
func logisticDivAVX2(d, x []float32) int

// vectorLogistic returns logisticFloat32's vector passes, or nil where the
// CPU lacks AVX2.
func vectorLogistic() *logisticPasses {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		return &logisticPasses{negAbs: negAbsAVX2, div: logisticDivAVX2}
	}
	return nil
}
