package guidance

import (
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// DDRMGrid exposes DDRM's time grid to the reference tests: per respaced
// index, the original timestep and the float32 ᾱ there and at the next
// grid point.
func DDRMGrid(p *diffusion.Process) (t, a, aNext []float32, err error) {
	g, err := newDDRMGrid(p)
	return g.t, g.a, g.aNext, err
}

// DiffPIRSchedule exposes DiffPIR's float32 arrays (the reference's
// names) and ρ for λ and σ_y.
func DiffPIRSchedule(p *diffusion.Process, lambda, sigmaY float64) (map[string][]float32, error) {
	g, err := newDiffPIRGrid(p)
	rhos := make([]float32, len(g.reduced))
	for t := range rhos {
		rhos[t] = g.rho(lambda, sigmaY, t)
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
	return g.predX0(x, eps, i)
}
