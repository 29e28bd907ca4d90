// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
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
// e = e^−|x| from expFloat32, over more than one chunk and lengths that
// leave tails after the vector passes' blocks of 8, in place and not,
// with signed zeros, infinities and NaNs.
func TestLogisticFloat32Branchless(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	xs := make([]float32, 1003)
	for i := range xs {
		xs[i] = float32(r.NormFloat64() * 8)
	}
	copy(xs[100:], []float32{float32(math.Copysign(0, -1)), 0, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), -100, 100})
	copy(xs[1000:], []float32{-2, float32(math.Copysign(0, -1)), 3})
	e := make([]float32, len(xs))
	for i, x := range xs {
		e[i] = -float32(math.Abs(float64(x)))
	}
	expFloat32(e, e)
	want := make([]float32, len(xs))
	for i, x := range xs {
		if math.Signbit(float64(x)) {
			want[i] = e[i] / (1 + e[i])
		} else {
			want[i] = 1 / (1 + e[i])
		}
	}
	for _, n := range []int{len(xs), 1000, 263, 7} {
		got := make([]float32, n)
		logisticFloat32(got, xs[:n])
		inPlace := slices.Clone(xs[:n])
		logisticFloat32(inPlace, inPlace)
		for i := range n {
			for _, g := range []float32{got[i], inPlace[i]} {
				if math.Float32bits(g) != math.Float32bits(want[i]) && !(math.IsNaN(float64(g)) && math.IsNaN(float64(want[i]))) {
					t.Fatalf("length %d: logistic(%g) = %g, want %g", n, xs[i], g, want[i])
				}
			}
		}
	}
}

// BenchmarkLogisticFloat32 times logisticFloat32 on one core over the
// sizes of the small prior's SiLUs (32 channels of 32×32 and 16×16, 64 of
// 8×8), normal values.
func BenchmarkLogisticFloat32(b *testing.B) {
	for _, n := range []int{32 * 32 * 32, 32 * 16 * 16, 64 * 8 * 8} {
		r := rand.New(rand.NewPCG(5, 6))
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(r.NormFloat64() * 3)
		}
		dst := make([]float32, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				logisticFloat32(dst, src)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
		})
	}
}
