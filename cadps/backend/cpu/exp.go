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
// e = e^−|x| so that nothing overflows: 1/(1+e) for x ≥ 0, e/(1+e) below.
func logisticFloat32(dst, src []float32) {
	dst = dst[:len(src)]
	neg := make([]bool, len(src))
	for i, x := range src {
		neg[i] = x < 0
		dst[i] = -float32(math.Abs(float64(x)))
	}
	expFloat32(dst, dst)
	for i, e := range dst {
		if neg[i] {
			dst[i] = e / (1 + e)
		} else {
			dst[i] = 1 / (1 + e)
		}
	}
}
