package gmm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cadps/toolkit/internal/linalg"
)

// Posterior is the exact posterior p(x | y) ∝ p(x) N(y; A x, σ_y² I) of a
// mixture prior: again a mixture, with, for each component k,
//
//	S_k  = A Σ_k Aᵀ + σ_y² I,   G_k = Σ_k Aᵀ S_k⁻¹,
//	μ'_k = μ_k + G_k (y − A μ_k),   Σ'_k = Σ_k − G_k A Σ_k,
//	w'_k ∝ w_k N(y; A μ_k, S_k).
//
// Only m×m systems are solved (m the measurement size); Σ'_k is never
// formed except by [Posterior.Cov]. It is immutable and safe for concurrent
// use.
type Posterior struct {
	prior   *Mixture
	a       [][]float64 // m rows of length d
	y       []float64
	sigma   float64
	logw    []float64
	weights []float64
	means   [][]float64
	b       [][][]float64 // B_k = Σ_k Aᵀ as m columns of length d, [K][m][d]
	chol    [][]float64   // Cholesky factors of S_k, m×m
	logdetS []float64
	logdetP []float64 // log det Σ_k
}

// NewPosterior returns the exact posterior of prior given y = A x + σ_y n,
// with A as m rows of length d and σ_y > 0.
func NewPosterior(prior *Mixture, a [][]float64, y []float64, sigmaY float64) (*Posterior, error) {
	if err := checkProblem(prior, a, y, sigmaY); err != nil {
		return nil, fmt.Errorf("gmm: %w", err)
	}
	m, K := len(a), prior.K()
	p := &Posterior{
		prior: prior, y: append([]float64(nil), y...), sigma: sigmaY,
		logw: make([]float64, K), weights: make([]float64, K), means: make([][]float64, K),
		b: make([][][]float64, K), chol: make([][]float64, K), logdetS: make([]float64, K), logdetP: make([]float64, K),
	}
	for _, row := range a {
		p.a = append(p.a, append([]float64(nil), row...))
	}
	s2 := sigmaY * sigmaY
	for k, c := range prior.comps {
		bk := make([][]float64, m)
		for i := range m {
			bk[i] = c.mulCov(p.a[i])
		}
		s := make([]float64, m*m)
		for i := range m {
			for j := range m {
				s[i*m+j] = linalg.Dot(p.a[i], bk[j])
			}
			s[i*m+i] += s2
		}
		l, err := cholesky(s, m)
		if err != nil {
			return nil, fmt.Errorf("gmm: component %d: A Σ Aᵀ + σ_y² I: %w", k, err)
		}
		mu := prior.means[k]
		r := make([]float64, m)
		for i := range m {
			r[i] = y[i] - linalg.Dot(p.a[i], mu)
		}
		alpha := cholSolve(l, m, r)
		mean := append([]float64(nil), mu...)
		for i := range m {
			for j := range mean {
				mean[j] += bk[i][j] * alpha[i]
			}
		}
		p.b[k], p.chol[k], p.means[k] = bk, l, mean
		p.logdetS[k] = cholLogDet(l, m)
		for _, v := range c.vals {
			p.logdetP[k] += math.Log(v)
		}
		p.logw[k] = math.Log(prior.weights[k]) - 0.5*linalg.Dot(r, alpha) - 0.5*p.logdetS[k] - 0.5*float64(m)*math.Log(2*math.Pi)
	}
	lse := logSumExp(p.logw)
	if math.IsInf(lse, 0) || math.IsNaN(lse) {
		return nil, errors.New("gmm: the measurement has zero likelihood under every component")
	}
	for k := range p.logw {
		p.logw[k] -= lse
		p.weights[k] = math.Exp(p.logw[k])
	}
	return p, nil
}

