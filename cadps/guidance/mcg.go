package guidance

import (
	"fmt"

	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// MCG is manifold constrained gradients (Chung et al., NeurIPS 2022) as the
// DPS repository's "mcg" conditioning: the DPS gradient step, then the
// projection of the result onto the measurement diffused to the step's
// noise level,
//
//	x''_{t-1} = x'_{t-1} − ζ ∇_{x_t} ‖y − A(x̂0(x_t))‖₂
//	x_{t-1} = x''_{t-1} − A⁺A x''_{t-1} + A⁺ y_i,   y_i = √ᾱ_i y + √(1−ᾱ_i) z_y
//
// with y_i drawn at x_t's index i as the reference does. The operator must
// have a pseudo-inverse (ops.PseudoInverter: inpainting, super-resolution,
// an ops.SVDOperator); for inpainting A⁺ = A is the mask and the
// projection replaces the observed pixels by y_i.
//
// Cost per step: one network forward and one vector-Jacobian product;
// memory of one backward pass.
type MCG struct{}

// Name implements Method.
func (MCG) Name() string { return "mcg" }

// CheckOperator implements OperatorChecker: A must have a pseudo-inverse.
func (m MCG) CheckOperator(op ops.Operator) error {
	_, err := pseudoInverter(m.Name(), op)
	return err
}

// Step implements Method.
func (m MCG) Step(s *Step) Result {
	pinv := mustPseudoInverter(m.Name(), s.Op)
	mv := s.Denoise(s.X, s.I)
	grad, norm := s.NormGradient(mv.PredXStart)
	x := graph.Sub(s.Prior(mv), s.Scaled(grad))
	return Result{Next: s.project(pinv, x), PredXStart: mv.PredXStart, Residual: norm}
}

// project returns x − A⁺A x + A⁺ y_i with y_i = q_sample(y, i, z_y).
func (s *Step) project(pinv ops.PseudoInverter, x *graph.Node) *graph.Node {
	if s.ZY == nil {
		panic(fmt.Errorf("%w: the projection needs q_sample's noise draw on the measurement", ErrOperator))
	}
	yi := s.Process.QSample(s.Y, s.I, s.ZY)
	return graph.Add(graph.Sub(x, pinv.PseudoInverse(s.Op.Apply(x))), pinv.PseudoInverse(yi))
}

// pseudoInverter returns the operator's pseudo-inverse, or an error
// wrapping ErrOperator for the named method.
func pseudoInverter(method string, op ops.Operator) (ops.PseudoInverter, error) {
	if op == nil {
		return nil, noOperator(method)
	}
	p, ok := op.(ops.PseudoInverter)
	if !ok {
		return nil, refuse(method, op,
			fmt.Sprintf("it projects onto the measurement and needs the operator's pseudo-inverse, which %s lacks", op.Name()),
			"an ops.PseudoInverter, as ops.NewSVDOperator builds from an SVD")
	}
	return p, nil
}

// mustPseudoInverter is pseudoInverter for graph building: it panics with
// the error, listing the methods that run on op as [CheckOperator] does,
// which graph execution returns.
func mustPseudoInverter(method string, op ops.Operator) ops.PseudoInverter {
	p, err := pseudoInverter(method, op)
	if err != nil {
		panic(listRuns(err, op))
	}
	return p
}
