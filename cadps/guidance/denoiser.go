package guidance

import (
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
// fractional) timesteps t [N].
func (s *Step) Predict(x, t *graph.Node) Prediction {
	return Prediction{process: s.Process, x: x, out: s.Net(s.Ctx, x, t)}
}

// PredictBatch runs the network once on the images of xs, concatenated
// along the batch axis, at their timesteps ts (one [N_k] node per x_k), and
// returns each part's prediction: one forward over ΣN_k images instead of
// len(xs) forwards.
func (s *Step) PredictBatch(xs, ts []*graph.Node) []Prediction {
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

// Eps returns the network's noise prediction ε for x at the (original,
// possibly fractional) timesteps t [N].
func (s *Step) Eps(x, t *graph.Node) *graph.Node {
	return s.Predict(x, t).Eps()
}

// Denoise runs the network on x at respaced index i and returns the
// diffusion's mean, variance and x̂0 for it.
func (s *Step) Denoise(x, i *graph.Node) diffusion.MeanVariance {
	return s.Predict(x, s.Timestep(i)).MeanVariance(i)
}
