package guidance

import (
	"fmt"
	"math"
	"slices"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// DAPS is decoupled annealing posterior sampling (Zhang et al., CVPR 2025)
// as its released code (sampler.py DAPS.sample, cores/) runs it, with the
// DDPM network inside EDM's VP preconditioning: D(x; σ) = x − σ
// ε(x/√(σ²+1), t(σ)), t(σ) a continuous timestep, 999·σ⁻¹_VP(σ) for the
// linear 1000-step schedule (see dapsTimesteps for others).
//
// The run anneals over σ_n = (σ_max^{1/7} + n/N (σ_min^{1/7} − σ_max^{1/7}))⁷,
// n = 0…N−1 (N the process's NumSteps; the grid's last point is replaced
// by 0), from x = σ_max z. Each annealing stage at σ = σ_n:
//
//  1. x̂0: the probability-flow ODE from σ down to σ_ode (0.01) on the same
//     polynomial grid with M points, Euler steps x ← x + (t_m − t_{m+1}) t_m
//     (D(x; t_m) − x)/t_m² (M network calls; no final denoising);
//  2. x0y: K Langevin steps on x0 from x̂0 with step size
//     lr_n = lr (1 + n/(N+1) (lr_min_ratio − 1)):
//     x ← x + lr (−∇‖A(x) − y‖²/τ² + (x̂0 − x)/σ²) + √(2 lr) ε_k
//     (the data force is the gradient of the squared norm, twice the
//     Gaussian likelihood's). An image with a NaN iterate has x0y = 0; the
//     reference tests the whole batch at once and zeroes every image's
//     x0y, here each image is tested alone, so the images of a batch do
//     not depend on each other. The run goes on from x0y = 0 without a
//     divergence error; the step's Extra "nan_reset" ([N]: 1 for an image
//     reset so, 0 for the others) tells which images were;
//  3. x ← x0y + σ_{n+1} z.
//
// Cost per stage: M network forwards and K vector-Jacobian products
// through A (none through the network); the defaults (M = 5, K = 100) make
// 5 forwards and 100 operator VJPs per annealing step.
type DAPS struct {
	// SigmaMax and SigmaMin bound the annealing (100 and 0.1).
	SigmaMax, SigmaMin float64
	// ODESteps is M (5); ODESigmaMin is where the ODE stops (0.01).
	ODESteps    int
	ODESigmaMin float64
	// LangevinSteps is K (100).
	LangevinSteps int
	// LR is the Langevin step size (0: the task's released value, see
	// DAPS.lr); LRMinRatio its decay (0.01).
	LR, LRMinRatio float64
	// Tau is the likelihood's standard deviation τ (0.01).
	Tau float64
}

// DefaultDAPS returns DAPS with the released configuration
// (configs/sampler/edm_daps.yaml and the pixel-space task configs).
func DefaultDAPS() DAPS {
	return DAPS{SigmaMax: 100, SigmaMin: 0.1, ODESteps: 5, ODESigmaMin: 0.01, LangevinSteps: 100, LRMinRatio: 0.01, Tau: 0.01}
}

// Name implements Method.
func (DAPS) Name() string { return "daps" }

// Revision implements Revisioner:
//
//  1. the network timestep of a noise level follows the process's own
//     schedule when it is not the linear 1000-step one (it was VPPrecond's
//     map for every schedule), and the default step size of motion blur and
//     phase retrieval is their released configs' 5e-5 (it was 1e-4).
func (DAPS) Revision() int { return 1 }

// CheckProcess implements ProcessChecker: the network must predict ε.
func (DAPS) CheckProcess(p *diffusion.Process) error { return epsilonNetwork("daps", p) }

// SpecKeys implements SpecReader.
func (DAPS) SpecKeys() []string {
	return []string{"sigma_max", "sigma_min", "ode_steps", "ode_sigma_min", "langevin_steps", "lr", "lr_min_ratio", "tau"}
}

// WithOption implements SpecReader: sigma_max, sigma_min, ode_sigma_min,
// tau and lr positive, lr_min_ratio non-negative, ode_steps (≤ 1000) and
// langevin_steps (≤ 10000) positive integers.
func (m DAPS) WithOption(k, v string) (Method, error) {
	var x float64
	var err error
	switch k {
	case "sigma_max":
		m.SigmaMax, err = positiveRule().parse(v)
	case "sigma_min":
		m.SigmaMin, err = positiveRule().parse(v)
	case "ode_sigma_min":
		m.ODESigmaMin, err = positiveRule().parse(v)
	case "tau":
		m.Tau, err = positiveRule().parse(v)
	case "lr":
		m.LR, err = positiveRule().parse(v)
	case "lr_min_ratio":
		m.LRMinRatio, err = nonNegativeRule().parse(v)
	case "ode_steps":
		x, err = countRule(1000).parse(v)
		m.ODESteps = int(x)
	case "langevin_steps":
		x, err = countRule(10000).parse(v)
		m.LangevinSteps = int(x)
	}
	return m, err
}

// DefaultScale implements Scaler: DAPS has no step size ζ.
func (DAPS) DefaultScale(ops.Kind) float64 { return 1 }

// Draws implements Drawer: the K Langevin draws, then the forward
// diffusion's, all shaped like x.
func (m DAPS) Draws(x, _ []int) [][]int {
	d := make([][]int, m.LangevinSteps+1)
	for k := range d {
		d[k] = x
	}
	return d
}

// Validate reports a configuration DAPS cannot run: every number must be
// finite (an infinite σ_max or lr makes every sample NaN or zero), σ_max >
// σ_min > 0, ode_sigma_min and τ positive, lr and lr_min_ratio not
// negative (lr 0: the task's), and there must be at least one ODE and one
// Langevin step.
func (m DAPS) Validate() error {
	for _, p := range []struct {
		key   string
		value float64
	}{{"sigma_max", m.SigmaMax}, {"sigma_min", m.SigmaMin}, {"ode_sigma_min", m.ODESigmaMin},
		{"tau", m.Tau}, {"lr", m.LR}, {"lr_min_ratio", m.LRMinRatio}} {
		if math.IsNaN(p.value) || math.IsInf(p.value, 0) {
			return fmt.Errorf("daps: %s = %v, want a finite number", p.key, p.value)
		}
	}
	switch {
	case !(m.SigmaMax > m.SigmaMin) || !(m.SigmaMin > 0):
		return fmt.Errorf("daps: want sigma_max > sigma_min > 0, got %v and %v", m.SigmaMax, m.SigmaMin)
	case m.ODESteps < 1 || m.LangevinSteps < 1:
		return fmt.Errorf("daps: want at least one ODE and one Langevin step, got %d and %d", m.ODESteps, m.LangevinSteps)
	case !(m.ODESigmaMin > 0) || !(m.Tau > 0) || m.LR < 0 || m.LRMinRatio < 0:
		return fmt.Errorf("daps: want ode_sigma_min and tau positive and lr and lr_min_ratio non-negative, got %v, %v, %v and %v",
			m.ODESigmaMin, m.Tau, m.LR, m.LRMinRatio)
	}
	return nil
}

// lr returns the step size for op's task when LR is unset: that of the
// released pixel-space task configs, 5e-5 for box inpainting, motion blur
// and phase retrieval, 1e-4 for super-resolution and Gaussian blur. Random
// inpainting's config has 1e-4, but an inpainting operator does not say how
// its mask was drawn: every mask gets box inpainting's 5e-5 (pass lr=1e-4
// for random masks). Motion blur is told from Gaussian blur by the
// operator's answer (ops.MotionReporter), as both are of kind ops.KindBlur. The released phase-retrieval config
// measures |F pad(x/2 + ½)|, the image in [0,1] units, where the toolkit's
// phase retrieval (DPS's) measures |F pad(x)| of the [−1,1] image: its 5e-5
// (and τ = 0.01) were tuned for that other measurement.
func (m DAPS) lr(op ops.Operator) float64 {
	if m.LR > 0 {
		return m.LR
	}
	switch ops.KindOf(op) {
	case ops.KindInpainting, ops.KindPhaseRetrieval:
		return 5e-5
	}
	if m, ok := op.(ops.MotionReporter); ok && m.MotionBlur() {
		return 5e-5
	}
	return 1e-4
}

// dapsGrid holds DAPS's schedules per respaced index i (annealing stage n
// = N−1−i): σ_n, σ_{n+1}, the ODE grid t_0…t_M and lr_n.
type dapsGrid struct {
	sigma, sigmaNext []float32
	odeT             [][]float32 // [i][m]
	lr               []float64
}

// poly7 returns the EDM scheduler's grid (a^{1/7} + r_j (b^{1/7} − a^{1/7}))⁷
// at r_j = j/n (np.linspace), j = 0…n, in float64.
func poly7(a, b float64, n int) []float64 {
	out := make([]float64, n+1)
	step := 1 / float64(n)
	for j := range out {
		r := float64(j) * step
		if j == n {
			r = 1
		}
		out[j] = math.Pow(math.Pow(a, 1.0/7)+r*(math.Pow(b, 1.0/7)-math.Pow(a, 1.0/7)), 7)
	}
	return out
}

// odeGrid is poly7 from the float32 σ down to lo as the reference
// computes it with σ a float32 tensor: every operation rounded to float32.
func odeGrid(sigma float32, lo float64, n int) []float32 {
	pow := func(a, b float32) float32 { return float32(math.Pow(float64(a), float64(b))) }
	seventh := float32(1.0 / 7)
	hi := pow(sigma, seventh)
	span := float32(math.Pow(lo, 1.0/7)) - hi
	out := make([]float32, n+1)
	step := 1 / float64(n)
	for j := range out {
		r := float64(j) * step
		if j == n {
			r = 1
		}
		out[j] = pow(hi+float32(r)*span, 7)
	}
	return out
}

// newGrid builds the schedules for N annealing stages and op's task.
func (m DAPS) newGrid(steps int, op ops.Operator) dapsGrid {
	t := poly7(m.SigmaMax, m.SigmaMin, steps)
	anneal := make([]float32, steps+1)
	for n := range steps {
		anneal[n] = float32(t[n]) // the last point (σ_min) is replaced by 0
	}
	g := dapsGrid{sigma: make([]float32, steps), sigmaNext: make([]float32, steps), odeT: make([][]float32, steps), lr: make([]float64, steps)}
	lr := m.lr(op)
	for n := range steps {
		i := steps - 1 - n
		g.sigma[i], g.sigmaNext[i] = anneal[n], anneal[n+1]
		g.odeT[i] = odeGrid(anneal[n], m.ODESigmaMin, m.ODESteps)
		ratio := float64(n) / float64(steps+1)
		g.lr[i] = (1 + ratio*(m.LRMinRatio-1)) * lr
	}
	return g
}

// column returns the values v[i][j] over i.
func column(v [][]float32, j int) []float32 {
	out := make([]float32, len(v))
	for i := range v {
		out[i] = v[i][j]
	}
	return out
}

// vpNoise returns VPPrecond's network timestep 999·σ⁻¹(σ), σ⁻¹(σ) =
// (√(β_min² + 2β_d log(1+σ²)) − β_min)/β_d with β_d 19.9, β_min 0.1, in
// float32 steps.
func vpNoise(sigma float32) float32 {
	const betaD, betaMin = float32(19.9), float32(0.1)
	l := float32(math.Log(float64(1 + sigma*sigma)))
	inv := (float32(math.Sqrt(float64(betaMin*betaMin+2*betaD*l))) - betaMin) / betaD
	return 999 * inv
}

// dapsTimesteps returns the map from a noise level σ (in x/√ᾱ units) to
// the timestep the network of process p receives. For guided-diffusion's
// linear schedule over 1000 steps (named, or its β given as they are) it
// is the reference's VPPrecond map (vpNoise), the continuous form of that
// schedule. For any other schedule it inverts the schedule's own σ_k =
// √((1−ᾱ_k)/ᾱ_k), k = 0 … T−1, by linear interpolation between
// neighbouring k (σ beyond the ends gives the end's k). Either passes
// through p.NetworkTimestep.
func dapsTimesteps(p *diffusion.Process) (func(sigma float32) float32, error) {
	betas := p.Betas()
	linear, err := diffusion.BetaSchedule(diffusion.ScheduleLinear, 1000)
	if err != nil {
		return nil, fmt.Errorf("daps: %w", err)
	}
	if slices.Equal(betas, linear) {
		return func(sigma float32) float32 { return float32(p.NetworkTimestep(float64(vpNoise(sigma)))) }, nil
	}
	sigmas := make([]float64, len(betas))
	abar := 1.0
	for k, b := range betas {
		abar *= 1 - b
		sigmas[k] = math.Sqrt((1 - abar) / abar)
	}
	return func(sigma float32) float32 {
		s := float64(sigma)
		k, _ := slices.BinarySearch(sigmas, s) // sigmas[k-1] < s ≤ sigmas[k]
		var t float64
		switch {
		case k == 0:
		case k == len(sigmas):
			t = float64(len(sigmas) - 1)
		default:
			t = float64(k-1) + (s-sigmas[k-1])/(sigmas[k]-sigmas[k-1])
		}
		return float32(p.NetworkTimestep(t))
	}, nil
}

// denoise returns D(x; σ) for the scalar node σ and its network timestep.
func (s *Step) denoise(x, sigma, cNoise *graph.Node) *graph.Node {
	cIn := graph.Reciprocal(graph.Sqrt(graph.AddScalar(graph.Square(sigma), 1)))
	n := x.Shape().Dim(0)
	eps := s.Eps(graph.Mul(cIn, x), graph.BroadcastToDims(cNoise, n))
	return graph.Add(x, graph.Mul(graph.Neg(sigma), eps))
}

// odeStep is one Euler step of the PF-ODE from t to tNext given D(x; t).
func odeStep(x, denoised, t, tNext *graph.Node) *graph.Node {
	score := graph.Div(graph.Sub(denoised, x), graph.Square(t))
	return graph.Add(x, graph.Mul(graph.Sub(t, tNext), graph.Mul(t, score)))
}

// langevinStep is one Langevin step on x0 from x with the draw eps; it
// returns the next iterate and ‖A(x) − y‖² per image, [N] (the loss).
func (m DAPS) langevinStep(s *Step, x, xt, prior, sigma2, lr, eps *graph.Node) (next, loss *graph.Node) {
	r2 := graph.Square(graph.Sub(s.Op.Apply(x), s.Y))
	grad := graph.Gradient(graph.ReduceAllSum(r2), x)[0]
	// The reported loss is summed in float64: a float32 running sum of
	// large squares drifts by up to n·2⁻²⁴ relative.
	loss = graph.ConvertDType(sumPerImage(graph.ConvertDType(r2, dtypes.Float64)), x.DType())
	data := graph.MulScalar(grad, -float64(float32(1/(m.Tau*m.Tau))))
	score := graph.Add(graph.Add(data, graph.Div(graph.Sub(xt, x), sigma2)), prior)
	noise := graph.Mul(graph.Sqrt(graph.MulScalar(lr, 2)), eps)
	return graph.Add(graph.Add(x, graph.Mul(lr, score)), noise), loss
}

// Step implements Method: one annealing stage.
func (m DAPS) Step(s *Step) Result {
	if err := m.Validate(); err != nil {
		panic(err)
	}
	g := m.newGrid(s.Process.NumSteps(), s.Op)
	timestep, err := dapsTimesteps(s.Process)
	if err != nil {
		panic(err)
	}
	xt := s.X
	sigma := lookup32(xt, s.I, g.sigma)
	x := xt
	for j := range m.ODESteps {
		t := lookup32(xt, s.I, column(g.odeT, j))
		tNext := lookup32(xt, s.I, column(g.odeT, j+1))
		cNoise := make([]float32, len(g.sigma))
		for i := range cNoise {
			cNoise[i] = timestep(g.odeT[i][j])
		}
		x = odeStep(x, s.denoise(x, t, lookup32(xt, s.I, cNoise)), t, tNext)
	}
	x0hat := x
	sigma2 := graph.Square(sigma)
	prior := graph.Div(graph.Sub(x0hat, xt), sigma2)
	lrs := make([]float32, len(g.lr))
	for i, v := range g.lr {
		lrs[i] = float32(v)
	}
	lr := lookup32(xt, s.I, lrs)
	var loss *graph.Node
	for k := range m.LangevinSteps {
		x, loss = m.langevinStep(s, x, xt, prior, sigma2, lr, s.Draws[k])
	}
	// An image's x0y is zeroed if any of its iterates holds a NaN. A NaN
	// element stays NaN in every later iterate (each adds to x), so
	// checking the last iterate is the same test.
	nan := nanPerImage(x)
	x0y := where(nan, graph.ZerosLike(x), x)
	reset := graph.ConvertDType(graph.Reshape(nan, x.Shape().Dim(0)), x.DType())
	next := graph.Add(x0y, graph.Mul(lookup32(xt, s.I, g.sigmaNext), s.Draws[m.LangevinSteps]))
	return Result{Next: next, PredXStart: x0hat, Residual: s.ResidualNorm(x0hat),
		Extra: map[string]*graph.Node{"x0y": x0y, "loss": loss, "nan_reset": reset}}
}

// nanPerImage returns, for the [N,…] node x, an [N,1,…,1] boolean node
// that holds for the images with a NaN element.
func nanPerImage(x *graph.Node) *graph.Node {
	axes := make([]int, x.Rank()-1)
	dims := make([]int, x.Rank())
	for k := range axes {
		axes[k] = k + 1
	}
	for k := range dims {
		dims[k] = 1
	}
	dims[0] = x.Shape().Dim(0)
	return graph.Reshape(graph.ReduceLogicalOr(graph.IsNaN(x), axes...), dims...)
}

// Start implements Starter: x_T = σ_max z.
func (m DAPS) Start(s *Step) *graph.Node { return graph.MulScalar(s.X, float64(float32(m.SigmaMax))) }
