package diffusion

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// Internal names of the float32 arrays that only the previous_x mean type
// needs; they sit beside the [Schedule.Array] names in Process.f32.
const (
	recipCoef1Name     = "_recip_posterior_mean_coef1"
	coef2OverCoef1Name = "_posterior_mean_coef2_over_coef1"
)

// graphPanicf panics with an error; graph.Exec turns it into an error, as
// it does with GoMLX's own graph-building panics.
func graphPanicf(format string, args ...any) {
	panic(fmt.Errorf("diffusion: "+format, args...))
}

// checkIndex panics unless i is an integer scalar or vector; method, when
// not empty, names the Process method in the message.
func checkIndex(method string, i *graph.Node) {
	if method != "" {
		method += ": "
	}
	if i == nil {
		graphPanicf("%sthe respaced index i is nil", method)
	}
	if !i.DType().IsInt() || i.Rank() > 1 {
		graphPanicf("%sthe respaced index i must be an integer scalar or [N] vector, got %s", method, i.Shape())
	}
}

// arg is a named argument of a Process graph method.
type arg struct {
	name string
	x    *graph.Node
}

// checkArgs panics, naming method, unless i is a respaced index (an
// integer scalar, or an [N] vector with N 1 or the batch of the first of
// xs) and xs are float tensors [N,...] of one shape, so that an argument
// passed in another's place fails here rather than running.
func checkArgs(method string, i *graph.Node, xs ...arg) {
	for _, a := range xs {
		switch {
		case a.x == nil:
			graphPanicf("%s: %s is nil", method, a.name)
		case !a.x.DType().IsFloat() || a.x.Rank() < 1:
			graphPanicf("%s: %s must be a float tensor [N,...], got %s (is the respaced index i passed in its place?)", method, a.name, a.x.Shape())
		case !a.x.Shape().Equal(xs[0].x.Shape()):
			graphPanicf("%s: %s %s and %s %s must have the same shape", method, xs[0].name, xs[0].x.Shape(), a.name, a.x.Shape())
		}
	}
	checkIndex(method, i)
	if len(xs) > 0 && i.Rank() == 1 {
		if n, batch := i.Shape().Dim(0), xs[0].x.Shape().Dim(0); n != 1 && n != batch {
			graphPanicf("%s: the respaced index i %s does not match the batch %d of %s %s", method, i.Shape(), batch, xs[0].name, xs[0].x.Shape())
		}
	}
}

// Lookup returns the respaced coefficient array called name (a
// [Schedule.Array] name, such as "alphas_cumprod") at index i, as float32:
// a scalar for a scalar i, an [N] vector for an [N] vector i. The float64
// array is cast to float32 and gathered in-graph, as the reference's
// extract_and_expand does. Indices outside [0, NumSteps()) are clamped by
// the backend's gather; samplers must pass valid ones.
func (p *Process) Lookup(name string, i *graph.Node) *graph.Node {
	checkIndex("", i)
	arr, ok := p.f32[name]
	if !ok {
		graphPanicf("unknown coefficient array %q", name)
	}
	return gatherAt(graph.Const(i.Graph(), arr), i)
}

// gatherAt returns table[i] for a scalar or [N] integer i.
func gatherAt(table, i *graph.Node) *graph.Node {
	if i.Rank() == 0 {
		return graph.Gather(table, i)
	}
	return graph.Gather(table, graph.Reshape(i, i.Shape().Dimensions[0], 1))
}

// Beta returns β_i (float32, scalar or [N] like i).
func (p *Process) Beta(i *graph.Node) *graph.Node { return p.Lookup("betas", i) }

// AlphaBar returns ᾱ_i = Π_{j≤i}(1−β_j) (float32, scalar or [N] like i).
func (p *Process) AlphaBar(i *graph.Node) *graph.Node { return p.Lookup("alphas_cumprod", i) }

// AlphaBarPrev returns ᾱ_{i−1}, with ᾱ_{−1} = 1 (float32, scalar or [N]).
func (p *Process) AlphaBarPrev(i *graph.Node) *graph.Node { return p.Lookup("alphas_cumprod_prev", i) }

// AlphaBarNext returns ᾱ_{i+1}, with ᾱ_{NumSteps()} = 0 (float32, scalar
// or [N]).
func (p *Process) AlphaBarNext(i *graph.Node) *graph.Node { return p.Lookup("alphas_cumprod_next", i) }

