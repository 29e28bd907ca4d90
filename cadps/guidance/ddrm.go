package guidance

import (
	"fmt"
	"slices"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/internal/num"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// DDRM is denoising diffusion restoration models (Kawar et al., NeurIPS
// 2022) as its released code's efficient_generalized_steps runs it: every
// step works in the spectral basis of the operator's SVD A = U Σ Vᵀ
// (ops.Decomposer), with ŷ = Uᵀy, v₀ = Vᵀx̂0, and σ' the noise level of the
// next grid point in x/√ᾱ units. Component i of v, with singular value s
// (after the zeroing below), is
//
//	s σ' < σ_y (less noisy than y):  v = v₀ + √(1−η²)σ' (ŷ − s v₀)/σ_y + ησ' z_A
//	s σ' > σ_y (noisier than y):     v = η_B ŷ/s + (1−η_B) v₀ + √(σ'² − η_B²σ_y²/s²) z_B
//	otherwise, and in the null space: v = v₀ + √(1−η²)σ' Vᵀε + ησ' z_C
//	x_{t'} = √ᾱ_{t'} V v
//
// A zero singular value is no special case, as in the reference: with
// σ_y > 0 it is less noisy than y (v = v₀ + √(1−η²)σ' ŷ/σ_y + ησ' z_A);
// with σ_y = 0 neither comparison holds and it is treated as the null
// space.
//
// The steps run on the grid t_i = ⌊iT/K⌋, i = 0 … K−1, of the original
// process (K = the process's NumSteps): the reference's range(0, T, T/K)
// when K divides T (for other K the reference runs ⌈T/⌊T/K⌋⌉ steps
// instead of K; this grid spreads K steps over the same span), the
// network seeing the original timestep
// (rescaled when the process rescales timesteps); x̂0 = (x − √(1−ᾱ)ε)/√ᾱ
// is not clipped, and ᾱ is the float32 cumulative product of the reference
// (double accumulation). The run starts from the spectral initialisation
// x_T = V(init/L), L = √(1−ᾱ_T)/√ᾱ_T at the last grid point: init_i =
// ŷ_i/s_i + √(L² − σ_y²/s_i²) z_i where s_i L > σ_y, L z_i elsewhere. The
// sample is the state after the last step (x̂0 of the last step passed
// through V Vᵀ).
//
// Small singular values are set to zero first, as the reference's
// decompositions zero theirs: for a separable decomposition
// (ops.SeparableDecomposition: super-resolution, separable blurs), whose
// singular values are products h_i·w_j of the two axes', every product with
// a factor below [DDRMAxisZero] times its axis's largest; for any other, the
// values below [DDRMZero] times the largest. A blur's smallest singular
// values (10⁻¹² for a 61-tap σ = 3 Gaussian at 32×32) would otherwise
// divide y's rounding error into the image when σ_y = 0. An operator left
// with no positive singular value (a mask that hides every pixel) is an
// error.
//
// Cost per step: one network forward, no vector-Jacobian product; two Vᵀ
// and one V.
type DDRM struct {
	// Eta is η (η_A = η_C) and EtaB is η_B, both in [0, 1]. The zero value
	// means η = η_B = 0, not the released configuration: the components
	// noisier than y then ignore ŷ (v = v₀ + σ' z_B) and the others get no
	// fresh noise. The released η = 0.85 and η_B = 1 are what
	// New("ddrm", …) and ParseSpec("ddrm", …) give.
	Eta, EtaB float64
}

// DDRMZero is the share of the largest singular value below which DDRM
// treats a singular value of a decomposition that is not separable as
// zero: the 10⁻³ of the reference's general decomposition (GeneralH), which
// compares the values themselves with 10⁻³.
const DDRMZero = 1e-3

// DDRMAxisZero is the share of an axis's largest singular value below
// which DDRM treats that axis's singular value as zero in a separable
// decomposition, and with it every product it enters: the 3·10⁻² of the
// reference's separable decompositions (Deblurring, SRConv), which compare
// the singular values of each axis's kernel, normalised to sum to 1 and so
// with a largest value of about 1, with 3·10⁻². Relative to the largest,
// the rule does not depend on how a kernel's scale is split between the
// axes.
const DDRMAxisZero = 3e-2

// Name implements Method.
func (DDRM) Name() string { return "ddrm" }

// CheckProcess implements ProcessChecker: the network must predict ε.
func (DDRM) CheckProcess(p *diffusion.Process) error { return epsilonNetwork("ddrm", p) }

// SpecKeys implements SpecReader.
func (DDRM) SpecKeys() []string { return []string{"eta", "eta_b"} }

// WithOption implements SpecReader: eta and eta_b in [0, 1].
func (m DDRM) WithOption(k, v string) (Method, error) {
	x, err := unitRule().parse(v)
	if k == "eta" {
		m.Eta = x
	} else {
		m.EtaB = x
	}
	return m, err
}

// Validate implements Validator: η and η_B must lie in [0, 1] (above 1
// the fresh noise's share √(1−η²) is the root of a negative number; below
// 0 the update is that of |η|, or for η_B a reflection of ŷ/s about v₀).
func (m DDRM) Validate() error {
	for _, p := range []struct {
		key   string
		value float64
	}{{"eta", m.Eta}, {"eta_b", m.EtaB}} {
		if !(p.value >= 0 && p.value <= 1) {
			return fmt.Errorf("ddrm: %s = %v, want a value in [0, 1]", p.key, p.value)
		}
	}
	return nil
}

// Revision implements Revisioner:
//
//  1. singular values below DDRMZero times the largest count as zero (a
//     noiseless blur no longer diverges; with σ_y = 0.05 a 9-tap σ = 1
//     blur's results move by at most 0.003 dB).
//  2. a separable decomposition's singular values are zeroed per axis
//     (DDRMAxisZero) instead: a 61-tap σ = 3 Gaussian blur at 256×256
//     zeroes 60352 of its 65536 singular values instead of 57486;
//     super-resolution's resizers have no axis value that small. With
//     σ_y = 0.05 a 9-tap σ = 1 blur's PSNR on the shipped prior's first 20
//     test images moves by −0.036 dB on average (−0.27 to +0.10 dB;
//     docs/results.md has the command); the noiseless 61-tap blur of
//     TestDDRMCleanBlur drops from 22.7 to 19.8 dB.
//  3. a step count K that does not divide the process's T steps runs on
//     the grid ⌊iT/K⌋, which reaches the top of the schedule, instead of
//     i⌊T/K⌋, which for K = 600 of 1000 stopped at t = 599; step counts
//     that divide T are unchanged.
func (DDRM) Revision() int { return 3 }

// DefaultScale implements Scaler: DDRM has no step size.
func (DDRM) DefaultScale(ops.Kind) float64 { return 1 }

// CheckOperator implements OperatorChecker: DDRM needs the operator's SVD
// (ops.Decomposer, or ops.GraphDecomposer for the bound form of an
// inpainting), with at least one positive singular value; of the latter it
// can tell before the image's shape is known only for an operator that
// says it keeps nothing (ops.ZeroReporter: a mask that hides every pixel);
// the others are checked when the steps are built.
func (DDRM) CheckOperator(op ops.Operator) error {
	if op == nil {
		return noOperator("ddrm")
	}
	if _, inGraph := op.(ops.GraphDecomposer); !inGraph && !ops.HasSVD(op) {
		return refuse("ddrm", op,
			fmt.Sprintf("it needs the operator's singular value decomposition, which %s lacks", op.Name()),
			"an ops.Decomposer, as ops.NewSVDOperator builds")
	}
	if z, ok := op.(ops.ZeroReporter); ok && z.KeepsNothing() {
		return refuse("ddrm", op,
			fmt.Sprintf("it needs a positive singular value, and %s keeps nothing of the image (for a mask: it hides every pixel)", op.Name()), "")
	}
	return nil
}

// Draws implements Drawer: z_C, z_A and z_B, each [N, D] with D = C·H·W
// (z_A and z_B use their first m values, one per singular value).
func (DDRM) Draws(x, _ []int) [][]int {
	v := []int{x[0], num.Prod(x[1:])}
	return [][]int{v, v, v}
}

// ddrmGrid is DDRM's time grid over a process: for respaced index i the
// timestep t[i] the network receives for the original timestep ⌊iT/K⌋
// (Process.NetworkTimestep) and the float32 ᾱ there and at the previous
// grid point (1 before the first).
type ddrmGrid struct {
	t, a, aNext []float32
}

// newDDRMGrid builds the grid of process p.
func newDDRMGrid(p *diffusion.Process) (ddrmGrid, error) {
	betas := p.Betas()
	// compute_alpha: cumnumel(1 − [0, β]) of float32 values, accumulated in
	// double and rounded once per output (torch's CPU cumprod).
	abar := make([]float32, len(betas))
	acc := 1.0
	for k, b := range betas {
		acc *= float64(float32(1) - float32(b))
		abar[k] = float32(acc)
	}
	steps, total := p.NumSteps(), p.OriginalSteps()
	if steps > total {
		return ddrmGrid{}, fmt.Errorf("ddrm: %d steps exceed the %d of the process", steps, total)
	}
	at := func(i int) int { return i * total / steps } // ⌊iT/K⌋
	g := ddrmGrid{t: make([]float32, steps), a: make([]float32, steps), aNext: make([]float32, steps)}
	for i := range steps {
		g.t[i] = float32(p.NetworkTimestep(float64(at(i))))
		g.a[i] = abar[at(i)]
		g.aNext[i] = 1
		if i > 0 {
			g.aNext[i] = abar[at(i-1)]
		}
	}
	return g, nil
}

// spectrum is an operator's SVD as DDRM's steps read it for images shaped
// like x: the maps V, Vᵀ and Uᵀ, and m singular values as a [1,m] node,
// after the zeroing of ddrmSingulars. row is nil when all m components lie
// in A's row space (a decomposition computed on the host, whose null
// space is the components from m to D); otherwise ([1,m] booleans, m = D)
// it marks them (a decomposition built in the graph: ops.GraphDecomposer).
type spectrum struct {
	basis interface {
		Vt(*graph.Node) *graph.Node
		V(*graph.Node) *graph.Node
		Ut(*graph.Node) *graph.Node
	}
	sig, row *graph.Node
	m        int
}

// spectrumOf returns the operator's SVD for images shaped like x; it
// panics (an error of the graph's execution) with [CheckOperator]'s
// refusal when DDRM refuses op, and when the singular values computed on
// the host are all zero.
func spectrumOf(op ops.Operator, x *graph.Node) spectrum {
	if err := listRuns(DDRM{}.CheckOperator(op), op); err != nil {
		panic(err)
	}
	if gd, ok := op.(ops.GraphDecomposer); ok {
		d := gd.GraphSVD(x)
		sig := d.Singulars()
		cut := graph.MulScalar(graph.ReduceAllMax(sig), DDRMZero)
		sig = graph.Where(graph.LessThan(sig, cut), graph.ZerosLike(sig), sig)
		return spectrum{basis: d, sig: sig, row: d.RowSpace(), m: sig.Shape().Dim(1)}
	}
	d, err := op.(ops.Decomposer).SVD(x.Shape().Dimensions)
	if err != nil {
		panic(fmt.Errorf("operator %s: %w", op.Name(), err))
	}
	sv, err := ddrmSingulars(op, d, x.Shape().Dimensions)
	if err != nil {
		panic(err)
	}
	return spectrum{basis: d, sig: constVector(x, sv), m: len(sv)}
}

// inRow restricts the [1,m] condition cond to the components in A's row
// space.
func (sp spectrum) inRow(cond *graph.Node) *graph.Node {
	if sp.row == nil {
		return cond
	}
	return graph.LogicalAnd(cond, sp.row)
}

// lookup32 returns table[i] for the int32 scalar i as a scalar of like's dtype.
func lookup32(like, i *graph.Node, table []float32) *graph.Node {
	v := graph.Gather(graph.Const(like.Graph(), table), i)
	return graph.ConvertDType(v, like.DType())
}

// Step implements Method.
func (m DDRM) Step(s *Step) Result {
	g, err := newDDRMGrid(s.Process)
	if err != nil {
		panic(err)
	}
	sp := spectrumOf(s.Op, s.X)
	x := s.X
	n := x.Shape().Dim(0)
	nm := sp.m
	a, aNext := lookup32(x, s.I, g.a), lookup32(x, s.I, g.aNext)
	t := graph.BroadcastToDims(lookup32(x, s.I, g.t), n)

	eps := s.Eps(x, t)
	x0 := graph.Div(graph.Sub(x, graph.Mul(eps, graph.Sqrt(graph.OneMinus(a)))), graph.Sqrt(a))
	sn := graph.Div(graph.Sqrt(graph.OneMinus(aNext)), graph.Sqrt(aNext))
	v0, ve, yb := sp.basis.Vt(x0), sp.basis.Vt(eps), sp.basis.Ut(s.Y)
	std := graph.MulScalar(sn, m.Eta)
	st := graph.Sqrt(graph.Sub(graph.Square(sn), graph.Square(std)))
	zC, zA, zB := s.Draws[0], head(s.Draws[1], nm), head(s.Draws[2], nm)
	v := graph.Add(graph.Add(v0, graph.Mul(st, ve)), graph.Mul(std, zC))

	sig := sp.sig
	sigma0 := scalar(x, s.SigmaY)
	v0h := head(v0, nm)
	ssn := graph.Mul(sig, sn)
	after := sp.inRow(graph.LessThan(ssn, sigma0))
	before := sp.inRow(graph.GreaterThan(ssn, sigma0))
	afterV := graph.Add(graph.Add(v0h, graph.Mul(st, graph.Div(graph.Sub(yb, graph.Mul(v0h, sig)), sigma0))), graph.Mul(std, zA))
	diffB := graph.Sqrt(graph.Max(graph.Sub(graph.Square(sn),
		graph.MulScalar(graph.Div(scalar(x, s.SigmaY*s.SigmaY), graph.Square(sig)), m.EtaB*m.EtaB)), scalar(x, 0)))
	beforeV := graph.Add(graph.Add(graph.MulScalar(graph.Div(yb, sig), m.EtaB), graph.MulScalar(v0h, 1-m.EtaB)), graph.Mul(diffB, zB))
	vh := where(after, afterV, where(before, beforeV, head(v, nm)))
	if nm < v.Shape().Dim(1) {
		vh = graph.Concatenate([]*graph.Node{vh, graph.Slice(v, graph.AxisRange(), graph.AxisRange(nm))}, 1)
	}
	next := graph.Mul(graph.Sqrt(aNext), sp.basis.V(vh))
	return Result{Next: next, PredXStart: x0, Residual: s.ResidualNorm(x0),
		Extra: map[string]*graph.Node{"spectral_x0": v0, "spectral_next": vh, "eps": eps}}
}

// Start implements Starter: DDRM's spectral initialisation from the
// initial draw s.X read as a flat vector.
func (m DDRM) Start(s *Step) *graph.Node {
	g, err := newDDRMGrid(s.Process)
	if err != nil {
		panic(err)
	}
	sp := spectrumOf(s.Op, s.X)
	x := s.X
	n, dim := x.Shape().Dim(0), num.Prod(x.Shape().Dimensions[1:])
	nm := sp.m
	aT := scalar(x, float64(g.a[len(g.a)-1]))
	l := graph.Div(graph.Sqrt(graph.OneMinus(aT)), graph.Sqrt(aT))
	z := graph.Reshape(x, n, dim)
	sig := sp.sig
	large := sp.inRow(graph.GreaterThan(graph.Mul(sig, l), scalar(x, s.SigmaY)))
	zero := graph.ZerosLike(sig)
	inv := graph.Where(large, graph.Div(scalar(x, s.SigmaY), sig), zero)
	yb := where(large, graph.Div(sp.basis.Ut(s.Y), sig), graph.ZerosLike(head(z, nm)))
	remaining := graph.Sqrt(graph.Max(graph.Sub(graph.Square(l), graph.Square(inv)), zero))
	init := graph.Add(yb, graph.Mul(remaining, head(z, nm)))
	if nm < dim {
		tail := graph.Mul(graph.Sqrt(graph.Square(l)), graph.Slice(z, graph.AxisRange(), graph.AxisRange(nm)))
		init = graph.Concatenate([]*graph.Node{init, tail}, 1)
	}
	return graph.Reshape(sp.basis.V(graph.Div(init, l)), x.Shape().Dimensions...)
}

// ddrmSingulars returns the singular values of d, op's decomposition for
// images shaped in, with the small ones set to zero: per axis for an
// ops.SeparableDecomposition (zeroPerAxis), below DDRMZero times the
// largest for any other decomposition. It returns an error when no value
// is positive. It zeroes a copy: a decomposition may return its own slice,
// and an ops.SVDOperator applies A through it.
func ddrmSingulars(op ops.Operator, d ops.Decomposition, in []int) ([]float64, error) {
	sv := slices.Clone(d.Singulars())
	if !slices.ContainsFunc(sv, func(s float64) bool { return s > 0 }) {
		return nil, refuse("ddrm", op,
			fmt.Sprintf("it needs a positive singular value, and %s keeps nothing of the image (its decomposition has %d singular values, none positive)", op.Name(), len(sv)), "")
	}
	if sep, ok := d.(ops.SeparableDecomposition); ok {
		return zeroPerAxis(op, sv, sep, in)
	}
	cut := DDRMZero * slices.Max(sv)
	for i, s := range sv {
		if s < cut {
			sv[i] = 0
		}
	}
	return sv, nil
}

// zeroPerAxis sets to zero the singular values sv of op's separable
// decomposition d for images shaped in = [N,C,H,W] whose factor along
// either axis is below DDRMAxisZero times that axis's largest. sv holds one
// block per channel of kh×kw products h_i·w_j, row-major, h and w being
// d's axis singular values.
func zeroPerAxis(op ops.Operator, sv []float64, d ops.SeparableDecomposition, in []int) ([]float64, error) {
	h, w := d.AxisSingulars()
	size := len(h) * len(w)
	if len(in) != 4 || size == 0 || len(sv) != in[1]*size {
		return nil, fmt.Errorf("ddrm: the separable decomposition of %s has %d singular values for images shaped %v, want one block of %d×%d axis products per channel",
			op.Name(), len(sv), in, len(h), len(w))
	}
	smallH, smallW := axisSmall(h), axisSmall(w)
	for k := range sv {
		if i, j := (k%size)/len(w), k%len(w); smallH[i] || smallW[j] {
			sv[k] = 0
		}
	}
	return sv, nil
}

// axisSmall reports for each of an axis's singular values s whether it is
// below DDRMAxisZero times their largest.
func axisSmall(s []float64) []bool {
	cut := DDRMAxisZero * slices.Max(s)
	small := make([]bool, len(s))
	for i, v := range s {
		small[i] = v < cut
	}
	return small
}

// where selects a where cond holds and b elsewhere, broadcasting cond to
// a's shape.
func where(cond, a, b *graph.Node) *graph.Node {
	return graph.Where(graph.BroadcastToDims(cond, a.Shape().Dimensions...), a, b)
}

// head returns the first k columns of the [N,D] node v.
func head(v *graph.Node, k int) *graph.Node {
	if v.Shape().Dim(1) == k {
		return v
	}
	return graph.Slice(v, graph.AxisRange(), graph.AxisRange(0, k))
}

// constVector returns the values as a [1,len] constant of like's dtype
// (rounded to float32 first, as the reference's float32 tensors).
func constVector(like *graph.Node, v []float64) *graph.Node {
	f := make([]float32, len(v))
	for k, x := range v {
		f[k] = float32(x)
	}
	c := graph.Reshape(graph.Const(like.Graph(), f), 1, len(f))
	return graph.ConvertDType(c, like.DType())
}
