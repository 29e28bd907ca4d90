package ops

import (
	"fmt"
	"math"
	"slices"

	"github.com/cadps/toolkit/internal/num"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// SVDOperator is the linear operator a decomposition defines, for one input
// shape: A x = U Σ (Vᵀx)[:m]. It lets a user give DDRM, DiffPIR, and the
// projecting methods (mcg, projection) an operator through its SVD alone
// (the dense matrices of the exact-posterior benchmark, a block operator
// with a recorded basis): it implements [Linear], [Decomposer], [Proximal]
// and [PseudoInverter].
type SVDOperator struct {
	name    string
	d       Decomposition
	in, out []int
}

// NewSVDOperator returns the operator named name that maps inputs shaped
// in to outputs shaped out through d. It refuses a decomposition without
// singular values (A = 0, as a mask that hides every pixel), which has
// nothing to measure.
func NewSVDOperator(name string, d Decomposition, in, out []int) (*SVDOperator, error) {
	if d == nil || len(in) < 2 || len(out) < 1 {
		return nil, fmt.Errorf("svd operator %s: want a decomposition and input/output shapes", name)
	}
	if len(d.Singulars()) == 0 {
		return nil, fmt.Errorf("svd operator %s: the decomposition has no singular values (A = 0, as a mask that hides every pixel): nothing to measure", name)
	}
	if sd, ok := d.(spectralSized); ok && sd.spectralDim() != num.Prod(in[1:]) {
		return nil, fmt.Errorf("svd operator %s: input shape %v has %d values per image, but the decomposition's spectral vectors have %d", name, in, num.Prod(in[1:]), sd.spectralDim())
	}
	if md, ok := d.(measurementSized); ok && md.measurementDim() != num.Prod(out[1:]) {
		return nil, fmt.Errorf("svd operator %s: output shape %v has %d values per image, but the decomposition's measurements have %d", name, out, num.Prod(out[1:]), md.measurementDim())
	}
	return &SVDOperator{name: name, d: d, in: slices.Clone(in), out: slices.Clone(out)}, nil
}

// Name implements [Operator].
func (o *SVDOperator) Name() string { return o.name }

// OutputShape implements [Operator]: only the decomposition's input shape
// (any batch size) is accepted.
func (o *SVDOperator) OutputShape(in []int) ([]int, error) {
	if len(in) != len(o.in) || !slices.Equal(in[1:], o.in[1:]) {
		return nil, fmt.Errorf("%s: input shape %v, want [N %v]", o.name, in, o.in[1:])
	}
	out := slices.Clone(o.out)
	out[0] = in[0]
	return out, nil
}

// Apply implements [Operator].
func (o *SVDOperator) Apply(x *graph.Node) *graph.Node {
	dims := slices.Clone(o.out)
	dims[0] = x.Shape().Dim(0)
	return graph.Reshape(ApplySVD(o.d, x), dims...)
}

// Adjoint implements [Linear].
func (o *SVDOperator) Adjoint(y *graph.Node) *graph.Node {
	return AdjointSVD(o.d, y, num.Prod(o.in[1:]))
}

// SVD implements [Decomposer].
func (o *SVDOperator) SVD(in []int) (Decomposition, error) {
	if _, err := o.OutputShape(in); err != nil {
		return nil, err
	}
	return o.d, nil
}

// Prox implements [Proximal].
func (o *SVDOperator) Prox(xIn, y, tau *graph.Node) *graph.Node { return ProxSVD(o.d, xIn, y, tau) }

// PseudoInverse implements [PseudoInverter]: the Moore–Penrose inverse
// A⁺y = V [Σ⁺ Uᵀy; 0] of the decomposition, so that A A⁺ A = A and
// A⁺ A A⁺ = A⁺. Σ⁺ gives a zero component for every singular value at or
// below max(M, D)·ε times the largest (A is M×D: M values per measurement,
// D = C·H·W per image; ε the machine epsilon of y's dtype: 2⁻²³ for
// float32), zeros included, and inverts the others, however small. That
// is the array API standard's default tolerance (SciPy's pinv takes it
// too, JAX's ten times it): values that small are rounding of a zero or
// below what y's dtype resolves. numpy's pinv cuts at 10⁻¹⁵ of the largest
// whatever the dtype, which in float32 would invert rounding. DDRM's cut at 10⁻³ of the largest (guidance.DDRMZero)
// is the method's own, not the pseudo-inverse's. y must be shaped
// [N, out…], out the operator's output shape; another shape panics with an
// error naming both, as graph-building misuse does.
func (o *SVDOperator) PseudoInverse(y *graph.Node) *graph.Node {
	dims := y.Shape().Dimensions
	if len(dims) != len(o.out) || !slices.Equal(dims[1:], o.out[1:]) {
		panic(fmt.Errorf("%s: pseudo-inverse of a measurement shaped %v, want [N %v]", o.name, dims, o.out[1:]))
	}
	in := slices.Clone(o.in)
	in[0] = dims[0]
	sv := o.d.Singulars()
	d, m := num.Prod(o.in[1:]), len(sv)
	inv := pseudoInverseSingulars(sv, float64(max(num.Prod(o.out[1:]), d))*epsilonOf(y.DType()))
	v := graph.Mul(o.d.Ut(y), constFloats(y, inv, 1, m))
	if d > m {
		v = graph.Concatenate([]*graph.Node{v, graph.Zeros(y.Graph(), shapeOfDims(y, dims[0], d-m))}, 1)
	}
	return graph.Reshape(o.d.V(v), in...)
}

// pseudoInverseSingulars returns 1/s for the singular values s above rtol
// times the largest, and 0 for the others.
func pseudoInverseSingulars(sv []float64, rtol float64) []float64 {
	inv := make([]float64, len(sv))
	cut := rtol * slices.Max(sv)
	for i, s := range sv {
		if s > cut {
			inv[i] = 1 / s
		}
	}
	return inv
}

// epsilonOf returns the machine epsilon of the floating-point dtype dt
// (float32's for any other dtype).
func epsilonOf(dt dtypes.DType) float64 {
	switch dt {
	case dtypes.Float64:
		return math.Nextafter(1, 2) - 1
	case dtypes.Float16:
		return 1.0 / (1 << 10)
	case dtypes.BFloat16:
		return 1.0 / (1 << 7)
	}
	return float64(math.Nextafter32(1, 2) - 1)
}
