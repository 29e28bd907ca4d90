package guidance

import (
	"fmt"

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
// DefaultMMPSIterations = 5) trades accuracy for cost. The paper truncates
// the solve to a few iterations, 1 to 3, and its released
// code (francois-rozet/diffusion-priors) runs one by default; the default
// here follows neither (docs/methods.md, section mmps).
//
// The system is solved by GCR (minimal residual, as GMRES) by default, not
// by the conjugate gradients the paper names: a learned network's Jacobian
// is neither symmetric nor positive semi-definite, and CG on
// σ_y² I + A Cov Aᵀ then can take huge steps along directions of small or
// negative curvature (docs/methods.md, section mmps, measures both solvers
// on the shipped prior, with the commands). Where the Jacobian is
// symmetric (an exact denoiser, the Gaussian-mixture benchmark) both reach
// the same solution.
//
// Cost per step: one network forward and CGIterations + 1
// vector-Jacobian products; memory of one backward pass (the products are
// sequential, each held until the next is built).
type MMPS struct {
	// CGIterations is the iteration count of the solve (0 =
	// DefaultMMPSIterations).
	CGIterations int
	// Solver is the linear solver ("" = SolverGCR).
	Solver Solver
	// X0 selects the x̂0 whose residual and Jacobian the guidance uses
	// (zero: the clamped one).
	X0 X0Estimate
}

// Solver names the iterative solver of a linear system.
type Solver string

// The solvers.
const (
	// SolverCG is conjugate gradients: exact for symmetric positive
	// semi-definite systems, unreliable otherwise.
	SolverCG Solver = "cg"
	// SolverGCR is the generalized conjugate residual method: minimises the
	// residual over the Krylov space (as GMRES) for any system.
	SolverGCR Solver = "gcr"
)

// Name implements Method.
func (MMPS) Name() string { return "mmps" }

// SpecKeys implements SpecReader.
func (MMPS) SpecKeys() []string { return []string{"cg", "solver", "x0"} }

// WithOption implements SpecReader.
func (m MMPS) WithOption(k, v string) (Method, error) {
	var err error
	switch k {
	case "cg":
		m.CGIterations, err = unrolledCount(v)
	case "x0":
		m.X0, err = parseX0Estimate(v)
	case "solver":
		switch s := Solver(v); s {
		case SolverCG, SolverGCR:
			m.Solver = s
		default:
			err = fmt.Errorf("unknown solver %q (known: cg, gcr)", v)
		}
	}
	return m, err
}

// DefaultScale implements Scaler: ζ = 1, the Gaussian likelihood's own
// strength.
func (MMPS) DefaultScale(ops.Kind) float64 { return 1 }

// CheckOperator implements OperatorChecker: A must be linear with an adjoint.
func (m MMPS) CheckOperator(op ops.Operator) error {
	_, err := linearOperator(m.Name(), op)
	return err
}

// Step implements Method.
func (m MMPS) Step(s *Step) Result {
	op := mustLinear(m.Name(), s.Op)
	mv := s.Denoise(s.X, s.I)
	x0 := m.X0.of(mv)
	k := s.TweedieScale(x0)
	covAdjoint := func(v *graph.Node) *graph.Node { // Cov Aᵀ v
		return graph.Mul(k, s.VJP(x0, op.Adjoint(v)))
	}
	s2 := s.sigmaY2(x0)
	apply := func(v *graph.Node) *graph.Node {
		return graph.Add(graph.Mul(s2, v), op.Apply(covAdjoint(v)))
	}
	r := s.residual(x0)
	iters := iterations(m.CGIterations, DefaultMMPSIterations)
	var u *graph.Node
	if m.Solver == SolverCG {
		u = conjugateGradient(apply, r, iters, s.solveBreakdown())
	} else {
		u = generalizedConjugateResidual(apply, r, iters)
	}
	delta := s.Scaled(covAdjoint(u))
	return Result{Next: s.GuidedPrior(mv, delta), PredXStart: mv.PredXStart, Residual: perImageNorm(r)}
}