// ModelTimestep returns the timestep the network receives at respaced index
// i, as float32 (scalar or [N] like i): t = timestep_map[i], times
// 1000/Steps when RescaleTimesteps is set (SpacedDiffusion's _WrappedModel).
// Like every lookup it clamps i to [0, NumSteps()), so ModelTimestep(i−1)
// at i = 0 (CA-DPS's second network call, which the reference skips there)
// reads index 0.
func (p *Process) ModelTimestep(i *graph.Node) *graph.Node {
	checkIndex("ModelTimestep", i)
	return gatherAt(graph.Const(i.Graph(), p.modelT), i)
}

// Expand reshapes a per-index coefficient c (a scalar, or an [N] vector as
// the lookups return for an [N] index) so that it broadcasts against x
// ([N, ...]): a scalar stays a scalar, an [N] vector becomes [N, 1, ..., 1]
// of x's rank. It panics when N is neither 1 nor x's batch size.
func Expand(c, x *graph.Node) *graph.Node {
	switch {
	case c.Rank() == 0:
		return c
	case c.Rank() != 1 || x.Rank() < 1:
		graphPanicf("cannot expand coefficient %s against %s", c.Shape(), x.Shape())
	}
	n := c.Shape().Dimensions[0]
	if n != 1 && n != x.Shape().Dimensions[0] {
		graphPanicf("coefficient batch %d does not match x's batch %d (x is %s)", n, x.Shape().Dimensions[0], x.Shape())
	}
	dims := make([]int, x.Rank())
	for k := range dims {
		dims[k] = 1
	}
	dims[0] = n
	return graph.Reshape(c, dims...)
}

// coef is Lookup(name, i) expanded against x.
func (p *Process) coef(name string, i, x *graph.Node) *graph.Node {
	return Expand(p.Lookup(name, i), x)
}

// QSample diffuses x0 to index i with the given standard normal noise ε:
//
//	x_i = √ᾱ_i · x_0 + √(1−ᾱ_i) · ε
//
// x0 is float32 [N,...] ([N,C,H,W] for images); i is the respaced index,
// an integer scalar (one index for every image) or an [N] vector (one per
// image); noise is shaped like x0. The result x_i is shaped like x0. An
// argument of another dtype, rank or shape (an index passed in x0's or
// noise's place) panics with an error naming it.
func (p *Process) QSample(x0, i, noise *graph.Node) *graph.Node {
	checkArgs("QSample", i, arg{"x0", x0}, arg{"noise", noise})
	return graph.Add(graph.Mul(p.coef("sqrt_alphas_cumprod", i, x0), x0),
		graph.Mul(p.coef("sqrt_one_minus_alphas_cumprod", i, noise), noise))
}

// PredXStartFromEps is the x_0 that ε implies at x_i:
//
//	x̂_0 = √(1/ᾱ_i) · x_i − √(1/ᾱ_i − 1) · ε
//
// xt (x_i) is float32 [N,...]; i is the respaced index, an integer scalar
// or [N] vector; eps is shaped like xt. The result is shaped like xt.
// Misuse panics as in [Process.QSample].
func (p *Process) PredXStartFromEps(xt, i, eps *graph.Node) *graph.Node {
	checkArgs("PredXStartFromEps", i, arg{"xt", xt}, arg{"eps", eps})
	return graph.Sub(graph.Mul(p.coef("sqrt_recip_alphas_cumprod", i, xt), xt),
		graph.Mul(p.coef("sqrt_recipm1_alphas_cumprod", i, eps), eps))
}

// EpsFromPredXStart is the ε that x̂_0 implies at x_i:
//
//	ε = (√(1/ᾱ_i) · x_i − x̂_0) / √(1/ᾱ_i − 1)
//
// xt (x_i) is float32 [N,...]; i is the respaced index, an integer scalar
// or [N] vector; predX0 is shaped like xt. The result is shaped like xt.
// Misuse panics as in [Process.QSample].
func (p *Process) EpsFromPredXStart(xt, i, predX0 *graph.Node) *graph.Node {
	checkArgs("EpsFromPredXStart", i, arg{"xt", xt}, arg{"predX0", predX0})
	return graph.Div(graph.Sub(graph.Mul(p.coef("sqrt_recip_alphas_cumprod", i, xt), xt), predX0),
		p.coef("sqrt_recipm1_alphas_cumprod", i, xt))
}

