package linalg

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSymEigen checks a = V diag(λ) Vᵀ with V orthogonal for random
// symmetric matrices (indefinite ones too), and the refusal of a matrix
// with a non-finite entry.
func TestSymEigen(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 7} {
		a := make([]float64, n*n)
		for i := range n {
			for j := 0; j <= i; j++ {
				a[i*n+j] = 2*r.Float64() - 1
				a[j*n+i] = a[i*n+j]
			}
		}
		vals, v, err := SymEigen(a, n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			for j := range n {
				var rec, vv float64
				for k := range n {
					rec += v[i*n+k] * vals[k] * v[j*n+k]
					vv += v[k*n+i] * v[k*n+j]
				}
				if math.Abs(rec-a[i*n+j]) > 1e-10 || math.Abs(vv-identity(i, j)) > 1e-10 {
					t.Fatalf("n=%d: (V diag(λ) Vᵀ)[%d][%d] = %v, want %v; (VᵀV)[%d][%d] = %v", n, i, j, rec, a[i*n+j], i, j, vv)
				}
			}
		}
	}
	for _, tc := range []struct {
		name string
		a    []float64
	}{
		{"NaN", []float64{1, math.NaN(), math.NaN(), 1}},
		{"infinite", []float64{math.Inf(1), 0, 0, 1}},
	} {
		const want = "linalg: eigendecomposition of a matrix with non-finite entries"
		if _, _, err := SymEigen(tc.a, 2); err == nil || err.Error() != want {
			t.Errorf("%s entry: error %v, want %q", tc.name, err, want)
		}
	}
}
