// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// maxVVAVX2 is in pool_amd64.s: dst[i] = max(a[i], b[i]) for i < len(dst),
// NaN where either is NaN, +0 for a −0 and a +0 (as Go's max); len(a),
// len(b) ≥ len(dst).
//
//go:noescape
func maxVVAVX2(dst, a, b []float32)

// maxInto sets dst[i] = max(dst[i], src[i]) for i < len(dst), bit for bit
// as Go's max.
func maxInto(dst, src []float32) {
	src = src[:len(dst)]
	if cpu.X86.HasAVX2 {
		maxVVAVX2(dst, dst, src)
		return
	}
	maxIntoGeneric(dst, src)
}

// sumInto adds src[i] to dst[i] for i < len(dst).
func sumInto(dst, src []float32) {
	src = src[:len(dst)]
	if cpu.X86.HasAVX2 {
		addVVAVX2(dst, dst, src)
		return
	}
	sumIntoGeneric(dst, src)
}
