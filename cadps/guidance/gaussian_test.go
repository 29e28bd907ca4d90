package guidance_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/internal/linalg"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// This file holds the exact Gaussian world the methods are checked in: a
// Gaussian prior x0 ~ N(μ, Σ) on [1,H,W] images, whose noise prediction is
// closed form,
//
//	ε(x_t, t) = √(1−ᾱ_t) · Σ_t⁻¹ (x_t − √ᾱ_t μ),   Σ_t = ᾱ_t Σ + (1−ᾱ_t) I,
//
// a linear operator given as a matrix, and the exact Gaussian posterior of
// x0 given y = A x0 + σ_y n.

// matrix is a dense row-major matrix on the host.
type matrix [][]float64

func zeros(r, c int) matrix {
	m := make(matrix, r)
	for i := range m {
		m[i] = make([]float64, c)
	}
	return m
}

func identity(n int) matrix {
	m := zeros(n, n)
	for i := range m {
		m[i][i] = 1
	}
	return m
}

func (m matrix) t() matrix {
	out := zeros(len(m[0]), len(m))
	for i, row := range m {
		for j, v := range row {
			out[j][i] = v
		}
	}
	return out
}

func (m matrix) mul(b matrix) matrix {
	out := zeros(len(m), len(b[0]))
	for i, row := range m {
		for k, v := range row {
			if v == 0 {
				continue
			}
			for j, w := range b[k] {
				out[i][j] += v * w
			}
		}
	}
	return out
}

func (m matrix) vec(v []float64) []float64 {
	out := make([]float64, len(m))
	for i, row := range m {
		for j, w := range row {
			out[i] += w * v[j]
		}
	}
	return out
}

// cholesky returns the lower-triangular L with L Lᵀ = m, or an error when m
// is not positive definite.
func (m matrix) cholesky() (matrix, error) {
	n := len(m)
	flat := make([]float64, 0, n*n)
	for _, row := range m {
		flat = append(flat, row...)
	}
	l, err := linalg.Cholesky(flat, n)
	if err != nil {
		return nil, err
	}
	out := zeros(n, n)
	for i := range out {
		copy(out[i], l[i*n:(i+1)*n])
	}
	return out, nil
}

// inverse returns m⁻¹ for a symmetric positive definite m.
func (m matrix) inverse() (matrix, error) {
	l, err := m.cholesky()
	if err != nil {
		return nil, err
	}
	n := len(m)
	inv := zeros(n, n)
	for c := range n {
		// Solve L z = e_c, then Lᵀ x = z.
		z := make([]float64, n)
		for i := range n {
			s := 0.0
			if i == c {
				s = 1
			}
			for k := range i {
				s -= l[i][k] * z[k]
			}
			z[i] = s / l[i][i]
		}
		for i := n - 1; i >= 0; i-- {
			s := z[i]
			for k := i + 1; k < n; k++ {
				s -= l[k][i] * inv[k][c]
			}
			inv[i][c] = s / l[i][i]
		}
	}
	return inv, nil
}

// randomOrthogonal returns a random d×d orthogonal matrix (Gram–Schmidt of a
// Gaussian matrix).
func randomOrthogonal(r *rand.Rand, d int) matrix {
	q := zeros(d, d)
	for j := range d {
		v := make([]float64, d)
		for i := range v {
			v[i] = r.NormFloat64()
		}
		for k := range j {
			dot := 0.0
			for i := range v {
				dot += v[i] * q[i][k]
			}
			for i := range v {
				v[i] -= dot * q[i][k]
			}
		}
		norm := 0.0
		for _, x := range v {
			norm += x * x
		}
		norm = math.Sqrt(norm)
		for i := range v {
			q[i][j] = v[i] / norm
		}
	}
	return q
}

// gaussianPrior is x0 ~ N(μ, Σ) on [1,H,W] images.
type gaussianPrior struct {
	h, w int
	mu   []float64
	cov  matrix
	chol matrix // L with L Lᵀ = Σ, for sampling (nil when Σ is singular)
}

// newGaussianPrior returns a prior on h×w images with covariance
// Q diag(λ) Qᵀ: Q = I when full is false, else a random orthogonal matrix;
// the variances λ lie in [lo, hi] and μ in [−0.5, 0.5].
func newGaussianPrior(r *rand.Rand, h, w int, full bool, lo, hi float64) *gaussianPrior {
	d := h * w
	mu := make([]float64, d)
	l := zeros(d, d)
	for k := range d {
		mu[k] = r.Float64() - 0.5
		l[k][k] = lo + (hi-lo)*r.Float64()
	}
	q := identity(d)
	if full {
		q = randomOrthogonal(r, d)
	}
	p := &gaussianPrior{h: h, w: w, mu: mu, cov: q.mul(l).mul(q.t())}
	p.chol, _ = p.cov.cholesky()
	return p
}

func (p *gaussianPrior) dim() int { return p.h * p.w }

// sample draws one x0.
func (p *gaussianPrior) sample(r *rand.Rand) []float64 {
	z := make([]float64, p.dim())
	for k := range z {
		z[k] = r.NormFloat64()
	}
	x := p.chol.vec(z)
	for k := range x {
		x[k] += p.mu[k]
	}
	return x
}

