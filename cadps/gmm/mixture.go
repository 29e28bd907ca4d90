// Package gmm gives imaging's posterior samplers problems with a known
// answer: a Gaussian-mixture prior whose noise prediction ε(x_t, t) under the
// variance-preserving diffusion is exact and closed form (a GoMLX
// [guidance.Network], so every guidance method runs on it unchanged), the
// exact posterior of a linear Gaussian measurement y = A x + σ_y n (again a
// mixture) with an exact sampler, and distances between sample sets
// (sliced Wasserstein, energy distance, mixture-weight error).
//
// The prior is p(x) = Σ_k w_k N(μ_k, Σ_k). Diffused to ᾱ it is
//
//	p_t(x) = Σ_k w_k N(x; √ᾱ μ_k, ᾱ Σ_k + (1−ᾱ) I),   ε(x, t) = −√(1−ᾱ) ∇ log p_t(x).
//
// Every covariance is held as an eigendecomposition Σ_k = U_k diag(λ_k) U_kᵀ
// (U_k = I for a diagonal Σ_k, found without any decomposition), so that
// (ᾱΣ_k + (1−ᾱ)I)⁻¹ = U_k diag(1/(ᾱλ_k + 1−ᾱ)) U_kᵀ at every t: a diagonal
// prior costs O(N K d) per network call, which is what d = 800 needs.
package gmm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/cadps/toolkit/internal/linalg"
)

// Mixture is a Gaussian mixture in d dimensions. Build it with [New] or
// [NewDiagonal]; it is immutable afterwards and safe for concurrent use.
type Mixture struct {
	weights []float64 // renormalised to sum to 1
	given   []float64 // the weights as given, which renormalise to weights
	means   [][]float64
	comps   []component
	d       int
}

// component is one covariance as U diag(vals) Uᵀ; vecs is nil when U = I.
type component struct {
	vals []float64 // eigenvalues λ, [d]
	vecs []float64 // eigenvectors as columns, d×d row-major; nil for a diagonal Σ
	cov  []float64 // the symmetric matrix decomposed, d×d; nil for a diagonal Σ
}

// weightTolerance is how far Σ w_k may be from 1 (float32 files).
const weightTolerance = 1e-4

// New returns the mixture with the given weights [K] (non-negative, summing
// to 1 within 1e-4; they are renormalised), means [K][d] and full
// covariances [K][d·d] (row-major, symmetric positive definite). Diagonal
// covariances are detected and kept without a decomposition; others are
// eigendecomposed (O(d³) each).
func New(weights []float64, means [][]float64, covs [][]float64) (*Mixture, error) {
	m, err := newBase(weights, means)
	if err != nil {
		return nil, err
	}
	if len(covs) != len(weights) {
		return nil, fmt.Errorf("gmm: %d covariances for %d components", len(covs), len(weights))
	}
	d := m.d
	for k, c := range covs {
		if len(c) != d*d {
			return nil, fmt.Errorf("gmm: covariance %d has %d values, want %d×%d", k, len(c), d, d)
		}
		comp, err := factor(c, d)
		if err != nil {
			return nil, fmt.Errorf("gmm: covariance %d: %w", k, err)
		}
		m.comps[k] = comp
	}
	return m, nil
}

// NewDiagonal returns the mixture with diagonal covariances diag(variances[k])
// (all positive); see [New] for the weights and means.
func NewDiagonal(weights []float64, means [][]float64, variances [][]float64) (*Mixture, error) {
	m, err := newBase(weights, means)
	if err != nil {
		return nil, err
	}
	if len(variances) != len(weights) {
		return nil, fmt.Errorf("gmm: %d variance vectors for %d components", len(variances), len(weights))
	}
	for k, v := range variances {
		if len(v) != m.d {
			return nil, fmt.Errorf("gmm: variances %d have length %d, want %d", k, len(v), m.d)
		}
		for j, x := range v {
			if !(x > 0) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("gmm: variance %d of component %d is %g; covariances must be positive definite", j, k, x)
			}
		}
		m.comps[k] = component{vals: append([]float64(nil), v...)}
	}
	return m, nil
}

