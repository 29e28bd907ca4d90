package guidance

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// DiagonalEstimator names how the diagonal-covariance methods (tmpd,
// cadps-gauss) estimate the diagonal of a Jacobian J (∂x̂0/∂x_t or ∂ε/∂x_t)
// that they can only apply to vectors.
type DiagonalEstimator string

// The diagonal estimators.
const (
	// RowSum takes J·1, the Jacobian's row sums: one product, the form both
	// methods are published with. It equals the diagonal only when J is
	// diagonal, and over-counts every positive off-diagonal entry.
	RowSum DiagonalEstimator = "rowsum"
	// Hutchinson averages v ⊙ (J v) over random ±1 probes v: unbiased for
	// the diagonal, with a variance of Σ_{j≠i} J_ij² per probe and entry.
	// One product per probe.
	Hutchinson DiagonalEstimator = "hutchinson"
	// ExactDiagonal sums e_j ⊙ (J e_j) over the unit vectors: the diagonal
	// itself, at one product per input element (for small problems and
	// ablations only; refused above MaxExactDiagonal elements).
	ExactDiagonal DiagonalEstimator = "exact"
)

// NegativeRule says what tmpd and cadps-gauss do with a negative entry of
// their diagonal covariance estimate c. The diagonal of a covariance is never
// negative, but a row sum is whenever a pixel's negative correlations
// outweigh its positive ones, and a learned network's Jacobian adds its own
// errors, largest at high noise where (1−ᾱ)/√ᾱ magnifies them.
//
// What is at stake is the gain of a measurement. The update applies the
// whole covariance M (a vector-Jacobian product; M = A Σ Aᵀ for tmpd) to
// the residual scaled by 1/(σ_y² + c_i). Where that system is diagonal
// (tmpd; inpainting), the update moves A x̂0 by no more than the residual
// (in the 1-norm) when c_i ≥ Σ_j |M_ij| for every i (Gershgorin's
// theorem). The row sum s_i = Σ_j M_ij is the cheap estimate of that bound,
// exact when the correlations are ≥ 0 (the usual case in images), and of
// the two non-negative replacements |s_i| is always the closer one:
// max(s_i, 0) ≤ |s_i| ≤ Σ_j |M_ij|. Clamping to 0 instead trusts that
// measurement to σ_y while its row of M can be large: a gain of up to
// Σ_j |M_ij| / σ_y². On the shipped small prior (step 5,402) that overshoot
// put values of ±10⁴ into x̂0 in one step and left a black square in a box
// inpainting (docs/methods.md, tmpd).
type NegativeRule string

// The rules for negative diagonal entries.
const (
	// NegativeAbs replaces a negative entry by its magnitude (the default).
	NegativeAbs NegativeRule = "abs"
	// NegativeClamp replaces it by 0 (the rule of tmpd's and cadps-gauss's
	// revision 0, kept to reproduce results made with it).
	NegativeClamp NegativeRule = "clamp"
)

// ParseNegativeRule returns the rule of that name ("" is NegativeAbs).
func ParseNegativeRule(name string) (NegativeRule, error) {
	switch r := NegativeRule(name); r {
	case "":
		return NegativeAbs, nil
	case NegativeAbs, NegativeClamp:
		return r, nil
	}
	return "", fmt.Errorf("guidance: unknown rule for negative diagonal entries %q (known: %s, %s)", name, NegativeAbs, NegativeClamp)
}

// DefaultProbes is the number of Hutchinson probes when none is given.
const DefaultProbes = 1

// MaxExactDiagonal is the largest number of elements per batch item for
// which ExactDiagonal builds its one-product-per-element graph.
const MaxExactDiagonal = 1024

// DiagonalEstimators lists the estimators' names.
func DiagonalEstimators() []string {
	return []string{string(RowSum), string(Hutchinson), string(ExactDiagonal)}
}

// ParseDiagonal returns the estimator of that name ("" is RowSum).
func ParseDiagonal(name string) (DiagonalEstimator, error) {
	switch d := DiagonalEstimator(name); d {
	case "":
		return RowSum, nil
	case RowSum, Hutchinson, ExactDiagonal:
		return d, nil
	}
	return "", fmt.Errorf("guidance: unknown diagonal estimator %q (known: %s)", name, strings.Join(DiagonalEstimators(), ", "))
}

// Diagonal configures the estimate of a Jacobian's diagonal.
type Diagonal struct {
	// Estimator is the estimator ("" = RowSum).
	Estimator DiagonalEstimator
	// Probes is Hutchinson's probe count per step (0 = DefaultProbes).
	Probes int
	// Seed seeds Hutchinson's probes. The probes of respaced step i are a
	// function of (Seed, i) only, drawn in the graph, so a run is
	// reproducible and its probes are independent of the sampler's noise.
	Seed int64
	// Negative is the rule for negative entries of the estimate ("" =
	// NegativeAbs).
	Negative NegativeRule
}