// checkProblem returns an error naming the part of the problem
// y = A x + σ_y n with prior that is missing, empty, of the wrong length or
// not finite, or nil: the checks of [NewPosterior] and [Problem.Save].
func checkProblem(prior *Mixture, a [][]float64, y []float64, sigmaY float64) error {
	if prior == nil {
		return errors.New("the prior is nil")
	}
	m, d := len(a), prior.Dim()
	switch {
	case m == 0:
		return errors.New("the measurement matrix A has no rows")
	case len(y) != m:
		return fmt.Errorf("y has %d values but A has %d rows", len(y), m)
	case !(sigmaY > 0) || math.IsInf(sigmaY, 0):
		return fmt.Errorf("σ_y = %g must be positive and finite", sigmaY)
	}
	for i, row := range a {
		if len(row) != d {
			return fmt.Errorf("row %d of A has %d columns, the prior has dimension %d", i, len(row), d)
		}
		for _, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("row %d of A has a non-finite value", i)
			}
		}
		if math.IsNaN(y[i]) || math.IsInf(y[i], 0) {
			return fmt.Errorf("y[%d] is not finite", i)
		}
	}
	return nil
}

// K returns the number of components.
func (p *Posterior) K() int { return len(p.weights) }

// Dim returns the dimension d.
func (p *Posterior) Dim() int { return p.prior.Dim() }

// Weights returns a copy of the posterior weights w'_k.
func (p *Posterior) Weights() []float64 { return append([]float64(nil), p.weights...) }

// Mean returns a copy of component k's posterior mean μ'_k.
func (p *Posterior) Mean(k int) []float64 { return append([]float64(nil), p.means[k]...) }

// Cov returns component k's posterior covariance Σ'_k = Σ_k − B_k S_k⁻¹ B_kᵀ
// (B_k = Σ_k Aᵀ), d×d row-major.
func (p *Posterior) Cov(k int) []float64 {
	d, m := p.Dim(), len(p.a)
	out := p.prior.Cov(k)
	bk := p.b[k]
	col := make([]float64, m)
	for j := range d {
		for i := range m {
			col[i] = bk[i][j]
		}
		sol := cholSolve(p.chol[k], m, col) // S⁻¹ B_kᵀ e_j
		for i := range d {
			s := 0.0
			for l := range m {
				s += bk[l][i] * sol[l]
			}
			out[i*d+j] -= s
		}
	}
	return out
}

// Sample draws n exact samples with r: a component by its posterior weight,
// then Matheron's rule x' = x + G_k (y − A x − σ_y n) with x ~ N(μ_k, Σ_k),
// n ~ N(0, I), which is exactly N(μ'_k, Σ'_k).
func (p *Posterior) Sample(n int, r *rand.Rand) [][]float64 {
	m := len(p.a)
	out := make([][]float64, n)
	e := make([]float64, m)
	for s := range out {
		k := drawCategorical(p.weights, r)
		x := p.prior.sampleComponent(k, r)
		for i := range m {
			e[i] = p.y[i] - linalg.Dot(p.a[i], x) - p.sigma*r.NormFloat64()
		}
		beta := cholSolve(p.chol[k], m, e)
		for i := range m {
			for j := range x {
				x[j] += p.b[k][i][j] * beta[i]
			}
		}
		out[s] = x
	}
	return out
}

// LogComponents returns log w'_k + log N(x; μ'_k, Σ'_k) for every k, using
// Σ'_k⁻¹ = Σ_k⁻¹ + AᵀA/σ_y² and det Σ'_k = det Σ_k σ_y^{2m} / det S_k.
func (p *Posterior) LogComponents(x []float64) []float64 {
	d, m := p.Dim(), len(p.a)
	out := make([]float64, p.K())
	delta := make([]float64, d)
	s2 := p.sigma * p.sigma
	for k, c := range p.prior.comps {
		for j := range delta {
			delta[j] = x[j] - p.means[k][j]
		}
		z := c.toBasis(delta)
		q := 0.0
		for j, v := range z {
			q += v * v / c.vals[j]
		}
		for i := range m {
			ad := linalg.Dot(p.a[i], delta)
			q += ad * ad / s2
		}
		logdet := p.logdetP[k] + float64(m)*math.Log(s2) - p.logdetS[k]
		out[k] = p.logw[k] - 0.5*q - 0.5*logdet - 0.5*float64(d)*math.Log(2*math.Pi)
	}
	return out
}

// LogDensity returns log p(x | y).
func (p *Posterior) LogDensity(x []float64) float64 { return logSumExp(p.LogComponents(x)) }

// Assign returns the component with the highest posterior responsibility
// for x.
func (p *Posterior) Assign(x []float64) int {
	best, arg := math.Inf(-1), 0
	for k, v := range p.LogComponents(x) {
		if v > best {
			best, arg = v, k
		}
	}
	return arg
}