// PosteriorMean is the mean of q(x_{i−1} | x_i, x_0):
//
//	μ̃ = c1_i · x_0 + c2_i · x_i,  c1 = β√ᾱ_{i−1}/(1−ᾱ_i),  c2 = (1−ᾱ_{i−1})√(1−β_i)/(1−ᾱ_i)
//
// Unlike the methods before it, PosteriorMean takes the index last: x0
// and xt (x_i) are float32 [N,...] of one shape, and i is the respaced
// index, an integer scalar or [N] vector. The result is shaped like x0.
// Misuse panics as in [Process.QSample].
func (p *Process) PosteriorMean(x0, xt, i *graph.Node) *graph.Node {
	checkArgs("PosteriorMean", i, arg{"x0", x0}, arg{"xt", xt})
	return graph.Add(graph.Mul(p.coef("posterior_mean_coef1", i, x0), x0),
		graph.Mul(p.coef("posterior_mean_coef2", i, xt), xt))
}

// predXStartFromPrev inverts the posterior mean (previous_x mean type):
//
//	x̂_0 = (1/c1_i) · x_{i−1} − (c2_i/c1_i) · x_i
func (p *Process) predXStartFromPrev(xt, i, xPrev *graph.Node) *graph.Node {
	return graph.Sub(graph.Mul(p.coef(recipCoef1Name, i, xPrev), xPrev),
		graph.Mul(p.coef(coef2OverCoef1Name, i, xt), xt))
}

// MeanVariance is the reverse-step distribution p(x_{i−1} | x_i) that
// [Process.PMeanVariance] derives from a network output; every field has
// x_i's shape and dtype float32.
type MeanVariance struct {
	// Mean is the mean of x_{i−1}: the posterior mean at PredXStart (or the
	// network's output for the previous_x mean type).
	Mean *graph.Node
	// Variance is exp(LogVariance).
	Variance *graph.Node
	// LogVariance is the log variance of x_{i−1}.
	LogVariance *graph.Node
	// PredXStart is the predicted x_0, clamped to [−1, 1] when ClipDenoised.
	PredXStart *graph.Node
	// PredXStartUnclipped is the predicted x_0 before clamping.
	PredXStartUnclipped *graph.Node
	// ModelEps is the ε the network predicts: its output (first C channels)
	// for the epsilon mean type, else the ε that PredXStartUnclipped implies.
	ModelEps *graph.Node
	// Eps is the ε that the (clamped) PredXStart implies,
	// EpsFromPredXStart(x_i, i, PredXStart); this is the ε guided-diffusion's
	// and DPS's DDIM step use.
	Eps *graph.Node
}