// withOption returns d with the diagonal option k (diagonal, probes,
// probe_seed or negative) set from its text v.
func (d Diagonal) withOption(k, v string) (Diagonal, error) {
	var err error
	switch k {
	case "diagonal":
		d.Estimator, err = ParseDiagonal(v)
	case "probes":
		d.Probes, err = unrolledCount(v)
	case "probe_seed":
		d.Seed, err = strconv.ParseInt(v, 10, 64)
	case "negative":
		d.Negative, err = ParseNegativeRule(v)
	default:
		err = fmt.Errorf("no such option")
	}
	return d, err
}

// nonNegative applies the rule for negative entries to the estimate c.
func (d Diagonal) nonNegative(c *graph.Node) *graph.Node {
	if d.Negative == NegativeClamp {
		return graph.Max(c, graph.ZerosLike(c))
	}
	return graph.Abs(c)
}

// name returns the estimator, RowSum when unset.
func (d Diagonal) name() DiagonalEstimator {
	if d.Estimator == "" {
		return RowSum
	}
	return d.Estimator
}

// String describes the estimator, and a rule for negative entries other
// than the default, for logs and settings.
func (d Diagonal) String() string {
	var params []string
	if d.name() == Hutchinson {
		params = append(params, fmt.Sprintf("probes=%d", d.probes()), fmt.Sprintf("seed=%d", d.Seed))
	}
	if d.Negative == NegativeClamp {
		params = append(params, "negative="+string(NegativeClamp))
	}
	if len(params) == 0 {
		return string(d.name())
	}
	return string(d.name()) + "(" + strings.Join(params, ",") + ")"
}

// probes returns the probe count, DefaultProbes when unset.
func (d Diagonal) probes() int {
	if d.Probes <= 0 {
		return DefaultProbes
	}
	return d.Probes
}

// estimate returns the estimate of diag(J), shaped like x, from jv, which
// returns J v for a v shaped like x (not differentiated). i is the respaced
// index, which seeds the Hutchinson probes of this step.
func (d Diagonal) estimate(x, i *graph.Node, jv func(v *graph.Node) *graph.Node) *graph.Node {
	switch d.name() {
	case Hutchinson:
		n := d.probes()
		probe := func(p int) *graph.Node { return rademacher(x, i, d.Seed, p) }
		return graph.DivScalar(sumProbed(n, probe, jv), float64(n))
	case ExactDiagonal:
		size := x.Shape().Size() / x.Shape().Dim(0)
		if size > MaxExactDiagonal {
			panic(fmt.Errorf("guidance: the exact diagonal needs one Jacobian product per element; %d elements per item is over the limit of %d (use hutchinson)",
				size, MaxExactDiagonal))
		}
		return sumProbed(size, func(j int) *graph.Node { return unitVector(x, j) }, jv)
	default:
		return jv(graph.OnesLike(x))
	}
}

// sumProbed returns Σ_k v_k ⊙ jv(v_k) over the n probes v_k = probe(k).
func sumProbed(n int, probe func(k int) *graph.Node, jv func(v *graph.Node) *graph.Node) *graph.Node {
	var sum *graph.Node
	for k := range n {
		v := probe(k)
		term := graph.Mul(v, jv(v))
		if sum == nil {
			sum = term
		} else {
			sum = graph.Add(sum, term)
		}
	}
	return sum
}

// Mixing constants for deriving a probe stream from (seed, step, probe):
// odd 64-bit multipliers (the golden ratio's and SplitMix64's).
const (
	mixStep  uint64 = 0x9E3779B97F4A7C15
	mixProbe uint64 = 0xBF58476D1CE4E5B9
)

// rademacher returns a ±1 tensor shaped like x whose entries are
// independent and uniform, drawn from a generator whose state is the seed's
// offset by the step index i and the probe number p.
func rademacher(x, i *graph.Node, seed int64, p int) *graph.Node {
	g := x.Graph()
	base, err := graph.RNGStateFromSeed(seed)
	if err != nil {
		panic(fmt.Errorf("guidance: probe generator: %w", err))
	}
	k := graph.ConvertDType(graph.Reshape(i), dtypes.Uint64)
	offStep := graph.Mul(k, graph.Scalar(g, dtypes.Uint64, mixStep))
	offProbe := graph.Scalar(g, dtypes.Uint64, uint64(p+1)*mixProbe)
	zero := graph.Scalar(g, dtypes.Uint64, uint64(0))
	offset := graph.Stack([]*graph.Node{graph.Add(offStep, offProbe), offStep, zero}, 0)
	state := graph.Add(graph.Const(g, base), offset)
	_, u := graph.RandomUniform(state, shapes.Make(x.DType(), x.Shape().Dimensions...))
	half := graph.Scalar(g, x.DType(), 0.5)
	return graph.Where(graph.LessThan(u, half), graph.Neg(graph.OnesLike(u)), graph.OnesLike(u))
}

// unitVector returns the tensor shaped like x that is 1 at flat element j
// of every batch item and 0 elsewhere.
func unitVector(x *graph.Node, j int) *graph.Node {
	dims := x.Shape().Dimensions
	size := x.Shape().Size() / dims[0]
	flat := make([]float32, size)
	flat[j] = 1
	e := graph.ConvertDType(graph.Const(x.Graph(), flat), x.DType())
	e = graph.Reshape(e, append([]int{1}, dims[1:]...)...)
	return graph.BroadcastToDims(e, dims...)
}
