// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

//go:build !amd64 || purego

package cpu

// maxInto sets dst[i] = max(dst[i], src[i]) for i < len(dst).
func maxInto(dst, src []float32) { maxIntoGeneric(dst, src[:len(dst)]) }

// sumInto adds src[i] to dst[i] for i < len(dst).
func sumInto(dst, src []float32) { sumIntoGeneric(dst, src[:len(dst)]) }