// PMeanVariance is guided-diffusion's p_mean_variance given the network's
// raw output at (x_i, ModelTimestep(i)). modelOut has C channels, or 2C when
// the variance is learned (axis 1; the first C are the mean prediction, the
// last C the variance values v). With m the mean prediction:
//
//	epsilon:    x̂_0 = √(1/ᾱ_i)·x_i − √(1/ᾱ_i−1)·m
//	start_x:    x̂_0 = m
//	previous_x: x̂_0 = (1/c1_i)·m − (c2_i/c1_i)·x_i, and Mean = m
//	x̂_0 ← clamp(x̂_0, −1, 1) when ClipDenoised
//	Mean = c1_i·x̂_0 + c2_i·x_i (see [Process.PosteriorMean])
//
//	learned:       log σ² = v
//	learned_range: f = (v+1)/2, log σ² = f·log β_i + (1−f)·log β̃_i (clipped)
//	fixed_small:   σ² = β̃_i, log σ² = log β̃_i (clipped: log β̃_1 at i = 0)
//	fixed_large:   σ² = (β̃_1, β_1, β_2, ...)_i and its log
//
// fixed_small follows guided-diffusion; DPS's copy takes log β̃_0 = −∞ at
// i = 0, which changes no sample since no noise is added there. A 2C output
// with a fixed variance type has its last C channels ignored, as in DPS.
// Coefficients are float32; arithmetic is in modelOut's dtype (float32).
//
// xt (x_i) is float32 [N,C,...]; i is the respaced index, an integer
// scalar or [N] vector; modelOut is float32 [N,C,...] or [N,2C,...].
// Every field of the result is shaped like xt. Misuse panics with an
// error naming it.
func (p *Process) PMeanVariance(xt, i, modelOut *graph.Node) MeanVariance {
	checkArgs("PMeanVariance", i, arg{"xt", xt})
	checkArgs("PMeanVariance", i, arg{"modelOut", modelOut})
	if xt.Rank() < 2 || modelOut.Rank() != xt.Rank() {
		graphPanicf("PMeanVariance wants x_t [N, C, ...] and a model output of the same rank, got %s and %s",
			xt.Shape(), modelOut.Shape())
	}
	c := xt.Shape().Dimensions[1]
	out, v := modelOut, (*graph.Node)(nil)
	switch modelOut.Shape().Dimensions[1] {
	case 2 * c:
		halves := graph.Split(modelOut, 1, 2)
		out, v = halves[0], halves[1]
	case c:
	default:
		graphPanicf("model output has %d channels; want %d or %d for x_t %s",
			modelOut.Shape().Dimensions[1], c, 2*c, xt.Shape())
	}
	if v == nil && (p.cfg.VarType == VarLearned || p.cfg.VarType == VarLearnedRange) {
		graphPanicf("variance type %q needs a model output of 2C = %d channels, got %s",
			p.cfg.VarType, 2*c, modelOut.Shape())
	}
	for k, d := range out.Shape().Dimensions {
		if d != xt.Shape().Dimensions[k] {
			graphPanicf("model output %s does not match x_t %s", modelOut.Shape(), xt.Shape())
		}
	}

	var mv MeanVariance
	process := func(x0 *graph.Node) *graph.Node {
		if p.cfg.ClipDenoised {
			return graph.ClipScalar(x0, -1, 1)
		}
		return x0
	}
	switch p.cfg.MeanType {
	case MeanEpsilon:
		mv.ModelEps = out
		mv.PredXStartUnclipped = p.PredXStartFromEps(xt, i, out)
		mv.PredXStart = process(mv.PredXStartUnclipped)
		mv.Mean = p.PosteriorMean(mv.PredXStart, xt, i)
	case MeanStartX:
		mv.PredXStartUnclipped = out
		mv.ModelEps = p.EpsFromPredXStart(xt, i, out)
		mv.PredXStart = process(out)
		mv.Mean = p.PosteriorMean(mv.PredXStart, xt, i)
	case MeanPreviousX:
		mv.PredXStartUnclipped = p.predXStartFromPrev(xt, i, out)
		mv.ModelEps = p.EpsFromPredXStart(xt, i, mv.PredXStartUnclipped)
		mv.PredXStart = process(mv.PredXStartUnclipped)
		mv.Mean = out
	default:
		graphPanicf("unknown model mean type %q", p.cfg.MeanType)
	}
	mv.Eps = p.EpsFromPredXStart(xt, i, mv.PredXStart)

	dims := xt.Shape().Dimensions
	switch p.cfg.VarType {
	case VarLearned:
		mv.LogVariance = v
		mv.Variance = graph.Exp(v)
	case VarLearnedRange:
		minLog := p.coef("posterior_log_variance_clipped", i, v)
		maxLog := p.coef("log_betas", i, v)
		frac := graph.DivScalar(graph.AddScalar(v, 1.0), 2.0)
		mv.LogVariance = graph.Add(graph.Mul(frac, maxLog), graph.Mul(graph.OneMinus(frac), minLog))
		mv.Variance = graph.Exp(mv.LogVariance)
	case VarFixedSmall:
		mv.Variance = graph.BroadcastToDims(p.coef("posterior_variance", i, xt), dims...)
		mv.LogVariance = graph.BroadcastToDims(p.coef("posterior_log_variance_clipped", i, xt), dims...)
	case VarFixedLarge:
		mv.Variance = graph.BroadcastToDims(p.coef("fixed_large_variance", i, xt), dims...)
		mv.LogVariance = graph.BroadcastToDims(p.coef("fixed_large_log_variance", i, xt), dims...)
	default:
		graphPanicf("unknown model variance type %q", p.cfg.VarType)
	}
	return mv
}

