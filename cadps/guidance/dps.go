package guidance

import "github.com/gomlx/gomlx/pkg/core/graph"

// DPS is diffusion posterior sampling (Chung et al., ICLR 2023) exactly as
// its reference code's "ps" conditioning:
//
//	x_{t-1} = x'_{t-1} − ζ ∇_{x_t} ‖y − A(x̂0(x_t))‖₂
//
// with x'_{t-1} the ancestral sample and x̂0 the clamped Tweedie estimate
// (the norm, not its square).
//
// Cost per step: one network forward and one vector-Jacobian product through
// the network and A; memory of one backward pass.
type DPS struct{}

// Name implements Method.
func (DPS) Name() string { return "dps" }

// Step implements Method.
func (DPS) Step(s *Step) Result {
	mv := s.Denoise(s.X, s.I)
	prior := s.Prior(mv)
	grad, norm := s.NormGradient(mv.PredXStart)
	next := graph.Sub(prior, s.Scaled(grad))
	return Result{Next: next, PredXStart: mv.PredXStart, Residual: norm}
}
