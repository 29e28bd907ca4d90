package guidance

import (
	"fmt"
	"math"
	"slices"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/internal/num"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// DiffPIR is denoising diffusion models for plug-and-play image
// restoration (Zhu et al., CVPR-W 2023) as its released main_ddpir.py runs
// it. Each step at original timestep t (next t'), with ρ_t = λσ²ᾱ_t/(1−ᾱ_t)
// and σ the measurement noise in [0,1] units (σ_y/2, at least 0.001):
//
//	x̂0 = clamp((x − √(1−ᾱ_t) ε)/√ᾱ_t, −1, 1)
//	x̂0 ← x̂0 + g (prox_{A,ρ_t}(x̂0) − x̂0)        (the data step)
//	ε̂ = (x − √ᾱ_t x̂0)/√(1−ᾱ_t)
//	x' = √ᾱ_{t'} x̂0 + √(1−ζ)(√(1−ᾱ_{t'} − σ_η²) ε̂ + σ_η n₁) + √ζ √(1−ᾱ_{t'}) n₂
//
// with σ_η = η √(1−ᾱ_{t'})/√(1−ᾱ_t) √β_t (x̂0 clamped when the process
// clips its denoised estimate, as guided-diffusion's clip_denoised), on the
// quadratic grid t_k = T−1−⌊√(k/(K−1))·T⌋ (the last point T−1 → 0). The
// last step evaluates the network and keeps x. The data step is the
// operator's closed form (ops.Proximal) prox_{A,ρ}(z) = argmin_x ‖y − A x‖²
// + ρ‖x − z‖²: masking for inpainting, the Fourier solution for
// super-resolution and blur. The released code solves it in [0,1] units,
// with x/2 + ½ for x and A(x/2 + ½) = (y + A(1))/2 for y; both terms are
// then a quarter of their [−1,1] values, so it is the same problem, solved
// here in the images' own units, for any linear A.
//
// The run starts from x_T = √ᾱ_{T−1}(2x_up − 1) + √(1−ᾱ_{T−1}) z, x_up the
// measurement in [0,1] units, (y + A(1))/2, bicubically upsampled when it
// is an image smaller than x (for inpainting the measurement is masked
// first, so the missing pixels are 0 whatever noise y holds there, as the
// released code's x = y·mask). When y is not an image with
// x's batch and channels (a vector [N,m], or the measurement of an
// operator that says it measures no image, ops.MeasuresImage), 2x_up − 1
// is A⁺y instead (vectorStart: an ops.SVDOperator's through its SVD, with
// the singular values below DDRMZero times the largest left out). ᾱ is the
// reference's float32-accumulated product, x̂0 uses guided-diffusion's
// float64 one.
//
// On data other than images (the exact-posterior benchmark's vectors)
// there are no [0,1] units: σ = σ_y, and the start's x_up is y itself when
// it has x's shape, else A⁺y.
//
// The zero value is not the released method: ζ = 0 (the task's default
// needs a negative Zeta) and g = 0, which leaves x̂0 as the network
// predicts it and so ignores y but for the start. New("diffpir", …) and
// ParseSpec("diffpir", …) give DiffPIR{Zeta: −1, Guidance: 1}.
//
// Cost per step: one network forward, no vector-Jacobian product, one
// proximal step of A.
type DiffPIR struct {
	// Lambda is λ (0: the task's default, see diffpirDefaults).
	Lambda float64
	// Zeta is ζ, the share of fresh noise in the re-noising (negative: the
	// task's default; 0, the zero value, re-noises with ε̂ alone).
	Zeta float64
	// Eta is η ∈ [0, 1], the DDIM-like stochasticity of the re-noising (0
	// in the released configs): its fresh noise has σ_η = η √(1−ᾱ_{t'})
	// √β_t / √(1−ᾱ_t), which η ≤ 1 keeps within √(1−ᾱ_{t'}) since
	// β_t ≤ 1−ᾱ_t.
	Eta float64
	// Guidance is g ≥ 0, the weight of the data step: 1 in the released
	// method; 0, the zero value, skips the data step.
	Guidance float64
}

// Name implements Method.
func (DiffPIR) Name() string { return "diffpir" }

// CheckProcess implements ProcessChecker: the network must predict ε.
func (DiffPIR) CheckProcess(p *diffusion.Process) error { return epsilonNetwork("diffpir", p) }

// Revision implements Revisioner:
//
//  1. the data step and the start read y as A(x/2 + ½) = (y + A(1))/2 in
//     [0,1] units, which was (y + 1)/2: for inpainting the start's missing
//     pixels are 0 in [0,1] units (−1 in the image's), as in the released
//     code, where they were ½; results move for operators with A(1) ≠ 1,
//     and a measurement that is not an image ([N,m]) starts from A⁺y.
//  2. for inpainting the start masks the measurement, noise included, as
//     the released code's x = y·mask: the missing pixels start at −1
//     where they carried y's noise there. On the shipped prior's first 20
//     test images with inpaint_box:size=12 and 50 steps every PSNR and
//     SSIM is unchanged to its eighth digit, and half the residuals move
//     in theirs (docs/results.md has the command).
func (DiffPIR) Revision() int { return 2 }

// SpecKeys implements SpecReader.
func (DiffPIR) SpecKeys() []string { return []string{"lambda", "zeta", "eta", "guidance"} }

// WithOption implements SpecReader: lambda > 0, zeta and eta in [0, 1],
// guidance ≥ 0.
func (m DiffPIR) WithOption(k, v string) (Method, error) {
	var err error
	switch k {
	case "lambda":
		m.Lambda, err = positiveRule().parse(v)
	case "zeta":
		m.Zeta, err = unitRule().parse(v)
	case "eta":
		m.Eta, err = unitRule().parse(v)
	case "guidance":
		m.Guidance, err = nonNegativeRule().parse(v)
	}
	return m, err
}

// Validate implements Validator: λ finite and not negative (0: the
// task's), ζ at most 1 (negative: the task's), η in [0, 1] and g finite
// and not negative. Outside these the re-noising takes the root of a
// negative number or the data step divides infinities, and every sample
// is NaN.
func (m DiffPIR) Validate() error {
	switch {
	case !(m.Lambda >= 0) || math.IsInf(m.Lambda, 1):
		return fmt.Errorf("diffpir: lambda = %v, want a finite value of at least 0 (0: the task's default)", m.Lambda)
	case !(m.Zeta <= 1):
		return fmt.Errorf("diffpir: zeta = %v, want a value in [0, 1] (negative: the task's default)", m.Zeta)
	case !(m.Eta >= 0 && m.Eta <= 1):
		return fmt.Errorf("diffpir: eta = %v, want a value in [0, 1]", m.Eta)
	case !(m.Guidance >= 0) || math.IsInf(m.Guidance, 1):
		return fmt.Errorf("diffpir: guidance = %v, want a finite value of at least 0", m.Guidance)
	}
	return nil
}

// DefaultScale implements Scaler: DiffPIR has no step size ζ of DPS's kind.
func (DiffPIR) DefaultScale(ops.Kind) float64 { return 1 }

// CheckOperator implements OperatorChecker: the data step needs the
// operator's closed-form proximal step.
func (DiffPIR) CheckOperator(op ops.Operator) error {
	if op == nil {
		return noOperator("diffpir")
	}
	if !ops.HasProx(op) {
		return refuse("diffpir", op,
			fmt.Sprintf("its data step needs the operator's closed-form proximal step, which %s lacks", op.Name()),
			"an ops.Proximal, as ops.NewSVDOperator builds from an SVD")
	}
	return nil
}

// Draws implements Drawer: n₁ and n₂, both shaped like x.
func (DiffPIR) Draws(x, _ []int) [][]int { return [][]int{x, x} }

// diffpirDefaults returns λ and ζ of the released configs for an operator
// of kind k: inpainting λ 1, ζ 1; blurs λ 7, ζ 0.3 (the driver's 7λ and 3ζ
// over deblur.yaml); super-resolution and the rest λ 2 (the first value of
// the driver's sweep), ζ 0.25.
func diffpirDefaults(k ops.Kind) (lambda, zeta float64) {
	switch k {
	case ops.KindInpainting:
		return 1, 1
	case ops.KindBlur:
		return 7, 0.3
	}
	return 2, 0.25
}

// params returns the method's hyper-parameters for op, defaults filled in.
func (m DiffPIR) params(op ops.Operator) DiffPIR {
	lambda, zeta := diffpirDefaults(ops.KindOf(op))
	if m.Lambda == 0 {
		m.Lambda = lambda
	}
	if m.Zeta < 0 {
		m.Zeta = zeta
	}
	return m
}

// diffpirGrid is DiffPIR's schedule over a process: its float32 arrays
// over all T timesteps, guided-diffusion's float64 ones for x̂0, and the
// timestep of each respaced index.
type diffpirGrid struct {
	betas, abar, sqrtAC, sqrt1m []float32
	reduced                     []float32
	recip, recipm1              []float32 // float32(√(1/ᾱ)), float32(√(1/ᾱ − 1)) from float64 ᾱ
	t                           []int     // t[i] for respaced index i
}

// newDiffPIRGrid builds the grid of process p.
func newDiffPIRGrid(p *diffusion.Process) (diffpirGrid, error) {
	b64 := p.Betas()
	n := len(b64)
	g := diffpirGrid{betas: make([]float32, n), abar: make([]float32, n), sqrtAC: make([]float32, n), sqrt1m: make([]float32, n),
		reduced: make([]float32, n), recip: make([]float32, n), recipm1: make([]float32, n)}
	acc32 := float32(1)
	acc64 := 1.0
	for k, b := range b64 {
		g.betas[k] = float32(b)
		acc32 *= 1 - g.betas[k] // numpy's float32-accumulated cumprod
		g.abar[k] = acc32
		g.sqrtAC[k] = sqrt32(acc32)
		g.sqrt1m[k] = sqrt32(1 - acc32)
		g.reduced[k] = g.sqrt1m[k] / g.sqrtAC[k]
		acc64 *= 1 - b
		g.recip[k] = float32(math.Sqrt(1 / acc64))
		g.recipm1[k] = float32(math.Sqrt(1/acc64 - 1))
	}
	steps := p.NumSteps()
	if steps < 2 || steps > n {
		return diffpirGrid{}, fmt.Errorf("diffpir: %d steps, want 2 to %d", steps, n)
	}
	// skip_type quad: seq = int(√(linspace(0, T², K))), seq[-1] −= 1; step k
	// runs at T−1−seq[k]; respaced index i = K−1−k.
	g.t = make([]int, steps)
	step := float64(n) * float64(n) / float64(steps-1) // np.linspace's step
	for k := range steps {
		s := int(math.Sqrt(float64(k) * step))
		if k == steps-1 {
			s = n - 1
		}
		g.t[steps-1-k] = n - 1 - s
	}
	return g, nil
}

// DiffPIRTimesteps returns the original timestep of each step of DiffPIR
// over process p, in the order the steps run.
func DiffPIRTimesteps(p *diffusion.Process) ([]int, error) {
	g, err := newDiffPIRGrid(p)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(g.t))
	for k := range out {
		out[k] = g.t[len(g.t)-1-k]
	}
	return out, nil
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// rho returns ρ_t = λσ²/reduced_t² (float32, as the reference) for the
// noise level σ (at least 0.001).
func (g diffpirGrid) rho(lambda, sigma float64, t int) float32 {
	sigma = max(0.001, sigma)
	r := g.reduced[t]
	return float32(lambda*sigma*sigma) / (r * r)
}

// table returns v[t[i]] over the respaced indices i, shifted by off grid
// points (off = −1: the next step's timestep; 0 past the last).
func (g diffpirGrid) table(v []float32, off int) []float32 {
	out := make([]float32, len(g.t))
	for i := range g.t {
		j := i + off
		if j >= 0 && j < len(g.t) {
			out[i] = v[g.t[j]]
		}
	}
	return out
}

// Step implements Method.
func (m DiffPIR) Step(s *Step) Result {
	g, err := newDiffPIRGrid(s.Process)
	if err != nil {
		panic(err)
	}
	m = m.params(s.Op)
	x, n := s.X, s.X.Shape().Dim(0)
	ts := make([]float32, len(g.t))
	taus := make([]float32, len(g.t))
	sigma := s.SigmaY
	if images(x) {
		sigma /= 2 // the released code's [0,1] units
	}
	for i, t := range g.t {
		ts[i] = float32(s.Process.NetworkTimestep(float64(t)))
		taus[i] = g.rho(m.Lambda, sigma, t)
	}
	eps := s.Eps(x, graph.BroadcastToDims(lookup32(x, s.I, ts), n))
	x0 := g.predX0(x, eps, s.I, s.Process.Config().ClipDenoised)
	x0d := m.dataStep(s, x0, lookup32(x, s.I, taus))
	next := m.renoise(s, g, x, x0d, s.Draws[0], s.Draws[1])
	next = diffusion.WhereFirst(s.I, x, next) // the last step keeps x
	return Result{Next: next, PredXStart: x0, Residual: s.ResidualNorm(x0),
		Extra: map[string]*graph.Node{"x0_data": x0d, "eps": eps}}
}

// predX0 returns guided-diffusion's x̂0 from x and ε at respaced index i,
// clipped to [−1, 1] when clip is set.
func (g diffpirGrid) predX0(x, eps, i *graph.Node, clip bool) *graph.Node {
	x0 := graph.Sub(graph.Mul(lookup32(x, i, g.table(g.recip, 0)), x), graph.Mul(lookup32(x, i, g.table(g.recipm1, 0)), eps))
	if !clip {
		return x0
	}
	return graph.Clip(x0, scalar(x, -1), scalar(x, 1))
}

// images reports whether x holds NCHW images (as opposed to vectors).
func images(x *graph.Node) bool { return x.Rank() == 4 }

// dataStep returns x̂0 moved towards the data by g times the proximal step
// at τ, in x's own units (the released code's [0,1] problem is the same
// one, see DiffPIR). It panics with [CheckOperator]'s refusal when DiffPIR
// refuses the operator.
func (m DiffPIR) dataStep(s *Step, x0, tau *graph.Node) *graph.Node {
	if err := listRuns(DiffPIR{}.CheckOperator(s.Op), s.Op); err != nil {
		panic(err)
	}
	p := s.Op.(ops.Proximal).Prox(x0, s.Y, tau)
	return graph.Add(x0, graph.MulScalar(graph.Sub(p, x0), m.Guidance))
}

// renoise returns DiffPIR's x_{t'} from x_t, the guided x̂0 and the draws.
func (m DiffPIR) renoise(s *Step, g diffpirGrid, x, x0, n1, n2 *graph.Node) *graph.Node {
	sa, s1 := lookup32(x, s.I, g.table(g.sqrtAC, 0)), lookup32(x, s.I, g.table(g.sqrt1m, 0))
	saN, s1N := lookup32(x, s.I, g.table(g.sqrtAC, -1)), lookup32(x, s.I, g.table(g.sqrt1m, -1))
	beta := lookup32(x, s.I, g.table(g.betas, 0))
	e := graph.Div(graph.Sub(x, graph.Mul(sa, x0)), s1)
	es := graph.Mul(graph.Div(graph.MulScalar(s1N, m.Eta), s1), graph.Sqrt(beta))
	inner := graph.Add(graph.Mul(graph.Sqrt(graph.Sub(graph.Square(s1N), graph.Square(es))), e), graph.Mul(es, n1))
	out := graph.Add(graph.Mul(saN, x0), graph.MulScalar(inner, float64(float32(math.Sqrt(1-m.Zeta)))))
	return graph.Add(out, graph.Mul(graph.MulScalar(s1N, float64(float32(math.Sqrt(m.Zeta)))), n2))
}

// Start implements Starter: x_T = √ᾱ_{T−1}(2x_up − 1) + √(1−ᾱ_{T−1}) z.
func (m DiffPIR) Start(s *Step) *graph.Node {
	g, err := newDiffPIRGrid(s.Process)
	if err != nil {
		panic(err)
	}
	z := s.X
	t := len(g.sqrtAC) - 1
	var x *graph.Node
	if images(z) && imageMeasurement(s.Op, s.Y, z) {
		// x_up = (y + A(1))/2 in [0,1] units, so 2x_up − 1 = y + A(1) − 1.
		// For inpainting the released code masks its measurement, noise
		// included (x = y·mask): with a 0/1 mask, A(y) + A(1) − 1.
		y := s.Y
		if ops.KindOf(s.Op) == ops.KindInpainting && s.Y.Shape().Equal(z.Shape()) {
			y = s.Op.Apply(y)
		}
		x = graph.AddScalar(graph.Add(y, s.Op.Apply(graph.OnesLike(z))), -1)
		if dy, dx := s.Y.Shape().Dimensions, z.Shape().Dimensions; dy[2] != dx[2] || dy[3] != dx[3] {
			up := graph.AddScalar(graph.MulScalar(x, 0.5), 0.5)
			x = graph.AddScalar(graph.MulScalar(bicubicUpsample(up, dx[2], dx[3]), 2), -1)
		}
	} else {
		x = vectorStart(s.Op, s.Y, z)
	}
	x = graph.MulScalar(x, float64(g.sqrtAC[t]))
	return graph.Add(x, graph.MulScalar(z, float64(g.sqrt1m[t])))
}

// imageMeasurement reports whether y, op's measurement of the NCHW images
// x, is itself an image of theirs: NCHW with x's batch and channels, from
// an operator that measures pixel values (ops.MeasuresImage).
func imageMeasurement(op ops.Operator, y, x *graph.Node) bool {
	dy, dx := y.Shape().Dimensions, x.Shape().Dimensions
	return len(dy) == 4 && dy[0] == dx[0] && dy[1] == dx[1] && ops.MeasuresImage(op)
}

// bicubicUpsample resizes the [N,C,h,w] x to [N,C,H,W] as torch's
// F.interpolate(mode='bicubic', align_corners=False): cubic convolution
// with a = −0.75, source index (dst + ½)·h/H − ½, borders clamped.
func bicubicUpsample(x *graph.Node, outH, outW int) *graph.Node {
	d := x.Shape().Dimensions
	mh := graph.Const(x.Graph(), bicubicMatrix(d[2], outH))
	mw := graph.Const(x.Graph(), bicubicMatrix(d[3], outW))
	mh = graph.ConvertDType(graph.Reshape(mh, outH, d[2]), x.DType())
	mw = graph.ConvertDType(graph.Reshape(mw, outW, d[3]), x.DType())
	t := graph.Einsum("hm,ncmw->nchw", mh, x)
	return graph.Einsum("ncmw,vw->ncmv", t, mw)
}

// bicubicMatrix returns torch's bicubic interpolation from in to out
// samples as an out×in row-major matrix.
func bicubicMatrix(in, out int) []float32 {
	const a = -0.75
	conv1 := func(x float64) float64 { return ((a+2)*x-(a+3))*x*x + 1 }
	conv2 := func(x float64) float64 { return ((a*x-5*a)*x+8*a)*x - 4*a }
	m := make([]float32, out*in)
	scale := float64(in) / float64(out)
	for o := range out {
		src := scale*(float64(o)+0.5) - 0.5
		i0 := math.Floor(src)
		t := src - i0
		w := [4]float64{conv2(t + 1), conv1(t), conv1(1 - t), conv2(2 - t)}
		for k, wk := range w {
			j := min(max(int(i0)-1+k, 0), in-1)
			m[o*in+j] += float32(wk)
		}
	}
	return m
}

// vectorStart returns DiffPIR's 2x_up − 1 for a measurement that is not
// an image of x's: y when it has x's shape, else A⁺y, from the operator's
// pseudo-inverse (ops.PseudoInverter) or its SVD (V Σ⁺ Uᵀ y, ops.Decomposer),
// else zeros. An ops.SVDOperator starts from its SVD, whose Σ⁺ leaves out
// the singular values below DDRMZero times the largest, not from its
// pseudo-inverse, which inverts every value above rounding and would
// divide y's noise by them.
func vectorStart(op ops.Operator, y, like *graph.Node) *graph.Node {
	if y.Shape().Equal(like.Shape()) {
		return y
	}
	if _, fromSVD := op.(*ops.SVDOperator); !fromSVD {
		if p, ok := op.(ops.PseudoInverter); ok {
			return p.PseudoInverse(y)
		}
	}
	if dec, ok := op.(ops.Decomposer); ok && ops.HasSVD(op) {
		if d, err := dec.SVD(like.Shape().Dimensions); err == nil {
			return pseudoInverseSVD(d, y, like)
		}
	}
	return graph.ZerosLike(like)
}

// pseudoInverseSVD returns A⁺y = V [Σ⁺ Uᵀy; 0] through the decomposition
// d of A for inputs shaped like like. Σ⁺ inverts the singular values of at
// least DDRMZero times the largest and sets the others' components to
// zero, so that a blur's tiny ones do not magnify y's noise.
func pseudoInverseSVD(d ops.Decomposition, y, like *graph.Node) *graph.Node {
	sv := d.Singulars()
	if len(sv) == 0 {
		return graph.ZerosLike(like)
	}
	inv := make([]float64, len(sv))
	cut := DDRMZero * slices.Max(sv)
	for i, s := range sv {
		if s > 0 && s >= cut {
			inv[i] = 1 / s
		}
	}
	v := graph.Mul(d.Ut(y), constVector(like, inv))
	n, dim := like.Shape().Dim(0), num.Prod(like.Shape().Dimensions[1:])
	if len(sv) < dim {
		v = graph.Concatenate([]*graph.Node{v, graph.Zeros(like.Graph(), shapes.Make(like.DType(), n, dim-len(sv)))}, 1)
	}
	return graph.Reshape(d.V(v), like.Shape().Dimensions...)
}
