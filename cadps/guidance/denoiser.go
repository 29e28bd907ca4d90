package guidance

import (
	"fmt"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// The prior network's raw output holds ε in its first C channels and, for
// a learned-variance model, the variance values in the next C. Methods do
// not read that layout: they ask a Step for ε ([Step.Eps]), for the
// reverse-step distribution with x̂0 and the variance ([Step.Denoise]) or,
// to share or batch forwards, for a [Prediction], whose methods read it.

// Prediction is one forward of the prior network at x_t.
type Prediction struct {
	process *diffusion.Process
	x, out  *graph.Node
}

// Eps returns the network's noise prediction ε, shaped like x_t.
func (p Prediction) Eps() *graph.Node {
	return graph.Slice(p.out, graph.AxisRange(), graph.AxisRange(0, p.x.Shape().Dim(1)))
}

// MeanVariance returns the reverse-step distribution at x_t for respaced
// index i (the index whose timestep the forward ran at): its mean and
// variance, x̂0 and the ε they imply.
func (p Prediction) MeanVariance(i *graph.Node) diffusion.MeanVariance {
	return p.process.PMeanVariance(p.x, i, p.out)
}

// Predict runs the network once on x [N,...] at the (original, possibly
// fractional) network timesteps t: a float vector [N] (float32 as
// [Step.Timestep] gives it, or another float dtype), one per image. It is
// not the respaced index i ([Step.Denoise] takes that): an integer t, a
// scalar t or one of another length panics with an error naming it, as
// graph-building misuse does.
func (s *Step) Predict(x, t *graph.Node) Prediction {
	checkTimesteps("Step.Predict", x, t)
	return Prediction{process: s.Process, x: x, out: s.Net(s.Ctx, x, t)}
}

// checkTimesteps panics, naming the caller, unless t is a float vector [N]
// of network timesteps for x [N,...].
func checkTimesteps(caller string, x, t *graph.Node) {
	switch {
	case x == nil || t == nil:
		panic(fmt.Errorf("guidance: %s needs x and the timesteps t, got a nil node", caller))
	case !t.DType().IsFloat():
		panic(fmt.Errorf("guidance: %s: the timesteps t are %s, want a float vector [%d] of network timesteps: "+
			"an integer t is likely a respaced index i, whose timesteps are Step.Timestep(i) (or call Step.Denoise(x, i))",
			caller, t.Shape(), x.Shape().Dim(0)))
	case t.Rank() != 1 || x.Rank() < 1 || t.Shape().Dim(0) != x.Shape().Dim(0):
		panic(fmt.Errorf("guidance: %s: the timesteps t are %s, want one per image of x %s, a float vector [%d] (Step.Timestep broadcasts an index's)",
			caller, t.Shape(), x.Shape(), x.Shape().Dim(0)))
	}
}

// PredictBatch runs the network once on the images of xs, concatenated
// along the batch axis, at their timesteps ts (one float vector [N_k] per
// x_k [N_k,...], as for [Step.Predict]), and returns each part's
// prediction: one forward over ΣN_k images instead of len(xs) forwards.
// Timesteps that Predict refuses, or another number of them than of xs,
// panic with an error naming them.
func (s *Step) PredictBatch(xs, ts []*graph.Node) []Prediction {
	if len(xs) != len(ts) {
		panic(fmt.Errorf("guidance: Step.PredictBatch: %d images and %d timestep vectors, want one per image batch", len(xs), len(ts)))
	}
	for k := range xs {
		checkTimesteps(fmt.Sprintf("Step.PredictBatch (part %d of %d)", k+1, len(xs)), xs[k], ts[k])
	}
	out := s.Net(s.Ctx, graph.Concatenate(xs, 0), graph.Concatenate(ts, 0))
	preds := make([]Prediction, len(xs))
	start := 0
	for k, x := range xs {
		n := x.Shape().Dim(0)
		preds[k] = Prediction{process: s.Process, x: x, out: graph.Slice(out, graph.AxisRange(start, start+n))}
		start += n
	}
	return preds
}

// Eps returns the network's noise prediction ε, shaped like x [N,...], for
// x at the (original, possibly fractional) network timesteps t, a float
// vector [N]. It is not the respaced index i: Eps(x, s.Timestep(s.I))
// is ε at x_t's step, and an integer, scalar or mis-sized t panics as in
// [Step.Predict].
func (s *Step) Eps(x, t *graph.Node) *graph.Node {
	checkTimesteps("Step.Eps", x, t)
	return s.Predict(x, t).Eps()
}

// Denoise runs the network on x [N,...] at respaced index i (an integer
// scalar, or an [N] vector, such as s.I) at its timesteps [Step.Timestep]
// and returns the diffusion's mean, variance and x̂0 for it, each shaped
// like x.
func (s *Step) Denoise(x, i *graph.Node) diffusion.MeanVariance {
	return s.Predict(x, s.Timestep(i)).MeanVariance(i)
}