// network returns the exact ε(x_t, t) = √(1−ᾱ_t) Σ_t⁻¹ (x_t − √ᾱ_t μ) as a
// guidance.Network for a process with the given base schedule ᾱ (indexed
// by the timestep the network receives: the process must not rescale
// timesteps). Σ may be singular: Σ_t = ᾱ_t Σ + (1−ᾱ_t) I is not for ᾱ_t < 1.
func (p *gaussianPrior) network(alphaBar []float64) (guidance.Network, error) {
	d := p.dim()
	ab := toF32(alphaBar)
	// Σ_t⁻¹ for every timestep, [T, d, d].
	inv := make([]float32, 0, len(alphaBar)*d*d)
	for t, a := range alphaBar {
		st := zeros(d, d)
		for i := range st {
			for j := range st[i] {
				st[i][j] = a * p.cov[i][j]
			}
			st[i][i] += 1 - a
		}
		si, err := st.inverse()
		if err != nil {
			return nil, fmt.Errorf("Σ_t at timestep %d: %w", t, err)
		}
		for _, row := range si {
			inv = append(inv, toF32(row)...)
		}
	}
	mu := toF32(p.mu)
	steps := len(alphaBar)
	return func(_ *context.Context, x, t *graph.Node) *graph.Node {
		g := x.Graph()
		n := x.Shape().Dim(0)
		idx := graph.Reshape(graph.ConvertDType(t, dtypes.Int32), n, 1)
		a := graph.Reshape(graph.Gather(graph.Const(g, ab), idx), n, 1)
		si := graph.Gather(graph.Reshape(graph.Const(g, inv), steps, d, d), idx) // [N, d, d]
		u := graph.Sub(graph.Reshape(x, n, d), graph.Mul(graph.Sqrt(a), graph.Reshape(graph.Const(g, mu), 1, d)))
		eps := graph.Mul(graph.Sqrt(graph.OneMinus(a)), graph.Einsum("nij,nj->ni", si, u))
		return graph.Reshape(eps, x.Shape().Dimensions...)
	}, nil
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for k, x := range v {
		out[k] = float32(x)
	}
	return out
}

// posterior returns the mean and covariance of x0 given y = A x0 + σ n for
// the m×d matrix A (Kalman form, valid for σ = 0 too).
func (p *gaussianPrior) posterior(a matrix, y []float64, sigma float64) ([]float64, matrix, error) {
	s := p.cov
	sat := s.mul(a.t()) // Σ Aᵀ
	c := a.mul(sat)     // A Σ Aᵀ
	for k := range c {
		c[k][k] += sigma * sigma
	}
	ci, err := c.inverse()
	if err != nil {
		return nil, nil, fmt.Errorf("A Σ Aᵀ + σ² I: %w", err)
	}
	gain := sat.mul(ci) // K = Σ Aᵀ C⁻¹
	res := a.vec(p.mu)
	for k := range res {
		res[k] = y[k] - res[k]
	}
	mean := gain.vec(res)
	for k := range mean {
		mean[k] += p.mu[k]
	}
	ka := gain.mul(a).mul(s)
	post := zeros(len(s), len(s))
	for i := range s {
		for j := range s {
			post[i][j] = s[i][j] - ka[i][j]
		}
	}
	return mean, post, nil
}

// baseAlphaBar returns ᾱ of the process's original (unrespaced) schedule.
func baseAlphaBar(cfg diffusion.Config) ([]float64, error) {
	betas, err := diffusion.BetaSchedule(cfg.NoiseSchedule, cfg.Steps)
	if err != nil {
		return nil, err
	}
	s, err := diffusion.NewSchedule(betas)
	if err != nil {
		return nil, err
	}
	return s.AlphasCumprod, nil
}

// matrixOperator returns the linear operator y = A x for [N,1,H,W] images
// and an m×(H·W) matrix A, with y shaped [N,1,1,m].
func matrixOperator(a matrix, h, w int) (*ops.LinearFunc, error) {
	m, d := len(a), len(a[0])
	if d != h*w {
		return nil, fmt.Errorf("matrix has %d columns for %dx%d images", d, h, w)
	}
	flat := make([]float32, 0, m*d)
	for _, row := range a {
		flat = append(flat, toF32(row)...)
	}
	shape := func(in []int) ([]int, error) {
		if in[1] != 1 || in[2] != h || in[3] != w {
			return nil, fmt.Errorf("want [N,1,%d,%d] images, got %v", h, w, in)
		}
		return []int{in[0], 1, 1, m}, nil
	}
	apply := func(x *graph.Node) *graph.Node {
		n := x.Shape().Dim(0)
		am := graph.Reshape(graph.Const(x.Graph(), flat), m, d)
		return graph.Reshape(graph.Einsum("nd,md->nm", graph.Reshape(x, n, d), am), n, 1, 1, m)
	}
	adjoint := func(y *graph.Node) *graph.Node {
		n := y.Shape().Dim(0)
		am := graph.Reshape(graph.Const(y.Graph(), flat), m, d)
		return graph.Reshape(graph.Einsum("nm,md->nd", graph.Reshape(y, n, m), am), n, 1, h, w)
	}
	return ops.NewLinearFunc("matrix", shape, apply, adjoint)
}

// selection returns the rows of the identity the mask keeps (1 = observed).
func selection(mask []float32) matrix {
	var a matrix
	for k, v := range mask {
		if v == 1 {
			row := make([]float64, len(mask))
			row[k] = 1
			a = append(a, row)
		}
	}
	return a
}
