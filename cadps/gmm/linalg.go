package gmm

import (
	"fmt"
	"math"
	"slices"

	"github.com/cadps/toolkit/internal/linalg"
)

// Small dense linear algebra on row-major float64 matrices: enough for the
// exact posterior (m×m systems, m the measurement size) and for the
// eigendecomposition of full prior covariances.

// cholesky factors the n×n symmetric positive definite a (see
// linalg.Cholesky) as D^½ L' with L' the factor of D^−½ a D^−½, D = diag(a),
// so that a pivot is judged against its own row's scale: a measurement in
// small units (A Σ Aᵀ + σ_y² I with entries below 1e-12) is not refused as
// singular.
func cholesky(a []float64, n int) ([]float64, error) {
	s := make([]float64, n)
	for i := range n {
		if !(a[i*n+i] > 0) || math.IsInf(a[i*n+i], 0) {
			return linalg.Cholesky(a, n) // its error names the row
		}
		s[i] = math.Sqrt(a[i*n+i])
	}
	b := make([]float64, n*n)
	for i := range n {
		for j := range n {
			b[i*n+j] = a[i*n+j] / (s[i] * s[j])
		}
	}
	l, err := linalg.Cholesky(b, n)
	if err != nil {
		return nil, err
	}
	for i := range n {
		for j := 0; j <= i; j++ {
			l[i*n+j] *= s[i]
		}
	}
	return l, nil
}

// cholSolve solves (L Lᵀ) x = b for x, with L from cholesky; b is kept.
func cholSolve(l []float64, n int, b []float64) []float64 {
	x := slices.Clone(b)
	linalg.CholSolve(l, n, x)
	return x
}

// cholLogDet returns log det(L Lᵀ).
func cholLogDet(l []float64, n int) float64 { return linalg.CholLogDet(l, n) }

// symEigen returns the eigenvalues and eigenvectors of the n×n symmetric a
// (row-major) by cyclic Jacobi rotations: a = V diag(vals) Vᵀ, with the
// eigenvectors as the columns of V (row-major). It is O(n³) per sweep and
// meant for the moderate n of full prior covariances.
func symEigen(a []float64, n int) (vals, vecs []float64, err error) {
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
			return nil, nil, fmt.Errorf("jacobi eigendecomposition did not converge in %d sweeps (off-diagonal norm %g)", maxSweeps, math.Sqrt(off))
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

// dot returns Σ a_i b_i.
func dot(a, b []float64) float64 {
	s := 0.0
	for i, x := range a {
		s += x * b[i]
	}
	return s
}

// logSumExp returns log Σ exp(v_i), stably.
func logSumExp(v []float64) float64 {
	mx := math.Inf(-1)
	for _, x := range v {
		mx = math.Max(mx, x)
	}
	if math.IsInf(mx, -1) {
		return mx
	}
	s := 0.0
	for _, x := range v {
		s += math.Exp(x - mx)
	}
	return mx + math.Log(s)
}
