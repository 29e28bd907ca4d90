// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"math"
	"math/rand/v2"
	"slices"
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

// TestLogisticFloat32Branchless checks logisticFloat32 bit for bit against
// the formula it evaluates, 1/(1+e) for x ≥ 0 and e/(1+e) below with
// e = e^−|x| from expFloat32, over more than one chunk, in place and not,
// with signed zeros, infinities and NaNs.
func TestLogisticFloat32Branchless(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	xs := make([]float32, 1000)
	for i := range xs {
		xs[i] = float32(r.NormFloat64() * 8)
	}
	copy(xs[100:], []float32{float32(math.Copysign(0, -1)), 0, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), -100, 100})
	e := make([]float32, len(xs))
	for i, x := range xs {
		e[i] = -float32(math.Abs(float64(x)))
	}
	expFloat32(e, e)
	want := make([]float32, len(xs))
	for i, x := range xs {
		if x < 0 {
			want[i] = e[i] / (1 + e[i])
		} else {
			want[i] = 1 / (1 + e[i])
		}
	}
	got := make([]float32, len(xs))
	logisticFloat32(got, xs)
	inPlace := slices.Clone(xs)
	logisticFloat32(inPlace, inPlace)
	for i := range xs {
		for _, g := range []float32{got[i], inPlace[i]} {
			if math.Float32bits(g) != math.Float32bits(want[i]) && !(math.IsNaN(float64(g)) && math.IsNaN(float64(want[i]))) {
				t.Fatalf("logistic(%g) = %g, want %g", xs[i], g, want[i])
			}
		}
	}
}
