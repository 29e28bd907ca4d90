package ops

import (
	"fmt"
	"slices"

	"github.com/cadps/toolkit/internal/num"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// SVDOperator is the linear operator a decomposition defines, for one input
// shape: A x = U Σ (Vᵀx)[:m]. It lets a user give DDRM and DiffPIR an
// operator through its SVD alone (the dense matrices of the exact-posterior
// benchmark, a block operator with a recorded basis).
type SVDOperator struct {
	name    string
	d       Decomposition
	in, out []int
}

// NewSVDOperator returns the operator named name that maps inputs shaped
// in to outputs shaped out through d.
func NewSVDOperator(name string, d Decomposition, in, out []int) (*SVDOperator, error) {
	if d == nil || len(in) < 2 || len(out) < 1 {
		return nil, fmt.Errorf("svd operator %s: want a decomposition and input/output shapes", name)
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
