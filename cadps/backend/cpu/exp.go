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
// chunks whose inputs it keeps aside, so that dst may overwrite src; the
// passes before and after the exp run on vector kernels where there are
// some, with the same arithmetic, so the results are the same.
func logisticFloat32(dst, src []float32) {
	dst = dst[:len(src)]
	const chunk = 256 // a multiple of expFloat32's blocks of 8
	vec := logisticKernel()
	var xs [chunk]float32
	for lo := 0; lo < len(src); lo += chunk {
		hi := min(lo+chunk, len(src))
		x, d := xs[:hi-lo], dst[lo:hi]
		copy(x, src[lo:hi])
		i := 0
		if vec != nil {
			i = vec.negAbs(d, x)
		}
		for ; i < len(x); i++ {
			d[i] = math.Float32frombits(math.Float32bits(x[i]) | 1<<31)
		}
		expFloat32(d, d)
		i = 0
		if vec != nil {
			i = vec.div(d, x)
		}
		for ; i < len(x); i++ {
			d[i] = logisticOf(d[i], x[i])
		}
	}
}

// logisticOf returns e/(1+e) where x's sign bit is set and 1/(1+e)
// elsewhere.
func logisticOf(e, x float32) float32 {
	negative := uint32(int32(math.Float32bits(x)) >> 31) // all ones where the sign bit is set
	num := math.Float32bits(e)&negative | math.Float32bits(1)&^negative
	return math.Float32frombits(num) / (1 + e)
}

// logisticPasses are logisticFloat32's passes around the exp on whole
// blocks of 8, each returning how many elements it did: negAbs writes
// −|src[i]| to dst[i], div replaces d[i] = e with logisticOf(e, x[i]).
type logisticPasses struct {
	negAbs, div func(dst, src []float32) int
}

// logisticKernel is vectorLogistic, looked up once.
var logisticKernel = sync.OnceValue(vectorLogistic)
