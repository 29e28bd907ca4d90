// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"math"
	"testing"
)

// ulpError is |got − want| in units of the float32 spacing at want.
func ulpError(got float32, want float64) float64 {
	w := float32(want)
	ulp := float64(math.Nextafter32(w, float32(math.Inf(1))) - w)
	if ulp == 0 || math.IsInf(ulp, 0) {
		ulp = float64(w) * 1.2e-7
	}
	return math.Abs(float64(got)-want) / ulp
}

// TestExpFloat32 checks expFloat32 against float64 math.Exp over the
// float32 range, at every offset of the vector blocks, with special values
// mixed into blocks that would otherwise take the vector path.
func TestExpFloat32(t *testing.T) {
	var xs []float32
	for x := float32(-105); x < 90; x += 0.00731 {
		xs = append(xs, x)
	}
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), 88.0, 88.1, 88.72, 88.73, -87, -87.1, -103.9, -110, 1e-30}
	for i, s := range special {
		xs[100+13*i] = s
	}
	for _, offset := range []int{0, 1, 5} {
		src := xs[offset:]
		dst := make([]float32, len(src))
		expFloat32(dst, src)
		worst := 0.0
		for i, x := range src {
			want := math.Exp(float64(x))
			got := dst[i]
			switch {
			case math.IsNaN(float64(x)):
				if !math.IsNaN(float64(got)) {
					t.Fatalf("exp(NaN) = %g", got)
				}
			case want > math.MaxFloat32:
				if !math.IsInf(float64(got), 1) {
					t.Fatalf("exp(%g) = %g, want +Inf", x, got)
				}
			default:
				e := ulpError(got, want)
				if want < 0x1p-126 {
					e = math.Abs(float64(got)-want) / 0x1p-149 // subnormal: absolute
				}
				if e > 2 {
					t.Fatalf("exp(%g) = %g, want %g (%.2f ulp)", x, got, want, e)
				}
				worst = max(worst, e)
			}
		}
		t.Logf("offset %d: worst %.2f ulp", offset, worst)
	}
}

func TestLogisticFloat32(t *testing.T) {
	xs := []float32{-200, -90, -30, -3, -0.5, 0, 0.5, 3, 30, 90, 200, 1, 2, 4, 5, 6, 7}
	dst := make([]float32, len(xs))
	logisticFloat32(dst, xs)
	for i, x := range xs {
		want := 1 / (1 + math.Exp(-float64(x)))
		if e := ulpError(dst[i], want); e > 3 && math.Abs(float64(dst[i])-want) > 1e-44 {
			t.Errorf("logistic(%g) = %g, want %g (%.2f ulp)", x, dst[i], want, e)
		}
	}
}