// newBase checks the weights and means and returns a mixture without
// covariances.
func newBase(weights []float64, means [][]float64) (*Mixture, error) {
	k := len(weights)
	if k == 0 {
		return nil, errors.New("gmm: no components")
	}
	if len(means) != k {
		return nil, fmt.Errorf("gmm: %d means for %d weights", len(means), k)
	}
	d := len(means[0])
	if d == 0 {
		return nil, errors.New("gmm: zero-dimensional means")
	}
	sum := 0.0
	for i, w := range weights {
		if !(w >= 0) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("gmm: weight %d is %g; weights must be finite and non-negative", i, w)
		}
		sum += w
	}
	if math.Abs(sum-1) > weightTolerance {
		return nil, fmt.Errorf("gmm: weights sum to %.6g, not 1", sum)
	}
	m := &Mixture{weights: make([]float64, k), given: slices.Clone(weights), means: make([][]float64, k), comps: make([]component, k), d: d}
	for i, w := range weights {
		m.weights[i] = w / sum
	}
	for i, mu := range means {
		if len(mu) != d {
			return nil, fmt.Errorf("gmm: mean %d has length %d, mean 0 has %d", i, len(mu), d)
		}
		for _, x := range mu {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("gmm: mean %d has a non-finite value", i)
			}
		}
		m.means[i] = append([]float64(nil), mu...)
	}
	return m, nil
}

// factor checks that c (d×d) is symmetric positive definite and returns its
// eigendecomposition (none when it is diagonal).
func factor(c []float64, d int) (component, error) {
	scale, diagonal := 0.0, true
	for i := range d {
		for j := range d {
			x := c[i*d+j]
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return component{}, fmt.Errorf("non-finite entry (%d,%d)", i, j)
			}
			scale = math.Max(scale, math.Abs(x))
			if i != j && x != 0 {
				diagonal = false
			}
		}
	}
	for i := range d {
		for j := i + 1; j < d; j++ {
			if math.Abs(c[i*d+j]-c[j*d+i]) > 1e-5*math.Max(scale, 1e-30) {
				return component{}, fmt.Errorf("not symmetric: entry (%d,%d) = %g but (%d,%d) = %g", i, j, c[i*d+j], j, i, c[j*d+i])
			}
		}
	}
	if diagonal {
		vals := make([]float64, d)
		for i := range d {
			vals[i] = c[i*d+i]
			if !(vals[i] > 0) {
				return component{}, fmt.Errorf("not positive definite: diagonal entry %d is %g", i, vals[i])
			}
		}
		return component{vals: vals}, nil
	}
	sym := make([]float64, d*d)
	for i := range d {
		for j := range d {
			sym[i*d+j] = (c[i*d+j] + c[j*d+i]) / 2
		}
	}
	vals, vecs, err := linalg.SymEigen(sym, d)
	if err != nil {
		return component{}, err
	}
	lmax := 0.0
	for _, v := range vals {
		lmax = math.Max(lmax, v)
	}
	for i, v := range vals {
		if !(v > 1e-12*lmax) {
			return component{}, fmt.Errorf("not positive definite: eigenvalue %d is %g (largest %g)", i, v, lmax)
		}
	}
	return component{vals: vals, vecs: vecs, cov: sym}, nil
}

// K returns the number of components.
func (m *Mixture) K() int { return len(m.weights) }

// Dim returns the dimension d.
func (m *Mixture) Dim() int { return m.d }

// Weights returns a copy of the weights.
func (m *Mixture) Weights() []float64 { return append([]float64(nil), m.weights...) }

// Mean returns a copy of component k's mean.
func (m *Mixture) Mean(k int) []float64 { return append([]float64(nil), m.means[k]...) }

// Diagonal reports whether every covariance is diagonal.
func (m *Mixture) Diagonal() bool {
	for _, c := range m.comps {
		if c.vecs != nil {
			return false
		}
	}
	return true
}

// Cov returns component k's covariance, d×d row-major: the matrix given to
// [New] (symmetrised), or the diagonal matrix of the variances.
func (m *Mixture) Cov(k int) []float64 {
	d, c := m.d, m.comps[k]
	if c.cov != nil {
		return slices.Clone(c.cov)
	}
	out := make([]float64, d*d)
	for i := range d {
		out[i*d+i] = c.vals[i]
	}
	return out
}

