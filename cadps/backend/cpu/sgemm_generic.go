// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

// genericKernel is the portable micro-kernel, in plain Go: 4×4 tiles, whose
// 16 accumulators fit the registers of arm64 (and mostly those of amd64).
var genericKernel = microKernel{name: "generic", mr: 4, nr: 4, fn: kernel4x4Go}

func kernel4x4Go(kc int, a, b, c []float32, ldc int, acc bool) {
	a, b = a[:kc*4], b[:kc*4]
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	for p := 0; p+3 < len(a) && p+3 < len(b); p += 4 {
		a0, a1, a2, a3 := a[p], a[p+1], a[p+2], a[p+3]
		b0, b1, b2, b3 := b[p], b[p+1], b[p+2], b[p+3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	rows := [4][4]float32{
		{c00, c01, c02, c03}, {c10, c11, c12, c13},
		{c20, c21, c22, c23}, {c30, c31, c32, c33},
	}
	for i, r := range rows {
		dst := c[i*ldc : i*ldc+4]
		if acc {
			for j, v := range r {
				dst[j] += v
			}
		} else {
			copy(dst, r[:])
		}
	}
}
