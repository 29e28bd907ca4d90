package train

import (
	"fmt"
	"math"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

type node = graph.Node

// Losses are the per-image terms of the hybrid objective, each [N].
type Losses struct {
	// MSE is L_simple: the mean over pixels of (ε − ε̂)².
	MSE *graph.Node
	// VB is the variational bound term L_t in bits/dim: the KL between
	// q(x_{t−1}|x_t,x_0) and p_θ(x_{t−1}|x_t) for t > 0, the discretised
	// Gaussian decoder NLL for t = 0, with the network's mean stop-gradient'ed.
	VB *graph.Node
	// Total is MSE + VB·T/1000, improved DDPM's L_hybrid = L_simple + λ·L_vlb
	// with λ = 0.001 and L_vlb estimated by T·L_t under uniform t.
	Total *graph.Node
}

// HybridLoss builds the training losses of improved DDPM / guided-diffusion
// for a network with learned variance: modelOut [N,2C,H,W] is the output at
// x_t = QSample(x0, i, noise), with i [N] the (int32) timestep indices. The
// bound uses the unclipped x̂0, as improved DDPM's training_losses does,
// whether or not p clips it for sampling.
func HybridLoss(p *diffusion.Process, x0, i, noise, modelOut *graph.Node) Losses {
	if cfg := p.Config(); cfg.ClipDenoised {
		cfg.ClipDenoised = false
		unclipped, err := diffusion.New(cfg)
		if err != nil {
			panic(fmt.Errorf("train: %w", err))
		}
		p = unclipped
	}
	c := x0.Shape().Dim(1)
	halves := graph.Split(modelOut, 1, 2)
	eps, v := halves[0], halves[1]
	if modelOut.Shape().Dim(1) != 2*c {
		panic("train: HybridLoss needs a model output with 2C channels (learned variance)")
	}
	xt := p.QSample(x0, i, noise)
	mse := meanFlat(graph.Square(graph.Sub(noise, eps)))

	// The VB term only trains the variance: the mean prediction is frozen.
	frozen := graph.Concatenate([]*node{graph.StopGradient(eps), v}, 1)
	mv := p.PMeanVariance(xt, i, frozen)
	trueMean := p.PosteriorMean(x0, xt, i)
	trueLogVar := diffusion.Expand(p.Lookup("posterior_log_variance_clipped", i), x0)
	kl := meanFlat(normalKL(trueMean, trueLogVar, mv.Mean, mv.LogVariance))
	kl = graph.DivScalar(kl, math.Ln2)
	nll := meanFlat(graph.Neg(discretizedGaussianLogLikelihood(x0, mv.Mean, graph.MulScalar(mv.LogVariance, 0.5))))
	nll = graph.DivScalar(nll, math.Ln2)
	first := graph.Equal(i, graph.ScalarZero(i.Graph(), i.DType()))
	vb := graph.Where(first, nll, kl)

	total := graph.Add(mse, graph.MulScalar(vb, float64(p.OriginalSteps())/1000))
	return Losses{MSE: mse, VB: vb, Total: total}
}

// Weighted is the per-image objective with L_simple's term scaled by the
// per-image weights w [N] (see [LossWeight]): w·MSE + VB·T/1000. A nil w
// gives Total.
func (l Losses) Weighted(p *diffusion.Process, w *graph.Node) *graph.Node {
	if w == nil {
		return l.Total
	}
	return graph.Add(graph.Mul(w, l.MSE), graph.MulScalar(l.VB, float64(p.OriginalSteps())/1000))
}

// meanFlat averages x [N,...] over every axis but the first.
func meanFlat(x *node) *node {
	axes := make([]int, x.Rank()-1)
	for k := range axes {
		axes[k] = k + 1
	}
	return graph.ReduceMean(x, axes...)
}

// normalKL is KL(N(μ1, e^{ℓ1}) ‖ N(μ2, e^{ℓ2})) element-wise, in nats:
//
//	½ (−1 + ℓ2 − ℓ1 + e^{ℓ1−ℓ2} + (μ1−μ2)² e^{−ℓ2})
func normalKL(mean1, logVar1, mean2, logVar2 *node) *node {
	t := graph.Add(graph.Sub(logVar2, logVar1), graph.Exp(graph.Sub(logVar1, logVar2)))
	t = graph.Add(t, graph.Mul(graph.Square(graph.Sub(mean1, mean2)), graph.Exp(graph.Neg(logVar2))))
	return graph.MulScalar(graph.AddScalar(t, -1), 0.5)
}

// approxStandardNormalCDF is the tanh approximation of Φ used by
// guided-diffusion: ½(1 + tanh(√(2/π)(x + 0.044715x³))).
func approxStandardNormalCDF(x *node) *node {
	inner := graph.Add(x, graph.MulScalar(graph.Mul(x, graph.Square(x)), 0.044715))
	return graph.MulScalar(graph.OnePlus(graph.Tanh(graph.MulScalar(inner, math.Sqrt(2/math.Pi)))), 0.5)
}

// discretizedGaussianLogLikelihood is the log-likelihood (nats) of images x
// in [−1, 1], quantised to 256 levels (bins of width 2/255), under a
// Gaussian with the given means and log standard deviations; the outer bins
// extend to ±∞.
func discretizedGaussianLogLikelihood(x, means, logScales *node) *node {
	centred := graph.Sub(x, means)
	invStd := graph.Exp(graph.Neg(logScales))
	cdfPlus := approxStandardNormalCDF(graph.Mul(invStd, graph.AddScalar(centred, 1.0/255)))
	cdfMin := approxStandardNormalCDF(graph.Mul(invStd, graph.AddScalar(centred, -1.0/255)))
	const floor = 1e-12
	logCDFPlus := graph.Log(graph.MaxScalar(cdfPlus, floor))
	logOneMinusCDFMin := graph.Log(graph.MaxScalar(graph.OneMinus(cdfMin), floor))
	logDelta := graph.Log(graph.MaxScalar(graph.Sub(cdfPlus, cdfMin), floor))
	low := graph.LessThan(x, graph.Scalar(x.Graph(), x.DType(), -0.999))
	high := graph.GreaterThan(x, graph.Scalar(x.Graph(), x.DType(), 0.999))
	return graph.Where(low, logCDFPlus, graph.Where(high, logOneMinusCDFMin, logDelta))
}
