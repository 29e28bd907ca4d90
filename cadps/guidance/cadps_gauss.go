package guidance

import (
	"fmt"
	"math"

	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// DefaultFDStep is the default finite-difference step of [CADPSGauss],
// relative to the noise level √(1−ᾱ_t).
const DefaultFDStep = 0.01

// CADPSGauss is CA-DPS as its paper (Hamidi & Yang, AAAI 2025) describes it:
// the Gaussian likelihood of the denoiser's mean and a diagonal covariance
//
//	Σ̃ = (1−ᾱ)/ᾱ · (1 − √(1−ᾱ) · [ε(x_t + h·1, t) − ε(x_t, t)]/h),   h = FDStep·√(1−ᾱ)
//	x_{t-1} = prior step with x̂0 + ζ (1−ᾱ)/√ᾱ · ∇_{x_t} log N(y; A x̂0, σ_y² I + A diag(Σ̃) Aᵀ)
//
// Σ̃ is the diagonal of Cov[x0|x_t] = (1−ᾱ)/ᾱ · (I + (1−ᾱ)∇² log p_t), with
// ∇² log p_t = −∂ε/∂x_t / √(1−ᾱ), its diagonal taken by a forward finite
// difference of the network along the all-ones direction (exact when the
// Jacobian is diagonal; in general it is the Jacobian's row sum); a
// negative value is replaced by its magnitude (see NegativeRule) and Σ̃ is
// not differentiated. Diagonal replaces the all-ones direction by
// Hutchinson's random ±1 directions (an unbiased diagonal) or the unit
// vectors (the exact one) for ablations. The linear system is solved in
// closed form when A diag(Σ̃) Aᵀ is diagonal (inpainting) and by
// CGIterations of conjugate gradients otherwise. See docs/cadps-gauss.md for
// the derivation and the relation of ζ to DPS's.
//
// Cost per step: two network forwards (one differentiated; one more per
// Hutchinson probe beyond the first), one vector-Jacobian product, and one
// A and Aᵀ per CG iteration; memory of one backward pass.
type CADPSGauss struct {
	// FDStep is the finite-difference step relative to √(1−ᾱ_t)
	// (0 = DefaultFDStep).
	FDStep float64
	// CGIterations caps the CG iterations (0 = DefaultCGIterations).
	CGIterations int
	// Diagonal selects the finite-difference directions (zero: the
	// all-ones direction, as published).
	Diagonal Diagonal
	// X0 selects the x̂0 whose residual and Jacobian the guidance uses
	// (zero: the clamped one).
	X0 X0Estimate
}

// Name implements Method.
func (CADPSGauss) Name() string { return "cadps-gauss" }

// SpecKeys implements SpecReader.
func (CADPSGauss) SpecKeys() []string {
	return []string{"cg", "fd_step", "diagonal", "probes", "probe_seed", "negative", "x0"}
}

// WithOption implements SpecReader.
func (m CADPSGauss) WithOption(k, v string) (Method, error) {
	var err error
	switch k {
	case "cg":
		m.CGIterations, err = unrolledCount(v)
	case "fd_step":
		m.FDStep, err = positiveRule().parse(v)
	case "x0":
		m.X0, err = parseX0Estimate(v)
	default:
		m.Diagonal, err = m.Diagonal.withOption(k, v)
	}
	return m, err
}

// Validate implements Validator: FDStep must be finite (an infinite or
// NaN step makes every sample NaN; 0 or below takes DefaultFDStep).
func (c CADPSGauss) Validate() error {
	if math.IsNaN(c.FDStep) || math.IsInf(c.FDStep, 0) {
		return fmt.Errorf("cadps-gauss: fd_step = %v, want a finite number", c.FDStep)
	}
	return nil
}

// DefaultScale implements Scaler: ζ = 1, the Gaussian likelihood's own
// strength.
func (CADPSGauss) DefaultScale(ops.Kind) float64 { return 1 }

// Revision implements Revisioner:
//
//  1. a negative diagonal entry becomes its magnitude, not 0
//     (negative=clamp gives revision 0's rule).
func (CADPSGauss) Revision() int { return 1 }

// CheckOperator implements OperatorChecker: A must be linear with an adjoint.
func (c CADPSGauss) CheckOperator(op ops.Operator) error {
	_, err := linearOperator(c.Name(), op)
	return err
}

// Step implements Method.
func (c CADPSGauss) Step(s *Step) Result {
	op := mustLinear(c.Name(), s.Op)
	mv := s.Denoise(s.X, s.I)
	cov := graph.StopGradient(c.covariance(s, mv.ModelEps))
	x0 := c.X0.of(mv)
	r := s.residual(x0)
	u := s.solveDiagonalCovariance(op, cov, r, iterations(c.CGIterations, DefaultCGIterations))
	g := s.VJP(x0, op.Adjoint(u))
	delta := graph.Mul(s.Scaled(s.TweedieScale(g)), g)
	return Result{Next: s.GuidedPrior(mv, delta), PredXStart: mv.PredXStart, Residual: perImageNorm(r),
		Extra: map[string]*graph.Node{"covariance": cov}}
}

// covariance returns Σ̃ from the noise prediction eps at x_t and a forward
// at x_t + h·v for each direction v of the diagonal estimator.
func (c CADPSGauss) covariance(s *Step, eps *graph.Node) *graph.Node {
	step := c.FDStep
	if step <= 0 {
		step = DefaultFDStep
	}
	x := graph.StopGradient(s.X)
	ab := s.alphaBar(x)
	sigma := graph.Sqrt(graph.OneMinus(ab))
	h := graph.MulScalar(sigma, step)
	eps = graph.StopGradient(eps)
	jv := func(v *graph.Node) *graph.Node { // ≈ (∂ε/∂x_t) v
		xh := graph.Add(x, graph.Mul(h, v))
		epsH := s.Denoise(xh, s.I).ModelEps
		return graph.Div(graph.Sub(epsH, eps), h)
	}
	dEps := c.Diagonal.estimate(x, s.I, jv)
	cov := graph.Mul(graph.Div(graph.OneMinus(ab), ab), graph.OneMinus(graph.Mul(sigma, dEps)))
	return c.Diagonal.nonNegative(cov)
}
