package guidance

import (
	"fmt"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/internal/num"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// This file holds what the Gaussian-likelihood methods (cadps-gauss, pigdm,
// tmpd, mmps) share. Each approximates
//
//	p(y | x_t) ≈ N(y; A x̂0, σ_y² I + A Σ Aᵀ),   Σ ≈ Cov[x0 | x_t],
//
// differentiates its log with Σ held fixed,
//
//	g = ∇_{x_t} log N = (∂x̂0/∂x_t)ᵀ Aᵀ u,   (σ_y² I + A Σ Aᵀ) u = y − A x̂0,
//
// and turns g into the update through Tweedie's formula: the conditional
// score ∇log p_t(x_t) + ζ g gives the conditional denoiser
//
//	x̂0_y = x̂0 + ζ · (1−ᾱ_t)/√ᾱ_t · g,
//
// which replaces x̂0 in the prior step (the posterior mean of DDPM, or
// DDIM's x̂0 and the ε it implies). For DDPM this adds ζ·β_t/√α_t·g to the
// unconditional sample, the exact conditional reverse step when p(y|x_t)
// is exact, so ζ = 1 is the principled strength of these methods.

// Default iteration counts of the conjugate-gradient solves.
const (
	// DefaultCGIterations is the iteration count of the methods whose CG
	// matrix holds no network (cadps-gauss, tmpd, pigdm): each iteration is
	// one A and one Aᵀ.
	DefaultCGIterations = 20
	// DefaultMMPSIterations is MMPS's iteration count: each iteration is a
	// vector-Jacobian product through the network.
	DefaultMMPSIterations = 5
)

// alphaBar returns ᾱ_i expanded against x.
func (s *Step) alphaBar(x *graph.Node) *graph.Node {
	return diffusion.Expand(s.Process.AlphaBar(s.I), x)
}

// TweedieScale returns (1−ᾱ_i)/√ᾱ_i at the step's index i, expanded
// against x (a scalar for a scalar index, [N,1,…,1] for a per-image one;
// it broadcasts against x): the
// factor of Cov[x0|x_t] = (1−ᾱ)/√ᾱ · ∂x̂0/∂x_t, and the shift of x̂0 that a
// likelihood score g gives through Tweedie's formula, x̂0 + (1−ᾱ)/√ᾱ · g.
func (s *Step) TweedieScale(x *graph.Node) *graph.Node {
	ab := s.alphaBar(x)
	return graph.Div(graph.OneMinus(ab), graph.Sqrt(ab))
}

// VJP returns (∂x0/∂x_t)ᵀ w, shaped like s.X: the vector-Jacobian product
// of an estimate x0 built from s.X (such as x̂0) with w, shaped like x0,
// which is not differentiated. With w = Aᵀ u, u solving
// (σ_y² I + A Σ Aᵀ) u = y − A x̂0, it is ∇_{x_t} log N(y; A x̂0, σ_y² I +
// A Σ Aᵀ) with Σ held fixed, the Gaussian-likelihood methods' gradient.
func (s *Step) VJP(x0, w *graph.Node) *graph.Node {
	inner := graph.ReduceAllSum(graph.Mul(x0, graph.StopGradient(w)))
	return graph.Gradient(inner, s.X)[0]
}

// GuidedPrior returns the prior step (as Prior does) from mv with x̂0
// replaced by x̂0 + delta, shaped like s.X: the DDPM draw around the
// posterior mean at x̂0 + delta with mv's variance, or DDIM from x̂0 +
// delta and the ε it implies. It is how the Gaussian-likelihood methods
// turn their shift of x̂0 into x_{t-1}.
func (s *Step) GuidedPrior(mv diffusion.MeanVariance, delta *graph.Node) *graph.Node {
	x0 := graph.Add(mv.PredXStart, delta)
	mv.PredXStart = x0
	mv.Mean = s.Process.PosteriorMean(x0, s.X, s.I)
	mv.Eps = s.Process.EpsFromPredXStart(s.X, s.I, x0)
	return s.Prior(mv)
}

// residual returns y − A(x0).
func (s *Step) residual(x0 *graph.Node) *graph.Node {
	return graph.Sub(s.Y, s.Op.Apply(x0))
}

// sigmaY2 returns σ_y² as a constant of x's dtype.
func (s *Step) sigmaY2(x *graph.Node) *graph.Node {
	return scalar(x, s.SigmaY*s.SigmaY)
}

// linearOperator returns the operator as an ops.Linear, or an error wrapping
// ErrOperator for the named method.
func linearOperator(method string, op ops.Operator) (ops.Linear, error) {
	if op == nil {
		return nil, noOperator(method)
	}
	lin, ok := op.(ops.Linear)
	if !ok {
		return nil, refuse(method, op,
			fmt.Sprintf("it needs a linear operator with an adjoint, which %s is not", op.Name()),
			"an ops.Linear")
	}
	return lin, nil
}

// mustLinear is linearOperator for graph building: it panics with the
// error, listing the methods that run on op as [CheckOperator] does,
// which graph execution returns.
func mustLinear(method string, op ops.Operator) ops.Linear {
	lin, err := linearOperator(method, op)
	if err != nil {
		panic(listRuns(err, op))
	}
	return lin
}

// imageDot returns Σ a⊙b over all but the batch axis, shaped [N,1,...,1].
func imageDot(a, b *graph.Node) *graph.Node {
	p := graph.Mul(a, b)
	if p.Rank() == 1 { // one value per image: each is its own product
		return p
	}
	axes := make([]int, p.Rank()-1)
	for k := range axes {
		axes[k] = k + 1
	}
	return graph.ReduceAndKeep(p, graph.ReduceSum, axes...)
}

// safeDiv returns num/den where den > 0 and 0 elsewhere (no NaN for 0/0);
// den may broadcast against num (a [N,1,...,1] per-image value).
func safeDiv(num, den *graph.Node) *graph.Node {
	pos := graph.GreaterThan(den, graph.ZerosLike(den))
	q := graph.Div(num, graph.Where(pos, den, graph.OnesLike(den)))
	if !q.Shape().Equal(pos.Shape()) {
		pos = graph.BroadcastToDims(pos, q.Shape().Dimensions...)
	}
	return graph.Where(pos, q, graph.ZerosLike(q))
}

// ConjugateGradient returns the solution u of M u = b for each batch
// element of b ([N,...], one system per image) after iters iterations of
// conjugate gradients from u = 0, with M (symmetric positive
// semi-definite, acting on each batch element separately) given by apply.
// The loop is unrolled in the graph, so its result can be differentiated
// (the Gaussian-likelihood methods hold it fixed instead). A direction of
// zero curvature (a converged or singular system) contributes nothing
// instead of NaN. The iterations are capped at twice the number of
// unknowns per image (see krylovIterations).
func ConjugateGradient(apply func(v *graph.Node) *graph.Node, b *graph.Node, iters int) *graph.Node {
	return conjugateGradient(apply, b, iters, 0)
}

// conjugateGradient is ConjugateGradient that, for breakdown > 0, also
// stops an image's solve at the first direction whose curvature
// pᵀMp/pᵀp is positive but below breakdown times the largest it has met.
// On a singular system with an inconsistent right-hand side (σ_y = 0 where
// x̂0 is clamped) that curvature is rounding noise, and stepping by its
// inverse overflows; a system with σ_y² I in it is never that singular,
// so the methods ask for the rule at σ_y = 0 only (solveBreakdown). A
// direction of curvature ≤ 0 (M need not be positive definite: MMPS's
// holds the network's Jacobian) is skipped, as without the rule.
func conjugateGradient(apply func(v *graph.Node) *graph.Node, b *graph.Node, iters int, breakdown float64) *graph.Node {
	iters = krylovIterations(b, iters)
	u := graph.ZerosLike(b)
	r, p := b, b
	rr := imageDot(r, r)
	var top, done *graph.Node // per image: the largest curvature met; whether the solve has stopped
	for range iters {
		ap := apply(p)
		pap := imageDot(p, ap)
		alpha := safeDiv(rr, pap)
		if breakdown > 0 {
			curv := safeDiv(pap, imageDot(p, p))
			if top == nil {
				top, done = curv, graph.ConvertDType(graph.ZerosLike(curv), dtypes.Bool)
			} else {
				top = graph.Max(top, curv)
				noise := graph.LogicalAnd(graph.GreaterThan(curv, graph.ZerosLike(curv)), graph.LessThan(curv, graph.MulScalar(top, breakdown)))
				done = graph.LogicalOr(done, noise)
			}
			alpha = graph.Where(done, graph.ZerosLike(alpha), alpha)
		}
		u = graph.Add(u, graph.Mul(alpha, p))
		r = graph.Sub(r, graph.Mul(alpha, ap))
		rrNext := imageDot(r, r)
		p = graph.Add(r, graph.Mul(safeDiv(rrNext, rr), p))
		rr = rrNext
	}
	return u
}

// cgBreakdown is the share of the largest curvature met below which
// conjugate gradients at σ_y = 0 takes a direction's curvature for
// rounding noise and stops (conjugateGradient).
const cgBreakdown = 1e-6

// solveBreakdown returns the breakdown rule conjugate gradients uses in
// this step: cgBreakdown at σ_y = 0, none otherwise.
func (s *Step) solveBreakdown() float64 {
	if s.SigmaY == 0 {
		return cgBreakdown
	}
	return 0
}

// gramDiagonal returns the diagonal of A diag(c) Aᵀ, shaped like A(c),
// when the operator says that matrix is diagonal ([ops.DiagonalGram]); ok
// is false otherwise.
func gramDiagonal(op ops.Operator, c *graph.Node) (d *graph.Node, ok bool) {
	g, ok := op.(ops.DiagonalGram)
	if !ok {
		return nil, false
	}
	return g.GramDiagonal(c)
}

// krylovIterations caps iters at twice the number of unknowns n per batch
// element of b ([N, ...]). A Krylov method (CG, GCR) reaches the exact
// solution of an n-dimensional system in n steps in exact arithmetic; in
// float32 a few more steps still reduce the residual (on one of the solver
// tests' systems n steps left a relative residual of 1.2e-4, 2n under
// 1e-4), and beyond 2n unrolled steps only cost: with a few measurements,
// as in the mixture benchmark, ten CG steps were most of a sampling step's
// time.
func krylovIterations(b *graph.Node, iters int) int {
	return krylovCap(b.Shape().Dimensions, iters)
}

// krylovCap is krylovIterations on the dimensions of b: iters capped at
// twice the elements of one batch item of dims ([N, ...]), never below
// one; iters itself for a scalar or an empty batch. MMPS's NetworkCost
// counts its products with it.
func krylovCap(dims []int, iters int) int {
	if len(dims) == 0 || dims[0] == 0 {
		return iters
	}
	return max(1, min(iters, 2*num.Prod(dims[1:])))
}

// solveDiagonalCovariance returns u = (σ_y² I + A diag(c) Aᵀ)⁻¹ r for a
// diagonal covariance c (shaped like x): in closed form where A diag(c) Aᵀ
// is diagonal ([gramDiagonal]), else by iters CG iterations of A and Aᵀ.
func (s *Step) solveDiagonalCovariance(op ops.Linear, c, r *graph.Node, iters int) *graph.Node {
	s2 := s.sigmaY2(r)
	if d, ok := gramDiagonal(op, c); ok {
		return safeDiv(r, graph.Add(d, s2))
	}
	apply := func(v *graph.Node) *graph.Node {
		return graph.Add(graph.Mul(s2, v), op.Apply(graph.Mul(c, op.Adjoint(v))))
	}
	return conjugateGradient(apply, r, iters, s.solveBreakdown())
}

// iterations returns n, or def when n ≤ 0.
func iterations(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}
