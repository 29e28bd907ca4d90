package randweights

import (
	"math"
	"testing"
)

func TestValues(t *testing.T) {
	tests := []struct {
		name     string
		shape    []int
		lo, hi   float64 // range of the values
		stdRange [2]float64
	}{
		{"conv.weight", []int{64, 32, 3, 3}, -1, 1, [2]float64{1.3 / math.Sqrt(288) / math.Sqrt2, 1.3 / math.Sqrt(288) * math.Sqrt2}},
		{"x.bn.weight", []int{4096}, 0.5, 1.5, [2]float64{0.25, 0.33}},
		{"x.bn.running_var", []int{4096}, 0.5, 1.5, [2]float64{0.25, 0.33}},
		{"x.bn.running_mean", []int{4096}, -0.25, 0.25, [2]float64{0.12, 0.16}},
		{"conv.bias", []int{4096}, -0.125, 0.125, [2]float64{0.06, 0.08}},
	}
	for _, tc := range tests {
		v, err := Values(tc.name, tc.shape, 9, 1.3)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := Values(tc.name, tc.shape, 9, 1.3)
		other, _ := Values(tc.name, tc.shape, 10, 1.3)
		var mean, sq float64
		for i, x := range v {
			if x != again[i] {
				t.Fatalf("%s: not deterministic", tc.name)
			}
			if float64(x) < tc.lo || float64(x) >= tc.hi {
				t.Fatalf("%s: value %g outside [%g, %g)", tc.name, x, tc.lo, tc.hi)
			}
			// At most 12 significant bits.
			if m, _ := math.Frexp(float64(x)); m*4096 != math.Trunc(m*4096) {
				t.Fatalf("%s: value %g has more than 12 significant bits", tc.name, x)
			}
			mean += float64(x)
		}
		mean /= float64(len(v))
		for _, x := range v {
			sq += (float64(x) - mean) * (float64(x) - mean)
		}
		std := math.Sqrt(sq / float64(len(v)))
		if std < tc.stdRange[0] || std > tc.stdRange[1] {
			t.Errorf("%s: standard deviation %g outside %v", tc.name, std, tc.stdRange)
		}
		if other[0] == v[0] && other[1] == v[1] {
			t.Errorf("%s: another seed gives the same values", tc.name)
		}
	}
	if _, err := Values("x", []int{2, 2}, 1, 1); err == nil {
		t.Error("a rank-2 tensor has no rule but gave no error")
	}
}
