package guidance

import (
	"strconv"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// CADPS is covariance-aware DPS (Hamidi & Yang, AAAI 2025) exactly as its
// authors released it. A second network call on the same x_t at the
// timestep of the next step, t_{i−1} of the respaced grid (not t_i − 1 of
// the original process, unless the process is not respaced), gives the
// difference of noise predictions
//
//	d = ε(x_t, t_i) − ε(x_t, t_{i−1})      (d = ε(x_t, t_0) at i = 0)
//
// which scales the DPS gradient elementwise:
//
//	x_{t-1} = x'_{t-1} − ζ (1 + d) ⊙ ∇_{x_t} ‖y − A(x̂0(x_t))‖₂.
//
// d is not differentiated. At i = 0 the reference sets the second term to 0,
// so d is the whole noise prediction there.
//
// Cost per step: two network forwards (one batched forward of 2N images with
// Batched) and one vector-Jacobian product; memory of one backward pass.
type CADPS struct {
	// Batched runs both network calls as one forward on a batch of 2N
	// (faster on accelerators; on the CPU the backward pass then also spans
	// both halves).
	Batched bool
}

// Name implements Method.
func (CADPS) Name() string { return "cadps" }

// SpecKeys implements SpecReader.
func (CADPS) SpecKeys() []string { return []string{"batched"} }

// executionKeys implements executionOptions: batched changes how the two
// forwards run, not the method (CheckDistinct).
func (CADPS) executionKeys() []string { return []string{"batched"} }

// WithOption implements SpecReader.
func (m CADPS) WithOption(_, v string) (Method, error) {
	var err error
	m.Batched, err = strconv.ParseBool(v)
	return m, err
}

// Step implements Method.
func (c CADPS) Step(s *Step) Result {
	prev := PrevIndex(s.I)
	xs := []*graph.Node{s.X, graph.StopGradient(s.X)}
	ts := []*graph.Node{s.Timestep(s.I), s.Timestep(prev)}
	var now, before Prediction
	if c.Batched {
		p := s.PredictBatch(xs, ts)
		now, before = p[0], p[1]
	} else {
		now, before = s.Predict(xs[0], ts[0]), s.Predict(xs[1], ts[1])
	}
	mv := now.MeanVariance(s.I)
	prior := s.Prior(mv)
	grad, norm := s.NormGradient(mv.PredXStart)

	eps := now.Eps()
	epsPrev := graph.StopGradient(before.Eps())
	d := graph.Sub(graph.StopGradient(eps), diffusion.WhereFirst(s.I, graph.ZerosLike(epsPrev), epsPrev))
	multiplier := graph.OnePlus(d)
	next := graph.Sub(prior, s.Scaled(graph.Mul(grad, multiplier)))
	return Result{Next: next, PredXStart: mv.PredXStart, Residual: norm,
		Extra: map[string]*graph.Node{"multiplier": multiplier}}
}
