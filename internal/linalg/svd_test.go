package linalg

import (
	"math"
	"testing"
)

// TestSVDSmall checks the Jacobi SVD on a rank-deficient matrix:
// singular values sorted, U and V orthogonal, U Σ Vᵀ = A.
func TestSVDSmall(t *testing.T) {
	a := [][]float64{{1, 2, 3, 4}, {2, 4, 6, 8}, {0, 1, 0, 1}}
	u, s, v, err := SVD(a)
	if err != nil {
		t.Fatal(err)
	}
	if s[2] > 1e-12 || s[0] < s[1] {
		t.Fatalf("singular values %v: want decreasing with the last 0", s)
	}
	for i := range a {
		for j := range a[i] {
			var r float64
			for k := range s {
				r += u[i][k] * s[k] * v[j][k]
			}
			if math.Abs(r-a[i][j]) > 1e-12 {
				t.Fatalf("U Σ Vᵀ [%d][%d] = %v, want %v", i, j, r, a[i][j])
			}
		}
	}
	for p := range 3 {
		for q := range 3 {
			var uu float64
			for i := range 3 {
				uu += u[i][p] * u[i][q]
			}
			if want := identity(p, q); math.Abs(uu-want) > 1e-12 {
				t.Fatalf("UᵀU[%d][%d] = %v", p, q, uu)
			}
		}
	}
	for p := range 4 {
		for q := range 4 {
			var vv float64
			for i := range 4 {
				vv += v[i][p] * v[i][q]
			}
			if want := identity(p, q); math.Abs(vv-want) > 1e-12 {
				t.Fatalf("VᵀV[%d][%d] = %v", p, q, vv)
			}
		}
	}
	if _, _, _, err := SVD([][]float64{{1, math.NaN()}}); err == nil {
		t.Error("NaN entry: want an error")
	}
}

// identity returns the entry (p, q) of the identity matrix.
func identity(p, q int) float64 {
	if p == q {
		return 1
	}
	return 0
}