// WhereFirst selects first where the respaced index i is 0 and other
// elsewhere, per sample for an [N] index (i scalar or [N]; first and other
// shaped alike, [N,…]). It selects with Where rather than blending, so that
// an Inf or NaN in the branch not taken does not leak into the result.
func WhereFirst(i, first, other *graph.Node) *graph.Node {
	isFirst := graph.Equal(i, graph.ScalarZero(i.Graph(), i.DType()))
	mask := graph.BroadcastToDims(Expand(isFirst, other), other.Shape().Dimensions...)
	return graph.Where(mask, first, other)
}

// noiseUnlessFirst returns noise where i ≠ 0 and zeros where i == 0 (see
// WhereFirst).
func noiseUnlessFirst(i, noise *graph.Node) *graph.Node {
	return WhereFirst(i, graph.ZerosLike(noise), noise)
}

// PSample is the ancestral step (DDPM's p_sample) from mv, with the
// standard normal noise z:
//
//	x_{i−1} = Mean + exp(½·LogVariance)·z   for i ≠ 0
//	x_{i−1} = Mean                         for i = 0
//
// mv is [Process.PMeanVariance]'s at x_i [N,...] for the same i; i is the
// respaced index, an integer scalar or [N] vector; z is float32 shaped
// like x_i (mv.Mean). The result x_{i−1} is shaped like x_i. Misuse panics
// as in [Process.QSample].
func (p *Process) PSample(mv MeanVariance, i, z *graph.Node) *graph.Node {
	checkArgs("PSample", i, arg{"mv.Mean", mv.Mean}, arg{"mv.LogVariance", mv.LogVariance}, arg{"z", z})
	return graph.Add(mv.Mean, noiseUnlessFirst(i, graph.Mul(graph.Exp(graph.MulScalar(mv.LogVariance, 0.5)), z)))
}

// DDIMStep is the DDIM step (guided-diffusion's and DPS's ddim_sample) from
// the predicted x_0 and ε (pass [MeanVariance].PredXStart and
// [MeanVariance].Eps to match the reference), with the standard normal noise
// z and η ∈ [0, 1] (η = 0 is deterministic DDIM, η = 1 has DDPM's variance):
//
//	σ = η · √((1−ᾱ_{i−1})/(1−ᾱ_i)) · √(1 − ᾱ_i/ᾱ_{i−1})
//	x_{i−1} = √ᾱ_{i−1}·x̂_0 + √(1−ᾱ_{i−1}−σ²)·ε + σ·z   (no σ·z at i = 0)
//
// σ is computed in float32 from the float32 ᾱ, as the reference does. An η
// outside [0, 1] panics: above 1, 1−ᾱ_{i−1}−σ² is negative at the low
// indices (at i = 1 of a 1000-step linear process respaced to 50 steps from
// η ≈ 1.01 on), and the step would be NaN there.
//
// Unlike PSample, DDIMStep takes the index third: predX0 (x̂_0), eps (ε)
// and z are float32 [N,...] of one shape, x_i's; i is the respaced index,
// an integer scalar or [N] vector. The result x_{i−1} is shaped like
// predX0. An argument of another dtype, rank or shape (an index passed in
// another's place) panics with an error naming it.
func (p *Process) DDIMStep(predX0, eps, i, z *graph.Node, eta float64) *graph.Node {
	checkArgs("DDIMStep", i, arg{"predX0", predX0}, arg{"eps", eps}, arg{"z", z})
	if !(eta >= 0 && eta <= 1) {
		graphPanicf("DDIM η = %v must lie in [0, 1] (above 1, √(1−ᾱ_{i−1}−σ²) takes the square root of a negative number at low indices)", eta)
	}
	g := i.Graph()
	ab := p.AlphaBar(i)
	abPrev := p.AlphaBarPrev(i)
	sigma := graph.Mul(graph.Mul(graph.Scalar(g, dtypes.Float32, eta),
		graph.Sqrt(graph.Div(graph.OneMinus(abPrev), graph.OneMinus(ab)))),
		graph.Sqrt(graph.OneMinus(graph.Div(ab, abPrev))))
	sigmaX := Expand(sigma, predX0)
	mean := graph.Add(graph.Mul(graph.Sqrt(Expand(abPrev, predX0)), predX0),
		graph.Mul(graph.Sqrt(graph.Sub(graph.OneMinus(Expand(abPrev, eps)), graph.Square(Expand(sigma, eps)))), eps))
	return graph.Add(mean, noiseUnlessFirst(i, graph.Mul(sigmaX, z)))
}
