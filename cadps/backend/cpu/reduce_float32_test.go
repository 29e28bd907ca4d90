// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAddRunSumsFloat32 checks the sums of short runs against adding
// sumFloat32 of each run, bit for bit, for every run length it is used
// for, with zeros of both signs among the values.
func TestAddRunSumsFloat32(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for n := 1; n < shortSumRun; n++ {
		for _, w := range []int{1, 3, 17} {
			t.Run(fmt.Sprintf("n=%d/w=%d", n, w), func(t *testing.T) {
				src := make([]float32, w*n)
				for i := range src {
					switch r.IntN(8) {
					case 0:
						src[i] = float32(math.Copysign(0, -1))
					case 1:
						src[i] = 0
					default:
						src[i] = r.Float32()*200 - 100
					}
				}
				got, want := make([]float32, w), make([]float32, w)
				for round := range 2 { // the second round adds to non-zero sums
					addRunSumsFloat32(got, src, n)
					for i := range want {
						want[i] += sumFloat32(src[i*n : i*n+n])
					}
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("round %d, output %d = %g (%#x), want %g (%#x)", round, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
						}
					}
				}
			})
		}
	}
}