// toBasis returns U_kᵀ v (v itself for a diagonal component).
func (c component) toBasis(v []float64) []float64 {
	if c.vecs == nil {
		return append([]float64(nil), v...)
	}
	d := len(v)
	out := make([]float64, d)
	for i, x := range v {
		if x == 0 {
			continue
		}
		row := c.vecs[i*d : (i+1)*d]
		for j := range d {
			out[j] += row[j] * x
		}
	}
	return out
}

// fromBasis returns U_k z.
func (c component) fromBasis(z []float64) []float64 {
	if c.vecs == nil {
		return append([]float64(nil), z...)
	}
	d := len(z)
	out := make([]float64, d)
	for i := range d {
		out[i] = linalg.Dot(c.vecs[i*d:(i+1)*d], z)
	}
	return out
}

// mulCov returns Σ_k v.
func (c component) mulCov(v []float64) []float64 {
	z := c.toBasis(v)
	for j := range z {
		z[j] *= c.vals[j]
	}
	return c.fromBasis(z)
}

// Sample draws n points from the mixture with r.
func (m *Mixture) Sample(n int, r *rand.Rand) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		k := drawCategorical(m.weights, r)
		out[i] = m.sampleComponent(k, r)
	}
	return out
}

// sampleComponent draws one point from component k.
func (m *Mixture) sampleComponent(k int, r *rand.Rand) []float64 {
	c := m.comps[k]
	z := make([]float64, m.d)
	for j := range z {
		z[j] = math.Sqrt(c.vals[j]) * r.NormFloat64()
	}
	x := c.fromBasis(z)
	for j := range x {
		x[j] += m.means[k][j]
	}
	return x
}

// drawCategorical draws an index with probabilities p (summing to 1).
func drawCategorical(p []float64, r *rand.Rand) int {
	u := r.Float64()
	acc := 0.0
	for k, w := range p {
		acc += w
		if u < acc {
			return k
		}
	}
	for k := len(p) - 1; k >= 0; k-- { // rounding: the last positive weight
		if p[k] > 0 {
			return k
		}
	}
	return len(p) - 1
}

// diffusedLogTerms returns, for each component, log w_k + log N(x; √ᾱ μ_k,
// ᾱΣ_k + (1−ᾱ)I), and C_k⁻¹(x − √ᾱ μ_k).
func (m *Mixture) diffusedLogTerms(x []float64, abar float64) (logs []float64, prec [][]float64) {
	d := m.d
	logs = make([]float64, m.K())
	prec = make([][]float64, m.K())
	sa := math.Sqrt(abar)
	for k, c := range m.comps {
		diff := make([]float64, d)
		for j := range diff {
			diff[j] = x[j] - sa*m.means[k][j]
		}
		z := c.toBasis(diff)
		q, logdet := 0.0, 0.0
		for j := range z {
			s := abar*c.vals[j] + 1 - abar
			q += z[j] * z[j] / s
			logdet += math.Log(s)
			z[j] /= s
		}
		logs[k] = math.Log(m.weights[k]) - 0.5*q - 0.5*logdet - 0.5*float64(d)*math.Log(2*math.Pi)
		prec[k] = c.fromBasis(z)
	}
	return logs, prec
}

// LogDensity returns log p_t(x) of the mixture diffused to ᾱ = abar ∈ (0, 1]
// (abar = 1 is the prior itself), in float64 on the host.
func (m *Mixture) LogDensity(x []float64, abar float64) float64 {
	logs, _ := m.diffusedLogTerms(x, abar)
	return logSumExp(logs)
}

// Eps returns the exact noise prediction ε(x) = −√(1−ᾱ) ∇ log p_t(x) at
// ᾱ = abar, in float64 on the host (the reference for [Mixture.Network]).
func (m *Mixture) Eps(x []float64, abar float64) []float64 {
	logs, prec := m.diffusedLogTerms(x, abar)
	lse := logSumExp(logs)
	out := make([]float64, m.d)
	for k := range logs {
		r := math.Exp(logs[k] - lse)
		for j := range out {
			out[j] += r * prec[k][j]
		}
	}
	s := math.Sqrt(1 - abar)
	for j := range out {
		out[j] *= s
	}
	return out
}
