package guidance

import (
	"fmt"

	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// TMPD is Tweedie moment projected diffusion (Boys et al. 2023) in its
// diagonal form, the one its image experiments use: the measurement
// covariance A Cov Aᵀ, Cov = Cov[x0|x_t] = (1−ᾱ)/√ᾱ · ∂x̂0/∂x_t, is replaced
// by the diagonal matrix of its row sums, one vector-Jacobian product with
// Aᵀ1,
//
//	c = |A (1−ᾱ)/√ᾱ · (∂x̂0/∂x_t)ᵀ Aᵀ 1|
//	x_{t-1} = prior step with x̂0 + ζ (1−ᾱ)/√ᾱ · (∂x̂0/∂x_t)ᵀ Aᵀ (y − A x̂0) / (σ_y² + c)
//
// (c is not differentiated; for why a negative row sum is replaced by its
// magnitude rather than 0, see NegativeRule). The system is diagonal for
// every operator. Diagonal replaces the row sums by an unbiased
// (Hutchinson, ±1 probes in measurement space) or the exact diagonal of
// A Cov Aᵀ for ablations. PixelSpace selects the pixel-space variant, which
// takes the diagonal of Cov itself (its row sums Cov·1 by default) and
// solves σ_y² I + A diag(c) Aᵀ exactly: in closed form when that is
// diagonal (inpainting) and by CGIterations of conjugate gradients
// otherwise. ζ = 1 is the method as published (see the package's
// Gaussian-likelihood update).
//
// Cost per step: one network forward and two vector-Jacobian products
// (one more per Hutchinson probe beyond the first), one more A and Aᵀ, and
// with PixelSpace one A and Aᵀ per CG iteration; memory of one backward
// pass.
type TMPD struct {
	// CGIterations caps the CG iterations of PixelSpace (0 =
	// DefaultCGIterations).
	CGIterations int
	// Diagonal selects the estimate of the covariance's diagonal (zero: row
	// sums).
	Diagonal Diagonal
	// PixelSpace estimates the diagonal of Cov instead of A Cov Aᵀ: the
	// form of tmpd's revisions 0 and 1. Its row sums run over all
	// pixels, where the published form's run over the measurements'
	// couplings only; on the mixture benchmark that made it far worse
	// (docs/posterior-fidelity.md).
	PixelSpace bool
	// X0 selects the x̂0 whose residual and Jacobian the guidance uses
	// (zero: the clamped one).
	X0 X0Estimate
}

// Name implements Method.
func (TMPD) Name() string { return "tmpd" }

// SpecKeys implements SpecReader.
func (TMPD) SpecKeys() []string {
	return []string{"cg", "diagonal", "probes", "probe_seed", "negative", "space", "x0"}
}

// WithOption implements SpecReader.
func (m TMPD) WithOption(k, v string) (Method, error) {
	var err error
	switch k {
	case "cg":
		m.CGIterations, err = unrolledCount(v)
	case "x0":
		m.X0, err = parseX0Estimate(v)
	case "space":
		switch v {
		case "pixels", "measurements":
			m.PixelSpace = v == "pixels"
		default:
			err = fmt.Errorf("unknown space %q (known: pixels, measurements)", v)
		}
	default:
		m.Diagonal, err = m.Diagonal.withOption(k, v)
	}
	return m, err
}

// DefaultScale implements Scaler: ζ = 1, the Gaussian likelihood's own
// strength.
func (TMPD) DefaultScale(ops.Kind) float64 { return 1 }

// Revision implements Revisioner:
//
//  1. a negative diagonal entry becomes its magnitude, not 0
//     (negative=clamp gives revision 0's rule);
//  2. the row sums of A Cov Aᵀ, as published, not of Cov
//     (space=pixels gives revision 1's form).
func (TMPD) Revision() int { return 2 }

// CheckOperator implements OperatorChecker: A must be linear with an adjoint.
func (m TMPD) CheckOperator(op ops.Operator) error {
	_, err := linearOperator(m.Name(), op)
	return err
}

// Step implements Method.
func (m TMPD) Step(s *Step) Result {
	op := mustLinear(m.Name(), s.Op)
	mv := s.Denoise(s.X, s.I)
	x0 := m.X0.of(mv)
	k := s.TweedieScale(x0)
	jv := func(v *graph.Node) *graph.Node { return s.VJP(x0, v) }
	r := s.residual(x0)
	var cov, u *graph.Node
	if m.PixelSpace {
		cov = graph.StopGradient(m.Diagonal.nonNegative(graph.Mul(k, m.Diagonal.estimate(x0, s.I, jv))))
		u = s.solveDiagonalCovariance(op, cov, r, iterations(m.CGIterations, DefaultCGIterations))
	} else {
		jvY := func(v *graph.Node) *graph.Node { return op.Apply(graph.Mul(k, jv(op.Adjoint(v)))) }
		cov = graph.StopGradient(m.Diagonal.nonNegative(m.Diagonal.estimate(r, s.I, jvY)))
		u = safeDiv(r, graph.Add(cov, s.sigmaY2(r)))
	}
	g := s.VJP(x0, op.Adjoint(u))
	delta := s.Scaled(graph.Mul(k, g))
	return Result{Next: s.GuidedPrior(mv, delta), PredXStart: mv.PredXStart, Residual: perImageNorm(r),
		Extra: map[string]*graph.Node{"covariance": cov}}
}
