package guidance

import (
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// TMPD is Tweedie moment projected diffusion (Boys et al. 2023) in its
// diagonal form, the one its image experiments use: the covariance
// Cov[x0|x_t] = (1−ᾱ)/√ᾱ · ∂x̂0/∂x_t is replaced by the diagonal matrix of
// its row sums, one vector-Jacobian product with the ones vector,
//
//	c = |(1−ᾱ)/√ᾱ · (∂x̂0/∂x_t)ᵀ 1|
//	x_{t-1} = prior step with x̂0 + ζ (1−ᾱ)/√ᾱ · (∂x̂0/∂x_t)ᵀ Aᵀ (σ_y² I + A diag(c) Aᵀ)⁻¹ (y − A x̂0)
//
// (c is not differentiated; for why a negative row sum is replaced by its
// magnitude rather than 0, see NegativeRule). Diagonal replaces the row
// sums by an unbiased (Hutchinson) or exact diagonal of ∂x̂0/∂x_t for
// ablations. The system is solved in closed form when A diag(c) Aᵀ is
// diagonal (inpainting) and by CGIterations of conjugate gradients
// otherwise. ζ = 1 is the method as
// published (see the package's Gaussian-likelihood update).
//
// Cost per step: one network forward and two vector-Jacobian products
// (one more per Hutchinson probe beyond the first), and one A and Aᵀ per CG
// iteration; memory of one backward pass.
type TMPD struct {
	// CGIterations caps the CG iterations (0 = DefaultCGIterations).
	CGIterations int
	// Diagonal selects the estimate of diag(∂x̂0/∂x_t) (zero: row sums).
	Diagonal Diagonal
}

// Name implements Method.
func (TMPD) Name() string { return "tmpd" }

// CheckOperator implements OperatorChecker: A must be linear with an adjoint.
func (m TMPD) CheckOperator(op ops.Operator) error {
	_, err := linearOperator(m.Name(), op)
	return err
}

// Step implements Method.
func (m TMPD) Step(s *Step) Result {
	op := mustLinear(m.Name(), s.Op)
	mv := s.Denoise(s.X, s.I)
	x0 := mv.PredXStart
	k := s.tweedieScale(x0)
	jv := func(v *graph.Node) *graph.Node { return s.vjp(x0, v) }
	cov := graph.StopGradient(m.Diagonal.nonNegative(graph.Mul(k, m.Diagonal.estimate(x0, s.I, jv))))
	r := s.residual(x0)
	u := s.solveDiagonalCovariance(op, cov, r, iterations(m.CGIterations, DefaultCGIterations))
	g := s.vjp(x0, op.Adjoint(u))
	delta := graph.MulScalar(graph.Mul(k, g), s.Scale)
	return Result{Next: s.guidedPrior(mv, delta), PredXStart: x0, Residual: perImageNorm(r),
		Extra: map[string]*graph.Node{"covariance": cov}}
}
