package guidance

import (
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// DDRMGrid exposes DDRM's time grid to the reference tests: per respaced
// index, the original timestep and the float32 ᾱ there and at the next
// grid point.
func DDRMGrid(p *diffusion.Process) (t, a, aNext []float32, err error) {
	g, err := newDDRMGrid(p)
	return g.t, g.a, g.aNext, err
}

// DiffPIRSchedule exposes DiffPIR's float32 arrays (the reference's
// names) and ρ for λ and σ_y of images ([-1,1] units).
func DiffPIRSchedule(p *diffusion.Process, lambda, sigmaY float64) (map[string][]float32, error) {
	g, err := newDiffPIRGrid(p)
	rhos := make([]float32, len(g.reduced))
	for t := range rhos {
		rhos[t] = g.rho(lambda, sigmaY/2, t)
	}
	return map[string][]float32{
		"betas": g.betas, "alphas_cumprod": g.abar, "sqrt_alphas_cumprod": g.sqrtAC,
		"sqrt_1m_alphas_cumprod": g.sqrt1m, "reduced_alpha_cumprod": g.reduced, "rhos": rhos,
	}, err
}

// DiffPIRRenoise builds DiffPIR's re-noising at respaced index i from x,
// a given guided x̂0 and the draws.
func DiffPIRRenoise(m DiffPIR, p *diffusion.Process, op ops.Operator, x, x0, n1, n2, i *graph.Node) *graph.Node {
	g, err := newDiffPIRGrid(p)
	if err != nil {
		panic(err)
	}
	m = m.params(op)
	return m.renoise(&Step{Process: p, Op: op, X: x, I: i}, g, x, x0, n1, n2)
}

// DiffPIRPredX0 builds DiffPIR's clipped x̂0 from x and ε at respaced index i.
func DiffPIRPredX0(p *diffusion.Process, x, eps, i *graph.Node) *graph.Node {
	g, err := newDiffPIRGrid(p)
	if err != nil {
		panic(err)
	}
	return g.predX0(x, eps, i, p.Config().ClipDenoised)
}

// DAPSGrid exposes DAPS's schedules by annealing stage n = 0…N−1: σ_n
// (with σ_N = 0 appended), the ODE grids and the Langevin step sizes.
func DAPSGrid(m DAPS, steps int, op ops.Operator) (sigma []float32, odeT [][]float32, lr []float64) {
	g := m.newGrid(steps, op)
	for n := range steps {
		i := steps - 1 - n
		sigma = append(sigma, g.sigma[i])
		odeT = append(odeT, g.odeT[i])
		lr = append(lr, g.lr[i])
	}
	return append(sigma, g.sigmaNext[0]), odeT, lr
}

// DAPSNoise exposes VPPrecond's network timestep for σ.
func DAPSNoise(sigma float32) float32 { return vpNoise(sigma) }

// DAPSDenoise builds D(x; σ) with the network timestep cNoise.
func DAPSDenoise(ctx *context.Context, net Network, x, sigma, cNoise *graph.Node) *graph.Node {
	return (&Step{Ctx: ctx, Net: net}).denoise(x, sigma, cNoise)
}

// DAPSODEStep builds one Euler step of DAPS's PF-ODE.
func DAPSODEStep(x, denoised, t, tNext *graph.Node) *graph.Node {
	return odeStep(x, denoised, t, tNext)
}

// DAPSLangevin builds one Langevin step from x given x_t, x̂0, σ, lr and
// the draw; it returns the next iterate and the data loss at x.
func DAPSLangevin(m DAPS, op ops.Operator, y, x, xt, x0hat, sigma, lr, eps *graph.Node) (next, loss *graph.Node) {
	sigma2 := graph.Square(sigma)
	prior := graph.Div(graph.Sub(x0hat, xt), sigma2)
	return m.langevinStep(&Step{Op: op, Y: y}, x, xt, prior, sigma2, lr, eps)
}
