package guidance

import "github.com/cadps/toolkit/ops"

// Projection is the DPS repository's "projection" conditioning: the
// unconditional sample made consistent with the measurement diffused to the
// step's noise level,
//
//	x_{t-1} = x'_{t-1} − A⁺A x'_{t-1} + A⁺ y_i,   y_i = √ᾱ_i y + √(1−ᾱ_i) z_y
//
// (y_i drawn at x_t's index i, as the reference does). The operator must
// have a pseudo-inverse (ops.PseudoInverter).
//
// Cost per step: one network forward, no gradient.
type Projection struct{}

// Name implements Method.
func (Projection) Name() string { return "projection" }

// DefaultScale implements Scaler. Projection takes no step of size ζ;
// settings record DPS's value for the kind, as they always have, and 1
// where DPS has none (an operator of one's own without a kind), so that
// such an operator needs no ζ.
func (Projection) DefaultScale(k ops.Kind) float64 {
	if s := dpsScale(k); s > 0 {
		return s
	}
	return 1
}

// CheckOperator implements OperatorChecker: A must have a pseudo-inverse.
func (m Projection) CheckOperator(op ops.Operator) error {
	_, err := pseudoInverter(m.Name(), op)
	return err
}

// Step implements Method.
func (m Projection) Step(s *Step) Result {
	pinv := mustPseudoInverter(m.Name(), s.Op)
	mv := s.Denoise(s.X, s.I)
	return Result{Next: s.project(pinv, s.Prior(mv)), PredXStart: mv.PredXStart,
		Residual: s.ResidualNorm(mv.PredXStart)}
}
