// Package linalg holds the small dense linear algebra the toolkit does on the
// host, in float64: Cholesky factorisation, solves and log-determinants of
// symmetric positive definite systems (a super-resolution operator's
// pseudo-inverse, a Gaussian-mixture posterior, the exact Gaussian-prior
// checks of the guidance tests), symmetric eigendecompositions (a mixture's
// full covariances) and singular value decompositions (the operators' SVDs
// that DDRM reads), by Jacobi rotations. Matrices are flat and row-major,
// but for SVD's, which are slices of rows.
package linalg

import (
	"fmt"
	"math"
)

// Cholesky returns the lower-triangular L (row-major, n×n) with a = L Lᵀ for
// the symmetric positive definite n×n matrix a (row-major; only its lower
// triangle is read). It fails, naming the row, when a pivot is not above
// 1e-12·max(1, |a_ii|): a is singular or not positive definite to working
// precision.
func Cholesky(a []float64, n int) ([]float64, error) {
	if n < 0 || len(a) != n*n {
		return nil, fmt.Errorf("linalg: Cholesky of %d values as a %d×%d matrix", len(a), n, n)
	}
	l := make([]float64, n*n)
	for i := range n {
		for j := 0; j <= i; j++ {
			s := a[i*n+j]
			for k := range j {
				s -= l[i*n+k] * l[j*n+k]
			}
			if i == j {
				if !(s > 1e-12*max(1, math.Abs(a[i*n+i]))) {
					return nil, fmt.Errorf("linalg: matrix is singular or not positive definite at row %d (pivot %g)", i, s)
				}
				l[i*n+i] = math.Sqrt(s)
			} else {
				l[i*n+j] = s / l[j*n+j]
			}
		}
	}
	return l, nil
}

// CholSolve overwrites b with the solution x of (L Lᵀ) x = b, for L from
// [Cholesky] of size n.
func CholSolve(l []float64, n int, b []float64) {
	for i := range n {
		s := b[i]
		for k := range i {
			s -= l[i*n+k] * b[k]
		}
		b[i] = s / l[i*n+i]
	}
	for i := n - 1; i >= 0; i-- {
		s := b[i]
		for k := i + 1; k < n; k++ {
			s -= l[k*n+i] * b[k]
		}
		b[i] = s / l[i*n+i]
	}
}

// CholLogDet returns log det(L Lᵀ) for L from [Cholesky] of size n.
func CholLogDet(l []float64, n int) float64 {
	var s float64
	for i := range n {
		s += 2 * math.Log(l[i*n+i])
	}
	return s
}
