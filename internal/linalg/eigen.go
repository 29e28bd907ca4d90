package linalg

import (
	"fmt"
	"math"
)

// SymEigen returns the eigenvalues and eigenvectors of the n×n symmetric a
// (row-major) by cyclic Jacobi rotations: a = V diag(vals) Vᵀ, with the
// eigenvectors as the columns of V (row-major). It is O(n³) per sweep and
// meant for the moderate n of full prior covariances. A matrix with a NaN
// or an infinite entry is refused.
func SymEigen(a []float64, n int) (vals, vecs []float64, err error) {
	for _, x := range a {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, nil, fmt.Errorf("linalg: eigendecomposition of a matrix with non-finite entries")
		}
	}
	m := make([]float64, n*n)
	copy(m, a)
	v := make([]float64, n*n)
	for i := range n {
		v[i*n+i] = 1
	}
	scale := 0.0
	for _, x := range m {
		scale = math.Max(scale, math.Abs(x))
	}
	if scale == 0 {
		return make([]float64, n), v, nil
	}
	const maxSweeps = 100
	for sweep := 0; ; sweep++ {
		off := 0.0
		for p := range n {
			for q := p + 1; q < n; q++ {
				off += m[p*n+q] * m[p*n+q]
			}
		}
		if math.Sqrt(off) <= 1e-14*scale*float64(n) {
			break
		}
		if sweep == maxSweeps {
			return nil, nil, fmt.Errorf("linalg: the Jacobi eigendecomposition did not converge in %d sweeps (off-diagonal norm %g)", maxSweeps, math.Sqrt(off))
		}
		for p := range n {
			for q := p + 1; q < n; q++ {
				apq := m[p*n+q]
				if apq == 0 {
					continue
				}
				app, aqq := m[p*n+p], m[q*n+q]
				theta := (aqq - app) / (2 * apq)
				t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := range n { // columns p and q
					mkp, mkq := m[k*n+p], m[k*n+q]
					m[k*n+p] = c*mkp - s*mkq
					m[k*n+q] = s*mkp + c*mkq
				}
				for k := range n { // rows p and q
					mpk, mqk := m[p*n+k], m[q*n+k]
					m[p*n+k] = c*mpk - s*mqk
					m[q*n+k] = s*mpk + c*mqk
				}
				for k := range n {
					vkp, vkq := v[k*n+p], v[k*n+q]
					v[k*n+p] = c*vkp - s*vkq
					v[k*n+q] = s*vkp + c*vkq
				}
			}
		}
	}
	vals = make([]float64, n)
	for i := range n {
		vals[i] = m[i*n+i]
	}
	return vals, v, nil
}
