package guidance

import (
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// PiGDM is pseudoinverse-guided diffusion (ΠGDM, Song et al., ICLR 2023):
// the covariance Cov[x0|x_t] is taken as r_t² I with r_t² = 1−ᾱ_t (the
// paper's σ_t²/(1+σ_t²) in variance-preserving form: exact for a prior of
// unit covariance), so
//
//	g = (∂x̂0/∂x_t)ᵀ Aᵀ (r_t² A Aᵀ + σ_y² I)⁻¹ (y − A x̂0)
//	x_{t-1} = prior step with x̂0 + ζ (1−ᾱ)/√ᾱ · g
//
// The system is solved in closed form when A Aᵀ is diagonal (inpainting),
// as Aᵀ(AAᵀ)⁻¹ = A⁺ when σ_y = 0 and the operator has a pseudo-inverse
// (super-resolution, an ops.SVDOperator; for an A of lower rank
// Aᵀ(AAᵀ)⁺ = A⁺, the solution conjugate gradients converge to), and by
// CGIterations of conjugate gradients otherwise. The paper's Algorithm 1 adds √ᾱ_t·g to the DDIM sample; here g
// enters through Tweedie's formula like the other Gaussian-likelihood
// methods, so ζ = 1 is the principled strength.
//
// Cost per step: one network forward and one vector-Jacobian product (plus
// one A and Aᵀ per CG iteration); memory of one backward pass.
type PiGDM struct {
	// CGIterations caps the CG iterations (0 = DefaultCGIterations).
	CGIterations int
	// X0 selects the x̂0 whose residual and Jacobian the guidance uses
	// (zero: the clamped one).
	X0 X0Estimate
}

// Name implements Method.
func (PiGDM) Name() string { return "pigdm" }

// SpecKeys implements SpecReader.
func (PiGDM) SpecKeys() []string { return []string{"cg", "x0"} }

// WithOption implements SpecReader.
func (m PiGDM) WithOption(k, v string) (Method, error) {
	var err error
	if k == "x0" {
		m.X0, err = parseX0Estimate(v)
	} else {
		m.CGIterations, err = unrolledCount(v)
	}
	return m, err
}

// DefaultScale implements Scaler: ζ = 1, the Gaussian likelihood's own
// strength.
func (PiGDM) DefaultScale(ops.Kind) float64 { return 1 }

// CheckOperator implements OperatorChecker: A must be linear with an adjoint.
func (m PiGDM) CheckOperator(op ops.Operator) error {
	_, err := linearOperator(m.Name(), op)
	return err
}

// Step implements Method.
func (m PiGDM) Step(s *Step) Result {
	op := mustLinear(m.Name(), s.Op)
	mv := s.Denoise(s.X, s.I)
	x0 := m.X0.of(mv)
	r := s.residual(x0)
	rt2 := graph.OneMinus(s.alphaBar(r))
	var adjU *graph.Node // Aᵀ (r_t² AAᵀ + σ_y² I)⁻¹ r
	if d, ok := gramDiagonal(op, graph.OnesLike(x0)); ok {
		adjU = op.Adjoint(safeDiv(r, graph.Add(graph.Mul(rt2, d), s.sigmaY2(r))))
	} else if pinv, ok := op.(ops.PseudoInverter); ok && s.SigmaY == 0 {
		adjU = graph.Div(pinv.PseudoInverse(r), graph.OneMinus(s.alphaBar(x0)))
	} else {
		s2 := s.sigmaY2(r)
		apply := func(v *graph.Node) *graph.Node {
			return graph.Add(graph.Mul(s2, v), graph.Mul(rt2, op.Apply(op.Adjoint(v))))
		}
		adjU = op.Adjoint(conjugateGradient(apply, r, iterations(m.CGIterations, DefaultCGIterations), s.solveBreakdown()))
	}
	g := s.VJP(x0, adjU)
	delta := s.Scaled(graph.Mul(s.TweedieScale(g), g))
	return Result{Next: s.GuidedPrior(mv, delta), PredXStart: mv.PredXStart, Residual: perImageNorm(r)}
}
