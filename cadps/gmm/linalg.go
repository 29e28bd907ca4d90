package gmm

import (
	"math"
	"slices"

	"github.com/cadps/toolkit/internal/linalg"
)

// The Cholesky factorisation of the exact posterior's m×m systems (m the
// measurement size), scaled for measurements in small units, on
// internal/linalg's.

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
