// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"math"
	"sync"
)

// expKernel is vectorExp, looked up once.
var expKernel = sync.OnceValue(vectorExp)

// expFloat32 writes e^src[i] to dst[i] (dst may be src): whole blocks of 8
// on the vector kernel where there is one (within 2 ulp), the rest —
// blocks holding values outside [−87, 88] or NaN, and the tail — through
// float64 math.Exp, so that overflow, underflow and NaN behave as there.
func expFloat32(dst, src []float32) {
	dst = dst[:len(src)]
	vec := expKernel()
	for i := 0; i < len(src); {
		if vec != nil {
			i += vec(dst[i:], src[i:])
		}
		for end := min(i+8, len(src)); i < end; i++ {
			dst[i] = float32(math.Exp(float64(src[i])))
		}
	}
}

// logisticFloat32 writes 1/(1+e^−src[i]) to dst[i] (dst may be src), from
// e = e^−|x| so that nothing overflows: 1/(1+e) for x ≥ 0, e/(1+e) below
// (the numerator chosen from x's sign bit, without a branch). It works in
// chunks whose signs it keeps aside, so that dst may overwrite src.
func logisticFloat32(dst, src []float32) {
	dst = dst[:len(src)]
	const chunk = 256 // a multiple of expFloat32's blocks of 8
	one := math.Float32bits(1)
	var negative [chunk]uint32 // all ones where x's sign bit is set
	for lo := 0; lo < len(src); lo += chunk {
		hi := min(lo+chunk, len(src))
		s, d := src[lo:hi], dst[lo:hi]
		for i, x := range s {
			b := math.Float32bits(x)
			negative[i] = uint32(int32(b) >> 31)
			d[i] = math.Float32frombits(b | 1<<31) // −|x|
		}
		expFloat32(d, d)
		for i, e := range d {
			num := math.Float32bits(e)&negative[i] | one&^negative[i]
			d[i] = math.Float32frombits(num) / (1 + e)
		}
	}
}
