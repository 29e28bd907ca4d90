package guidance

import (
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// MMPS is moment matching posterior sampling (Rozet et al. 2024): the full
// Tweedie covariance Cov[x0|x_t] = (1−ᾱ)/√ᾱ · ∂x̂0/∂x_t, used only through
// vector-Jacobian products inside a conjugate-gradient solve, gives the
// posterior mean of x0 under the Gaussian approximation,
//
//	(σ_y² I + A Cov Aᵀ) u = y − A x̂0
//	x_{t-1} = prior step with x̂0 + ζ · Cov Aᵀ u
//
// (Cov Aᵀ u = (1−ᾱ)/√ᾱ · (∂x̂0/∂x_t)ᵀ Aᵀ u, the Jacobian being symmetric for
// an exact denoiser). With ζ = 1 and enough iterations this is the exact
// posterior step for a Gaussian prior; CGIterations (default
// DefaultMMPSIterations, the paper uses 1 to 5) trades accuracy for cost.
//
// Cost per step: one network forward and CGIterations + 1
// vector-Jacobian products; memory of one backward pass (the products are
// sequential, each held until the next is built).
type MMPS struct {
	// CGIterations is the CG iteration count (0 = DefaultMMPSIterations).
	CGIterations int
}

// Name implements Method.
func (MMPS) Name() string { return "mmps" }

// CheckOperator implements OperatorChecker: A must be linear with an adjoint.
func (m MMPS) CheckOperator(op ops.Operator) error {
	_, err := linearOperator(m.Name(), op)
	return err
}

// Step implements Method.
func (m MMPS) Step(s *Step) Result {
	op := mustLinear(m.Name(), s.Op)
	mv := s.Denoise(s.X, s.I)
	x0 := mv.PredXStart
	k := s.tweedieScale(x0)
	covAdjoint := func(v *graph.Node) *graph.Node { // Cov Aᵀ v
		return graph.Mul(k, s.vjp(x0, op.Adjoint(v)))
	}
	s2 := s.sigmaY2(x0)
	apply := func(v *graph.Node) *graph.Node {
		return graph.Add(graph.Mul(s2, v), op.Apply(covAdjoint(v)))
	}
	r := s.residual(x0)
	u := conjugateGradient(apply, r, iterations(m.CGIterations, DefaultMMPSIterations))
	delta := graph.MulScalar(covAdjoint(u), s.Scale)
	return Result{Next: s.guidedPrior(mv, delta), PredXStart: x0, Residual: perImageNorm(r)}
}
